#include "controllers/providers/node_list.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "operator/kube/resource.h"

namespace bursar::providers {

bool IsNodeReady(const json::Value& node) {
  const json::Value* conditions = node.FindPath("status.conditions");
  if (conditions == nullptr || !conditions->is_array()) {
    return false;
  }
  for (const json::Value& c : conditions->elements()) {
    if (StringAt(c, "type") == "Ready") {
      return StringAt(c, "status") == "True";
    }
  }
  return false;
}

std::string LabelSelectorText(const values::Labels& labels) {
  std::vector<std::string> terms;
  for (const auto& [key, value] : labels) {
    terms.push_back(absl::StrCat(key, "=", value));
  }
  return absl::StrJoin(terms, ",");
}

absl::Status WrapProviderError(const absl::Status& status, std::string_view where,
                               std::string_view what) {
  return absl::Status(status.code(), absl::StrCat(std::string(where), ": ", std::string(what), ": ",
                                                  status.message()));
}

absl::StatusOr<std::vector<ProviderNode>> ListPoolNodes(kube::ApiClient& client,
                                                        const std::string& selector,
                                                        std::string_view where) {
  kube::ListOptions options;
  options.label_selector = selector;
  absl::StatusOr<kube::ObjectList> nodes = client.ListAll(kube::kNodes, "", options);
  if (!nodes.ok()) {
    return WrapProviderError(nodes.status(), where, "listing Nodes");
  }
  std::vector<ProviderNode> out;
  for (const json::Value& node : nodes->items) {
    out.push_back(ProviderNode{
        .name = StringAt(node, "metadata.name"),
        .provider_id = StringAt(node, "spec.providerID"),
        .ready = IsNodeReady(node),
    });
  }
  return out;
}

absl::StatusOr<std::set<std::string>> ResolveRemovals(const std::set<std::string>& in_pool,
                                                      const std::vector<std::string>& remove,
                                                      std::string_view where) {
  std::set<std::string> doomed;
  std::vector<std::string> unknown;
  for (const std::string& name : remove) {
    if (in_pool.count(name) == 0) {
      unknown.push_back(name);
    } else {
      doomed.insert(name);
    }
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        std::string(where),
        ": cannot remove nodes that are not in the pool: ", absl::StrJoin(unknown, ", ")));
  }
  return doomed;
}

absl::Status CheckRemovalCount(std::string_view where, int current, int desired, int named,
                               int min_named, std::string_view why) {
  const int shrink = current - desired;
  if (named <= shrink && named >= min_named) {
    return absl::OkStatus();
  }
  const std::string needed = min_named == shrink
                                 ? absl::StrCat(shrink)
                                 : absl::StrCat("between ", min_named, " and ", shrink);
  return absl::FailedPreconditionError(absl::StrCat(
      std::string(where), ": shrinking from ", current, " to ", desired, " needs ", needed,
      " nodes named in remove", why.empty() ? "" : absl::StrCat(" (", std::string(why), ")"),
      ", but it names ", named));
}

}  // namespace bursar::providers
