#include "operator/runtime/backoff.h"

#include <algorithm>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace bursar::runtime {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

BackoffPolicy Policy(Jitter jitter) {
  BackoffPolicy policy;
  policy.jitter = jitter;
  return policy;
}

// Delays for `n` failures one second apart: never long enough apart to reset.
std::vector<absl::Duration> Delays(Backoff& backoff, int n) {
  std::vector<absl::Duration> delays;
  for (int i = 0; i < n; ++i) {
    delays.push_back(backoff.NextDelay(kStart + absl::Seconds(i)));
  }
  return delays;
}

TEST(Backoff, DefaultsAreKubeRsWatcherDefaults) {
  const BackoffPolicy policy;
  EXPECT_EQ(policy.initial, absl::Milliseconds(800));
  EXPECT_EQ(policy.max, absl::Seconds(30));
  EXPECT_EQ(policy.factor, 2.0);
  EXPECT_EQ(policy.jitter, Jitter::kFull);
  EXPECT_EQ(policy.reset_after, absl::Seconds(120));
}

TEST(Backoff, WithoutJitterDoublesUpToTheCap) {
  Backoff backoff(Policy(Jitter::kNone), 1);
  EXPECT_EQ(Delays(backoff, 9),
            (std::vector<absl::Duration>{absl::Milliseconds(800), absl::Milliseconds(1600),
                                         absl::Milliseconds(3200), absl::Milliseconds(6400),
                                         absl::Milliseconds(12800), absl::Milliseconds(25600),
                                         absl::Seconds(30), absl::Seconds(30), absl::Seconds(30)}));
  EXPECT_EQ(backoff.failures(), 9);
}

TEST(Backoff, FullJitterStaysUnderTheCeilingAndIsSeeded) {
  Backoff backoff(Policy(Jitter::kFull), 42);
  const std::vector<absl::Duration> delays = Delays(backoff, 200);
  absl::Duration ceiling = absl::Milliseconds(800);
  for (size_t i = 0; i < delays.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GE(delays[i], absl::ZeroDuration());
    EXPECT_LE(delays[i], ceiling);
    ceiling = std::min(absl::Seconds(30), ceiling * 2);
  }
  // Jittered: not every capped delay is the cap, and they are spread over it.
  const auto [lo, hi] = std::minmax_element(delays.begin() + 10, delays.end());
  EXPECT_LT(*lo, absl::Seconds(5));
  EXPECT_GT(*hi, absl::Seconds(25));

  Backoff same_seed(Policy(Jitter::kFull), 42);
  EXPECT_EQ(Delays(same_seed, 200), delays);
  Backoff other_seed(Policy(Jitter::kFull), 43);
  EXPECT_NE(Delays(other_seed, 200), delays);
}

TEST(Backoff, DecorrelatedJitterStaysBetweenInitialAndThreeTimesThePrevious) {
  Backoff backoff(Policy(Jitter::kDecorrelated), 7);
  const std::vector<absl::Duration> delays = Delays(backoff, 200);
  absl::Duration previous = absl::Milliseconds(800);
  for (size_t i = 0; i < delays.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_GE(delays[i], absl::Milliseconds(800));
    EXPECT_LE(delays[i], std::min(absl::Seconds(30), previous * 3));
    previous = delays[i];
  }
  EXPECT_EQ(*std::max_element(delays.begin(), delays.end()), absl::Seconds(30));
}

TEST(Backoff, StartsOverAfterAHealthyPeriod) {
  Backoff backoff(Policy(Jitter::kNone), 1);
  Delays(backoff, 6);  // last failure at kStart + 5 s, next ceiling 30 s
  // 119 s after the previous failure: still the same streak.
  const absl::Time t = kStart + absl::Seconds(5) + absl::Seconds(119);
  EXPECT_EQ(backoff.NextDelay(t), absl::Seconds(30));
  EXPECT_EQ(backoff.failures(), 7);
  // 120 s after the previous one: healthy in between, start over.
  EXPECT_EQ(backoff.NextDelay(t + absl::Seconds(120)), absl::Milliseconds(800));
  EXPECT_EQ(backoff.failures(), 1);
  EXPECT_EQ(backoff.NextDelay(t + absl::Seconds(121)), absl::Milliseconds(1600));
}

TEST(Backoff, ExplicitResetStartsOver) {
  Backoff backoff(Policy(Jitter::kNone), 1);
  Delays(backoff, 4);
  backoff.Reset();
  EXPECT_EQ(backoff.failures(), 0);
  EXPECT_EQ(backoff.NextDelay(kStart + absl::Seconds(5)), absl::Milliseconds(800));
}

TEST(Backoff, InitialAboveMaxIsCapped) {
  BackoffPolicy policy = Policy(Jitter::kNone);
  policy.initial = absl::Minutes(5);
  Backoff backoff(policy, 1);
  EXPECT_EQ(Delays(backoff, 2),
            (std::vector<absl::Duration>{absl::Seconds(30), absl::Seconds(30)}));
}

}  // namespace
}  // namespace bursar::runtime
