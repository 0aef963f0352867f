#include "operator/runtime/thread_group.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "operator/runtime/clock.h"

namespace bursar::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Real-time bound on waits for other threads; never reached by a passing test.
constexpr absl::Duration kPatience = absl::Seconds(30);

// Blocks until `token` is asked to stop (no polling, no sleep).
void WaitForStop(const std::stop_token& token) {
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, token, [] { return false; });
}

// What the members saw, in order: "<name> asked" from the stop request, "<name> ended" from the
// member's own thread as it returns.
class Journal {
 public:
  void Write(std::string line) {
    absl::MutexLock lock(&mu_);
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> Lines() const {
    absl::MutexLock lock(&mu_);
    return lines_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

// The member waits for its own stop callback, not for the token: a second callback on the same
// token (WaitForStop's) could wake it first, and a stop_callback destroyed before it has run
// never runs, which lost "asked" once under ASan.
ThreadGroup::Body Member(Journal& journal, std::string name, absl::Notification* started) {
  return [&journal, name, started](std::stop_token token) {
    absl::Notification asked_done;
    std::stop_callback asked(token, [&journal, &name, &asked_done] {
      journal.Write(name + " asked");
      asked_done.Notify();
    });
    started->Notify();
    asked_done.WaitForNotification();
    journal.Write(name + " ended");
  };
}

TEST(ThreadGroupTest, StartsEveryMemberAndStopsThemInReverseOrderOneAtATime) {
  Journal journal;
  absl::Notification watcher_started, elector_started, controller_started;
  ThreadGroup group;
  group.Add("watcher", Member(journal, "watcher", &watcher_started));
  group.Add("elector", Member(journal, "elector", &elector_started));
  group.Add("controller", Member(journal, "controller", &controller_started));
  group.Start();
  ASSERT_TRUE(watcher_started.WaitForNotificationWithTimeout(kPatience));
  ASSERT_TRUE(elector_started.WaitForNotificationWithTimeout(kPatience));
  ASSERT_TRUE(controller_started.WaitForNotificationWithTimeout(kPatience));
  EXPECT_THAT(journal.Lines(), IsEmpty());  // nobody is asked before Stop()

  EXPECT_TRUE(group.Stop().ok());
  // Each member has ended before the next one is asked: the last added goes first.
  EXPECT_THAT(journal.Lines(), ElementsAre("controller asked", "controller ended", "elector asked",
                                           "elector ended", "watcher asked", "watcher ended"));
}

TEST(ThreadGroupTest, NothingRunsBeforeStart) {
  Journal journal;
  ThreadGroup group;
  group.Add("idle", [&journal](std::stop_token) { journal.Write("ran"); });
  EXPECT_TRUE(group.Stop().ok());  // never started: nothing to stop, nothing ended early
  EXPECT_THAT(journal.Lines(), IsEmpty());
}

TEST(ThreadGroupTest, AMemberThatReturnsEarlyWakesTheOwnerAndIsReported) {
  Journal journal;
  Wakeup ended_early;
  absl::Notification steady_started;
  ThreadGroup group(&ended_early);
  group.Add("steady", Member(journal, "steady", &steady_started));
  group.Add("quitter", [](std::stop_token) {});
  group.Start();
  // The owner sleeps on the wakeup (here with no deadline), as RunOperator does.
  SystemClock clock;
  EXPECT_FALSE(clock.SleepFor(kPatience, &ended_early));

  absl::Status stopped = group.Stop();
  EXPECT_EQ(stopped.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(stopped.message(),
              HasSubstr("thread \"quitter\" ended before it was asked to stop: returned"));
  EXPECT_THAT(stopped.message(), ::testing::Not(HasSubstr("steady")));
  // The others are still stopped and joined.
  EXPECT_THAT(journal.Lines(), ElementsAre("steady asked", "steady ended"));
}

TEST(ThreadGroupTest, AnExceptionIsCaughtAtTheThreadAndReturnedWithItsMessage) {
  Wakeup ended_early;
  ThreadGroup group(&ended_early);
  group.Add("watch pods", [](std::stop_token) { throw std::runtime_error("decoder exploded"); });
  group.Start();
  SystemClock clock;
  EXPECT_FALSE(clock.SleepFor(kPatience, &ended_early));

  absl::Status stopped = group.Stop();
  EXPECT_THAT(stopped.message(), HasSubstr("thread \"watch pods\" ended before it was asked to "
                                           "stop: threw: decoder exploded"));
  EXPECT_EQ(group.Stop(), stopped);  // a second Stop() reports the same, stops nothing
}

TEST(ThreadGroupTest, AnExceptionWhileStoppingIsReportedButDoesNotCountAsEarly) {
  Wakeup ended_early;
  absl::Notification started;
  ThreadGroup group(&ended_early);
  group.Add("controller", [&started](std::stop_token token) {
    started.Notify();
    WaitForStop(token);
    throw 42;  // not a std::exception
  });
  group.Start();
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kPatience));

  absl::Status stopped = group.Stop();
  EXPECT_THAT(stopped.message(),
              HasSubstr("thread \"controller\" threw a non-standard exception on stopping"));
  EXPECT_FALSE(ended_early.HasBeenNotified());
}

TEST(ThreadGroupTest, AMemberAddedAfterStartStartsAtOnce) {
  Journal journal;
  absl::Notification first_started, late_started;
  ThreadGroup group;
  group.Add("first", Member(journal, "first", &first_started));
  group.Start();
  group.Add("late", Member(journal, "late", &late_started));
  ASSERT_TRUE(late_started.WaitForNotificationWithTimeout(kPatience));
  EXPECT_TRUE(group.Stop().ok());
  EXPECT_THAT(journal.Lines(),
              ElementsAre("late asked", "late ended", "first asked", "first ended"));
}

TEST(ThreadGroupTest, TheDestructorStopsAndJoinsARunningGroup) {
  Journal journal;
  absl::Notification started;
  {
    ThreadGroup group;
    group.Add("member", Member(journal, "member", &started));
    group.Start();
    ASSERT_TRUE(started.WaitForNotificationWithTimeout(kPatience));
  }
  EXPECT_THAT(journal.Lines(), ElementsAre("member asked", "member ended"));
}

TEST(RunWithStopTokenTest, TheWakeupIsNotifiedWhenTheTokenIsAskedToStop) {
  SimulatedClock clock;
  std::stop_source source;
  Journal journal;
  std::jthread runner([&] {
    RunWithStopToken(
        source.get_token(),
        [&](Wakeup* stop) {
          // Sleeps on a clock that never advances: only the stop can end it.
          EXPECT_FALSE(clock.SleepUntil(absl::InfiniteFuture(), stop));
          journal.Write("run returned");
        },
        [&] { journal.Write("interrupted"); });
  });
  ASSERT_TRUE(clock.AwaitSleepers(1, kPatience));
  source.request_stop();
  runner.join();
  // after_notify runs on the stopping thread right after the wakeup, before run() sees it or
  // after: both orders are fine, but both must happen.
  std::vector<std::string> lines = journal.Lines();
  std::sort(lines.begin(), lines.end());
  EXPECT_THAT(lines, ElementsAre("interrupted", "run returned"));
}

TEST(ThreadGroupTest, MembersThatStopWithinTheGraceAreJoinedAndStopIsOk) {
  SimulatedClock clock;  // never advanced: the members return as soon as they are asked
  Journal journal;
  absl::Notification watcher_started, controller_started;
  ThreadGroup group(nullptr, &clock);
  group.Add("watcher", Member(journal, "watcher", &watcher_started));
  group.Add("controller", Member(journal, "controller", &controller_started));
  group.Start();
  ASSERT_TRUE(watcher_started.WaitForNotificationWithTimeout(kPatience));
  ASSERT_TRUE(controller_started.WaitForNotificationWithTimeout(kPatience));

  EXPECT_TRUE(group.Stop(absl::Seconds(10)).ok());
  EXPECT_THAT(journal.Lines(), ElementsAre("controller asked", "controller ended", "watcher asked",
                                           "watcher ended"));
}

TEST(ThreadGroupTest, AMemberThatIgnoresItsStopTokenIsNamedOnceTheGraceHasPassed) {
  SimulatedClock clock;
  Journal journal;
  absl::Notification watcher_started, stuck_started, release;
  ThreadGroup group(nullptr, &clock);
  group.Add("watcher", Member(journal, "watcher", &watcher_started));
  // A pass stuck in a call that never looks at its stop token.
  group.Add("budget loop", [&](std::stop_token) {
    stuck_started.Notify();
    release.WaitForNotification();
  });
  group.Start();
  ASSERT_TRUE(watcher_started.WaitForNotificationWithTimeout(kPatience));
  ASSERT_TRUE(stuck_started.WaitForNotificationWithTimeout(kPatience));

  absl::Status stopped;
  absl::Notification returned;
  std::thread owner([&] {
    stopped = group.Stop(absl::Seconds(10));
    returned.Notify();
  });
  ASSERT_TRUE(clock.AwaitSleepers(1, kPatience));  // Stop() waits for "budget loop"
  clock.Advance(absl::Seconds(9));
  ASSERT_TRUE(clock.AwaitSleepers(1, kPatience));  // still waiting, within the grace
  EXPECT_FALSE(returned.HasBeenNotified());
  clock.Advance(absl::Seconds(1));
  owner.join();

  EXPECT_EQ(stopped.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(stopped.message(), "thread \"budget loop\" did not stop within 10s");
  // The members after it in the stop order are still asked to stop (not waited for).
  EXPECT_THAT(journal.Lines(), ::testing::Contains("watcher asked"));
  EXPECT_EQ(group.Stop().code(), absl::StatusCode::kDeadlineExceeded);  // same answer again
  release.Notify();  // lets the destructor join the stuck member
}

TEST(RunWithStopTokenTest, ATokenStoppedAlreadyStopsTheRunAtOnce) {
  SimulatedClock clock;
  std::stop_source source;
  source.request_stop();
  bool after = false;
  RunWithStopToken(
      source.get_token(),
      [&](Wakeup* stop) {
        EXPECT_TRUE(stop->HasBeenNotified());
        EXPECT_FALSE(clock.SleepUntil(absl::InfiniteFuture(), stop));
      },
      [&after] { after = true; });
  EXPECT_TRUE(after);
}

}  // namespace
}  // namespace bursar::runtime
