// Tests for sim::Simulate: small scenarios built in code (manifests decoded from YAML exactly as
// `bursar simulate` reads them, trace jobs as structs), asserting the OUTCOMES of each policy:
// spend against numbers computed independently from the cost-model inputs, limits held per
// period, who is held or drained, pool bounds, the retraining reserve, period calendars.
//
// Unless a test says otherwise: the scenario starts 2026-11-02T00:00:00Z (a Monday, midnight
// UTC), ticks every minute, nodes come up 3 minutes after launch, and each GPU comes with
// 4 cores and 16 GiB. The price book charges 2.00 per on-demand GPU-hour (0.80 spot),
// 0.01 per core-hour and 0.001 per GiB-hour, so one GPU's pod costs
// kUnit = 2 + 4 x 0.01 + 16 x 0.001 = 2.056 per hour. The default pool has 4-GPU nodes.
//
// Simulator timing that the expected numbers rely on (see simulator.h): a Job is admitted on
// the tick it arrives when capacity is there; a node launched on tick t is billed from t and
// takes Jobs on the tick it is up, at least one tick after its launch (FirstUsableAfter); a node is
// removed on the tick scaleDownDelay after the first tick on which demand fell below it; a Job
// ending inside a tick frees its GPUs (which then count as idle) at its end.

#include "controllers/sim/simulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "controllers/api/codec.h"
#include "controllers/sim/report.h"
#include "controllers/sim/spend_match.h"
#include "operator/json/json.h"
#include "operator/yaml/yaml.h"

namespace bursar::sim {
namespace {

using ::testing::Each;
using ::testing::Le;
using ::testing::SizeIs;

const absl::Time kStart = absl::FromUnixSeconds(1793577600);  // 2026-11-02T00:00:00Z, Monday

constexpr double kGpuPrice = 2.0;
constexpr double kSpotGpuPrice = 0.8;
constexpr double kCpuCoreHour = 0.01;
constexpr double kMemoryGiBHour = 0.001;
constexpr int kCoresPerGpu = 4;
constexpr int kGiBPerGpu = 16;
// What one GPU's pod costs per hour: its device plus its share of cpu and memory.
constexpr double kUnit = kGpuPrice + kCoresPerGpu * kCpuCoreHour + kGiBPerGpu * kMemoryGiBHour;
constexpr double kSpotUnit =
    kSpotGpuPrice + kCoresPerGpu * kCpuCoreHour + kGiBPerGpu * kMemoryGiBHour;
constexpr double kCent = 0.01;

constexpr char kPriceBook[] = R"(apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata:
  name: default
spec:
  defaults: {cpuCoreHour: "0.01", memoryGiBHour: "0.001", gpuHour: "1"}
  gpus:
    - {model: TEST-GPU, capacityType: OnDemand, pricePerHour: "2"}
    - {model: TEST-GPU, capacityType: Spot, pricePerHour: "0.8"}
)";

double Hours(absl::Duration d) {
  return absl::ToDoubleHours(d);
}

// --- Fixtures: manifests rendered as YAML from a few knobs --------------------------------

class BudgetYaml {
 public:
  explicit BudgetYaml(std::string name) : name_(std::move(name)), namespaces_("[" + name_ + "]") {}

  BudgetYaml& Namespaces(std::string flow_list) {
    namespaces_ = std::move(flow_list);
    return *this;
  }
  BudgetYaml& Amount(std::string amount) {
    limit_ = absl::StrCat("{amount: \"", amount, "\"}");
    return *this;
  }
  BudgetYaml& GpuHours(std::string hours) {
    limit_ = absl::StrCat("{gpuHours: \"", hours, "\"}");
    return *this;
  }
  BudgetYaml& AmountAndGpuHours(std::string amount, std::string hours) {
    limit_ = absl::StrCat("{amount: \"", amount, "\", gpuHours: \"", hours, "\"}");
    return *this;
  }
  // A Custom period of `length`, anchored at the scenario start.
  BudgetYaml& Custom(absl::Duration length) {
    period_ = absl::StrCat("{type: Custom, duration: ", absl::ToInt64Minutes(length),
                           "m, anchor: \"2026-11-02T00:00:00Z\"}");
    return *this;
  }
  BudgetYaml& Period(std::string flow_map) {
    period_ = std::move(flow_map);
    return *this;
  }
  BudgetYaml& Pacing(std::string mode, int burst_percent = 10) {
    pacing_ = absl::StrCat("{mode: ", mode, ", burstPercent: ", burst_percent, "}");
    return *this;
  }
  BudgetYaml& Thresholds(std::string flow_list) {
    thresholds_ = std::move(flow_list);
    return *this;
  }
  BudgetYaml& DryRun() {
    enforcement_ = "DryRun";
    return *this;
  }
  BudgetYaml& Pools(std::string flow_list) {
    pools_ = std::move(flow_list);
    return *this;
  }
  BudgetYaml& Retraining(std::string flow_map) {
    retraining_ = std::move(flow_map);
    return *this;
  }
  BudgetYaml& Quota(std::string flow_map) {
    quota_ = std::move(flow_map);
    return *this;
  }

  std::string Yaml() const {
    std::string out = absl::StrCat(
        "apiVersion: bursar.dev/v1alpha1\nkind: ComputeBudget\n", "metadata:\n  name: ", name_,
        "\nspec:\n", "  scope: {namespaces: ", namespaces_, "}\n", "  limit: ", limit_, "\n",
        "  period: ", period_, "\n", "  pacing: ", pacing_, "\n", "  enforcement: ", enforcement_,
        "\n", "  nodePools: ", pools_, "\n");
    if (!thresholds_.empty()) {
      absl::StrAppend(&out, "  thresholds: ", thresholds_, "\n");
    }
    if (!retraining_.empty()) {
      absl::StrAppend(&out, "  retraining: ", retraining_, "\n");
    }
    if (!quota_.empty()) {
      absl::StrAppend(&out, "  quota: ", quota_, "\n");
    }
    return out;
  }

 private:
  std::string name_;
  std::string namespaces_;
  std::string limit_ = "{amount: \"1000\"}";
  std::string period_ = "{type: Custom, duration: 240m, anchor: \"2026-11-02T00:00:00Z\"}";
  std::string pacing_ = "{mode: None}";
  std::string thresholds_;  // empty: the CRD default ladder (50 Notify ... 100 Drain)
  std::string enforcement_ = "Enforce";
  std::string pools_ = "[gpu-pool]";
  std::string retraining_;
  std::string quota_;
};

class PoolYaml {
 public:
  explicit PoolYaml(std::string name = "gpu-pool") : name_(std::move(name)) {}

  PoolYaml& GpusPerNode(int n) {
    gpus_per_node_ = n;
    return *this;
  }
  PoolYaml& Nodes(int min_nodes, int max_nodes) {
    min_ = min_nodes;
    max_ = max_nodes;
    return *this;
  }
  PoolYaml& Fixed(int nodes) { return Nodes(nodes, nodes); }
  PoolYaml& MaxScaleStep(int step) {
    step_ = step;
    return *this;
  }
  PoolYaml& ScaleDownDelay(absl::Duration delay) {
    delay_ = delay;
    return *this;
  }
  PoolYaml& Spot() {
    capacity_ = "Spot";
    return *this;
  }
  PoolYaml& NodePrice(std::string per_hour) {
    node_price_ = std::move(per_hour);
    return *this;
  }

  std::string Yaml() const {
    std::string out = absl::StrCat(
        "apiVersion: bursar.dev/v1alpha1\nkind: GPUNodePool\nmetadata:\n  name: ", name_,
        "\nspec:\n  provider: {type: Kwok}\n  gpuType: TEST-GPU\n  gpusPerNode: ", gpus_per_node_,
        "\n  capacityType: ", capacity_, "\n  minNodes: ", min_, "\n  maxNodes: ", max_,
        "\n  maxScaleStep: ", step_, "\n  scaleDownDelay: ", absl::ToInt64Seconds(delay_), "s\n");
    if (!node_price_.empty()) {
      absl::StrAppend(&out, "  pricePerNodeHour: \"", node_price_, "\"\n");
    }
    return out;
  }

 private:
  std::string name_;
  int gpus_per_node_ = 4;
  int min_ = 0;
  int max_ = 4;
  int step_ = 2;
  absl::Duration delay_ = absl::Minutes(10);
  std::string capacity_ = "OnDemand";
  std::string node_price_;
};

TraceJob Job(absl::Duration submit, absl::Duration run, int gpus, std::string ns, int priority = 0,
             std::string model = "", std::string purpose = "train") {
  TraceJob job;
  job.submit_time_s = absl::ToInt64Seconds(submit);
  job.duration_s = absl::ToInt64Seconds(run);
  job.gpus = gpus;
  job.ns = std::move(ns);
  job.priority = priority;
  job.model = std::move(model);
  job.purpose = std::move(purpose);
  return job;
}

class ScenarioBuilder {
 public:
  ScenarioBuilder() {
    scenario_.name = "test";
    scenario_.source = "test-scenario.yaml";
    scenario_.start = kStart;
    scenario_.duration = absl::Hours(4);
    scenario_.step = absl::Minutes(1);
    scenario_.cluster.provisioning_delay = absl::Minutes(3);
    scenario_.cluster.restart_penalty = absl::Minutes(5);
    scenario_.cluster.cpu_millis_per_gpu = int64_t{kCoresPerGpu} * 1000;
    scenario_.cluster.memory_bytes_per_gpu = int64_t{kGiBPerGpu} << 30;
    manifests_.push_back(kPriceBook);
  }

  ScenarioBuilder& Start(absl::Time start) {
    scenario_.start = start;
    return *this;
  }
  ScenarioBuilder& Duration(absl::Duration d) {
    scenario_.duration = d;
    return *this;
  }
  ScenarioBuilder& Step(absl::Duration d) {
    scenario_.step = d;
    return *this;
  }
  ScenarioBuilder& ProvisioningDelay(absl::Duration d) {
    scenario_.cluster.provisioning_delay = d;
    return *this;
  }
  ScenarioBuilder& BillingLag(absl::Duration d) {
    scenario_.cluster.billing_lag = d;
    return *this;
  }
  ScenarioBuilder& TerminationGrace(absl::Duration d) {
    scenario_.cluster.termination_grace = d;
    return *this;
  }
  ScenarioBuilder& Budget(const BudgetYaml& b) {
    manifests_.push_back(b.Yaml());
    return *this;
  }
  ScenarioBuilder& Pool(const PoolYaml& p) {
    manifests_.push_back(p.Yaml());
    return *this;
  }
  ScenarioBuilder& Add(TraceJob job) {
    scenario_.jobs.push_back(std::move(job));
    return *this;
  }
  ScenarioBuilder& Drift(absl::Duration at, std::string model, double score) {
    DriftEvent e;
    e.at = at;
    e.signal.model = std::move(model);
    e.signal.score_micros = std::llround(score * 1e6);
    e.signal.source = "test";
    scenario_.drift.push_back(std::move(e));
    return *this;
  }

