#include "controllers/values/labels.h"

#include <algorithm>

namespace bursar::values {

bool LabelSelector::Matches(LabelsRef labels) const {
  for (const auto& [key, value] : match_labels) {
    std::optional<std::string_view> found = labels.Find(key);
    if (!found.has_value() || *found != value) {
      return false;
    }
  }
  for (const SelectorRequirement& req : match_expressions) {
    std::optional<std::string_view> found = labels.Find(req.key);
    bool present = found.has_value();
    bool in_values =
        present && std::find(req.values.begin(), req.values.end(), *found) != req.values.end();
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
