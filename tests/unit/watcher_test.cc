#include "operator/runtime/watcher.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "kube/core_v1_subset.pb.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "operator/runtime/backoff.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"
#include "tests/unit/fake_transport.h"

namespace bursar::runtime {
namespace {

using kube::FakeTransport;
using Outcome = WatcherStep::Outcome;
using Lines = std::vector<std::string>;

std::string Job(std::string_view name, std::string_view rv) {
  return absl::StrCat(R"({"kind":"Job","apiVersion":"batch/v1","metadata":{"name":")",
                      std::string(name), R"(","namespace":"ml","resourceVersion":")",
                      std::string(rv), R"("}})");
}

std::string JobList(const std::vector<std::string>& items, std::string_view rv,
                    std::string_view continue_token = "") {
  std::string joined;
  for (const std::string& item : items) {
    absl::StrAppend(&joined, joined.empty() ? "" : ",", item);
  }
  return absl::StrCat(
      R"({"kind":"JobList","apiVersion":"batch/v1","metadata":{"resourceVersion":")",
      std::string(rv), R"(","continue":")", std::string(continue_token), R"("},"items":[)", joined,
      "]}");
}

std::string Event(std::string_view type, const std::string& object) {
  return absl::StrCat(R"({"type":")", std::string(type), R"(","object":)", object, "}");
}

std::string Bookmark(std::string_view rv) {
  return absl::StrCat(R"({"type":"BOOKMARK","object":{"kind":"Job","apiVersion":"batch/v1",)",
                      R"("metadata":{"resourceVersion":")", std::string(rv), R"("}}})");
}

std::string StatusBody(int code, std::string_view reason) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)",
                      R"("message":"from the test","reason":")", std::string(reason),
                      R"(","code":)", code, "}");
}

std::string ErrorEvent(int code, std::string_view reason) {
  return absl::StrCat(R"({"type":"ERROR","object":)", StatusBody(code, reason), "}");
}

constexpr char kListPath[] = "/apis/batch/v1/jobs?limit=500";

std::string WatchPath(std::string_view rv) {
  return absl::StrCat("/apis/batch/v1/jobs?watch=true&resourceVersion=", std::string(rv),
                      "&timeoutSeconds=290&allowWatchBookmarks=true");
}

// One readable line per event: "Restarted ml/a@1 ml/b@2", "Applied ml/c@3".
std::string Describe(const WatcherEvent<json::Value>& event) {
  auto one = [](const json::Value& o) {
    return absl::StrCat(ObjectKeyOf(o), "@", std::string(ResourceVersionOf(o)));
  };
  switch (event.type) {
    case WatcherEvent<json::Value>::Type::kSyncStarted:
      return "SyncStarted";
    case WatcherEvent<json::Value>::Type::kSyncObject:
      return "SyncObject " + one(event.object);
    case WatcherEvent<json::Value>::Type::kRestarted: {
      std::string out = "Restarted";
      for (const json::Value& o : event.objects) {
        absl::StrAppend(&out, " ", one(o));
      }
      return out;
    }
    case WatcherEvent<json::Value>::Type::kApplied:
      return "Applied " + one(event.object);
    case WatcherEvent<json::Value>::Type::kDeleted:
      return "Deleted " + one(event.object);
  }
  return "?";
}

class WatcherTest : public ::testing::Test {
 protected:
  WatcherOptions Options() {
    WatcherOptions options;
    options.watch_timeout_jitter = 0;  // exact paths; JitteredTimeout covers the jitter
    options.seed = 42;
    options.watch_list = false;  // paginated lists; the StreamingList tests turn it on
    options.backoff.jitter = Jitter::kNone;
    return options;
  }

  ObjectWatcher MakeWatcher(WatcherOptions options) {
    return ObjectWatcher(
        client_, clock_, kube::kJobs, [this](WatcherEvent<json::Value> e) { See(std::move(e)); },
        std::move(options));
  }

