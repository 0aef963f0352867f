#include "operator/runtime/event_recorder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/resource.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::runtime {
namespace {

using kube::FakeTransport;
using Lines = std::vector<std::string>;

constexpr absl::Duration kPatience = absl::Seconds(30);
const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 11, 27, 8, 0, 0), absl::UTCTimeZone());

// client-go's Event name suffix: the hex UnixNano of the time it was recorded.
std::string NameAt(std::string_view object, absl::Time t, int64_t plus = 0) {
  return absl::StrFormat("%s.%x", std::string(object),
                         static_cast<uint64_t>(absl::ToUnixNanos(t) + plus));
}

ObjectReference TrainingJob() {
  absl::StatusOr<json::Value> job = json::Parse(
      R"({"metadata":{"name":"train-0","namespace":"ml","uid":"u-1","resourceVersion":"7"}})");
  EXPECT_TRUE(job.ok());
  return ObjectReference::Of(kube::kJobs, *job);
}

std::string Created(std::string_view name = "") {
  return absl::StrCat(R"({"kind":"Event","apiVersion":"v1","metadata":{"name":")",
                      std::string(name), R"(","namespace":"ml","resourceVersion":"1"}})");
}

json::Value Body(const kube::HttpRequest& request) {
  absl::StatusOr<json::Value> v = json::Parse(request.body);
  EXPECT_TRUE(v.ok()) << v.status() << ": " << request.body;
  return v.ok() ? *v : json::Value();
}

std::string Header(const kube::HttpRequest& request, std::string_view name) {
  for (const auto& [key, value] : request.headers) {
    if (key == name) {
      return value;
    }
  }
  return "";
}

// Holds the first request until released, to keep the recorder's worker busy.
class GatedTransport : public kube::Transport {
 public:
  explicit GatedTransport(kube::Transport& inner) : inner_(inner) {}

  absl::StatusOr<kube::HttpResponse> Send(const kube::HttpRequest& request,
                                          absl::Duration timeout) override {
    if (!entered.HasBeenNotified()) {
      entered.Notify();
      release.WaitForNotificationWithTimeout(kPatience);
    }
    return inner_.Send(request, timeout);
  }
  absl::StatusOr<kube::StreamResponse> Stream(const kube::HttpRequest& request,
                                              absl::Duration idle_timeout) override {
    return inner_.Stream(request, idle_timeout);
  }

  absl::Notification entered;
  absl::Notification release;

 private:
  kube::Transport& inner_;
};

class EventRecorderTest : public ::testing::Test {
 protected:
  EventRecorderOptions Options() {
    EventRecorderOptions options;
    options.reporting_instance = "bursar-0";
    options.metrics = &registry_;
    return options;
  }

  std::vector<kube::HttpRequest> Sent() { return transport_.requests(); }

  bool Rendered(std::string_view line) {
    return registry_.Render().find(std::string(line)) != std::string::npos;
  }

  SimulatedClock clock_{kStart};
  FakeTransport transport_;
  kube::ApiClient client_{transport_};
  Registry registry_;
};

TEST_F(EventRecorderTest, CreatesACoreV1EventForTheInvolvedObject) {
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  recorder.Record(TrainingJob(), EventType::kWarning, "Held", "budget team-a is held");
  recorder.Flush();

  std::vector<kube::HttpRequest> sent = Sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[0].path, "/api/v1/namespaces/ml/events");
  EXPECT_EQ(Header(sent[0], "Content-Type"), "application/json");
  EXPECT_EQ(
      sent[0].body,
      absl::StrCat(
          R"({"apiVersion":"v1","kind":"Event","metadata":{"name":")", NameAt("train-0", kStart),
          R"(","namespace":"ml"},)",
          R"("involvedObject":{"apiVersion":"batch/v1","kind":"Job","namespace":"ml",)",
          R"("name":"train-0","uid":"u-1"},"reason":"Held",)",
          R"("message":"budget team-a is held","type":"Warning","count":1,)",
          R"("firstTimestamp":"2026-11-27T08:00:00Z","lastTimestamp":"2026-11-27T08:00:00Z",)",
          R"("source":{"component":"bursar.dev/operator"},)",
          R"("reportingComponent":"bursar.dev/operator","reportingInstance":"bursar-0"})"));
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="created"} 1)"));
}

