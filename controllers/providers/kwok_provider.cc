#include "controllers/providers/kwok_provider.h"

#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/providers/node_list.h"
#include "controllers/values/resources.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"

namespace bursar::providers {

namespace {

// How many names past the lowest free index a grow may skip (Nodes of the same name outside
// the pool) before giving up.
constexpr int kMaxNameCollisions = 100;

std::string PrefixOf(const api::GPUNodePool& pool) {
  return pool.spec.provider.kwok_node_name_prefix.empty()
             ? absl::StrCat(pool.metadata.name, "-")
             : pool.spec.provider.kwok_node_name_prefix;
}

std::string Where(const api::GPUNodePool& pool) {
  return absl::StrCat("GPUNodePool ", pool.metadata.name, " (kwok nodes \"", PrefixOf(pool),
                      "*\")");
}

json::Value Str(std::string s) {
  return json::Value::String(std::move(s));
}

json::Value Resources(const api::GPUNodePool& pool) {
  const int gpus = pool.spec.gpus_per_node;
  return json::Value::Object({
      {"cpu", Str(absl::StrCat(KwokProvider::kCpusPerGpu * gpus))},
      {"memory", Str(absl::StrCat(KwokProvider::kMemoryGiPerGpu * gpus, "Gi"))},
      {"pods", Str("110")},
      {values::kGpuResource, Str(absl::StrCat(gpus))},
  });
}

json::Value NodeStatus(const api::GPUNodePool& pool) {
  return json::Value::Object({{"capacity", Resources(pool)}, {"allocatable", Resources(pool)}});
}

json::Value NewNode(const api::GPUNodePool& pool, const std::string& name) {
  std::vector<json::Value::Member> labels;
  for (const auto& [key, value] : pool.spec.node_selector) {
    labels.emplace_back(key, Str(value));
  }
  const auto set_label = [&labels](const std::string& key, std::string value) {
    for (json::Value::Member& m : labels) {
      if (m.first == key) {
        return;  // the nodeSelector wins: the Node must match it
      }
    }
    labels.emplace_back(key, Str(std::move(value)));
  };
  set_label("nvidia.com/gpu.product", pool.spec.gpu_type);
  set_label("karpenter.sh/capacity-type",
            pool.spec.capacity_type == api::CapacityType::kSpot ? "spot" : "on-demand");
  set_label("kubernetes.io/hostname", name);
  set_label("type", "kwok");
  return json::Value::Object({
      {"apiVersion", Str("v1")},
      {"kind", Str("Node")},
      {"metadata",
       json::Value::Object({
           {"name", Str(name)},
           {"labels", json::Value::Object(std::move(labels))},
           {"annotations", json::Value::Object({
                               {"kwok.x-k8s.io/node", Str("fake")},
                               {"node.alpha.kubernetes.io/ttl", Str("0")},
                               {"metrics.k8s.io/resource-metrics-path",
                                Str(absl::StrCat("/metrics/nodes/", name, "/metrics/resource"))},
                           })},
       })},
      {"spec", json::Value::Object({
                   {"providerID", Str(absl::StrCat("kwok://", name))},
                   {"taints", json::Value::Array({json::Value::Object({
                                  {"key", Str("kwok.x-k8s.io/node")},
                                  {"value", Str("fake")},
                                  {"effect", Str("NoSchedule")},
                              })})},
               })},
      {"status", NodeStatus(pool)},
  });
}

}  // namespace

absl::StatusOr<PoolObservation> KwokProvider::Observe(const api::GPUNodePool& pool) {
  kube::ListOptions options;
  options.label_selector = LabelSelectorText(pool.spec.node_selector);
  absl::StatusOr<kube::ObjectList> nodes = client_.ListAll(kube::kNodes, "", options);
  if (!nodes.ok()) {
    return absl::Status(nodes.status().code(),
                        absl::StrCat(Where(pool), ": listing Nodes: ", nodes.status().message()));
  }
  const std::string prefix = PrefixOf(pool);
  PoolObservation observation;
  for (const json::Value& node : nodes->items) {
    std::string name = StringAt(node, "metadata.name");
    if (!absl::StartsWith(name, prefix)) {
      continue;
    }
    observation.nodes.push_back(ProviderNode{
        .name = std::move(name),
        .provider_id = StringAt(node, "spec.providerID"),
        .ready = IsNodeReady(node),
    });
  }
  observation.target_size = static_cast<int>(observation.nodes.size());
  return observation;
}

absl::Status KwokProvider::Resize(const api::GPUNodePool& pool, int desired,
                                  const std::vector<std::string>& remove) {
  const std::string where = Where(pool);
  if (desired < 0) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": desired size ", desired, " < 0"));
  }
  if (pool.spec.gpus_per_node < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": gpusPerNode ", pool.spec.gpus_per_node, " < 1"));
  }
  absl::StatusOr<PoolObservation> observed = Observe(pool);
  if (!observed.ok()) {
    return observed.status();
  }
  const int current = observed->target_size;
  if (desired == current) {
    return absl::OkStatus();
  }
  std::set<std::string> names;
  for (const ProviderNode& node : observed->nodes) {
    names.insert(node.name);
  }

  if (desired > current) {
    const std::string prefix = PrefixOf(pool);
    int index = 0;
    int collisions = 0;
    for (int created = 0; created < desired - current;) {
      std::string name = absl::StrCat(prefix, index++);
      if (names.count(name) > 0) {
        continue;
      }
      absl::StatusOr<json::Value> node = client_.Create(kube::kNodes, "", NewNode(pool, name));
      if (kube::IsAlreadyExists(node.status())) {
        // A Node of that name outside the pool (other labels): take the next index.
        if (++collisions > kMaxNameCollisions) {
          return absl::AlreadyExistsError(absl::StrCat(
              where, ": ", collisions, " Node names taken outside the pool; last ", name));
        }
        continue;
      }
      if (!node.ok()) {
        return absl::Status(node.status().code(), absl::StrCat(where, ": creating Node ", name,
                                                               ": ", node.status().message()));
      }
      names.insert(name);
      ++created;
      const json::Value* gpus = node->FindPath("status.capacity");
      if (gpus == nullptr || gpus->Find(values::kGpuResource) == nullptr) {
        absl::StatusOr<json::Value> patched =
            client_.PatchStatus(kube::kNodes, "", name, kube::PatchType::kMerge,
                                json::Value::Object({{"status", NodeStatus(pool)}}));
        if (!patched.ok()) {
          return absl::Status(patched.status().code(),
                              absl::StrCat(where, ": setting the status of Node ", name, ": ",
                                           patched.status().message()));
        }
      }
    }
    return absl::OkStatus();
  }

  // Resolve every name before deleting anything, so a refusal leaves the pool untouched.
  absl::StatusOr<std::set<std::string>> resolved = ResolveRemovals(names, remove, where);
  if (!resolved.ok()) {
    return resolved.status();
  }
  const std::set<std::string>& doomed = *resolved;
  const int named = static_cast<int>(doomed.size());
  if (absl::Status counted =
          CheckRemovalCount(where, current, desired, named, current - desired, "");
      !counted.ok()) {
    return counted;
  }
  for (const std::string& name : doomed) {
    absl::StatusOr<json::Value> deleted = client_.Delete(kube::kNodes, "", name);
    if (!deleted.ok() && !kube::IsNotFound(deleted.status())) {
      return absl::Status(deleted.status().code(), absl::StrCat(where, ": deleting Node ", name,
                                                                ": ", deleted.status().message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace bursar::providers
