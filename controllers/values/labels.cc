#include "controllers/values/labels.h"

#include <algorithm>

namespace bursar::values {

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& [key, value] : match_labels) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) {
      return false;
    }
  }
  for (const SelectorRequirement& req : match_expressions) {
    auto it = labels.find(req.key);
    bool present = it != labels.end();
    bool in_values =
        present && std::find(req.values.begin(), req.values.end(), it->second) != req.values.end();
    switch (req.op) {
      case SelectorOperator::kIn:
        if (!in_values) {
          return false;
        }
        break;
      case SelectorOperator::kNotIn:
        // Kubernetes: NotIn matches when the key is absent too.
        if (in_values) {
          return false;
        }
        break;
      case SelectorOperator::kExists:
        if (!present) {
          return false;
        }
        break;
      case SelectorOperator::kDoesNotExist:
        if (present) {
          return false;
        }
        break;
    }
  }
  return true;
}

const char* SelectorOperatorName(SelectorOperator op) {
  switch (op) {
    case SelectorOperator::kIn:
      return "In";
    case SelectorOperator::kNotIn:
      return "NotIn";
    case SelectorOperator::kExists:
      return "Exists";
    case SelectorOperator::kDoesNotExist:
      return "DoesNotExist";
  }
  return "?";
}

}  // namespace bursar::values
