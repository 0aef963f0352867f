#include "operator/runtime/rate_limiter.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "operator/runtime/clock.h"

namespace bursar::runtime {
namespace {

TEST(ItemExponentialFailureRateLimiter, DoublesPerItemUpToTheCap) {
  ItemExponentialFailureRateLimiter limiter(absl::Milliseconds(5), absl::Seconds(1000));
  const std::vector<absl::Duration> want = {absl::Milliseconds(5),  absl::Milliseconds(10),
                                            absl::Milliseconds(20), absl::Milliseconds(40),
                                            absl::Milliseconds(80), absl::Milliseconds(160)};
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(limiter.When("ns/a"), want[i]);
  }
  EXPECT_EQ(limiter.NumRequeues("ns/a"), 6);
  // Another item has its own streak.
  EXPECT_EQ(limiter.When("ns/b"), absl::Milliseconds(5));
  EXPECT_EQ(limiter.NumRequeues("ns/b"), 1);
  EXPECT_EQ(limiter.NumRequeues("ns/never"), 0);

  // 5 ms × 2^18 = 1310.72 s is past the cap; the exponent may grow without overflowing.
  for (int i = 6; i < 18; ++i) {
    limiter.When("ns/a");
  }
  EXPECT_EQ(limiter.When("ns/a"), absl::Seconds(1000));
  for (int i = 0; i < 2000; ++i) {
    limiter.When("ns/a");
  }
  EXPECT_EQ(limiter.When("ns/a"), absl::Seconds(1000));
}

TEST(ItemExponentialFailureRateLimiter, ForgetEndsTheStreak) {
  ItemExponentialFailureRateLimiter limiter(absl::Milliseconds(5), absl::Seconds(1000));
  limiter.When("ns/a");
  limiter.When("ns/a");
  limiter.Forget("ns/a");
  EXPECT_EQ(limiter.NumRequeues("ns/a"), 0);
  EXPECT_EQ(limiter.When("ns/a"), absl::Milliseconds(5));
}

TEST(BucketRateLimiter, BurstThenOneTokenPerTenthOfASecond) {
  SimulatedClock clock;
  BucketRateLimiter limiter(clock, 10, 100);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter.When("k"), absl::ZeroDuration()) << i;
  }
  // Borrowing ahead: each reservation waits for its own token.
  EXPECT_EQ(limiter.When("k"), absl::Milliseconds(100));
  EXPECT_EQ(limiter.When("k"), absl::Milliseconds(200));
  EXPECT_EQ(limiter.NumRequeues("k"), 0);

  // One second refills 10 tokens: 2 repay the debt, 8 are free.
  clock.Advance(absl::Seconds(1));
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(limiter.When("k"), absl::ZeroDuration()) << i;
  }
  EXPECT_EQ(limiter.When("k"), absl::Milliseconds(100));
}

TEST(BucketRateLimiter, RefillStopsAtTheBurst) {
  SimulatedClock clock;
  BucketRateLimiter limiter(clock, 10, 100);
  for (int i = 0; i < 50; ++i) {
    limiter.When("k");
  }
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(limiter.When("k"), absl::ZeroDuration()) << i;
  }
  EXPECT_EQ(limiter.When("k"), absl::Milliseconds(100));
}

TEST(DefaultControllerRateLimiter, TheSlowerLimiterWins) {
  SimulatedClock clock;
  std::unique_ptr<RateLimiter> limiter = DefaultControllerRateLimiter(clock);
  // Per item first: the bucket is full.
  EXPECT_EQ(limiter->When("ns/a"), absl::Milliseconds(5));
  EXPECT_EQ(limiter->When("ns/a"), absl::Milliseconds(10));
  EXPECT_EQ(limiter->NumRequeues("ns/a"), 2);
  // 98 more distinct items drain the bucket (100 tokens in all) at 5 ms each.
  for (int i = 0; i < 98; ++i) {
    ASSERT_EQ(limiter->When("ns/item-" + std::to_string(i)), absl::Milliseconds(5)) << i;
  }
  // Now the bucket is slower than a fresh item's 5 ms.
  EXPECT_EQ(limiter->When("ns/fresh"), absl::Milliseconds(100));
  limiter->Forget("ns/a");
  EXPECT_EQ(limiter->NumRequeues("ns/a"), 0);
  clock.Advance(absl::Seconds(10));
  EXPECT_EQ(limiter->When("ns/a"), absl::Milliseconds(5));
}

}  // namespace
}  // namespace bursar::runtime
