#pragma once

// Kubernetes label sets and selectors (metav1.LabelSelector semantics): matchLabels AND every
// matchExpression must hold. An empty selector matches everything; an absent one (nullopt at
// the call site) is the caller's decision.

#include <concepts>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bursar::values {

using Labels = std::map<std::string, std::string, std::less<>>;

// A label set that can be read by key: a Labels map, or a compact set kept by the thousand (a
// pod's labels in the cache) that has
// `std::optional<std::string_view> Find(std::string_view key) const`.
template <typename T>
concept FindableLabels = requires(const T& labels, std::string_view key) {
  { labels.Find(key) } -> std::same_as<std::optional<std::string_view>>;
};

// Read access to a label set, whatever holds it; null or default-constructed: no labels. A view:
// the set must outlive it (a temporary set does not compile). Copies are two pointers.
class LabelsRef {
 public:
  LabelsRef() = default;
  LabelsRef(std::nullptr_t) {}     // NOLINT(google-explicit-constructor): "no labels"
  LabelsRef(const Labels& labels)  // NOLINT(google-explicit-constructor)
      : labels_(&labels), find_(&FindInMap) {}
  LabelsRef(const Labels* labels)  // NOLINT(google-explicit-constructor)
      : labels_(labels), find_(labels == nullptr ? nullptr : &FindInMap) {}
  template <FindableLabels T>
  LabelsRef(const T& labels)  // NOLINT(google-explicit-constructor)
      : labels_(&labels), find_(&FindIn<T>) {}
  template <FindableLabels T>
  LabelsRef(const T* labels)  // NOLINT(google-explicit-constructor)
      : labels_(labels), find_(labels == nullptr ? nullptr : &FindIn<T>) {}
  // Not from a temporary set: the view would outlive it.
  LabelsRef(const Labels&&) = delete;
  template <FindableLabels T>
  LabelsRef(const T&&) = delete;

  // The value of `key`; nullopt when the set has no such label.
  std::optional<std::string_view> Find(std::string_view key) const {
    return find_ == nullptr ? std::nullopt : find_(labels_, key);
  }

 private:
  using FindFn = std::optional<std::string_view> (*)(const void* labels, std::string_view key);
  static std::optional<std::string_view> FindInMap(const void* labels, std::string_view key) {
    const Labels& map = *static_cast<const Labels*>(labels);
    auto it = map.find(key);
    return it == map.end() ? std::nullopt : std::optional<std::string_view>(it->second);
  }
  template <typename T>
  static std::optional<std::string_view> FindIn(const void* labels, std::string_view key) {
    return static_cast<const T*>(labels)->Find(key);
  }

  const void* labels_ = nullptr;
  FindFn find_ = nullptr;
};

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
  bool Matches(LabelsRef labels) const;
  // How many constraints the selector has; more constraints means a narrower selector.
  size_t Specificity() const { return match_labels.size() + match_expressions.size(); }
  bool operator==(const LabelSelector&) const = default;
};

const char* SelectorOperatorName(SelectorOperator op);

}  // namespace bursar::values