  // Every event in raw_; in seen_, what a Store shows: a streaming list's objects only with the
  // Restarted that ends it (a new SyncStarted drops those of an abandoned attempt).
  void See(WatcherEvent<json::Value> e) {
    raw_.push_back(Describe(e));
    switch (e.type) {
      case WatcherEvent<json::Value>::Type::kSyncStarted:
        syncing_.clear();
        return;
      case WatcherEvent<json::Value>::Type::kSyncObject:
        syncing_.push_back(std::move(e.object));
        return;
      case WatcherEvent<json::Value>::Type::kRestarted:
        e.objects.insert(e.objects.begin(), std::make_move_iterator(syncing_.begin()),
                         std::make_move_iterator(syncing_.end()));
        syncing_.clear();
        break;
      default:
        break;
    }
    seen_.push_back(Describe(e));
  }

  std::vector<std::string> Paths() {
    std::vector<std::string> out;
    for (const kube::HttpRequest& r : transport_.requests()) {
      out.push_back(r.path);
    }
    return out;
  }

  SimulatedClock clock_;
  FakeTransport transport_;
  kube::ApiClient client_{transport_};
  std::vector<std::string> seen_;
  std::vector<std::string> raw_;
  std::vector<json::Value> syncing_;
};

TEST_F(WatcherTest, ListsThenWatchesFromTheListVersionThenEmitsEvents) {
  transport_.Reply(200, JobList({Job("a", "8"), Job("b", "9")}, "10"));
  transport_.ReplyStream(200, {Event("ADDED", Job("c", "11")), Event("MODIFIED", Job("a", "12")),
                               Event("DELETED", Job("b", "13"))});
  ObjectWatcher watcher = MakeWatcher(Options());
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(watcher.state(), WatcherState::kListed);
  EXPECT_EQ(watcher.resource_version(), "10");
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@8 ml/b@9"}));

  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(watcher.state(), WatcherState::kWatching);
  EXPECT_EQ(Paths(), (Lines{kListPath, WatchPath("10")}));
  // The client must wait longer than the server's timeoutSeconds before calling it idle.
  EXPECT_EQ(transport_.sent()[1].timeout, absl::Seconds(290 + 30));

  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@8 ml/b@9", "Applied ml/c@11", "Applied ml/a@12",
                          "Deleted ml/b@13"}));
  EXPECT_EQ(watcher.resource_version(), "13");
  EXPECT_EQ(transport_.pending(), 0u);
}

// ---------------------------------------------------------------------------------------------
// Streaming lists (WatchList).

constexpr char kStreamingListPath[] =
    "/apis/batch/v1/jobs?watch=true&timeoutSeconds=290&allowWatchBookmarks=true&"
    "sendInitialEvents=true&resourceVersionMatch=NotOlderThan";

std::string EndBookmark(std::string_view rv) {
  return absl::StrCat(R"({"type":"BOOKMARK","object":{"kind":"Job","apiVersion":"batch/v1",)",
                      R"("metadata":{"resourceVersion":")", std::string(rv),
                      R"(","annotations":{"k8s.io/initial-events-end":"true"}}}})");
}

TEST_F(WatcherTest, StreamingListKeepsInitialEventsUntilTheEndBookmarkThenWatchesOn) {
  WatcherOptions options = Options();
  options.watch_list = true;
  transport_.ReplyStream(
      200, {Event("ADDED", Job("a", "8")), Event("ADDED", Job("b", "9")), Bookmark("9"),
            EndBookmark("10"), Event("MODIFIED", Job("a", "12"))});
  ObjectWatcher watcher = MakeWatcher(options);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(watcher.state(), WatcherState::kSyncing);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kBookmark);  // progress, not the end
  EXPECT_TRUE(seen_.empty());  // nothing until the initial state is complete
  EXPECT_EQ(watcher.resource_version(), "");

  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(watcher.state(), WatcherState::kWatching);
  EXPECT_EQ(watcher.resource_version(), "10");
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@8 ml/b@9"}));
  // The sink got each initial object as it came (a Store projects them then).
  EXPECT_EQ(raw_, (Lines{"SyncStarted", "SyncObject ml/a@8", "SyncObject ml/b@9", "Restarted"}));

  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(seen_.back(), "Applied ml/a@12");
  EXPECT_EQ(Paths(), (Lines{kStreamingListPath}));  // one request: no LIST at all
  EXPECT_FALSE(watcher.watch_list_refused());
}

