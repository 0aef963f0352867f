#pragma once

// Attribution: which ComputeBudget a pod is charged to. A pod is charged to exactly one budget:
// of the budgets whose scope matches it, the narrowest wins (a podSelector over namespaces alone,
// and a selector with more constraints over one with fewer), then the oldest, then the name.
// The same rule runs in the operator and in `bursar simulate`. Pure; thread-compatible.

#include <string_view>
#include <vector>

#include "controllers/api/types.h"
#include "controllers/values/labels.h"

namespace bursar::engine {

// The pod's namespace and the labels that scopes are matched against.
struct PodScopeKey {
  std::string_view namespace_name;
  const values::Labels* namespace_labels = nullptr;  // kubernetes.io/metadata.name is implied
  const values::Labels* pod_labels = nullptr;
};

// True when `scope` selects the pod: its namespace is listed or matches namespaceSelector, and
// podSelector (when set) matches the pod's labels.
bool ScopeMatches(const api::BudgetScope& scope, const PodScopeKey& pod);

struct Attribution {
  int budget = -1;               // index into the candidates; -1 when no scope matches
  std::vector<int> overlapping;  // other candidates that matched too (they lost the tie-break)
};

// Chooses among `budgets` (any order) by the rule above.
Attribution AttributePod(const std::vector<const api::ComputeBudget*>& budgets,
                         const PodScopeKey& pod);

}  // namespace bursar::engine
