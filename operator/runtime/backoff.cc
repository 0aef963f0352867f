#include "operator/runtime/backoff.h"

#include <algorithm>
#include <cstdint>
#include <random>

namespace bursar::runtime {

Backoff::Backoff(BackoffPolicy policy) : Backoff(policy, std::random_device{}()) {}

Backoff::Backoff(BackoffPolicy policy, uint64_t seed) : policy_(policy), rng_(seed) {
  Reset();
}

void Backoff::Reset() {
  failures_ = 0;
  ceiling_ = std::min(policy_.initial, policy_.max);
  previous_ = ceiling_;
  last_failure_.reset();
}

absl::Duration Backoff::Uniform(absl::Duration lo, absl::Duration hi) {
  if (hi <= lo) {
    return lo;
  }
  // 53 random bits make a double in [0, 1); scaling the span in nanoseconds keeps it exact enough
  // for delays (a 30 s span is ~2^35 ns).
  const double unit = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  const double span = absl::ToDoubleNanoseconds(hi - lo);
  return lo + absl::Nanoseconds(static_cast<int64_t>(unit * span + 0.5));
}

absl::Duration Backoff::NextDelay(absl::Time now) {
  if (last_failure_.has_value() && now - *last_failure_ >= policy_.reset_after) {
    Reset();
  }
  last_failure_ = now;
  ++failures_;

  absl::Duration delay;
  switch (policy_.jitter) {
    case Jitter::kNone:
      delay = ceiling_;
      break;
    case Jitter::kFull:
      delay = Uniform(absl::ZeroDuration(), ceiling_);
      break;
    case Jitter::kDecorrelated:
      delay = std::min(policy_.max, Uniform(policy_.initial, previous_ * 3));
      previous_ = delay;
      break;
  }
  // Duration * double saturates at infinity rather than overflowing, and min() caps it.
  ceiling_ = std::min(policy_.max, ceiling_ * policy_.factor);
  return delay;
}

}  // namespace bursar::runtime
