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
  // How long a suspended Job's pods run on, and cost, before they have stopped (their
  // terminationGracePeriodSeconds, which the operator's Drain allows for). Zero: at once.
  absl::Duration termination_grace = absl::ZeroDuration();
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
  double overspend = 0;  // spent - limit, in the budget's unit, when positive
  double gpu_hours = 0;  // charged this period (running and idle GPUs), whatever the unit
  std::optional<double> gpu_hours_limit;  // where the budget sets one
  double gpu_hours_overspend = 0;         // gpu_hours - gpu_hours_limit, when positive
  // Over either limit, compared exactly (micro-units, GPU-seconds): an overspend too small to
  // show in cents still counts.
  bool over_limit = false;
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
  // Submit -> first start, over every submitted Job that can ever fit a pool; a Job that never
  // started counts until the scenario's end.
  double mean_wait_seconds = 0;
  // Submit -> finish, over the Jobs that finished (biased towards short Jobs: see flow).
  double mean_jct_seconds = 0;
  double p95_jct_seconds = 0;  // nearest rank
  // Submit -> finish, or -> the scenario's end for Jobs not finished: every submitted Job that
  // can ever fit a pool counts, so a policy cannot look better by never finishing work.
  double mean_flow_seconds = 0;
  int64_t jobs_unfinished = 0;     // submitted, could fit, not finished by the end
  int64_t jobs_unschedulable = 0;  // need more GPUs than any allowed pool can ever hold
  int64_t suspensions = 0;         // suspension events (a Job may be suspended many times)
  // Suspensions of a Job in a period its current run did not start in: work carried across
  // a period boundary and then stopped.
  int64_t boundary_drains = 0;
  // Bursar only (the baselines have no per-Job caps): Jobs stopped at their own max_cost, and
  // Jobs refused because their declared length passes it.
  int64_t jobs_capped = 0;
  int64_t jobs_refused_over_cap = 0;
  // GPU-hours paid to redo work after a resume (cluster.restartPenalty per resume, counted as
  // it is worked off).
  double lost_gpu_hours = 0;
  double gpu_hours_overspend = 0;  // summed over periods, where a GPU-hours limit is set
  double cost = 0;                 // money charged, in the price book's currency, every unit
  std::optional<double> static_quota_scale;  // the spend-matched baseline's scale for it
  int64_t model_drift_unlocks = 0;
  std::map<std::string, int64_t> actions;  // ladder rungs entered, by name
  std::vector<PeriodResult> periods;
  SpendSeries chart;
};

// One submitted Job, for `--jobs FILE.csv`: times in seconds since the scenario start.
struct JobResult {
  size_t index = 0;    // in the trace, in file order
  std::string budget;  // empty: no budget
  std::string namespace_name;
  int priority = 0;
  int64_t gpus = 0;
  int64_t duration_s = 0;
  int64_t submit_s = 0;
  std::optional<int64_t> first_start_s;
  std::optional<int64_t> finish_s;
  int64_t suspensions = 0;
  double gpu_hours = 0;  // paid while it ran, lost work included
  double cost = 0;       // its pods' charges (idle capacity not included)
  std::string state;     // finished, running, suspended, pending, unschedulable
};

struct PoolResult {
  std::string name;
  int peak_nodes = 0;
  double node_hours = 0;
};

struct SimReport {
  std::string scenario;
  Policy policy = Policy::kBursar;
  // The spend-matched static quota (spend_match.h); each budget's scale is in its result.
  bool spend_matched = false;
  absl::Time start;
  absl::Time end;
  std::vector<BudgetResult> budgets;
  std::vector<PoolResult> pools;
  double unbudgeted_spent = 0;
  int64_t jobs_total = 0;
  int64_t jobs_unschedulable = 0;  // need more GPUs than any allowed pool can ever hold
  std::vector<JobResult> jobs;     // every submitted Job, in trace order
};

// "bursar", ..., or "static-quota (same spend)" for the spend-matched baseline.
std::string PolicyLabel(const SimReport& report);

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
    std::string model;
    absl::Time since;
    absl::Time end;
  };
  std::vector<FinishedJob> finished;
  // The first of the budget's waiting Jobs in the order the simulation admits them (at most
  // kTracedWaiting), as the step's admission will visit them: indices into the scenario's jobs.
  static constexpr size_t kTracedWaiting = 32;
  std::vector<size_t> waiting;
};

struct SimOptions {
  Policy policy = Policy::kBursar;
  // static-quota only: the spend-matched baseline when not empty, each budget's quota scaled by
  // its entry (1 when absent); spend_match.h finds the scales. Empty: the baseline as documented
  // in enforcement.h.
  std::map<std::string, double> static_quota_scales;
  // Whether budgets admit shorter expected work first (engine/admission_order.h); nullopt: the
  // policy's own order (OrdersByLength).
  std::optional<bool> order_by_length;
  // Called now and then with the fraction done; for progress bars. May be empty.
  std::function<void(double fraction)> progress;
  // Called with every decision step the simulation takes; for tests that compare the
  // simulator's path with the operator's. May be empty.
  std::function<void(const DecisionTrace&)> on_decision;
};

absl::StatusOr<SimReport> Simulate(const Scenario& scenario, const SimOptions& options);

}  // namespace bursar::sim
