// Tests for engine::CapStop, ExpectedCost and CheckAffordable: a Job's own cap over its life, and
// whether work of a declared length fits its cap and what its budget can still pay.

#include "controllers/engine/job_caps.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

namespace bursar::engine {
namespace {

using values::Money;

constexpr values::Accrual kPerMicro = values::kAccrualPerMicro;

Money Units(int64_t u) {
  return Money::FromUnits(u);
}

TEST(JobCapsTest, StopsWhenTheProjectionReachesTheMoneyCapAndNotBefore) {
  const JobCap cap{.max_cost = Units(100), .max_gpu_hours = std::nullopt};
  // 36 per hour = 0.01 per second; 30 s ahead costs 0.30.
  const Money rate = Units(36);
  JobUse used{.accrued = static_cast<values::Accrual>(99'690'000) * kPerMicro, .gpu_seconds = 0};
  EXPECT_FALSE(CapStop(cap, used, rate, 4, absl::Seconds(30)).has_value()) << "99.69 + 0.30 < 100";
  used.accrued = static_cast<values::Accrual>(99'700'000) * kPerMicro;
  std::optional<std::string> why = CapStop(cap, used, rate, 4, absl::Seconds(30));
  ASSERT_TRUE(why.has_value()) << "99.70 + 0.30 reaches 100";
  EXPECT_EQ(*why,
            "its bursar.dev/max-cost of 100.00 would be passed within 30s: it has cost 99.70 "
            "(0.00 GPU-hours) and burns 36.00 per hour");
  // A longer horizon (a drain grace) stops it earlier.
  used.accrued = static_cast<values::Accrual>(90'000'000) * kPerMicro;
  EXPECT_FALSE(CapStop(cap, used, rate, 4, absl::Seconds(30)).has_value());
  EXPECT_TRUE(CapStop(cap, used, rate, 4, absl::Minutes(20)).has_value()) << "90 + 12 >= 100";
}

TEST(JobCapsTest, StopsAtTheGpuHourCapAndAtACapAlreadyPassed) {
  const JobCap cap{.max_cost = std::nullopt, .max_gpu_hours = 2.0};
  JobUse used{.accrued = 0, .gpu_seconds = 7200 - 4 * 30};
  EXPECT_TRUE(CapStop(cap, used, Money(), 4, absl::Seconds(30)).has_value());
  used.gpu_seconds -= 1;
  EXPECT_FALSE(CapStop(cap, used, Money(), 4, absl::Seconds(30)).has_value());
  // Nothing running (rate 0) but already over: stop, and stay stopped.
  used.gpu_seconds = 7300;
  EXPECT_TRUE(CapStop(cap, used, Money(), 0, absl::ZeroDuration()).has_value());
  // No cap, nothing to stop.
  EXPECT_FALSE(CapStop({}, used, Units(1000), 8, absl::Hours(1)).has_value());
}

TEST(JobCapsTest, ExpectedCostSaturatesAndIsNeverNegative) {
  EXPECT_EQ(ExpectedCost(4, Units(3), absl::Minutes(90)), Units(18));
  EXPECT_EQ(ExpectedCost(0, Units(3), absl::Hours(1)), Money());
  EXPECT_EQ(ExpectedCost(-4, Units(3), absl::Hours(1)), Money());
  EXPECT_EQ(ExpectedCost(4, Units(3), -absl::Hours(1)), Money());
  EXPECT_EQ(ExpectedCost(INT64_MAX, Units(3), absl::Hours(1000)), Money::FromMicros(INT64_MAX));
}

TEST(JobCapsTest, AffordabilityChecksTheCapFirstThenThisPeriodsPart) {
  const Money price = Units(2);
  // 4 GPUs x 10 h x 2 = 80.
  std::optional<Unaffordable> u =
      CheckAffordable({.max_cost = Units(79), .max_gpu_hours = std::nullopt}, 4, absl::Hours(10),
                      price, Units(1000), absl::Hours(100));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->kind, Unaffordable::Kind::kOverCap);
  u = CheckAffordable({.max_cost = std::nullopt, .max_gpu_hours = 39.9}, 4, absl::Hours(10), price,
                      std::nullopt, absl::Hours(100));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->kind, Unaffordable::Kind::kOverCap);
  // Money left 50: the whole run (80) does not fit, 5 h of it (40) before the period ends does.
  u = CheckAffordable({}, 4, absl::Hours(10), price, Units(50), absl::Hours(100));
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(u->kind, Unaffordable::Kind::kOverBudget);
  EXPECT_FALSE(CheckAffordable({}, 4, absl::Hours(10), price, Units(50), absl::Hours(5)));
  // Not a money budget: only the cap is checked.
  EXPECT_FALSE(CheckAffordable({}, 4, absl::Hours(10), price, std::nullopt, absl::Hours(100)));
}

}  // namespace
}  // namespace bursar::engine
