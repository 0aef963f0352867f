// Tests for engine::JobLengths (what a budget learns about how long its work runs) and
// engine::GpuHourPrice (which pool's price converts money into GPUs).

#include "controllers/engine/job_lengths.h"

#include <gtest/gtest.h>

#include "controllers/engine/budget_step.h"

namespace bursar::engine {
namespace {

TEST(JobLengths, NothingLearnedMeansAllWorkOutlivesThePeriod) {
  JobLengths lengths;
  EXPECT_EQ(lengths.FractionLongerThan(absl::Hours(1000)), 1.0);
}

TEST(JobLengths, TheShareLongerThanTheTimeLeftIsWeightedByGpus) {
  JobLengths lengths;
  lengths.Add(absl::Hours(1), 1);
  lengths.Add(absl::Hours(5), 3);
  lengths.Add(absl::Minutes(30), 0);  // CPU-only: weighs one
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Hours(2)), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Minutes(45)), 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Hours(5)), 0.0);  // not longer: equal
}

TEST(JobLengths, OnlyTheLastJobsCount) {
  JobLengths lengths;
  lengths.Add(absl::Hours(100), 8);
  for (size_t i = 0; i < JobLengths::kCapacity; ++i) {
    lengths.Add(absl::Hours(1), 1);
  }
  EXPECT_EQ(lengths.size(), JobLengths::kCapacity);
  EXPECT_EQ(lengths.FractionLongerThan(absl::Hours(2)), 0.0);  // the 100 h Job is forgotten
}

values::Money M(int64_t units) {
  return values::Money::FromUnits(units);
}

TEST(GpuHourPrice, TheCheapestPoolWithRoomConvertsTheMoney) {
  std::vector<PoolPrice> pools = {{.gpu_hour = M(10), .has_room = false},
                                  {.gpu_hour = M(6), .has_room = true},
                                  {.gpu_hour = M(4), .has_room = true}};
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(4));
  pools[2].has_room = false;
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(6));
  pools[1].has_room = false;
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(10));  // all full: the dearest, never too cheap
}

TEST(GpuHourPrice, WithoutPoolPricesWhatRunsOrThePriceBookDefault) {
  BudgetBurn burn{.regular_rate = M(12),
                  .regular_gpus = 4,
                  .reserve_rate = {},
                  .reserve_gpus = 0,
                  .idle_rate = {},
                  .idle_gpus = 0};
  EXPECT_EQ(GpuHourPrice({}, burn, M(1)), M(3));
  EXPECT_EQ(GpuHourPrice({}, {}, M(1)), M(1));
}

}  // namespace
}  // namespace bursar::engine
