#include "controllers/providers/karpenter_provider.h"

#include <algorithm>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/providers/node_list.h"
#include "controllers/values/quantity.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"

namespace bursar::providers {

namespace {

std::string Where(const api::GPUNodePool& pool) {
  return absl::StrCat("GPUNodePool ", pool.metadata.name, " (Karpenter NodePool ",
                      pool.spec.provider.karpenter_node_pool, ")");
}

absl::Status CheckSpec(const api::GPUNodePool& pool) {
  if (pool.spec.provider.karpenter_node_pool.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("GPUNodePool ", pool.metadata.name,
                                                   ": spec.provider has no Karpenter node pool"));
  }
  if (pool.spec.gpus_per_node < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(pool), ": gpusPerNode ", pool.spec.gpus_per_node, " < 1"));
  }
  return absl::OkStatus();
}

// The pool's Nodes: karpenter.sh/nodepool=<name> plus the nodeSelector.
absl::StatusOr<std::vector<ProviderNode>> ListNodes(kube::ApiClient& client,
                                                    const api::GPUNodePool& pool) {
  values::Labels selector = pool.spec.node_selector;
  selector[std::string(kKarpenterNodePoolLabel)] = pool.spec.provider.karpenter_node_pool;
  return ListPoolNodes(client, LabelSelectorText(selector), Where(pool));
}

// The NodePool's GPU limit in whole GPUs; nullopt when it has none.
absl::StatusOr<std::optional<int64_t>> GpuLimit(kube::ApiClient& client,
                                                const api::GPUNodePool& pool) {
  absl::StatusOr<json::Value> node_pool =
      client.Get(kube::kKarpenterNodePools, "", pool.spec.provider.karpenter_node_pool);
  if (!node_pool.ok()) {
    return WrapProviderError(node_pool.status(), Where(pool), "reading the NodePool");
  }
  const json::Value* limits = node_pool->FindPath("spec.limits");
  const json::Value* limit = limits != nullptr ? limits->Find(kGpuResource) : nullptr;
  if (limit == nullptr || limit->is_null()) {
    return std::optional<int64_t>();
  }
  if (!limit->is_string() && !limit->is_number()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(pool), ": spec.limits[\"", kGpuResource,
                                                   "\"] is not a quantity: ", limit->ToJson()));
  }
  absl::StatusOr<values::Quantity> quantity = values::Quantity::Parse(limit->text());
  if (!quantity.ok()) {
    return WrapProviderError(quantity.status(), Where(pool),
                             absl::StrCat("spec.limits[\"", kGpuResource, "\"]"));
  }
  // Whole GPUs (a fractional limit admits no extra GPU).
  return std::optional<int64_t>(std::max<int64_t>(0, quantity->MilliValue() / 1000));
}

}  // namespace

absl::StatusOr<PoolObservation> KarpenterProvider::Observe(const api::GPUNodePool& pool) {
  if (absl::Status spec = CheckSpec(pool); !spec.ok()) {
    return spec;
  }
  absl::StatusOr<std::optional<int64_t>> limit = GpuLimit(client_, pool);
  if (!limit.ok()) {
    return limit.status();
  }
  absl::StatusOr<std::vector<ProviderNode>> nodes = ListNodes(client_, pool);
  if (!nodes.ok()) {
    return nodes.status();
  }
  PoolObservation observation;
  observation.target_size = limit->has_value() ? static_cast<int>(**limit / pool.spec.gpus_per_node)
                                               : static_cast<int>(nodes->size());
  observation.nodes = std::move(*nodes);
  return observation;
}

absl::Status KarpenterProvider::Resize(const api::GPUNodePool& pool, int desired,
                                       const std::vector<std::string>& remove) {
  if (absl::Status spec = CheckSpec(pool); !spec.ok()) {
    return spec;
  }
  const std::string where = Where(pool);
  if (desired < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": desired size ", desired, " < 0"));
  }
  absl::StatusOr<PoolObservation> observed = Observe(pool);
  if (!observed.ok()) {
    return observed.status();
  }
  const int current = observed->target_size;
  if (desired == current) {
    return absl::OkStatus();
  }

  std::set<std::string> doomed;
  if (desired < current) {
    std::set<std::string> in_pool;
    for (const ProviderNode& node : observed->nodes) {
      in_pool.insert(node.name);
    }
    // Resolve every name before changing anything, so a refusal leaves the pool untouched.
    absl::StatusOr<std::set<std::string>> resolved = ResolveRemovals(in_pool, remove, where);
    if (!resolved.ok()) {
      return resolved.status();
    }
    doomed = *std::move(resolved);
    const int named = static_cast<int>(doomed.size());
    const int nodes = static_cast<int>(observed->nodes.size());
    // Lowering the limit removes no node: the named ones must bring the count down to desired.
    const int min_named = std::max(0, nodes - desired);
    if (absl::Status counted = CheckRemovalCount(where, current, desired, named, min_named,
                                                 absl::StrCat("the pool has ", nodes, " nodes"));
        !counted.ok()) {
      return counted;
    }
  }

  const json::Value patch = json::Value::Object({{
      "spec",
      json::Value::Object({{"limits", json::Value::Object({{
                                          kGpuResource,
                                          json::Value::String(absl::StrCat(
                                              int64_t{desired} * pool.spec.gpus_per_node)),
                                      }})}}),
  }});
  absl::StatusOr<json::Value> patched =
      client_.Patch(kube::kKarpenterNodePools, "", pool.spec.provider.karpenter_node_pool,
                    kube::PatchType::kMerge, patch);
  if (!patched.ok()) {
    return WrapProviderError(patched.status(), where,
                             absl::StrCat("setting the GPU limit for ", desired, " nodes"));
  }
  for (const std::string& name : doomed) {
    absl::StatusOr<json::Value> deleted = client_.Delete(kube::kNodes, "", name);
    if (!deleted.ok() && !kube::IsNotFound(deleted.status())) {
      return WrapProviderError(deleted.status(), where, absl::StrCat("deleting Node ", name));
    }
  }
  return absl::OkStatus();
}

}  // namespace bursar::providers
