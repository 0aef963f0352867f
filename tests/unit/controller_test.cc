#include "operator/runtime/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "operator/kube/kube_status.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/store.h"

namespace bursar::runtime {
namespace {

// Real-time bound on every wait for another thread: a broken controller fails the test
// instead of hanging it. Never reached by a passing test.
constexpr absl::Duration kPatience = absl::Seconds(30);

absl::Status Conflict() {
  return kube::ErrorFromResponse(
      409, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
           R"("message":"the object has been modified","reason":"Conflict","code":409})");
}

// Counts reconciles per key and lets the test wait for them.
class Calls {
 public:
  void Record(const std::string& key) {
    absl::MutexLock lock(&mu_);
    ++count_[key];
    order_.push_back(key);
  }
  int Count(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = count_.find(key);
    return it == count_.end() ? 0 : it->second;
  }
  std::vector<std::string> Order() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }
  // Waits (real time, bounded) until `key` has been reconciled `n` times.
  bool WaitFor(const std::string& key, int n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = count_.find(key);
      return it != count_.end() && it->second >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kPatience);
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int> count_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
};

// Runs a controller on its own thread; stops and joins it when it goes out of scope, before
// anything the reconciler uses (declared earlier) is destroyed.
class Running {
 public:
  Running(Controller& controller, Wakeup& stop)
      : stop_(stop), thread_([&controller, &stop] { controller.Run(&stop); }) {}
  ~Running() { Stop(); }
  void Stop() {
    stop_.Notify();
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  Wakeup& stop_;
  std::thread thread_;
};

class ControllerTest : public ::testing::Test {
 protected:
  // Keys starting with "probe/" are barriers: with one worker, once a probe queued after key k
  // is reconciled, k's reconcile and its requeue bookkeeping are complete.
  Reconciler Wrap(const std::function<absl::StatusOr<ReconcileResult>(const std::string&)>& inner) {
    return [this, inner](const std::string& key) -> absl::StatusOr<ReconcileResult> {
      if (key.rfind("probe/", 0) == 0) {
        calls_.Record(key);
        return ReconcileResult::AwaitChange();
      }
      absl::StatusOr<ReconcileResult> result = inner(key);
      calls_.Record(key);
      return result;
    };
  }

  // Waits until one worker has finished everything queued before, and the threads sleeping on
  // the clock (the queue's delay thread and Run()) are asleep again.
  void Barrier(Controller& controller) {
    const std::string probe = absl::StrCat("probe/", probes_++);
    controller.Enqueue(probe);
    ASSERT_TRUE(calls_.WaitFor(probe, 1));
    ASSERT_TRUE(clock_.AwaitSleepers(2));
  }

  ControllerOptions Options(int workers = 1) {
    ControllerOptions options;
    options.name = "test";
    options.workers = workers;
    // Plain per-key exponential delays from 1 s, so that tests step the clock in seconds.
    options.rate_limiter =
        std::make_unique<ItemExponentialFailureRateLimiter>(absl::Seconds(1), absl::Seconds(60));
    options.log_error = [this](std::string_view key, const absl::Status& error) {
      absl::MutexLock lock(&log_mu_);
      logged_.push_back(absl::StrCat(std::string(key), ": ", error.message()));
    };
    return options;
  }

  std::vector<std::string> Logged() {
    absl::MutexLock lock(&log_mu_);
    return logged_;
  }

