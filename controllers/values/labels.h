#pragma once

// Kubernetes label sets and selectors (metav1.LabelSelector semantics): matchLabels AND every
// matchExpression must hold. An empty selector matches everything; an absent one (nullopt at
// the call site) is the caller's decision.

#include <map>
#include <string>
#include <vector>

namespace bursar::values {

using Labels = std::map<std::string, std::string, std::less<>>;

enum class SelectorOperator { kIn, kNotIn, kExists, kDoesNotExist };

struct SelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kIn;
  std::vector<std::string> values;
  bool operator==(const SelectorRequirement&) const = default;
};

struct LabelSelector {
  Labels match_labels;
  std::vector<SelectorRequirement> match_expressions;

  bool Empty() const { return match_labels.empty() && match_expressions.empty(); }
  bool Matches(const Labels& labels) const;
  // How many constraints the selector has; more constraints means a narrower selector.
  size_t Specificity() const { return match_labels.size() + match_expressions.size(); }
  bool operator==(const LabelSelector&) const = default;
};

const char* SelectorOperatorName(SelectorOperator op);

}  // namespace bursar::values
