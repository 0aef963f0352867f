#pragma once

// The simulated cluster behind sim::Simulate (simulator.h), internal to controllers/sim: the
// state of Jobs, pools and budgets, and the Simulation that moves them one metering tick at a
// time. Its parts live in three files:
//   simulator.cc           setup from the scenario, the tick loop (Run) and the report;
//   simulation_time.cc     time passing: Jobs run, finish, are suspended; spend is metered into
//                          the ledgers; periods roll; modelDrift and arrivals are delivered;
//   simulation_decisions.cc  the decision step per budget (engine::Decide, as the operator) and
//                          what the cluster does with it: draining, admission, pool sizes.
// Not thread-safe.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/drain_order.h"
#include "controllers/engine/job_lengths.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/sim/admission_queue.h"
#include "controllers/sim/enforcement.h"
#include "controllers/sim/simulator.h"
#include "controllers/values/ledger.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"

namespace bursar::sim::internal {

using api::LadderAction;
using values::Money;

constexpr int kNoBudget = -1;

enum class JobState { kFuture, kPending, kRunning, kSuspended, kCompleted };

struct Job {
  const TraceJob* trace = nullptr;
  int budget = kNoBudget;
  JobState state = JobState::kFuture;
  int pool = -1;
  int64_t remaining_s = 0;  // work left
  int64_t run_since_s = 0;  // start of the current pod segment
  int segment = 0;          // pods are new on every resume: uid = id/segment
  bool retrain = false;     // purpose retrain with a model
  bool on_reserve = false;  // this run draws on the retraining reserve
  bool ever_suspended = false;
  // Told to stop (suspended) with a termination grace: its pods run on, and cost, doing no more
  // work, until then; it is queued again once they have stopped.
  std::optional<int64_t> stopping_until_s;
  std::optional<int64_t> first_start_s;
  Money rate;
  std::string uid;

  // --- Metrics (issue 10; simulation_time.cc keeps them, simulator.cc reports them) ---
  std::optional<int64_t> finish_s;
  int64_t suspensions = 0;
  int64_t redo_s = 0;      // restart penalty not yet worked off: work being redone
  int64_t lost_gpu_s = 0;  // GPU-seconds spent redoing work
  int64_t paid_s = 0;      // seconds run in ended segments
  Money cost;              // its pods' charges over ended segments
  bool capped = false;     // stopped at (or refused for) its own max_cost: never resumed
};

struct Pool {
  const api::GPUNodePool* spec = nullptr;
  int ready_nodes = 0;
  std::vector<int64_t> provisioning_ready_at;  // launch queue
  int64_t used_gpus = 0;
  absl::Time low_since = absl::InfiniteFuture();
  // Nodes by the budget whose demand launched them (kNoBudget: minNodes and unbudgeted work).
  // A budget pays for the idle part of the nodes it asked for (docs/concepts.md, "Cost model").
  std::map<int, int> owned_nodes;
  std::map<int, int64_t> used_by;  // GPUs in use, by budget
  Money gpu_rate;                  // cost of a 1-GPU pod on this pool
  Money node_rate;                 // cost of one node per hour
  engine::UnitPrices prices;
  int peak_nodes = 0;
  double node_hours = 0;

