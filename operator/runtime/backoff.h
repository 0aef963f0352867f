#pragma once

// Exponential backoff with jitter, for retrying a failing connection (the watcher's list/watch,
// leader election's lease calls). The defaults are kube-rs's watcher defaults: 0.8 s doubling to
// 30 s, jittered, starting over once the failures stop for 120 s.
//
// Jitter spreads the retries of many replicas (or many watchers) that failed together, so they do
// not hit a recovering API server in lockstep:
//   kNone          the ceiling itself: initial × factor^n, capped at max
//   kFull          uniform in [0, ceiling]                     (AWS "full jitter")
//   kDecorrelated  uniform in [initial, previous × 3], capped  (AWS "decorrelated jitter";
//                  `factor` does not apply)
// Pitfall: the reset is judged from the time of the previous failure, so pass NextDelay() the
// clock's MonotonicNow(), never wall time.
// Thread-compatible: one Backoff per retry loop.

#include <cstdint>
#include <optional>
#include <random>

#include "absl/time/time.h"

namespace bursar::runtime {

enum class Jitter { kNone, kFull, kDecorrelated };

struct BackoffPolicy {
  absl::Duration initial = absl::Milliseconds(800);
  absl::Duration max = absl::Seconds(30);
  double factor = 2.0;
  Jitter jitter = Jitter::kFull;
  // A failure this long or longer after the previous one starts the sequence over: whatever ran
  // in between was healthy.
  absl::Duration reset_after = absl::Seconds(120);
};

class Backoff {
 public:
  // Seeds its generator from the operating system.
  explicit Backoff(BackoffPolicy policy = {});
  // Deterministic: the same seed gives the same delays on every platform.
  Backoff(BackoffPolicy policy, uint64_t seed);

  // Records a failure at monotonic time `now` and returns how long to wait before retrying.
  absl::Duration NextDelay(absl::Time now);
  // Starts the sequence over; call it after a success that proves the connection healthy.
  void Reset();

  // Failures since the last reset.
  int failures() const { return failures_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  // Uniform in [lo, hi]; exact across standard libraries (std::uniform_*_distribution is not).
  absl::Duration Uniform(absl::Duration lo, absl::Duration hi);

  BackoffPolicy policy_;
  std::mt19937_64 rng_;
  int failures_ = 0;
  absl::Duration ceiling_;   // kNone/kFull: the next un-jittered delay
  absl::Duration previous_;  // kDecorrelated: the last delay returned
  std::optional<absl::Time> last_failure_;
};

}  // namespace bursar::runtime
