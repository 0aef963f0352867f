// A leader's pass (reconcilers::BudgetPlanner::Reconcile) at cluster scale: B budgets, each
// scoped to its own namespace, and N running GPU pods spread evenly over them on 8-GPU nodes of
// one pool (issue 11: a pass over 1,000 budgets and 100,000 pods in at most 50 ms). Every
// iteration is the next tick (15 s later) of the same planner, so ledgers are warm and each pass
// meters 15 s of every pod, as the operator's passes do. Snapshot construction is not timed.
//
// Instruction counts (repeatable on a shared machine, where wall time is not): set
// BURSAR_BENCH_ITERATIONS=N for exactly N timed passes, and run under callgrind collecting only
// the planner (valgrind --tool=callgrind --collect-atstart=no
// --toggle-collect='bursar::reconcilers::BudgetPlanner::Reconcile*' build/tests/bursar_bench
// --benchmark_filter=BM_PlannerPass/1000/100000): the difference between N=3 and N=1 is two
// warm passes (the first, untimed pass restores the ledgers).

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "controllers/api/types.h"
#include "controllers/reconcilers/budget_planner.h"
#include "tests/bench/heap_in_use.h"

namespace bursar::reconcilers {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

api::ComputeBudget Budget(int i) {
  api::ComputeBudget b;
  b.metadata.name = absl::StrCat("team-", i);
  b.metadata.uid = absl::StrCat("uid-", i);
  b.metadata.generation = 1;
  b.metadata.creation_timestamp = kStart - absl::Hours(24 * 40);
  b.spec.scope.namespaces = {absl::StrCat("team-", i)};
  b.spec.limit.amount = values::Money::FromUnits(1'000'000);
  b.spec.node_pools = {"a100"};
  return b;
}

Snapshot ClusterSnapshot(int budgets, int pods) {
  Snapshot s;
  s.now = kStart;
  api::GPUNodePool pool;
  pool.metadata.name = "a100";
  pool.spec.node_selector = {{"pool", "a100"}};
  pool.spec.gpus_per_node = 8;
  pool.spec.price_per_node_hour = values::Money::FromUnits(32);
  pool.spec.max_nodes = pods;
  s.pools = {pool};
  api::PriceBook book;
  book.metadata.name = "default";
  s.price_books = {book};
  for (int i = 0; i < budgets; ++i) {
    s.budgets.push_back(Budget(i));
    s.namespaces[absl::StrCat("team-", i)] = {{"team", absl::StrCat(i)}};
  }
  const int nodes = (pods + 7) / 8;
  for (int n = 0; n < nodes; ++n) {
    NodeView node;
    node.info.name = absl::StrCat("a100-", n);
    node.info.labels = {{"pool", "a100"}};
    node.info.gpu_capacity = 8;
    node.info.cpu_capacity = values::Quantity::FromUnits(96);
    node.info.memory_capacity = values::Quantity::FromUnits(int64_t{1024} << 30);
    node.ready = true;
    node.created = kStart - absl::Hours(1);
    s.nodes.push_back(node);
  }
  for (int p = 0; p < pods; ++p) {
    PodView pod;
    // A UID as the API server assigns them: a canonical RFC 4122 UUID.
    pod.uid = absl::StrFormat("%08x-7a1e-4c2b-9d3f-%012x", p, p);
    pod.namespace_name = kube::InternedString(absl::StrCat("team-", p % budgets));
    pod.name = absl::StrCat("train-", p);
    pod.node_name = absl::StrCat("a100-", p / 8);
    pod.labels = {{"app", "train"}, {"job-name", absl::StrCat("job-", p / 4)}};
    pod.state = PodState::kRunning;
    pod.start = kStart - absl::Minutes(30);
    pod.containers = {{.cpu_milli = 8'000, .memory_bytes = int64_t{64} << 30, .gpus = 1}};
    pod.job = absl::StrCat("job-", p / 4);
    s.pods.push_back(std::move(pod));
  }
  return s;
}

// Args: budgets, pods.
void BM_PlannerPass(benchmark::State& state) {
  Snapshot s = ClusterSnapshot(static_cast<int>(state.range(0)), static_cast<int>(state.range(1)));
  auto planner = std::make_unique<BudgetPlanner>();
  (void)planner->Reconcile(s);  // first sight: ledgers restored, state built
  for (auto _ : state) {
    s.now += absl::Seconds(15);
    Plan plan = planner->Reconcile(s);
    benchmark::DoNotOptimize(plan);
  }
  // What the planner keeps between passes (ledgers, learned state), a pod: heap in use with the
  // planner and without it, each after the last Plan was freed.
  const size_t heap_with = HeapBytesInUse();
  planner.reset();
  const size_t heap_without = HeapBytesInUse();
  state.counters["planner_bytes_per_pod"] =
      static_cast<double>(heap_with - heap_without) / static_cast<double>(state.range(1));
  state.counters["pods"] = static_cast<double>(state.range(1));
  state.counters["budgets"] = static_cast<double>(state.range(0));
}
// A fixed number of passes when BURSAR_BENCH_ITERATIONS is set (for callgrind), else 2 s each.
void PassCount(benchmark::internal::Benchmark* b) {
  const char* fixed = std::getenv("BURSAR_BENCH_ITERATIONS");
  if (fixed != nullptr && std::atoi(fixed) > 0) {
    b->Iterations(std::atoi(fixed));
  } else {
    b->MinTime(2);
  }
}
BENCHMARK(BM_PlannerPass)
    ->Args({10, 10'000})
    ->Args({1'000, 10'000})
    ->Args({1'000, 100'000})
    ->Unit(benchmark::kMillisecond)
    ->Apply(PassCount);

}  // namespace
}  // namespace bursar::reconcilers