TEST_F(WatcherTest, StreamingListEndingBeforeItsBookmarkStartsOver) {
  WatcherOptions options = Options();
  options.watch_list = true;
  transport_.ReplyStream(200, {Event("ADDED", Job("a", "8"))});
  transport_.ReplyStream(200, {Event("ADDED", Job("b", "9")), EndBookmark("11")});
  ObjectWatcher watcher = MakeWatcher(options);

  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchEnded);
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(seen_, (Lines{"Restarted ml/b@9"}));  // nothing of the broken attempt
  EXPECT_EQ(raw_, (Lines{"SyncStarted", "SyncObject ml/a@8", "SyncStarted", "SyncObject ml/b@9",
                         "Restarted"}));
  EXPECT_EQ(Paths(), (Lines{kStreamingListPath, kStreamingListPath}));
}

TEST_F(WatcherTest, StreamingListWithADeleteBeforeItsBookmarkBacksOffAndStartsOver) {
  WatcherOptions options = Options();
  options.watch_list = true;
  transport_.ReplyStream(200, {Event("DELETED", Job("a", "8"))});
  ObjectWatcher watcher = MakeWatcher(options);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  WatcherStep step = watcher.Step();
  EXPECT_EQ(step.outcome, Outcome::kError);
  EXPECT_NE(step.error.message().find("DELETED before the initial-events-end"), std::string::npos)
      << step.error;
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);
}

TEST_F(WatcherTest, RefusedStreamingListFallsBackToPagesAndRemembers) {
  WatcherOptions options = Options();
  options.watch_list = true;
  // What kube-apiserver 1.35 answers with --feature-gates=WatchList=false.
  transport_.ReplyStream(422, {StatusBody(422, "Invalid")});
  transport_.Reply(200, JobList({Job("a", "8")}, "10"));
  transport_.ReplyStream(200, {ErrorEvent(410, "Expired")});
  transport_.Reply(200, JobList({Job("b", "20")}, "21"));
  ObjectWatcher watcher = MakeWatcher(options);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);  // the fallback, in the same step
  EXPECT_TRUE(watcher.watch_list_refused());
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@8"}));
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kGone);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);  // lists again: no second refusal
  EXPECT_EQ(Paths(), (Lines{kStreamingListPath, kListPath, WatchPath("10"), kListPath}));
}

TEST_F(WatcherTest, StreamingListOtherErrorsBackOffWithoutFallingBack) {
  WatcherOptions options = Options();
  options.watch_list = true;
  transport_.ReplyStream(503, {StatusBody(503, "ServiceUnavailable")});
  ObjectWatcher watcher = MakeWatcher(options);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kError);
  EXPECT_FALSE(watcher.watch_list_refused());
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);
}

TEST_F(WatcherTest, SelectorsAndNamespaceReachListAndWatch) {
  WatcherOptions options = Options();
  options.namespace_name = "ml";
  options.label_selector = "bursar.dev/budget";
  options.page_size = 2;
  transport_.Reply(200, JobList({Job("a", "1"), Job("b", "2")}, "3", "c1"));
  transport_.Reply(200, JobList({Job("c", "3")}, "4"));
  transport_.ReplyStream(200, {});
  ObjectWatcher watcher = MakeWatcher(options);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@1 ml/b@2 ml/c@3"}));
  EXPECT_EQ(
      Paths(),
      (Lines{"/apis/batch/v1/namespaces/ml/jobs?labelSelector=bursar.dev%2Fbudget&limit=2",
             "/apis/batch/v1/namespaces/ml/jobs?labelSelector=bursar.dev%2Fbudget&limit=2&"
             "continue=c1",
             "/apis/batch/v1/namespaces/ml/jobs?watch=true&resourceVersion=4&"
             "timeoutSeconds=290&allowWatchBookmarks=true&labelSelector=bursar.dev%2Fbudget"}));
}

