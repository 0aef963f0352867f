#include "controllers/engine/attribution.h"

#include <algorithm>
#include <tuple>

namespace bursar::engine {
namespace {

constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";

size_t Narrowness(const api::ComputeBudget& budget) {
  const auto& selector = budget.spec.scope.pod_selector;
  return selector.has_value() ? 1 + selector->Specificity() : 0;
}

}  // namespace

bool ScopeMatches(const api::BudgetScope& scope, const PodScopeKey& pod) {
  bool ns_match = std::find(scope.namespaces.begin(), scope.namespaces.end(), pod.namespace_name) !=
                  scope.namespaces.end();
  if (!ns_match && scope.namespace_selector.has_value()) {
    values::Labels ns_labels =
        pod.namespace_labels != nullptr ? *pod.namespace_labels : values::Labels{};
    ns_labels.emplace(kNamespaceNameLabel, std::string(pod.namespace_name));
    ns_match = scope.namespace_selector->Matches(ns_labels);
  }
  if (!ns_match) {
    return false;
  }
  if (!scope.pod_selector.has_value()) {
    return true;
  }
  static const values::Labels kNone;
  return scope.pod_selector->Matches(pod.pod_labels != nullptr ? *pod.pod_labels : kNone);
}

Attribution AttributePod(const std::vector<const api::ComputeBudget*>& budgets,
                         const PodScopeKey& pod) {
  Attribution out;
  auto key = [](const api::ComputeBudget& b) {
    return std::make_tuple(-static_cast<int64_t>(Narrowness(b)), b.metadata.creation_timestamp,
                           std::string_view(b.metadata.name));
  };
  for (size_t i = 0; i < budgets.size(); ++i) {
    if (!ScopeMatches(budgets[i]->spec.scope, pod)) {
      continue;
    }
    int index = static_cast<int>(i);
    if (out.budget < 0) {
      out.budget = index;
    } else if (key(*budgets[i]) < key(*budgets[static_cast<size_t>(out.budget)])) {
      out.overlapping.push_back(out.budget);
      out.budget = index;
    } else {
      out.overlapping.push_back(index);
    }
  }
  std::sort(out.overlapping.begin(), out.overlapping.end());
  return out;
}

}  // namespace bursar::engine
