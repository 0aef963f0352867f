#pragma once

// WorkQueue: the controller's queue of keys ("namespace/name", or "name" for cluster-scoped
// objects) to reconcile, with client-go's semantics:
//   - Add() collapses repeats: a key waiting in the queue is queued once however often it is
//     added (the reconciler reads current state, so one pass serves every event).
//   - A key handed out by Get() is "processing" until Done(); it is never handed to a second
//     worker meanwhile. Adding it while processing marks it dirty, and Done() queues it again,
//     so the change is not lost and the two passes never overlap.
//   - AddAfter() queues a key once a delay has passed on the Clock (earliest request wins when a
//     key is delayed twice); AddRateLimited() delays by the rate limiter's When(key), Forget()
//     ends the key's failure streak.
//   - ShutDown() stops accepting keys and wakes every blocked Get(); keys already queued are
//     still handed out, then Get() returns nullopt. ShutDownWithDrain() also waits until the
//     keys being processed are Done().
//
// Pitfalls: every key from Get() must be passed to Done(), also on error paths, or it is stuck
// forever. Forget() after a clean reconcile, or the key's next failure waits longer than it
// should. A worker loop: while (auto key = q.Get()) { Reconcile(*key); q.Done(*key); }.
//
// Thread-safe: every method may be called from any thread. The queue owns one thread that
// moves delayed keys in when due; ShutDown() (or the destructor) joins it.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/rate_limiter.h"

namespace bursar::runtime {

class WorkQueue {
 public:
  // `clock` must outlive the queue. Starts the thread that serves AddAfter().
  WorkQueue(const Clock& clock, std::unique_ptr<RateLimiter> rate_limiter);
  // ShutDown() and join.
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  // Queues `key` unless it is queued already; ignored after shutdown.
  void Add(std::string_view key);
  // Adds `key` once `delay` has passed (at once when delay <= 0).
  void AddAfter(std::string_view key, absl::Duration delay);
  // AddAfter(key, rate_limiter.When(key)).
  void AddRateLimited(std::string_view key);
  // Ends the key's failure streak in the rate limiter. Does not remove it from the queue.
  void Forget(std::string_view key);
  // Rate-limited requeues of `key` since its last Forget().
  int NumRequeues(std::string_view key) const;

  // Blocks until a key is available and hands it out, marked processing; nullopt once the queue
  // is shut down and empty.
  std::optional<std::string> Get();
  // Ends processing of `key`; queues it again when it was added meanwhile.
  void Done(std::string_view key);

  void ShutDown();
  void ShutDownWithDrain();
  bool ShuttingDown() const;

  // Keys queued and not yet handed out: the queue depth (excludes delayed and processing keys).
  size_t Len() const;

 private:
  struct Delayed {
    absl::Time ready_at;
    uint64_t seq;  // insertion order: keys due at the same time keep FIFO order
    std::string key;
  };
  struct Later {
    bool operator()(const Delayed& a, const Delayed& b) const {
      return a.ready_at != b.ready_at ? a.ready_at > b.ready_at : a.seq > b.seq;
    }
  };
  // The live heap entry of a delayed key; older entries for the key are stale and skipped.
  struct DelayedIndex {
    absl::Time ready_at;
    uint64_t seq;
  };

  void AddLocked(std::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HasWorkOrShuttingDown() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool DrainedOrNotDraining() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves every delayed key due at `now` into the queue; returns the next due time.
  absl::Time PromoteDue(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DelayLoop();
  void StopDelayLoop();

  const Clock& clock_;
  const std::unique_ptr<RateLimiter> rate_limiter_;

  mutable absl::Mutex mu_;
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> dirty_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> processing_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool drain_ ABSL_GUARDED_BY(mu_) = false;

  std::priority_queue<Delayed, std::vector<Delayed>, Later> delayed_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, DelayedIndex> delayed_index_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;

  // Notified when the earliest delayed key changes and on shutdown.
  Wakeup delay_wakeup_;
  absl::Mutex join_mu_;  // serialises concurrent ShutDown() calls around join()
  std::thread delay_thread_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace bursar::runtime
