#include "operator/runtime/clock.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace bursar::runtime {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

TEST(SystemClock, MonotonicTimeNeverGoesBackAndStartsNearWallTime) {
  SystemClock clock;
  absl::Time previous = clock.MonotonicNow();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = clock.MonotonicNow();
    ASSERT_GE(now, previous);
    previous = now;
  }
  // Anchored to the wall clock when first used, and shared by every instance.
  EXPECT_LT(absl::AbsDuration(clock.Now() - absl::Now()), absl::Seconds(1));
  EXPECT_LT(absl::AbsDuration(SystemClock().MonotonicNow() - clock.MonotonicNow()),
            absl::Seconds(1));
}

TEST(SystemClock, PassedDeadlineReturnsTrueAndNotifiedWakeupReturnsFalse) {
  SystemClock clock;
  EXPECT_TRUE(clock.SleepUntil(clock.MonotonicNow() - absl::Seconds(1), nullptr));
  EXPECT_TRUE(clock.SleepFor(absl::ZeroDuration(), nullptr));

  Wakeup wakeup;
  wakeup.Notify();
  // The wakeup is checked first, even when the deadline has passed too.
  EXPECT_FALSE(clock.SleepUntil(clock.MonotonicNow() - absl::Seconds(1), &wakeup));
  EXPECT_FALSE(clock.SleepUntil(absl::InfiniteFuture(), &wakeup));
}

TEST(SystemClock, NotifyWakesAThreadSleepingForever) {
  SystemClock clock;
  Wakeup wakeup;
  bool slept_fully = true;
  std::thread sleeper([&] { slept_fully = clock.SleepUntil(absl::InfiniteFuture(), &wakeup); });
  wakeup.Notify();
  sleeper.join();
  EXPECT_FALSE(slept_fully);
}

TEST(Wakeup, StaysNotifiedUntilCleared) {
  Wakeup wakeup;
  EXPECT_FALSE(wakeup.HasBeenNotified());
  wakeup.Notify();
  wakeup.Notify();
  EXPECT_TRUE(wakeup.HasBeenNotified());
  wakeup.Clear();
  EXPECT_FALSE(wakeup.HasBeenNotified());
}

TEST(SimulatedClock, AdvanceMovesBothTimesAndNeverBackwards) {
  SimulatedClock clock(kStart);
  EXPECT_EQ(clock.Now(), kStart);
  EXPECT_EQ(clock.MonotonicNow(), kStart);
  clock.Advance(absl::Seconds(90));
  EXPECT_EQ(clock.Now(), kStart + absl::Seconds(90));
  EXPECT_EQ(clock.MonotonicNow(), kStart + absl::Seconds(90));
  clock.Advance(-absl::Seconds(30));
  EXPECT_EQ(clock.MonotonicNow(), kStart + absl::Seconds(90));
}

TEST(SimulatedClock, WallTimeStepsLeaveMonotonicTimeAlone) {
  SimulatedClock clock(kStart);
  clock.SetWallTime(kStart - absl::Hours(1));
  EXPECT_EQ(clock.Now(), kStart - absl::Hours(1));
  EXPECT_EQ(clock.MonotonicNow(), kStart);
  clock.Advance(absl::Seconds(1));
  EXPECT_EQ(clock.Now(), kStart - absl::Hours(1) + absl::Seconds(1));
  EXPECT_EQ(clock.MonotonicNow(), kStart + absl::Seconds(1));
}

TEST(SimulatedClock, SleeperWakesOnlyWhenTimeReachesItsDeadline) {
  SimulatedClock clock(kStart);
  bool slept_fully = false;
  std::thread sleeper([&] { slept_fully = clock.SleepFor(absl::Seconds(10), nullptr); });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  clock.Advance(absl::Seconds(9));
  EXPECT_EQ(clock.PendingSleepers(), 1);
  clock.Advance(absl::Seconds(1));
  sleeper.join();
  EXPECT_TRUE(slept_fully);
  EXPECT_EQ(clock.PendingSleepers(), 0);
}

TEST(SimulatedClock, DueDeadlineReturnsAtOnce) {
  SimulatedClock clock(kStart);
  EXPECT_TRUE(clock.SleepUntil(kStart, nullptr));
  EXPECT_TRUE(clock.SleepUntil(kStart - absl::Seconds(5), nullptr));
  Wakeup stop;
  stop.Notify();
  EXPECT_FALSE(clock.SleepUntil(kStart, &stop));
}

TEST(SimulatedClock, SleepersWakeInDeadlineOrder) {
  SimulatedClock clock(kStart);
  absl::Mutex mu;
  std::vector<int> woken;
  std::vector<std::thread> sleepers;
  for (int seconds : {3, 1, 2}) {
    sleepers.emplace_back([&, seconds] {
      clock.SleepUntil(kStart + absl::Seconds(seconds), nullptr);
      absl::MutexLock lock(&mu);
      woken.push_back(seconds);
    });
  }
  ASSERT_TRUE(clock.AwaitSleepers(3));
  for (int step = 1; step <= 3; ++step) {
    clock.Advance(absl::Seconds(1));
    // The one due leaves and reports; everyone else sleeps on.
    EXPECT_EQ(clock.PendingSleepers(), 3 - step);
    absl::MutexLock lock(&mu);
    auto reported = [&] { return static_cast<int>(woken.size()) == step; };
    mu.Await(absl::Condition(&reported));
    EXPECT_EQ(woken.back(), step);
  }
  for (std::thread& t : sleepers) {
    t.join();
  }
  EXPECT_EQ(woken, (std::vector<int>{1, 2, 3}));
}

TEST(SimulatedClock, OneStopWakeupReleasesEverySleeper) {
  SimulatedClock clock(kStart);
  Wakeup stop;
  std::vector<std::thread> sleepers;
  std::vector<int> slept_fully(3, -1);
  for (int i = 0; i < 3; ++i) {
    sleepers.emplace_back([&, i] { slept_fully[i] = clock.SleepFor(absl::Hours(1), &stop); });
  }
  ASSERT_TRUE(clock.AwaitSleepers(3));
  stop.Notify();
  for (std::thread& t : sleepers) {
    t.join();
  }
  EXPECT_EQ(slept_fully, (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(clock.MonotonicNow(), kStart);
}

TEST(SimulatedClock, NotifiedSleepersAreNotCountedAsPending) {
  SimulatedClock clock(kStart);
  Wakeup wakeup;
  std::thread sleeper([&] { clock.SleepUntil(absl::InfiniteFuture(), &wakeup); });
  ASSERT_TRUE(clock.AwaitSleepers(1));
  wakeup.Notify();
  // Whether or not the sleeper has left yet, it no longer counts.
  EXPECT_EQ(clock.PendingSleepers(), 0);
  sleeper.join();
}

TEST(SimulatedClock, AwaitSleepersTimesOutWhenNobodySleeps) {
  SimulatedClock clock(kStart);
  EXPECT_FALSE(clock.AwaitSleepers(1, absl::Milliseconds(1)));
  EXPECT_TRUE(clock.AwaitSleepers(0));
}

}  // namespace
}  // namespace bursar::runtime
