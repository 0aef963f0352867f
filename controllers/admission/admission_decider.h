#pragma once

// The admission webhook's decisions, from the budgets as the leader published them in status
// (status.admission: holdNewWork and the allowance per quota resource), so every replica answers
// the same. Pure and deterministic; thread-compatible.
//
// - Workload CREATE (mutating), for every kind of the suspend-path table
//   (reconcilers/workload_kinds.h: batch/v1 Job, JobSet, Kubeflow PyTorchJob and TFJob, RayJob):
//   one charged to a budget that holds new work, or whose GPUs (its pod sets' pods x per-pod
//   GPUs) do not fit the budget's GPU allowance beside what its pods hold, is created suspended
//   at its kind's path (missing parents added) with the annotations of Bursar's Hold path
//   (held-by, held-for: Hold) plus held-reason, so the planner's Release resumes it when the
//   budget allows.
//   Jobs already suspended, and Jobs Kueue queues (label kueue.x-k8s.io/queue-name), are left as
//   they are. A Job that declares its length (bursar.dev/expected-duration) is priced at the
//   budget's published gpuHourPrice (engine::CheckAffordable): one whose expected cost passes its
//   own cap (bursar.dev/max-cost, bursar.dev/max-gpu-hours) is refused, since no wait makes it
//   fit; one whose cost in this period passes the budget's moneyLeft is created suspended. A Job
//   whose Bursar annotations do not parse is refused with the annotation's name.
// - Pod CREATE (validating): a pod not controlled by a Job, charged to a budget in Webhook or
//   ResourceQuota mode, is refused when the budget holds new work and the pod requests a quota
//   resource, or when its request of a resource in status.admission.allowed would take the
//   budget's pods over that allowance. The message names the budget, its phase and what to do.
// - Retraining work of a model whose reserve a modelDrift signal unlocked (the open unlocks of
//   status.retraining; engine::IsRetrainingWork) draws on the reserve, as the planner meters it: a
//   Job or pod of it is checked against the reserve's GPUs (reserveGPUs beside the GPUs the
//   budget's retraining pods of those models hold) instead of holdNewWork and allowed, and is
//   created suspended (a Job) or refused (a pod) only when it does not fit there.
// - Attribution is the planner's: engine::AttributePod (narrowest scope, then oldest).
// - DryRun budgets admit everything; the response warns what Enforce would have done.
// - A budget whose status.admission is not published yet admits everything (fail open, like the
//   webhook itself).
// Anything else (other kinds, operations, objects that do not decode) is allowed; a Pod or Job
// that does not decode is allowed with a warning saying why.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controllers/admission/admission_review.h"
#include "controllers/api/types.h"
#include "controllers/reconcilers/snapshot.h"
#include "controllers/values/labels.h"
#include "controllers/values/quantity.h"

namespace bursar::admission {

inline constexpr char kKueueQueueLabel[] = "kueue.x-k8s.io/queue-name";

// What a budget's active pods request now.
struct BudgetUsage {
  int64_t gpus = 0;
  values::Quantity cpu;
  values::Quantity memory;
  // The part of `gpus` its retraining pods hold (engine::IsRetrainingWork), by model, unlocked or
  // not, for a budget that keeps a reserve: what draws on it once a model's reserve is unlocked.
  std::map<std::string, int64_t, std::less<>> retraining_gpus;
};

// Adds `u` to `total`; subtracts it (a model's entry goes when it reaches zero).
void Add(BudgetUsage& total, const BudgetUsage& u);
void Subtract(BudgetUsage& total, const BudgetUsage& u);

// Namespace labels by namespace name, found by any string view (a pod's interned namespace)
// without building a std::string.
using NamespaceLabelMap = std::map<std::string, values::Labels, std::less<>>;

// The inputs of a decision: the budgets (status included), namespace labels, usage by budget.
struct AdmissionView {
  std::vector<api::ComputeBudget> budgets;
  NamespaceLabelMap namespaces;
  std::map<std::string, BudgetUsage> usage;  // by budget name
};

// What `pod` requests (GPUs, cpu, memory summed over its containers), ended or not, charged to
// `budget` (whose retraining labels say whether its GPUs are retraining work).
BudgetUsage UsageOf(const reconcilers::PodView& pod, const api::ComputeBudget& budget);

// Sums the requests of `pods` that have not ended into the budget each is charged to.
std::map<std::string, BudgetUsage> UsageByBudget(const std::vector<api::ComputeBudget>& budgets,
                                                 const NamespaceLabelMap& namespaces,
                                                 const reconcilers::PodList& pods);

// The response to `request` (uid echoed), at `now` (a Job's expected cost within its budget's
// period runs to the period's end; unknown `now`: its whole expected cost counts).
AdmissionResponse Decide(const AdmissionRequest& request, const AdmissionView& view,
                         absl::Time now = absl::InfinitePast());

}  // namespace bursar::admission