  SimulatedClock clock_;
  Wakeup stop_;
  Calls calls_;
  int probes_ = 0;
  absl::Mutex log_mu_;
  std::vector<std::string> logged_ ABSL_GUARDED_BY(log_mu_);
};

TEST_F(ControllerTest, WaitsForEveryCacheToSyncBeforeStartingWorkers) {
  ObjectStore synced;
  ObjectStore late;
  synced.Apply(WatcherEvent<json::Value>::Restarted({}));
  Controller controller(clock_, Wrap([](const std::string&) { return ReconcileResult(); }),
                        Options());
  controller.WaitForCache(synced);
  controller.WaitForCache(late);
  controller.Enqueue("ml/a");
  Running running(controller, stop_);

  // The queue's delay thread and Run() polling the caches.
  ASSERT_TRUE(clock_.AwaitSleepers(2));
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(clock_.AwaitSleepers(2));
  EXPECT_FALSE(controller.running());
  EXPECT_EQ(calls_.Count("ml/a"), 0);

  late.Apply(WatcherEvent<json::Value>::Restarted({}));
  clock_.Advance(absl::Milliseconds(100));
  ASSERT_TRUE(calls_.WaitFor("ml/a", 1));
  EXPECT_TRUE(controller.running());
  running.Stop();
  EXPECT_FALSE(controller.running());
}

TEST_F(ControllerTest, StopBeforeTheCachesSyncReturns) {
  ObjectStore never;
  Controller controller(clock_, Wrap([](const std::string&) { return ReconcileResult(); }),
                        Options());
  controller.WaitForCache(never);
  controller.Enqueue("ml/a");
  Running running(controller, stop_);
  ASSERT_TRUE(clock_.AwaitSleepers(2));
  running.Stop();
  EXPECT_EQ(calls_.Count("ml/a"), 0);
}

TEST_F(ControllerTest, AKeyIsNeverReconciledConcurrently) {
  absl::Notification entered;
  absl::Notification release;
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  Controller controller(clock_, Wrap([&](const std::string& key) {
                          if (key != "ml/hot") {
                            return ReconcileResult();
                          }
                          const int now = in_flight.fetch_add(1) + 1;
                          int seen = max_in_flight.load();
                          while (now > seen && !max_in_flight.compare_exchange_weak(seen, now)) {
                          }
                          if (!entered.HasBeenNotified()) {
                            entered.Notify();
                            release.WaitForNotificationWithTimeout(kPatience);
                          }
                          in_flight.fetch_sub(1);
                          return ReconcileResult();
                        }),
                        Options(/*workers=*/4));
  controller.Enqueue("ml/hot");
  Running running(controller, stop_);
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPatience));

  // Changes while it is being reconciled, with three idle workers around.
  for (int i = 0; i < 5; ++i) {
    controller.Enqueue("ml/hot");
  }
  controller.Enqueue("ml/other");
  ASSERT_TRUE(calls_.WaitFor("ml/other", 1));
  EXPECT_EQ(calls_.Count("ml/hot"), 0);  // still the first pass, alone

  release.Notify();
  // Reconciled once more for all five changes.
  ASSERT_TRUE(calls_.WaitFor("ml/hot", 2));
  running.Stop();
  EXPECT_EQ(calls_.Count("ml/hot"), 2);
  EXPECT_EQ(max_in_flight.load(), 1);
}

TEST_F(ControllerTest, ErrorsRequeueWithGrowingRateLimitedDelaysAndSuccessForgets) {
  std::atomic<int> failures_left{2};
  Controller controller(clock_, Wrap([&](const std::string&) -> absl::StatusOr<ReconcileResult> {
                          if (failures_left.fetch_sub(1) > 0) {
                            return absl::UnavailableError("api server unreachable");
                          }
                          return ReconcileResult();
                        }),
                        Options());
  controller.Enqueue("ml/a");
  Running running(controller, stop_);
  ASSERT_TRUE(calls_.WaitFor("ml/a", 1));
  Barrier(controller);
  EXPECT_EQ(controller.queue().NumRequeues("ml/a"), 1);

  clock_.Advance(absl::Milliseconds(999));
  Barrier(controller);
  EXPECT_EQ(calls_.Count("ml/a"), 1);
  clock_.Advance(absl::Milliseconds(1));  // 1 s after the first failure
  ASSERT_TRUE(calls_.WaitFor("ml/a", 2));
  Barrier(controller);

  clock_.Advance(absl::Milliseconds(1999));
  Barrier(controller);
  EXPECT_EQ(calls_.Count("ml/a"), 2);
  clock_.Advance(absl::Milliseconds(1));  // 2 s after the second failure
  ASSERT_TRUE(calls_.WaitFor("ml/a", 3));
  Barrier(controller);

  EXPECT_EQ(controller.queue().NumRequeues("ml/a"), 0);  // forgotten after the success
  clock_.Advance(absl::Hours(1));
  Barrier(controller);
  EXPECT_EQ(calls_.Count("ml/a"), 3);
  EXPECT_EQ(Logged(), (std::vector<std::string>{"ml/a: api server unreachable",
                                                "ml/a: api server unreachable"}));
}

