// A simulated year of a 100,000-job trace on the three-team cluster, with the engine in the
// loop at a 1-minute metering tick (525,600 ticks), under every policy; the target is <= 10 s
// each (issue 10). The 0-job run is the floor: the tick loop, metering and the engine's decision
// with nothing to schedule. Run: make bench, or
//   build/tests/bursar_bench --benchmark_filter=Simulate
#include <benchmark/benchmark.h>

#include "controllers/api/manifests.h"
#include "controllers/sim/simulator.h"
#include "controllers/sim/trace_generator.h"

namespace bursar::sim {
namespace {

Scenario YearScenario(int64_t jobs) {
  Scenario s;
  s.name = "bench-year";
  s.start = absl::FromUnixSeconds(1'798'761'600);  // 2027-01-01T00:00:00Z
  s.duration = absl::Hours(24 * 365);
  s.step = absl::Minutes(1);
  std::string dir = std::string(BURSAR_SOURCE_DIR) + "/examples/";
  absl::StatusOr<api::Manifests> m = api::LoadManifests({dir + "scenarios/three-teams/budgets.yaml",
                                                         dir + "scenarios/three-teams/pools.yaml",
                                                         dir + "pricebooks/default.yaml"});
  if (!m.ok()) {
    std::abort();
  }
  s.manifests = *m;
  TraceGeneratorOptions options;
  options.seed = 2027;
  options.jobs = jobs;
  options.span_s = 365 * 86400;
  options.teams = {{"vision", 3, {"resnet50", "vit-b16"}},
                   {"nlp", 2, {"bert-base", "llama-7b-lora"}},
                   {"recsys", 1, {"dlrm"}}};
  s.jobs = GenerateTrace(options);
  return s;
}

void BM_SimulateYear(benchmark::State& state) {
  Scenario scenario = YearScenario(state.range(0));
  SimOptions options;
  options.policy = static_cast<Policy>(state.range(1));
  for (auto _ : state) {
    absl::StatusOr<SimReport> report = Simulate(scenario, options);
    benchmark::DoNotOptimize(report);
  }
  state.SetLabel(PolicyName(options.policy));
  state.counters["jobs"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_SimulateYear)
    ->Args({0, static_cast<int>(Policy::kBursar)})
    ->Args({100000, static_cast<int>(Policy::kBursar)})
    ->Args({100000, static_cast<int>(Policy::kNone)})
    ->Args({100000, static_cast<int>(Policy::kStaticQuota)})
    ->Args({100000, static_cast<int>(Policy::kShutoff)})
    ->Unit(benchmark::kSecond)
    ->Iterations(1);

}  // namespace
}  // namespace bursar::sim
