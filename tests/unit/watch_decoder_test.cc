#include "operator/kube/watch_decoder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "operator/kube/kube_status.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::kube {
namespace {

// A GPU training pod of a Job as the API server returns it (kubectl get pod -o json, trimmed
// of nothing but volume details): managed fields, tolerations, two containers, conditions.
// The sidecar sets only a memory limit, so its request comes from the limit; it has finished.
// A realistic 4.3 KB GPU Job pod, shared with tests/bench/pod_cache_bench.cc.
const std::string& GpuPod() {
  static const std::string* pod = [] {
    std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/gpu-pod.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return new std::string(ss.str());
  }();
  return *pod;
}

// The fixture on one line, as a watch stream carries it.
std::string OneLine(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c != '\n') {
      out.push_back(c);
    }
  }
  return out;
}

std::string WatchLine(std::string_view type, std::string_view object) {
  return absl::StrCat(R"({"type":")", std::string(type), R"(","object":)", OneLine(object), "}");
}

absl::Time T(const char* rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << err;
  return t;
}

// ---- DecodeWatchEvent ----

TEST(WatchDecoderTest, DecodesEveryEventType) {
  struct Case {
    std::string line;
    WatchEvent::Type type;
    std::string resource_version;
  };
  const std::vector<Case> cases = {
      {R"({"type":"ADDED","object":{"kind":"Node","metadata":{"name":"a","resourceVersion":"1"}}})",
       WatchEvent::Type::kAdded, "1"},
      {R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"2"}}})",
       WatchEvent::Type::kModified, "2"},
      {R"({"type":"DELETED","object":{"metadata":{"name":"a","resourceVersion":"3"}}})",
       WatchEvent::Type::kDeleted, "3"},
      {R"({"type":"BOOKMARK","object":{"kind":"Node","apiVersion":"v1",)"
       R"("metadata":{"resourceVersion":"12345","annotations":)"
       R"({"k8s.io/initial-events-end":"true"}}}})",
       WatchEvent::Type::kBookmark, "12345"},
      {R"({"object":{"metadata":{"resourceVersion":"4"}},"type":"ADDED"})",
       WatchEvent::Type::kAdded, "4"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<WatchEvent> event = DecodeWatchEvent(c.line);
    ASSERT_TRUE(event.ok()) << event.status() << " " << c.line;
    EXPECT_EQ(event->type, c.type) << c.line;
    EXPECT_EQ(event->ResourceVersion(), c.resource_version);
    EXPECT_FALSE(event->ErrorStatus().has_value());
    EXPECT_TRUE(ErrorOf(*event).ok());
  }
}

TEST(WatchDecoderTest, ErrorEventCarriesStatusAnd410MeansRelist) {
  absl::StatusOr<WatchEvent> event = DecodeWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
      R"js("status":"Failure","message":"too old resource version: 184467440 (184467999)",)js"
      R"("reason":"Expired","code":410}})");
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->type, WatchEvent::Type::kError);
  std::optional<KubeStatus> status = event->ErrorStatus();
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(status->code, 410);
  EXPECT_EQ(status->reason, "Expired");
  absl::Status error = ErrorOf(*event);
  EXPECT_TRUE(IsGone(error)) << error;

  absl::StatusOr<WatchEvent> internal = DecodeWatchEvent(
      R"({"type":"ERROR","object":{"kind":"Status","status":"Failure",)"
      R"("message":"an error on the server","reason":"InternalError","code":500}})");
  ASSERT_TRUE(internal.ok());
  EXPECT_FALSE(IsGone(ErrorOf(*internal)));
  EXPECT_TRUE(IsRetryable(ErrorOf(*internal)));

  absl::StatusOr<WatchEvent> not_status =
      DecodeWatchEvent(R"({"type":"ERROR","object":{"kind":"Pod"}})");
  ASSERT_TRUE(not_status.ok());
  EXPECT_EQ(ErrorOf(*not_status).code(), absl::StatusCode::kInternal);
}

TEST(WatchDecoderTest, RejectsLinesThatAreNotEvents) {
  for (const char* line :
       {"", "not json", "{", "[1,2]", R"({"type":"ADDED"})", R"({"object":{}})",
        R"({"type":"EXPLODED","object":{}})", R"({"type":7,"object":{}})",
        R"({"type":"ADDED","object":"x"})", R"({"type":"ADDED","object":{"a":1}}trailing)"}) {
    absl::StatusOr<WatchEvent> event = DecodeWatchEvent(line);
    EXPECT_FALSE(event.ok()) << line;
    EXPECT_EQ(event.status().code(), absl::StatusCode::kInvalidArgument) << line;
  }
}

