#include "controllers/reconcilers/object_status.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace bursar::reconcilers {
namespace {

// Sets `wanted` as the Ready condition among `stored` and says whether it changed.
ConditionUpdate Update(std::string kind, std::string name, std::string uid,
                       const std::vector<api::Condition>& stored, api::Condition wanted) {
  ConditionUpdate out;
  out.kind = std::move(kind);
  out.name = std::move(name);
  out.uid = std::move(uid);
  out.conditions = stored;
  auto it = std::find_if(out.conditions.begin(), out.conditions.end(),
                         [](const api::Condition& c) { return c.type == kReadyCondition; });
  if (it == out.conditions.end()) {
    out.changed = true;
    out.conditions.push_back(wanted);
  } else {
    out.changed = it->status != wanted.status || it->reason != wanted.reason ||
                  it->message != wanted.message ||
                  it->observed_generation != wanted.observed_generation;
    if (it->status == wanted.status) {
      wanted.last_transition_time = it->last_transition_time;  // metav1.Condition's rule
    }
    *it = wanted;
  }
  out.ready = std::move(wanted);
  out.announce = out.changed && out.ready.status == "False";
  return out;
}

api::Condition Ready(bool ok, std::string reason, std::string message, absl::Time now,
                     int64_t generation) {
  return {.type = kReadyCondition,
          .status = ok ? "True" : "False",
          .reason = std::move(reason),
          .message = std::move(message),
          .last_transition_time = now,
          .observed_generation = generation};
}

const RejectedObject* FindRejected(const Snapshot& snap, std::string_view kind,
                                   std::string_view name) {
  for (const RejectedObject& r : snap.rejected) {
    if (r.kind == kind && r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

// The first node (by name) that `pool` and another pool both match, as a message; the message
// names the pools in name order, so that it reads the same on both.
std::optional<std::string> Overlap(const api::GPUNodePool& pool, const Snapshot& snap) {
  const NodeView* first = nullptr;
  const api::GPUNodePool* other = nullptr;
  for (const NodeView& node : snap.nodes) {
    if ((first != nullptr && node.info.name >= first->info.name) || !NodeInPool(pool, node)) {
      continue;
    }
    for (const api::GPUNodePool& p : snap.pools) {
      if (p.metadata.name != pool.metadata.name && NodeInPool(p, node)) {
        first = &node;
        other = &p;
        break;
      }
    }
  }
  if (first == nullptr) {
    return std::nullopt;
  }
  const std::string& a = std::min(pool.metadata.name, other->metadata.name);
  const std::string& b = std::max(pool.metadata.name, other->metadata.name);
  return absl::StrCat("GPUNodePools \"", a, "\" and \"", b, "\" both match node \"",
                      first->info.name,
                      "\" (spec.nodeSelector): a node must belong to one pool; make their "
                      "nodeSelectors exclusive");
}

}  // namespace

ConditionUpdate RejectedReady(const RejectedObject& object, absl::Time now) {
  // The decoder's messages name the field: "apiserver: spec.maxNodes: ...".
  const bool in_spec = absl::StrContains(object.why, ": spec.") ||
                       absl::StartsWith(object.why, "spec.") ||
                       absl::StrContains(object.why, ": spec:");
  return Update(object.kind, object.name, object.uid, object.conditions,
                Ready(false, in_spec ? "InvalidSpec" : "InvalidObject",
                      absl::StrCat("Bursar cannot use this ", object.kind, ": ", object.why), now,
                      object.generation));
}

ConditionUpdate PriceBookReady(const api::PriceBook& book, absl::Time now) {
  return Update(
      "PriceBook", book.metadata.name, book.metadata.uid, book.conditions,
      Ready(true, "Valid",
            absl::StrCat("prices in ", book.spec.currency, ": ", book.spec.gpus.size(),
                         " GPU models, ", book.spec.instance_types.size(), " instance types"),
            now, book.metadata.generation));
}

ConditionUpdate BudgetReady(const api::ComputeBudget& budget, std::vector<api::Condition> planned,
                            const std::string& missing_cluster_queue, absl::Time now) {
  auto is_ready = [](const api::Condition& c) { return c.type == kReadyCondition; };
  auto ready = std::find_if(planned.begin(), planned.end(), is_ready);
  if (ready == planned.end()) {
    if (missing_cluster_queue.empty()) {
      ConditionUpdate out;  // a plan without a Ready (tests): nothing to say
      out.kind = "ComputeBudget";
      out.name = budget.metadata.name;
      out.uid = budget.metadata.uid;
      out.conditions = std::move(planned);
      return out;
    }
    ready = planned.insert(planned.end(), Ready(true, "", "", now, budget.metadata.generation));
  }
  api::Condition wanted = *ready;
  if (!missing_cluster_queue.empty() && wanted.status == "True") {
    wanted = Ready(false, "ClusterQueueNotFound",
                   absl::StrCat("spec.quota.clusterQueue: ClusterQueue \"", missing_cluster_queue,
                                "\" does not exist (or Kueue is not installed), so the budget's "
                                "allowance reaches no workload; create it or change spec.quota"),
                   now, budget.metadata.generation);
  }
  auto stored =
      std::find_if(budget.status.conditions.begin(), budget.status.conditions.end(), is_ready);
  if (stored != budget.status.conditions.end() && stored->status != wanted.status) {
    wanted.last_transition_time = now;
  }
  ConditionUpdate out = Update("ComputeBudget", budget.metadata.name, budget.metadata.uid,
                               budget.status.conditions, wanted);
  *ready = out.ready;
  out.conditions = std::move(planned);
  return out;
}

ConditionUpdate PoolReady(const api::GPUNodePool& pool, const Snapshot& snap,
                          const std::optional<ProviderHealth>& provider, absl::Time now) {
  const int64_t generation = pool.metadata.generation;
  auto update = [&](api::Condition c) {
    return Update("GPUNodePool", pool.metadata.name, pool.metadata.uid, pool.status.conditions,
                  std::move(c));
  };
  if (pool.spec.node_selector.empty() && pool.spec.provider.type != api::ProviderType::kKwok) {
    return update(Ready(false, "NodeSelectorMissing",
                        "spec.nodeSelector is empty: the pool would claim every node in the "
                        "cluster, other pools' nodes included; set labels that only its nodes "
                        "carry (Karpenter: karpenter.sh/nodepool)",
                        now, generation));
  }
  if (std::optional<std::string> overlap = Overlap(pool, snap); overlap.has_value()) {
    return update(Ready(false, "NodesOverlap", *overlap, now, generation));
  }
  if (!pool.spec.price_per_node_hour.has_value()) {
    const std::string& ref = pool.spec.price_book_ref;
    bool found = std::any_of(snap.price_books.begin(), snap.price_books.end(),
                             [&](const api::PriceBook& b) { return b.metadata.name == ref; });
    if (!found) {
      const RejectedObject* rejected = FindRejected(snap, "PriceBook", ref);
      if (rejected != nullptr) {
        return update(
            Ready(false, "PriceBookInvalid",
                  absl::StrCat("spec.priceBookRef: PriceBook \"", ref,
                               "\" is invalid and spec.pricePerNodeHour is unset: ", rejected->why),
                  now, generation));
      }
      return update(Ready(false, "PriceBookNotFound",
                          absl::StrCat("spec.priceBookRef: PriceBook \"", ref,
                                       "\" not found and spec.pricePerNodeHour is unset; the "
                                       "pool's nodes are priced by each budget's PriceBook"),
                          now, generation));
    }
  }
  if (!provider.has_value()) {  // say nothing before the provider has been heard
    ConditionUpdate out;
    out.kind = "GPUNodePool";
    out.name = pool.metadata.name;
    out.uid = pool.metadata.uid;
    out.conditions = pool.status.conditions;
    for (const api::Condition& c : out.conditions) {
      if (c.type == kReadyCondition) {
        out.ready = c;
      }
    }
    return out;
  }
  if (!provider->reason.empty()) {
    return update(Ready(false, provider->reason, provider->message, now, generation));
  }
  return update(Ready(true, "Ready",
                      absl::StrCat("provider ", api::Name(pool.spec.provider.type), " answers"),
                      now, generation));
}

}  // namespace bursar::reconcilers
