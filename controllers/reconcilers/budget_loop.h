#pragma once

// BudgetLoop: the operator's metering and enforcement loop. Each pass gathers a Snapshot from
// the watch caches (and, when configured, GPU utilisation from Prometheus and cpu/memory usage
// from metrics.k8s.io), runs the BudgetPlanner, and — on the leader only — applies the Plan.
// Every replica publishes budgets to the Budgets API board and exports the bursar_* metrics, so
// read APIs work on followers too (from the status the leader wrote).
//
// Drive: the loop is the reconciler of a runtime::Controller (one worker, one key,
// kBudgetLoopKey), which waits until every cache has synced before the first pass. A pass
// requeues the key after `tick`; a watched change that matters (a pod started, ended or was
// scheduled, a Job created or deleted, the spec of a budget, pool or price book changed) adds
// it sooner, but never sooner than `min_interval` (500 ms) after the last pass started, nor
// than twice what that pass took to decide (TriggeredDue), so status follows a pod start
// within about min_interval plus a pass rather than a whole tick (a pass in the very second a
// pod started charges it nothing, and asks for one more: Plan::uncharged_starts). A tick requeue
// that a triggered pass has overtaken runs no pass: passes come `tick` after the last one, as
// before. Metering does not depend on the timing: the ledger charges intervals from pod timestamps.
// On gaining leadership the planner starts afresh, restoring every ledger from status, so a
// new leader never trusts memory that another replica's writes have overtaken.
// A pass that throws is logged by the controller and retried at the next tick.
// Liveness: LivenessProblem() says when no pass has completed for StallTimeout() (a few ticks),
// counted from the last completed pass, or before the first one from the moment the caches
// synced (the first Reconcile call); before that it stays quiet (/readyz reports the sync).
// Followers pass too, so the rule holds on every replica. The operator serves it on /healthz;
// the wall time of the last completed pass is bursar_last_pass_timestamp_seconds.
// Thread-safe: Trigger() may be called from any thread; Run(), RunOnce() and Reconcile() from
// one at a time (the controller has one worker).

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/gather.h"
#include "controllers/reconcilers/plan_applier.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "controllers/signals/budgets_service.h"
#include "controllers/signals/drift_inbox.h"
#include "controllers/signals/pod_metrics.h"
#include "controllers/signals/prometheus.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/log.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"

namespace bursar::reconcilers {

// The Node cache holds each Node as the NodeView the planner reads (NodeViewOf, applied when
// the watch delivers it), not as its JSON: 2,000 kwok nodes as JSON trees took 13 MiB more
// (make bench-scale, RSS with no pods), and every pass re-read every tree.
using NodeStore = runtime::Store<NodeView, json::Value>;
// The same of Jobs and the other workload kinds: a Job's JSON carries its whole pod template,
// and a big cluster has a Job for every few pods. Projected by JobViewOf / WorkloadViewOf.
using JobStore = runtime::Store<JobView, json::Value>;

struct BudgetLoopCaches {
  const PodViewStore* pods = nullptr;
  const NodeStore* nodes = nullptr;
  const JobStore* jobs = nullptr;
  const runtime::ObjectStore* namespaces = nullptr;
  const runtime::ObjectStore* budgets = nullptr;
  const runtime::ObjectStore* pools = nullptr;
  const runtime::ObjectStore* price_books = nullptr;
  const runtime::ObjectStore* owned_quotas = nullptr;  // managed-by=bursar ResourceQuotas
  // Workloads of the other kinds of the suspend-path table that the cluster serves (JobSet,
  // Kubeflow, RayJob: workload_kinds.h), each with its store.
  std::vector<std::pair<const SuspendPath*, const JobStore*>> workloads;
};

struct UsageSources {
  // Mean GPU utilisation by "namespace/pod" (DCGM through Prometheus); optional.
  std::function<absl::StatusOr<absl::flat_hash_map<std::string, double>>(absl::Time now)>
      gpu_utilization;
  // A Prometheus instant query (for budgets' spec.retraining.driftQuery); optional.
  std::function<absl::StatusOr<std::vector<signals::PromSample>>(const std::string& promql,
                                                                 absl::Time now)>
      prometheus_query;
  // cpu/memory usage from metrics.k8s.io; optional.
  std::function<absl::StatusOr<std::vector<signals::PodUsage>>()> pod_usage;
};

// The one key of the loop's controller: a pass covers every budget at once.
inline constexpr char kBudgetLoopKey[] = "budgets";

// The loop is stalled when no pass has completed for this many ticks, and at least
// kMinStallTimeout (so that a short tick does not turn one slow API call into a restart).
inline constexpr int kStallTicks = 3;
inline constexpr absl::Duration kMinStallTimeout = absl::Seconds(60);

struct BudgetLoopOptions {
  absl::Duration tick = absl::Seconds(15);
  absl::Duration min_interval = absl::Milliseconds(500);
  absl::Duration lookahead = engine::LookaheadFor(absl::Seconds(15));
  // 0: StallTimeout(tick).
  absl::Duration stall_timeout = absl::ZeroDuration();
};

// max(kStallTicks × tick, kMinStallTimeout).
absl::Duration StallTimeout(absl::Duration tick);

class BudgetLoop {
 public:
  // Everything passed in must outlive the loop. `applier` may be null (never actuates);
  // `is_leader` says whether this replica may actuate now.
  static absl::StatusOr<std::unique_ptr<BudgetLoop>> Create(
      BudgetLoopCaches caches, PlanApplier* applier, std::function<bool()> is_leader,
      signals::DriftInbox* drift, signals::BudgetBoard* board, UsageSources usage,
      runtime::Registry* metrics, runtime::Logger* log, const runtime::Clock& clock,
      BudgetLoopOptions options);
  ~BudgetLoop();
  BudgetLoop(const BudgetLoop&) = delete;
  BudgetLoop& operator=(const BudgetLoop&) = delete;

