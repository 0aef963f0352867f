#pragma once

// Admission order within a budget: which waiting Job starts first when the budget has room.
// The simulator's admission (sim/admission_queue.h) and the operator's resume order
// (reconcilers/planner_actuation.cc) both rank Jobs with AdmissionRankOf, so they agree.
//
// The rule (docs/concepts.md, "Admission order"):
//   1. Higher priority first (the Job's bursar.dev/priority, else its pods' priority).
//   2. Within a priority, the earlier *due time* first:
//        due = queued since + kLengthWeight x min(expected work, kLongestRanked)
//      where expected work = expected length x GPUs (a CPU-only Job counts as one GPU), and
//      the expected length is the Job's declared one (bursar.dev/expected-duration, or
//      activeDeadlineSeconds, the shorter of the two), else what its budget learned for its
//      model (JobLengths::Typical, rounded down to a power of two of minutes: an estimate
//      only ranks, and a coarse one changes seldom); work of unknown length counts as
//      kLongestRanked. Less work
//      starts first, which lowers the mean time Jobs spend in the system (smallest work first
//      finishes the most Jobs per GPU-hour), and waiting ages a Job: its due time is fixed
//      while Jobs queued later get later due times.
//   3. Then the earlier queued, then the caller's own order (name, index).
// Starvation bound: a Job is passed only by Jobs of higher priority, or of its own priority
// queued before its due time, i.e. at most kLengthWeight x kLongestRanked (4 x 72 h = 12 days)
// after it was queued, and sooner the less work it is; from then on nothing of its priority
// queued later starts before it. Across priorities the order is strict, as in Kubernetes'
// scheduler and Kueue.
// Pitfall: a declared length is a hint; a Job that declares less than it runs jumps the queue
// (activeDeadlineSeconds is enforced by Kubernetes itself). Pure and deterministic.

#include <compare>
#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/time/time.h"
#include "controllers/engine/job_lengths.h"

namespace bursar::engine {

// Chosen by measurement on the ten scenarios of docs/simulate.md (length alone, and 8 x 72 h,
// lowered mean flow less).
inline constexpr int kLengthWeight = 4;
inline constexpr absl::Duration kLongestRanked = absl::Hours(72);  // of GPU time

// What is known of a waiting Job's length.
struct DeclaredLength {
  std::optional<absl::Duration> expected;         // bursar.dev/expected-duration
  std::optional<absl::Duration> active_deadline;  // spec.activeDeadlineSeconds
};

// The declared length (the shorter of the two when both are given), else the learned one for
// `model` (LearnedLength), else nullopt.
std::optional<absl::Duration> ExpectedLength(const DeclaredLength& declared,
                                             const JobLengths& learned, std::string_view model);

// JobLengths::Typical(model) rounded down to a power of two of minutes (1 minute at least).
std::optional<absl::Duration> LearnedLength(const JobLengths& learned, std::string_view model);

struct AdmissionRank {
  int64_t priority = 0;  // higher first
  absl::Time due;        // earlier first
  absl::Time queued;     // earlier first

  friend bool operator==(const AdmissionRank&, const AdmissionRank&) = default;
  // Orders as the admission order: a < b when a starts first.
  friend std::strong_ordering operator<=>(const AdmissionRank& a, const AdmissionRank& b);
};

// `expected`: ExpectedLength; `gpus`: what the Job's pods request together.
AdmissionRank AdmissionRankOf(int64_t priority, absl::Time queued,
                              std::optional<absl::Duration> expected, int64_t gpus);

}  // namespace bursar::engine
