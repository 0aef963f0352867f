#include "operator/runtime/thread_group.h"

#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bursar::runtime {
namespace {

std::string Describe(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return absl::StrCat("threw: ", e.what());
  } catch (...) {
    return "threw a non-standard exception";
  }
}

const Clock& DefaultClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace

ThreadGroup::ThreadGroup(Wakeup* ended_early, const Clock* clock)
    : ended_early_(ended_early), clock_(clock != nullptr ? *clock : DefaultClock()) {}

ThreadGroup::~ThreadGroup() {
  Stop().IgnoreError();  // documented: call Stop() to see the status
}

void ThreadGroup::Add(std::string name, Body body) {
  auto member = std::make_unique<Member>();
  member->name = std::move(name);
  member->body = std::move(body);
  members_.push_back(std::move(member));
  if (started_ && !stopped_) {
    Launch(*members_.back());
  }
}

void ThreadGroup::Start() {
  if (started_ || stopped_) {
    return;
  }
  started_ = true;
  for (const std::unique_ptr<Member>& member : members_) {
    Launch(*member);
  }
}

void ThreadGroup::Launch(Member& member) {
  member.thread =
      std::jthread([this, &member](std::stop_token token) { RunMember(member, std::move(token)); });
}

void ThreadGroup::RunMember(Member& member, std::stop_token token) {
  Failure failure{member.name, false, nullptr};
  try {
    member.body(token);
  } catch (...) {
    failure.error = std::current_exception();
  }
  failure.early = !token.stop_requested();
  const bool early = failure.early;
  if (failure.error != nullptr || early) {
    absl::MutexLock lock(&mu_);
    failures_.push_back(std::move(failure));
  }
  member.returned.Notify();  // after the failure is on record: Stop() reads it next
  if (early && ended_early_ != nullptr) {
    ended_early_->Notify();
  }
}

absl::Status ThreadGroup::Stop(absl::Duration grace) {
  if (stopped_) {
    return result_;
  }
  stopped_ = true;
  const absl::Time deadline =
      grace == absl::InfiniteDuration() ? absl::InfiniteFuture() : clock_.MonotonicNow() + grace;
  std::vector<std::string> problems;
  bool stuck = false;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    Member& member = **it;
    if (!member.thread.joinable()) {
      continue;
    }
    member.thread.request_stop();
    if (stuck) {
      continue;  // past the grace: asked, not waited for
    }
    if (clock_.SleepUntil(deadline, &member.returned)) {
      stuck = true;
      problems.push_back(absl::StrCat("thread \"", member.name, "\" did not stop within ",
                                      absl::FormatDuration(grace)));
      continue;
    }
    member.thread.join();
  }
  {
    absl::MutexLock lock(&mu_);
    for (const Failure& f : failures_) {
      std::string what = f.error != nullptr ? Describe(f.error) : "returned";
      problems.push_back(f.early ? absl::StrCat("thread \"", f.name,
                                                "\" ended before it was asked "
                                                "to stop: ",
                                                what)
                                 : absl::StrCat("thread \"", f.name, "\" ", what, " on stopping"));
    }
  }
  if (problems.empty()) {
    result_ = absl::OkStatus();
  } else if (stuck) {
    result_ = absl::DeadlineExceededError(absl::StrJoin(problems, "; "));
  } else {
    result_ = absl::InternalError(absl::StrJoin(problems, "; "));
  }
  return result_;
}

void RunWithStopToken(std::stop_token token, const std::function<void(Wakeup*)>& run,
                      const std::function<void()>& after_notify) {
  Wakeup stop;
  // Runs on the thread that requests the stop (or here, at once, when it was requested already);
  // deregistered before `stop` goes out of scope.
  std::stop_callback on_stop(token, [&stop, &after_notify] {
    stop.Notify();
    if (after_notify) {
      after_notify();
    }
  });
  run(&stop);
}

}  // namespace bursar::runtime
