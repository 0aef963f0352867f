// JSON vs protobuf on the wire for Pods: decode time and bytes per pod, side by side, for the
// same pod read from kube-apiserver 1.35 both ways (tests/testdata/gpu-pod.server.json, compact,
// and gpu-pod.server.pb.hex; see tests/unit/pod_proto_decoder_test.cc), as one watch event each
// (the JSON line, or the protobuf frame without its 4-byte length) and as a 500-pod list page.
// Counters: wire_bytes_per_pod, and pods/s as items_per_second.
//   build/tests/bursar_bench --benchmark_filter=PodWire
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "kube/core_v1_subset.pb.h"
#include "operator/kube/pod_proto_decoder.h"
#include "operator/kube/watch_decoder.h"

namespace bursar {
namespace {

constexpr int kPage = 500;

std::string Read(const std::string& name) {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string JsonPod() {
  std::string json = Read("gpu-pod.server.json");
  while (!json.empty() && json.back() == '\n') {
    json.pop_back();
  }
  return json;
}

std::string ProtoPod() {
  return absl::HexStringToBytes(absl::StrReplaceAll(Read("gpu-pod.server.pb.hex"), {{"\n", ""}}));
}

std::string Envelope(std::string_view kind, const std::string& raw) {
  kube::wire::Unknown unknown;
  unknown.mutable_type_meta()->set_api_version("v1");
  unknown.mutable_type_meta()->set_kind(std::string(kind));
  unknown.set_raw(raw);
  return std::string("k8s\0", 4) + unknown.SerializeAsString();
}

void BM_PodWireJsonWatchEvent(benchmark::State& state) {
  const std::string line = absl::StrCat(R"({"type":"MODIFIED","object":)", JsonPod(), "}");
  kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  for (auto _ : state) {
    absl::StatusOr<kube::PodWatchEvent> event = decoder.DecodeWatchLine(line);
    benchmark::DoNotOptimize(event);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["wire_bytes_per_pod"] = static_cast<double>(line.size() + 1);  // + '\n'
}
BENCHMARK(BM_PodWireJsonWatchEvent);

void BM_PodWireProtobufWatchEvent(benchmark::State& state) {
  kube::wire::WatchEvent event;
  event.set_type("MODIFIED");
  event.mutable_object()->set_raw(ProtoPod());
  const std::string frame = event.SerializeAsString();
  kube::PodProtoDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  for (auto _ : state) {
    absl::StatusOr<kube::PodWatchEvent> decoded = decoder.DecodeWatchFrame(frame);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["wire_bytes_per_pod"] = static_cast<double>(frame.size() + 4);  // + length
}
BENCHMARK(BM_PodWireProtobufWatchEvent);

void BM_PodWireJsonListPage(benchmark::State& state) {
  std::string items;
  for (int i = 0; i < kPage; ++i) {
    absl::StrAppend(&items, i == 0 ? "" : ",", JsonPod());
  }
  const std::string page = absl::StrCat(
      R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":[)", items,
      "]}");
  kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  for (auto _ : state) {
    absl::StatusOr<kube::PodListPage> decoded = decoder.DecodePodList(page);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations() * kPage);
  state.counters["wire_bytes_per_pod"] = static_cast<double>(page.size()) / kPage;
}
BENCHMARK(BM_PodWireJsonListPage);

void BM_PodWireProtobufListPage(benchmark::State& state) {
  kube::wire::Unknown pod;
  const std::string body = ProtoPod();
  pod.ParseFromArray(body.data() + 4, static_cast<int>(body.size() - 4));
  kube::wire::PodList list;
  list.mutable_metadata()->set_resource_version("9");
  for (int i = 0; i < kPage; ++i) {
    list.add_items()->ParseFromString(pod.raw());
  }
  const std::string page = Envelope("PodList", list.SerializeAsString());
  kube::PodProtoDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  for (auto _ : state) {
    absl::StatusOr<kube::PodListPage> decoded = decoder.DecodePodList(page);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetItemsProcessed(state.iterations() * kPage);
  state.counters["wire_bytes_per_pod"] = static_cast<double>(page.size()) / kPage;
}
BENCHMARK(BM_PodWireProtobufListPage);

}  // namespace
}  // namespace bursar