TEST_F(WatcherTest, BookmarkOnlyAdvancesTheResourceVersion) {
  transport_.Reply(200, JobList({Job("a", "8")}, "10"));
  transport_.ReplyStream(200, {Bookmark("20")});
  transport_.ReplyStream(200, {});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kBookmark);
  EXPECT_EQ(watcher.resource_version(), "20");
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@8"}));  // nothing for the sink

  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchEnded);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(Paths().back(), WatchPath("20"));
}

TEST_F(WatcherTest, CleanEndRewatchesFromTheLastVersionWithoutRelisting) {
  transport_.Reply(200, JobList({}, "5"));
  transport_.ReplyStream(200, {Event("ADDED", Job("a", "7"))});
  transport_.ReplyStream(200, {Event("MODIFIED", Job("a", "9"))});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchEnded);
  EXPECT_EQ(watcher.state(), WatcherState::kListed);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(Paths(), (Lines{kListPath, WatchPath("5"), WatchPath("7")}));
  EXPECT_EQ(seen_, (Lines{"Restarted", "Applied ml/a@7", "Applied ml/a@9"}));
}

TEST_F(WatcherTest, GoneAsTheWatchStatusRelists) {
  transport_.Reply(200, JobList({Job("a", "4")}, "5"));
  transport_.ReplyStream(410, {StatusBody(410, "Expired")});
  transport_.Reply(200, JobList({Job("b", "90")}, "99"));
  transport_.ReplyStream(200, {});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);

  WatcherStep gone = watcher.Step();
  EXPECT_EQ(gone.outcome, Outcome::kGone);
  EXPECT_TRUE(kube::IsGone(gone.error)) << gone.error;
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);
  EXPECT_EQ(watcher.resource_version(), "");

  // Relists at once (no backoff), and the new list replaces everything.
  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(Paths(), (Lines{kListPath, WatchPath("5"), kListPath, WatchPath("99")}));
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@4", "Restarted ml/b@90"}));
}

TEST_F(WatcherTest, GoneInAnErrorEventRelists) {
  transport_.Reply(200, JobList({Job("a", "4")}, "5"));
  transport_.ReplyStream(200, {Event("ADDED", Job("b", "6")), ErrorEvent(410, "Expired")});
  transport_.Reply(200, JobList({Job("c", "80")}, "81"));
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);

  WatcherStep gone = watcher.Step();
  EXPECT_EQ(gone.outcome, Outcome::kGone);
  EXPECT_TRUE(kube::IsGone(gone.error)) << gone.error;
  EXPECT_EQ(watcher.state(), WatcherState::kEmpty);

  EXPECT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(seen_, (Lines{"Restarted ml/a@4", "Applied ml/b@6", "Restarted ml/c@80"}));
  EXPECT_EQ(watcher.resource_version(), "81");
}

TEST_F(WatcherTest, OtherErrorEventBacksOffAndRewatchesFromTheLastVersion) {
  transport_.Reply(200, JobList({}, "5"));
  transport_.ReplyStream(200, {Event("ADDED", Job("a", "6")), ErrorEvent(500, "InternalError")});
  transport_.ReplyStream(200, {});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);

  WatcherStep failed = watcher.Step();
  EXPECT_EQ(failed.outcome, Outcome::kError);
  EXPECT_EQ(failed.retry_after, absl::Milliseconds(800));
  EXPECT_EQ(watcher.state(), WatcherState::kListed);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  EXPECT_EQ(Paths().back(), WatchPath("6"));
}

