#include "operator/runtime/workqueue.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/rate_limiter.h"

namespace bursar::runtime {
namespace {

using Keys = std::vector<std::string>;

// Tests take keys with TakeReady() rather than a bare Get(): a broken queue then fails the test
// instead of blocking it forever.
class WorkQueueTest : public ::testing::Test {
 protected:
  // Waits until the delay thread sleeps again (so every key due has been moved in), then takes
  // every queued key in hand-out order. Only the test thread calls Get(), so it never blocks.
  Keys TakeReady() {
    EXPECT_TRUE(clock_.AwaitSleepers(1)) << "the delay thread never went back to sleep";
    Keys keys;
    for (size_t n = queue_.Len(); n > 0; --n) {
      keys.push_back(queue_.Get().value_or("<shut down>"));
    }
    return keys;
  }

  SimulatedClock clock_;
  WorkQueue queue_{clock_, DefaultControllerRateLimiter(clock_)};
};

TEST_F(WorkQueueTest, RepeatedAddsCollapse) {
  queue_.Add("ns/a");
  queue_.Add("ns/b");
  queue_.Add("ns/a");
  queue_.Add("ns/a");
  EXPECT_EQ(queue_.Len(), 2u);
  EXPECT_EQ(TakeReady(), (Keys{"ns/a", "ns/b"}));
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, KeyAddedWhileProcessingWaitsForDone) {
  queue_.Add("ns/a");
  ASSERT_EQ(TakeReady(), (Keys{"ns/a"}));
  queue_.Add("ns/a");  // changed while being reconciled
  queue_.Add("ns/a");
  queue_.Add("ns/b");
  // Not handed to a second worker meanwhile.
  EXPECT_EQ(TakeReady(), (Keys{"ns/b"}));
  queue_.Done("ns/a");
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));  // queued again, once
  queue_.Done("ns/a");
  queue_.Done("ns/b");
  EXPECT_EQ(queue_.Len(), 0u);
}

TEST_F(WorkQueueTest, DoneWithoutAddDoesNotRequeueAndUnknownDoneIsIgnored) {
  queue_.Add("ns/a");
  ASSERT_EQ(TakeReady(), (Keys{"ns/a"}));
  queue_.Done("ns/a");
  queue_.Done("ns/a");
  queue_.Done("ns/never-added");
  EXPECT_EQ(queue_.Len(), 0u);
  // A key done is an ordinary key again.
  queue_.Add("ns/a");
  EXPECT_EQ(queue_.Len(), 1u);
}

TEST_F(WorkQueueTest, HandsOutInAddOrder) {
  for (const char* key : {"ns/c", "ns/a", "ns/b"}) {
    queue_.Add(key);
  }
  EXPECT_EQ(TakeReady(), (Keys{"ns/c", "ns/a", "ns/b"}));
}

// N workers and M producers hammer a few keys. Invariants: no key is ever held by two workers
// at once, and each key's last reconcile saw its last change (no add was lost).
TEST_F(WorkQueueTest, ConcurrentWorkersNeverShareAKeyAndSeeTheLastChange) {
  constexpr int kWorkers = 4;
  constexpr int kProducers = 2;
  constexpr int kAddsPerProducer = 3000;
  constexpr int kKeys = 8;

  absl::Mutex mu;
  absl::flat_hash_set<std::string> in_flight;
  absl::flat_hash_map<std::string, int> version;  // bumped before every Add
  absl::flat_hash_map<std::string, int> reconciled;
  std::atomic<int> overlaps{0};
  std::atomic<int> reconciles{0};

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&] {
      while (std::optional<std::string> key = queue_.Get()) {
        {
          absl::MutexLock lock(&mu);
          if (!in_flight.insert(*key).second) {
            ++overlaps;
          }
          reconciled[*key] = version[*key];  // reconcile from state
        }
        std::this_thread::yield();
        {
          absl::MutexLock lock(&mu);
          in_flight.erase(*key);
        }
        ++reconciles;
        queue_.Done(*key);
      }
    });
  }
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kAddsPerProducer; ++i) {
        const std::string key = "ns/key-" + std::to_string((i * 7 + p) % kKeys);
        {
          absl::MutexLock lock(&mu);
          ++version[key];
        }
        queue_.Add(key);
      }
    });
  }
  for (std::thread& t : producers) {
    t.join();
  }
  // Keys still queued or dirty are handed out after ShutDown; workers stop once none are left.
  queue_.ShutDown();
  for (std::thread& t : workers) {
    t.join();
  }

  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_GE(reconciles.load(), kKeys);
  EXPECT_LE(reconciles.load(), kProducers * kAddsPerProducer);
  EXPECT_EQ(reconciled, version);
}

TEST_F(WorkQueueTest, AddAfterWaitsForTheClock) {
  queue_.AddAfter("ns/a", absl::Seconds(1));
  EXPECT_EQ(TakeReady(), Keys{});
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(TakeReady(), Keys{});
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));
}

