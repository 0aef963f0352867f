#include "controllers/providers/external_grpc_provider.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/providers/node_list.h"

namespace bursar::providers {

namespace pb = clusterautoscaler::cloudprovider::v1::externalgrpc;

struct ExternalGrpcProvider::Target {
  std::string pool;
  std::string node_group;
  std::string address;
};

namespace {

// gRPC and Abseil share the canonical status code numbering.
absl::Status CallError(absl::string_view method, const grpc::Status& status, absl::string_view pool,
                       absl::string_view node_group, absl::string_view address) {
  return absl::Status(
      static_cast<absl::StatusCode>(status.error_code()),
      absl::StrCat("externalgrpc ", method, " for node group \"", node_group, "\" of GPUNodePool ",
                   pool, " at ", address, ": ", status.error_message()));
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  context.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
}

// The last path segment of a provider id ("gce://p/z/n1" -> "n1"), where node names usually live.
absl::string_view LastSegment(absl::string_view id) {
  const size_t slash = id.rfind('/');
  return slash == absl::string_view::npos ? id : id.substr(slash + 1);
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeExternalGrpcChannel(const std::string& address,
                                                       const std::string& tls_ca_pem) {
  if (tls_ca_pem.empty()) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = tls_ca_pem;
  return grpc::CreateChannel(address, grpc::SslCredentials(ssl));
}

ExternalGrpcProvider::ExternalGrpcProvider(std::shared_ptr<grpc::Channel> channel)
    : ExternalGrpcProvider(std::move(channel), Options{}) {}

ExternalGrpcProvider::ExternalGrpcProvider(std::shared_ptr<grpc::Channel> channel, Options options)
    : stub_(pb::CloudProvider::NewStub(std::move(channel))), options_(options) {}

absl::StatusOr<int> ExternalGrpcProvider::TargetSize(const Target& target) {
  grpc::ClientContext context;
  SetDeadline(context, options_.call_timeout);
  pb::NodeGroupTargetSizeRequest request;
  request.set_id(target.node_group);
  pb::NodeGroupTargetSizeResponse response;
  const grpc::Status status = stub_->NodeGroupTargetSize(&context, request, &response);
  if (!status.ok()) {
    return CallError("NodeGroupTargetSize", status, target.pool, target.node_group, target.address);
  }
  return response.targetsize();
}

absl::StatusOr<std::vector<pb::Instance>> ExternalGrpcProvider::Instances(const Target& target) {
  grpc::ClientContext context;
  SetDeadline(context, options_.call_timeout);
  pb::NodeGroupNodesRequest request;
  request.set_id(target.node_group);
  pb::NodeGroupNodesResponse response;
  const grpc::Status status = stub_->NodeGroupNodes(&context, request, &response);
  if (!status.ok()) {
    return CallError("NodeGroupNodes", status, target.pool, target.node_group, target.address);
  }
  return std::vector<pb::Instance>(response.instances().begin(), response.instances().end());
}

namespace {

absl::StatusOr<std::string> NodeGroupOf(const api::GPUNodePool& pool) {
  if (pool.spec.provider.grpc_node_group.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GPUNodePool ", pool.metadata.name, ": spec.provider has no externalgrpc node group"));
  }
  return pool.spec.provider.grpc_node_group;
}

}  // namespace

absl::StatusOr<PoolObservation> ExternalGrpcProvider::Observe(const api::GPUNodePool& pool) {
  absl::StatusOr<std::string> node_group = NodeGroupOf(pool);
  if (!node_group.ok()) {
    return node_group.status();
  }
  const Target target{pool.metadata.name, *node_group, pool.spec.provider.grpc_address};
  absl::StatusOr<int> size = TargetSize(target);
  if (!size.ok()) {
    return size.status();
  }
  absl::StatusOr<std::vector<pb::Instance>> instances = Instances(target);
  if (!instances.ok()) {
    return instances.status();
  }
  PoolObservation observation;
  observation.target_size = *size;
  for (const pb::Instance& instance : *instances) {
    observation.nodes.push_back(ProviderNode{
        .name = "",
        .provider_id = instance.id(),
        .ready = instance.status().instancestate() == pb::InstanceStatus::instanceRunning,
    });
  }
  return observation;
}

absl::Status ExternalGrpcProvider::Resize(const api::GPUNodePool& pool, int desired,
                                          const std::vector<std::string>& remove) {
  absl::StatusOr<std::string> node_group = NodeGroupOf(pool);
  if (!node_group.ok()) {
    return node_group.status();
  }
  const Target target{pool.metadata.name, *node_group, pool.spec.provider.grpc_address};
  const std::string where =
      absl::StrCat("GPUNodePool ", target.pool, " (node group \"", target.node_group, "\")");
  if (desired < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": desired size ", desired, " < 0"));
  }
  absl::StatusOr<int> current = TargetSize(target);
  if (!current.ok()) {
    return current.status();
  }
  if (desired == *current) {
    return absl::OkStatus();
  }

