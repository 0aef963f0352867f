// One decision path: the operator (reconcilers::BudgetPlanner) and `bursar simulate`
// (sim::Simulate) must decide the same thing when they see the same cluster. The simulation runs
// a budget under pressure (Even pacing, demand several times the limit, so it climbs through
// Throttle, Hold and Drain); at sampled decision steps the test rebuilds the cluster the
// simulation decided on as an operator Snapshot — the budget with its ledger in status, the
// pool's nodes, the running pods at their start times — runs a fresh planner on it, and expects
// the planner's decision to equal the simulator's field by field. The same snapshot also holds
// the Jobs the simulation had waiting, as Jobs the budget holds: the planner must resume them in
// the order the simulation admits them (engine/admission_order.h), as far as the quota allows.
//
// Prices are chosen so that a pod's cost and a node's per-GPU share are exact in micro-units
// (2.00 per GPU-hour, 4 cores at 0.01 and 16 GiB at 0.001 per GPU: 2.056 per GPU-hour), and the
// pool has a fixed size, so no grown node is idle (the simulator counts idle capacity in GPUs,
// the operator in whole nodes: a difference of cluster model, not of the decision step).

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/sim/simulator.h"
#include "operator/yaml/yaml.h"

namespace bursar {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1793577600);  // 2026-11-02T00:00:00Z
constexpr int kCoresPerGpu = 4;
constexpr int kGiBPerGpu = 16;
constexpr int kGpusPerNode = 4;
constexpr int kNodes = 6;

constexpr char kPriceBook[] = R"(apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec:
  currency: USD
  defaults: {cpuCoreHour: "0.01", memoryGiBHour: "0.001", gpuHour: "1"}
  gpus:
    - {model: TEST-GPU, capacityType: OnDemand, pricePerHour: "2"}
)";
constexpr char kPool[] = R"(apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: gpu-pool}
spec:
  provider: {type: Kwok}
  gpuType: TEST-GPU
  gpusPerNode: 4
  minNodes: 6
  maxNodes: 6
)";
constexpr char kBudget[] = R"(apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata: {name: vision, uid: uid-vision}
spec:
  scope: {namespaces: [vision]}
  limit: {amount: "300", currency: USD}
  period: {type: Daily, timeZone: UTC}
  pacing: {mode: Even, burstPercent: 10}
  nodePools: [gpu-pool]
)";

