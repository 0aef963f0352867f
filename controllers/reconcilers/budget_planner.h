#pragma once

// BudgetPlanner: one reconcile pass of every ComputeBudget, from a Snapshot to a Plan. It meters
// each pod into its budget's ledger (values::BudgetLedger), decides the rung of the enforcement
// ladder (engine::DecideBudget), and derives what the cluster should look like: quotas per
// namespace or ClusterQueue, Jobs held, drained or released, node pool sizes, and each budget's
// status. It never performs I/O; the operator applies the Plan (controllers/reconcilers/apply).
//
// State kept between passes (and why it survives a restart):
// - ledgers: restored from status.ledger / status.reserveLedger the first time a budget is
//   seen, so nothing is lost or counted twice (see ledger.h);
// - modelDrift unlocks (RetrainingGate): in memory only; a restart forgets open unlocks;
// - pool scale-down timers and drain grace timers: in memory; a restart restarts them.
// Rules the engine leaves to the planner:
// - a pod's cost: the cost model at its node's prices (the node's GPUNodePool
//   pricePerNodeHour, else the budget's PriceBook); pods are charged from status.startTime to
//   the last container's finish (or now), pods being deleted until their deletionTimestamp;
// - idle nodes of a pool are charged to the budget that grew them (Node annotation
//   bursar.dev/grown-for); idle nodes nobody grew are cluster overhead, as in the simulator;
// - a Job is held (suspended) only when it has no running pods; drained Jobs are chosen lowest
//   priority first, then newest; Bursar resumes only Jobs it suspended itself, highest priority
//   first, as long as they fit the quota.
// - DryRun budgets are metered and decided like the others; their actions are recorded in
//   recentActions with dryRun: true and never reach the Plan's actuation lists.
// Deterministic for a given sequence of snapshots. Thread-compatible.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/values/ledger.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/reconcilers/snapshot.h"

namespace bursar::reconcilers {

struct PlannerOptions {
  // How far ahead the current burn is projected (>= one metering tick; 2 ticks by default).
  absl::Duration lookahead = absl::Seconds(30);
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
};

// A ResourceQuota named "bursar-<budget>" in a namespace, owned by Bursar.
struct QuotaTarget {
  std::string namespace_name;
  std::string budget;
  int64_t gpus = 0;
};

// Kueue ClusterQueue nominalQuota for the budget's resources.
struct ClusterQueueTarget {
  std::string cluster_queue;
  std::string budget;
  std::vector<std::string> resources;
  int64_t gpus = 0;
};

struct JobChange {
  std::string namespace_name;
  std::string name;
  std::string budget;
  bool suspend = true;  // false: resume (and remove Bursar's annotations)
  std::string rung;     // "Hold", "Drain" or "Release"
  std::string message;
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
};

class BudgetPlanner {
 public:
  explicit BudgetPlanner(PlannerOptions options = {}) : options_(options) {}

  Plan Reconcile(const Snapshot& snapshot);

  // Forgets everything about budgets no longer present (called by Reconcile).
  size_t tracked_budgets() const { return budgets_.size(); }

 private:
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
  };
  struct PoolState {
    absl::Time low_since = absl::InfiniteFuture();
    std::string growing_for;
    std::set<std::string> known_nodes;
  };

  PlannerOptions options_;
  std::map<std::string, BudgetState> budgets_;
  std::map<std::string, PoolState> pools_;
  std::map<std::string, absl::Time> drain_requested_;  // "ns/job" -> first Drain decision
};

}  // namespace bursar::reconcilers
