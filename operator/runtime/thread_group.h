#pragma once

// ThreadGroup: owns the operator's long-running threads (watchers, the leader elector, the
// controller) as std::jthread, starts them, and stops them in one stated order: the reverse of
// Add(), each thread asked to stop (through its std::stop_token) and joined before the next one
// is asked. Add producers before their consumers (watchers, then the elector, then the
// controller): the controller then finishes its last reconcile while the caches still move and
// the Lease is still held, and the elector stops only once nothing actuates any more.
//
// Every member is meant to run until it is asked to stop. One that ends on its own, by
// returning or by throwing, notifies `ended_early` (when given), so that the owner shuts down
// instead of running on half-dead, and Stop() returns an error naming it. An exception is
// caught at the thread's boundary (escaping it would std::terminate the process) and its
// message is part of that error: nothing ends silently.
//
// Code that waits on a runtime::Wakeup (the runtime's Run(Wakeup* stop) methods) joins the stop
// token through RunWithStopToken() below.
//
// Stop(grace) bounds the wait: a member still running `grace` after Stop() began (one stuck in
// a call that ignores its stop token) is named in a DeadlineExceeded error, the members after it
// in the stop order are asked to stop but not waited for, and Stop() returns. Nothing can end a
// thread from outside, so the owner that must exit ends the process then (RunOperator does).
//
// Thread-safety: Add(), Start() and Stop() belong to the owner's thread. Pitfalls: the destructor
// stops a running group as Stop() does but drops its status: call Stop() to see the errors. And
// after a Stop() that timed out the destructor still joins the stuck member (threads are never
// detached): it blocks until that member returns.

#include <exception>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "operator/runtime/clock.h"

namespace bursar::runtime {

class ThreadGroup {
 public:
  using Body = std::function<void(std::stop_token)>;

  // `ended_early`, when not null, is notified (from the ending thread) whenever a member ends
  // before Stop() asked it to. Stop()'s grace is measured on `clock` (a process-wide
  // SystemClock when null). Both must outlive the group.
  explicit ThreadGroup(Wakeup* ended_early = nullptr, const Clock* clock = nullptr);
  ~ThreadGroup();
  ThreadGroup(const ThreadGroup&) = delete;
  ThreadGroup& operator=(const ThreadGroup&) = delete;

  // Adds a member; `name` appears in errors. Added after Start(), it starts at once.
  void Add(std::string name, Body body);

  // Starts every member not started yet, in the order added.
  void Start();

  // Stops the members in reverse order of Add(): request_stop(), then join, one at a time.
  // Returns OK when every member ran until it was asked to stop and none threw; otherwise an
  // error naming each member that ended early or threw (with the exception's message). When a
  // member has not returned `grace` after the call began, the error is DeadlineExceeded and
  // names it (see the file comment). A second call returns the same result without stopping
  // anything again.
  absl::Status Stop(absl::Duration grace = absl::InfiniteDuration());

 private:
  struct Member {
    std::string name;
    Body body;
    Wakeup returned;  // notified by the member's thread as its body has returned or thrown
    std::jthread thread;
  };
  // A member that ended early or threw.
  struct Failure {
    std::string name;
    bool early = false;
    std::exception_ptr error;  // null when the body returned
  };

  void Launch(Member& member);
  void RunMember(Member& member, std::stop_token token);

  Wakeup* const ended_early_;
  const Clock& clock_;
  std::vector<std::unique_ptr<Member>> members_;  // the owner's thread only
  bool started_ = false;
  bool stopped_ = false;
  absl::Status result_;

  absl::Mutex mu_;
  std::vector<Failure> failures_ ABSL_GUARDED_BY(mu_);
};

// Runs `run(&wakeup)` with a Wakeup that is notified as soon as `token` is asked to stop (at
// once when it already was), then calls `after_notify` (when given) on the stopping thread:
// the bridge from a std::stop_token to a Run(Wakeup* stop). A watcher passes its Interrupt() as
// `after_notify`, to cancel the watch request in flight.
void RunWithStopToken(std::stop_token token, const std::function<void(Wakeup*)>& run,
                      const std::function<void()>& after_notify = nullptr);

}  // namespace bursar::runtime
