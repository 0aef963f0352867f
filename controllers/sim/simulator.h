#pragma once

// The simulated cluster behind `bursar simulate`: replays a workload trace against declared
// budgets, GPU node pools and price books, one metering tick at a time, with the very engine
// the operator runs (BudgetLedger, DecideBudget, SizePool, RetrainingGate, the cost model).
//
// Model of the cluster, kept deliberately small and stated here so results can be judged:
// - A Job needs `gpus` devices in one of its budget's pools (unbudgeted namespaces use
//   cluster.unbudgetedPools, or every pool); capacity is counted in GPUs per pool, not packed
//   per node. Pools start at minNodes; new nodes are billed from launch and become usable after
//   provisioningDelay; only idle nodes are removed.
// - A Job's pods cost what the cost model says for a pod requesting `gpus` devices and the
//   matching share of a node's cpu and memory. Idle capacity of a pool is charged to the
//   budget whose demand last grew it (docs/concepts.md, "Cost model").
// - Suspending a Job (Drain, or a shutoff) deletes its pods; resuming starts new pods, which
//   continue from the last checkpoint and lose cluster.restartPenalty of work.
// - Every budget is metered and decided by the operator's own step (engine/budget_step.h) under
//   every policy; the policy (sim/enforcement.h: bursar, none, static-quota, shutoff) says what
//   the cluster does with the decision.
// Deterministic: the same scenario and policy give the same report. Not thread-safe.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/api/manifests.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/sim/enforcement.h"
#include "controllers/sim/spend_chart.h"
#include "controllers/sim/trace.h"
#include "controllers/values/money.h"

namespace bursar::sim {

struct DriftEvent {
  absl::Duration at;  // since the scenario start
  engine::ModelDriftSignal signal;
};

struct ClusterModel {
  absl::Duration provisioning_delay = absl::Minutes(3);
  absl::Duration restart_penalty = absl::Minutes(5);
  absl::Duration billing_lag = absl::Hours(24);
  // Each GPU comes with this share of its node's cpu and memory (requests of a GPU pod).
  int64_t cpu_millis_per_gpu = 12000;
  int64_t memory_bytes_per_gpu = int64_t{144} << 30;
  std::vector<std::string> unbudgeted_pools;
};

struct Scenario {
  std::string name;
  std::string description;
  std::string source;  // the scenario file
  absl::Time start;
  absl::Duration duration;
  absl::Duration step = absl::Minutes(1);
  api::Manifests manifests;
  std::vector<TraceJob> jobs;
  std::vector<DriftEvent> drift;
  ClusterModel cluster;
};

struct PeriodResult {
  absl::Time start;
  absl::Time end;
  double limit = 0;  // in the budget's unit (currency, or GPU-hours for gpuHours-only budgets)
  double spent = 0;
  double overspend = 0;
  double gpu_hours = 0;
  bool complete = true;  // false when the scenario ended inside the period
};

struct BudgetResult {
  std::string name;
  std::string unit;  // currency code, or "GPU-h"
  bool enforced = true;
  double limit = 0;  // of the first period
  double spent = 0;
  double overspend = 0;
  int overspent_periods = 0;
  double gpu_hours = 0;
  double completed_gpu_hours = 0;  // useful work: GPU-hours of Jobs that finished
  int64_t jobs_submitted = 0;
  int64_t jobs_completed = 0;
  int64_t jobs_suspended = 0;  // suspended at least once
  int64_t jobs_held = 0;       // held at least once before starting
  double mean_wait_seconds = 0;
  int64_t model_drift_unlocks = 0;
  std::map<std::string, int64_t> actions;  // ladder rungs entered, by name
  std::vector<PeriodResult> periods;
  SpendSeries chart;
};

struct PoolResult {
  std::string name;
  int peak_nodes = 0;
  double node_hours = 0;
};

struct SimReport {
  std::string scenario;
  Policy policy = Policy::kBursar;
  absl::Time start;
  absl::Time end;
  std::vector<BudgetResult> budgets;
  std::vector<PoolResult> pools;
  double unbudgeted_spent = 0;
  int64_t jobs_total = 0;
  int64_t jobs_unschedulable = 0;  // need more GPUs than any allowed pool can ever hold
};

// One decision step the simulation took and the state it decided on: enough to rebuild the same
// cluster as an operator Snapshot (tests feed both paths the same state).
struct DecisionTrace {
  struct RunningJob {
    std::string uid;  // of its current pods, as charged to the ledger
    std::string namespace_name;
    int64_t gpus = 0;
    std::string pool;
    absl::Time since;  // start of its current pods
    bool on_reserve = false;
  };
  std::string budget;
  engine::BudgetStep step;  // its ledger pointers are valid during the callback only
  engine::BudgetDecision decision;
  std::vector<RunningJob> running;  // the budget's running jobs
  // The budget's last finished jobs (at most engine::JobLengths::kCapacity), oldest first: what
  // its decisions learned job lengths from. Their last pods ran [since, end).
  struct FinishedJob {
    std::string uid;
    int64_t gpus = 0;
    absl::Time since;
    absl::Time end;
  };
  std::vector<FinishedJob> finished;
};

struct SimOptions {
  Policy policy = Policy::kBursar;
  // Called now and then with the fraction done; for progress bars. May be empty.
  std::function<void(double fraction)> progress;
  // Called with every decision step the simulation takes; for tests that compare the
  // simulator's path with the operator's. May be empty.
  std::function<void(const DecisionTrace&)> on_decision;
};

absl::StatusOr<SimReport> Simulate(const Scenario& scenario, const SimOptions& options);

}  // namespace bursar::sim
