#include "operator/runtime/clock.h"

#include <algorithm>
#include <chrono>
#include <mutex>

namespace bursar::runtime {
namespace {

// One anchor per process: MonotonicNow() = wall time at the first use + steady time since.
struct MonotonicAnchor {
  absl::Time wall;
  std::chrono::steady_clock::time_point steady;
};

const MonotonicAnchor& Anchor() {
  static const MonotonicAnchor anchor{absl::Now(), std::chrono::steady_clock::now()};
  return anchor;
}

// The longest single timed wait: keeps chrono arithmetic far from overflow for very distant
// deadlines; the loop in SleepUntil simply waits again.
constexpr absl::Duration kMaxWaitSlice = absl::Hours(24);

}  // namespace

void Wakeup::Notify() {
  // Notifying under the lock: a sleeper cannot return (and its owner destroy this Wakeup) until
  // notify_all() is done with cv_.
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = true;
  cv_.notify_all();
}

void Wakeup::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  notified_ = false;
}

bool Wakeup::HasBeenNotified() const {
  std::lock_guard<std::mutex> lock(mu_);
  return notified_;
}

absl::Time SystemClock::Now() const {
  return absl::Now();
}

absl::Time SystemClock::MonotonicNow() const {
  const MonotonicAnchor& anchor = Anchor();
  return anchor.wall + absl::FromChrono(std::chrono::steady_clock::now() - anchor.steady);
}

bool SystemClock::SleepUntil(absl::Time deadline, Wakeup* wakeup) const {
  Wakeup never;
  Wakeup& w = wakeup != nullptr ? *wakeup : never;
  std::unique_lock<std::mutex> lock(w.mu_);
  while (!w.notified_) {
    if (deadline == absl::InfiniteFuture()) {
      w.cv_.wait(lock);
      continue;
    }
    const absl::Duration left = deadline - MonotonicNow();
    if (left <= absl::ZeroDuration()) {
      return true;
    }
    // wait_for measures on steady_clock, so wall-clock steps neither shorten nor stretch it.
    w.cv_.wait_for(lock, absl::ToChronoNanoseconds(std::min(left, kMaxWaitSlice)));
  }
  return false;
}

SimulatedClock::SimulatedClock(absl::Time start) : wall_(start), monotonic_(start) {}

absl::Time SimulatedClock::Now() const {
  absl::MutexLock lock(&mu_);
  return wall_;
}

absl::Time SimulatedClock::MonotonicNow() const {
  absl::MutexLock lock(&mu_);
  return monotonic_;
}

bool SimulatedClock::SleepUntil(absl::Time deadline, Wakeup* wakeup) const {
  Wakeup never;
  Sleeper sleeper{deadline, wakeup != nullptr ? wakeup : &never};
  {
    absl::MutexLock lock(&mu_);
    if (deadline <= monotonic_) {
      // Due already; the wakeup still wins when it is notified, as on SystemClock.
      return !sleeper.wakeup->HasBeenNotified();
    }
    sleepers_.insert(&sleeper);
  }
  // Not holding mu_ here: Advance() takes mu_ then our wakeup's mutex, so sleeping with mu_ held
  // would deadlock. Advance() sets `reached` under the wakeup's mutex, so no wake is lost.
  bool notified;
  {
    Wakeup& w = *sleeper.wakeup;
    std::unique_lock<std::mutex> lock(w.mu_);
    w.cv_.wait(lock, [&] { return w.notified_ || sleeper.reached; });
    notified = w.notified_;
  }
  absl::MutexLock lock(&mu_);
  sleepers_.erase(&sleeper);
  return !notified;
}

void SimulatedClock::Advance(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) {
    return;
  }
  absl::MutexLock lock(&mu_);
  wall_ += duration;
  monotonic_ += duration;
  for (Sleeper* sleeper : sleepers_) {
    if (sleeper->deadline > monotonic_) {
      continue;
    }
    // The sleeper erases itself under mu_, which we hold, so it and its wakeup are still alive.
    Wakeup& w = *sleeper->wakeup;
    std::lock_guard<std::mutex> wake_lock(w.mu_);
    sleeper->reached = true;
    w.cv_.notify_all();
  }
}

void SimulatedClock::SetWallTime(absl::Time wall) {
  absl::MutexLock lock(&mu_);
  wall_ = wall;
}

int SimulatedClock::PendingSleepersLocked() const {
  int pending = 0;
  for (Sleeper* sleeper : sleepers_) {
    if (sleeper->deadline <= monotonic_) {
      continue;
    }
    std::lock_guard<std::mutex> wake_lock(sleeper->wakeup->mu_);
    if (!sleeper->wakeup->notified_) {
      ++pending;
    }
  }
  return pending;
}

bool SimulatedClock::EnoughSleepers(AwaitArgs* args) {
  return args->clock->PendingSleepersLocked() >= args->n;
}

bool SimulatedClock::AwaitSleepers(int n, absl::Duration real_timeout) const {
  AwaitArgs args{this, n};
  // Re-evaluated whenever mu_ is released: a sleeper arriving or leaving, time advancing. A
  // Notify() does not touch mu_, but it only lowers the count, which never satisfies "at least".
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&SimulatedClock::EnoughSleepers, &args),
                              real_timeout);
}

int SimulatedClock::PendingSleepers() const {
  absl::MutexLock lock(&mu_);
  return PendingSleepersLocked();
}

}  // namespace bursar::runtime