TEST_F(ControllerTest, ConflictsRequeueQuietly) {
  Registry registry;
  ControllerOptions options = Options();
  options.metrics = &registry;
  std::atomic<bool> conflicted{false};
  Controller controller(clock_, Wrap([&](const std::string&) -> absl::StatusOr<ReconcileResult> {
                          if (!conflicted.exchange(true)) {
                            return Conflict();
                          }
                          return ReconcileResult();
                        }),
                        std::move(options));
  controller.Enqueue("ml/a");
  Running running(controller, stop_);
  ASSERT_TRUE(calls_.WaitFor("ml/a", 1));
  Barrier(controller);
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(calls_.WaitFor("ml/a", 2));
  running.Stop();  // every reconcile's bookkeeping is done once Run() has returned

  EXPECT_TRUE(Logged().empty());
  const std::string text = registry.Render();
  EXPECT_NE(
      text.find(R"(bursar_controller_reconcile_total{controller="test",result="conflict"} 1)"),
      std::string::npos)
      << text;
  // The second pass and the barrier's probe.
  EXPECT_NE(text.find(R"(bursar_controller_reconcile_total{controller="test",result="success"} 2)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(bursar_controller_reconcile_total{controller="test",result="error"} 0)"),
            std::string::npos)
      << text;
}

TEST(DefaultErrorPolicyTest, MapsErrorsToRetries) {
  RetryDecision conflict = DefaultErrorPolicy("k", Conflict());
  EXPECT_EQ(conflict.action, RetryDecision::Action::kRateLimited);
  EXPECT_TRUE(conflict.quiet);

  RetryDecision exists = DefaultErrorPolicy(
      "k",
      kube::ErrorFromResponse(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})"));
  EXPECT_TRUE(exists.quiet);

  RetryDecision throttled = DefaultErrorPolicy(
      "k", kube::ErrorFromResponse(429, R"({"kind":"Status","reason":"TooManyRequests",)"
                                        R"("code":429,"details":{"retryAfterSeconds":5}})"));
  EXPECT_EQ(throttled.action, RetryDecision::Action::kAfter);
  EXPECT_EQ(throttled.after, absl::Seconds(5));
  EXPECT_FALSE(throttled.quiet);

  RetryDecision other = DefaultErrorPolicy("k", absl::InternalError("boom"));
  EXPECT_EQ(other.action, RetryDecision::Action::kRateLimited);
  EXPECT_FALSE(other.quiet);
}

TEST_F(ControllerTest, CustomErrorPolicyDecides) {
  ControllerOptions options = Options();
  options.error_policy = [](std::string_view, const absl::Status& error) {
    return absl::IsInvalidArgument(error) ? RetryDecision::Drop(/*quiet=*/true)
                                          : RetryDecision::After(absl::Seconds(10));
  };
  std::atomic<int> calls{0};
  Controller controller(
      clock_, Wrap([&](const std::string& key) -> absl::StatusOr<ReconcileResult> {
        if (key == "ml/bad") {
          return absl::InvalidArgumentError("spec is invalid");
        }
        return calls.fetch_add(1) == 0 ? absl::StatusOr<ReconcileResult>(absl::InternalError("x"))
                                       : ReconcileResult();
      }),
      std::move(options));
  controller.Enqueue("ml/bad");
  controller.Enqueue("ml/flaky");
  Running running(controller, stop_);
  ASSERT_TRUE(calls_.WaitFor("ml/flaky", 1));
  Barrier(controller);
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(calls_.WaitFor("ml/flaky", 2));
  clock_.Advance(absl::Hours(1));
  Barrier(controller);
  EXPECT_EQ(calls_.Count("ml/bad"), 1);  // dropped until it changes
  EXPECT_EQ(Logged(), (std::vector<std::string>{"ml/flaky: x"}));
}

