#pragma once

// Controller: N worker threads reconciling keys from a WorkQueue, as client-go and
// controller-runtime do, with kube-rs's split between the reconcile result and the error policy.
//
// - Run() waits until every registered cache has synced (polling on the Clock, as client-go's
//   WaitForCacheSync), then starts the workers; it returns after `stop` is notified, once the
//   reconciles in flight have finished (ShutDownWithDrain) and every worker is joined. Keys
//   still queued at that point are dropped: the next process lists everything again anyway.
// - A key is never reconciled by two workers at once (the queue's processing set); keys added
//   meanwhile are reconciled once more afterwards.
// - reconcile(key) reads current state and returns what to do next: await the next change,
//   or look again after a delay. Success ends the key's failure streak (Forget).
// - An error goes to the error policy, which decides the retry: by default a rate-limited
//   requeue (per key 5 ms doubling to 1000 s, 10 qps overall), the server's Retry-After when it
//   gave one, and a 409 (Conflict or AlreadyExists: someone wrote first) is a normal, quiet
//   requeue that is counted but not logged as an error.
// - Metrics (optional): reconciles by result, reconcile duration, active workers, queue depth.
//
// Pitfalls: the reconciler runs on several threads at once (for different keys): it must be
// thread-safe. A Controller runs once: its queue cannot restart after Run() returned.
// Leadership is not checked here: start Run() when leading and have reconcilers that actuate
// check LeaderElector::IsLeader() right before writing (see leader_election.h).
// Thread-safe, except WaitForCache(), which must precede Run().

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/store.h"
#include "operator/runtime/workqueue.h"

namespace bursar::runtime {

// What a successful reconcile asks for next.
struct ReconcileResult {
  enum class Action { kAwaitChange, kRequeueAfter };
  Action action = Action::kAwaitChange;
  absl::Duration after = absl::ZeroDuration();  // kRequeueAfter

  // Nothing to do until the object (or something mapped to it) changes.
  static ReconcileResult AwaitChange() { return {}; }
  // Look again after `delay` even without a change (a period boundary, a pending action).
  static ReconcileResult RequeueAfter(absl::Duration delay) {
    return {Action::kRequeueAfter, delay};
  }
};

// Called with a key from the queue ("namespace/name" or "name"; SplitObjectKey in store.h).
using Reconciler = std::function<absl::StatusOr<ReconcileResult>(const std::string& key)>;

// What to do with a key whose reconcile failed.
struct RetryDecision {
  enum class Action {
    kRateLimited,  // requeue after the rate limiter's delay (grows with each failure)
    kAfter,        // requeue after `after`
    kDrop,         // give up until the next change; the failure streak ends
  };
  Action action = Action::kRateLimited;
  absl::Duration after = absl::ZeroDuration();
  bool quiet = false;  // an expected outcome: counted, not logged as an error

  static RetryDecision RateLimited(bool quiet = false) {
    return {Action::kRateLimited, absl::ZeroDuration(), quiet};
  }
  static RetryDecision After(absl::Duration delay, bool quiet = false) {
    return {Action::kAfter, delay, quiet};
  }
  static RetryDecision Drop(bool quiet = false) {
    return {Action::kDrop, absl::ZeroDuration(), quiet};
  }
};

using ErrorPolicy = std::function<RetryDecision(std::string_view key, const absl::Status& error)>;

// A 409 (kube::IsConflict or kube::IsAlreadyExists): quiet rate-limited requeue. A server
// Retry-After (kube::RetryAfter): requeue after it. Anything else: rate-limited requeue.
RetryDecision DefaultErrorPolicy(std::string_view key, const absl::Status& error);

struct ControllerOptions {
  std::string name = "controller";  // the "controller" label of metrics, and in logs
  int workers = 1;
  ErrorPolicy error_policy = DefaultErrorPolicy;
  // Receives the errors that are not quiet; null writes one line to stderr.
  std::function<void(std::string_view key, const absl::Status& error)> log_error;
  // The queue's limiter; null: DefaultControllerRateLimiter(clock).
  std::unique_ptr<RateLimiter> rate_limiter;
  absl::Duration cache_sync_poll = absl::Milliseconds(100);
  Registry* metrics = nullptr;  // optional
};

class Controller {
 public:
  // `clock` (and the metrics registry) must outlive the controller.
  Controller(const Clock& clock, Reconciler reconcile, ControllerOptions options = {});
  // Shuts the queue down. Run() must have returned (or never been called).
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Run() starts workers only once `cache` has synced. The cache must outlive Run().
  void WaitForCache(const SyncedCache& cache);

  // Queues a key (typically from a Store's change callback). Before Run(), keys wait.
  void Enqueue(std::string_view key) { queue_.Add(key); }
  void EnqueueAfter(std::string_view key, absl::Duration delay) { queue_.AddAfter(key, delay); }
  WorkQueue& queue() { return queue_; }

  // Blocks: waits for the caches, runs the workers until `stop` is notified, drains, joins.
  void Run(Wakeup* stop);

  // True while the workers run (the caches have synced and Run() has not finished).
  bool running() const { return running_.load(std::memory_order_acquire); }
  const std::string& name() const { return options_.name; }

 private:
  struct Metrics;

  bool CachesSynced() const;
  void Work(Wakeup* stop);
  void Process(const std::string& key);
  absl::StatusOr<ReconcileResult> Invoke(const std::string& key);
  void LogError(std::string_view key, const absl::Status& error) const;

  const Clock& clock_;
  const Reconciler reconcile_;
  ControllerOptions options_;
  WorkQueue queue_;
  std::unique_ptr<Metrics> metrics_;
  std::vector<const SyncedCache*> caches_;  // set before Run()
  std::atomic<bool> running_{false};
};

}  // namespace bursar::runtime