  int gpus_per_node() const { return spec->spec.gpus_per_node; }
  int total_nodes() const { return ready_nodes + static_cast<int>(provisioning_ready_at.size()); }
  int64_t free_gpus() const { return int64_t{ready_nodes} * gpus_per_node() - used_gpus; }
  int64_t capacity_gpus() const { return int64_t{spec->spec.max_nodes} * gpus_per_node(); }
  bool can_grow() const { return total_nodes() < spec->spec.max_nodes; }
};

struct Charge {
  std::string uid;
  absl::Time from;
  absl::Time to;
  Money rate;
  int64_t gpus = 0;
  bool ended = false;
  bool reserve = false;
};

struct Budget {
  const api::ComputeBudget* spec = nullptr;
  std::optional<values::PeriodCalendar> calendar;
  std::optional<values::BudgetLedger> ledger;          // everything charged
  std::optional<values::BudgetLedger> reserve_ledger;  // the part on the retraining reserve
  engine::RetrainingGate gate;
  std::vector<int> pools;
  Money gpu_hour_price;  // of its last decision (engine::GpuHourPrice)
  std::vector<Charge> step_charges;
  std::vector<std::string> step_ended;
  AdmissionQueue pending;                // waiting Jobs, in admission order
  Money default_gpu_hour;                // its price book's, when it has one
  engine::UnitPrices cpu_memory_prices;  // engine::CpuMemoryPrices of its book and pools
  // bursar policy: the cpu and memory entries of spec.quota.resources as the operator writes them
  // into its quota (engine::CpuMemoryAllowances), set at every decision; admission respects them.
  std::map<std::string, values::Quantity> cpu_memory_allowed;
  engine::BudgetDecision decision;
  std::unique_ptr<EnforcementPolicy> enforcement;
  BudgetResult result;
  LadderAction last_rung = LadderAction::kNone;
  bool gpu_hours_only = false;
  // Decisions and admission order (simulation_decisions.cc): how long its finished Jobs' last
  // pods ran, and those Jobs (for DecisionTrace), at most engine::JobLengths::kCapacity.
  engine::JobLengths lengths;
  std::deque<DecisionTrace::FinishedJob> finished;
  // Admission (simulation_decisions.cc): pending CPU-only Jobs (0 GPUs), and the ticks at which
  // the budget held new work, as [first, last] runs, for jobsHeld.
  int64_t pending_cpu_jobs = 0;
  std::vector<std::pair<int64_t, int64_t>> holds;

  // --- Metrics (issue 10) ---
  Money cost;  // money charged over the periods rolled so far
};

inline double MoneyValue(Money m) {
  return m.ToDouble();
}

class Simulation {
 public:
  Simulation(const Scenario& scenario, const SimOptions& options)
      : scenario_(scenario), options_(options) {}

  absl::StatusOr<SimReport> Run();

 private:
  absl::Status Setup();
  absl::Time At(int64_t s) const { return scenario_.start + absl::Seconds(s); }
  const api::PriceBook* FindPriceBook(const std::string& name) const;
  int BudgetFor(const TraceJob& job) const;

  void Advance(int64_t from_s, int64_t to_s);
  void ChargeIdle(int64_t from_s, int64_t to_s);
  void Meter(int64_t now_s);
  void RollPeriod(Budget& b, int64_t now_s);
  void DeliverDrift(int64_t now_s);
  void Arrive(int64_t now_s);
  void Decide(int64_t now_s);
  void Admit(int64_t now_s);
  void SizePools(int64_t now_s);
  void Sample(int64_t now_s);
  // Per-Job rows and the budgets' time metrics (wait, flow, JCT, lost work).
  void ReportJobs(SimReport& report);
  // Launched nodes whose provisioning delay has passed become usable (before admission).
  void BringUpNodes(int64_t now_s);

