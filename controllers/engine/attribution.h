#pragma once

// Attribution: which ComputeBudget a pod is charged to. A pod is charged to exactly one budget:
// of the budgets whose scope matches it, the narrowest wins (a podSelector over namespaces alone,
// and a selector with more constraints over one with fewer), then the oldest, then the name.
// The same rule runs in the operator and in `bursar simulate`. Pure; thread-compatible.

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "controllers/api/types.h"
#include "controllers/values/labels.h"

namespace bursar::engine {

// The pod's namespace and the labels that scopes are matched against.
struct PodScopeKey {
  std::string_view namespace_name;
  const values::Labels* namespace_labels = nullptr;  // kubernetes.io/metadata.name is implied
  values::LabelsRef pod_labels;                      // none: no labels
};

// True when `scope` selects the pod: its namespace is listed or matches namespaceSelector, and
// podSelector (when set) matches the pod's labels.
bool ScopeMatches(const api::BudgetScope& scope, const PodScopeKey& pod);
// The namespace half of ScopeMatches.
bool NamespaceMatches(const api::BudgetScope& scope, std::string_view namespace_name,
                      const values::Labels* namespace_labels);

struct Attribution {
  int budget = -1;               // index into the candidates; -1 when no scope matches
  std::vector<int> overlapping;  // other candidates that matched too (they lost the tie-break)
};

// Chooses among `budgets` (any order) by the rule above.
Attribution AttributePod(const std::vector<const api::ComputeBudget*>& budgets,
                         const PodScopeKey& pod);

// AttributePod for many pods over one set of budgets (a pass): each namespace's candidates —
// the budgets whose namespace half of the scope selects it, in tie-break order — are found once,
// so a pod is checked only against its namespace's candidates: O(candidates) per pod rather
// than O(budgets). A namespace's candidates are the budgets that list it by name (an index
// built once) and those whose namespaceSelector matches it (only they are evaluated), so a
// pass costs O(budgets + namespaces x selector budgets), not O(budgets x namespaces). Same
// results as AttributePod. A namespace's labels are read the first time it is seen and assumed
// not to change meanwhile.
class Attributor {
 public:
  explicit Attributor(std::vector<const api::ComputeBudget*> budgets);

  Attribution Attribute(const PodScopeKey& pod);
  // Indexes into the budgets, narrowest, then oldest, then by name first. The reference stays
  // valid as long as the Attributor.
  const std::vector<int>& Candidates(std::string_view namespace_name,
                                     const values::Labels* namespace_labels);
  // Attribute for a pod of a namespace whose Candidates the caller already has.
  Attribution Choose(const std::vector<int>& candidates, values::LabelsRef pod_labels) const;

 private:
  std::vector<const api::ComputeBudget*> budgets_;
  std::vector<int> order_;  // every budget, in tie-break order
  std::vector<int> rank_;   // rank_[i]: budget i's position in order_
  // Budgets that list a namespace in spec.scope.namespaces (keys view the budgets' strings).
  absl::flat_hash_map<std::string_view, std::vector<int>> listing_;
  std::vector<int> selecting_;  // budgets with a namespaceSelector, in tie-break order
  absl::node_hash_map<std::string, std::vector<int>> by_namespace_;  // stable references
};

}  // namespace bursar::engine