  if (desired > *current) {
    grpc::ClientContext context;
    SetDeadline(context, options_.call_timeout);
    pb::NodeGroupIncreaseSizeRequest request;
    request.set_id(target.node_group);
    request.set_delta(desired - *current);
    pb::NodeGroupIncreaseSizeResponse response;
    const grpc::Status status = stub_->NodeGroupIncreaseSize(&context, request, &response);
    if (!status.ok()) {
      return CallError("NodeGroupIncreaseSize", status, target.pool, target.node_group,
                       target.address);
    }
  } else {
    absl::StatusOr<std::vector<pb::Instance>> instances = Instances(target);
    if (!instances.ok()) {
      return instances.status();
    }
    // Resolve every name before changing anything, so a refusal leaves the group untouched.
    std::vector<pb::ExternalGrpcNode> doomed;
    std::set<std::string> doomed_ids;
    std::vector<std::string> unknown;
    std::vector<std::string> ambiguous;
    for (const std::string& name : remove) {
      const pb::Instance* found = nullptr;
      int matches = 0;
      for (const pb::Instance& instance : *instances) {
        if (instance.id() == name || (!name.empty() && LastSegment(instance.id()) == name)) {
          found = &instance;
          ++matches;
        }
      }
      if (matches == 0) {
        unknown.push_back(name);
        continue;
      }
      if (matches > 1) {
        ambiguous.push_back(name);
        continue;
      }
      if (!doomed_ids.insert(found->id()).second) {
        continue;  // named twice
      }
      pb::ExternalGrpcNode node;
      node.set_providerid(found->id());
      if (name != found->id()) {
        node.set_name(name);
      }
      doomed.push_back(std::move(node));
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": cannot remove nodes that are not in the group: ", absl::StrJoin(unknown, ", ")));
    }
    if (!ambiguous.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": node names match more than one instance: ", absl::StrJoin(ambiguous, ", ")));
    }
    const int shrink = *current - desired;
    const int named = static_cast<int>(doomed.size());
    // Requested nodes that no instance stands for yet can go without naming anything.
    const int unfulfilled = std::max(0, *current - static_cast<int>(instances->size()));
    const int min_named = std::max(0, shrink - unfulfilled);
    if (absl::Status counted =
            CheckRemovalCount(where, *current, desired, named, min_named,
                              absl::StrCat(unfulfilled, " requested nodes have no instance yet"));
        !counted.ok()) {
      return counted;
    }
    if (named < shrink) {
      grpc::ClientContext context;
      SetDeadline(context, options_.call_timeout);
      pb::NodeGroupDecreaseTargetSizeRequest request;
      request.set_id(target.node_group);
      request.set_delta(-(shrink - named));
      pb::NodeGroupDecreaseTargetSizeResponse response;
      const grpc::Status status = stub_->NodeGroupDecreaseTargetSize(&context, request, &response);
      if (!status.ok()) {
        return CallError("NodeGroupDecreaseTargetSize", status, target.pool, target.node_group,
                         target.address);
      }
    }
    if (named > 0) {
      grpc::ClientContext context;
      SetDeadline(context, options_.call_timeout);
      pb::NodeGroupDeleteNodesRequest request;
      request.set_id(target.node_group);
      for (pb::ExternalGrpcNode& node : doomed) {
        *request.add_nodes() = std::move(node);
      }
      pb::NodeGroupDeleteNodesResponse response;
      const grpc::Status status = stub_->NodeGroupDeleteNodes(&context, request, &response);
      if (!status.ok()) {
        return CallError("NodeGroupDeleteNodes", status, target.pool, target.node_group,
                         target.address);
      }
    }
  }

  absl::StatusOr<int> after = TargetSize(target);
  if (!after.ok()) {
    return after.status();
  }
  if (*after != desired) {
    return absl::AbortedError(absl::StrCat(where, ": target size is ", *after,
                                           " after resizing to ", desired, " (was ", *current,
                                           "); was the group resized concurrently?"));
  }
  return absl::OkStatus();
}

}  // namespace bursar::providers
