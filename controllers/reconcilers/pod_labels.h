#pragma once

// PodLabels: a pod's labels as the pod cache keeps them, tens of thousands of pods with ~10
// labels each. One heap block a pod, holding the values end to end and where each one lies
// (4 bytes a label while the values total at most 64 KiB, as the API server's limits keep them);
// the keys are a list shared by every pod with the same keys in the same order (the pods of
// one template, which is most of a cluster), interned for the process like the keys
// themselves. A value the pod already has is stored once (a Job's pods carry its uid and its
// name twice each, under the old and the batch.kubernetes.io/ keys). Read by key with a scan
// (a pod has few), as selectors do through values::LabelsRef.
//
// The interned key lists are never freed: like kube::InternedString, for the small set of
// label key lists a cluster's templates have, not for keys that grow without bound.
// Thread-compatible; the interning behind it is thread-safe.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/kube/watch_decoder.h"

namespace bursar::reconcilers {

class PodLabels {
 public:
  using Entry = std::pair<kube::InternedString, std::string_view>;

  PodLabels() = default;
  PodLabels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels);
  PodLabels(const PodLabels& o);
  PodLabels(PodLabels&& o) noexcept : block_(std::exchange(o.block_, nullptr)) {}
  PodLabels& operator=(PodLabels o) noexcept {
    std::swap(block_, o.block_);
    return *this;
  }
  ~PodLabels();

  // Sets `key` to `value`, replacing an earlier value of the same key (the decoders set every
  // label at once with Assign; this rebuilds the block).
  void Set(kube::InternedString key, std::string_view value);
  // Sets every label of `labels` (pairs of an InternedString key and a string value), in
  // their order; of two equal keys, the later value.
  template <typename Range>
  void Assign(const Range& labels) {
    std::vector<Entry> entries;
    for (const auto& [key, value] : labels) {
      entries.emplace_back(key, std::string_view(value));
    }
    AssignEntries(entries);
  }
  // The value of `key`; nullopt when the pod has no such label.
  std::optional<std::string_view> Find(std::string_view key) const;

  size_t size() const;
  bool empty() const { return block_ == nullptr; }
  // The labels in the order set.
  std::vector<std::pair<std::string_view, std::string_view>> Entries() const;
  bool operator==(const PodLabels& o) const { return Entries() == o.Entries(); }

 private:
  struct Header;
  struct Range;
  void AssignEntries(const std::vector<Entry>& entries);
  Header header() const;
  std::string_view ValueAt(size_t i) const;

  char* block_ = nullptr;  // Header, a Range per key, the values; null when there are none
};

}  // namespace bursar::reconcilers