TEST_F(WorkQueueTest, DelayedKeysComeOutInDeadlineOrder) {
  queue_.AddAfter("ns/c", absl::Seconds(3));
  queue_.AddAfter("ns/a", absl::Seconds(1));
  queue_.AddAfter("ns/b", absl::Seconds(2));
  queue_.AddAfter("ns/b2", absl::Seconds(2));  // same deadline: FIFO
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));
  clock_.Advance(absl::Seconds(5));  // everything else due at once
  EXPECT_EQ(TakeReady(), (Keys{"ns/b", "ns/b2", "ns/c"}));
}

TEST_F(WorkQueueTest, DelayingAKeyTwiceKeepsTheEarlierDeadline) {
  queue_.AddAfter("ns/a", absl::Seconds(5));
  queue_.AddAfter("ns/b", absl::Seconds(2));  // keeps the superseded 5 s entry off the top
  queue_.AddAfter("ns/a", absl::Seconds(1));
  queue_.AddAfter("ns/a", absl::Seconds(10));  // later than 1 s: ignored
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));
  queue_.Done("ns/a");
  // Delayed again, due at 21 s: the superseded 5 s request and the ignored 10 s one must not
  // add it early.
  queue_.AddAfter("ns/a", absl::Seconds(20));
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(TakeReady(), (Keys{"ns/b"}));
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));
}

TEST_F(WorkQueueTest, AddAfterWithoutDelayAddsAtOnce) {
  queue_.AddAfter("ns/a", absl::ZeroDuration());
  queue_.AddAfter("ns/b", -absl::Seconds(1));
  EXPECT_EQ(queue_.Len(), 2u);
}

TEST_F(WorkQueueTest, RateLimitedRequeuesBackOffPerKeyUntilForgotten) {
  queue_.AddRateLimited("ns/a");  // 5 ms
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 1);
  clock_.Advance(absl::Milliseconds(4));
  EXPECT_EQ(TakeReady(), Keys{});
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_EQ(TakeReady(), (Keys{"ns/a"}));
  queue_.Done("ns/a");

  queue_.AddRateLimited("ns/a");  // failed again: 10 ms
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 2);
  clock_.Advance(absl::Milliseconds(9));
  EXPECT_EQ(TakeReady(), Keys{});
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_EQ(TakeReady(), (Keys{"ns/a"}));
  queue_.Done("ns/a");

  queue_.Forget("ns/a");  // reconciled cleanly
  EXPECT_EQ(queue_.NumRequeues("ns/a"), 0);
  queue_.AddRateLimited("ns/a");  // a new streak: 5 ms again
  clock_.Advance(absl::Milliseconds(5));
  EXPECT_EQ(TakeReady(), (Keys{"ns/a"}));
}

TEST_F(WorkQueueTest, ShutDownWakesBlockedGetters) {
  std::vector<std::thread> getters;
  std::atomic<int> got_nothing{0};
  for (int i = 0; i < 3; ++i) {
    getters.emplace_back([&] {
      if (!queue_.Get().has_value()) {
        ++got_nothing;
      }
    });
  }
  queue_.ShutDown();
  for (std::thread& t : getters) {
    t.join();
  }
  EXPECT_EQ(got_nothing.load(), 3);
  EXPECT_TRUE(queue_.ShuttingDown());
}

TEST_F(WorkQueueTest, AfterShutDownQueuedKeysAreStillHandedOutAndAddsIgnored) {
  queue_.Add("ns/a");
  queue_.AddAfter("ns/later", absl::Seconds(1));
  queue_.ShutDown();
  queue_.Add("ns/b");
  queue_.AddAfter("ns/c", absl::Seconds(1));
  queue_.AddRateLimited("ns/d");
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(queue_.Get(), "ns/a");
  EXPECT_EQ(queue_.Get(), std::nullopt);
  queue_.ShutDown();  // idempotent
}

TEST_F(WorkQueueTest, ShutDownWithDrainWaitsForKeysBeingProcessed) {
  queue_.Add("ns/a");
  ASSERT_EQ(queue_.Get(), "ns/a");
  absl::Notification drained;
  std::thread drainer([&] {
    queue_.ShutDownWithDrain();
    drained.Notify();
  });
  while (!queue_.ShuttingDown()) {
    std::this_thread::yield();
  }
  EXPECT_FALSE(drained.HasBeenNotified());
  queue_.Done("ns/a");
  drainer.join();
  EXPECT_TRUE(drained.HasBeenNotified());
}

TEST(WorkQueue, DestructorJoinsTheDelayThreadWithKeysStillDelayed) {
  SimulatedClock clock;
  {
    WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
    queue.AddAfter("ns/a", absl::Hours(1));
    ASSERT_TRUE(clock.AwaitSleepers(1));
  }
  EXPECT_EQ(clock.PendingSleepers(), 0);
}

TEST(WorkQueue, RunsOnTheSystemClock) {
  SystemClock clock;
  WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
  queue.AddAfter("ns/a", absl::Milliseconds(1));
  EXPECT_EQ(queue.Get(), "ns/a");
}

}  // namespace
}  // namespace bursar::runtime