TEST_F(EventRecorderTest, RepeatsWithinTenMinutesPatchTheCountInstead) {
  transport_.Reply(201, Created());
  transport_.Reply(200, Created());
  transport_.Reply(200, Created());
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  const ObjectReference job = TrainingJob();
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 4 GPUs");
  clock_.Advance(absl::Minutes(1));
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 4 GPUs");
  clock_.Advance(absl::Minutes(10));  // 10 min after the last one: still the same Event
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 4 GPUs");
  clock_.Advance(absl::Minutes(10) + absl::Seconds(1));  // too long: a new Event
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 4 GPUs");
  recorder.Flush();

  std::vector<kube::HttpRequest> sent = Sent();
  ASSERT_EQ(sent.size(), 4u);
  const std::string first = NameAt("train-0", kStart);
  EXPECT_EQ(sent[0].method, "POST");
  EXPECT_EQ(sent[1].method, "PATCH");
  EXPECT_EQ(sent[1].path, absl::StrCat("/api/v1/namespaces/ml/events/", first));
  EXPECT_EQ(Header(sent[1], "Content-Type"), "application/strategic-merge-patch+json");
  EXPECT_EQ(sent[1].body, R"({"count":2,"lastTimestamp":"2026-11-27T08:01:00Z",)"
                          R"("message":"quota lowered to 4 GPUs"})");
  EXPECT_EQ(sent[2].method, "PATCH");
  EXPECT_EQ(sent[2].path, sent[1].path);
  EXPECT_EQ(FieldOrFail(Body(sent[2]), "count").int_value(), 3);
  EXPECT_EQ(sent[3].method, "POST");
  const std::string second = PathOrFail(Body(sent[3]), "metadata.name").string_value();
  EXPECT_NE(second, first);
  EXPECT_EQ(FieldOrFail(Body(sent[3]), "count").int_value(), 1);
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="aggregated"} 2)"));
}

TEST_F(EventRecorderTest, DistinctMessagesAreDistinctEvents) {
  transport_.Reply(201, Created());
  transport_.Reply(201, Created());
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  const ObjectReference job = TrainingJob();
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 4 GPUs");
  recorder.Record(job, EventType::kNormal, "Throttled", "quota lowered to 2 GPUs");
  recorder.Record(job, EventType::kWarning, "Throttled", "quota lowered to 2 GPUs");
  recorder.Flush();

  std::vector<kube::HttpRequest> sent = Sent();
  ASSERT_EQ(sent.size(), 3u);
  for (const kube::HttpRequest& r : sent) {
    EXPECT_EQ(r.method, "POST");
  }
  // Recorded in the same instant, still three names.
  EXPECT_EQ(PathOrFail(Body(sent[0]), "metadata.name").string_value(), NameAt("train-0", kStart));
  EXPECT_EQ(PathOrFail(Body(sent[1]), "metadata.name").string_value(),
            NameAt("train-0", kStart, 1));
  EXPECT_EQ(PathOrFail(Body(sent[2]), "metadata.name").string_value(),
            NameAt("train-0", kStart, 2));
}

TEST_F(EventRecorderTest, RemembersOnlyTheMostRecentEvents) {
  EventRecorderOptions options = Options();
  options.cache_size = 2;
  for (int i = 0; i < 5; ++i) {
    transport_.Reply(201, Created());
  }
  ApiEventRecorder recorder(client_, clock_, options);
  const ObjectReference job = TrainingJob();
  for (const char* message : {"m1", "m2", "m3", "m1", "m3"}) {
    recorder.Record(job, EventType::kNormal, "Reason", message);
  }
  recorder.Flush();
  Lines methods;
  for (const kube::HttpRequest& r : Sent()) {
    methods.push_back(absl::StrCat(r.method, " ", FieldOrFail(Body(r), "message").string_value()));
  }
  // m1 was forgotten when m3 came (two entries at most); m3 was still remembered.
  EXPECT_EQ(methods, (Lines{"POST m1", "POST m2", "POST m3", "POST m1", "PATCH m3"}));
}

TEST_F(EventRecorderTest, ClusterScopedObjectsGoToTheDefaultNamespace) {
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  absl::StatusOr<json::Value> budget = json::Parse(R"({"metadata":{"name":"team-a","uid":"b-1"}})");
  ASSERT_TRUE(budget.ok());
  recorder.Record(ObjectReference::Of(kube::kComputeBudgets, *budget), EventType::kNormal, "AtRisk",
                  "forecast 1240 USD over the 1000 USD limit");
  recorder.Flush();
  ASSERT_EQ(Sent().size(), 1u);
  const kube::HttpRequest r = Sent()[0];
  EXPECT_EQ(r.path, "/api/v1/namespaces/default/events");
  EXPECT_EQ(FieldOrFail(Body(r), "involvedObject").ToJson(),
            R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","name":"team-a",)"
            R"("uid":"b-1"})");
  EXPECT_EQ(PathOrFail(Body(r), "metadata.namespace").string_value(), "default");
}

