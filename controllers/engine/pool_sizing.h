#pragma once

// PoolSizing: how many nodes a GPUNodePool should have, from the GPU demand that budgets allow.
//
// target = ceil(allowedDemandGpus / gpusPerNode), clamped to [minNodes, maxNodes]; a change
// moves at most maxScaleStep nodes per decision. Scaling down waits until demand has been
// below the current size for scaleDownDelay (unless scale_down_now), and never goes below the nodes
// that are busy (the caller removes idle nodes only). The caller keeps `low_since` between
// decisions. Pure; thread-compatible.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "controllers/api/types.h"

namespace bursar::engine {

struct PoolSizingInputs {
  absl::Time now;
  int current_nodes = 0;  // provisioned or provisioning
  int busy_nodes = 0;     // nodes running at least one pod
  // GPUs wanted by running and admissible pending work, already capped by each budget's quota.
  int64_t allowed_demand_gpus = 0;
  // Since when the target has been below current_nodes (InfiniteFuture when it is not).
  absl::Time low_since = absl::InfiniteFuture();
  // Skip scaleDownDelay: the budget that pays for the idle nodes is held or drained, so
  // waiting would only spend money it no longer has.
  bool scale_down_now = false;
};

struct PoolSizingDecision {
  int desired_nodes = 0;
  absl::Time low_since = absl::InfiniteFuture();
  std::string reason;
};

PoolSizingDecision SizePool(const api::GPUNodePoolSpec& spec, const PoolSizingInputs& in);

// The part of a budget's pending GPUs that may make a pool grow. A budget pays for the idle part
// of the nodes it asked for, so it asks only for whole nodes its quota pays for — at most
// max(1, quotaGpus / gpusPerNode) nodes of its own — beyond the GPUs the pool has spare (free on
// its nodes, or on nodes still provisioning). Without this, a quota of 10 GPUs on 8-GPU nodes
// grows two nodes, pays for 6 idle GPUs, is held for it, gives the node back, and starts over.
int64_t GrowableDemandGpus(int64_t pending_gpus, std::optional<int64_t> quota_gpus, int owned_nodes,
                           int gpus_per_node, int64_t spare_gpus);

}  // namespace bursar::engine