template <typename T, typename Decoder>
T Decode(const char* yaml, Decoder decode) {
  auto docs = yaml::ParseYamlDocuments(yaml, "parity.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto decoded = decode((*docs)[0], api::DecodeOptions{.source = "parity.yaml"});
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return *decoded;
}

sim::Scenario PressureScenario() {
  sim::Scenario s;
  s.name = "parity";
  s.source = "decision_parity_test";
  s.start = kStart;
  s.duration = absl::Hours(60);
  s.step = absl::Minutes(1);
  s.cluster.cpu_millis_per_gpu = int64_t{kCoresPerGpu} * 1000;
  s.cluster.memory_bytes_per_gpu = int64_t{kGiBPerGpu} << 30;
  s.manifests.price_books = {Decode<api::PriceBook>(kPriceBook, api::DecodePriceBook)};
  s.manifests.pools = {Decode<api::GPUNodePool>(kPool, api::DecodeGPUNodePool)};
  s.manifests.budgets = {Decode<api::ComputeBudget>(kBudget, api::DecodeComputeBudget)};
  std::mt19937 rng(7);  // seeded: the same trace every run
  const char* models[] = {"resnet50", "vit-b16", "bert-base"};
  for (int i = 0; i < 120; ++i) {
    sim::TraceJob job;
    job.submit_time_s = static_cast<int64_t>(rng() % (54 * 3600)) / 60 * 60;
    job.duration_s = 1800 + static_cast<int64_t>(rng() % (5 * 3600));
    job.gpus = 1 + static_cast<int>(rng() % 4);
    job.ns = "vision";
    job.priority = static_cast<int>(rng() % 3);
    job.model = models[rng() % 3];
    if (rng() % 3 != 0) {  // two in three declare a length, roughly right
      job.expected_duration_s = job.duration_s / 900 * 900 + 900;
    }
    s.jobs.push_back(job);
  }
  std::stable_sort(s.jobs.begin(), s.jobs.end(),
                   [](const auto& a, const auto& b) { return a.submit_time_s < b.submit_time_s; });
  return s;
}

std::string JobName(size_t index) {
  return absl::StrCat("job-", absl::Dec(index, absl::kZeroPad5));
}

// The cluster a simulator decision saw, as the operator's caches would show it.
reconcilers::Snapshot SnapshotOf(const sim::Scenario& scenario, const sim::DecisionTrace& trace) {
  reconcilers::Snapshot snap;
  snap.now = trace.step.now;
  snap.price_books = scenario.manifests.price_books;
  snap.pools = scenario.manifests.pools;
  snap.budgets = scenario.manifests.budgets;
  snap.budgets[0].status.ledger = trace.step.ledger->Snapshot();
  snap.budgets[0].status.reserve_ledger = trace.step.reserve_ledger->Snapshot();
  snap.namespaces["vision"] = {};
  for (int i = 0; i < kNodes; ++i) {
    reconcilers::NodeView node;
    node.info.name = absl::StrCat("gpu-pool-", i);
    node.info.labels = {{"nvidia.com/gpu.product", "TEST-GPU"},
                        {"karpenter.sh/capacity-type", "on-demand"}};
    node.info.gpu_capacity = kGpusPerNode;
    node.info.cpu_capacity = values::Quantity::FromUnits(kCoresPerGpu * kGpusPerNode);
    node.info.memory_capacity =
        values::Quantity::FromUnits((int64_t{kGiBPerGpu} << 30) * kGpusPerNode);
    node.ready = true;
    snap.nodes.push_back(node);
  }
  for (const sim::DecisionTrace::RunningJob& job : trace.running) {
    reconcilers::PodView pod;
    pod.uid = job.uid;
    pod.namespace_name = kube::InternedString(job.namespace_name);
    pod.name = absl::StrCat("pod-", job.uid);
    pod.node_name = "gpu-pool-0";  // the planner prices by node; capacity is the scheduler's
    pod.state = reconcilers::PodState::kRunning;
    pod.start = job.since;
    int64_t share = std::max<int64_t>(job.gpus, 1);
    pod.containers = {{.cpu_milli = kCoresPerGpu * share * 1000,
                       .memory_bytes = (int64_t{kGiBPerGpu} << 30) * share,
                       .gpus = job.gpus}};
    snap.pods.push_back(pod);
  }
  // The pods of finished jobs, which the operator learns job lengths from as the simulator did.
  for (const sim::DecisionTrace::FinishedJob& job : trace.finished) {
    reconcilers::PodView pod;
    pod.uid = job.uid;
    pod.namespace_name = kube::InternedString("vision");
    pod.name = absl::StrCat("pod-", job.uid);
    pod.node_name = "gpu-pool-0";
    pod.state = reconcilers::PodState::kEnded;
    pod.start = job.since;
    pod.end = job.end;
    pod.labels = {{"bursar.dev/model", job.model}};
    pod.containers = {{.cpu_milli = 0, .memory_bytes = 0, .gpus = job.gpus}};
    snap.pods.push_back(pod);
  }
  // The Jobs waiting to start, as Jobs the budget holds (suspended by it).
  for (size_t index : trace.waiting) {
    const sim::TraceJob& t = scenario.jobs[index];
    reconcilers::JobView job;
    job.namespace_name = "vision";
    job.name = JobName(index);
    job.labels = {{"bursar.dev/model", t.model}};
    job.suspended = true;
    job.gpus = t.gpus;
    job.priority = t.priority;
    job.created = kStart + absl::Seconds(t.submit_time_s);
    job.held_by = "vision";
    job.held_for = "Hold";
    if (t.expected_duration_s.has_value()) {
      job.expected_duration = absl::Seconds(*t.expected_duration_s);
    }
    snap.jobs.push_back(job);
  }
  return snap;
}

// The Jobs the operator should resume, in order: the simulation's waiting Jobs in its admission
// order, each while the quota left has room for it (no head-of-line stop), none while held.
std::vector<std::string> ExpectedResumes(const sim::Scenario& scenario,
                                         const sim::DecisionTrace& trace) {
  const engine::BudgetDecision& d = trace.decision;
  if (d.hold_new_work || d.keep_running_gpus.has_value()) {
    return {};
  }
  int64_t headroom = INT64_MAX;
  if (d.quota_gpus.has_value()) {
    int64_t running = 0;
    for (const auto& job : trace.running) {
      running += job.gpus;
    }
    headroom = std::max<int64_t>(0, *d.quota_gpus - running);
  }
  // Held Jobs start within the start room too (engine::StartRoom), counted here in GPUs; were its
  // money side (cpu and memory priced too) to bind first, the planner would resume fewer and
  // the comparison below would say so.
  int64_t start = d.start_gpus.value_or(INT64_MAX);
  std::vector<std::string> out;
  for (size_t index : trace.waiting) {
    const int64_t gpus = scenario.jobs[index].gpus;
    if (gpus <= headroom && gpus <= start) {
      headroom -= gpus;
      start -= gpus;
      out.push_back(JobName(index));
    }
  }
  return out;
}

void ExpectSameDecision(const engine::BudgetDecision& sim, const engine::BudgetDecision& op,
                        absl::Time at) {
  SCOPED_TRACE(absl::StrCat("at ", absl::FormatTime(at), ": simulator says ", sim.reason,
                            " | operator says ", op.reason));
  EXPECT_EQ(sim.rung, op.rung);
  EXPECT_EQ(sim.phase, op.phase);
  EXPECT_DOUBLE_EQ(sim.usage_percent, op.usage_percent);
  EXPECT_EQ(sim.quota_gpus, op.quota_gpus);
  EXPECT_EQ(sim.allowed_gpus, op.allowed_gpus);
  EXPECT_EQ(sim.hold_new_work, op.hold_new_work);
  EXPECT_EQ(sim.keep_running_gpus, op.keep_running_gpus);
  EXPECT_EQ(sim.reserve_allowed_gpus, op.reserve_allowed_gpus);
  EXPECT_EQ(sim.start_gpus, op.start_gpus);
  EXPECT_EQ(sim.start_rate, op.start_rate);
  EXPECT_EQ(sim.forecast, op.forecast);
  EXPECT_EQ(sim.remaining, op.remaining);
  EXPECT_EQ(sim.burn_rate, op.burn_rate);
  EXPECT_EQ(sim.exhausts_at, op.exhausts_at);
  EXPECT_EQ(sim.reason, op.reason);
}

TEST(DecisionParity, TheOperatorDecidesWhatTheSimulatorDecidedOnTheSameCluster) {
  sim::Scenario scenario = PressureScenario();
  std::vector<sim::DecisionTrace> sampled;
  std::vector<reconcilers::Snapshot> snapshots;
  std::vector<values::Money> spent;
  int tick = 0;
  sim::SimOptions options;
  options.policy = sim::Policy::kBursar;
  options.on_decision = [&](const sim::DecisionTrace& trace) {
    if (tick++ % 23 == 0 && !trace.running.empty()) {  // the ledgers live only during the call
      snapshots.push_back(SnapshotOf(scenario, trace));
      spent.push_back(trace.step.ledger->spent());
      sampled.push_back(trace);
    }
  };
  absl::StatusOr<sim::SimReport> report = sim::Simulate(scenario, options);
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_GT(sampled.size(), 100u);

  std::map<api::LadderAction, int> rungs_seen;
  int resumed = 0;
  int out_of_fifo_order = 0;  // samples where the order is not priority-then-submission
  int ordered_compared = 0;   // and the whole order was compared
  for (size_t i = 0; i < sampled.size(); ++i) {
    reconcilers::BudgetPlanner planner(
        reconcilers::PlannerOptions{.lookahead = engine::LookaheadFor(scenario.step)});
    reconcilers::Plan plan = planner.Reconcile(snapshots[i]);
    ASSERT_EQ(plan.budgets.size(), 1u);
    ASSERT_TRUE(plan.budgets[0].valid);
    // The planner metered nothing new: the ledger in status already counts every pod up to now.
    EXPECT_EQ(plan.budgets[0].status.spent, spent[i]);
    ExpectSameDecision(sampled[i].decision, plan.budgets[0].decision, sampled[i].step.now);
    ++rungs_seen[sampled[i].decision.rung];

    std::vector<std::string> resumes;
    for (const reconcilers::JobChange& action : plan.jobs) {
      if (action.rung == reconcilers::JobRung::kRelease) {
        resumes.push_back(action.name);
      }
    }
    EXPECT_EQ(resumes, ExpectedResumes(scenario, sampled[i])) << "at " << sampled[i].step.now;
    resumed += static_cast<int>(resumes.size());
    std::vector<size_t> fifo = sampled[i].waiting;
    std::stable_sort(fifo.begin(), fifo.end(), [&](size_t a, size_t b) {
      return std::make_pair(-scenario.jobs[a].priority, scenario.jobs[a].submit_time_s) <
             std::make_pair(-scenario.jobs[b].priority, scenario.jobs[b].submit_time_s);
    });
    out_of_fifo_order += fifo != sampled[i].waiting ? 1 : 0;

    // The whole order: the same cluster with a budget that affords everything resumes every
    // waiting Job, in the simulation's admission order.
    reconcilers::Snapshot open = snapshots[i];
    open.budgets[0].spec.limit.amount = values::Money::FromUnits(1'000'000'000);
    open.budgets[0].spec.pacing.mode = api::PacingMode::kNone;
    reconcilers::BudgetPlanner open_planner(
        reconcilers::PlannerOptions{.lookahead = engine::LookaheadFor(scenario.step)});
    std::vector<std::string> all_resumed;
    for (const reconcilers::JobChange& action : open_planner.Reconcile(open).jobs) {
      all_resumed.push_back(action.name);
    }
    std::vector<std::string> waiting;
    for (size_t index : sampled[i].waiting) {
      waiting.push_back(JobName(index));
    }
    EXPECT_EQ(all_resumed, waiting) << "at " << sampled[i].step.now;
    ordered_compared += waiting.size() >= 2 && fifo != sampled[i].waiting ? 1 : 0;
  }
  // The order was tested where it matters: Jobs were resumed, and length changed the order.
  EXPECT_GT(resumed, 0);
  EXPECT_GT(out_of_fifo_order, 0);
  EXPECT_GT(ordered_compared, 10);
  // The comparison covered the ladder, not only calm water.
  EXPECT_GT(rungs_seen[api::LadderAction::kThrottle] + rungs_seen[api::LadderAction::kNotify], 0);
  EXPECT_GT(rungs_seen[api::LadderAction::kHold] + rungs_seen[api::LadderAction::kDrain], 0);
}

}  // namespace
}  // namespace bursar
