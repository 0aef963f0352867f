#pragma once

// BudgetLoop: the operator's metering and enforcement loop. Each pass gathers a Snapshot from
// the watch caches (and, when configured, GPU utilisation from Prometheus and cpu/memory usage
// from metrics.k8s.io), runs the BudgetPlanner, and — on the leader only — applies the Plan.
// Every replica publishes budgets to the Budgets API board and exports the bursar_* metrics, so
// read APIs work on followers too (from the status the leader wrote).
//
// Timing: a pass runs every `tick`, and sooner (at most every `min_interval`) when a watched
// object changed in a way that matters (a pod started or ended, a budget, pool or price book
// changed), so status follows a pod start within about min_interval rather than a whole tick.
// Metering does not depend on the timing: the ledger charges intervals from pod timestamps.
// On gaining leadership the planner starts afresh, restoring every ledger from status, so a
// new leader never trusts memory that another replica's writes have overtaken.
// Thread-safe: Trigger() may be called from any thread; Run() from one.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/plan_applier.h"
#include "controllers/signals/budgets_service.h"
#include "controllers/signals/drift_inbox.h"
#include "controllers/signals/pod_metrics.h"
#include "controllers/signals/prometheus.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/log.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"

namespace bursar::reconcilers {

struct BudgetLoopCaches {
  const runtime::PodStore* pods = nullptr;
  const runtime::ObjectStore* nodes = nullptr;
  const runtime::ObjectStore* jobs = nullptr;
  const runtime::ObjectStore* namespaces = nullptr;
  const runtime::ObjectStore* budgets = nullptr;
  const runtime::ObjectStore* pools = nullptr;
  const runtime::ObjectStore* price_books = nullptr;
  const runtime::ObjectStore* owned_quotas = nullptr;  // managed-by=bursar ResourceQuotas
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

struct BudgetLoopOptions {
  absl::Duration tick = absl::Seconds(15);
  absl::Duration min_interval = absl::Seconds(1);
  absl::Duration lookahead = absl::Seconds(30);
};

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

  // Passes until `stop` is notified.
  void Run(runtime::Wakeup* stop);

  // Asks for a pass soon (within min_interval). Any thread.
  void Trigger();

  // Wires store change callbacks to Trigger() (pods: start/end only; our kinds: any change).
  void WatchForChanges(runtime::PodStore& pods, runtime::ObjectStore& budgets,
                       runtime::ObjectStore& pools, runtime::ObjectStore& price_books,
                       runtime::ObjectStore& jobs);

  // Snapshot building, exposed for tests.
  Snapshot Gather(absl::Time now);

 private:
  struct Metrics;
  BudgetLoop(BudgetLoopCaches caches, PlanApplier* applier, std::function<bool()> is_leader,
             signals::DriftInbox* drift, signals::BudgetBoard* board, UsageSources usage,
             std::unique_ptr<Metrics> metrics, runtime::Logger* log, const runtime::Clock& clock,
             BudgetLoopOptions options);
  void Export(const Plan& plan, const Snapshot& snapshot, const ApplyReport* report);
  void Publish(const Plan* plan, const Snapshot& snapshot);

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
  runtime::Wakeup trigger_;
};

}  // namespace bursar::reconcilers