  // Decodes every manifest as `bursar simulate` does; a decode error fails the test.
  Scenario Build() const {
    Scenario s = scenario_;
    std::stable_sort(s.jobs.begin(), s.jobs.end(), [](const TraceJob& a, const TraceJob& b) {
      return a.submit_time_s < b.submit_time_s;
    });
    api::DecodeOptions options{.source = "test.yaml", .reject_unknown_fields = true};
    for (const std::string& text : manifests_) {
      absl::StatusOr<std::vector<json::Value>> docs = yaml::ParseYamlDocuments(text, "test.yaml");
      if (!docs.ok()) {
        ADD_FAILURE() << docs.status() << "\n" << text;
        continue;
      }
      for (const json::Value& doc : *docs) {
        const json::Value* kind = doc.Find("kind");
        std::string k = kind != nullptr ? kind->string_value() : "";
        absl::Status status;
        if (k == "ComputeBudget") {
          absl::StatusOr<api::ComputeBudget> b = api::DecodeComputeBudget(doc, options);
          status = b.status();
          if (b.ok()) {
            s.manifests.budgets.push_back(*std::move(b));
          }
        } else if (k == "GPUNodePool") {
          absl::StatusOr<api::GPUNodePool> p = api::DecodeGPUNodePool(doc, options);
          status = p.status();
          if (p.ok()) {
            s.manifests.pools.push_back(*std::move(p));
          }
        } else if (k == "PriceBook") {
          absl::StatusOr<api::PriceBook> p = api::DecodePriceBook(doc, options);
          status = p.status();
          if (p.ok()) {
            s.manifests.price_books.push_back(*std::move(p));
          }
        } else {
          status = absl::InvalidArgumentError(absl::StrCat("unexpected kind ", k));
        }
        EXPECT_TRUE(status.ok()) << status << "\n" << text;
      }
    }
    return s;
  }

 private:
  Scenario scenario_;
  std::vector<std::string> manifests_;
};

SimReport SimulateOrFail(const Scenario& scenario, Policy policy) {
  SimOptions options;
  options.policy = policy;
  absl::StatusOr<SimReport> report = Simulate(scenario, options);
  EXPECT_TRUE(report.ok()) << report.status();
  return report.ok() ? *std::move(report) : SimReport{};
}

const BudgetResult& BudgetOf(const SimReport& report, const std::string& name) {
  for (const BudgetResult& b : report.budgets) {
    if (b.name == name) {
      return b;
    }
  }
  ADD_FAILURE() << "no budget " << name << " in the report";
  static const BudgetResult kEmpty;
  return kEmpty;
}

const PoolResult& PoolOf(const SimReport& report, const std::string& name = "gpu-pool") {
  for (const PoolResult& p : report.pools) {
    if (p.name == name) {
      return p;
    }
  }
  ADD_FAILURE() << "no pool " << name << " in the report";
  static const PoolResult kEmpty;
  return kEmpty;
}

// Spend charged to the budget in each tick [t_k, t_k+1), from its chart (cumulative within a
// period, sampled every tick for short scenarios); nullopt across a period boundary.
std::vector<std::optional<double>> SpendPerTick(const SpendSeries& chart) {
  std::vector<std::optional<double>> out;
  for (size_t k = 0; k + 1 < chart.spent.size(); ++k) {
    bool boundary =
        std::any_of(chart.period_starts_h.begin(), chart.period_starts_h.end(),
                    [&](double h) { return h > chart.t_hours[k] && h <= chart.t_hours[k + 1]; });
    out.push_back(boundary ? std::nullopt
                           : std::optional<double>(chart.spent[k + 1] - chart.spent[k]));
  }
  return out;
}

void ExpectSameBudget(const BudgetResult& a, const BudgetResult& b, bool compare_actions) {
  SCOPED_TRACE(a.name);
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.spent, b.spent);
  EXPECT_EQ(a.overspend, b.overspend);
  EXPECT_EQ(a.overspent_periods, b.overspent_periods);
  EXPECT_EQ(a.gpu_hours, b.gpu_hours);
  EXPECT_EQ(a.completed_gpu_hours, b.completed_gpu_hours);
  EXPECT_EQ(a.jobs_submitted, b.jobs_submitted);
  EXPECT_EQ(a.jobs_completed, b.jobs_completed);
  EXPECT_EQ(a.jobs_suspended, b.jobs_suspended);
  EXPECT_EQ(a.jobs_held, b.jobs_held);
  EXPECT_EQ(a.mean_wait_seconds, b.mean_wait_seconds);
  EXPECT_EQ(a.model_drift_unlocks, b.model_drift_unlocks);
  if (compare_actions) {
    EXPECT_EQ(a.actions, b.actions);
  }
  ASSERT_EQ(a.periods.size(), b.periods.size());
  for (size_t i = 0; i < a.periods.size(); ++i) {
    EXPECT_EQ(a.periods[i].start, b.periods[i].start);
    EXPECT_EQ(a.periods[i].end, b.periods[i].end);
    EXPECT_EQ(a.periods[i].spent, b.periods[i].spent);
    EXPECT_EQ(a.periods[i].gpu_hours, b.periods[i].gpu_hours);
    EXPECT_EQ(a.periods[i].complete, b.periods[i].complete);
  }
  EXPECT_EQ(a.chart.spent, b.chart.spent);
}

void ExpectSameOutcome(const SimReport& a, const SimReport& b, bool compare_actions) {
  ASSERT_EQ(a.budgets.size(), b.budgets.size());
  for (size_t i = 0; i < a.budgets.size(); ++i) {
    ExpectSameBudget(a.budgets[i], b.budgets[i], compare_actions);
  }
  ASSERT_EQ(a.pools.size(), b.pools.size());
  for (size_t i = 0; i < a.pools.size(); ++i) {
    EXPECT_EQ(a.pools[i].name, b.pools[i].name);
    EXPECT_EQ(a.pools[i].peak_nodes, b.pools[i].peak_nodes);
    EXPECT_EQ(a.pools[i].node_hours, b.pools[i].node_hours);
  }
  EXPECT_EQ(a.unbudgeted_spent, b.unbudgeted_spent);
  EXPECT_EQ(a.jobs_total, b.jobs_total);
  EXPECT_EQ(a.jobs_unschedulable, b.jobs_unschedulable);
}

// A node launched on tick t takes Jobs from this many seconds later: the simulator brings nodes
// up while sizing pools, after admission, so the first admission that sees a node is the tick
// after it is up (and a delay below one tick still costs one).
int64_t FirstUsableAfter(absl::Duration provisioning_delay, absl::Duration step) {
  const int64_t step_s = absl::ToInt64Seconds(step);
  return std::max(absl::ToInt64Seconds(provisioning_delay), step_s);
}

// ---------------------------------------------------------------------------------------------
// Policy none: spend is what the cost model says, for the work that ran and the idle capacity.

struct NoneSpendCase {
  std::string name;
  PoolYaml pool;
  double unit;  // what one GPU's pod costs per hour on this pool, from the price inputs
};

