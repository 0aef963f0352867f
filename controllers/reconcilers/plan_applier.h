#pragma once

// PlanApplier: writes a BudgetPlanner Plan to the cluster, leader only. Every write is
// level-based and skipped when the cluster already says the same (the last status written, the
// cached ResourceQuota), so a quiet cluster costs no API calls:
// - ComputeBudget and GPUNodePool status through /status with server-side apply (field manager
//   "bursar", forced: status is ours alone);
// - ResourceQuota "bursar-<budget>" per namespace: server-side apply of exactly the fields Bursar
//   manages (labels, owner reference to the budget, spec.hard[requests.nvidia.com/gpu]); owned
//   quotas that the plan no longer wants are deleted, except those of frozen budgets;
// - Kueue ClusterQueue: a JSON patch of the flavors' nominalQuota (and borrowingLimit) that
//   caps what all flavors together admit at the allowance (cluster_queue_quota.h);
// - Jobs: spec.suspend and Bursar's held-by annotations (merge patch);
// - node pools through their provider, and the grown-for annotation on new Nodes;
// - Events on the budgets and Jobs acted on;
// - the Ready condition of every GPUNodePool and PriceBook, and of any object of our kinds that
//   did not decode (object_status.h), written when it changes; each new False is announced by
//   one Warning Event on the object. An undecodable object gets a merge patch of its
//   status.conditions only (a server-side apply of a partial status would drop the rest, such
//   as a budget's ledger). A pool's provider is asked (Observe) when its spec generation is new
//   and, while it fails, every kProviderRecheck, on the probes' own thread (provider_probes.h):
//   a pass uses the last answer it has and never waits for a provider; a resize's result counts
//   as an answer too.
// A failed write is reported and the rest of the plan still applied: one bad object never
// stops the others. A ComputeBudget status write that fails is never silent: it is in the
// report's status_failures (the planner turns Ready False at the next write, the loop counts it
// in bursar_status_write_failures_total), a Warning Event StatusWriteFailed goes to the budget,
// and a small write of the Ready condition alone (field manager "bursar-status-fallback") marks
// the stored status as stale at once when only the full status is refused (422: too large,
// too many items), so `kubectl get computebudgets` never shows a stale Spent as Ready.
// Status write policy (issue 11): spend moves every pass, so a ComputeBudget status that differs
// from the last one written only in spend (spent, gpuHours, burnRate, forecast, remaining,
// exhaustsAt, the ledger checkpoints' totals and instants, condition messages, capped Jobs'
// running totals in status.jobs, admission.moneyLeft) is written at
// most every PlanApplierOptions::status_interval; a change of anything else (phase, a
// condition's status or reason, recentActions, allowedGPUs, admission, the period, retraining,
// drain requests, the observed generation, the pods a checkpoint lists), a pod's ledger
// account closing (BudgetOutcome::accounts_closed) or a failed last write is written at once. API
// writes per pass are then proportional to the budgets whose decisions changed, not to the number
// of budgets. The checkpoint in status is then up to one interval old: a restarted operator
// re-charges from it, exactly, every pod still listed (ledger.h); docs/operations.md describes the
// trade-off.
// Fencing: a ComputeBudget status write carries, as its precondition, the resourceVersion of the
// budget as this process last wrote it (else as its cache has it), so a write computed by a
// replica whose view is older than the stored status (a deposed leader, a write held up in a
// half-open connection) is refused (409) instead of replacing a newer checkpoint. A refusal is
// quiet: the next pass writes again from the cache's version (a spec edit between two writes
// also costs one); kMaxQuietConflicts in a row are reported like any failed write.
// Thread-compatible (one reconcile loop).

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "controllers/providers/node_pool_provider.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/object_status.h"
#include "controllers/reconcilers/provider_probes.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/runtime/event_recorder.h"

namespace bursar::reconcilers {

inline constexpr char kFieldManager[] = "bursar";
// Owns only the Ready condition written when the full status write failed; the next full write
// (kFieldManager, forced) takes it back.
inline constexpr char kStatusFallbackFieldManager[] = "bursar-status-fallback";
// Reason of the Ready=False condition and of the Warning Event when a status write failed.
inline constexpr char kStatusWriteFailedReason[] = "StatusWriteFailed";

// The GPU resource name a ResourceQuota limits (extended resources take requests. only).
inline constexpr char kQuotaGpuResource[] = "requests.nvidia.com/gpu";
inline constexpr char kQuotaCpuResource[] = "requests.cpu";
inline constexpr char kQuotaMemoryResource[] = "requests.memory";

// How often a ComputeBudget status whose spend alone moved is written (run --status-interval).
inline constexpr absl::Duration kDefaultStatusInterval = absl::Seconds(30);

// Refused status writes of one budget (409: the stored status moved on) that stay quiet before
// they are reported as a failed write.
inline constexpr int kMaxQuietConflicts = 3;

// How often a pool whose provider failed is asked again when no resize asks it.
inline constexpr absl::Duration kProviderRecheck = absl::Minutes(5);

// Finds the provider of a pool (nullptr with a reason when there is none).
using ProviderLookup =
    std::function<providers::NodePoolProvider*(const api::GPUNodePool& pool, std::string* why)>;

struct ApplyReport {
  int writes = 0;
  // ComputeBudget statuses whose spend alone changed and that were not written this pass.
  int coalesced = 0;
  // ComputeBudget status writes refused because the stored status had moved on (fencing above).
  int conflicts = 0;
  std::vector<std::string> errors;     // "<kind>/<name>: <what failed>"
  std::map<std::string, int> actions;  // by action ("Hold", "Drain", "Release", "ScalePool", ...)
  // ComputeBudgets whose status write failed: name -> what the API server said.
  std::map<std::string, std::string> status_failures;
};

struct PlanApplierOptions {
  // Spend-only status changes of a ComputeBudget are written at most this often (see above);
  // zero writes every change at once.
  absl::Duration status_interval = kDefaultStatusInterval;
};

class PlanApplier {
 public:
  // `providers` is also called from the probes' own thread: it must be thread-safe.
  PlanApplier(const kube::ApiClient& client, runtime::EventRecorder& events,
              ProviderLookup providers, PlanApplierOptions options = {});

