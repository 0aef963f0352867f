#include "controllers/engine/attribution.h"

#include <algorithm>
#include <tuple>
#include <utility>

namespace bursar::engine {
namespace {

constexpr char kNamespaceNameLabel[] = "kubernetes.io/metadata.name";

size_t Narrowness(const api::ComputeBudget& budget) {
  const auto& selector = budget.spec.scope.pod_selector;
  return selector.has_value() ? 1 + selector->Specificity() : 0;
}

}  // namespace

bool NamespaceMatches(const api::BudgetScope& scope, std::string_view namespace_name,
                      const values::Labels* namespace_labels) {
  if (std::find(scope.namespaces.begin(), scope.namespaces.end(), namespace_name) !=
      scope.namespaces.end()) {
    return true;
  }
  if (!scope.namespace_selector.has_value()) {
    return false;
  }
  values::Labels ns_labels = namespace_labels != nullptr ? *namespace_labels : values::Labels{};
  ns_labels.emplace(kNamespaceNameLabel, std::string(namespace_name));
  return scope.namespace_selector->Matches(ns_labels);
}

namespace {

bool PodSelectorMatches(const api::BudgetScope& scope, values::LabelsRef pod_labels) {
  return !scope.pod_selector.has_value() || scope.pod_selector->Matches(pod_labels);
}

}  // namespace

bool ScopeMatches(const api::BudgetScope& scope, const PodScopeKey& pod) {
  return NamespaceMatches(scope, pod.namespace_name, pod.namespace_labels) &&
         PodSelectorMatches(scope, pod.pod_labels);
}

namespace {

auto TieBreakKey(const api::ComputeBudget& b) {
  return std::make_tuple(-static_cast<int64_t>(Narrowness(b)), b.metadata.creation_timestamp,
                         std::string_view(b.metadata.name));
}

}  // namespace

Attribution AttributePod(const std::vector<const api::ComputeBudget*>& budgets,
                         const PodScopeKey& pod) {
  Attribution out;
  auto key = [](const api::ComputeBudget& b) { return TieBreakKey(b); };
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

Attributor::Attributor(std::vector<const api::ComputeBudget*> budgets)
    : budgets_(std::move(budgets)) {
  order_.resize(budgets_.size());
  for (size_t i = 0; i < budgets_.size(); ++i) {
    order_[i] = static_cast<int>(i);
  }
  std::sort(order_.begin(), order_.end(), [&](int a, int b) {
    return TieBreakKey(*budgets_[static_cast<size_t>(a)]) <
           TieBreakKey(*budgets_[static_cast<size_t>(b)]);
  });
  rank_.resize(budgets_.size());
  for (size_t r = 0; r < order_.size(); ++r) {
    const int i = order_[r];
    rank_[static_cast<size_t>(i)] = static_cast<int>(r);
    const api::BudgetScope& scope = budgets_[static_cast<size_t>(i)]->spec.scope;
    for (const std::string& ns : scope.namespaces) {
      std::vector<int>& listed = listing_[std::string_view(ns)];
      if (listed.empty() || listed.back() != i) {  // a namespace listed twice counts once
        listed.push_back(i);
      }
    }
    if (scope.namespace_selector.has_value()) {
      selecting_.push_back(i);
    }
  }
}

const std::vector<int>& Attributor::Candidates(std::string_view namespace_name,
                                               const values::Labels* namespace_labels) {
  auto it = by_namespace_.find(absl::string_view(namespace_name.data(), namespace_name.size()));
  if (it == by_namespace_.end()) {
    it = by_namespace_.emplace(std::string(namespace_name), std::vector<int>()).first;
    std::vector<int>& found = it->second;
    if (auto listed = listing_.find(namespace_name); listed != listing_.end()) {
      found = listed->second;  // in tie-break order
    }
    for (int i : selecting_) {
      if (NamespaceMatches(budgets_[static_cast<size_t>(i)]->spec.scope, namespace_name,
                           namespace_labels)) {
        found.push_back(i);
      }
    }
    // Both parts are in tie-break order; a budget that lists the namespace and also selects it
    // is a candidate once.
    std::sort(found.begin(), found.end(), [&](int a, int b) {
      return rank_[static_cast<size_t>(a)] < rank_[static_cast<size_t>(b)];
    });
    found.erase(std::unique(found.begin(), found.end()), found.end());
  }
  return it->second;
}

Attribution Attributor::Attribute(const PodScopeKey& pod) {
  return Choose(Candidates(pod.namespace_name, pod.namespace_labels), pod.pod_labels);
}

Attribution Attributor::Choose(const std::vector<int>& candidates,
                               values::LabelsRef pod_labels) const {
  Attribution out;
  for (int i : candidates) {
    if (!PodSelectorMatches(budgets_[static_cast<size_t>(i)]->spec.scope, pod_labels)) {
      continue;
    }
    if (out.budget < 0) {
      out.budget = i;  // candidates are in tie-break order: the first match wins
    } else {
      out.overlapping.push_back(i);
    }
  }
  std::sort(out.overlapping.begin(), out.overlapping.end());
  return out;
}

}  // namespace bursar::engine
