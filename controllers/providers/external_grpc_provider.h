#pragma once

// ExternalGrpcProvider: resizes a GPUNodePool through a Cluster Autoscaler externalgrpc
// CloudProvider server (proto/externalgrpc/externalgrpc.proto), the node group being
// spec.provider.externalGRPC.nodeGroup.
//
// The protocol knows instances by the cloud provider's id (a Node's spec.providerID), not by
// Kubernetes Node name, so observed nodes carry provider_id only. A name in Resize's `remove`
// matches an instance whose id equals it, or whose id ends in "/<name>" (kwok://n1, gce://p/z/n1,
// aws:///zone/i-123 …); a name that matches no instance, or more than one, is refused.
//
// Pitfalls: every call has its own deadline (Options::call_timeout), so a hung server costs at
// most one timeout per call; the channel is injected (MakeExternalGrpcChannel builds one) and is
// never created here. Thread-safe: the provider holds only a gRPC stub.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/providers/node_pool_provider.h"
#include "externalgrpc/externalgrpc.grpc.pb.h"

namespace bursar::providers {

// A channel to `address` ("host:port"): TLS verified against `tls_ca_pem` when it is not empty
// (the CA bundle from spec.provider.externalGRPC.tlsSecretRef), plaintext otherwise.
std::shared_ptr<grpc::Channel> MakeExternalGrpcChannel(const std::string& address,
                                                       const std::string& tls_ca_pem);

class ExternalGrpcProvider final : public NodePoolProvider {
 public:
  struct Options {
    absl::Duration call_timeout = absl::Seconds(10);  // deadline of each RPC
  };

  explicit ExternalGrpcProvider(std::shared_ptr<grpc::Channel> channel);
  ExternalGrpcProvider(std::shared_ptr<grpc::Channel> channel, Options options);

  // NodeGroupTargetSize + NodeGroupNodes; an instance is ready when it is instanceRunning.
  absl::StatusOr<PoolObservation> Observe(const api::GPUNodePool& pool) override;

  // Grow: NodeGroupIncreaseSize(desired - target). Shrink: NodeGroupDecreaseTargetSize for
  // requested-but-unfulfilled nodes the named ones do not cover, then NodeGroupDeleteNodes with
  // exactly the named nodes. Refused, with no call that changes anything, when `remove` names an
  // unknown node, more nodes than the shrink needs, or too few to reach `desired`. The target is
  // read back afterwards; a different value is an Aborted error (someone else resized the group).
  absl::Status Resize(const api::GPUNodePool& pool, int desired,
                      const std::vector<std::string>& remove) override;

 private:
  struct Target;  // the node group and address a call is about, for error messages

  absl::StatusOr<int> TargetSize(const Target& target);
  absl::StatusOr<std::vector<clusterautoscaler::cloudprovider::v1::externalgrpc::Instance>>
  Instances(const Target& target);

  std::unique_ptr<clusterautoscaler::cloudprovider::v1::externalgrpc::CloudProvider::Stub> stub_;
  Options options_;
};

}  // namespace bursar::providers
