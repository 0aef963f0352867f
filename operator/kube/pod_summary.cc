#include <cstdint>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "controllers/values/strings.h"
#include "operator/kube/watch_decoder.h"

// InternedString and PodSummary of watch_decoder.h: the compact Pod the cache keeps.

namespace bursar::kube {
namespace {

using values::AbslView;

// The process-wide pool behind InternedString. Strings live in nodes, so their addresses are
// stable while the set grows.
class StringPool {
 public:
  const std::string* Intern(std::string_view s) {
    absl::MutexLock lock(&mu_);
    auto it = strings_.find(AbslView(s));
    if (it == strings_.end()) {
      it = strings_.emplace(s).first;
    }
    return &*it;
  }
  size_t size() {
    absl::MutexLock lock(&mu_);
    return strings_.size();
  }

 private:
  absl::Mutex mu_;
  absl::node_hash_set<std::string> strings_ ABSL_GUARDED_BY(mu_);
};

StringPool& Pool() {
  static StringPool* const pool = new StringPool();  // never destroyed: summaries point into it
  return *pool;
}

// Heap bytes owned by a string: none while it fits in the object (small-string optimization).
size_t HeapBytes(const std::string& s) {
  const auto data = reinterpret_cast<uintptr_t>(s.data());
  const auto self = reinterpret_cast<uintptr_t>(&s);
  return data >= self && data < self + sizeof(s) ? 0 : s.capacity() + 1;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Interned strings and summaries.

InternedString::InternedString(std::string_view s) {
  if (!s.empty()) {
    s_ = Pool().Intern(s);
  }
}

size_t InternedString::PoolSize() {
  return Pool().size();
}

std::string_view PodPhaseName(PodPhase phase) {
  switch (phase) {
    case PodPhase::kUnknown:
      return "Unknown";
    case PodPhase::kPending:
      return "Pending";
    case PodPhase::kRunning:
      return "Running";
    case PodPhase::kSucceeded:
      return "Succeeded";
    case PodPhase::kFailed:
      return "Failed";
  }
  return "Unknown";
}

const std::string* PodSummary::Label(std::string_view key) const {
  for (const auto& [k, v] : labels) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

int64_t PodSummary::TotalGpus() const {
  int64_t total = 0;
  for (const ContainerSummary& c : containers) {
    total += c.gpus;
  }
  return total;
}

size_t PodSummary::ApproximateBytes() const {
  size_t bytes = sizeof(PodSummary);
  for (const std::string* s : {&uid, &name, &resource_version, &node_name, &owner_name}) {
    bytes += HeapBytes(*s);
  }
  bytes += labels.capacity() * sizeof(labels[0]);
  for (const auto& label : labels) {
    bytes += HeapBytes(label.second);
  }
  bytes += containers.capacity() * sizeof(ContainerSummary);
  return bytes;
}

}  // namespace bursar::kube
