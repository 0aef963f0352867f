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

}  // namespace

ThreadGroup::ThreadGroup(Wakeup* ended_early) : ended_early_(ended_early) {}

ThreadGroup::~ThreadGroup() {
  Stop().IgnoreError();  // documented: call Stop() to see the status
}

void ThreadGroup::Add(std::string name, Body body) {
  members_.push_back(std::make_unique<Member>(Member{std::move(name), std::move(body), {}}));
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
  member.thread = std::jthread([this, &member](std::stop_token token) {
    RunMember(member.name, member.body, std::move(token));
  });
}

void ThreadGroup::RunMember(const std::string& name, const Body& body, std::stop_token token) {
  Failure failure{name, false, nullptr};
  try {
    body(token);
  } catch (...) {
    failure.error = std::current_exception();
  }
  failure.early = !token.stop_requested();
  if (failure.error == nullptr && !failure.early) {
    return;
  }
  const bool early = failure.early;
  {
    absl::MutexLock lock(&mu_);
    failures_.push_back(std::move(failure));
  }
  if (early && ended_early_ != nullptr) {
    ended_early_->Notify();
  }
}

absl::Status ThreadGroup::Stop() {
  if (stopped_) {
    return result_;
  }
  stopped_ = true;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    std::jthread& thread = (*it)->thread;
    if (thread.joinable()) {
      thread.request_stop();
      thread.join();
    }
  }
  std::vector<std::string> problems;
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
  result_ =
      problems.empty() ? absl::OkStatus() : absl::InternalError(absl::StrJoin(problems, "; "));
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
