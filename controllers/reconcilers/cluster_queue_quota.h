#pragma once

// ClusterQueueQuotaPatch: the JSON patch that makes a Kueue ClusterQueue admit no more of a
// budget's resources than its allowance, whatever flavors the queue lists (checked against
// Kueue v0.17.0, kueue.x-k8s.io/v1beta2).
//
// Kueue admits a workload into the first flavor, in the queue's order, with room for it, and a
// queue in a cohort may also borrow other queues' unused quota. So Bursar writes every flavor of
// each resource it has an allowance for (ClusterQueueTarget::allowances: the GPU quota, and the
// cpu and memory allowances of a money budget that lists them):
// - the allowance is what all flavors together may hold, handed out in the queue's flavor order,
//   each flavor up to its capacity (quantities compared by value: "64" is "64000m");
// - a flavor's capacity is the nominalQuota the queue had before Bursar first wrote it, recorded
//   once in the annotation bursar.dev/flavor-quotas (JSON: {"<flavor>/<resource>": "<quantity>"});
//   to change a flavor's capacity later, edit the annotation;
// - what the flavors hold (status flavorsReservation, or flavorsUsage when larger) is counted
//   first, in order: a flavor holding more than the allowance leaves it gets a quota below what it
//   holds (Kueue does not evict for that, but would refill a freed GPU at once);
// - a queue in a cohort gets borrowingLimit 0 for the budget's resources: borrowed GPUs would be
//   charged to the budget too;
// - while the budget holds new work, the queue's stopPolicy is Hold (Kueue admits nothing, the
//   admitted keep running), marked with bursar.dev/held-by; Bursar sets it back to None only
//   where it set it. Prices do not enter here: the planner priced the allowances (docs/concepts.md,
//   "Kueue ClusterQueues").
// Pitfall: Bursar reads v1beta2 (served since Kueue v0.15, stored since v0.16); on v1beta1 a write
// without Kueue's conversion webhook prunes `cohortName` (v1beta1 calls it `cohort`).

#include <optional>

#include "absl/status/statusor.h"
#include "controllers/reconcilers/budget_planner.h"
#include "operator/json/json.h"

namespace bursar::reconcilers {

inline constexpr char kFlavorQuotasAnnotation[] = "bursar.dev/flavor-quotas";

// The JSON patch (an array of operations; each written entry guarded by a `test` of its name, so
// a concurrent reordering fails instead of writing the wrong entry), or nullopt when the queue
// already says what the budget wants. An error when the queue lists none of the budget's
// resources or a quantity does not parse.
absl::StatusOr<std::optional<json::Value>> ClusterQueueQuotaPatch(const json::Value& cluster_queue,
                                                                  const ClusterQueueTarget& target);

}  // namespace bursar::reconcilers
