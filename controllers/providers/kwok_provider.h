#pragma once

// KwokProvider: a GPUNodePool of simulated Nodes (kwok, https://kwok.sigs.k8s.io), for tests and
// the demo. The pool is the Nodes that carry the pool's nodeSelector labels and whose names start
// with spec.provider.kwokNodeNamePrefix ("<pool name>-" when empty); its target size is their
// count, since every Node this provider creates exists at once.
//
// Growing creates Nodes named <prefix><index> (lowest free indices) with the nodeSelector labels,
// nvidia.com/gpu.product = gpuType, karpenter.sh/capacity-type = spot|on-demand, the annotation
// kwok.x-k8s.io/node: fake that kwok's controller adopts, the annotation
// metrics.k8s.io/resource-metrics-path: /metrics/nodes/<name>/metrics/resource (where kwok serves
// the node's emulated kubelet resource metrics, and so where metrics-server scrapes them), the
// taint kwok.x-k8s.io/node=fake:NoSchedule, and status capacity/allocatable (cpu, memory, pods,
// nvidia.com/gpu). Shrinking deletes exactly the named Nodes.
//
// Pitfall: readiness comes from the Node's Ready condition, which only a running kwok controller
// sets; without one, created Nodes stay not ready. Thread-compatible: holds only the client.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "controllers/api/types.h"
#include "controllers/providers/node_pool_provider.h"
#include "operator/kube/client.h"

namespace bursar::providers {

class KwokProvider final : public NodePoolProvider {
 public:
  // Per GPU of a simulated Node.
  static constexpr int kCpusPerGpu = 12;
  static constexpr int kMemoryGiPerGpu = 64;

  explicit KwokProvider(kube::ApiClient& client) : client_(client) {}

  // Lists Nodes by the nodeSelector (label selector), keeping those with the name prefix.
  absl::StatusOr<PoolObservation> Observe(const api::GPUNodePool& pool) override;

  // Grow: creates desired - current Nodes (with status; merge-patched through /status when the
  // server dropped it on create). Shrink: deletes exactly the named Nodes; refused, deleting
  // nothing, when `remove` names a Node not in the pool or does not number current - desired.
  absl::Status Resize(const api::GPUNodePool& pool, int desired,
                      const std::vector<std::string>& remove) override;

 private:
  kube::ApiClient& client_;
};

}  // namespace bursar::providers
