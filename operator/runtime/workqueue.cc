#include "operator/runtime/workqueue.h"

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/string_view.h"
#include "controllers/values/strings.h"

namespace bursar::runtime {
namespace {

// Debian's Abseil has its own string_view type, not an alias of std::string_view.

}  // namespace

WorkQueue::WorkQueue(const Clock& clock, std::unique_ptr<RateLimiter> rate_limiter)
    : clock_(clock), rate_limiter_(std::move(rate_limiter)) {
  absl::MutexLock lock(&join_mu_);
  delay_thread_ = std::thread([this] { DelayLoop(); });
}

WorkQueue::~WorkQueue() {
  ShutDown();
}

void WorkQueue::AddLocked(std::string_view key) {
  // contains() before emplace(): a repeated add, the common case, allocates nothing.
  if (shutting_down_ || dirty_.contains(values::AbslView(key))) {
    return;
  }
  dirty_.emplace(values::AbslView(key));
  // A processing key stays out of the queue until Done(): no two workers on one key.
  if (!processing_.contains(values::AbslView(key))) {
    queue_.emplace_back(key);
  }
}

void WorkQueue::Add(std::string_view key) {
  absl::MutexLock lock(&mu_);
  AddLocked(key);
}

void WorkQueue::AddAfter(std::string_view key, absl::Duration delay) {
  if (delay <= absl::ZeroDuration()) {
    Add(key);
    return;
  }
  const absl::Time ready_at = clock_.MonotonicNow() + delay;
  bool earliest;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) {
      return;
    }
    const uint64_t seq = next_seq_++;
    auto [it, inserted] =
        delayed_index_.try_emplace(values::AbslView(key), DelayedIndex{ready_at, seq});
    if (!inserted) {
      if (ready_at >= it->second.ready_at) {
        return;  // already due no later than this
      }
      it->second = DelayedIndex{ready_at, seq};  // the old heap entry is now stale
    }
    delayed_.push(Delayed{ready_at, seq, std::string(key)});
    earliest = delayed_.top().seq == seq;
  }
  // Only a new earliest deadline changes how long the delay loop must sleep.
  if (earliest) {
    delay_wakeup_.Notify();
  }
}

void WorkQueue::AddRateLimited(std::string_view key) {
  AddAfter(key, rate_limiter_->When(key));
}

void WorkQueue::Forget(std::string_view key) {
  rate_limiter_->Forget(key);
}

int WorkQueue::NumRequeues(std::string_view key) const {
  return rate_limiter_->NumRequeues(key);
}

bool WorkQueue::HasWorkOrShuttingDown() const {
  return !queue_.empty() || shutting_down_;
}

std::optional<std::string> WorkQueue::Get() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &WorkQueue::HasWorkOrShuttingDown));
  if (queue_.empty()) {
    return std::nullopt;  // shut down and nothing left
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  processing_.insert(key);
  dirty_.erase(key);
  return key;
}

void WorkQueue::Done(std::string_view key) {
  absl::MutexLock lock(&mu_);
  if (processing_.erase(values::AbslView(key)) == 0) {
    return;
  }
  if (dirty_.contains(values::AbslView(key))) {
    queue_.emplace_back(key);
  }
}

bool WorkQueue::DrainedOrNotDraining() const {
  return processing_.empty() || !drain_;
}

void WorkQueue::ShutDown() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    drain_ = false;
  }
  StopDelayLoop();
}

void WorkQueue::ShutDownWithDrain() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    drain_ = true;
    mu_.Await(absl::Condition(this, &WorkQueue::DrainedOrNotDraining));
  }
  StopDelayLoop();
}

bool WorkQueue::ShuttingDown() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

size_t WorkQueue::Len() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

absl::Time WorkQueue::PromoteDue(absl::Time now) {
  while (!delayed_.empty()) {
    const Delayed& top = delayed_.top();
    auto it = delayed_index_.find(top.key);
    const bool live = it != delayed_index_.end() && it->second.seq == top.seq;
    if (live && top.ready_at > now) {
      return top.ready_at;
    }
    if (live) {
      delayed_index_.erase(it);
      AddLocked(top.key);
    }
    delayed_.pop();
  }
  return absl::InfiniteFuture();
}

void WorkQueue::DelayLoop() {
  for (;;) {
    // Cleared before reading the heap: an AddAfter() after this point notifies again.
    delay_wakeup_.Clear();
    absl::Time next;
    {
      absl::MutexLock lock(&mu_);
      if (shutting_down_) {
        return;
      }
      next = PromoteDue(clock_.MonotonicNow());
    }
    clock_.SleepUntil(next, &delay_wakeup_);
  }
}

void WorkQueue::StopDelayLoop() {
  delay_wakeup_.Notify();
  absl::MutexLock lock(&join_mu_);
  if (delay_thread_.joinable()) {
    delay_thread_.join();
  }
}

}  // namespace bursar::runtime
