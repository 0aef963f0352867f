#pragma once

// BudgetPlanner: one reconcile pass of every ComputeBudget, from a Snapshot to a Plan. It meters
// each pod into its budget's ledger (values::BudgetLedger), decides the rung of the enforcement
// ladder (engine::DecideBudget), and derives what the cluster should look like: quotas per
// namespace or ClusterQueue, Jobs held, drained or released, node pool sizes, and each budget's
// status. It never performs I/O; the operator applies the Plan (PlanApplier, plan_applier.h).
//
// A pass runs in named steps over one shared context (budget_planner.cc): index the snapshot,
// validate budgets, attribute pods, then per budget restore ledgers, observe modelDrift, meter,
// decide (engine::Decide, the step `bursar simulate` calls too) and write its status; then plan
// quotas, Jobs (hold, drain, release) and node pools. One budget's failure never stops the
// others: an exception while one budget is planned marks it not Ready (reason PlanningFailed,
// the exception's message) and freezes it like an invalid budget; its ledgers are restored from
// status on the next pass, so whatever the failed step had begun is neither lost nor kept.
//
// A status write that failed shows in the next status written: Ready False, reason
// StatusWriteFailed (NoteStatusWriteFailures).
//
// State kept between passes (and why it survives a restart):
// - ledgers: restored from status.ledger / status.reserveLedger the first time a budget is
//   seen, so nothing is lost or counted twice (see ledger.h);
// - modelDrift unlocks, cooldowns and the period's unlock count (RetrainingGate): kept in
//   status.retraining and restored at first sight, so a new leader continues them;
// - drain grace clocks: in status.drainRequests of the Job's budget, restored at first sight;
// - a pool's scale-down clock and the budget it grows for: in the GPUNodePool's status
//   (scaleDownPendingSince, growingFor), restored the first time the pool is sized.
// Rules the engine leaves to the planner:
// - a pod's cost: the cost model at its node's prices (the node's GPUNodePool
//   pricePerNodeHour, else the budget's PriceBook); pods are charged from status.startTime to
//   the last container's finish (or now), pods being deleted until their deletionTimestamp;
// - the idle part of a pool's nodes is charged to the budget that grew them (Node annotation
//   bursar.dev/grown-for): a wholly idle node at its price, the GPUs no pod holds on a busy one
//   at their share of it; idle nodes nobody grew, and the nodes up to the pool's minNodes, are
//   cluster overhead, as in the simulator;
// - a Job is held (suspended) only when it has no running pods; drained Jobs are chosen by
//   engine::ChooseDrained (lowest priority first, then the most recently started run); Bursar
//   resumes only Jobs it suspended itself, highest priority first, as long as they fit the
//   quota.
// - DryRun budgets are metered and decided like the others; their actions are recorded in
//   recentActions with dryRun: true and never reach the Plan's actuation lists.
// Deterministic for a given sequence of snapshots. Thread-compatible.

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/drain_order.h"
#include "controllers/engine/job_lengths.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/reconcilers/snapshot.h"
#include "controllers/values/ledger.h"