TEST_F(EventRecorderTest, AnEventExpiredOnTheServerIsCreatedAgainWithItsCount) {
  transport_.Reply(201, Created());
  transport_.Reply(404, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                        R"("reason":"NotFound","code":404})");
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  recorder.Record(TrainingJob(), EventType::kNormal, "Throttled", "same");
  clock_.Advance(absl::Minutes(5));
  recorder.Record(TrainingJob(), EventType::kNormal, "Throttled", "same");
  recorder.Flush();
  std::vector<kube::HttpRequest> sent = Sent();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].method, "PATCH");
  EXPECT_EQ(sent[2].method, "POST");
  EXPECT_EQ(PathOrFail(Body(sent[2]), "metadata.name").string_value(), NameAt("train-0", kStart));
  EXPECT_EQ(FieldOrFail(Body(sent[2]), "count").int_value(), 2);
  EXPECT_EQ(FieldOrFail(Body(sent[2]), "firstTimestamp").string_value(), "2026-11-27T08:00:00Z");
  EXPECT_EQ(FieldOrFail(Body(sent[2]), "lastTimestamp").string_value(), "2026-11-27T08:05:00Z");
}

TEST_F(EventRecorderTest, AFailedCreateIsForgottenSoTheNextOneCreatesAgain) {
  transport_.Reply(500, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                        R"("reason":"InternalError","code":500})");
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  recorder.Record(TrainingJob(), EventType::kNormal, "Throttled", "same");
  recorder.Record(TrainingJob(), EventType::kNormal, "Throttled", "same");
  recorder.Flush();
  std::vector<kube::HttpRequest> sent = Sent();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].method, "POST");
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="failed"} 1)"));
}

TEST_F(EventRecorderTest, SpamFilterLimitsEventsPerObject) {
  EventRecorderOptions options = Options();
  options.spam_burst = 2;
  for (int i = 0; i < 3; ++i) {
    transport_.Reply(201, Created());
  }
  ApiEventRecorder recorder(client_, clock_, options);
  const ObjectReference job = TrainingJob();
  recorder.Record(job, EventType::kNormal, "R", "1");
  recorder.Record(job, EventType::kNormal, "R", "2");
  recorder.Record(job, EventType::kNormal, "R", "3");  // over the burst: dropped
  clock_.Advance(absl::Minutes(5));                    // one token back
  recorder.Record(job, EventType::kNormal, "R", "4");
  recorder.Record(job, EventType::kNormal, "R", "5");  // dropped
  recorder.Flush();
  Lines messages;
  for (const kube::HttpRequest& r : Sent()) {
    messages.push_back(FieldOrFail(Body(r), "message").string_value());
  }
  EXPECT_EQ(messages, (Lines{"1", "2", "4"}));
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="rate_limited"} 2)"));
}

TEST_F(EventRecorderTest, RecordNeverBlocksAndDropsWhenTheQueueIsFull) {
  GatedTransport gated(transport_);
  kube::ApiClient client(gated);
  EventRecorderOptions options = Options();
  options.queue_capacity = 2;
  for (int i = 0; i < 3; ++i) {
    transport_.Reply(201, Created());
  }
  ApiEventRecorder recorder(client, clock_, options);
  const ObjectReference job = TrainingJob();
  recorder.Record(job, EventType::kNormal, "R", "1");
  ASSERT_TRUE(gated.entered.WaitForNotificationWithTimeout(kPatience));  // the worker is stuck
  recorder.Record(job, EventType::kNormal, "R", "2");
  recorder.Record(job, EventType::kNormal, "R", "3");
  recorder.Record(job, EventType::kNormal, "R", "4");  // the queue holds two: dropped
  gated.release.Notify();
  recorder.Flush();
  Lines messages;
  for (const kube::HttpRequest& r : Sent()) {
    messages.push_back(FieldOrFail(Body(r), "message").string_value());
  }
  EXPECT_EQ(messages, (Lines{"1", "2", "3"}));
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="queue_full"} 1)"));
}

TEST_F(EventRecorderTest, ShutdownWritesWhatIsQueuedThenRefusesNewEvents) {
  transport_.Reply(201, Created());
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  recorder.Record(TrainingJob(), EventType::kNormal, "R", "1");
  recorder.Record(TrainingJob(), EventType::kNormal, "R", "2");
  recorder.Shutdown();
  EXPECT_EQ(Sent().size(), 2u);
  recorder.Record(TrainingJob(), EventType::kNormal, "R", "3");
  recorder.Shutdown();  // idempotent
  EXPECT_EQ(Sent().size(), 2u);
  EXPECT_TRUE(Rendered(R"(bursar_event_recorder_events_total{result="shutdown"} 1)"));
}

TEST_F(EventRecorderTest, LongMessagesAreTruncatedOnACharacterBoundary) {
  transport_.Reply(201, Created());
  ApiEventRecorder recorder(client_, clock_, Options());
  std::string message(1023, 'x');
  message += "\xC3\xA9tail";  // "é" straddles the 1024-byte limit
  recorder.Record(TrainingJob(), EventType::kNormal, "R", message);
  recorder.Flush();
  ASSERT_EQ(Sent().size(), 1u);
  EXPECT_EQ(FieldOrFail(Body(Sent()[0]), "message").string_value(), std::string(1023, 'x'));
}

}  // namespace
}  // namespace bursar::runtime