// ---- FrameAssembler ----

std::string Frame(std::string_view payload) {
  const auto n = static_cast<uint32_t>(payload.size());
  return std::string{static_cast<char>(n >> 24), static_cast<char>((n >> 16) & 0xff),
                     static_cast<char>((n >> 8) & 0xff), static_cast<char>(n & 0xff)} +
         std::string(payload);
}

TEST(FrameAssemblerTest, EverySplitPositionGivesTheSameFrames) {
  const std::string text = Frame("first") + Frame("") + Frame(std::string(300, '\xff'));
  const std::vector<std::string> want = {"first", "", std::string(300, '\xff')};
  for (size_t i = 0; i <= text.size(); ++i) {
    FrameAssembler frames;
    std::vector<std::string> got;
    for (std::string_view part :
         {std::string_view(text).substr(0, i), std::string_view(text).substr(i)}) {
      frames.Feed(part);
      for (;;) {
        absl::StatusOr<std::optional<std::string>> frame = frames.NextFrame();
        ASSERT_TRUE(frame.ok()) << frame.status();
        if (!frame->has_value()) {
          break;
        }
        got.push_back(**frame);
      }
    }
    ASSERT_EQ(got, want) << "split at " << i;
    EXPECT_TRUE(frames.Finish().ok());
  }
}

TEST(FrameAssemblerTest, AFrameOverTheLimitAndAnEndInsideAFrameAreErrors) {
  FrameAssembler small(/*max_frame_bytes=*/8);
  small.Feed(Frame("12345678"));
  EXPECT_EQ(small.NextFrame().value(), "12345678");
  small.Feed(Frame("123456789").substr(0, 4));  // the length is enough to refuse it
  absl::StatusOr<std::optional<std::string>> over = small.NextFrame();
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(over.status().message().find("frame of 9 bytes is over 8"), std::string_view::npos)
      << over.status();

  FrameAssembler cut;
  cut.Feed(Frame("whole") + Frame("partial").substr(0, 7));
  EXPECT_EQ(cut.NextFrame().value(), "whole");
  EXPECT_FALSE(cut.NextFrame().value().has_value());
  EXPECT_EQ(cut.Finish().code(), absl::StatusCode::kUnavailable);
}

// ---- LineAssembler ----

std::vector<std::string> Assemble(const std::vector<std::string_view>& chunks) {
  LineAssembler assembler;
  std::vector<std::string> lines;
  for (std::string_view chunk : chunks) {
    EXPECT_TRUE(assembler.Feed(chunk).ok());
    while (std::optional<std::string> line = assembler.NextLine()) {
      lines.push_back(*line);
    }
  }
  if (std::optional<std::string> rest = assembler.Finish()) {
    lines.push_back(*rest);
  }
  return lines;
}

TEST(LineAssemblerTest, EverySplitPositionGivesTheSameLines) {
  const std::string text =
      "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\",\"x\":\"a\\nb\"}\r\n\n"
      "{\"type\":\"BOOKMARK\"}\r\nlast-without-newline";
  const std::vector<std::string> want = {"{\"type\":\"ADDED\"}",
                                         "{\"type\":\"MODIFIED\",\"x\":\"a\\nb\"}", "",
                                         "{\"type\":\"BOOKMARK\"}", "last-without-newline"};
  const std::string_view all(text);
  EXPECT_EQ(Assemble({all}), want);
  for (size_t i = 0; i <= text.size(); ++i) {
    for (size_t j = i; j <= text.size(); ++j) {
      ASSERT_EQ(Assemble({all.substr(0, i), all.substr(i, j - i), all.substr(j)}), want)
          << "split at " << i << " and " << j;
    }
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < text.size(); ++i) {
    bytes.push_back(all.substr(i, 1));
  }
  EXPECT_EQ(Assemble(bytes), want);
}

TEST(LineAssemblerTest, LinesComeOutAsTheyComplete) {
  LineAssembler assembler;
  ASSERT_TRUE(assembler.Feed("ab").ok());
  EXPECT_FALSE(assembler.NextLine().has_value());
  ASSERT_TRUE(assembler.Feed("c\r").ok());
  EXPECT_FALSE(assembler.NextLine().has_value());
  ASSERT_TRUE(assembler.Feed("\nde\nf").ok());
  EXPECT_EQ(assembler.NextLine(), "abc");
  EXPECT_EQ(assembler.NextLine(), "de");
  EXPECT_FALSE(assembler.NextLine().has_value());
  EXPECT_EQ(assembler.Finish(), "f");
  EXPECT_FALSE(assembler.Finish().has_value());
}

