#include "operator/runtime/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <utility>

#include "absl/strings/string_view.h"
#include "controllers/values/strings.h"

namespace bursar::runtime {
namespace {

// Debian's Abseil has its own string_view type, not an alias of std::string_view.

}  // namespace

ItemExponentialFailureRateLimiter::ItemExponentialFailureRateLimiter(absl::Duration base_delay,
                                                                     absl::Duration max_delay)
    : base_delay_(base_delay), max_delay_(max_delay) {}

absl::Duration ItemExponentialFailureRateLimiter::When(std::string_view item) {
  int exponent;
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = failures_.try_emplace(values::AbslView(item), 0);
    exponent = it->second++;
  }
  // Duration × double saturates to infinity instead of overflowing; the cap then applies.
  return std::min(max_delay_, base_delay_ * std::exp2(exponent));
}

void ItemExponentialFailureRateLimiter::Forget(std::string_view item) {
  absl::MutexLock lock(&mu_);
  failures_.erase(values::AbslView(item));
}

int ItemExponentialFailureRateLimiter::NumRequeues(std::string_view item) const {
  absl::MutexLock lock(&mu_);
  auto it = failures_.find(values::AbslView(item));
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(const Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(static_cast<double>(burst)),
      tokens_(static_cast<double>(burst)),
      last_(clock.MonotonicNow()) {}

absl::Duration BucketRateLimiter::When(std::string_view /*item*/) {
  const absl::Time now = clock_.MonotonicNow();
  absl::MutexLock lock(&mu_);
  if (now > last_) {
    tokens_ = std::min(burst_, tokens_ + absl::ToDoubleSeconds(now - last_) * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) {
    return absl::ZeroDuration();
  }
  // Truncated to whole nanoseconds, as time.Duration does.
  return absl::Nanoseconds(static_cast<int64_t>(-tokens_ / qps_ * 1e9));
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

absl::Duration MaxOfRateLimiter::When(std::string_view item) {
  absl::Duration longest = absl::ZeroDuration();
  // Every limiter records the retry, not just the slowest.
  for (const std::unique_ptr<RateLimiter>& limiter : limiters_) {
    longest = std::max(longest, limiter->When(item));
  }
  return longest;
}

void MaxOfRateLimiter::Forget(std::string_view item) {
  for (const std::unique_ptr<RateLimiter>& limiter : limiters_) {
    limiter->Forget(item);
  }
}

int MaxOfRateLimiter::NumRequeues(std::string_view item) const {
  int most = 0;
  for (const std::unique_ptr<RateLimiter>& limiter : limiters_) {
    most = std::max(most, limiter->NumRequeues(item));
  }
  return most;
}

std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock& clock) {
  std::vector<std::unique_ptr<RateLimiter>> limiters;
  limiters.push_back(std::make_unique<ItemExponentialFailureRateLimiter>(absl::Milliseconds(5),
                                                                         absl::Seconds(1000)));
  limiters.push_back(std::make_unique<BucketRateLimiter>(clock, 10.0, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(limiters));
}

}  // namespace bursar::runtime