namespace bursar::reconcilers {

struct PlannerOptions {
  // How far ahead the current burn is projected: two ticks of the default 15 s tick (longer
  // when passes run further apart than that, see LookaheadAt).
  absl::Duration lookahead = engine::LookaheadFor(absl::Seconds(15));
  // Test hook, unset in production: called with each valid budget as its planning step begins.
  // A test throws from it to stand for a library that throws while one budget is planned
  // (nothing in the planner throws on its own inputs, so no snapshot can provoke it).
  std::function<void(const api::ComputeBudget&)> before_planning_budget = nullptr;
};

// An Event on the ComputeBudget.
struct EventNote {
  bool warning = false;
  std::string reason;
  std::string message;
};

struct BudgetOutcome {
  std::string name;
  api::ComputeBudgetStatus status;
  engine::BudgetDecision decision;
  bool valid = true;  // false: the budget cannot be honoured (see the Ready condition)
  bool dry_run = false;
  std::vector<EventNote> events;
  std::vector<api::ActionRecord> new_actions;  // taken this pass (also in status.recentActions)
  double gpu_utilization = -1;  // GPU-weighted mean of its running pods; -1 when unknown
  int64_t running_gpus = 0;
  // The ledger dropped the account of a pod that ended or went away this pass: the checkpoint
  // in status is written at once, not coalesced (PlanApplier), so a restart never depends on
  // a pod that may be deleted before it.
  bool accounts_closed = false;
};

// A ResourceQuota named "bursar-<budget>" in a namespace, owned by Bursar: requests of
// nvidia.com/gpu, and of cpu and memory when the budget lists them in spec.quota.resources.
struct QuotaTarget {
  std::string namespace_name;
  std::string budget;
  int64_t gpus = 0;
  std::optional<values::Quantity> cpu;
  std::optional<values::Quantity> memory;
};

// Kueue ClusterQueue nominalQuota for the budget's resources.
struct ClusterQueueTarget {
  std::string cluster_queue;
  std::string budget;
  // What all of the queue's flavors together may admit, by resource: nvidia.com/gpu the budget's
  // GPU quota; cpu and memory their allowances (status.admission) when spec.quota.resources lists
  // them on a money budget. A resource not here is left alone.
  std::map<std::string, values::Quantity> allowances;
  bool hold = false;  // the budget holds new work: the queue's stopPolicy is Hold
};

// The rung of the ladder a Job change carries out.
// kCap: a Job stopped at its own cap (bursar.dev/max-cost, bursar.dev/max-gpu-hours).
enum class JobRung { kHold, kDrain, kRelease, kCap };
const char* Name(JobRung rung);  // "Hold", "Drain", "Release", "Cap"

struct JobChange {
  std::string namespace_name;
  std::string name;
  std::string budget;
  bool suspend = true;  // false: resume (and remove Bursar's annotations)
  JobRung rung = JobRung::kHold;
  std::string message;
  const SuspendPath* kind = nullptr;  // JobView::kind: nullptr for a batch/v1 Job
};

struct PoolChange {
  std::string pool;
  int current = 0;
  int desired = 0;
  std::vector<std::string> remove;  // nodes to delete when shrinking (idle ones)
  std::string reason;
  std::string grown_for;  // budget whose demand grows the pool
};

struct NodeOwnership {
  std::string node;
  std::string budget;
};

struct PoolOutcome {
  std::string name;
  api::GPUNodePoolStatus status;
  std::vector<std::string> errors;
};

struct Plan {
  std::vector<BudgetOutcome> budgets;
  std::vector<QuotaTarget> quotas;  // every quota that should exist; others Bursar owns go
  std::vector<ClusterQueueTarget> cluster_queues;
  std::vector<JobChange> jobs;
  std::vector<PoolChange> pool_changes;
  std::vector<NodeOwnership> node_owners;  // grown nodes not yet annotated
  std::vector<PoolOutcome> pools;
  // Budgets that cannot be honoured right now: what Bursar owns for them stays as it is.
  std::vector<std::string> frozen_budgets;
  // A running pod started less than a second before this pass, so it was charged nothing yet
  // (pods are charged in whole seconds) and its budget's status does not list it. The loop
  // runs the next pass at min_interval instead of at the tick, so that a pod start reaches the
  // status within about a second whatever second it started in.
  bool uncharged_starts = false;
};

class BudgetPlanner {
 public:
  explicit BudgetPlanner(PlannerOptions options = {}) : options_(options) {}

  Plan Reconcile(const Snapshot& snapshot);

  // The budgets whose status write failed when the last Plan was applied (name -> what the API
  // server said), at `when`; every other budget's write succeeded or was not needed. The next
  // status of a failed budget has Ready False, reason StatusWriteFailed, so that the status
  // that could not be written is never read as healthy; the one after is Ready again.
  void NoteStatusWriteFailures(const std::map<std::string, std::string>& failures, absl::Time when);

  // How many budgets the planner keeps state for (Reconcile forgets budgets no longer present).
  size_t tracked_budgets() const { return budgets_.size(); }

 private:
  struct Pass;        // one Reconcile's shared context (budget_planner.cc)
  struct BudgetWork;  // one budget within a pass
  struct JobCandidate;
  struct BudgetState {
    std::string uid;
    std::optional<values::BudgetLedger> ledger;
    std::optional<values::BudgetLedger> reserve_ledger;
    engine::RetrainingGate gate;
    api::LadderAction last_rung = api::LadderAction::kNone;
    bool seen_rung = false;
    std::vector<api::ActionRecord> recent_actions;
    std::vector<api::Condition> conditions;
    std::map<std::string, absl::Time> idle_since;  // node -> last instant its idle time was charged
    // DryRun: Jobs already recorded as held or drained while the budget stays at Hold or above,
    // so that a decision re-taken every pass is recorded once.
    std::set<std::string> dry_run_jobs;
    // How long its pods ran (commitments across the period boundary, admission order), kept in
    // status.jobLengths, and the finished pods already learned from (pods still listed; bounded
    // by the pods in the snapshot). Pods that ended by restored_until were learned before a
    // restart.
    engine::JobLengths lengths;
    absl::flat_hash_set<values::Uid> learned_pods;
    // What each capped Job has cost over its life (status.jobs), by "ns/name"; restored with the
    // ledgers, so the two always continue from the same checkpoint.
    std::map<std::string, api::JobSpend> job_spend;
    // Jobs whose bad Bursar annotation was announced ("ns/job: error"), while it stands.
    std::set<std::string> warned_jobs;
    absl::Time restored_until = absl::InfinitePast();
    // The last status write failed (NoteStatusWriteFailures): since when, and why.
    std::optional<std::pair<absl::Time, std::string>> status_write_failed;
  };
  struct PoolState {
    absl::Time low_since = absl::InfiniteFuture();
    std::string growing_for;
    absl::flat_hash_set<std::string> known_nodes;
  };

