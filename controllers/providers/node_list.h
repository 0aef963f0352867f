#pragma once

// Helpers the Kubernetes-backed providers (Kwok, ClusterAPI, Karpenter) share: listing a
// pool's Nodes by label selector, reading their readiness, and checking that the nodes a
// caller asks to remove belong to the pool before anything changes. Thread-compatible.

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controllers/providers/node_pool_provider.h"
#include "controllers/values/labels.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"

namespace bursar::providers {

using json::StringAt;

// True when the Node's Ready condition is True.
bool IsNodeReady(const json::Value& node);

// "key=value,key2=value2" for a label selector query.
std::string LabelSelectorText(const values::Labels& labels);

// `status` with "<where>: <what>: " in front of its message, code kept.
absl::Status WrapProviderError(const absl::Status& status, std::string_view where,
                               std::string_view what);

// The Nodes matching `selector`, as ProviderNodes (name, spec.providerID, Ready).
absl::StatusOr<std::vector<ProviderNode>> ListPoolNodes(kube::ApiClient& client,
                                                        const std::string& selector,
                                                        std::string_view where);

// The names in `remove`, checked against `in_pool`: InvalidArgument listing every unknown name
// (so a refusal happens before any change).
absl::StatusOr<std::set<std::string>> ResolveRemovals(const std::set<std::string>& in_pool,
                                                      const std::vector<std::string>& remove,
                                                      std::string_view where);

// FailedPrecondition unless `named` lies in [min_named, current - desired]: "<where>: shrinking
// from C to D needs N nodes named in remove (<why>), but it names M". `why` (may be empty)
// says why fewer than all may be named.
absl::Status CheckRemovalCount(std::string_view where, int current, int desired, int named,
                               int min_named, std::string_view why);

}  // namespace bursar::providers