TEST_F(WatcherTest, TransportErrorsBackOffWithGrowingDelaysRetryingTheSameState) {
  transport_.Fail(absl::UnavailableError("connection refused"));
  transport_.Fail(absl::UnavailableError("connection refused"));
  transport_.Reply(503, StatusBody(503, "ServiceUnavailable"));
  transport_.Reply(200, JobList({}, "5"));
  transport_.Fail(absl::UnavailableError("connection refused"));
  transport_.ReplyStream(200, {}, absl::UnavailableError("stream broken"));
  transport_.ReplyStream(200, {});
  std::vector<absl::Status> reported;
  WatcherOptions options = Options();
  options.on_error = [&](const absl::Status& e) { reported.push_back(e); };
  ObjectWatcher watcher = MakeWatcher(options);

  std::vector<absl::Duration> delays;
  for (int i = 0; i < 3; ++i) {
    WatcherStep step = watcher.Step();
    ASSERT_EQ(step.outcome, Outcome::kError) << i;
    EXPECT_EQ(watcher.state(), WatcherState::kEmpty);
    delays.push_back(step.retry_after);
    clock_.Advance(step.retry_after);
  }
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  // Opening the watch fails: still Listed, the delays keep growing.
  WatcherStep open = watcher.Step();
  ASSERT_EQ(open.outcome, Outcome::kError);
  EXPECT_EQ(watcher.state(), WatcherState::kListed);
  delays.push_back(open.retry_after);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  // The stream breaks: back to Listed, watch again from the same version.
  WatcherStep broken = watcher.Step();
  ASSERT_EQ(broken.outcome, Outcome::kError);
  EXPECT_EQ(watcher.state(), WatcherState::kListed);
  delays.push_back(broken.retry_after);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);

  EXPECT_EQ(delays, (std::vector<absl::Duration>{absl::Milliseconds(800), absl::Milliseconds(1600),
                                                 absl::Milliseconds(3200), absl::Milliseconds(6400),
                                                 absl::Milliseconds(12800)}));
  EXPECT_EQ(reported.size(), 5u);
  EXPECT_EQ(Paths(), (Lines{kListPath, kListPath, kListPath, kListPath, WatchPath("5"),
                            WatchPath("5"), WatchPath("5")}));
}

TEST_F(WatcherTest, BackoffResetsAfterAHealthyPeriod) {
  for (int i = 0; i < 3; ++i) {
    transport_.Fail(absl::UnavailableError("connection refused"));
  }
  transport_.Fail(absl::UnavailableError("connection refused"));
  ObjectWatcher watcher = MakeWatcher(Options());
  EXPECT_EQ(watcher.Step().retry_after, absl::Milliseconds(800));
  EXPECT_EQ(watcher.Step().retry_after, absl::Milliseconds(1600));
  EXPECT_EQ(watcher.Step().retry_after, absl::Milliseconds(3200));
  clock_.Advance(absl::Seconds(120));  // healthy for kube-rs's reset period
  EXPECT_EQ(watcher.Step().retry_after, absl::Milliseconds(800));
}

TEST_F(WatcherTest, FullJitterStaysUnderTheCeilingAndTheCap) {
  WatcherOptions options = Options();
  options.backoff.jitter = Jitter::kFull;
  for (int i = 0; i < 12; ++i) {
    transport_.Fail(absl::UnavailableError("connection refused"));
  }
  ObjectWatcher watcher = MakeWatcher(options);
  absl::Duration ceiling = absl::Milliseconds(800);
  for (int i = 0; i < 12; ++i) {
    WatcherStep step = watcher.Step();
    EXPECT_GE(step.retry_after, absl::ZeroDuration());
    EXPECT_LE(step.retry_after, std::min(ceiling, absl::Seconds(30))) << i;
    ceiling *= 2;
  }
}

TEST_F(WatcherTest, ServerRetryAfterLengthensTheDelay) {
  transport_.Reply(429,
                   R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                   R"("reason":"TooManyRequests","code":429,"details":{"retryAfterSeconds":7}})");
  ObjectWatcher watcher = MakeWatcher(Options());
  EXPECT_EQ(watcher.Step().retry_after, absl::Seconds(7));
}