void PrintTo(const NoneSpendCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorNoneSpend : public ::testing::TestWithParam<NoneSpendCase> {};

TEST_P(SimulatorNoneSpend, IsJobRatesTimesDurations) {
  const NoneSpendCase& c = GetParam();
  // Two fixed nodes of 4 GPUs: the three Jobs (7 GPUs at most at once) all run on arrival.
  // minNodes belong to nobody, so their idle part is unbudgeted.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(4))
                   .Pool(c.pool)
                   .Budget(BudgetYaml("team").Amount("1000"))
                   .Add(Job(absl::ZeroDuration(), absl::Minutes(90), 2, "team"))
                   .Add(Job(absl::Minutes(10), absl::Minutes(45), 1, "team"))
                   .Add(Job(absl::Minutes(30), absl::Hours(2), 4, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  const double gpu_hours = 2 * 1.5 + 1 * 0.75 + 4 * 2.0;
  EXPECT_EQ(b.jobs_submitted, 3);
  EXPECT_EQ(b.jobs_completed, 3);
  EXPECT_EQ(b.jobs_held, 0);
  EXPECT_EQ(b.jobs_suspended, 0);
  EXPECT_EQ(b.mean_wait_seconds, 0);
  EXPECT_NEAR(b.gpu_hours, gpu_hours, 1e-9);
  EXPECT_NEAR(b.completed_gpu_hours, gpu_hours, 1e-9);
  EXPECT_NEAR(b.spent, gpu_hours * c.unit, kCent);
  ASSERT_THAT(b.periods, SizeIs(1));
  EXPECT_NEAR(b.periods[0].spent, gpu_hours * c.unit, kCent);
  EXPECT_EQ(b.periods[0].overspend, 0);
  // The cluster pays for the rest of the 8 GPUs over 4 hours.
  EXPECT_NEAR(r.unbudgeted_spent, 8 * 4 * c.unit - gpu_hours * c.unit, kCent);
  EXPECT_EQ(PoolOf(r).peak_nodes, 2);
  EXPECT_NEAR(PoolOf(r).node_hours, 2 * 4.0, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(
    SimulatorPriceSources, SimulatorNoneSpend,
    ::testing::Values(NoneSpendCase{"OnDemandGpuPrice", PoolYaml().Fixed(2), kUnit},
                      NoneSpendCase{"SpotGpuPrice", PoolYaml().Fixed(2).Spot(), kSpotUnit},
                      // OpenCost appendix A: a pod with a quarter of a node's GPUs, cpu and
                      // memory pays a quarter of the node price.
                      NoneSpendCase{"NodePriceSplit", PoolYaml().Fixed(2).NodePrice("10"), 2.5}),
    [](const ::testing::TestParamInfo<NoneSpendCase>& param) { return param.param.name; });

TEST(SimulatorNone, JobsWaitOnlyForCapacity) {
  // 8 GPUs: the 6-GPU Job starts first (submitted first), the 4-GPU one waits for it to end;
  // a 12-GPU Job can never fit and is dropped as unschedulable.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(3))
                   .Pool(PoolYaml().Fixed(2))
                   .Budget(BudgetYaml("team").Amount("1000"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(1), 6, "team"))
                   .Add(Job(absl::ZeroDuration(), absl::Minutes(30), 4, "team"))
                   .Add(Job(absl::ZeroDuration(), absl::Minutes(10), 12, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(r.jobs_total, 3);
  EXPECT_EQ(r.jobs_unschedulable, 1);
  EXPECT_EQ(b.jobs_completed, 2);
  EXPECT_DOUBLE_EQ(b.mean_wait_seconds, (0 + 3600) / 2.0);
  EXPECT_NEAR(b.spent, (6 * 1.0 + 4 * 0.5) * kUnit, kCent);
}

struct IdleCase {
  std::string name;
  absl::Duration provisioning_delay;
  absl::Duration scale_down_delay;
};

void PrintTo(const IdleCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorIdleCapacity : public ::testing::TestWithParam<IdleCase> {};

TEST_P(SimulatorIdleCapacity, OfAPoolTheBudgetGrewIsChargedToIt) {
  const IdleCase& c = GetParam();
  const absl::Duration step = absl::Minutes(1);
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(2))
                   .ProvisioningDelay(c.provisioning_delay)
                   .Pool(PoolYaml().Nodes(0, 4).ScaleDownDelay(c.scale_down_delay))
                   .Budget(BudgetYaml("team").Amount("1000"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(1), 1, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  // One 4-GPU node, billed from launch at 0 until scaleDownDelay after the Job ends.
  const double wait_h = static_cast<double>(FirstUsableAfter(c.provisioning_delay, step)) / 3600;
  const double end_h = wait_h + 1;
  const double node_h = end_h + Hours(c.scale_down_delay);
  const double idle_gpu_h = 4 * wait_h + 3 * 1.0 + 4 * Hours(c.scale_down_delay);
  EXPECT_DOUBLE_EQ(b.mean_wait_seconds, wait_h * 3600);
  EXPECT_EQ(b.jobs_completed, 1);
  // The idle devices a budget pays for count in its GPU-hours too (the engine's gpuHours rate
  // is running + idle GPUs).
  EXPECT_NEAR(b.gpu_hours, 1 * 1.0 + idle_gpu_h, 1e-9);
  EXPECT_NEAR(b.completed_gpu_hours, 1.0, 1e-9);
  EXPECT_NEAR(b.spent, (1 * 1.0 + idle_gpu_h) * kUnit, kCent);
  EXPECT_NEAR(PoolOf(r).node_hours, node_h, 1e-9);
  EXPECT_EQ(PoolOf(r).peak_nodes, 1);
  EXPECT_NEAR(r.unbudgeted_spent, 0, 1e-9);
}

INSTANTIATE_TEST_SUITE_P(
    SimulatorDelays, SimulatorIdleCapacity,
    ::testing::Values(IdleCase{"Provision3mScaleDown10m", absl::Minutes(3), absl::Minutes(10)},
                      IdleCase{"Provision0mScaleDown2m", absl::ZeroDuration(), absl::Minutes(2)},
                      IdleCase{"Provision5mScaleDown30m", absl::Minutes(5), absl::Minutes(30)}),
    [](const ::testing::TestParamInfo<IdleCase>& param) { return param.param.name; });

TEST(SimulatorIdleCapacity, IsChargedToTheBudgetThatGrewThePoolNotToItsNeighbours) {
  // a's Job grows the pool by one 4-GPU node; b's later Job fits on that node's idle GPUs and
  // pays only for its pod; c, on the same pool with no work, pays nothing.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(2))
                   .Pool(PoolYaml().Nodes(0, 4).ScaleDownDelay(absl::Minutes(10)))
                   .Budget(BudgetYaml("a").Amount("1000"))
                   .Budget(BudgetYaml("b").Amount("1000"))
                   .Budget(BudgetYaml("c").Amount("1000"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(1), 1, "a"))
                   .Add(Job(absl::Minutes(30), absl::Minutes(20), 1, "b"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  // Billed from launch until scaleDownDelay after a's Job ends.
  const double node_h =
      static_cast<double>(FirstUsableAfter(absl::Minutes(3), absl::Minutes(1))) / 3600 + 1 +
      10.0 / 60;
  ASSERT_NEAR(PoolOf(r).node_hours, node_h, 1e-9);
  EXPECT_EQ(PoolOf(r).peak_nodes, 1);
  const double b_spent = 20.0 / 60 * kUnit;
  EXPECT_NEAR(BudgetOf(r, "b").spent, b_spent, kCent);
  EXPECT_NEAR(BudgetOf(r, "a").spent, node_h * 4 * kUnit - b_spent, kCent);
  EXPECT_EQ(BudgetOf(r, "c").spent, 0);
  EXPECT_NEAR(r.unbudgeted_spent, 0, 1e-9);
}

// ---------------------------------------------------------------------------------------------
// Policy bursar: limits hold where none overspends.

struct LimitCase {
  std::string name;
  bool gpu_hours;     // the limit is in GPU-hours, else money
  std::string limit;  // per 4-hour period
  std::string pacing;
  bool growing_pool;  // minNodes 0 (the budget pays for idle nodes it asked for), else fixed
};

void PrintTo(const LimitCase& c, std::ostream* os) {
  *os << c.name;
}

// Three 4-hour periods of far more work than any of the limits pays for: a Job every
// 20 minutes, alternating 1 GPU for 2 hours and 2 GPUs for 3 hours, priorities 0..2.
Scenario Oversubscribed(const LimitCase& c) {
  BudgetYaml budget("team");
  budget.Pacing(c.pacing).Custom(absl::Hours(4));
  if (c.gpu_hours) {
    budget.GpuHours(c.limit);
  } else {
    budget.Amount(c.limit);
  }
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(12))
      .Pool(c.growing_pool ? PoolYaml().Nodes(0, 2) : PoolYaml().Fixed(2))
      .Budget(budget);
  for (int i = 0; i < 36; ++i) {
    bool small = i % 2 == 0;
    builder.Add(Job(absl::Minutes(20 * i), small ? absl::Hours(2) : absl::Hours(3), small ? 1 : 2,
                    "team", i % 3));
  }
  return builder.Build();
}

class SimulatorBursarLimits : public ::testing::TestWithParam<LimitCase> {};

TEST_P(SimulatorBursarLimits, EveryPeriodEndsAtOrUnderItsLimitWhereNoneOverspends) {
  const LimitCase& c = GetParam();
  Scenario s = Oversubscribed(c);
  const double limit = std::stod(c.limit);

  SimReport none = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& free = BudgetOf(none, "team");
  ASSERT_THAT(free.periods, SizeIs(3));
  EXPECT_EQ(free.overspent_periods, 3);
  EXPECT_GT(free.overspend, 0);

  SimReport bursar = SimulateOrFail(s, Policy::kBursar);
  const BudgetResult& b = BudgetOf(bursar, "team");
  EXPECT_EQ(b.unit, c.gpu_hours ? "GPU-h" : "USD");
  ASSERT_THAT(b.periods, SizeIs(3));
  for (const PeriodResult& p : b.periods) {
    SCOPED_TRACE(absl::StrCat("period from ", absl::FormatTime(p.start)));
    EXPECT_TRUE(p.complete);
    EXPECT_EQ(p.limit, limit);
    EXPECT_LE(p.spent, p.limit);
    EXPECT_EQ(p.overspend, 0);
    // Holding the line is not the same as doing nothing: while work waits, at least 80% of
    // each period's limit is used. (Not more here: the pace is 2.5 GPUs, the Jobs run 2-3 h
    // of a 4 h period, so most of what starts runs on into the next period, which carries at
    // most its pace plus 10% — 2 whole GPUs. docs/concepts.md, "Commitments".) On a growing
    // pool paced evenly, 70%: the budget asks only for whole nodes its quota pays for (a quota
    // of 5.6 GPUs grows one 4-GPU node, not two with 2.4 GPUs idle and paid for).
    const double least = c.growing_pool && c.pacing == "Even" ? 0.7 : 0.8;
    EXPECT_GE(p.spent, least * p.limit);
  }
  EXPECT_EQ(b.overspent_periods, 0);
  EXPECT_EQ(b.overspend, 0);
  EXPECT_LT(b.spent, free.spent);
  EXPECT_LE(PoolOf(bursar).peak_nodes, 2);  // maxNodes
}

std::vector<LimitCase> LimitCases() {
  std::vector<LimitCase> cases;
  for (const char* pacing : {"Even", "None"}) {
    for (bool growing : {false, true}) {
      std::string suffix = absl::StrCat(pacing, growing ? "GrowingPool" : "FixedPool");
      for (const char* amount : {"8", "20", "45"}) {
        cases.push_back({absl::StrCat("Amount", amount, suffix), false, amount, pacing, growing});
      }
      for (const char* hours : {"4", "10", "22.5"}) {
        std::string name = absl::StrCat("GpuHours", hours, suffix);
        name.erase(std::remove(name.begin(), name.end(), '.'), name.end());
        cases.push_back({name, true, hours, pacing, growing});
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(SimulatorSweep, SimulatorBursarLimits, ::testing::ValuesIn(LimitCases()),
                         [](const ::testing::TestParamInfo<LimitCase>& param) {
                           return param.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// The ladder's rungs, one at a time.

// One 1-GPU Job from the start burns a $4 budget (pacing None, a 24-hour period) to Hold at
// about 1h50m and to Drain soon after; four more Jobs arrive at 2h30m. The pool grows per GPU.
Scenario HoldScenario() {
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(4))
      .Pool(PoolYaml().GpusPerNode(1).Nodes(0, 8).MaxScaleStep(8))
      .Budget(BudgetYaml("team").Amount("4").Custom(absl::Hours(24)))
      .Add(Job(absl::ZeroDuration(), absl::Hours(3), 1, "team"));
  for (int i = 0; i < 4; ++i) {
    builder.Add(Job(absl::Minutes(150), absl::Hours(1), 1, "team"));
  }
  return builder.Build();
}

TEST(SimulatorBursarHold, KeepsNewJobsPendingAndLaunchesNoNodesForThem) {
  Scenario s = HoldScenario();
  SimReport none = SimulateOrFail(s, Policy::kNone);
  SimReport bursar = SimulateOrFail(s, Policy::kBursar);

  // Without enforcement the four late Jobs run next to the first: five nodes.
  EXPECT_EQ(BudgetOf(none, "team").jobs_held, 0);
  EXPECT_EQ(BudgetOf(none, "team").jobs_completed, 5);
  EXPECT_EQ(PoolOf(none).peak_nodes, 5);

  const BudgetResult& b = BudgetOf(bursar, "team");
  EXPECT_EQ(b.jobs_held, 4);
  EXPECT_EQ(b.jobs_completed, 0);
  EXPECT_GE(b.actions.at("Hold"), 1);
  // The held work never asked for nodes: the pool stays at the one node of the first Job.
  EXPECT_EQ(PoolOf(bursar).peak_nodes, 1);
  EXPECT_LT(PoolOf(bursar).node_hours, PoolOf(none).node_hours);
  ASSERT_THAT(b.periods, SizeIs(1));
  EXPECT_LE(b.periods[0].spent, 4.0);
}

// Two Jobs share 8 fixed GPUs under a $30 budget (pacing None): together they burn
// 8 x 2.056 per hour and reach Drain at 1h48m, when only one may stay. The 1-GPU Job needs
// 1h52m and can finish on what is left; the 7-GPU Job cannot.
struct DrainCase {
  std::string name;
  int big_priority;    // 7 GPUs
  int small_priority;  // 1 GPU
  int64_t suspended;
  int64_t completed;
  double completed_gpu_hours;
};

void PrintTo(const DrainCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorBursarDrain : public ::testing::TestWithParam<DrainCase> {};

TEST_P(SimulatorBursarDrain, SuspendsTheLowestPriorityFirst) {
  const DrainCase& c = GetParam();
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(3))
                   .Pool(PoolYaml().Fixed(2))
                   .Budget(BudgetYaml("team").Amount("30").Custom(absl::Hours(10)))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(10), 7, "team", c.big_priority))
                   .Add(Job(absl::ZeroDuration(), absl::Minutes(112), 1, "team", c.small_priority))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kBursar);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_GE(b.actions.at("Drain"), 1);
  EXPECT_EQ(b.jobs_suspended, c.suspended);
  EXPECT_EQ(b.jobs_completed, c.completed);
  EXPECT_NEAR(b.completed_gpu_hours, c.completed_gpu_hours, 1e-9);
  EXPECT_LE(b.spent, 30.0);
}

INSTANTIATE_TEST_SUITE_P(
    SimulatorPriorities, SimulatorBursarDrain,
    ::testing::Values(
        // The priority-0 giant goes; the priority-5 Job is never suspended and completes.
        DrainCase{"HighPriorityJobStays", 0, 5, 1, 1, 112.0 / 60},
        // Swapped: the small priority-0 Job goes first even though suspending the giant alone
        // would have been enough; the giant follows, and nothing completes.
        DrainCase{"LowPriorityJobGoesFirst", 5, 0, 2, 0, 0}),
    [](const ::testing::TestParamInfo<DrainCase>& param) { return param.param.name; });

TEST(SimulatorBursarPeriods, ANewPeriodReleasesHeldJobsAtTheBoundary) {
  // Hourly periods (Custom 1h), a ladder without Drain: the 40-minute Job takes the budget to
  // Hold and completes; the Job submitted at 0:45 waits for 1:00 and starts right then.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(2))
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(BudgetYaml("team")
                               .Amount("1.5")
                               .Custom(absl::Hours(1))
                               .Thresholds("[{percent: 50, action: Notify}, "
                                           "{percent: 80, action: Hold}]"))
                   .Add(Job(absl::ZeroDuration(), absl::Minutes(40), 1, "team"))
                   .Add(Job(absl::Minutes(45), absl::Minutes(10), 1, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kBursar);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.jobs_held, 1);
  EXPECT_EQ(b.jobs_completed, 2);
  EXPECT_EQ(b.jobs_suspended, 0);
  // Waits: 0 for the first Job, 15 minutes (0:45 -> 1:00) for the held one.
  EXPECT_DOUBLE_EQ(b.mean_wait_seconds, (0 + 15 * 60) / 2.0);
  ASSERT_THAT(b.periods, SizeIs(2));
  EXPECT_NEAR(b.periods[0].spent, 40.0 / 60 * kUnit, kCent);
  EXPECT_NEAR(b.periods[1].spent, 10.0 / 60 * kUnit, kCent);
  EXPECT_EQ(b.periods[0].end, kStart + absl::Hours(1));
}

TEST(SimulatorBursarDryRun, BehavesLikeNoneButCountsWhatItWouldHaveDone) {
  // Two budgets on their own fixed pools: "watch" is DryRun, "enforced" is not. Under the
  // bursar policy "watch" must come out exactly as under none, while "enforced" is held back.
  auto build = [] {
    ScenarioBuilder builder;
    builder.Duration(absl::Hours(12))
        .Pool(PoolYaml("watch-pool").Fixed(2))
        .Pool(PoolYaml("enforced-pool").Fixed(2))
        .Budget(BudgetYaml("watch").Amount("20").Pools("[watch-pool]").DryRun())
        .Budget(BudgetYaml("enforced").Amount("20").Pools("[enforced-pool]"));
    for (int i = 0; i < 36; ++i) {
      for (const char* ns : {"watch", "enforced"}) {
        builder.Add(Job(absl::Minutes(20 * i), absl::Hours(2), 1 + i % 2, ns, i % 3));
      }
    }
    return builder.Build();
  };
  Scenario s = build();
  SimReport none = SimulateOrFail(s, Policy::kNone);
  SimReport bursar = SimulateOrFail(s, Policy::kBursar);

  const BudgetResult& watch = BudgetOf(bursar, "watch");
  EXPECT_FALSE(watch.enforced);
  ExpectSameBudget(watch, BudgetOf(none, "watch"), /*compare_actions=*/false);
  EXPECT_EQ(PoolOf(bursar, "watch-pool").node_hours, PoolOf(none, "watch-pool").node_hours);
  EXPECT_GT(watch.overspent_periods, 0);
  EXPECT_EQ(watch.jobs_held, 0);
  EXPECT_EQ(watch.jobs_suspended, 0);
  // It still says what it would have done.
  EXPECT_GE(watch.actions.at("Throttle"), 1);
  EXPECT_GE(watch.actions.at("Hold"), 1);
  EXPECT_GE(watch.actions.at("Drain"), 1);

  const BudgetResult& enforced = BudgetOf(bursar, "enforced");
  EXPECT_TRUE(enforced.enforced);
  EXPECT_EQ(enforced.overspent_periods, 0);
  EXPECT_LT(enforced.spent, watch.spent);
}

// ---------------------------------------------------------------------------------------------
// The retraining reserve.

// $20 per 8 hours with 20% ($4) kept for retraining, pacing None: a 2-GPU training Job spends
// the regular $16 by about 3h50m and is drained; a 1-GPU retraining Job of resnet50 (30 min,
// about $1.03) arrives at 4h30m.
ScenarioBuilder ReserveScenario() {
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(8))
      .Pool(PoolYaml().Fixed(1))
      .Budget(BudgetYaml("vision")
                  .Amount("20")
                  .Custom(absl::Hours(8))
                  .Retraining("{reservePercent: 20, driftThreshold: \"0.3\", "
                              "releaseUnusedFromPercent: 100}"))
      .Add(Job(absl::ZeroDuration(), absl::Hours(8), 2, "vision", 0, "resnet50", "train"))
      .Add(Job(absl::Minutes(270), absl::Minutes(30), 1, "vision", 0, "resnet50", "retrain"));
  return builder;
}

TEST(SimulatorBursarReserve, RetrainingWaitsForAModelDriftEventThenRunsOnTheReserve) {
  SimReport without = SimulateOrFail(ReserveScenario().Build(), Policy::kBursar);
  const BudgetResult& w = BudgetOf(without, "vision");
  EXPECT_EQ(w.model_drift_unlocks, 0);
  EXPECT_EQ(w.jobs_held, 1);
  EXPECT_EQ(w.jobs_completed, 0);
  ASSERT_THAT(w.periods, SizeIs(1));
  EXPECT_LE(w.periods[0].spent, 16.0);  // the reserve stays untouched

  // A drift report for another model unlocks nothing for resnet50.
  SimReport other =
      SimulateOrFail(ReserveScenario().Drift(absl::Hours(5), "bert", 0.9).Build(), Policy::kBursar);
  EXPECT_EQ(BudgetOf(other, "vision").model_drift_unlocks, 1);
  EXPECT_EQ(BudgetOf(other, "vision").jobs_completed, 0);

  SimReport with = SimulateOrFail(ReserveScenario().Drift(absl::Hours(5), "resnet50", 0.42).Build(),
                                  Policy::kBursar);
  const BudgetResult& b = BudgetOf(with, "vision");
  EXPECT_EQ(b.model_drift_unlocks, 1);
  EXPECT_EQ(b.jobs_completed, 1);
  EXPECT_NEAR(b.completed_gpu_hours, 0.5, 1e-9);
  // It started at 5h, when the report came: waits of 0 and 30 minutes.
  EXPECT_DOUBLE_EQ(b.mean_wait_seconds, (0 + 30 * 60) / 2.0);
  ASSERT_THAT(b.periods, SizeIs(1));
  // Regular spend as without the report, plus the retraining Job, from the reserve.
  EXPECT_NEAR(b.periods[0].spent, w.periods[0].spent + 0.5 * kUnit, kCent);
  EXPECT_GT(b.periods[0].spent, 16.0);
  EXPECT_LE(b.periods[0].spent, 20.0);
}

// A retraining Job admitted onto the reserve in one period and still running in the next draws
// on the reserve only while its model is unlocked: in the next period it is regular work,
// charged and paced as such, so no period ends over its limit. (Half the $20 is the reserve, so
// the 2-GPU Job fits the reserve's allowance when the unlock comes.)
TEST(SimulatorBursarReserve, ARetrainingJobLeavesTheReserveWhenItsPeriodEnds) {
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(12))
      .Pool(PoolYaml().Fixed(1))
      .Budget(BudgetYaml("vision")
                  .Amount("20")
                  .Custom(absl::Hours(4))
                  .Retraining("{reservePercent: 50, driftThreshold: \"0.3\"}"))
      .Add(Job(absl::ZeroDuration(), absl::Hours(12), 2, "vision", 0, "resnet50", "train"))
      .Add(Job(absl::Hours(1), absl::Hours(10), 2, "vision", 0, "resnet50", "retrain"))
      .Drift(absl::Hours(1), "resnet50", 0.9);
  SimReport report = SimulateOrFail(builder.Build(), Policy::kBursar);
  const BudgetResult& b = BudgetOf(report, "vision");
  EXPECT_EQ(b.model_drift_unlocks, 1);
  ASSERT_THAT(b.periods, SizeIs(3));
  for (const PeriodResult& p : b.periods) {
    EXPECT_LE(p.spent, 20.0 + kCent) << absl::FormatTime(p.start);
  }
  EXPECT_EQ(b.overspent_periods, 0);
  EXPECT_GE(b.jobs_suspended, 1);  // the retraining Job is paced like regular work afterwards
}

// A retraining Job of an unlocked model draws on the reserve once it runs, as the operator
// meters it, so it starts only where the reserve has room for it: not on regular room. Here the
// reserve is $0.40 (2 % of $20), less than one GPU-hour (2.056), so the Job waits although
// regular work has $19.60 and the GPUs; without the unlock it runs as regular work.
TEST(SimulatorBursarReserve, ARetrainingJobOfAnUnlockedModelStartsOnlyWhereTheReserveHasRoom) {
  auto scenario = [](bool unlocked) {
    ScenarioBuilder builder;
    builder.Duration(absl::Hours(4))
        .Pool(PoolYaml().Fixed(1))
        .Budget(BudgetYaml("vision")
                    .Amount("20")
                    .Custom(absl::Hours(4))
                    .Retraining("{reservePercent: 2, driftThreshold: \"0.3\", "
                                "releaseUnusedFromPercent: 100}"))
        .Add(Job(absl::Minutes(10), absl::Hours(1), 1, "vision", 0, "resnet50", "retrain"));
    if (unlocked) {
      builder.Drift(absl::Minutes(5), "resnet50", 0.9);
    }
    return builder.Build();
  };
  const SimReport unlocked = SimulateOrFail(scenario(true), Policy::kBursar);
  const BudgetResult& u = BudgetOf(unlocked, "vision");
  EXPECT_EQ(u.model_drift_unlocks, 1);
  EXPECT_EQ(u.jobs_completed, 0);
  ASSERT_THAT(u.periods, SizeIs(1));
  EXPECT_LE(u.periods[0].spent, 0.40 + kCent);
  const SimReport locked = SimulateOrFail(scenario(false), Policy::kBursar);
  EXPECT_EQ(BudgetOf(locked, "vision").jobs_completed, 1);
}

struct GateCase {
  std::string name;
  std::string retraining;                                     // the budget's spec.retraining
  std::vector<std::pair<absl::Duration, std::string>> drift;  // (at, model), score 0.5
  int64_t unlocks;
};

void PrintTo(const GateCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorBursarModelDrift : public ::testing::TestWithParam<GateCase> {};

TEST_P(SimulatorBursarModelDrift, UnlocksRespectCooldownAndMaxPerPeriod) {
  const GateCase& c = GetParam();
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(10))
      .Pool(PoolYaml().Fixed(1))
      .Budget(BudgetYaml("vision").Custom(absl::Hours(4)).Retraining(c.retraining));
  for (const auto& [at, model] : c.drift) {
    builder.Drift(at, model, 0.5);
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kBursar);
  EXPECT_EQ(BudgetOf(r, "vision").model_drift_unlocks, c.unlocks);
}

constexpr char kGate[] = "{reservePercent: 10, cooldown: 1h, maxPerPeriod: 2}";

INSTANTIATE_TEST_SUITE_P(
    SimulatorGate, SimulatorBursarModelDrift,
    ::testing::Values(
        GateCase{"One", kGate, {{absl::Minutes(10), "a"}}, 1},
        GateCase{"BelowThreshold",
                 "{reservePercent: 10, driftThreshold: \"0.6\"}",
                 {{absl::Minutes(10), "a"}},
                 0},
        GateCase{"AtThreshold",
                 "{reservePercent: 10, driftThreshold: \"0.5\"}",
                 {{absl::Minutes(10), "a"}},
                 1},
        GateCase{"NoReserve", "{reservePercent: 0}", {{absl::Minutes(10), "a"}}, 0},
        GateCase{"SameModelWithinCooldown",
                 kGate,
                 {{absl::Minutes(10), "a"}, {absl::Minutes(40), "a"}},
                 1},
        GateCase{"SameModelAfterCooldown",
                 kGate,
                 {{absl::Minutes(10), "a"}, {absl::Minutes(70), "a"}},
                 2},
        GateCase{"CapPerPeriod",
                 kGate,
                 {{absl::Minutes(10), "a"}, {absl::Minutes(20), "b"}, {absl::Minutes(30), "c"}},
                 2},
        GateCase{"CapResetsInTheNextPeriod",
                 kGate,
                 {{absl::Minutes(10), "a"},
                  {absl::Minutes(20), "b"},
                  {absl::Minutes(30), "c"},
                  {absl::Minutes(250), "c"}},
                 3},
        GateCase{"CooldownSpansPeriods",
                 kGate,
                 {{absl::Minutes(210), "a"}, {absl::Minutes(250), "a"}, {absl::Minutes(280), "a"}},
                 2}),
    [](const ::testing::TestParamInfo<GateCase>& param) { return param.param.name; });

// ---------------------------------------------------------------------------------------------
// Pools.

// Nodes billed in each tick, from the budget's per-tick spend; valid while the budget owns
// every node (minNodes 0, no other budget) and one GPU's pod costs exactly a node's share.
std::vector<int> NodesPerTick(const BudgetResult& b, int gpus_per_node, absl::Duration step) {
  std::vector<int> nodes;
  const double per_node_tick = gpus_per_node * kUnit * Hours(step);
  for (const std::optional<double>& spend : SpendPerTick(b.chart)) {
    nodes.push_back(spend.has_value() ? static_cast<int>(std::lround(*spend / per_node_tick)) : -1);
  }
  return nodes;
}

TEST(SimulatorPools, GrowWithinMaxNodesAndMaxScaleStep) {
  // Eight 1-GPU Jobs at once; at most 5 single-GPU nodes, 2 more per tick.
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(2))
      .Pool(PoolYaml().GpusPerNode(1).Nodes(0, 5).MaxScaleStep(2))
      .Budget(BudgetYaml("team").Amount("1000"));
  for (int i = 0; i < 8; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Minutes(30), 1, "team"));
  }
  for (Policy policy : {Policy::kNone, Policy::kBursar}) {
    SCOPED_TRACE(PolicyName(policy));
    SimReport r = SimulateOrFail(builder.Build(), policy);
    EXPECT_EQ(PoolOf(r).peak_nodes, 5);
    EXPECT_EQ(BudgetOf(r, "team").jobs_completed, 8);
    std::vector<int> nodes = NodesPerTick(BudgetOf(r, "team"), 1, absl::Minutes(1));
    ASSERT_GE(nodes.size(), 3u);
    EXPECT_EQ(nodes[0], 2);
    EXPECT_EQ(nodes[1], 4);
    EXPECT_EQ(nodes[2], 5);
    EXPECT_THAT(nodes, Each(Le(5)));
    for (size_t k = 1; k < nodes.size(); ++k) {
      EXPECT_LE(std::abs(nodes[k] - nodes[k - 1]), 2) << "tick " << k;
    }
  }
}

TEST(SimulatorPools, ShrinkOnlyAfterScaleDownDelay) {
  // One 3-GPU Job on single-GPU nodes: three nodes, then removed two per tick once demand has
  // been gone for scaleDownDelay.
  const absl::Duration delay = absl::Minutes(15);
  Scenario s =
      ScenarioBuilder()
          .Duration(absl::Hours(2))
          .Pool(PoolYaml().GpusPerNode(1).Nodes(0, 4).MaxScaleStep(2).ScaleDownDelay(delay))
          .Budget(BudgetYaml("team").Amount("1000"))
          .Add(Job(absl::ZeroDuration(), absl::Minutes(30), 3, "team"))
          .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  ASSERT_EQ(b.jobs_completed, 1);
  // The Job ran [wait, wait + 30m); demand is gone from the tick it ended.
  const int64_t end_min = static_cast<int64_t>(b.mean_wait_seconds) / 60 + 30;
  const int64_t delay_min = absl::ToInt64Minutes(delay);
  std::vector<int> nodes = NodesPerTick(b, 1, absl::Minutes(1));
  ASSERT_GT(nodes.size(), static_cast<size_t>(end_min + delay_min + 2));
  for (int64_t k = end_min; k < end_min + delay_min; ++k) {
    EXPECT_EQ(nodes[static_cast<size_t>(k)], 3) << "minute " << k;
  }
  EXPECT_EQ(nodes[static_cast<size_t>(end_min + delay_min)], 1);
  EXPECT_EQ(nodes[static_cast<size_t>(end_min + delay_min + 1)], 0);
  EXPECT_EQ(PoolOf(r).peak_nodes, 3);
}

// ---------------------------------------------------------------------------------------------
// Determinism and calendars.

TEST(SimulatorDeterminism, SameScenarioSameReport) {
  ScenarioBuilder builder = ReserveScenario();
  builder.Drift(absl::Hours(5), "resnet50", 0.42);
  for (int i = 0; i < 20; ++i) {
    builder.Add(Job(absl::Minutes(13 * i), absl::Minutes(25 + 7 * i), 1 + i % 3, "vision", i % 4));
  }
  Scenario s = builder.Build();
  for (Policy policy : kAllPolicies) {
    SCOPED_TRACE(PolicyName(policy));
    SimReport a = SimulateOrFail(s, policy);
    SimReport b = SimulateOrFail(s, policy);
    ExpectSameOutcome(a, b, /*compare_actions=*/true);
    EXPECT_EQ(a.policy, policy);
  }
}

struct CalendarCase {
  std::string name;
  std::string period;  // spec.period
  absl::Time start;
  absl::Duration duration;
  std::vector<absl::Time> boundaries;  // period starts and ends, in order
};

void PrintTo(const CalendarCase& c, std::ostream* os) {
  *os << c.name;
}

absl::Time Utc(int y, int m, int d, int hh, int mm = 0) {
  return absl::FromCivil(absl::CivilMinute(y, m, d, hh, mm), absl::UTCTimeZone());
}

class SimulatorCalendar : public ::testing::TestWithParam<CalendarCase> {};

TEST_P(SimulatorCalendar, PeriodsSplitAtLocalBoundaries) {
  const CalendarCase& c = GetParam();
  // One GPU busy all the time: each period's spend is its overlap with the scenario.
  Scenario s = ScenarioBuilder()
                   .Start(c.start)
                   .Duration(c.duration)
                   .Step(absl::Minutes(15))
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(BudgetYaml("team").Amount("100000").Period(c.period))
                   .Add(Job(absl::ZeroDuration(), c.duration + absl::Hours(1), 1, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  ASSERT_EQ(b.periods.size() + 1, c.boundaries.size());
  const absl::Time end = c.start + c.duration;
  for (size_t i = 0; i < b.periods.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("period ", i));
    EXPECT_EQ(b.periods[i].start, c.boundaries[i]);
    EXPECT_EQ(b.periods[i].end, c.boundaries[i + 1]);
    EXPECT_EQ(b.periods[i].complete, c.boundaries[i + 1] <= end);
    const double hours =
        Hours(std::min(end, c.boundaries[i + 1]) - std::max(c.start, c.boundaries[i]));
    EXPECT_NEAR(b.periods[i].gpu_hours, hours, 1e-9);
    EXPECT_NEAR(b.periods[i].spent, hours * kUnit, kCent);
  }
}

INSTANTIATE_TEST_SUITE_P(SimulatorZones, SimulatorCalendar,
                         ::testing::Values(
                             // Weeks from Monday 00:00 in New York; DST ends on Sunday 2026-11-01,
                             // so the first week is 169 hours long.
                             CalendarCase{"WeeklyNewYork",
                                          "{type: Weekly, timeZone: America/New_York, startDay: 1}",
                                          Utc(2026, 10, 28, 12),
                                          absl::Hours(14 * 24),
                                          {Utc(2026, 10, 26, 4), Utc(2026, 11, 2, 5),
                                           Utc(2026, 11, 9, 5), Utc(2026, 11, 16, 5)}},
                             // Months from the 15th 00:00 in Berlin; DST ends on 2026-10-25.
                             CalendarCase{"MonthlyBerlinFrom15th",
                                          "{type: Monthly, timeZone: Europe/Berlin, startDay: 15}",
                                          Utc(2026, 10, 1, 0),
                                          absl::Hours(61 * 24),
                                          {Utc(2026, 9, 14, 22), Utc(2026, 10, 14, 22),
                                           Utc(2026, 11, 14, 23), Utc(2026, 12, 14, 23)}},
                             // Days from midnight in Kolkata (UTC+5:30).
                             CalendarCase{"DailyKolkata",
                                          "{type: Daily, timeZone: Asia/Kolkata}",
                                          Utc(2026, 11, 2, 0),
                                          absl::Hours(30),
                                          {Utc(2026, 11, 1, 18, 30), Utc(2026, 11, 2, 18, 30),
                                           Utc(2026, 11, 3, 18, 30)}}),
                         [](const ::testing::TestParamInfo<CalendarCase>& param) {
                           return param.param.name;
                         });

// ---------------------------------------------------------------------------------------------
// The baselines: static-quota and shutoff.

struct StaticQuotaCase {
  std::string name;
  bool gpu_hours;
  std::string limit;  // per 10-hour period
  int quota;          // GPUs that spend the limit over the period at full use, rounded down
};

void PrintTo(const StaticQuotaCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorStaticQuota : public ::testing::TestWithParam<StaticQuotaCase> {};

TEST_P(SimulatorStaticQuota, NeverRunsMoreThanItsQuota) {
  const StaticQuotaCase& c = GetParam();
  BudgetYaml budget("team");
  budget.Custom(absl::Hours(10));
  if (c.gpu_hours) {
    budget.GpuHours(c.limit);
  } else {
    budget.Amount(c.limit);
  }
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(20)).Pool(PoolYaml().Fixed(2)).Budget(budget);
  for (int i = 0; i < 8; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(20), 1, "team"));
  }
  Scenario s = builder.Build();
  SimReport none = SimulateOrFail(s, Policy::kNone);
  EXPECT_EQ(BudgetOf(none, "team").overspent_periods, 2);

  SimReport r = SimulateOrFail(s, Policy::kStaticQuota);
  const BudgetResult& b = BudgetOf(r, "team");
  const double limit = std::stod(c.limit);
  ASSERT_THAT(b.periods, SizeIs(2));
  for (const PeriodResult& p : b.periods) {
    EXPECT_LE(p.spent, limit);
    // Saturated at the quota, all period long.
    EXPECT_NEAR(p.gpu_hours, c.quota * 10.0, 1e-9);
  }
  EXPECT_EQ(b.jobs_held, 0);  // a quota keeps Jobs waiting; it does not hold a budget
  for (const std::optional<double>& spend : SpendPerTick(b.chart)) {
    if (spend.has_value()) {
      const double per_tick = c.gpu_hours ? 1.0 / 60 : kUnit / 60;
      EXPECT_LE(*spend, c.quota * per_tick + 1e-6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    SimulatorLimits, SimulatorStaticQuota,
    ::testing::Values(StaticQuotaCase{"Money100", false, "100", 4},  // 100 / (2.056 x 10)
                      StaticQuotaCase{"Money41", false, "41.12", 2},
                      StaticQuotaCase{"GpuHours35", true, "35", 3}),
    [](const ::testing::TestParamInfo<StaticQuotaCase>& param) { return param.param.name; });

struct ShutoffCase {
  std::string name;
  bool gpu_hours;  // limit 23.9 GPU-hours, else $50, per 10 hours
  absl::Duration billing_lag;
  absl::Duration effective_lag;  // at most a tenth of the 10-hour period
};

void PrintTo(const ShutoffCase& c, std::ostream* os) {
  *os << c.name;
}

class SimulatorShutoff : public ::testing::TestWithParam<ShutoffCase> {};

TEST_P(SimulatorShutoff, OverspendsByAboutBillingLagWorthOfBurn) {
  const ShutoffCase& c = GetParam();
  // 8 GPUs busy: 8 x 2.056 per hour against $50, or 8 GPU-hours per hour against 23.9.
  BudgetYaml budget("team");
  budget.Custom(absl::Hours(10));
  if (c.gpu_hours) {
    budget.GpuHours("23.9");
  } else {
    budget.Amount("50");
  }
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(10))
                   .BillingLag(c.billing_lag)
                   .Pool(PoolYaml().Fixed(2))
                   .Budget(budget)
                   .Add(Job(absl::ZeroDuration(), absl::Hours(20), 4, "team"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(20), 4, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kShutoff);
  const BudgetResult& b = BudgetOf(r, "team");
  const double burn = c.gpu_hours ? 8.0 : 8 * kUnit;
  ASSERT_THAT(b.periods, SizeIs(1));
  EXPECT_NEAR(b.periods[0].overspend, burn * Hours(c.effective_lag), burn / 60);
  EXPECT_EQ(b.overspent_periods, 1);
  EXPECT_EQ(b.jobs_suspended, 2);
  // Once shut off, nothing runs until the period ends.
  std::vector<std::optional<double>> ticks = SpendPerTick(b.chart);
  ASSERT_GE(ticks.size(), 2u);
  EXPECT_EQ(ticks.back(), std::nullopt);  // the period ends with the scenario
  EXPECT_EQ(ticks[ticks.size() - 2], 0.0);
}

INSTANTIATE_TEST_SUITE_P(
    SimulatorLags, SimulatorShutoff,
    ::testing::Values(
        ShutoffCase{"HalfHour", false, absl::Minutes(30), absl::Minutes(30)},
        ShutoffCase{"NoLag", false, absl::ZeroDuration(), absl::ZeroDuration()},
        ShutoffCase{"DayCappedToATenthOfThePeriod", false, absl::Hours(24), absl::Hours(1)},
        // GPU-hours are seen late too.
        ShutoffCase{"GpuHoursHalfHour", true, absl::Minutes(30), absl::Minutes(30)},
        ShutoffCase{"GpuHoursNoLag", true, absl::ZeroDuration(), absl::ZeroDuration()}),
    [](const ::testing::TestParamInfo<ShutoffCase>& param) { return param.param.name; });

// ---------------------------------------------------------------------------------------------
// Metrics that hide nothing (issue 10): each expected number is worked out by hand.

// Shutoff with no billing lag stops every Job the tick billed GPU-hours reach the limit, and the
// next period lets them run again: a deterministic way to suspend and resume.
BudgetYaml ShutoffAt(std::string gpu_hours) {
  BudgetYaml b("team");
  b.Custom(absl::Hours(3)).GpuHours(std::move(gpu_hours));
  return b;
}

// One 2-GPU Job of 3 h on a fixed pool, under a shutoff at 4.5 GPU-hours a 3-hour period, with
// `grace` to stop once suspended.
Scenario OneThreeHourJobShutOffAt4Point5(absl::Duration grace) {
  return ScenarioBuilder()
      .Duration(absl::Hours(6))
      .BillingLag(absl::ZeroDuration())
      .TerminationGrace(grace)
      .Pool(PoolYaml().Fixed(1))
      .Budget(ShutoffAt("4.5"))
      .Add(Job(absl::ZeroDuration(), absl::Hours(3), 2, "team"))
      .Build();
}

TEST(SimulatorMetrics, OneSuspensionLosesTheRestartPenaltyOfWork) {
  // One 2-GPU Job of 3 h, 3-hour periods, 4.5 GPU-hours each. It runs from 0; at 135 min it has
  // used 2 x 2.25 = 4.5 GPU-hours and is suspended. The next period (180 min) resumes it with
  // 45 min of work left plus the 5-minute restart penalty: it finishes at 180 + 50 = 230 min.
  // Lost: the 5 minutes redone on 2 GPUs = 10/60 GPU-hours.
  SimReport r =
      SimulateOrFail(OneThreeHourJobShutOffAt4Point5(absl::ZeroDuration()), Policy::kShutoff);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.suspensions, 1);
  EXPECT_EQ(b.boundary_drains, 0);  // suspended in the period its run started in
  EXPECT_NEAR(b.lost_gpu_hours, 2 * 5.0 / 60, 1e-9);
  EXPECT_EQ(b.jobs_completed, 1);
  EXPECT_EQ(b.jobs_unfinished, 0);
  EXPECT_EQ(b.mean_wait_seconds, 0);
  EXPECT_EQ(b.mean_jct_seconds, 230 * 60);
  EXPECT_EQ(b.p95_jct_seconds, 230 * 60);
  EXPECT_EQ(b.mean_flow_seconds, 230 * 60);
  // Paid: 135 + 50 minutes on 2 GPUs.
  EXPECT_NEAR(b.gpu_hours, 2 * 185.0 / 60, 1e-9);

  // The same Job, one row: 2 GPUs x 185 min at 2 x kUnit per hour.
  ASSERT_THAT(r.jobs, SizeIs(1));
  EXPECT_EQ(r.jobs[0].first_start_s, 0);
  EXPECT_EQ(r.jobs[0].finish_s, 230 * 60);
  EXPECT_EQ(r.jobs[0].suspensions, 1);
  EXPECT_NEAR(r.jobs[0].cost, 2 * kUnit * 185 / 60, kCent);
  EXPECT_EQ(FormatJobsCsv(r),
            "job,budget,namespace,priority,gpus,duration_s,submit_s,first_start_s,finish_s,state,"
            "suspensions,gpu_hours,cost\n"
            "0,team,team,0,2,10800,0,0,13800,finished,1,6.1667," +
                absl::StrFormat("%.4f", r.jobs[0].cost) + "\n");
}

// With a termination grace a suspended Job's pods run on, and cost, until the grace ends, doing
// no more work, and hold their GPUs (as the operator's Drain counts them): the Job above,
// suspended at 135 min with a 10-minute grace, is paid 145 + 50 minutes and still finishes at
// 230 min.
TEST(SimulatorMetrics, ASuspendedJobRunsOnForItsTerminationGrace) {
  SimReport r =
      SimulateOrFail(OneThreeHourJobShutOffAt4Point5(absl::Minutes(10)), Policy::kShutoff);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.suspensions, 1);
  EXPECT_EQ(b.jobs_completed, 1);
  EXPECT_EQ(b.mean_jct_seconds, 230 * 60);
  EXPECT_NEAR(b.gpu_hours, 2 * 195.0 / 60, 1e-9);
  ASSERT_THAT(r.jobs, SizeIs(1));
  EXPECT_NEAR(r.jobs[0].cost, 2 * kUnit * 195 / 60, kCent);
}

// Bursar's Drain allows for what suspended work costs until its grace ends (engine: kept GPUs
// cost the whole lookahead, suspended ones their grace): eight 1-GPU Jobs under $30 with a
// 10-minute grace end within the limit ($29.98). Counting suspended work as stopping at once
// kept more running at the Drain line than the money left paid for beside the grace of the
// suspended ones: $30.39.
TEST(SimulatorBursarDrain, AllowsForTheTerminationGraceOfWhatItSuspends) {
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(3))
      .TerminationGrace(absl::Minutes(10))
      .Pool(PoolYaml().Fixed(2))
      .Budget(BudgetYaml("team").Amount("30").Custom(absl::Hours(10)));
  for (int i = 0; i < 8; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(10), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kBursar);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_GE(b.actions.at("Drain"), 1);
  EXPECT_LE(b.spent, 30.0);
}

// Nodes the budget grew are paid for whole until they are removed, so suspending a Job on a
// node that keeps running others saves nothing: its GPUs go on being billed, idle. Twelve
// 1-GPU Jobs on two 8-GPU nodes the budget grew, $40 for the period, a 10-minute grace: Drain
// frees whole nodes (engine::OwnedBin), and counts what it suspends there as billed until the
// metering tick that removes the node (StopLagToRelease).
TEST(SimulatorBursarDrain, FreesWholeNodesOfTheCapacityTheBudgetPaysFor) {
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(5))
      .TerminationGrace(absl::Minutes(10))
      .Pool(PoolYaml().GpusPerNode(8).Nodes(0, 2))
      .Budget(BudgetYaml("team").Amount("40").Custom(absl::Hours(10)));
  for (int i = 0; i < 12; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(10), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kBursar);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_GE(b.actions.at("Drain"), 1);
  EXPECT_LE(b.spent, 40.0);
}

// A Job Bursar drained waits until resuming it would not take the projection to the Drain line
// (engine::StartRoom), as the operator's Release: one 4-GPU Job ($8.22 an hour) under $10 for
// 10 h, Hold at 90 % and Drain at 95 %, a 10-minute tick (20 minutes' projection, $2.74). At
// 60 min ($8.22 spent) Drain keeps 2 GPUs and suspends it; without it usage is 82 %, below
// Hold, so it was resumed at the next tick and drained again at the one after (the finding of
// 6 December 2026: Drain, Release, Drain again). Resumed, it would project $10.96.
TEST(SimulatorBursarDrain, ADrainedJobIsNotResumedToBeDrainedAgain) {
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(10))
                   .Step(absl::Minutes(10))
                   .BillingLag(absl::ZeroDuration())
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(BudgetYaml("team")
                               .Amount("10")
                               .Custom(absl::Hours(10))
                               .Thresholds("[{percent: 90, action: Hold}, "
                                           "{percent: 95, action: Drain}]"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(10), 4, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kBursar);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.suspensions, 1);
  EXPECT_NEAR(b.spent, 4 * kUnit, kCent);  // one hour of 4 GPUs, never resumed
  EXPECT_EQ(b.lost_gpu_hours, 0);
}

TEST(SimulatorMetrics, ASuspensionAfterAPeriodRollIsABoundaryDrain) {
  // A 2-GPU Job of 5 h submitted at 150 min runs into the second period (180-360 min). It uses
  // 1 GPU-hour in the first; in the second it reaches 4.5 GPU-hours at 180 + 135 = 315 min and
  // is suspended, in a period its run did not start in: one boundary drain. The third period
  // resumes it at 360 min; the scenario ends at 420 min with the Job still running (60 of its
  // 140 remaining minutes done, the 5 redone ones included).
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(7))
                   .BillingLag(absl::ZeroDuration())
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(ShutoffAt("4.5"))
                   .Add(Job(absl::Minutes(150), absl::Hours(5), 2, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kShutoff);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.suspensions, 1);
  EXPECT_EQ(b.boundary_drains, 1);
  EXPECT_NEAR(b.lost_gpu_hours, 2 * 5.0 / 60, 1e-9);
  EXPECT_EQ(b.jobs_completed, 0);
  EXPECT_EQ(b.jobs_unfinished, 1);
  EXPECT_EQ(b.mean_jct_seconds, 0);          // no finished Job
  EXPECT_EQ(b.mean_flow_seconds, 270 * 60);  // 150 min -> the end at 420 min
  ASSERT_THAT(r.jobs, SizeIs(1));
  EXPECT_EQ(r.jobs[0].finish_s, std::nullopt);
  EXPECT_EQ(r.jobs[0].state, "running");
}

TEST(SimulatorMetrics, ANeverStartedJobWaitsUntilTheEnd) {
  // One 4-GPU node. A 4-GPU Job of 10 h takes it from 0 to past the 4-hour end; a 1-GPU Job
  // submitted at 60 min never starts: it waits 180 min. Mean wait (0 + 180) / 2 = 90 min; mean
  // flow (240 + 180) / 2 = 210 min; both unfinished. A 12-GPU Job can never fit the pool: it
  // is counted apart and left out of the means.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(4))
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(BudgetYaml("team").Amount("1000"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(10), 4, "team"))
                   .Add(Job(absl::Minutes(60), absl::Hours(1), 1, "team"))
                   .Add(Job(absl::Minutes(60), absl::Hours(1), 12, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.jobs_submitted, 3);
  EXPECT_EQ(b.jobs_unschedulable, 1);
  EXPECT_EQ(b.jobs_unfinished, 2);
  EXPECT_EQ(b.mean_wait_seconds, 90 * 60);
  EXPECT_EQ(b.mean_flow_seconds, 210 * 60);
  ASSERT_THAT(r.jobs, SizeIs(3));
  EXPECT_EQ(r.jobs[1].state, "pending");
  EXPECT_EQ(r.jobs[1].first_start_s, std::nullopt);
  EXPECT_EQ(r.jobs[2].state, "unschedulable");
}

TEST(SimulatorMetrics, JobCompletionTimesMeanAndNearestRankP95) {
  // Twenty 1-GPU Jobs of 1..20 minutes, all at 0, on 20 free GPUs: JCT i minutes. Mean 10.5 min;
  // p95 by nearest rank is the 19th of 20 (ceil(0.95 x 20)): 19 min.
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(1)).Pool(PoolYaml().Fixed(5)).Budget(BudgetYaml("team"));
  for (int i = 1; i <= 20; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Minutes(i), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.jobs_completed, 20);
  EXPECT_EQ(b.mean_jct_seconds, 10.5 * 60);
  EXPECT_EQ(b.p95_jct_seconds, 19 * 60);
  EXPECT_EQ(b.mean_flow_seconds, 10.5 * 60);
}

TEST(SimulatorMetrics, AGpuHourOverspendIsVisibleOnAMoneyBudget) {
  // 1000 money and 3 GPU-hours per 4-hour period; a 2-GPU Job of 2 h uses 4 GPU-hours (about
  // 8.22 money): over by 1 GPU-hour, not at all in money.
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(4))
                   .Pool(PoolYaml().Fixed(1))
                   .Budget(BudgetYaml("team").AmountAndGpuHours("1000", "3"))
                   .Add(Job(absl::ZeroDuration(), absl::Hours(2), 2, "team"))
                   .Build();
  SimReport r = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& b = BudgetOf(r, "team");
  ASSERT_THAT(b.periods, SizeIs(1));
  const PeriodResult& p = b.periods[0];
  EXPECT_EQ(p.overspend, 0);
  EXPECT_NEAR(p.gpu_hours, 4, 1e-9);
  EXPECT_EQ(p.gpu_hours_limit, 3.0);
  EXPECT_NEAR(p.gpu_hours_overspend, 1, 1e-9);
  EXPECT_TRUE(p.over_limit);
  EXPECT_EQ(b.overspent_periods, 1);
  EXPECT_NEAR(b.gpu_hours_overspend, 1, 1e-9);
  EXPECT_NE(FormatReportCsv(r).find(",4.00,3.00,1.00,true\n"), std::string::npos)
      << FormatReportCsv(r);
}

// ---------------------------------------------------------------------------------------------
// Honest baselines (issue 10).

TEST(SimulatorStaticQuotaPeriods, EachMonthGetsTheQuotaOfItsOwnLength) {
  // 6000 a month at kUnit = 2.056 per GPU-hour: February (672 h) affords 6000 / 1381.6 = 4.3
  // GPUs, March (744 h) 6000 / 1529.7 = 3.9. Sized from February alone, March would run 4 GPUs
  // and spend 4 x 744 x 2.056 = 6118.7, over its limit. Day-long 1-GPU Jobs keep it saturated
  // and end on day boundaries, so March starts with no Job carried over.
  ScenarioBuilder builder;
  builder.Start(Utc(2027, 2, 1, 0))
      .Duration(absl::Hours(24 * 59))
      .Step(absl::Minutes(10))
      .Pool(PoolYaml().Fixed(1))
      .Budget(BudgetYaml("team").Amount("6000").Period("{type: Monthly, timeZone: UTC}"));
  for (int i = 0; i < 300; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(24), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kStaticQuota);
  const BudgetResult& b = BudgetOf(r, "team");
  ASSERT_THAT(b.periods, SizeIs(2));
  EXPECT_NEAR(b.periods[0].gpu_hours, 4 * 672.0, 1e-9);
  EXPECT_NEAR(b.periods[1].gpu_hours, 3 * 744.0, 1e-9);
  EXPECT_EQ(b.overspent_periods, 0);
}

TEST(SimulatorStaticQuotaPeriods, PaysForTheWholeNodesItGrowsSoItStaysWithinItsLimit) {
  // 49.35 per 4 hours affords 6 GPUs (6 x 2.056 x 4 = 49.34) — but on 4-GPU nodes 6 GPUs grow
  // two nodes, and the budget pays for the 2 idle GPUs of the second (8 x 2.056 x 4 = 65.8).
  // The quota is 4: one node, fully used.
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(4))
      .Pool(PoolYaml().Nodes(0, 4))
      .Budget(BudgetYaml("team").Amount("49.35"));
  for (int i = 0; i < 10; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(8), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kStaticQuota);
  const BudgetResult& b = BudgetOf(r, "team");
  EXPECT_EQ(b.overspent_periods, 0);
  EXPECT_LE(b.spent, 49.35);
  EXPECT_EQ(PoolOf(r).peak_nodes, 1);
  // One node, billed from launch: 4 GPUs x 4 h, idle while it came up included.
  EXPECT_NEAR(b.gpu_hours, 4 * 4.0, 1e-9);
}

TEST(SimulatorStaticQuotaPeriods, RespectsTheGpuHoursLimitOfAMoneyBudget) {
  // Money is plentiful (1000 per 4 h) but 8 GPU-hours per 4 hours allow 2 GPUs.
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(4))
      .Pool(PoolYaml().Fixed(1))
      .Budget(BudgetYaml("team").AmountAndGpuHours("1000", "8"));
  for (int i = 0; i < 4; ++i) {
    builder.Add(Job(absl::ZeroDuration(), absl::Hours(8), 1, "team"));
  }
  SimReport r = SimulateOrFail(builder.Build(), Policy::kStaticQuota);
  const BudgetResult& b = BudgetOf(r, "team");
  ASSERT_THAT(b.periods, SizeIs(1));
  EXPECT_NEAR(b.periods[0].gpu_hours, 8, 1e-9);
  EXPECT_FALSE(b.periods[0].over_limit);
}

