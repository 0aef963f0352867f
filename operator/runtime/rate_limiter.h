#pragma once

// client-go's workqueue rate limiters: how long a failed key waits before it is reconciled
// again. A controller combines two: per key, exponential in that key's consecutive failures (one
// broken object backs off alone), and overall, a token bucket (a storm of failures cannot turn
// into a storm of API calls). DefaultControllerRateLimiter() is client-go's default: 5 ms
// doubling to 1000 s per key, 10 qps with a burst of 100 overall, the slower of the two wins.
//
// Pitfall: When() is not a query, it records a retry (and takes a token). Call it once per
// requeue, and call Forget() when the key reconciles cleanly, or its next failure starts where
// the last streak ended.
// All implementations are thread-safe.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/runtime/clock.h"

namespace bursar::runtime {

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // Records a retry of `item` and returns how long to wait before it.
  virtual absl::Duration When(std::string_view item) = 0;
  // Ends the item's failure streak.
  virtual void Forget(std::string_view item) = 0;
  // Retries recorded for the item since its last Forget().
  virtual int NumRequeues(std::string_view item) const = 0;
};

// base × 2^failures, capped at max; per item.
class ItemExponentialFailureRateLimiter final : public RateLimiter {
 public:
  ItemExponentialFailureRateLimiter(absl::Duration base_delay, absl::Duration max_delay);

  absl::Duration When(std::string_view item) override;
  void Forget(std::string_view item) override;
  int NumRequeues(std::string_view item) const override;

 private:
  const absl::Duration base_delay_;
  const absl::Duration max_delay_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> failures_ ABSL_GUARDED_BY(mu_);
};

// A token bucket shared by all items (golang.org/x/time/rate semantics): `qps` tokens a second,
// at most `burst` saved up, full at construction. Each When() reserves a token, borrowing ahead
// when the bucket is empty, and returns the wait until that token exists. Keeps no per-item
// state: Forget() does nothing and NumRequeues() is 0. `clock` must outlive the limiter.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(const Clock& clock, double qps, int burst);

  absl::Duration When(std::string_view item) override;
  void Forget(std::string_view) override {}
  int NumRequeues(std::string_view) const override { return 0; }

 private:
  const Clock& clock_;
  const double qps_;
  const double burst_;
  absl::Mutex mu_;
  double tokens_ ABSL_GUARDED_BY(mu_);  // negative while borrowed ahead
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// The longest wait of its limiters; NumRequeues is their maximum, Forget forgets in all.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);

  absl::Duration When(std::string_view item) override;
  void Forget(std::string_view item) override;
  int NumRequeues(std::string_view item) const override;

 private:
  const std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter. `clock` must outlive the limiter.
std::unique_ptr<RateLimiter> DefaultControllerRateLimiter(const Clock& clock);

}  // namespace bursar::runtime
