// Micro-benchmarks of the engine's per-reconcile hot paths: DecideBudget runs once per budget
// per tick, PodRatePerHour once per pod per tick. benchmark_main provides main().

#include <cstdint>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/cost_model.h"
#include "controllers/values/money.h"
#include "controllers/values/quantity.h"

namespace bursar::engine {
namespace {

values::Quantity Q(const char* text) {
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  return q.ok() ? *q : values::Quantity();
}

// Even pacing, default ladder, a 10% reserve, 30 days; args: 0 = money only, 1 = money and
// GPU-hours. Spend sweeps through the ladder so every rung is decided.
void BM_DecideBudget(benchmark::State& state) {
  api::ComputeBudgetSpec spec;
  spec.limit.amount = values::Money::FromUnits(5000);
  if (state.range(0) == 1) {
    spec.limit.gpu_hours = values::Money::FromUnits(2000);
  }
  spec.retraining.reserve_percent = 10;
  const absl::Time start = absl::FromUnixSeconds(1'700'000'000);
  BudgetInputs in;
  in.period = values::Period{start, start + absl::Hours(24 * 30)};
  in.now = start + absl::Hours(24 * 12);
  in.rate_per_hour = values::Money::FromUnits(12);
  in.reserve_rate_per_hour = values::Money::FromUnits(3);
  in.running_gpus = 6;
  in.reserve_running_gpus = 1;
  in.gpu_seconds = 900 * 3600;
  in.reserve_gpu_seconds = 40 * 3600;
  in.gpu_hour_price = values::Money::FromMicros(2'050'000);
  in.reserve_unlocked = true;
  int64_t step = 0;
  for (auto _ : state) {
    in.spent = values::Money::FromUnits(1000 + (step++ % 3600));
    BudgetDecision d = DecideBudget(spec, in);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecideBudget)->Arg(0)->Arg(1);

// A pod with range(0) containers, each with cpu/memory requests and usage and one GPU.
void BM_PodRatePerHour(benchmark::State& state) {
  ContainerResources c;
  c.cpu_request = Q("1500m");
  c.memory_request = Q("6Gi");
  c.gpus = 1;
  c.cpu_usage = Q("1734m");
  c.memory_usage = Q("5800Mi");
  const std::vector<ContainerResources> pod(static_cast<size_t>(state.range(0)), c);
  UnitPrices prices;
  prices.cpu_core_hour = values::Money::FromMicros(31611);
  prices.memory_gib_hour = values::Money::FromMicros(4237);
  prices.gpu_hour = values::Money::FromMicros(4'100'000);
  for (auto _ : state) {
    values::Money rate = PodRatePerHour(pod, prices);
    benchmark::DoNotOptimize(rate);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_PodRatePerHour)->Arg(1)->Arg(4)->Arg(16);

// Price resolution for a node (instance-type split), done once per node per tick.
void BM_PricesFor(benchmark::State& state) {
  api::PriceBookSpec book;
  book.gpus = {
      {"NVIDIA-A100-SXM4-80GB", api::CapacityType::kOnDemand, values::Money::FromMicros(4'100'000)},
      {"NVIDIA-A100-SXM4-80GB", api::CapacityType::kSpot, values::Money::FromMicros(1'230'000)}};
  book.instance_types = {
      {"p4d.24xlarge", api::CapacityType::kOnDemand, values::Money::FromMicros(32'770'000)},
      {"p4d.24xlarge", api::CapacityType::kSpot, values::Money::FromMicros(9'830'000)}};
  const PriceResolver resolver(book);
  NodeInfo node;
  node.name = "gpu-node-1";
  node.labels = {{"node.kubernetes.io/instance-type", "p4d.24xlarge"},
                 {"nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB"},
                 {"karpenter.sh/capacity-type", "spot"}};
  node.cpu_capacity = Q("96");
  node.memory_capacity = Q("1152Gi");
  node.gpu_capacity = 8;
  for (auto _ : state) {
    UnitPrices p = resolver.PricesFor(node);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PricesFor);

}  // namespace
}  // namespace bursar::engine