TEST_F(WatcherTest, UndecodableLineIsReportedAndSkipped) {
  transport_.Reply(200, JobList({}, "5"));
  transport_.ReplyStream(200, {"not json", "", Event("ADDED", Job("a", "6"))});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  WatcherStep bad = watcher.Step();
  EXPECT_EQ(bad.outcome, Outcome::kError);
  EXPECT_EQ(watcher.state(), WatcherState::kWatching);  // same stream
  EXPECT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(seen_.back(), "Applied ml/a@6");
}

TEST_F(WatcherTest, JitteredTimeoutStaysWithinTenPercentBelow) {
  WatcherOptions options = Options();
  options.watch_timeout_jitter = 0.1;
  transport_.Reply(200, JobList({}, "5"));
  constexpr int kWatches = 20;
  for (int i = 0; i < kWatches; ++i) {
    transport_.ReplyStream(200, {});
  }
  ObjectWatcher watcher = MakeWatcher(options);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  std::vector<int64_t> timeouts;
  for (int i = 0; i < kWatches; ++i) {
    ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
    ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchEnded);
  }
  for (const kube::HttpRequest& r : transport_.requests()) {
    const size_t at = r.path.find("timeoutSeconds=");
    if (at != std::string::npos) {
      timeouts.push_back(std::stoll(r.path.substr(at + 15)));
    }
  }
  ASSERT_EQ(timeouts.size(), static_cast<size_t>(kWatches));
  for (int64_t t : timeouts) {
    EXPECT_GE(t, 261);
    EXPECT_LE(t, 290);
  }
  EXPECT_NE(*std::min_element(timeouts.begin(), timeouts.end()),
            *std::max_element(timeouts.begin(), timeouts.end()));
}

TEST_F(WatcherTest, InterruptStopsStepping) {
  transport_.Reply(200, JobList({}, "5"));
  transport_.ReplyStream(200, {Event("ADDED", Job("a", "6"))});
  ObjectWatcher watcher = MakeWatcher(Options());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  watcher.Interrupt();
  EXPECT_EQ(watcher.Step().outcome, Outcome::kInterrupted);
  EXPECT_EQ(watcher.Step().outcome, Outcome::kInterrupted);
  EXPECT_EQ(seen_, (Lines{"Restarted"}));
}

TEST_F(WatcherTest, RunWaitsOutTheBackoffOnTheClockAndStops) {
  transport_.Reply(200, JobList({Job("a", "4")}, "5"));
  transport_.Fail(absl::UnavailableError("connection refused"));
  transport_.ReplyStream(200, {Event("ADDED", Job("b", "6"))});
  transport_.Fail(absl::UnavailableError("connection refused"));
  ObjectStore store;
  ObjectWatcher watcher(client_, clock_, kube::kJobs, store.Sink(), Options());
  Wakeup stop;
  std::thread runner([&] { watcher.Run(&stop); });

  // list, failed watch, then asleep for 800 ms.
  ASSERT_TRUE(clock_.AwaitSleepers(1));
  EXPECT_TRUE(store.HasSynced());
  EXPECT_EQ(transport_.requests().size(), 2u);
  clock_.Advance(absl::Milliseconds(799));
  ASSERT_TRUE(clock_.AwaitSleepers(1));
  EXPECT_EQ(transport_.requests().size(), 2u);
  // The watch opens, delivers b, ends, the next one fails: asleep for 1.6 s.
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(clock_.AwaitSleepers(1));
  EXPECT_EQ(transport_.requests().size(), 4u);
  EXPECT_NE(store.Get("ml/b"), nullptr);

  stop.Notify();
  runner.join();
  EXPECT_EQ(transport_.pending(), 0u);
}