TEST(LineAssemblerTest, RefusesEndlessLines) {
  LineAssembler assembler(/*max_line_bytes=*/8);
  EXPECT_TRUE(assembler.Feed("12345678\n1234").ok());
  EXPECT_TRUE(assembler.Feed("5678").ok());
  absl::Status s = assembler.Feed("9");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

// ---- PodSummary ----

const std::vector<std::string> kLabelKeys = {"bursar.dev/budget", "app.kubernetes.io/name",
                                             "model"};

TEST(PodSummaryTest, TheAllLabelsKeyKeepsEveryLabel) {
  PodSummaryDecoder decoder({PodSummaryDecoder::kAllLabels});
  absl::StatusOr<PodSummary> pod = decoder.DecodePod(GpuPod());
  ASSERT_TRUE(pod.ok()) << pod.status();
  ASSERT_GE(pod->labels.size(), 7u);
  EXPECT_EQ(pod->labels[0].first, "app.kubernetes.io/name");
  ASSERT_NE(pod->Label("job-name"), nullptr);
  EXPECT_EQ(*pod->Label("job-name"), "llama-finetune-7b");
}

TEST(PodSummaryTest, DecodesWhatBursarUsesFromARealPod) {
  PodSummaryDecoder decoder(kLabelKeys);
  absl::StatusOr<PodSummary> pod = decoder.DecodePod(GpuPod());
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(pod->uid, "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21");
  EXPECT_EQ(pod->namespace_name, "ml-research");
  EXPECT_EQ(pod->name, "llama-finetune-7b-worker-0-x7k2p");
  EXPECT_EQ(pod->resource_version, "184467440");
  EXPECT_EQ(pod->node_name, "ip-10-0-12-34.us-west-2.compute.internal");
  EXPECT_EQ(pod->phase, PodPhase::kRunning);
  EXPECT_EQ(pod->priority, 1000);
  EXPECT_EQ(pod->start_time, T("2024-05-01T11:58:05Z"));
  EXPECT_FALSE(pod->deletion_timestamp.has_value());
  EXPECT_EQ(pod->owner_kind, "Job");
  EXPECT_EQ(pod->owner_name, "llama-finetune-7b");

  // Only the wanted labels, in document order.
  ASSERT_EQ(pod->labels.size(), 3u);
  EXPECT_EQ(pod->labels[0].first, "app.kubernetes.io/name");
  EXPECT_EQ(pod->labels[1].first, "bursar.dev/budget");
  EXPECT_EQ(pod->labels[2].first, "model");
  ASSERT_NE(pod->Label("bursar.dev/budget"), nullptr);
  EXPECT_EQ(*pod->Label("bursar.dev/budget"), "research-q2");
  EXPECT_EQ(pod->Label("job-name"), nullptr);

  // Init containers are not charged; the limit stands in for a missing request.
  ASSERT_EQ(pod->containers.size(), 2u);
  const ContainerSummary& trainer = pod->containers[0];
  EXPECT_EQ(trainer.name, "trainer");
  EXPECT_EQ(trainer.cpu_milli, 15'500);
  EXPECT_EQ(trainer.memory_bytes, int64_t{120} << 30);
  EXPECT_EQ(trainer.gpus, 4);
  EXPECT_FALSE(trainer.finished_at.has_value());  // lastState does not count
  const ContainerSummary& exporter = pod->containers[1];
  EXPECT_EQ(exporter.name, "metrics-exporter");
  EXPECT_EQ(exporter.cpu_milli, 100);
  EXPECT_EQ(exporter.memory_bytes, int64_t{512} << 20);
  EXPECT_EQ(exporter.gpus, 0);
  EXPECT_EQ(exporter.finished_at, T("2024-05-01T13:09:59Z"));
  EXPECT_EQ(pod->TotalGpus(), 4);
}

TEST(PodSummaryTest, FitsTheCacheBudget) {
  PodSummaryDecoder decoder(kLabelKeys);
  absl::StatusOr<PodSummary> pod = decoder.DecodePod(GpuPod());
  ASSERT_TRUE(pod.ok()) << pod.status();
  // The target is < 1 KiB per cached pod at 100k pods.
  EXPECT_LT(pod->ApproximateBytes(), 1024u);
  std::cout << "sizeof(PodSummary)=" << sizeof(PodSummary)
            << " sizeof(ContainerSummary)=" << sizeof(ContainerSummary)
            << " ApproximateBytes(GPU pod fixture)=" << pod->ApproximateBytes() << "\n";
}

TEST(PodSummaryTest, InternsRepeatedStrings) {
  PodSummaryDecoder decoder(kLabelKeys);
  absl::StatusOr<PodSummary> first = decoder.DecodePod(GpuPod());
  ASSERT_TRUE(first.ok());
  const size_t pool = InternedString::PoolSize();
  absl::StatusOr<PodSummary> second = decoder.DecodePod(GpuPod());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(InternedString::PoolSize(), pool);
  EXPECT_EQ(first->namespace_name.view().data(), second->namespace_name.view().data());
  EXPECT_EQ(*first, *second);
  // Another decoder shares the process-wide pool.
  PodSummaryDecoder other(kLabelKeys);
  absl::StatusOr<PodSummary> third = other.DecodePod(GpuPod());
  ASSERT_TRUE(third.ok());
  EXPECT_EQ(first->namespace_name, third->namespace_name);
  EXPECT_EQ(InternedString(""), InternedString());
}

TEST(PodSummaryTest, AgreesWithTheTreeDecoder) {
  absl::StatusOr<WatchEvent> tree = DecodeWatchEvent(WatchLine("ADDED", GpuPod()));
  ASSERT_TRUE(tree.ok()) << tree.status();
  PodSummaryDecoder decoder(kLabelKeys);
  absl::StatusOr<PodWatchEvent> fast = decoder.DecodeWatchLine(WatchLine("ADDED", GpuPod()));
  ASSERT_TRUE(fast.ok()) << fast.status();
  EXPECT_EQ(fast->pod.name, PathOrFail(tree->object, "metadata.name").string_value());
  EXPECT_EQ(fast->pod.uid, PathOrFail(tree->object, "metadata.uid").string_value());
  EXPECT_EQ(fast->pod.resource_version, tree->ResourceVersion());
  EXPECT_EQ(fast->pod.node_name, PathOrFail(tree->object, "spec.nodeName").string_value());
}

TEST(PodSummaryTest, DecodesWatchLines) {
  PodSummaryDecoder decoder(kLabelKeys);
  for (const auto& [type, want] : std::vector<std::pair<std::string, WatchEvent::Type>>{
           {"ADDED", WatchEvent::Type::kAdded},
           {"MODIFIED", WatchEvent::Type::kModified},
           {"DELETED", WatchEvent::Type::kDeleted}}) {
    absl::StatusOr<PodWatchEvent> event = decoder.DecodeWatchLine(WatchLine(type, GpuPod()));
    ASSERT_TRUE(event.ok()) << event.status();
    EXPECT_EQ(event->type, want);
    EXPECT_EQ(event->pod.containers.size(), 2u);
    EXPECT_FALSE(event->initial_events_end);
  }

  absl::StatusOr<PodWatchEvent> bookmark = decoder.DecodeWatchLine(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":)"
      R"({"resourceVersion":"184468000","creationTimestamp":null,"annotations":)"
      R"({"k8s.io/initial-events-end":"true"}},"spec":{"containers":null},"status":{}}})");
  ASSERT_TRUE(bookmark.ok()) << bookmark.status();
  EXPECT_EQ(bookmark->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(bookmark->pod.resource_version, "184468000");
  EXPECT_TRUE(bookmark->initial_events_end);

  const std::string terminating = [] {
    std::string pod = GpuPod();
    const std::string anchor = R"("creationTimestamp": "2024-05-01T11:58:03Z",)";
    pod.replace(pod.find(anchor), anchor.size(),
                anchor + R"( "deletionTimestamp": "2024-05-01T14:00:00.250+02:00",)");
    return pod;
  }();
  absl::StatusOr<PodWatchEvent> deleting =
      decoder.DecodeWatchLine(WatchLine("MODIFIED", terminating));
  ASSERT_TRUE(deleting.ok()) << deleting.status();
  EXPECT_EQ(deleting->pod.deletion_timestamp, T("2024-05-01T12:00:00.25Z"));
}

TEST(PodSummaryTest, ErrorEventsComeBackAsErrors) {
  PodSummaryDecoder decoder(kLabelKeys);
  const std::string status =
      R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
      R"js("message":"too old resource version: 1 (2)","reason":"Expired","code":410})js";
  absl::StatusOr<PodWatchEvent> gone = decoder.DecodeWatchLine(WatchLine("ERROR", status));
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(IsGone(gone.status())) << gone.status();
  // The same with "object" first: the Status fails to decode as a Pod and is recognised.
  absl::StatusOr<PodWatchEvent> reversed =
      decoder.DecodeWatchLine(absl::StrCat(R"({"object":)", status, R"(,"type":"ERROR"})"));
  ASSERT_FALSE(reversed.ok());
  EXPECT_TRUE(IsGone(reversed.status())) << reversed.status();
}

TEST(PodSummaryTest, RejectsGarbage) {
  PodSummaryDecoder decoder(kLabelKeys);
  for (const char* line :
       {"", "not json", "{", "[1]", R"({"type":"ADDED"})", R"({"object":{}})",
        R"({"type":"SOMETHING","object":{}})", R"({"type":"ADDED","object":{"metadata":)",
        R"({"type":"ADDED","object":{"spec":{"containers":[{"resources":{"requests":)"
        R"({"cpu":"lots"}}}]}}})",
        R"({"type":"ADDED","object":{"status":{"startTime":"yesterday"}}})",
        R"({"type":"ADDED","object":{"metadata":{"name":5}}})"}) {
    absl::StatusOr<PodWatchEvent> event = decoder.DecodeWatchLine(line);
    EXPECT_FALSE(event.ok()) << line;
    EXPECT_EQ(event.status().code(), absl::StatusCode::kInvalidArgument)
        << line << ": " << event.status();
  }
  // The decoder still works after errors.
  EXPECT_TRUE(decoder.DecodeWatchLine(WatchLine("ADDED", GpuPod())).ok());
}

TEST(PodSummaryTest, NamesTheFieldOfABadQuantity) {
  PodSummaryDecoder decoder;
  absl::StatusOr<PodSummary> pod = decoder.DecodePod(
      R"({"spec":{"containers":[{"name":"a","resources":{"limits":{"memory":"12XB"}}}]}})");
  ASSERT_FALSE(pod.ok());
  EXPECT_NE(pod.status().message().find("spec.containers[].resources.limits"),
            absl::string_view::npos)
      << pod.status();
}

TEST(PodSummaryTest, DecodesAPodListPage) {
  PodSummaryDecoder decoder(kLabelKeys);
  const std::string list = absl::StrCat(
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"184467999",)"
      R"("continue":"eyJydiI6MTg0NDY3OTk5fQ","remainingItemCount":3},"items":[)",
      OneLine(GpuPod()), ",",
      R"({"metadata":{"name":"pending-0","namespace":"ml-research","uid":"u-2"},)"
      R"("spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]},)"
      R"("status":{"phase":"Pending"}}]})");
  absl::StatusOr<PodListPage> page = decoder.DecodePodList(list);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->resource_version, "184467999");
  EXPECT_EQ(page->continue_token, "eyJydiI6MTg0NDY3OTk5fQ");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0].name, "llama-finetune-7b-worker-0-x7k2p");
  EXPECT_EQ(page->items[1].name, "pending-0");
  EXPECT_EQ(page->items[1].phase, PodPhase::kPending);
  EXPECT_EQ(page->items[1].node_name, "");
  EXPECT_FALSE(page->items[1].start_time.has_value());
  EXPECT_EQ(page->items[1].containers[0].cpu_milli, 1000);

  absl::StatusOr<PodListPage> empty =
      decoder.DecodePodList(R"({"kind":"PodList","metadata":{"resourceVersion":"5"},"items":[]})");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->items.empty());
  EXPECT_EQ(empty->continue_token, "");
}

TEST(PodSummaryTest, BuffersGrownByAPageAreGivenBackBeforeTheNextPod) {
  PodSummaryDecoder decoder(kLabelKeys);
  std::string items;
  for (int i = 0; i < 500; ++i) {  // one page of realistic pods: ~2 MB of JSON
    absl::StrAppend(&items, i == 0 ? "" : ",", OneLine(GpuPod()));
  }
  const std::string list = absl::StrCat(
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[)", items,
      "]}");
  ASSERT_GT(list.size(), size_t{1} << 20);
  absl::StatusOr<PodListPage> page = decoder.DecodePodList(list);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 500u);
  EXPECT_GT(decoder.BufferBytes(), list.size());

  absl::StatusOr<PodWatchEvent> event = decoder.DecodeWatchLine(WatchLine("ADDED", GpuPod()));
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_EQ(event->pod, page->items[0]);
  EXPECT_LT(decoder.BufferBytes(), size_t{1} << 20);  // one pod's worth, not a page's

  decoder.ReleaseBuffers();
  EXPECT_LT(decoder.BufferBytes(), 64u);  // an empty string's inline capacity at most
}

}  // namespace
}  // namespace bursar::kube
