#pragma once

// KarpenterProvider: bounds a GPUNodePool that is a Karpenter NodePool
// (spec.provider.karpenterNodePool). A Karpenter NodePool has no replica count: Karpenter
// launches nodes for pending pods up to the NodePool's spec.limits. Bursar therefore sets
// spec.limits["nvidia.com/gpu"] = desired × gpusPerNode (a merge patch, leaving other limits
// alone), so Karpenter cannot launch beyond the pool's size, and removes nodes by deleting the
// named Node objects (Karpenter's termination finalizer drains them and deletes their NodeClaims
// and instances). Checked against the real Karpenter v1.8.0 (tests/e2e/scenario-9-karpenter.sh):
// spec.limits is the NodePool's field (its hash, hence drift, covers spec.template only).
//
// Observe: the nodes are the Nodes labelled karpenter.sh/nodepool=<name> (and carrying the
// pool's nodeSelector labels); the target size is the GPU limit / gpusPerNode, or the node count
// when the NodePool has no GPU limit.
//
// Pitfalls: lowering the limit never removes a node, so a shrink must name enough Nodes to get
// under it (all but the limit's headroom that no node fills yet); the limit is patched before
// the Nodes are deleted so Karpenter does not replace them. The target is only an upper bound:
// Karpenter launches nodes for pending pods, not to reach it. Thread-compatible: holds only the
// client.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controllers/api/types.h"
#include "controllers/providers/node_pool_provider.h"
#include "controllers/values/resources.h"
#include "operator/kube/client.h"

namespace bursar::providers {

inline constexpr char kKarpenterNodePoolLabel[] = "karpenter.sh/nodepool";
using values::kGpuResource;

class KarpenterProvider final : public NodePoolProvider {
 public:
  explicit KarpenterProvider(kube::ApiClient& client) : client_(client) {}

  absl::StatusOr<PoolObservation> Observe(const api::GPUNodePool& pool) override;

  // Grow: limits[nvidia.com/gpu] = desired × gpusPerNode. Shrink: the same, then deletes exactly
  // the named Nodes. Refused, changing nothing, when `remove` names a Node not in the pool, more
  // nodes than the shrink needs, or too few to bring the node count down to `desired`.
  absl::Status Resize(const api::GPUNodePool& pool, int desired,
                      const std::vector<std::string>& remove) override;

 private:
  kube::ApiClient& client_;
};

}  // namespace bursar::providers
