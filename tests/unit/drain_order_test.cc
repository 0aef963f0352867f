// engine::ChooseDrained: which running Jobs Drain suspends, in the operator and the simulator.

#include "controllers/engine/drain_order.h"

#include <optional>
#include <vector>

#include "gtest/gtest.h"

namespace bursar::engine {
namespace {

using values::Money;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

DrainCandidate Job(int64_t priority, double started_hours, int64_t gpus, int64_t rate = 0) {
  return {.priority = priority,
          .started = kStart + absl::Hours(started_hours),
          .gpus = gpus,
          .rate = Money::FromUnits(rate)};
}

TEST(DrainOrderTest, LowestPriorityThenNewestFirstUntilWhatRunsFits) {
  std::vector<DrainCandidate> jobs = {Job(0, 1, 2), Job(5, 3, 2), Job(0, 2, 2), Job(0, 2, 2)};
  // 8 GPUs run, 3 may: the newest of priority 0 (ties in the caller's order), then the next.
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 3, .rate = std::nullopt}), (std::vector<size_t>{2, 3, 0}));
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 8, .rate = std::nullopt}), std::vector<size_t>{});
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 0, .rate = std::nullopt}),
            (std::vector<size_t>{2, 3, 0, 1}));
}

// A CPU-only Job costs money but no GPUs: the money bound drains it.
TEST(DrainOrderTest, MoneyPerHourBoundsWorkWithoutGpus) {
  std::vector<DrainCandidate> jobs = {Job(0, 1, 0, 30), Job(1, 1, 1, 10)};
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 5, .rate = Money::FromUnits(20)}), std::vector<size_t>{0});
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 5, .rate = std::nullopt}), std::vector<size_t>{});
}

}  // namespace
}  // namespace bursar::engine