TEST(SimulatorStaticQuotaPeriods, WholeNodeQuotaCountsWhatTheBudgetPaysFor) {
  constexpr int64_t kMicro = 1'000'000;
  EXPECT_EQ(WholeNodeQuota(6 * kMicro, 4, 0), 4);  // 6 would pay for 8
  EXPECT_EQ(WholeNodeQuota(8 * kMicro, 4, 0), 8);  // two full nodes
  EXPECT_EQ(WholeNodeQuota(3 * kMicro, 4, 0), 0);  // cannot afford one node
  EXPECT_EQ(WholeNodeQuota(6 * kMicro, 4, 8), 6);  // minNodes' GPUs: the cluster pays
  // Beyond them it owns one node of 4 but uses 9..11 GPUs: its idle share is 0 (the simulator
  // counts a budget's use against the nodes it owns first).
  EXPECT_EQ(WholeNodeQuota(11 * kMicro, 4, 8), 11);
  EXPECT_EQ(WholeNodeQuota(5 * kMicro - 1, 4, 0), 4);
}

TEST(SimulatorSpendMatch, TheScaledStaticQuotaSpendsWhatBursarSpentWithinOnePercent) {
  // Demand well above the limit under Even pacing: Bursar spends close to the limit. The plain
  // static quota affords 320 / (2.056 x 24) = 6.5 GPUs, which on 4-GPU nodes it pays for is 4:
  // it spends about two thirds of that. The spend-matched one must land within 1 % of Bursar's.
  ScenarioBuilder builder;
  builder.Duration(absl::Hours(48))
      .Step(absl::Minutes(5))
      .Pool(PoolYaml().Nodes(0, 3))
      .Budget(BudgetYaml("team").Custom(absl::Hours(24)).Amount("320").Pacing("Even"));
  for (int i = 0; i < 400; ++i) {
    builder.Add(Job(absl::Minutes(7 * i), absl::Minutes(40 + (i * 37) % 200), 1 + i % 2, "team"));
  }
  Scenario s = builder.Build();
  SimReport bursar = SimulateOrFail(s, Policy::kBursar);
  absl::StatusOr<SpendMatch> match = SimulateSpendMatchedStaticQuota(s, bursar, SimOptions());
  ASSERT_TRUE(match.ok()) << match.status();
  const double target = BudgetOf(bursar, "team").cost;
  const double matched = BudgetOf(match->report, "team").cost;
  EXPECT_GT(target, 0);
  EXPECT_NEAR(matched, target, 0.01 * target) << "scale " << match->scale;
  EXPECT_TRUE(match->matched);
  EXPECT_LE(match->runs, kSpendMatchMaxRuns);
  EXPECT_TRUE(match->report.spend_matched);
  EXPECT_EQ(PolicyLabel(match->report), "static-quota (same spend)");
  EXPECT_EQ(BudgetOf(match->report, "team").static_quota_scale, match->scale);
  // Not the plain baseline in disguise: it spends differently.
  SimReport plain = SimulateOrFail(s, Policy::kStaticQuota);
  EXPECT_GT(std::abs(BudgetOf(plain, "team").cost - target), 0.01 * target);
}

}  // namespace
}  // namespace bursar::sim

