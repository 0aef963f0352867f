#pragma once

// The time seam of the controller runtime. Everything that reads the time or waits for it (the
// workqueue's delayed adds, watcher backoff, leader election, resync timers) takes a Clock, so
// tests drive time with a SimulatedClock and never sleep.
//
// Two times: Now() is wall-clock time (timestamps written to the API server, period
// boundaries); MonotonicNow() never goes back and is what durations, deadlines and timeouts are
// measured on. Pitfall: never mix them, e.g. never sleep until a deadline computed from Now().
// Leader election, like client-go, should judge a lease expired by how long ago *this* process
// saw the record change (on MonotonicNow()), not by comparing the holder's renewTime with local
// wall time: two machines' wall clocks may disagree.
//
// Waiting: a thread sleeps with Clock::SleepUntil(deadline, &wakeup) and is woken by the
// deadline (on the clock it sleeps on) or by wakeup.Notify() from another thread, whichever
// comes first. A Wakeup is level-triggered: it stays notified until Clear(), so a Notify() that
// lands before the sleep starts is not lost. One Wakeup serves as a stop signal (never cleared,
// every sleeper returns) or as a "something changed, recompute your deadline" signal (the
// sleeper Clear()s it before it reads the state it sleeps on).

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace bursar::runtime {

// A flag that sleeping threads wait on next to their deadline. Thread-safe.
class Wakeup {
 public:
  Wakeup() = default;
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Sets the flag and wakes every thread sleeping on it.
  void Notify();
  // Re-arms the flag. Clear before reading the state you sleep on, never after, or a Notify()
  // between the read and the Clear() is lost.
  void Clear();
  bool HasBeenNotified() const;

 private:
  friend class SystemClock;
  friend class SimulatedClock;

  // std::condition_variable rather than absl::CondVar: its timed waits on steady_clock are
  // immune to wall-clock steps, absl's (in this Abseil release) follow the wall clock.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;  // guarded by mu_
};

// Pure-virtual time source. Implementations are thread-safe. The methods are const because they
// never change the time; a SimulatedClock changes only through its own setters.
class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time: may jump (NTP steps, an operator setting the date).
  virtual absl::Time Now() const = 0;
  // Monotonic time: never goes back. Only differences are meaningful, though SystemClock
  // anchors it to the wall clock at process start so that logged values read plausibly.
  virtual absl::Time MonotonicNow() const = 0;

  // Blocks until MonotonicNow() >= deadline or `wakeup` is notified. Returns false when woken
  // by `wakeup` (checked first, so an already-notified wakeup returns at once), true when the
  // deadline passed. `wakeup` may be null: a plain sleep. absl::InfiniteFuture() waits for the
  // wakeup only.
  virtual bool SleepUntil(absl::Time deadline, Wakeup* wakeup) const = 0;

  // SleepUntil(MonotonicNow() + duration, wakeup).
  bool SleepFor(absl::Duration duration, Wakeup* wakeup) const {
    return SleepUntil(MonotonicNow() + duration, wakeup);
  }
};

// The real clocks: absl::Now() and std::chrono::steady_clock. Stateless; every instance shares
// one process-wide monotonic anchor, so deadlines computed on one instance hold on another.
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
  bool SleepUntil(absl::Time deadline, Wakeup* wakeup) const override;
};

// A clock that moves only when a test says so, for deterministic tests of everything that waits.
// Threads sleeping on it wake when Advance() moves monotonic time past their deadline. Tests
// reach a quiescent point with AwaitSleepers() (a real-time wait for other threads to block,
// not a sleep) before asserting on state those threads produce. Thread-safe.
//
// Pitfall: Advance() wakes the sleepers and returns at once; it does not wait for them to act.
// "Advance, then assert" needs a synchronisation point in between: a blocking Get(), or
// AwaitSleepers(n) when the woken threads go back to sleep after acting.
class SimulatedClock final : public Clock {
 public:
  // Both times start at `start`; 2023-11-14T22:13:20Z by default.
  explicit SimulatedClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000));

  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
  bool SleepUntil(absl::Time deadline, Wakeup* wakeup) const override;

  // Moves both times forward by `duration` (negative durations are ignored: monotonic time never
  // goes back) and wakes the sleepers whose deadline has come.
  void Advance(absl::Duration duration);
  // Steps the wall clock to `wall` (forwards or backwards), as NTP or an operator would.
  // Monotonic time and sleepers are unaffected.
  void SetWallTime(absl::Time wall);

  // Blocks the calling thread, in real time, until at least `n` threads sleep on this clock with
  // a deadline still ahead and their wakeup not notified. False when `real_timeout` passes
  // first: the guard that turns a broken test into a failure instead of a hang.
  bool AwaitSleepers(int n, absl::Duration real_timeout = absl::Seconds(30)) const;
  // The number of threads AwaitSleepers() counts, right now.
  int PendingSleepers() const;

 private:
  struct Sleeper {
    absl::Time deadline;
    Wakeup* wakeup;
    bool reached = false;  // guarded by wakeup->mu_; set by Advance()
  };

  int PendingSleepersLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct AwaitArgs {
    const SimulatedClock* clock;
    int n;
  };
  // The absl::Condition of AwaitSleepers(), evaluated with mu_ held.
  static bool EnoughSleepers(AwaitArgs* args) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Lock order: mu_, then a sleeper's wakeup->mu_. A sleeping thread never holds both.
  mutable absl::Mutex mu_;
  absl::Time wall_ ABSL_GUARDED_BY(mu_);
  absl::Time monotonic_ ABSL_GUARDED_BY(mu_);
  mutable absl::flat_hash_set<Sleeper*> sleepers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bursar::runtime
