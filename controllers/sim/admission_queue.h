#pragma once

// AdmissionQueue: a budget's waiting Jobs in the simulated cluster, visited in admission order
// (engine/admission_order.h), as the operator orders the Jobs it resumes.
//
// Ordered by length (Bursar): a Job with a declared length has a rank that never changes, and
// sits in one ordered set. A Job without one is ranked by what its budget has learned for its
// model *now*, which changes as Jobs finish; such Jobs sit in one FIFO per (priority, model),
// since they share a length, and Scan merges the heads of those FIFOs with the ordered set,
// ranking each head with the current lengths. So the order is the operator's exactly, at a cost
// per visited Job of the number of FIFOs (distinct priorities x models waiting).
// Not ordered by length (the baselines: a ResourceQuota or a Kueue ClusterQueue admits by
// priority, then creation time): every Job ranks as if of unknown length, which is that order.
// Not thread-safe.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
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

  // Queues the Job at `index` of the trace (again, after a suspension: ranked by its submit).
  void Insert(size_t index, const TraceJob& job);
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Calls visit(index) for each waiting Job in admission order, ranked with `lengths`: kSkip
  // goes on to the next, kTake removes the Job from the queue and goes on, kStop ends the scan.
  template <typename VisitFn>
  void Scan(const engine::JobLengths& lengths, VisitFn visit);

  // The first `n` waiting Jobs in admission order (for DecisionTrace).
  std::vector<size_t> Front(const engine::JobLengths& lengths, size_t n);

 private:
  using Fixed = std::set<std::pair<engine::AdmissionRank, size_t>>;
  using Fifo = std::set<std::pair<int64_t, size_t>>;  // (submit, index)
  using FifoKey = std::tuple<int, std::string, int>;  // (priority, model, gpus)

  engine::AdmissionRank RankOf(int priority, int64_t submit_s, std::optional<absl::Duration> length,
                               int gpus) const {
    return engine::AdmissionRankOf(priority, origin_ + absl::Seconds(submit_s), length, gpus);
  }

  absl::Time origin_;  // the trace's t = 0
  bool by_length_ = false;
  Fixed fixed_;
  std::map<FifoKey, Fifo> fifos_;
  size_t size_ = 0;
};

template <typename VisitFn>
void AdmissionQueue::Scan(const engine::JobLengths& lengths, VisitFn visit) {
  struct Cursor {
    std::map<FifoKey, Fifo>::iterator fifo;
    Fifo::iterator at;
    std::optional<absl::Duration> length;
  };
  std::vector<Cursor> cursors;
  for (auto f = fifos_.begin(); f != fifos_.end(); ++f) {
    cursors.push_back({f, f->second.begin(), lengths.Typical(std::get<1>(f->first))});
  }
  auto fixed_at = fixed_.begin();
  while (true) {
    // The head that starts first: the ordered set's, or a FIFO's ranked with today's lengths.
    std::optional<std::pair<engine::AdmissionRank, size_t>> best;
    Cursor* best_cursor = nullptr;
    if (fixed_at != fixed_.end()) {
      best = *fixed_at;
    }
    for (Cursor& c : cursors) {
      if (c.at == c.fifo->second.end()) {
        continue;
      }
      std::pair<engine::AdmissionRank, size_t> head{
          RankOf(std::get<0>(c.fifo->first), c.at->first, c.length, std::get<2>(c.fifo->first)),
          c.at->second};
      if (!best.has_value() || head < *best) {
        best = head;
        best_cursor = &c;
      }
    }
    if (!best.has_value()) {
      break;
    }
    const Visit v = visit(best->second);
    if (v == Visit::kStop) {
      break;
    }
    if (best_cursor != nullptr) {
      best_cursor->at =
          v == Visit::kTake ? best_cursor->fifo->second.erase(best_cursor->at) : ++best_cursor->at;
    } else {
      fixed_at = v == Visit::kTake ? fixed_.erase(fixed_at) : ++fixed_at;
    }
    size_ -= v == Visit::kTake ? 1 : 0;
  }
  std::erase_if(fifos_, [](const auto& f) { return f.second.empty(); });
}

}  // namespace bursar::sim::internal
