#include "controllers/providers/cluster_api_provider.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/providers/node_list.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"

namespace bursar::providers {

namespace {

std::string Where(const api::GPUNodePool& pool) {
  return absl::StrCat("GPUNodePool ", pool.metadata.name, " (MachineDeployment ",
                      pool.spec.provider.cluster_api_namespace, "/",
                      pool.spec.provider.cluster_api_name, ")");
}

absl::Status CheckSpec(const api::GPUNodePool& pool) {
  if (pool.spec.provider.cluster_api_namespace.empty() ||
      pool.spec.provider.cluster_api_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("GPUNodePool ", pool.metadata.name,
                     ": spec.provider has no Cluster API MachineDeployment namespace and name"));
  }
  return absl::OkStatus();
}

struct Scale {
  int replicas = 0;
  std::string resource_version;
};

absl::StatusOr<Scale> ReadScale(kube::ApiClient& client, const api::GPUNodePool& pool) {
  absl::StatusOr<json::Value> scale =
      client.GetScale(kube::kMachineDeployments, pool.spec.provider.cluster_api_namespace,
                      pool.spec.provider.cluster_api_name);
  if (!scale.ok()) {
    return WrapProviderError(scale.status(), Where(pool), "reading the scale");
  }
  Scale out;
  const json::Value* replicas = scale->FindPath("spec.replicas");
  if (replicas != nullptr && replicas->is_integer()) {
    out.replicas = static_cast<int>(replicas->int_value());
  } else if (replicas != nullptr && !replicas->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(pool), ": scale spec.replicas is not an integer: ", replicas->ToJson()));
  }
  out.resource_version = StringAt(*scale, "metadata.resourceVersion");
  return out;
}

absl::StatusOr<std::vector<ProviderNode>> ListNodes(kube::ApiClient& client,
                                                    const api::GPUNodePool& pool) {
  return ListPoolNodes(client, LabelSelectorText(pool.spec.node_selector), Where(pool));
}

}  // namespace

absl::StatusOr<PoolObservation> ClusterApiProvider::Observe(const api::GPUNodePool& pool) {
  if (absl::Status spec = CheckSpec(pool); !spec.ok()) {
    return spec;
  }
  absl::StatusOr<Scale> scale = ReadScale(client_, pool);
  if (!scale.ok()) {
    return scale.status();
  }
  absl::StatusOr<std::vector<ProviderNode>> nodes = ListNodes(client_, pool);
  if (!nodes.ok()) {
    return nodes.status();
  }
  return PoolObservation{.target_size = scale->replicas, .nodes = std::move(*nodes)};
}

absl::Status ClusterApiProvider::Resize(const api::GPUNodePool& pool, int desired,
                                        const std::vector<std::string>& remove) {
  if (absl::Status spec = CheckSpec(pool); !spec.ok()) {
    return spec;
  }
  const std::string where = Where(pool);
  const std::string& ns = pool.spec.provider.cluster_api_namespace;
  const std::string& name = pool.spec.provider.cluster_api_name;
  if (desired < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": desired size ", desired, " < 0"));
  }
  absl::StatusOr<Scale> scale = ReadScale(client_, pool);
  if (!scale.ok()) {
    return scale.status();
  }
  const int current = scale->replicas;
  if (desired == current) {
    return absl::OkStatus();
  }

  if (desired < current) {
    absl::StatusOr<std::vector<ProviderNode>> nodes = ListNodes(client_, pool);
    if (!nodes.ok()) {
      return nodes.status();
    }
    kube::ListOptions options;
    options.label_selector = absl::StrCat(kDeploymentNameLabel, "=", name);
    absl::StatusOr<kube::ObjectList> machines = client_.ListAll(kClusterApiMachines, ns, options);
    if (!machines.ok()) {
      return WrapProviderError(machines.status(), where, "listing Machines");
    }
    std::map<std::string, std::string> machine_of_node;
    for (const json::Value& machine : machines->items) {
      const std::string node = StringAt(machine, "status.nodeRef.name");
      if (!node.empty()) {
        machine_of_node[node] = StringAt(machine, "metadata.name");
      }
    }
    std::set<std::string> in_pool;
    for (const ProviderNode& node : *nodes) {
      in_pool.insert(node.name);
    }
    // Resolve every name before changing anything, so a refusal leaves the pool untouched.
    std::set<std::string> doomed;  // Machine names
    std::vector<std::string> unknown;
    std::vector<std::string> machineless;
    for (const std::string& node : remove) {
      if (in_pool.count(node) == 0) {
        unknown.push_back(node);
        continue;
      }
      auto it = machine_of_node.find(node);
      if (it == machine_of_node.end()) {
        machineless.push_back(node);
        continue;
      }
      doomed.insert(it->second);
    }
    if (!unknown.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": cannot remove nodes that are not in the pool: ", absl::StrJoin(unknown, ", ")));
    }
    if (!machineless.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          ": nodes have no Machine of the MachineDeployment: ", absl::StrJoin(machineless, ", ")));
    }
    const int shrink = current - desired;
    const int named = static_cast<int>(doomed.size());
    const int with_node = static_cast<int>(machine_of_node.size());
    const int unfulfilled = std::max(0, current - with_node);
    const int min_named = std::max(0, shrink - unfulfilled);
    if (absl::Status counted =
            CheckRemovalCount(where, current, desired, named, min_named,
                              absl::StrCat(unfulfilled, " replicas have no Node yet"));
        !counted.ok()) {
      return counted;
    }
    for (const std::string& machine : doomed) {
      const json::Value patch = json::Value::Object({{
          "metadata",
          json::Value::Object(
              {{"annotations",
                json::Value::Object({{kDeleteMachineAnnotation, json::Value::String("yes")}})}}),
      }});
      absl::StatusOr<json::Value> patched =
          client_.Patch(kClusterApiMachines, ns, machine, kube::PatchType::kMerge, patch);
      if (!patched.ok()) {
        return WrapProviderError(patched.status(), where,
                                 absl::StrCat("marking Machine ", machine));
      }
    }
  }

  std::vector<json::Value::Member> metadata;
  if (!scale->resource_version.empty()) {
    metadata.emplace_back("resourceVersion", json::Value::String(scale->resource_version));
  }
  const json::Value patch = json::Value::Object({
      {"metadata", json::Value::Object(std::move(metadata))},
      {"spec", json::Value::Object({{"replicas", json::Value::Int(desired)}})},
  });
  absl::StatusOr<json::Value> patched =
      client_.PatchScale(kube::kMachineDeployments, ns, name, kube::PatchType::kMerge, patch);
  if (!patched.ok()) {
    return WrapProviderError(patched.status(), where,
                             absl::StrCat("scaling from ", current, " to ", desired));
  }
  return absl::OkStatus();
}

}  // namespace bursar::providers
