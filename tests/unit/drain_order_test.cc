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

DrainCandidate OnBin(DrainCandidate job, int bin) {
  job.bin = bin;
  return job;
}

TEST(DrainOrderTest, IdleLeftBehindCountsWhatLandsOnPaidCapacityLessWholeNodesFreed) {
  const OwnedBin bin{.gpus_per_node = 8, .idle_gpus = 3, .idle_gpu_rate = Money::FromUnits(2)};
  EXPECT_EQ(IdleLeftBehind(bin, 0), 0);
  EXPECT_EQ(IdleLeftBehind(bin, 4), 4);    // 7 idle: no node free, all 4 stay paid
  EXPECT_EQ(IdleLeftBehind(bin, 5), -3);   // 8 idle: a node goes, with the 3 idle before
  EXPECT_EQ(IdleLeftBehind(bin, 6), -2);   // and 1 GPU of the next node stays paid
  EXPECT_EQ(IdleLeftBehind(bin, 13), -3);  // 16 idle: two nodes go
  // Work beyond what the budget pays for runs on others' capacity: suspending it frees at once.
  const OwnedBin overflow{.gpus_per_node = 8, .idle_gpus = -2, .idle_gpu_rate = Money()};
  EXPECT_EQ(IdleLeftBehind(overflow, 2), 0);
  EXPECT_EQ(IdleLeftBehind(overflow, 3), 1);
}

// One 8-GPU node the budget grew runs four 2-GPU Jobs; another 4 GPUs run elsewhere. Suspending
// one Job on the node saves nothing (its GPUs stay paid for, idle): Drain takes the node's other
// Jobs with it, in its own order, until the node is free.
TEST(DrainOrderTest, AJobOnANodeThatStaysSavesNothingSoItsNodeGoesWhole) {
  std::vector<DrainCandidate> jobs = {OnBin(Job(0, 1, 2), 0), OnBin(Job(0, 2, 2), 0),
                                      OnBin(Job(1, 3, 2), 0), OnBin(Job(1, 4, 2), 0), Job(2, 5, 4)};
  const std::vector<OwnedBin> bins = {
      {.gpus_per_node = 8, .idle_gpus = 0, .idle_gpu_rate = Money()}};
  // 12 run, 10 may: without the bin one 2-GPU Job would do.
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 10, .rate = std::nullopt}), std::vector<size_t>{1});
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 10, .rate = std::nullopt}, bins),
            (std::vector<size_t>{1, 0, 3, 2}));
  // Money counts the idle GPUs left behind at their price.
  std::vector<DrainCandidate> priced = jobs;
  for (DrainCandidate& j : priced) {
    j.rate = Money::FromUnits(j.gpus * 3);
  }
  const std::vector<OwnedBin> priced_bins = {
      {.gpus_per_node = 8, .idle_gpus = 0, .idle_gpu_rate = Money::FromUnits(3)}};
  EXPECT_EQ(ChooseDrained(priced, {.gpus = 100, .rate = Money::FromUnits(30)}, priced_bins),
            (std::vector<size_t>{1, 0, 3, 2}));
}

// A node that also runs another budget's pods is never freed by this budget's suspensions: they
// would throw work away and save nothing, so none is made there while the work elsewhere is
// enough. When nothing is enough, everything chosen goes: the bookkeeping may be wrong (a node
// another budget keeps busy passes to it once this one holds), the limit may not.
TEST(DrainOrderTest, SuspensionsThatFreeNoNodeAreNotMadeUnlessNothingElseFits) {
  std::vector<DrainCandidate> jobs = {OnBin(Job(0, 1, 2), 0), OnBin(Job(0, 2, 2), 0), Job(1, 3, 4)};
  // 8 GPUs: 4 of this budget's Jobs, 4 of another budget's pods, none idle.
  const std::vector<OwnedBin> bins = {
      {.gpus_per_node = 8, .idle_gpus = 0, .idle_gpu_rate = Money()}};
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 4, .rate = std::nullopt}, bins), std::vector<size_t>{2});
  EXPECT_EQ(ChooseDrained(jobs, {.gpus = 2, .rate = std::nullopt}, bins),
            (std::vector<size_t>{1, 0, 2}));
}

}  // namespace
}  // namespace bursar::engine
