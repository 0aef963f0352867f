#pragma once

// NodePoolProvider: how Bursar resizes a GPUNodePool on one infrastructure (Cluster API,
// Karpenter, the Cluster Autoscaler externalgrpc protocol, kwok). The reconciler decides the
// size with the engine (engine::SizePool) and which nodes may go (idle ones, never a node
// running a pod another budget pays for); a provider only observes and carries it out.
// Implementations are thread-compatible; errors are absl::Status values naming the pool.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controllers/api/types.h"

namespace bursar::providers {

struct ProviderNode {
  std::string name;         // the Kubernetes Node name, when known
  std::string provider_id;  // the infrastructure's id (spec.providerID), when known
  bool ready = false;       // registered and Ready (false while provisioning)
  bool operator==(const ProviderNode&) const = default;
};

struct PoolObservation {
  int target_size = 0;  // what the infrastructure is asked to run (includes provisioning)
  std::vector<ProviderNode> nodes;
};

class NodePoolProvider {
 public:
  virtual ~NodePoolProvider() = default;

  // The pool's current target size and nodes.
  virtual absl::StatusOr<PoolObservation> Observe(const api::GPUNodePool& pool) = 0;

  // Moves the pool to `desired` nodes. Growing raises the target by the difference. Shrinking
  // removes exactly the nodes named in `remove` (chosen by the caller: idle, not paid for by
  // another budget), and fails without changing anything when `remove` does not account for
  // the difference.
  virtual absl::Status Resize(const api::GPUNodePool& pool, int desired,
                              const std::vector<std::string>& remove) = 0;
};

}  // namespace bursar::providers
