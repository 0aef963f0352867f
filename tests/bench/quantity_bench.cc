// Quantity parsing and canonical formatting sit on the meter's hot path (every container's
// requests and usage on every reconcile), so their cost is tracked here.

#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "controllers/values/quantity.h"

namespace bursar::values {
namespace {

const std::vector<std::string>& Inputs() {
  static const std::vector<std::string> inputs = {"500m", "2Gi",   "1.5Gi", "100000k",
                                                  "12e6", "8801n", "4"};
  return inputs;
}

void BM_QuantityParse(benchmark::State& state) {
  const std::string& text = Inputs()[static_cast<size_t>(state.range(0))];
  state.SetLabel(text);
  for (auto _ : state) {
    absl::StatusOr<Quantity> q = Quantity::Parse(text);
    benchmark::DoNotOptimize(q);
  }
}
BENCHMARK(BM_QuantityParse)->DenseRange(0, 6);

void BM_QuantityToString(benchmark::State& state) {
  const std::string& text = Inputs()[static_cast<size_t>(state.range(0))];
  const Quantity q = *Quantity::Parse(text);
  state.SetLabel(text);
  for (auto _ : state) {
    std::string s = q.ToString();
    benchmark::DoNotOptimize(s);
  }
}
BENCHMARK(BM_QuantityToString)->DenseRange(0, 6);

void BM_QuantityParseAndToString(benchmark::State& state) {
  for (auto _ : state) {
    for (const std::string& text : Inputs()) {
      std::string s = Quantity::Parse(text)->ToString();
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(Inputs().size()));
}
BENCHMARK(BM_QuantityParseAndToString);

}  // namespace
}  // namespace bursar::values
