#pragma once

// AdmissionQueue: a budget's waiting Jobs in the simulated cluster, visited in admission order
// (engine/admission_order.h), as the operator orders the Jobs it resumes.
//
// Ordered by length (Bursar): every Job has a key (priority, due time, queued, index) in one
// ordered set. A Job with a declared length keeps its key. A Job without one is ranked with the
// length its budget has learned for its model *now* (engine::LearnedLength), which changes as
// Jobs finish; such Jobs are also filed in groups by (priority, model, GPUs), which share a due
// offset, and a scan first re-keys the groups whose learned length changed since the last scan
// (rarely: the learned length is rounded to a power of two of minutes). So the order is the
// operator's exactly, and a scan is a walk of one ordered set.
// Not ordered by length (the baselines: a ResourceQuota or a Kueue ClusterQueue admits by
// priority, then creation time): every Job ranks as if of unknown length, which is that order.
// Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "controllers/engine/admission_order.h"
#include "controllers/engine/job_lengths.h"
#include "controllers/sim/trace.h"

namespace bursar::sim::internal {

class AdmissionQueue {
 public:
  enum class Visit { kSkip, kTake, kStop };

  AdmissionQueue() = default;
  AdmissionQueue(absl::Time origin, bool by_length) : origin_(origin), by_length_(by_length) {}

  // Queues the Job at `index` of the trace (again, after a suspension: ranked by its submit),
  // ranked with what `lengths` knows now.
  void Insert(size_t index, const TraceJob& job, const engine::JobLengths& lengths);
  size_t size() const { return order_.size(); }
  bool empty() const { return order_.empty(); }

  // Calls visit(index) for each waiting Job in admission order, ranked with `lengths`: kSkip
  // goes on to the next, kTake removes the Job from the queue and goes on, kStop ends the scan.
  template <typename VisitFn>
  void Scan(const engine::JobLengths& lengths, VisitFn visit);

  // The first `n` waiting Jobs in admission order (for DecisionTrace).
  std::vector<size_t> Front(const engine::JobLengths& lengths, size_t n);

 private:
  // engine::AdmissionRank in whole seconds since the origin, with the Job's index last: the
  // same order, compared without time arithmetic.
  using Key = std::tuple<int64_t, int64_t, int64_t, size_t>;  // (-priority, due, queued, index)
  using GroupKey = std::tuple<int, std::string, int>;         // (priority, model, gpus)
  struct Group {
    std::set<std::pair<int64_t, size_t>> members;  // (submit, index)
    int64_t due_after = 0;                         // due - queued of its Jobs
  };
  using Groups = std::map<GroupKey, Group>;

  // How long after it is queued a Job of this priority, length and width is due: due - queued
  // does not depend on when it was queued (engine/admission_order.h).
  int64_t DueAfter(int priority, std::optional<absl::Duration> length, int gpus) const {
    return absl::ToInt64Seconds(engine::AdmissionRankOf(priority, origin_, length, gpus).due -
                                origin_);
  }
  static Key KeyOf(int priority, int64_t submit_s, int64_t due_after, size_t index) {
    return {-int64_t{priority}, submit_s + due_after, submit_s, index};
  }
  // Re-keys the groups whose learned length changed since the last call.
  void Refresh(const engine::JobLengths& lengths);
  void Remove(std::set<Key>::iterator at);

  absl::Time origin_;  // the trace's t = 0
  bool by_length_ = false;
  std::set<Key> order_;
  Groups groups_;
  std::unordered_map<size_t, Groups::iterator> group_of_;  // by Job index
  std::optional<uint64_t> seen_version_;                   // of the lengths last ranked with
};

template <typename VisitFn>
void AdmissionQueue::Scan(const engine::JobLengths& lengths, VisitFn visit) {
  Refresh(lengths);
  for (auto it = order_.begin(); it != order_.end();) {
    const Visit v = visit(std::get<3>(*it));
    if (v == Visit::kStop) {
      break;
    }
    if (v == Visit::kTake) {
      auto next = std::next(it);
      Remove(it);
      it = next;
    } else {
      ++it;
    }
  }
}

}  // namespace bursar::sim::internal