  // One pass now. Returns the plan it computed (for tests and `why`).
  Plan RunOnce();

  // Runs the loop's controller until `stop` is notified: waits for the caches, then passes.
  // Returns once the pass in flight (if any) has finished. Once only.
  void Run(runtime::Wakeup* stop);

  // The controller's reconciler: one pass when one is due (see Drive above), then a requeue
  // at the next tick. Exposed for tests.
  absl::StatusOr<runtime::ReconcileResult> Reconcile(const std::string& key);

  // Asks for a pass soon (at TriggeredDue). Any thread.
  void Trigger();

  // "" while the loop is alive; else one line, e.g. "no reconcile pass completed for 3m12s
  // (tick 15s)". See Liveness above. Any thread.
  std::string LivenessProblem() const;

  // Wires store change callbacks to Trigger() (pods: start/end only; our kinds: any change).
  void WatchForChanges(PodViewStore& pods, runtime::ObjectStore& budgets,
                       runtime::ObjectStore& pools, runtime::ObjectStore& price_books,
                       JobStore& jobs);

  // Snapshot building, exposed for tests.
  Snapshot Gather(absl::Time now);

  // The controller that drives the loop (its queue holds kBudgetLoopKey).
  runtime::Controller& controller() { return *controller_; }

 private:
  struct Metrics;
  BudgetLoop(BudgetLoopCaches caches, PlanApplier* applier, std::function<bool()> is_leader,
             signals::DriftInbox* drift, signals::BudgetBoard* board, UsageSources usage,
             std::unique_ptr<Metrics> metrics, runtime::Logger* log, const runtime::Clock& clock,
             BudgetLoopOptions options);
  void Export(const Plan& plan, const Snapshot& snapshot, const ApplyReport* report);
  void Publish(const Plan* plan, const Snapshot& snapshot);
  void MarkCompleted();  // a pass has completed: liveness and its metric
  // When a triggered pass may start: min_interval after the last pass started, and no sooner
  // than twice what that pass took to decide, so that under constant pod churn passes take at
  // most about half a core whatever the cluster's size.
  absl::Time TriggeredDue() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  BudgetLoopCaches caches_;
  PlanApplier* applier_;
  std::function<bool()> is_leader_;
  signals::DriftInbox* drift_;
  signals::BudgetBoard* board_;
  UsageSources usage_;
  std::unique_ptr<Metrics> metrics_;
  runtime::Logger* log_;
  const runtime::Clock& clock_;
  BudgetLoopOptions options_;
  std::unique_ptr<BudgetPlanner> planner_;
  bool was_leader_ = false;
  std::vector<std::string> published_;  // budget names on the board
  std::vector<std::string> exported_;   // budget names with metrics
  bool caches_synced_logged_ = false;

  // When passes are due; Trigger() runs on watch threads, Reconcile() on the worker; and when
  // the last one completed, for LivenessProblem() on the health listener's thread.
  mutable absl::Mutex mu_;
  absl::Time synced_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic; past: not yet
  absl::Time last_completed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic; past: none
  bool triggered_ ABSL_GUARDED_BY(mu_) = false;  // a change asked for a pass since the last began
  absl::Time last_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic
  // What the last leader pass took to gather and decide (its writes not counted).
  absl::Duration last_compute_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  absl::Time next_tick_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();  // monotonic

  // Last: its worker calls Reconcile(), so it goes first on destruction.
  std::unique_ptr<runtime::Controller> controller_;
};

}  // namespace bursar::reconcilers