  // `owned_quotas`: the ResourceQuotas labelled managed-by=bursar, as cached.
  ApplyReport Apply(const Plan& plan, const Snapshot& snapshot,
                    const std::vector<json::Value>& owned_quotas);

  // Forgets the statuses written and what providers said (after losing and regaining
  // leadership: write and ask again).
  void Reset() {
    written_.clear();
    budget_writes_.clear();
    status_versions_.clear();
    providers_seen_.clear();
    announced_.clear();
    probes_.Forget();
  }

 private:
  // The error of a failed write (OK when written, skipped as unchanged, or the object is gone).
  // With a `precondition` resourceVersion, a refusal because the object moved on is returned
  // (kube::IsConflict) but not reported; `*written_version` gets the version written.
  absl::Status ApplyStatus(const kube::ResourceType& type, const std::string& name,
                           json::Value status, ApplyReport& report,
                           const std::string& precondition = "",
                           std::string* written_version = nullptr);
  // Whether a budget's status is written this pass (the write policy above).
  // `status`: the outcome's status as it will be written (conditions merged).
  bool StatusDue(const BudgetOutcome& outcome, const api::ComputeBudgetStatus& status,
                 absl::Time now) const;
  // The status with its spend-only fields cleared: what must be written at once when it changes.
  static std::string DecisionPart(const api::ComputeBudgetStatus& status);
  void ApplyBudgetStatus(const BudgetOutcome& outcome, const api::ComputeBudgetStatus& status,
                         const api::ComputeBudget& budget, absl::Time now, ApplyReport& report);
  void ReportBudgetStatusFailure(const api::ComputeBudget& budget,
                                 const api::ComputeBudgetStatus& status, const absl::Status& error,
                                 absl::Time now, ApplyReport& report);
  void ApplyQuotas(const Plan& plan, const Snapshot& snapshot,
                   const std::vector<json::Value>& owned, ApplyReport& report);
  // Returns false when the ClusterQueue does not exist (the budget's Ready says so).
  bool ApplyClusterQueue(const ClusterQueueTarget& target, ApplyReport& report);
  // Asks the pool's provider (Observe) whether it answers; on the probes' thread.
  ProviderHealth Probe(const api::GPUNodePool& pool) const;
  // The provider's health for the pool's Ready condition (see the file comment).
  // nullopt: asked, not answered yet.
  std::optional<ProviderHealth> ProviderHealthOf(
      const api::GPUNodePool& pool, absl::Time now,
      const std::map<std::string, ProviderHealth>& resized);
  // Conditions of objects that did not decode: a merge patch of status.conditions.
  void ApplyRejected(const Snapshot& snapshot, ApplyReport& report);
  // One Warning Event for a new False Ready condition.
  void Announce(const kube::ResourceType& type, const ConditionUpdate& update);

  const kube::ApiClient& client_;
  runtime::EventRecorder& events_;
  ProviderLookup providers_;
  std::map<std::string, std::string> written_;  // "<plural>/<name>" -> status JSON last applied
  PlanApplierOptions options_;
  struct BudgetWrite {
    std::string decision_part;  // DecisionPart of the status last written
    absl::Time at;
  };
  std::map<std::string, BudgetWrite> budget_writes_;  // by ComputeBudget name
  struct StatusVersion {
    std::string written;  // the resourceVersion our last status write left ("" after a refusal)
    int conflicts = 0;    // refusals in a row
  };
  std::map<std::string, StatusVersion> status_versions_;  // by ComputeBudget name
  struct ProviderSeen {
    int64_t generation = -1;
    absl::Time asked = absl::InfinitePast();
    std::optional<ProviderHealth> health;  // nullopt until the first answer
  };
  std::map<std::string, ProviderSeen> providers_seen_;  // by pool name
  // "<kind>/<name>" -> the False Ready condition last announced ("reason: message"), so that a
  // status write the cache has not caught up with yet is not announced twice.
  std::map<std::string, std::string> announced_;
  ProviderProbes probes_;  // last: its thread calls providers_, and stops first
};

// The server-side-apply body of a quota (exposed for tests).
json::Value QuotaObject(const QuotaTarget& target, const std::string& budget_uid);

}  // namespace bursar::reconcilers
