// Micro-benchmarks for workload traces: parsing and generating 100,000 jobs, and charting a
// year of spend at one-minute resolution. Target: ParseTraceCsv of 100k rows well under 100 ms.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "controllers/sim/spend_chart.h"
#include "controllers/sim/trace.h"
#include "controllers/sim/trace_generator.h"

namespace bursar::sim {
namespace {

TraceGeneratorOptions ThreeTeams(int64_t jobs) {
  TraceGeneratorOptions options;
  options.jobs = jobs;
  options.span_s = 365 * 86400;
  options.teams = {{"vision", 3, {"resnet50", "vit-b16"}},
                   {"nlp", 2, {"bert-base", "llama-7b-lora"}},
                   {"recsys", 1, {"dlrm", "two-tower"}}};
  return options;
}

void BM_ParseTraceCsv(benchmark::State& state) {
  const std::string csv = FormatTraceCsv(GenerateTrace(ThreeTeams(state.range(0))));
  for (auto _ : state) {
    absl::StatusOr<std::vector<TraceJob>> jobs = ParseTraceCsv(csv, "bench.csv");
    if (!jobs.ok()) {
      state.SkipWithError("parse failed");
      break;
    }
    benchmark::DoNotOptimize(jobs->data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(csv.size()));
}
BENCHMARK(BM_ParseTraceCsv)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_FormatTraceCsv(benchmark::State& state) {
  const std::vector<TraceJob> jobs = GenerateTrace(ThreeTeams(state.range(0)));
  for (auto _ : state) {
    std::string csv = FormatTraceCsv(jobs);
    benchmark::DoNotOptimize(csv.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_FormatTraceCsv)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_GenerateTrace(benchmark::State& state) {
  const TraceGeneratorOptions options = ThreeTeams(state.range(0));
  for (auto _ : state) {
    std::vector<TraceJob> jobs = GenerateTrace(options);
    benchmark::DoNotOptimize(jobs.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_GenerateTrace)->Arg(100000)->Unit(benchmark::kMillisecond);

void BM_RenderSpendChartSvgYearByMinute(benchmark::State& state) {
  SpendSeries series;
  series.budget = "year";
  series.unit = "USD";
  const int64_t minutes = 365 * 24 * 60;
  const double period_h = 30 * 24;
  for (int64_t m = 0; m < minutes; ++m) {
    const double t = static_cast<double>(m) / 60;
    const double elapsed = t - std::floor(t / period_h) * period_h;
    series.t_hours.push_back(t);
    series.spent.push_back(elapsed * (6 + std::sin(t / 4)));
    series.pacing.push_back(4000 * elapsed / period_h);
    series.limit.push_back(4000);
  }
  for (auto _ : state) {
    std::string svg = RenderSpendChartSvg({series}, "a year by the minute");
    benchmark::DoNotOptimize(svg.data());
  }
  state.SetItemsProcessed(state.iterations() * minutes);
}
BENCHMARK(BM_RenderSpendChartSvgYearByMinute)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bursar::sim
