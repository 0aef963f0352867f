#include "controllers/engine/pool_sizing.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace bursar::engine {

PoolSizingDecision SizePool(const api::GPUNodePoolSpec& spec, const PoolSizingInputs& in) {
  PoolSizingDecision out;
  const int64_t per_node = std::max(spec.gpus_per_node, 1);
  const int64_t wanted = (in.allowed_demand_gpus + per_node - 1) / per_node;
  const int target = static_cast<int>(
      std::clamp<int64_t>(wanted, spec.min_nodes, std::max(spec.min_nodes, spec.max_nodes)));
  const int step = std::max(spec.max_scale_step, 1);

  if (target > in.current_nodes) {
    out.desired_nodes = std::min(target, in.current_nodes + step);
    out.reason = absl::StrFormat("demand %d GPUs wants %d nodes", in.allowed_demand_gpus, target);
    return out;
  }
  if (target == in.current_nodes) {
    out.desired_nodes = in.current_nodes;
    out.reason = "at target";
    return out;
  }
  // Below the current size: wait for scaleDownDelay, then shrink to no fewer than busy nodes.
  out.low_since = std::min(in.low_since, in.now);
  if (!in.scale_down_now && in.now - out.low_since < spec.scale_down_delay) {
    out.desired_nodes = in.current_nodes;
    out.reason = absl::StrFormat("demand wants %d nodes; waiting for scaleDownDelay", target);
    return out;
  }
  const int floor_nodes = std::max(target, std::min(in.busy_nodes, in.current_nodes));
  out.desired_nodes = std::max(floor_nodes, in.current_nodes - step);
  out.reason = out.desired_nodes < in.current_nodes
                   ? absl::StrFormat("idle for %s: shrinking towards %d nodes",
                                     absl::FormatDuration(spec.scale_down_delay), target)
                   : "idle nodes are busy";
  if (out.desired_nodes == target) {
    out.low_since = absl::InfiniteFuture();
  }
  return out;
}

int64_t GrowableDemandGpus(int64_t pending_gpus, std::optional<int64_t> quota_gpus, int owned_nodes,
                           int gpus_per_node, int64_t spare_gpus) {
  if (!quota_gpus.has_value() || gpus_per_node <= 0) {
    return pending_gpus;
  }
  const int64_t own_nodes = std::max<int64_t>(1, *quota_gpus / gpus_per_node);
  const int64_t may_grow = std::max<int64_t>(0, own_nodes - owned_nodes) * gpus_per_node;
  return std::min(pending_gpus, std::max<int64_t>(0, spare_gpus) + may_grow);
}

}  // namespace bursar::engine
