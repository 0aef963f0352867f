#pragma once

// ClusterApiProvider: resizes a GPUNodePool that is a Cluster API MachineDeployment
// (spec.provider.clusterAPI namespace/name) through its scale subresource.
//
// The target size is the Scale's spec.replicas; the nodes are the Nodes carrying the pool's
// nodeSelector labels. Shrinking marks the Machine of every named Node (the Machine in the
// MachineDeployment's namespace, labelled cluster.x-k8s.io/deployment-name=<name>, whose
// status.nodeRef.name is the Node) with the annotation cluster.x-k8s.io/delete-machine, which
// Cluster API's MachineSet deletes first, then lowers replicas. Replicas with no Node yet need
// not be named: every Cluster API deletion policy removes Machines without a Node before healthy
// ones.
//
// Pitfalls: a Resize whose scale patch fails after the Machines were annotated leaves the
// annotations behind (they only matter at the next scale-down, which the reconciler asks for
// anyway). The scale patch carries the resourceVersion read before it, so a concurrent resize
// fails with a conflict instead of being overwritten. Thread-compatible: holds only the client.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controllers/api/types.h"
#include "controllers/providers/node_pool_provider.h"
#include "operator/kube/client.h"
#include "operator/kube/resource.h"

namespace bursar::providers {

// Cluster API Machines (not in resource.h: only this provider reads them).
inline constexpr kube::ResourceType kClusterApiMachines{"cluster.x-k8s.io", "v1beta1", "machines",
                                                        "Machine", true};
inline constexpr char kDeleteMachineAnnotation[] = "cluster.x-k8s.io/delete-machine";
inline constexpr char kDeploymentNameLabel[] = "cluster.x-k8s.io/deployment-name";

class ClusterApiProvider final : public NodePoolProvider {
 public:
  explicit ClusterApiProvider(kube::ApiClient& client) : client_(client) {}

  // GetScale (spec.replicas) + Nodes by nodeSelector.
  absl::StatusOr<PoolObservation> Observe(const api::GPUNodePool& pool) override;

  // Grow: PatchScale replicas = desired. Shrink: annotate the named Nodes' Machines, then
  // PatchScale. Refused, changing nothing, when `remove` names a Node that is not in the pool or
  // has no Machine of the MachineDeployment, more nodes than the shrink needs, or too few (fewer
  // than the shrink minus the replicas that have no Node yet).
  absl::Status Resize(const api::GPUNodePool& pool, int desired,
                      const std::vector<std::string>& remove) override;

 private:
  kube::ApiClient& client_;
};

}  // namespace bursar::providers
