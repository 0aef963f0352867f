#pragma once

// The Kubernetes resource types Bursar reads and writes: group, version, plural (the URL name)
// and kind, and whether objects live in a namespace. Request paths are built from these
// (requests.h): /api/v1/... for the core group, /apis/<group>/<version>/... otherwise.
//
// Pitfall: the fields are views. The constants below name string literals; a ResourceType
// built at run time must not outlive the strings it points at.
// Thread-compatible (plain data).

#include <string>
#include <string_view>

namespace bursar::kube {

struct ResourceType {
  std::string_view group;  // "" for the core (legacy) group
  std::string_view version;
  std::string_view plural;
  std::string_view kind;
  bool namespaced = false;

  // "/api/v1" for the core group, "/apis/<group>/<version>" otherwise.
  std::string ApiPrefix() const;
  // The apiVersion of objects of this type: "v1", "batch/v1".
  std::string ApiVersion() const;

  bool operator==(const ResourceType&) const = default;
};

// The API path prefix of a group/version, as ResourceType::ApiPrefix().
std::string ApiPrefix(std::string_view group, std::string_view version);

// Core group.
inline constexpr ResourceType kPods{"", "v1", "pods", "Pod", true};
inline constexpr ResourceType kNodes{"", "v1", "nodes", "Node", false};
inline constexpr ResourceType kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline constexpr ResourceType kResourceQuotas{"", "v1", "resourcequotas", "ResourceQuota", true};
inline constexpr ResourceType kEvents{"", "v1", "events", "Event", true};
inline constexpr ResourceType kSecrets{"", "v1", "secrets", "Secret", true};

inline constexpr ResourceType kJobs{"batch", "v1", "jobs", "Job", true};
inline constexpr ResourceType kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};

// Bursar's own CRDs (crds/): all cluster-scoped.
inline constexpr ResourceType kComputeBudgets{"bursar.dev", "v1alpha1", "computebudgets",
                                              "ComputeBudget", false};
inline constexpr ResourceType kGPUNodePools{"bursar.dev", "v1alpha1", "gpunodepools", "GPUNodePool",
                                            false};
inline constexpr ResourceType kPriceBooks{"bursar.dev", "v1alpha1", "pricebooks", "PriceBook",
                                          false};

// Optional integrations: check with ApiClient::HasResource before watching them.
// Kueue: v1beta2, served since v0.15 and stored since v0.16 (v1beta1 without the conversion webhook
// drops a queue's cohortName on every write).
inline constexpr ResourceType kKueueClusterQueues{"kueue.x-k8s.io", "v1beta2", "clusterqueues",
                                                  "ClusterQueue", false};
inline constexpr ResourceType kKarpenterNodePools{"karpenter.sh", "v1", "nodepools", "NodePool",
                                                  false};
inline constexpr ResourceType kMachineDeployments{"cluster.x-k8s.io", "v1beta1",
                                                  "machinedeployments", "MachineDeployment", true};

}  // namespace bursar::kube