TEST_F(WatcherTest, MetricsCountRelistsRestartsAndEvents) {
  Registry registry;
  WatcherOptions options = Options();
  options.metrics = &registry;
  transport_.Reply(200, JobList({}, "5"));
  transport_.ReplyStream(200, {Event("ADDED", Job("a", "6")), Bookmark("7")});
  transport_.ReplyStream(200, {ErrorEvent(410, "Expired")});
  transport_.Reply(200, JobList({}, "9"));
  ObjectWatcher watcher = MakeWatcher(options);
  for (Outcome expected :
       {Outcome::kListed, Outcome::kWatchStarted, Outcome::kEvent, Outcome::kBookmark,
        Outcome::kWatchEnded, Outcome::kWatchStarted, Outcome::kGone, Outcome::kListed}) {
    ASSERT_EQ(watcher.Step().outcome, expected);
  }
  const std::string text = registry.Render();
  EXPECT_NE(text.find(R"(bursar_watcher_relists_total{resource="jobs"} 2)"), std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(bursar_watcher_watch_restarts_total{resource="jobs"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(bursar_watcher_events_total{resource="jobs",type="ADDED"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(bursar_watcher_events_total{resource="jobs",type="BOOKMARK"} 1)"),
            std::string::npos)
      << text;
}

// ---------------------------------------------------------------------------------------------
// Raw Pod mode.

std::string Pod(std::string_view name, std::string_view rv, std::string_view node = "") {
  return absl::StrCat(R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")", std::string(name),
                      R"(","namespace":"ml","uid":"uid-)", std::string(name),
                      R"(","resourceVersion":")", std::string(rv),
                      R"(","labels":{"team":"vision","other":"x"}},"spec":{"nodeName":")",
                      std::string(node),
                      R"(","containers":[{"name":"main","resources":{"requests":{"cpu":"2",)"
                      R"("nvidia.com/gpu":"1"}}}]},"status":{"phase":"Running"}})");
}

std::string PodList(const std::vector<std::string>& items, std::string_view rv,
                    std::string_view continue_token = "") {
  std::string joined;
  for (const std::string& item : items) {
    absl::StrAppend(&joined, joined.empty() ? "" : ",", item);
  }
  return absl::StrCat(R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")",
                      std::string(rv), R"(","continue":")", std::string(continue_token),
                      R"("},"items":[)", joined, "]}");
}

TEST_F(WatcherTest, PodModeDecodesPagesAndLinesIntoSummaries) {
  WatcherOptions options = Options();
  options.page_size = 1;
  options.pod_label_keys = {"team"};
  transport_.Reply(200, PodList({Pod("a", "3", "gpu-1")}, "4", "c1"));
  transport_.Reply(200, PodList({Pod("b", "4")}, "5"));
  transport_.ReplyStream(
      200, {Event("MODIFIED", Pod("b", "6", "gpu-2")), Event("DELETED", Pod("a", "7", "gpu-1")),
            Bookmark("8"), ErrorEvent(410, "Expired")});
  transport_.Reply(200, PodList({}, "20"));
  PodStore store;
  PodWatcher watcher(client_, clock_, kube::kPods, store.Sink(), options);

  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(store.size(), 2u);
  std::shared_ptr<const kube::PodSummary> a = store.Get("ml/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->node_name, "gpu-1");
  EXPECT_EQ(a->TotalGpus(), 1);
  ASSERT_NE(a->Label("team"), nullptr);
  EXPECT_EQ(a->Label("other"), nullptr);  // not asked for

  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(store.Get("ml/b")->node_name, "gpu-2");
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(store.Get("ml/a"), nullptr);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kBookmark);
  EXPECT_EQ(watcher.resource_version(), "8");
  ASSERT_EQ(watcher.Step().outcome, Outcome::kGone);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(store.size(), 0u);

  EXPECT_EQ(Paths(), (Lines{"/api/v1/pods?limit=1", "/api/v1/pods?limit=1&continue=c1",
                            "/api/v1/pods?watch=true&resourceVersion=5&timeoutSeconds=290&"
                            "allowWatchBookmarks=true",
                            "/api/v1/pods?limit=1"}));
}

TEST_F(WatcherTest, PodModeStreamsTheInitialStateIntoSummaries) {
  WatcherOptions options = Options();
  options.watch_list = true;
  options.pod_label_keys = {"team"};
  const std::string end_bookmark =
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{)"
      R"("resourceVersion":"7","annotations":{"k8s.io/initial-events-end":"true"}}}})";
  transport_.ReplyStream(
      200, {Event("ADDED", Pod("a", "3", "gpu-1")), Event("ADDED", Pod("b", "4")), end_bookmark,
            Event("DELETED", Pod("a", "8", "gpu-1"))});
  PodStore store;
  PodWatcher watcher(client_, clock_, kube::kPods, store.Sink(), options);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  EXPECT_FALSE(store.HasSynced());
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_TRUE(store.HasSynced());
  EXPECT_EQ(watcher.resource_version(), "7");
  ASSERT_NE(store.Get("ml/a"), nullptr);
  EXPECT_EQ(store.Get("ml/a")->node_name, "gpu-1");
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);
  EXPECT_EQ(store.ListKeys(), (Lines{"ml/b"}));
}

// A protobuf watch frame: WatchEvent{type, object.raw = "k8s\0" + Unknown{Pod}}.
std::string ProtoFrame(std::string_view type, const kube::wire::Pod& pod) {
  kube::wire::Unknown unknown;
  unknown.mutable_type_meta()->set_api_version("v1");
  unknown.mutable_type_meta()->set_kind("Pod");
  unknown.set_raw(pod.SerializeAsString());
  kube::wire::WatchEvent event;
  event.set_type(std::string(type));
  event.mutable_object()->set_raw(std::string("k8s\0", 4) + unknown.SerializeAsString());
  return event.SerializeAsString();
}

TEST_F(WatcherTest, PodModeAsksForProtobufAndDecodesFramesAndJsonAlike) {
  WatcherOptions options = Options();
  options.watch_list = true;
  options.protobuf = true;
  kube::wire::Pod pod;
  pod.mutable_metadata()->set_name("a");
  pod.mutable_metadata()->set_namespace_("ml");
  pod.mutable_metadata()->set_resource_version("3");
  pod.mutable_spec()->set_node_name("gpu-1");
  kube::wire::Pod end;
  end.mutable_metadata()->set_resource_version("7");
  (*end.mutable_metadata()->mutable_annotations())["k8s.io/initial-events-end"] = "true";
  // The second event comes as JSON: a server may answer JSON whatever the Accept header says.
  transport_.ReplyStream(200, {ProtoFrame("ADDED", pod), ProtoFrame("BOOKMARK", end),
                               Event("MODIFIED", Pod("b", "8", "gpu-2"))});
  PodStore store;
  PodWatcher watcher(client_, clock_, kube::kPods, store.Sink(), options);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kInitialEvent);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(watcher.resource_version(), "7");
  ASSERT_NE(store.Get("ml/a"), nullptr);
  EXPECT_EQ(store.Get("ml/a")->node_name, "gpu-1");
  ASSERT_EQ(watcher.Step().outcome, Outcome::kEvent);
  ASSERT_NE(store.Get("ml/b"), nullptr);
  EXPECT_EQ(store.Get("ml/b")->node_name, "gpu-2");

  const kube::HttpRequest sent = transport_.sent().at(0).request;
  bool asked = false;
  for (const auto& [name, value] : sent.headers) {
    asked = asked || (name == "Accept" && value == kube::kProtobufAccept);
  }
  EXPECT_TRUE(asked) << ::testing::PrintToString(sent);
}

TEST_F(WatcherTest, PodModeStartsTheListOverWhenTheContinueTokenExpires) {
  WatcherOptions options = Options();
  options.page_size = 1;
  transport_.Reply(200, PodList({Pod("a", "3")}, "4", "c1"));
  transport_.Reply(410, StatusBody(410, "Expired"));
  transport_.Reply(200, PodList({Pod("b", "9")}, "10"));
  PodStore store;
  PodWatcher watcher(client_, clock_, kube::kPods, store.Sink(), options);
  ASSERT_EQ(watcher.Step().outcome, Outcome::kListed);
  EXPECT_EQ(store.ListKeys(), (Lines{"ml/b"}));  // no page of the first snapshot mixed in
  EXPECT_EQ(watcher.resource_version(), "10");
}

}  // namespace
}  // namespace bursar::runtime
