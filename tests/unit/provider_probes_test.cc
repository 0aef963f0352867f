// Tests for reconcilers::ProviderProbes (provider_probes.h): asking never waits for a provider
// that does not answer; the answer comes later, once, for the generation asked.

#include "controllers/reconcilers/provider_probes.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"

namespace bursar::reconcilers {
namespace {

api::GPUNodePool Pool(std::string name, int64_t generation) {
  api::GPUNodePool pool;
  pool.metadata.name = std::move(name);
  pool.metadata.generation = generation;
  return pool;
}

// Polls (the answer arrives on the probes' thread) for at most 10 s.
std::optional<ProviderHealth> AwaitAnswer(ProviderProbes& probes, const std::string& pool,
                                          int64_t generation) {
  for (int i = 0; i < 1000; ++i) {
    if (std::optional<ProviderHealth> answer = probes.TakeAnswer(pool, generation)) {
      return answer;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  return std::nullopt;
}

TEST(ProviderProbesTest, AskingNeverWaitsForAProviderThatDoesNotAnswer) {
  absl::Notification release;
  std::atomic<int> probed = 0;
  ProviderProbes probes([&](const api::GPUNodePool& pool) {
    ++probed;
    if (pool.metadata.name == "hung") {
      release.WaitForNotification();  // an externalgrpc server that never answers
      return ProviderHealth{.reason = "ProviderUnavailable", .message = "deadline exceeded"};
    }
    return ProviderHealth{};
  });
  const absl::Time asked = absl::Now();
  probes.Ask(Pool("hung", 1));
  probes.Ask(Pool("hung", 1));  // a pass before the answer: still one probe queued or running
  EXPECT_LT(absl::Now() - asked, absl::Seconds(1));
  EXPECT_FALSE(probes.TakeAnswer("hung", 1).has_value());  // no answer yet: the last one stands

  release.Notify();
  std::optional<ProviderHealth> answer = AwaitAnswer(probes, "hung", 1);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->reason, "ProviderUnavailable");
  EXPECT_FALSE(probes.TakeAnswer("hung", 1).has_value());  // handed out once

  probes.Ask(Pool("fine", 7));
  answer = AwaitAnswer(probes, "fine", 7);
  ASSERT_TRUE(answer.has_value());
  EXPECT_TRUE(answer->reason.empty());
  EXPECT_LE(probed.load(), 3);
}

TEST(ProviderProbesTest, AnAnswerForAnOlderGenerationIsNotHandedOut) {
  ProviderProbes probes(
      [](const api::GPUNodePool&) { return ProviderHealth{.reason = "X", .message = "x"}; });
  probes.Ask(Pool("p", 1));
  ASSERT_TRUE(AwaitAnswer(probes, "p", 1).has_value());
  probes.Ask(Pool("p", 1));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_FALSE(probes.TakeAnswer("p", 2).has_value());
}

TEST(ProviderProbesTest, DestroyingWithAProbeQueuedStopsAfterTheOneInFlight) {
  absl::Notification started, release;
  std::atomic<int> probed = 0;
  {
    ProviderProbes probes([&](const api::GPUNodePool&) {
      ++probed;
      if (!started.HasBeenNotified()) {
        started.Notify();
      }
      release.WaitForNotification();
      return ProviderHealth{};
    });
    probes.Ask(Pool("a", 1));
    started.WaitForNotification();
    probes.Ask(Pool("b", 1));
    release.Notify();
  }  // joins
  EXPECT_LE(probed.load(), 2);
}

}  // namespace
}  // namespace bursar::reconcilers