TEST_F(ControllerTest, RequeueAfterIsHonouredOnTheClock) {
  Controller controller(clock_, Wrap([](const std::string&) {
                          return ReconcileResult::RequeueAfter(absl::Seconds(30));
                        }),
                        Options());
  controller.Enqueue("budget-a");
  Running running(controller, stop_);
  ASSERT_TRUE(calls_.WaitFor("budget-a", 1));
  Barrier(controller);

  clock_.Advance(absl::Seconds(30) - absl::Milliseconds(1));
  Barrier(controller);
  EXPECT_EQ(calls_.Count("budget-a"), 1);
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(calls_.WaitFor("budget-a", 2));
  Barrier(controller);
  clock_.Advance(absl::Seconds(30));
  ASSERT_TRUE(calls_.WaitFor("budget-a", 3));
  EXPECT_EQ(controller.queue().NumRequeues("budget-a"), 0);  // not counted as failures
}

TEST_F(ControllerTest, ShutdownWaitsForReconcilesInFlightDropsTheRestAndJoins) {
  absl::Notification entered;
  absl::Notification release;
  std::atomic<bool> run_returned{false};
  std::atomic<bool> returned_while_reconciling{false};
  Controller controller(clock_, Wrap([&](const std::string& key) {
                          if (key == "ml/slow") {
                            entered.Notify();
                            release.WaitForNotificationWithTimeout(kPatience);
                            returned_while_reconciling.store(run_returned.load());
                          }
                          return ReconcileResult();
                        }),
                        Options(/*workers=*/1));
  controller.Enqueue("ml/slow");
  Running running(controller, stop_);
  ASSERT_TRUE(entered.WaitForNotificationWithTimeout(kPatience));
  controller.Enqueue("ml/queued");  // waits behind the slow one on the only worker

  stop_.Notify();
  std::thread joiner([&] {
    running.Stop();
    run_returned.store(true);
  });
  release.Notify();
  joiner.join();
  EXPECT_FALSE(returned_while_reconciling.load());  // Run() waited for the reconcile in flight
  EXPECT_EQ(calls_.Count("ml/slow"), 1);
  EXPECT_EQ(calls_.Count("ml/queued"), 0);  // dropped: the process is going away
  EXPECT_FALSE(controller.running());
}

TEST_F(ControllerTest, AnExceptionBecomesAnError) {
  std::atomic<bool> thrown{false};
  Controller controller(clock_, Wrap([&](const std::string&) -> absl::StatusOr<ReconcileResult> {
                          if (!thrown.exchange(true)) {
                            throw std::runtime_error("bad cast");
                          }
                          return ReconcileResult();
                        }),
                        Options());
  controller.Enqueue("ml/a");
  Running running(controller, stop_);
  Barrier(controller);
  EXPECT_EQ(Logged(), (std::vector<std::string>{"ml/a: reconcile threw: bad cast"}));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(calls_.WaitFor("ml/a", 1));
}

TEST_F(ControllerTest, MetricsRecordOutcomesAndDurations) {
  Registry registry;
  ControllerOptions options = Options();
  options.metrics = &registry;
  Controller controller(clock_,
                        Wrap([&](const std::string& key) -> absl::StatusOr<ReconcileResult> {
                          if (key == "ml/err") {
                            return absl::InternalError("boom");
                          }
                          if (key == "ml/later") {
                            return ReconcileResult::RequeueAfter(absl::Hours(1));
                          }
                          return ReconcileResult();
                        }),
                        std::move(options));
  controller.Enqueue("ml/ok");
  controller.Enqueue("ml/err");
  controller.Enqueue("ml/later");
  Running running(controller, stop_);
  ASSERT_TRUE(calls_.WaitFor("ml/later", 1));
  running.Stop();
  const std::string text = registry.Render();
  for (const char* line : {
           R"(bursar_controller_reconcile_total{controller="test",result="success"} 1)",
           R"(bursar_controller_reconcile_total{controller="test",result="error"} 1)",
           R"(bursar_controller_reconcile_total{controller="test",result="requeue_after"} 1)",
           R"(bursar_controller_reconcile_duration_seconds_count{controller="test"} 3)",
           R"(bursar_controller_active_workers{controller="test"} 0)",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
}

}  // namespace
}  // namespace bursar::runtime
