// Memory of the Pod cache: N distinct copies of a realistic 4.3 KB GPU Job pod
// (tests/testdata/gpu-pod.json: 2 containers, 4 GPUs, managedFields) decoded straight from
// JSON with every label kept, as the operator's watcher does, and held either as PodSummary
// (runtime::PodStore: the decoder's form) or as the PodView every pass reads
// (reconcilers::PodViewStore: what the operator keeps). Reports heap bytes per cached pod
// (glibc mallinfo2 before and after, mapped blocks included) and decode throughput.
//   build/tests/bursar_bench --benchmark_filter=PodCache
#include <benchmark/benchmark.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "controllers/reconcilers/gather.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/store.h"
#include "tests/bench/heap_in_use.h"

namespace bursar {
namespace {

std::string Fixture() {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/gpu-pod.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The fixture with a unique name and uid, like the pods of one big cluster (the uid a canonical
// UUID, as the API server assigns them).
std::string PodNumber(const std::string& fixture, int64_t i) {
  return absl::StrReplaceAll(fixture,
                             {{"llama-finetune-7b-worker-0-x7k2p", absl::StrCat("worker-", i)},
                              {"3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21",
                               absl::StrFormat("%08x-5b1d-4c8e-9f2a-7d6e5c4b3a21", i)}});
}

template <typename Store>
void BM_PodCacheBytesPerPod(benchmark::State& state) {
  const int64_t pods = state.range(0);
  const std::string fixture = Fixture();
  std::vector<std::string> texts;
  texts.reserve(static_cast<size_t>(pods));
  for (int64_t i = 0; i < pods; ++i) {
    texts.push_back(PodNumber(fixture, i));
  }
  double bytes_per_pod = 0;
  for (auto _ : state) {
    kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
    size_t before = HeapBytesInUse();
    std::unique_ptr<Store> store;
    if constexpr (std::is_same_v<Store, reconcilers::PodViewStore>) {
      store = std::make_unique<Store>(reconcilers::PodViewOf);
    } else {
      store = std::make_unique<Store>();
    }
    std::vector<kube::PodSummary> all;
    all.reserve(static_cast<size_t>(pods));
    for (const std::string& text : texts) {
      absl::StatusOr<kube::PodSummary> pod = decoder.DecodePod(text);
      if (!pod.ok()) {
        state.SkipWithError("fixture does not decode");
        return;
      }
      all.push_back(*std::move(pod));
    }
    store->Apply(runtime::WatcherEvent<kube::PodSummary>::Restarted(std::move(all)));
    size_t after = HeapBytesInUse();
    bytes_per_pod = static_cast<double>(after - before) / static_cast<double>(pods);
    benchmark::DoNotOptimize(store);
  }
  state.counters["bytes_per_pod"] = bytes_per_pod;
  state.counters["pods_per_s"] =
      benchmark::Counter(static_cast<double>(pods), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_PodCacheBytesPerPod<runtime::PodStore>)
    ->Name("BM_PodCacheBytesPerPod/summaries")
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);
BENCHMARK(BM_PodCacheBytesPerPod<reconcilers::PodViewStore>)
    ->Name("BM_PodCacheBytesPerPod/views")
    ->Arg(100000)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

}  // namespace
}  // namespace bursar