  // The steps of a pass, in order.
  void ValidateBudgets(Pass& pass);
  void ForgetRemovedBudgets(const Pass& pass);
  static void AttributePods(Pass& pass);
  void PlanBudget(Pass& pass, BudgetWork& w);
  void FreezeFailedBudget(Pass& pass, BudgetWork& w, size_t outcome, std::string what);
  static void LearnJobLengths(const BudgetWork& w, BudgetState& st);
  static void PlanQuotas(Pass& pass);
  void PlanJobs(Pass& pass);
  void AttachRecentActions(Pass& pass);
  void AttachDrainRequests(Pass& pass) const;
  void PlanPools(Pass& pass);
  // Parts of PlanBudget.
  BudgetState& BeginOutcome(Pass& pass, BudgetWork& w);
  static void MarkInvalid(const BudgetWork& w, BudgetState& st, absl::Time now, BudgetOutcome& out);
  static void RestoreLedgers(const api::ComputeBudget& b, absl::Time now,
                             const values::Period& current, BudgetState& st, BudgetOutcome& out);
  static void RestoreJobLengths(const api::ComputeBudget& b, BudgetState& st, BudgetOutcome& out);
  struct Metering;
  Metering MeterBudget(Pass& pass, BudgetWork& w, const values::Period& current, BudgetState& st);
  static void EndGonePods(const BudgetWork& w, size_t running_charged,
                          const std::deque<values::Uid>& node_uids,
                          const values::BudgetLedger& ledger, std::vector<std::string>& ended);
  static api::JobSpend* JobSpendOf(const Pass& pass, const PodView& pod, BudgetState& st);
  static void ObserveDrift(const Pass& pass, const BudgetWork& w, const values::Period& current,
                           BudgetState& st, BudgetOutcome& out);
  static void RecordTransitions(const BudgetWork& w, const engine::BudgetDecision& d,
                                absl::Time now, const std::string& ended_summary, BudgetState& st,
                                BudgetOutcome& out);
  static api::AdmissionAllowance AdmissionOf(const BudgetWork& w, const engine::BudgetStep& step);
  static void WriteStatus(const BudgetWork& w, const engine::BudgetStep& step, BudgetState& st,
                          BudgetOutcome& out);
  // Parts of PlanJobs.
  void WarnOfBadAnnotation(Pass& pass, const BudgetWork& w, const JobView& job,
                           std::set<std::string>& warned);
  enum class CapOutcome { kRuns, kInGrace, kStop };
  CapOutcome StopAtCap(Pass& pass, BudgetWork& w, const JobView& job,
                       std::set<std::string>& draining_jobs, std::string* why);
  bool Releasable(const Pass& pass, const BudgetWork& w, const JobView& job,
                  std::optional<values::Money>* money_left) const;
  void PlanBudgetJobs(Pass& pass, BudgetWork& w, std::vector<JobCandidate>& candidates,
                      std::set<std::string>& draining_jobs);
  // The nodes a budget grew as Drain's engine::OwnedBins, and which bin a Job's GPUs are in.
  struct OwnedNodeBins {
    std::vector<engine::OwnedBin> bins;
    absl::flat_hash_map<const NodeView*, int> bin_of;
    int BinOf(absl::Span<const NodeView* const> nodes) const;  // -1: on none
  };
  static OwnedNodeBins OwnedBinsOf(Pass& pass, const BudgetWork& w,
                                   const std::vector<JobCandidate>& running);
  // Parts of PlanPools.
  struct PoolDemand;
  static PoolDemand DemandFor(const Pass& pass, const api::GPUNodePool& pool,
                              const std::vector<const NodeView*>& members);
  void PlanPool(Pass& pass, const api::GPUNodePool& pool);

  // The projection for this pass: options_.lookahead, or two of the intervals the passes really
  // run at when that is longer (a loaded machine, a slow API server), at most kMaxLookahead: a
  // decision must hold until the one after it takes effect.
  absl::Duration LookaheadAt(absl::Time now) const;
  static constexpr absl::Duration kMaxLookahead = absl::Minutes(5);

  PlannerOptions options_;
  absl::Time last_pass_ = absl::InfinitePast();
  absl::Duration lookahead_ = absl::ZeroDuration();  // LookaheadAt this pass
  std::map<std::string, BudgetState> budgets_;
  std::map<std::string, PoolState> pools_;
  struct DrainClock {
    absl::Time since;  // the first Drain decision
    std::string budget;
  };
  std::map<std::string, DrainClock> drain_requested_;  // by "ns/job"
};

}  // namespace bursar::reconcilers