namespace bursar::sim {
namespace {

TEST(SimulatorJobCaps, BursarStopsAJobAtItsOwnCapAndRefusesOneDeclaredPastIt) {
  // A 2-GPU Job of 3 h costs 2 x kUnit an hour; its cap of 2 x kUnit stops it after about an hour
  // (the projection is two one-minute ticks). A second declares 2 h against a cap worth 1 h of
  // itself at the pool's GPU price: refused at submission. A third has a cap it never reaches.
  TraceJob capped = Job(absl::ZeroDuration(), absl::Hours(3), 2, "team");
  capped.max_cost = values::Money::FromMicros(static_cast<int64_t>(2 * kUnit * 1e6));
  TraceJob declared = Job(absl::ZeroDuration(), absl::Hours(2), 1, "team");
  declared.expected_duration_s = 2 * 3600;
  declared.max_cost = values::Money::FromMicros(static_cast<int64_t>(kGpuPrice * 1e6));
  TraceJob roomy = Job(absl::ZeroDuration(), absl::Hours(1), 1, "team");
  roomy.max_cost = values::Money::FromUnits(1000);
  Scenario s = ScenarioBuilder()
                   .Duration(absl::Hours(5))
                   .Pool(PoolYaml().Fixed(2))
                   .Budget(BudgetYaml("team").Amount("1000"))
                   .Add(capped)
                   .Add(declared)
                   .Add(roomy)
                   .Build();
  SimReport bursar = SimulateOrFail(s, Policy::kBursar);
  const BudgetResult& b = BudgetOf(bursar, "team");
  EXPECT_EQ(b.jobs_capped, 1);
  EXPECT_EQ(b.jobs_refused_over_cap, 1);
  EXPECT_EQ(b.jobs_completed, 1) << "the roomy Job runs to its end";
  EXPECT_EQ(b.boundary_drains, 0);
  // Spend: the roomy Job's hour, and the capped Job stopped within the projection below its cap.
  const double capped_spend = b.spent - 1 * kUnit;
  EXPECT_LE(capped_spend, 2 * kUnit + kCent);
  EXPECT_GE(capped_spend, 2 * kUnit * (1.0 - 3.0 / 60.0));
  // The baselines have no per-Job caps: all three run to their end.
  SimReport unenforced = SimulateOrFail(s, Policy::kNone);
  const BudgetResult& none = BudgetOf(unenforced, "team");
  EXPECT_EQ(none.jobs_capped, 0);
  EXPECT_EQ(none.jobs_completed, 3);
}

// A budget whose quota lists cpu: CPU-only Jobs start only within the cpu allowance the operator
// would write into its ResourceQuota (engine::CpuMemoryAllowances: what runs plus what the money
// its pacing carries beyond its burn buys at engine::CpuMemoryPrices, the dearest core-hour of
// the book and the pools). The Jobs here request cpu alone (memoryPerGpu 0: a cpu entry bounds
// what cpu costs, not the memory beside it), so after each admission the burn is at most what
// the pacing carried before it. Twenty 1-hour CPU-only Jobs against $5 over 10 hours (Even, $0.5
// an hour): all twenty at once burn more than that, and with only GPUs listed nothing but the
// ladder's thresholds stops them.
TEST(SimulatorBursarCpuQuota, CpuOnlyJobsStartWithinTheCpuAllowance) {
  auto scenario = [](const char* resources) {
    ScenarioBuilder b;
    b.Duration(absl::Hours(10))
        .Pool(PoolYaml().Fixed(1))
        .Budget(BudgetYaml("team")
                    .Amount("5")
                    .Custom(absl::Hours(10))
                    .Pacing("Even")
                    .Quota(absl::StrCat("{mode: ResourceQuota, resources: ", resources, "}")));
    for (int i = 0; i < 20; ++i) {
      b.Add(Job(absl::ZeroDuration(), absl::Hours(1), 0, "team"));
    }
    Scenario s = b.Build();
    s.cluster.memory_bytes_per_gpu = 0;
    return s;
  };
  struct Run {
    BudgetResult budget;
    std::vector<DecisionTrace> decisions;
  };
  auto run = [](const Scenario& s) {
    Run out;
    SimOptions options;
    options.on_decision = [&](const DecisionTrace& t) { out.decisions.push_back(t); };
    absl::StatusOr<SimReport> report = Simulate(s, options);
    EXPECT_TRUE(report.ok()) << report.status();
    out.budget = report.ok() ? BudgetOf(*report, "team") : BudgetResult{};
    return out;
  };
  const Run cpu = run(scenario("[nvidia.com/gpu, cpu]"));
  const Run gpu = run(scenario("[nvidia.com/gpu]"));
  ASSERT_GT(cpu.decisions.size(), 2u);
  size_t peak = 0;
  for (size_t i = 1; i < cpu.decisions.size(); ++i) {
    const DecisionTrace& before = cpu.decisions[i - 1];
    const DecisionTrace& now = cpu.decisions[i];
    EXPECT_LE(now.step.burn.regular_rate,
              values::Max(before.step.burn.regular_rate, before.decision.carry_rate))
        << "at " << now.step.now << ": " << now.running.size() << " Jobs running";
    peak = std::max(peak, now.running.size());
  }
  EXPECT_GE(peak, 2u);
  EXPECT_LT(peak, 20u);
  EXPECT_GT(cpu.budget.jobs_completed, 0);
  // Only GPUs listed: the twenty start together, over the pace.
  ASSERT_GT(gpu.decisions.size(), 2u);
  EXPECT_EQ(gpu.decisions[1].running.size(), 20u);
  EXPECT_GT(gpu.decisions[1].step.burn.regular_rate, gpu.decisions[0].decision.carry_rate);
  for (const Run* r : {&cpu, &gpu}) {
    for (const PeriodResult& p : r->budget.periods) {
      EXPECT_LE(p.spent, 5.0 + kCent);
    }
  }
}

}  // namespace
}  // namespace bursar::sim