  void Start(size_t index, int pool, int64_t now_s, bool on_reserve);
  // Tells a running Job to stop: at once, or after cluster.terminationGrace (it runs on, costs
  // and holds its GPUs meanwhile, doing no work); then it waits again (unless capped).
  // `boundary`: count it as a boundary drain when its run began in an earlier period (Drain's
  // suspensions; not a Job stopped at its own cap).
  void Suspend(size_t index, int64_t now_s, bool boundary = true);
  // A Job told to stop has stopped at `at_s`: its pods end, its GPUs are free, it waits again.
  void CompleteStop(size_t index, int64_t at_s);
  // Bursar stops a Job at its own cap (engine::CapStop, as the operator does).
  void StopAtCaps(int budget, absl::Duration lookahead, int64_t now_s);
  // Bursar's webhook refuses a Job whose declared length passes its own cap
  // (engine::CheckAffordable, kOverCap): it never runs.
  bool RefusedOverCap(const Budget& b, const Job& job) const;
  void Release(Job& job);
  void TransferHeldNodes(Pool& pool);
  // Idle GPUs of `pool` by the budget that pays for them (kNoBudget: nobody's).
  std::vector<std::pair<int, int64_t>> IdleByOwner(const Pool& pool) const;
  void Finish(size_t index, int64_t end_s);
  void EndSegment(Job& job, int64_t end_s, bool ended);
  Money JobRate(const Pool& pool, int64_t gpus) const;
  std::optional<int64_t> QuotaFor(const Budget& b) const;
  bool HoldsNewWork(const Budget& b) const;
  bool MayUseReserve(const Budget& b, const Job& job) const;
  // Whether the budget held new work at a tick in [from_s, to_s).
  bool HeldDuring(const Budget& b, int64_t from_s, int64_t to_s) const;
  // Whether Bursar holds a pending Job, as the operator would: it was drained, or it waited
  // while its budget held new work (the operator suspends such a Job and later releases it).
  bool HeldByBursar(const Budget& b, const Job& job, int64_t now_s) const;
  void AddPending(Budget& b, size_t index);
  // Whether some pool of `pools` could ever hold the Job (maxNodes x gpusPerNode).
  bool Schedulable(const Job& job, const std::vector<int>& pools) const;
  int64_t RunningGpus(int budget, bool reserve) const;
  // What a Job's pods request of cpu and memory (its GPUs' share of a node, or one GPU's for a
  // CPU-only Job, as JobRate prices them), and the sum over a budget's running Jobs.
  engine::CpuMemory RequestsOf(const Job& job) const;
  engine::CpuMemory RunningRequests(int budget) const;
  // Adds the idle capacity the budget pays for to `burn` (idle, and wholly idle nodes).
  void AddIdleOf(int budget, engine::BudgetBurn& burn) const;
  engine::BudgetStep StepOf(const Budget& b, int budget, int64_t now_s) const;
  // The budget's pools as engine::GpuHourPrice sees them (b.pools is sorted cheapest first).
  std::vector<engine::PoolPrice> PoolPricesOf(const Budget& b) const;
  DecisionTrace TraceOf(Budget& b, int budget, const engine::BudgetStep& step);
  // Suspends the budget's running work (regular or on the reserve) that engine::ChooseDrained
  // picks so that what runs fits `keep`.
  void DrainTo(int budget, const engine::KeepRunning& keep, bool reserve, int64_t now_s);
  // The pools where the budget pays for nodes (owned_nodes) as engine::OwnedBins appended to
  // `bins`; returns each pool's bin index (-1: none).
  std::vector<int> OwnedBins(int budget, std::vector<engine::OwnedBin>& bins) const;

  const Scenario& scenario_;
  const SimOptions& options_;
  std::vector<Job> jobs_;
  bool any_max_cost_ = false;  // some Job has its own cap: StopAtCaps has work to do
  std::vector<Budget> budgets_;
  std::vector<Pool> pools_;
  std::vector<int> unbudgeted_pools_;
  AdmissionQueue unbudgeted_pending_;
  engine::JobLengths unbudgeted_lengths_;  // none: unbudgeted work is admitted FIFO
  std::vector<size_t> running_;            // indices of running jobs
  size_t next_arrival_ = 0;
  size_t next_drift_ = 0;
  std::vector<size_t> arrival_order_;
  Money unbudgeted_spent_;
  int64_t unschedulable_ = 0;
  int64_t step_s_ = 60;
  int64_t end_s_ = 0;
  int64_t chart_every_s_ = 60;
  int64_t next_chart_s_ = 0;
};

}  // namespace bursar::sim::internal
