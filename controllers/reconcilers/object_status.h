#pragma once

// Object status: the Ready condition of every GPUNodePool and PriceBook, and of any object of
// our kinds that Bursar cannot decode (ComputeBudgets included), so that each object either
// works or says why. Pure: PlanApplier writes a condition only when it changed and announces a
// new False once, with one Warning Event (plan_applier.h). A ComputeBudget that decodes gets its
// Ready condition from the planner (budget_planner.h), unless what it writes to is missing
// (BudgetReady).
// Pitfall: a message must not change from pass to pass while nothing changed (no counts or
// times in it), or every pass would write the status again.
// Thread-compatible.

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/reconcilers/snapshot.h"

namespace bursar::reconcilers {

inline constexpr char kReadyCondition[] = "Ready";

// What was last learnt of a pool's provider (a resize, or a probe on a spec change); empty
// reason: it answered, or it was never asked.
struct ProviderHealth {
  std::string reason;  // "ProviderUnavailable", or "ProviderTargetNotFound" for a 404
  std::string message;
  bool operator==(const ProviderHealth&) const = default;
};

// One object's conditions after this pass.
struct ConditionUpdate {
  std::string kind;  // "ComputeBudget", "GPUNodePool" or "PriceBook"
  std::string name;
  std::string uid;
  api::Condition ready;
  std::vector<api::Condition> conditions;  // the stored conditions with `ready` set
  // Ready differs from the stored one in status, reason, message or observedGeneration.
  bool changed = false;
  // Changed and False: announce it with one Warning Event (reason and message of `ready`).
  bool announce = false;
};

// Ready=False for an object that did not decode: reason InvalidSpec (or InvalidObject when the
// error is not in its spec), the decoder's message.
ConditionUpdate RejectedReady(const RejectedObject& object, absl::Time now);

// Ready=True (reason Valid) for a PriceBook that decoded: every price fits (crd_patterns.h).
ConditionUpdate PriceBookReady(const api::PriceBook& book, absl::Time now);

// A pool's Ready condition, from the first problem found:
// - an empty nodeSelector on a pool whose provider does not name its nodes (every provider but
//   Kwok): it would claim every node in the cluster, other pools' included (NodeSelectorMissing);
// - a node it matches is also matched by another pool (NodesOverlap, naming both; a node counts
//   for the first pool only, so sizes and idle charges would be wrong): False on both pools;
// - no pricePerNodeHour and its PriceBook is missing (PriceBookNotFound) or does not decode
//   (PriceBookInvalid, with the PriceBook's error): False;
// - its provider has not answered yet (`provider` is nullopt): the stored conditions unchanged;
// - its provider failed (`provider`): False with that reason and message;
// - else True (reason Ready).
// A ComputeBudget's conditions as the planner set them (`planned`), unless the ClusterQueue its
// quota names (Kueue mode) does not exist (`missing_cluster_queue` not empty): then Ready=False,
// reason ClusterQueueNotFound, naming it, over a planner's Ready=True (a planner's own False
// stays). `changed` and `announce` compare with the stored status, and a Ready that changed
// status since the stored one gets lastTransitionTime `now` (the planner's own clock does not
// know of this condition).
ConditionUpdate BudgetReady(const api::ComputeBudget& budget, std::vector<api::Condition> planned,
                            const std::string& missing_cluster_queue, absl::Time now);

ConditionUpdate PoolReady(const api::GPUNodePool& pool, const Snapshot& snap,
                          const std::optional<ProviderHealth>& provider, absl::Time now);

}  // namespace bursar::reconcilers
