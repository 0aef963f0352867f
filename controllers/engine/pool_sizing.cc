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

}  // namespace bursar::engine
