// Tests for engine::DecideBudget: the enforcement ladder reached by
// usage = (spent + burn x lookahead) / ceiling, Even pacing, the retraining reserve, the quotas
// each rung sets, the phase, the status arithmetic (forecast, remaining, exhaustsAt), GPU-hour
// limits and the stricter-of-two-dimensions rule.
//
// Unless a test says otherwise the fixture is: a 100-hour period, now = 60 h in (40 h left),
// limit 1000, pacing None, the default ladder (50 Notify, 80 Throttle, 95 Hold, 100 Drain),
// a 30-minute lookahead and a GPU-hour price of 4. Numbers are chosen so that the arithmetic is
// exact in binary floating point, so boundaries can be asserted on both sides.

#include "controllers/engine/budget_policy.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"
#include "gtest/gtest.h"

namespace bursar::engine {
namespace {

using api::BudgetPhase;
using api::LadderAction;

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

int64_t Micros(std::string_view text) {
  absl::StatusOr<values::Money> m = values::Money::Parse(text);
  EXPECT_TRUE(m.ok()) << text << ": " << m.status();
  return m.ok() ? m->micros() : 0;
}

values::Money M(std::string_view text) {
  return values::Money::FromMicros(Micros(text));
}

class BudgetSpecBuilder {
 public:
  BudgetSpecBuilder() {
    spec_.limit.amount = M("1000");
    spec_.pacing.mode = api::PacingMode::kNone;
  }
  BudgetSpecBuilder& Amount(std::string_view amount) {
    spec_.limit.amount = M(amount);
    return *this;
  }
  BudgetSpecBuilder& NoAmount() {
    spec_.limit.amount.reset();
    return *this;
  }
  BudgetSpecBuilder& GpuHours(std::string_view hours) {
    spec_.limit.gpu_hours = M(hours);
    return *this;
  }
  BudgetSpecBuilder& Even(int burst_percent) {
    spec_.pacing.mode = api::PacingMode::kEven;
    spec_.pacing.burst_percent = burst_percent;
    return *this;
  }
  BudgetSpecBuilder& Thresholds(std::vector<api::Threshold> thresholds) {
    spec_.thresholds = std::move(thresholds);
    return *this;
  }
  BudgetSpecBuilder& ReservePercent(int percent) {
    spec_.retraining.reserve_percent = percent;
    return *this;
  }
  BudgetSpecBuilder& ReleaseUnusedFrom(int percent) {
    spec_.retraining.release_unused_from_percent = percent;
    return *this;
  }
  api::ComputeBudgetSpec Build() const { return spec_; }

 private:
  api::ComputeBudgetSpec spec_;
};

class InputsBuilder {
 public:
  InputsBuilder() {
    PeriodHours(100);
    AtHour(60);
    in_.gpu_hour_price = M("4");
    in_.lookahead = absl::Minutes(30);
  }
  InputsBuilder& PeriodHours(double hours) {
    in_.period = values::Period{kStart, kStart + absl::Hours(hours)};
    return *this;
  }
  InputsBuilder& AtHour(double hours) {
    in_.now = kStart + absl::Hours(hours);
    return *this;
  }
  InputsBuilder& Spent(std::string_view total) {
    in_.spent = M(total);
    return *this;
  }
  InputsBuilder& ReserveSpent(std::string_view reserve) {
    in_.reserve_spent = M(reserve);
    return *this;
  }
  InputsBuilder& Rate(std::string_view per_hour) {
    in_.rate_per_hour = M(per_hour);
    return *this;
  }
  InputsBuilder& ReserveRate(std::string_view per_hour) {
    in_.reserve_rate_per_hour = M(per_hour);
    return *this;
  }
  InputsBuilder& GpuHoursUsed(double total, double reserve = 0) {
    in_.gpu_seconds = std::llround(total * 3600);
    in_.reserve_gpu_seconds = std::llround(reserve * 3600);
    return *this;
  }
  // Idle capacity this budget pays for: part of Rate(), and its devices.
  InputsBuilder& Idle(std::string_view per_hour, int64_t gpus) {
    in_.idle_rate_per_hour = M(per_hour);
    in_.idle_gpus = gpus;
    return *this;
  }
  InputsBuilder& Running(int64_t gpus) {
    in_.running_gpus = gpus;
    return *this;
  }
  InputsBuilder& ReserveRunning(int64_t gpus) {
    in_.reserve_running_gpus = gpus;
    return *this;
  }
  // Retraining work already stopping: part of ReserveRate() and ReserveRunning().
  InputsBuilder& ReserveStopping(std::string_view per_hour, int64_t gpus) {
    in_.reserve_stopping_rate_per_hour = M(per_hour);
    in_.reserve_stopping_gpus = gpus;
    return *this;
  }
  InputsBuilder& Price(std::string_view per_gpu_hour) {
    in_.gpu_hour_price = M(per_gpu_hour);
    return *this;
  }
  InputsBuilder& Unlocked() {
    in_.reserve_unlocked = true;
    return *this;
  }
  InputsBuilder& StopLag(absl::Duration d) {
    in_.stop_lag = d;
    return *this;
  }
  InputsBuilder& Lookahead(absl::Duration d) {
    in_.lookahead = d;
    return *this;
  }
  InputsBuilder& CarryFraction(double fraction) {
    in_.carry_fraction = fraction;
    return *this;
  }
  // The part of Idle() on nodes wholly idle, which a Hold or Drain removes within `tick`.
  InputsBuilder& IdleNodes(std::string_view per_hour, int64_t gpus, absl::Duration tick) {
    in_.idle_node_rate_per_hour = M(per_hour);
    in_.idle_node_gpus = gpus;
    in_.tick = tick;
    return *this;
  }
  InputsBuilder& StartLookahead(absl::Duration d) {
    in_.start_lookahead = d;
    return *this;
  }
  BudgetInputs Build() const { return in_; }

 private:
  BudgetInputs in_;
};

BudgetDecision Decide(const BudgetSpecBuilder& spec, const InputsBuilder& in) {
  return DecideBudget(spec.Build(), in.Build());
}

// ---------------------------------------------------------------------------------------------
// The default ladder, rung by rung (pacing None, so ceiling = limit).

struct RungCase {
  std::string name;
  InputsBuilder in;
  LadderAction want_rung;
  BudgetPhase want_phase;
  double want_usage;
};

void PrintTo(const RungCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyLadderTest : public testing::TestWithParam<RungCase> {};

TEST_P(BudgetPolicyLadderTest, RungAndPhase) {
  const RungCase& c = GetParam();
  BudgetDecision d = Decide(BudgetSpecBuilder(), c.in);
  EXPECT_EQ(d.rung, c.want_rung) << api::Name(d.rung) << " " << d.reason;
  EXPECT_EQ(d.phase, c.want_phase) << api::Name(d.phase) << " " << d.reason;
  EXPECT_NEAR(d.usage_percent, c.want_usage, 1e-9);
  EXPECT_EQ(d.hold_new_work, c.want_rung >= LadderAction::kHold);
  EXPECT_EQ(d.quota_gpus.has_value(), c.want_rung >= LadderAction::kThrottle);
  EXPECT_EQ(d.keep_running_gpus.has_value(), c.want_rung == LadderAction::kDrain);
  EXPECT_FALSE(d.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyLadderTest,
    testing::Values(
        RungCase{"Nothing", InputsBuilder(), LadderAction::kNone, BudgetPhase::kWithinBudget, 0},
        RungCase{"JustBelowNotify", InputsBuilder().Spent("499.999999"), LadderAction::kNone,
                 BudgetPhase::kWithinBudget, 49.9999999},
        RungCase{"Notify", InputsBuilder().Spent("500"), LadderAction::kNotify,
                 BudgetPhase::kAtRisk, 50},
        RungCase{"JustBelowThrottle", InputsBuilder().Spent("799.999999"), LadderAction::kNotify,
                 BudgetPhase::kAtRisk, 79.9999999},
        RungCase{"Throttle", InputsBuilder().Spent("800"), LadderAction::kThrottle,
                 BudgetPhase::kThrottled, 80},
        RungCase{"JustBelowHold", InputsBuilder().Spent("949.999999"), LadderAction::kThrottle,
                 BudgetPhase::kThrottled, 94.9999999},
        RungCase{"Hold", InputsBuilder().Spent("950"), LadderAction::kHold, BudgetPhase::kHeld, 95},
        RungCase{"JustBelowDrain", InputsBuilder().Spent("997"), LadderAction::kHold,
                 BudgetPhase::kHeld, 99.7},
        RungCase{"Drain", InputsBuilder().Spent("1000"), LadderAction::kDrain,
                 BudgetPhase::kExhausted, 100},
        RungCase{"Overspent", InputsBuilder().Spent("1500"), LadderAction::kDrain,
                 BudgetPhase::kExhausted, 150},
        // The lookahead projection: 40 per hour over 30 minutes adds 20.
        RungCase{"BurnJustBelowNotify", InputsBuilder().Spent("479.999999").Rate("40"),
                 LadderAction::kNone, BudgetPhase::kAtRisk, 49.9999999},
        RungCase{"BurnReachesNotify", InputsBuilder().Spent("480").Rate("40"),
                 LadderAction::kNotify, BudgetPhase::kAtRisk, 50},
        RungCase{"BurnReachesThrottle", InputsBuilder().Spent("780").Rate("40"),
                 LadderAction::kThrottle, BudgetPhase::kThrottled, 80},
        RungCase{"BurnReachesHold", InputsBuilder().Spent("930").Rate("40"), LadderAction::kHold,
                 BudgetPhase::kHeld, 95},
        RungCase{"BurnReachesDrain", InputsBuilder().Spent("980").Rate("40"), LadderAction::kDrain,
                 BudgetPhase::kHeld, 100},
        RungCase{"LongerLookaheadActsEarlier",
                 InputsBuilder().Spent("400").Rate("40").Lookahead(absl::Hours(10)),
                 LadderAction::kThrottle, BudgetPhase::kThrottled, 80}),
    [](const testing::TestParamInfo<RungCase>& p) { return p.param.name; });

// Default lookahead (2 minutes): a burn that crosses a line within two minutes acts now.
TEST(BudgetPolicyTest, DefaultLookaheadIsTwoMinutes) {
  EXPECT_EQ(BudgetInputs{}.lookahead, absl::Minutes(2));
  BudgetInputs in = InputsBuilder().Spent("495").Rate("300").Build();
  in.lookahead = BudgetInputs{}.lookahead;
  BudgetDecision d = DecideBudget(BudgetSpecBuilder().Build(), in);
  EXPECT_EQ(d.rung, LadderAction::kNotify);
  EXPECT_NEAR(d.usage_percent, 50.5, 1e-6);
}

// ---------------------------------------------------------------------------------------------
// Even pacing: ceiling = min(Le, Le x elapsedFraction(now + lookahead) + burst x Le).
// A 64-hour period at 15.5 h with a 30-minute lookahead puts the ceiling at 16/64 = 0.25.

struct PacingCase {
  std::string name;
  BudgetSpecBuilder spec;
  InputsBuilder in;
  LadderAction want_rung;
  double want_usage;
};

void PrintTo(const PacingCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyPacingTest : public testing::TestWithParam<PacingCase> {};

TEST_P(BudgetPolicyPacingTest, Ceiling) {
  const PacingCase& c = GetParam();
  BudgetDecision d = Decide(c.spec, c.in);
  EXPECT_EQ(d.rung, c.want_rung) << api::Name(d.rung) << " " << d.reason;
  EXPECT_NEAR(d.usage_percent, c.want_usage, 1e-9) << d.reason;
}

InputsBuilder Quarter() {
  return InputsBuilder().PeriodHours(64).AtHour(15.5);
}
InputsBuilder NearEnd() {
  return InputsBuilder().PeriodHours(64).AtHour(59.5);
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyPacingTest,
    testing::Values(
        // Ceiling 1000 x 0.25 + 100 = 350.
        PacingCase{"EvenAheadOfLine", BudgetSpecBuilder().Even(10), Quarter().Spent("175"),
                   LadderAction::kNotify, 50},
        PacingCase{"NoneSameSpend", BudgetSpecBuilder(), Quarter().Spent("175"),
                   LadderAction::kNone, 17.5},
        PacingCase{"EvenThrottle", BudgetSpecBuilder().Even(10), Quarter().Spent("280"),
                   LadderAction::kThrottle, 80},
        PacingCase{"EvenDrainFarBelowLimit", BudgetSpecBuilder().Even(10), Quarter().Spent("350"),
                   LadderAction::kDrain, 100},
        // Burst 0: ceiling 250.
        PacingCase{"EvenNoBurst", BudgetSpecBuilder().Even(0), Quarter().Spent("175"),
                   LadderAction::kNotify, 70},
        // Burst 50: ceiling 750.
        PacingCase{"EvenBigBurst", BudgetSpecBuilder().Even(50), Quarter().Spent("375"),
                   LadderAction::kNotify, 50},
        // The ceiling is evaluated at now + lookahead: a 2.5-hour lookahead moves it to
        // 18/64 x 1000 + 100 = 381.25, and burn adds 2.5 x 10: 295 / 381.25 = 77.4% (Notify);
        // against the ceiling at now (342.1875) it would be 86.2% (Throttle).
        PacingCase{"EvenCeilingAtNowPlusLookahead", BudgetSpecBuilder().Even(10),
                   Quarter().Lookahead(absl::Minutes(150)).Spent("270").Rate("10"),
                   LadderAction::kNotify, 100.0 * 295 / 381.25},
        // At 60/64 = 0.9375, 937.5 + 100 > 1000: the ceiling is capped at the limit, so 950
        // is 95% (Hold), not 950 / 1037.5 = 91.6% (Throttle).
        PacingCase{"EvenCeilingCappedAtLimit", BudgetSpecBuilder().Even(10), NearEnd().Spent("950"),
                   LadderAction::kHold, 95},
        // Pacing with a reserve paces Le = 800: ceiling 800 x 0.25 + 80 = 280.
        PacingCase{"EvenPacesLimitMinusReserve", BudgetSpecBuilder().Even(10).ReservePercent(20),
                   Quarter().Spent("140"), LadderAction::kNotify, 50}),
    [](const testing::TestParamInfo<PacingCase>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// The reserve: regular work sees Le = L - R and its own spend only.

TEST(BudgetPolicyReserveTest, ReserveOf) {
  EXPECT_EQ(ReserveOf(M("1000"), 20).micros(), Micros("200"));
  EXPECT_EQ(ReserveOf(M("1000"), 0).micros(), 0);
  EXPECT_EQ(ReserveOf(M("0.000009"), 50).micros(), 4);  // rounds down
  EXPECT_EQ(ReserveOf(M("5000"), 50).micros(), Micros("2500"));
}

TEST(BudgetPolicyReserveTest, RegularWorkSeesLimitMinusReserve) {
  // 400 of Le = 800 is 50%; of L = 1000 it would be 40%.
  BudgetDecision with =
      Decide(BudgetSpecBuilder().ReservePercent(20), InputsBuilder().Spent("400"));
  EXPECT_EQ(with.rung, LadderAction::kNotify);
  EXPECT_NEAR(with.usage_percent, 50, 1e-9);
  BudgetDecision without = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("400"));
  EXPECT_EQ(without.rung, LadderAction::kNone);
  EXPECT_NEAR(without.usage_percent, 40, 1e-9);

  // Le reached: Drain although 200 of the limit is left (for retraining).
  BudgetDecision at_le =
      Decide(BudgetSpecBuilder().ReservePercent(20), InputsBuilder().Spent("800"));
  EXPECT_EQ(at_le.rung, LadderAction::kDrain);
  EXPECT_EQ(at_le.phase, BudgetPhase::kExhausted);
  EXPECT_EQ(at_le.remaining.micros(), Micros("200"));
}

TEST(BudgetPolicyReserveTest, ReserveSpendIsNotRegularSpend) {
  // 700 spent, 100 of it on the reserve: regular 600 of 800 = 75% (Notify), not 87.5%.
  BudgetDecision d = Decide(BudgetSpecBuilder().ReservePercent(20),
                            InputsBuilder().Spent("700").ReserveSpent("100"));
  EXPECT_EQ(d.rung, LadderAction::kNotify);
  EXPECT_NEAR(d.usage_percent, 75, 1e-9);
  // Reserve burn does not push regular work up the ladder either.
  BudgetDecision burn = Decide(BudgetSpecBuilder().ReservePercent(20),
                               InputsBuilder().Spent("700").ReserveSpent("100").ReserveRate("400"));
  EXPECT_EQ(burn.rung, LadderAction::kNotify);
  EXPECT_NEAR(burn.usage_percent, 75, 1e-9);
  // But the status view counts everything.
  EXPECT_EQ(burn.remaining.micros(), Micros("300"));
  EXPECT_EQ(burn.burn_rate.micros(), Micros("400"));
}

TEST(BudgetPolicyReserveTest, LockedReserveAllowsNothing) {
  BudgetDecision d =
      Decide(BudgetSpecBuilder().ReservePercent(20), InputsBuilder().Price("10").ReserveRunning(2));
  EXPECT_EQ(d.reserve_allowed_gpus, 0);
  EXPECT_FALSE(d.reserve_keep_running_gpus.has_value());
}

TEST(BudgetPolicyReserveTest, UnlockedWithoutReserveAllowsNothing) {
  BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Price("10").Unlocked());
  EXPECT_EQ(d.reserve_allowed_gpus, 0);
  EXPECT_FALSE(d.reserve_keep_running_gpus.has_value());
}

struct ReserveCase {
  std::string name;
  InputsBuilder in;
  int64_t want_allowed;
  std::optional<int64_t> want_keep;
};

void PrintTo(const ReserveCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyReserveUnlockedTest : public testing::TestWithParam<ReserveCase> {};

// Reserve R = 200 of L = 1000, never released to regular work; GPU-hour price 10.
TEST_P(BudgetPolicyReserveUnlockedTest, Allowance) {
  const ReserveCase& c = GetParam();
  BudgetDecision d = Decide(BudgetSpecBuilder().ReservePercent(20).ReleaseUnusedFrom(100), c.in);
  EXPECT_EQ(d.reserve_allowed_gpus, c.want_allowed);
  EXPECT_EQ(d.reserve_keep_running_gpus, c.want_keep);
}

InputsBuilder ReserveBase() {
  return InputsBuilder().Price("10").Unlocked();
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyReserveUnlockedTest,
    testing::Values(
        // 150 left / (10 per GPU-hour x 1 hour) = 15 GPUs.
        ReserveCase{"Fresh", ReserveBase().Spent("50").ReserveSpent("50"), 15, std::nullopt},
        ReserveCase{"Untouched", ReserveBase(), 20, std::nullopt},
        // With 30 minutes left, the rest of the reserve may be spent over 30 minutes.
        ReserveCase{"NearPeriodEnd", ReserveBase().AtHour(99.5).Spent("50").ReserveSpent("50"), 30,
                    std::nullopt},
        // Regular work drained does not stop retraining.
        ReserveCase{"RegularDrained", ReserveBase().Spent("850").ReserveSpent("50"), 15,
                    std::nullopt},
        // 190 + 40 x 0.5 >= 200: the reserve drains; 10 left / (10 x 0.5) = 2 keep running.
        ReserveCase{
            "ReserveDrains",
            ReserveBase().Spent("190").ReserveSpent("190").ReserveRate("40").ReserveRunning(5), 0,
            2},
        ReserveCase{
            "ReserveDrainsKeepAtMostRunning",
            ReserveBase().Spent("190").ReserveSpent("190").ReserveRate("40").ReserveRunning(1), 0,
            1},
        // Retraining already stopping draws 20 x 0.5 = 10 more before it has stopped: nothing
        // else fits (it was 2 above); drawing 10 x 0.5 = 5, one GPU does.
        ReserveCase{"ReserveDrainsBesideRetrainingStopping",
                    ReserveBase()
                        .Spent("190")
                        .ReserveSpent("190")
                        .ReserveRate("40")
                        .ReserveRunning(5)
                        .ReserveStopping("20", 2),
                    0, 0},
        ReserveCase{"ReserveDrainsBesideLessRetrainingStopping",
                    ReserveBase()
                        .Spent("190")
                        .ReserveSpent("190")
                        .ReserveRate("40")
                        .ReserveRunning(5)
                        .ReserveStopping("10", 1),
                    0, 1},
        ReserveCase{"ReserveSpent",
                    ReserveBase().Spent("200").ReserveSpent("200").ReserveRunning(3), 0, 0}),
    [](const testing::TestParamInfo<ReserveCase>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// Quotas per rung.

struct ThrottleCase {
  std::string name;
  InputsBuilder in;
  int64_t want_quota;
};

void PrintTo(const ThrottleCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyThrottleTest : public testing::TestWithParam<ThrottleCase> {};

// quota = floor((Le - spent) / (price x hours left)).
TEST_P(BudgetPolicyThrottleTest, Quota) {
  const ThrottleCase& c = GetParam();
  BudgetDecision d = Decide(BudgetSpecBuilder(), c.in);
  ASSERT_EQ(d.rung, LadderAction::kThrottle) << d.reason;
  ASSERT_TRUE(d.quota_gpus.has_value());
  EXPECT_EQ(*d.quota_gpus, c.want_quota);
  EXPECT_EQ(d.allowed_gpus, c.want_quota);
  EXPECT_FALSE(d.hold_new_work);
  EXPECT_FALSE(d.keep_running_gpus.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyThrottleTest,
    testing::Values(
        ThrottleCase{"Exact", InputsBuilder().Spent("800").Price("1.25"), 4},    // 200 / 50
        ThrottleCase{"FloorsDown", InputsBuilder().Spent("800").Price("2"), 2},  // 200 / 80
        ThrottleCase{"CheaperGpus", InputsBuilder().Spent("800").Price("1"), 5},
        ThrottleCase{"LessTimeLeft", InputsBuilder().Spent("800").Price("1").AtHour(90), 20},
        ThrottleCase{"MoreSpent", InputsBuilder().Spent("880").Price("1"), 3},  // 120 / 40
        ThrottleCase{"NotEvenOne", InputsBuilder().Spent("900").Price("10"), 0},
        ThrottleCase{"RunningGpusDoNotMatter", InputsBuilder().Spent("800").Price("1").Running(9),
                     5}),
    [](const testing::TestParamInfo<ThrottleCase>& p) { return p.param.name; });

TEST(BudgetPolicyQuotaTest, AllowedGpusComputedBelowThrottle) {
  // 900 left / (1 x 40 h) = 22.
  BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("100").Price("1"));
  EXPECT_EQ(d.rung, LadderAction::kNone);
  EXPECT_FALSE(d.quota_gpus.has_value());
  EXPECT_EQ(d.allowed_gpus, 22);
  BudgetDecision notify = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("600").Price("1"));
  EXPECT_EQ(notify.rung, LadderAction::kNotify);
  EXPECT_FALSE(notify.quota_gpus.has_value());
  EXPECT_EQ(notify.allowed_gpus, 10);
}

TEST(BudgetPolicyQuotaTest, ThrottleQuotaUsesLimitMinusReserveAndTimeLeft) {
  // Even, 64 h period at 15.5 h, ceiling 350; spend 300 = 85.7% (Throttle).
  // Le = 1000; left 48.5 h; price 1 -> floor(700 / 48.5) = 14.
  BudgetDecision d = Decide(BudgetSpecBuilder().Even(10), Quarter().Spent("300").Price("1"));
  ASSERT_EQ(d.rung, LadderAction::kThrottle) << d.reason;
  ASSERT_TRUE(d.quota_gpus.has_value());
  EXPECT_EQ(*d.quota_gpus, 14);
  // With a 20% reserve (pacing None), Le = 800: 650 / 800 = 81.25% and floor(150 / 40) = 3.
  BudgetDecision r =
      Decide(BudgetSpecBuilder().ReservePercent(20), InputsBuilder().Spent("650").Price("1"));
  ASSERT_EQ(r.rung, LadderAction::kThrottle) << r.reason;
  ASSERT_TRUE(r.quota_gpus.has_value());
  EXPECT_EQ(*r.quota_gpus, 3);
}

// Even pacing paces from the start: the forecast-lands-on-limit quota applies below Throttle
// too. Pacing None leaves the quota unset until Throttle.
TEST(BudgetPolicyQuotaTest, EvenPacingQuotaBelowThrottle) {
  // 64 h period at 15.5 h: 48.5 h left; price 4: floor((1000 - spent) / 194).
  BudgetDecision none = Decide(BudgetSpecBuilder().Even(10), Quarter().Spent("100"));
  EXPECT_EQ(none.rung, LadderAction::kNone) << none.reason;
  ASSERT_TRUE(none.quota_gpus.has_value());
  EXPECT_EQ(*none.quota_gpus, 4);
  EXPECT_EQ(none.allowed_gpus, 4);
  EXPECT_FALSE(none.hold_new_work);
  EXPECT_EQ(none.phase, BudgetPhase::kWithinBudget);

  BudgetDecision notify = Decide(BudgetSpecBuilder().Even(10), Quarter().Spent("200").Price("1"));
  EXPECT_EQ(notify.rung, LadderAction::kNotify) << notify.reason;
  ASSERT_TRUE(notify.quota_gpus.has_value());
  EXPECT_EQ(*notify.quota_gpus, 16);  // 800 / 48.5

  BudgetDecision unpaced = Decide(BudgetSpecBuilder(), Quarter().Spent("200").Price("1"));
  EXPECT_EQ(unpaced.rung, LadderAction::kNone) << unpaced.reason;
  EXPECT_FALSE(unpaced.quota_gpus.has_value());
  EXPECT_EQ(unpaced.allowed_gpus, 16);

  // Hold still pins to what runs, above the paced quota.
  BudgetDecision hold =
      Decide(BudgetSpecBuilder().Even(10), Quarter().Spent("340").Price("1").Running(30));
  EXPECT_EQ(hold.rung, LadderAction::kHold) << hold.reason;
  ASSERT_TRUE(hold.quota_gpus.has_value());
  EXPECT_EQ(*hold.quota_gpus, 30);
}

TEST(BudgetPolicyQuotaTest, HoldPinsQuotaToRunningGpus) {
  for (int64_t running : {0, 1, 7, 100}) {
    BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("960").Running(running));
    ASSERT_EQ(d.rung, LadderAction::kHold) << d.reason;
    EXPECT_EQ(d.phase, BudgetPhase::kHeld);
    EXPECT_TRUE(d.hold_new_work);
    ASSERT_TRUE(d.quota_gpus.has_value());
    EXPECT_EQ(*d.quota_gpus, running);
    EXPECT_FALSE(d.keep_running_gpus.has_value());
  }
}

struct DrainCase {
  std::string name;
  BudgetSpecBuilder spec;
  InputsBuilder in;
  int64_t want_keep;
  BudgetPhase want_phase;
};

void PrintTo(const DrainCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyDrainTest : public testing::TestWithParam<DrainCase> {};

// keep = floor((ceiling - spent) / (price x lookahead)), clamped to [0, running].
TEST_P(BudgetPolicyDrainTest, KeepRunning) {
  const DrainCase& c = GetParam();
  BudgetDecision d = Decide(c.spec, c.in);
  ASSERT_EQ(d.rung, LadderAction::kDrain) << d.reason;
  EXPECT_TRUE(d.hold_new_work);
  ASSERT_TRUE(d.keep_running_gpus.has_value());
  EXPECT_EQ(*d.keep_running_gpus, c.want_keep);
  ASSERT_TRUE(d.quota_gpus.has_value());
  EXPECT_EQ(*d.quota_gpus, c.want_keep);
  EXPECT_EQ(d.phase, c.want_phase) << api::Name(d.phase);
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyDrainTest,
    testing::Values(
        // 990 + 40 x 0.5 = 1010 -> Drain; 10 left / (4 x 0.5) = 5.
        DrainCase{"KeepsWhatFits", BudgetSpecBuilder(),
                  InputsBuilder().Spent("990").Rate("40").Running(8), 5, BudgetPhase::kHeld},
        // Suspended work runs on for its 6-minute grace: 8 GPUs at 4 an hour, 990 + 32 x 0.5
        // -> Drain; 10 left. Keeping 4 costs 4 x 4 x 0.5 = 8, the 4 suspended 4 x 4 x 0.1 = 1.6:
        // 9.6. Keeping 5 (what fits if suspended work stopped at once) would cost 11.2.
        DrainCase{"SuspendedWorkCostsUntilItStops", BudgetSpecBuilder(),
                  InputsBuilder().Spent("990").Rate("32").Running(8).StopLag(absl::Minutes(6)), 4,
                  BudgetPhase::kHeld},
        DrainCase{"SuspendedWorkStoppingAtOnce", BudgetSpecBuilder(),
                  InputsBuilder().Spent("990").Rate("32").Running(8), 5, BudgetPhase::kHeld},
        DrainCase{"KeepAtMostRunning", BudgetSpecBuilder(),
                  InputsBuilder().Spent("990").Rate("40").Running(3), 3, BudgetPhase::kHeld},
        DrainCase{"NothingLeft", BudgetSpecBuilder(), InputsBuilder().Spent("1000").Running(8), 0,
                  BudgetPhase::kExhausted},
        DrainCase{"Overspent", BudgetSpecBuilder(), InputsBuilder().Spent("1200").Running(8), 0,
                  BudgetPhase::kExhausted},
        // Even pacing: ceiling 350; 340 + 20 -> Drain; keep 10 / 2 = 5; the limit is far.
        DrainCase{"EvenKeepsWhatFitsUnderCeiling", BudgetSpecBuilder().Even(10),
                  Quarter().Spent("340").Rate("40").Running(8), 5, BudgetPhase::kHeld},
        DrainCase{"EvenAboveCeiling", BudgetSpecBuilder().Even(10),
                  Quarter().Spent("360").Running(8), 0, BudgetPhase::kHeld}),
    [](const testing::TestParamInfo<DrainCase>& p) { return p.param.name; });

// Idle capacity the budget pays for cannot be stopped by suspending Jobs, so Drain keeps fewer
// running GPUs: keep = floor((ceiling - spent - idleRate x lookahead) / (price x lookahead)).
TEST(BudgetPolicyDrainIdleTest, IdleBurnLeavesLessForRunningWork) {
  // 990 + 40 x 0.5 = 1010 -> Drain; (10 - 8 x 0.5) / 2 = 3, not 5.
  BudgetDecision d =
      Decide(BudgetSpecBuilder(), InputsBuilder().Spent("990").Rate("40").Idle("8", 2).Running(8));
  ASSERT_EQ(d.rung, LadderAction::kDrain) << d.reason;
  ASSERT_TRUE(d.keep_running_gpus.has_value());
  EXPECT_EQ(*d.keep_running_gpus, 3);
  EXPECT_EQ(*d.quota_gpus, 3);
  // Idle burn beyond what is left: nothing keeps running.
  BudgetDecision none =
      Decide(BudgetSpecBuilder(), InputsBuilder().Spent("990").Rate("40").Idle("30", 8).Running(8));
  ASSERT_TRUE(none.keep_running_gpus.has_value());
  EXPECT_EQ(*none.keep_running_gpus, 0);
}

// A node wholly idle goes at once when the budget holds or drains (the same pass sizes its
// pools): it costs a tick, not the lookahead, so it does not take running work down with it. The
// 2 idle GPUs above as a whole node, with a 15-minute tick: (10 - 8 x 0.25) / 2 = 4 keep running.
// (A Job started just before a Drain grows a node for itself; counting that node for the whole
// lookahead drained the work that was running, each time: stress-cpu-mixed with a 10-minute
// grace finished no Job in a week.)
TEST(BudgetPolicyDrainIdleTest, AWhollyIdleNodeCostsATickNotTheLookahead) {
  const InputsBuilder in = InputsBuilder().Spent("990").Rate("40").Idle("8", 2).Running(8);
  BudgetDecision partial = Decide(BudgetSpecBuilder(), in);
  ASSERT_EQ(partial.rung, LadderAction::kDrain) << partial.reason;
  EXPECT_EQ(partial.keep_running_gpus, 3);
  BudgetDecision whole =
      Decide(BudgetSpecBuilder(), InputsBuilder(in).IdleNodes("8", 2, absl::Minutes(15)));
  ASSERT_EQ(whole.rung, LadderAction::kDrain) << whole.reason;
  EXPECT_EQ(whole.keep_running_gpus, 4);
  EXPECT_EQ(whole.keep_running_rate, M("16"));
  // The GPU-hours dimension counts them the same way.
  const BudgetSpecBuilder hours = BudgetSpecBuilder().NoAmount().GpuHours("100");
  BudgetDecision gpu_hours =
      Decide(hours, InputsBuilder().GpuHoursUsed(98).Running(4).Idle("0", 2).IdleNodes(
                        "0", 2, absl::Minutes(15)));
  ASSERT_EQ(gpu_hours.rung, LadderAction::kDrain) << gpu_hours.reason;
  EXPECT_EQ(gpu_hours.keep_running_gpus, 3);  // (2 - 2 x 0.25) / 0.5; 2 when the idle stays
}

TEST(BudgetPolicyDrainIdleTest, IdleGpusBurnGpuHours) {
  const BudgetSpecBuilder spec = BudgetSpecBuilder().NoAmount().GpuHours("100");
  // 90 used, 2 running + 2 idle: (90 + 4 x 0.5) / 100 = 92% (Throttle), not 91% with running
  // alone... and the status burn counts them too.
  BudgetDecision d = Decide(spec, InputsBuilder().GpuHoursUsed(90).Running(2).Idle("0", 2));
  EXPECT_NEAR(d.usage_percent, 92, 1e-9) << d.reason;
  EXPECT_EQ(d.burn_rate.micros(), Micros("4"));
  // 98 used, 4 running + 2 idle -> Drain; keep floor((2 - 2 x 0.5) / 0.5) = 2 of 4.
  BudgetDecision drain = Decide(spec, InputsBuilder().GpuHoursUsed(98).Running(4).Idle("0", 2));
  ASSERT_EQ(drain.rung, LadderAction::kDrain) << drain.reason;
  ASSERT_TRUE(drain.keep_running_gpus.has_value());
  EXPECT_EQ(*drain.keep_running_gpus, 2);
}

// ---------------------------------------------------------------------------------------------
// Phase.

TEST(BudgetPolicyPhaseTest, ExhaustedVersusHeld) {
  // Hold at 99.9%: 1 left < one GPU (4) for the lookahead (0.5 h) = 2 -> Exhausted.
  BudgetDecision exhausted = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("999"));
  EXPECT_EQ(exhausted.rung, LadderAction::kHold);
  EXPECT_EQ(exhausted.phase, BudgetPhase::kExhausted);
  // 3 left >= 2 -> merely Held.
  BudgetDecision held = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("997"));
  EXPECT_EQ(held.rung, LadderAction::kHold);
  EXPECT_EQ(held.phase, BudgetPhase::kHeld);
  // Exactly one GPU for one lookahead left: not exhausted.
  BudgetDecision edge = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("998"));
  EXPECT_EQ(edge.phase, BudgetPhase::kHeld);
}

TEST(BudgetPolicyPhaseTest, AtRiskWhenForecastExceedsLimit) {
  // 12% used, but 100 + 40 x 40 h = 1700 > 1000.
  BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("100").Rate("40"));
  EXPECT_EQ(d.rung, LadderAction::kNone);
  EXPECT_TRUE(d.forecast_over_limit);
  EXPECT_EQ(d.phase, BudgetPhase::kAtRisk);
  EXPECT_FALSE(d.quota_gpus.has_value());
  // 100 + 20 x 40 = 900: on track.
  BudgetDecision ok = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("100").Rate("20"));
  EXPECT_FALSE(ok.forecast_over_limit);
  EXPECT_EQ(ok.phase, BudgetPhase::kWithinBudget);
  // Exactly on the limit is not over it: 100 + 22.5 x 40 = 1000.
  BudgetDecision edge = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("100").Rate("22.5"));
  EXPECT_FALSE(edge.forecast_over_limit);
  EXPECT_EQ(edge.phase, BudgetPhase::kWithinBudget);
}

TEST(BudgetPolicyPhaseTest, NotifyOnlyLadderNeverHolds) {
  const BudgetSpecBuilder spec = BudgetSpecBuilder().Thresholds({{50, LadderAction::kNotify}});
  for (const char* spent : {"500", "950", "1000", "5000"}) {
    BudgetDecision d = Decide(spec, InputsBuilder().Spent(spent).Rate("100").Running(8));
    EXPECT_EQ(d.rung, LadderAction::kNotify) << spent;
    EXPECT_EQ(d.phase, BudgetPhase::kAtRisk) << spent;
    EXPECT_FALSE(d.hold_new_work) << spent;
    EXPECT_FALSE(d.quota_gpus.has_value()) << spent;
    EXPECT_FALSE(d.keep_running_gpus.has_value()) << spent;
  }
}

TEST(BudgetPolicyPhaseTest, EmptyLadderNeverActs) {
  BudgetDecision d =
      Decide(BudgetSpecBuilder().Thresholds({}), InputsBuilder().Spent("5000").Running(8));
  EXPECT_EQ(d.rung, LadderAction::kNone);
  EXPECT_FALSE(d.hold_new_work);
  EXPECT_FALSE(d.quota_gpus.has_value());
  EXPECT_EQ(d.phase, BudgetPhase::kAtRisk);  // forecast is over the limit
}

TEST(BudgetPolicyPhaseTest, CustomLadderSkipsMissingRungs) {
  const BudgetSpecBuilder spec =
      BudgetSpecBuilder().Thresholds({{90, LadderAction::kDrain}, {120, LadderAction::kNotify}});
  EXPECT_EQ(Decide(spec, InputsBuilder().Spent("899.999999")).rung, LadderAction::kNone);
  EXPECT_EQ(Decide(spec, InputsBuilder().Spent("900")).rung, LadderAction::kDrain);
  // A milder action at a higher percent does not lower the rung.
  EXPECT_EQ(Decide(spec, InputsBuilder().Spent("1300")).rung, LadderAction::kDrain);
}

TEST(BudgetPolicyPhaseTest, OverrunLadderAboveHundredPercent) {
  const BudgetSpecBuilder spec =
      BudgetSpecBuilder().Thresholds({{100, LadderAction::kNotify}, {150, LadderAction::kHold}});
  BudgetDecision d = Decide(spec, InputsBuilder().Spent("1200"));
  EXPECT_EQ(d.rung, LadderAction::kNotify);
  EXPECT_EQ(d.phase, BudgetPhase::kAtRisk);
  BudgetDecision held = Decide(spec, InputsBuilder().Spent("1500"));
  EXPECT_EQ(held.rung, LadderAction::kHold);
  EXPECT_EQ(held.phase, BudgetPhase::kExhausted);
}

TEST(BudgetPolicyTest, NoLimitDecidesNothing) {
  BudgetDecision d =
      Decide(BudgetSpecBuilder().NoAmount(), InputsBuilder().Spent("5000").Rate("10"));
  EXPECT_EQ(d.rung, LadderAction::kNone);
  EXPECT_EQ(d.phase, BudgetPhase::kWithinBudget);
  EXPECT_FALSE(d.quota_gpus.has_value());
  EXPECT_EQ(d.burn_rate.micros(), Micros("10"));
  EXPECT_EQ(d.reason, "no limit set");
}

// ---------------------------------------------------------------------------------------------
// Status arithmetic: forecast = spent + burn x time left; remaining = L - spent; exhaustsAt.

struct StatusCase {
  std::string name;
  InputsBuilder in;
  std::string want_forecast;
  std::string want_remaining;
  std::string want_burn;
  std::optional<double> want_exhausts_in_hours;  // from now
  bool want_over;
};

void PrintTo(const StatusCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyStatusTest : public testing::TestWithParam<StatusCase> {};

TEST_P(BudgetPolicyStatusTest, MoneyView) {
  const StatusCase& c = GetParam();
  const BudgetInputs in = c.in.Build();
  BudgetDecision d = DecideBudget(BudgetSpecBuilder().Build(), in);
  EXPECT_EQ(d.forecast.micros(), Micros(c.want_forecast));
  EXPECT_EQ(d.remaining.micros(), Micros(c.want_remaining));
  EXPECT_EQ(d.burn_rate.micros(), Micros(c.want_burn));
  EXPECT_EQ(d.forecast_over_limit, c.want_over);
  if (c.want_exhausts_in_hours.has_value()) {
    ASSERT_TRUE(d.exhausts_at.has_value());
    EXPECT_EQ(*d.exhausts_at, in.now + absl::Hours(*c.want_exhausts_in_hours))
        << absl::FormatTime(*d.exhausts_at);
  } else {
    EXPECT_FALSE(d.exhausts_at.has_value()) << absl::FormatTime(*d.exhausts_at);
  }
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyStatusTest,
    testing::Values(
        StatusCase{"Idle", InputsBuilder().Spent("300"), "300", "700", "0", std::nullopt, false},
        StatusCase{"OnTrack", InputsBuilder().Spent("300").Rate("10").ReserveRate("5"), "900",
                   "700", "15", std::nullopt, false},
        StatusCase{"ExhaustsBeforeEnd", InputsBuilder().Spent("300").Rate("20"), "1100", "700",
                   "20", 35.0, true},
        StatusCase{"ExhaustsWithReserveBurn",
                   InputsBuilder().Spent("300").Rate("10").ReserveRate("10"), "1100", "700", "20",
                   35.0, true},
        // Reaching the limit exactly at the period's end is not "exhausts in this period".
        StatusCase{"ExhaustsAtEnd", InputsBuilder().Spent("300").Rate("17.5"), "1000", "700",
                   "17.5", std::nullopt, false},
        StatusCase{"AtLimit", InputsBuilder().Spent("1000").Rate("5"), "1200", "0", "5", 0.0, true},
        StatusCase{"Overspent", InputsBuilder().Spent("1200"), "1200", "-200", "0", 0.0, true},
        StatusCase{"LastHour", InputsBuilder().AtHour(99).Spent("990").Rate("20"), "1010", "10",
                   "20", 0.5, true}),
    [](const testing::TestParamInfo<StatusCase>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// GPU-hour limits.

TEST(BudgetPolicyGpuHoursTest, GpuHoursOnlyBudget) {
  const BudgetSpecBuilder spec = BudgetSpecBuilder().NoAmount().GpuHours("100");
  // 79 GPU-h used, 2 GPUs running: (79 + 2 x 0.5) / 100 = 80% -> Throttle.
  // 5 h left: floor(21 / 5) = 4 GPUs.
  BudgetDecision d =
      Decide(spec, InputsBuilder().AtHour(95).GpuHoursUsed(79).Running(2).Price("0"));
  EXPECT_EQ(d.rung, LadderAction::kThrottle) << d.reason;
  EXPECT_EQ(d.phase, BudgetPhase::kThrottled);
  EXPECT_NEAR(d.usage_percent, 80, 1e-9);
  ASSERT_TRUE(d.quota_gpus.has_value());
  EXPECT_EQ(*d.quota_gpus, 4);
  // Status is in micro GPU-hours: forecast 79 + 2 x 5 = 89, remaining 21.
  EXPECT_EQ(d.forecast.micros(), Micros("89"));
  EXPECT_EQ(d.remaining.micros(), Micros("21"));
  EXPECT_FALSE(d.exhausts_at.has_value());       // 21 / 2 = 10.5 h > 5 h left
  EXPECT_EQ(d.burn_rate.micros(), Micros("2"));  // GPU-hours per hour
  EXPECT_NE(d.reason.find("gpuHours"), std::string::npos) << d.reason;

  BudgetDecision just_below =
      Decide(spec, InputsBuilder().AtHour(95).GpuHoursUsed(78.5).Running(2));
  EXPECT_EQ(just_below.rung, LadderAction::kNotify);
}

// Without an amount, the whole status view is in GPU-hours: forecast, remaining, burn rate and
// exhaustsAt agree with each other (exhaustsAt = now + remaining / burn).
TEST(BudgetPolicyGpuHoursTest, GpuHoursViewIsConsistent) {
  BudgetDecision d =
      Decide(BudgetSpecBuilder().NoAmount().GpuHours("100").ReservePercent(10),
             InputsBuilder().GpuHoursUsed(80, 5).Running(2).ReserveRunning(2).Rate("7"));
  EXPECT_EQ(d.burn_rate.micros(), Micros("4"));
  EXPECT_EQ(d.remaining.micros(), Micros("20"));
  EXPECT_EQ(d.forecast.micros(), Micros("240"));  // 80 + 4 x 40
  EXPECT_TRUE(d.forecast_over_limit);
  ASSERT_TRUE(d.exhausts_at.has_value());
  EXPECT_EQ(*d.exhausts_at, InputsBuilder().Build().now + absl::Hours(5));
}

TEST(BudgetPolicyGpuHoursTest, GpuHoursRungs) {
  const BudgetSpecBuilder spec = BudgetSpecBuilder().NoAmount().GpuHours("100");
  struct Row {
    double used;
    int64_t running;
    LadderAction want;
  };
  for (const Row& row : std::vector<Row>{{10, 0, LadderAction::kNone},
                                         {50, 0, LadderAction::kNotify},
                                         {94, 2, LadderAction::kHold},
                                         {96, 0, LadderAction::kHold},
                                         {99, 2, LadderAction::kDrain},
                                         {100, 0, LadderAction::kDrain}}) {
    BudgetDecision d = Decide(spec, InputsBuilder().GpuHoursUsed(row.used).Running(row.running));
    EXPECT_EQ(d.rung, row.want) << row.used << " GPU-h, " << row.running << " running";
  }
  // Drain keeps what fits over the lookahead: (100 - 99) / 0.5 = 2 of 8.
  BudgetDecision drain = Decide(spec, InputsBuilder().GpuHoursUsed(99).Running(8));
  ASSERT_TRUE(drain.keep_running_gpus.has_value());
  EXPECT_EQ(*drain.keep_running_gpus, 2);
  EXPECT_EQ(drain.phase, BudgetPhase::kHeld);
  BudgetDecision exhausted = Decide(spec, InputsBuilder().GpuHoursUsed(100).Running(8));
  EXPECT_EQ(exhausted.phase, BudgetPhase::kExhausted);
  EXPECT_EQ(*exhausted.keep_running_gpus, 0);
}

TEST(BudgetPolicyGpuHoursTest, ReserveGpuHoursExcluded) {
  // 20% of 100 GPU-h reserved: Le = 80. 50 used, 10 of them retraining -> 40 / 80 = 50%.
  BudgetDecision d = Decide(BudgetSpecBuilder().NoAmount().GpuHours("100").ReservePercent(20),
                            InputsBuilder().GpuHoursUsed(50, 10));
  EXPECT_EQ(d.rung, LadderAction::kNotify);
  EXPECT_NEAR(d.usage_percent, 50, 1e-9);
}

struct TwoDimCase {
  std::string name;
  InputsBuilder in;
  LadderAction want_rung;
  std::string want_binding;  // prefix of the reason
  int64_t want_allowed;
  std::optional<int64_t> want_keep;
};

void PrintTo(const TwoDimCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyTwoDimensionTest : public testing::TestWithParam<TwoDimCase> {};

// Limit 1000 and 100 GPU-hours; price 1 per GPU-hour unless stated.
TEST_P(BudgetPolicyTwoDimensionTest, StricterWins) {
  const TwoDimCase& c = GetParam();
  BudgetDecision d = Decide(BudgetSpecBuilder().GpuHours("100"), c.in);
  EXPECT_EQ(d.rung, c.want_rung) << d.reason;
  EXPECT_EQ(d.reason.rfind(c.want_binding, 0), 0u) << d.reason;
  EXPECT_EQ(d.allowed_gpus, c.want_allowed);
  EXPECT_EQ(d.keep_running_gpus, c.want_keep);
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyTwoDimensionTest,
    testing::Values(
        // Money 10%, GPU-hours 96%: Hold, bound by GPU-hours. Allowed: min(900/40, 4/40) = 0.
        TwoDimCase{"GpuHoursStricter", InputsBuilder().Spent("100").GpuHoursUsed(96).Price("1"),
                   LadderAction::kHold, "gpuHours", 0, std::nullopt},
        TwoDimCase{"MoneyStricter", InputsBuilder().Spent("960").GpuHoursUsed(10).Price("1"),
                   LadderAction::kHold, "amount", 1, std::nullopt},
        // Same rung: the higher usage binds; allowances take the minimum.
        // At 90 h (10 h left): money floor(200 / 10) = 20, GPU-hours floor(18 / 10) = 1.
        TwoDimCase{"BothThrottleMinAllowance",
                   InputsBuilder().AtHour(90).Spent("800").GpuHoursUsed(82).Price("1"),
                   LadderAction::kThrottle, "gpuHours", 1, std::nullopt},
        TwoDimCase{"BothThrottleMoneyHigher",
                   InputsBuilder().AtHour(90).Spent("900").GpuHoursUsed(81).Price("10"),
                   LadderAction::kThrottle, "amount", 1, std::nullopt},
        // Both drain: keep the smaller of money (10 / (4 x 0.5) = 5) and GPU-hours
        // ((100 - 99) / 0.5 = 2).
        TwoDimCase{"BothDrainMinKeep",
                   InputsBuilder().Spent("990").Rate("40").GpuHoursUsed(99).Running(8),
                   LadderAction::kDrain, "gpuHours", 0, 2},
        // Only money drains: its keep applies.
        TwoDimCase{"MoneyDrainsOnly",
                   InputsBuilder().Spent("990").Rate("40").GpuHoursUsed(10).Running(8),
                   LadderAction::kDrain, "amount", 0, 5}),
    [](const testing::TestParamInfo<TwoDimCase>& p) { return p.param.name; });

TEST(BudgetPolicyGpuHoursTest, TwoDimensionsStatusUsesMoney) {
  BudgetDecision d = Decide(BudgetSpecBuilder().GpuHours("100"),
                            InputsBuilder().Spent("300").Rate("10").GpuHoursUsed(96));
  EXPECT_EQ(d.rung, LadderAction::kHold);
  EXPECT_EQ(d.forecast.micros(), Micros("700"));  // 300 + 10 x 40
  EXPECT_EQ(d.remaining.micros(), Micros("700"));
}

// Two dimensions, the stricter wins for the phase too: money is on track (100 + 10 x 40 = 500)
// but GPU-hours are forecast over their limit (20 + 3 x 40 = 140 > 100).
TEST(BudgetPolicyGpuHoursTest, AtRiskWhenEitherForecastExceedsItsLimit) {
  BudgetDecision d = Decide(BudgetSpecBuilder().GpuHours("100"),
                            InputsBuilder().Spent("100").Rate("10").GpuHoursUsed(20).Running(3));
  EXPECT_EQ(d.rung, LadderAction::kNone) << d.reason;
  EXPECT_EQ(d.forecast.micros(), Micros("500"));  // the money view
  EXPECT_FALSE(d.forecast_over_limit);            // of the money view
  EXPECT_EQ(d.phase, BudgetPhase::kAtRisk);
  // And the other way round.
  BudgetDecision money = Decide(BudgetSpecBuilder().GpuHours("100"),
                                InputsBuilder().Spent("100").Rate("40").GpuHoursUsed(20));
  EXPECT_TRUE(money.forecast_over_limit);
  EXPECT_EQ(money.phase, BudgetPhase::kAtRisk);
  // Neither over: on track.
  BudgetDecision ok = Decide(BudgetSpecBuilder().GpuHours("100"),
                             InputsBuilder().Spent("100").Rate("10").GpuHoursUsed(20).Running(1));
  EXPECT_EQ(ok.phase, BudgetPhase::kWithinBudget);
}

TEST(BudgetPolicyGpuHoursTest, ExhaustedGpuHoursWhileMoneyIsFine) {
  // GPU-hours exhausted (0.1 left < 0.5 for one GPU over the lookahead) and at 99.9% -> Hold;
  // money is at 10% and binds nothing.
  BudgetDecision d =
      Decide(BudgetSpecBuilder().GpuHours("100"), InputsBuilder().Spent("100").GpuHoursUsed(99.9));
  EXPECT_EQ(d.rung, LadderAction::kHold);
  EXPECT_EQ(d.phase, BudgetPhase::kExhausted);
}

// ---------------------------------------------------------------------------------------------
// Property: over a sweep of spent, the rung and the phase never go down as spent goes up.

struct SweepCase {
  std::string name;
  BudgetSpecBuilder spec;
  InputsBuilder in;
};

void PrintTo(const SweepCase& c, std::ostream* os) {
  *os << c.name;
}

class BudgetPolicyMonotonicTest : public testing::TestWithParam<SweepCase> {};

TEST_P(BudgetPolicyMonotonicTest, RungNeverDecreasesAsSpentIncreases) {
  const SweepCase& c = GetParam();
  const api::ComputeBudgetSpec spec = c.spec.Build();
  BudgetInputs in = c.in.Build();
  LadderAction prev_rung = LadderAction::kNone;
  BudgetPhase prev_phase = BudgetPhase::kWithinBudget;
  double prev_usage = -1;
  bool saw_drain = false;
  // 0 to 1500 in steps of 0.37 (an awkward step so values land between round numbers).
  for (int64_t micros = 0; micros <= 1'500'000'000; micros += 370'000) {
    in.spent = values::Money::FromMicros(micros) + in.reserve_spent;
    BudgetDecision d = DecideBudget(spec, in);
    ASSERT_GE(d.rung, prev_rung) << "spent " << in.spent.ToDouble() << ": " << api::Name(prev_rung)
                                 << " -> " << api::Name(d.rung);
    ASSERT_GE(d.phase, prev_phase) << "spent " << in.spent.ToDouble() << ": "
                                   << api::Name(prev_phase) << " -> " << api::Name(d.phase);
    ASSERT_GE(d.usage_percent, prev_usage) << "spent " << in.spent.ToDouble();
    prev_rung = d.rung;
    prev_phase = d.phase;
    prev_usage = d.usage_percent;
    saw_drain = saw_drain || d.rung == LadderAction::kDrain;
  }
  EXPECT_TRUE(saw_drain);  // the sweep reaches the top of the ladder
}

INSTANTIATE_TEST_SUITE_P(
    BudgetPolicy, BudgetPolicyMonotonicTest,
    testing::Values(SweepCase{"NoPacing", BudgetSpecBuilder(), InputsBuilder()},
                    SweepCase{"NoPacingWithBurn", BudgetSpecBuilder(),
                              InputsBuilder().Rate("37").Running(9)},
                    SweepCase{"EvenPacing", BudgetSpecBuilder().Even(10), Quarter().Rate("12.5")},
                    SweepCase{"EvenPacingNoBurst", BudgetSpecBuilder().Even(0),
                              InputsBuilder().AtHour(3).Rate("3")},
                    SweepCase{"WithReserve", BudgetSpecBuilder().ReservePercent(30),
                              InputsBuilder().ReserveSpent("40").Unlocked().Rate("5")},
                    SweepCase{"TwoDimensions", BudgetSpecBuilder().GpuHours("500"),
                              InputsBuilder().GpuHoursUsed(120).Running(4).Rate("20")},
                    SweepCase{"AtPeriodStart", BudgetSpecBuilder().Even(10),
                              InputsBuilder().AtHour(0).Lookahead(absl::Minutes(2))}),
    [](const testing::TestParamInfo<SweepCase>& p) { return p.param.name; });

// The same inputs always give the same decision.
TEST(BudgetPolicyTest, Deterministic) {
  const api::ComputeBudgetSpec spec = BudgetSpecBuilder().Even(10).GpuHours("300").Build();
  const BudgetInputs in = Quarter().Spent("280").Rate("13").GpuHoursUsed(40).Running(3).Build();
  BudgetDecision a = DecideBudget(spec, in);
  BudgetDecision b = DecideBudget(spec, in);
  EXPECT_EQ(a.rung, b.rung);
  EXPECT_EQ(a.usage_percent, b.usage_percent);
  EXPECT_EQ(a.quota_gpus, b.quota_gpus);
  EXPECT_EQ(a.forecast, b.forecast);
  EXPECT_EQ(a.reason, b.reason);
}

// ---------------------------------------------------------------------------------------------
// Commitments across the boundary, the reserve released late, and Drain in money.

// L = 1000 over 100 h, Even with a 10% burst, $4 per GPU-hour: at hour 95 with $500 left the
// allowance is 500 / (4 x 5) = 25 GPUs, but the next period carries only 1000 / 100 x 1.1 = $11
// an hour, 2 GPUs. When all the budget's work outlives 5 hours, the quota is those 2 GPUs; when
// a tenth of it does, the next period carries ten times as much and the whole allowance fits.
TEST(BudgetPolicyCommitments, LateInAPeriodTheQuotaIsWhatTheNextPeriodCarries) {
  BudgetDecision all_long =
      Decide(BudgetSpecBuilder().Even(10), InputsBuilder().AtHour(95).Spent("500"));
  EXPECT_EQ(all_long.allowed_gpus, 25);
  EXPECT_EQ(all_long.carry_gpus, 2);
  EXPECT_EQ(all_long.quota_gpus, 2);
  EXPECT_EQ(all_long.allowed_rate, M("100"));
  EXPECT_EQ(all_long.carry_rate, M("11"));

  BudgetDecision few_long = Decide(BudgetSpecBuilder().Even(10),
                                   InputsBuilder().AtHour(95).Spent("500").CarryFraction(0.1));
  EXPECT_EQ(few_long.carry_rate, M("100"));  // 110 an hour, but never more than the allowance
  EXPECT_EQ(few_long.quota_gpus, 25);
}

TEST(BudgetPolicyCommitments, PacingNoneHasNoCarryCap) {
  BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().AtHour(95).Spent("500"));
  EXPECT_FALSE(d.carry_gpus.has_value());
  EXPECT_EQ(d.carry_rate, d.allowed_rate);
}

// R = 200 of L = 1000, released from 75% of the 100 h period: at hour 87.5 half of it (100) has
// gone to regular work, so with 700 spent regular work has 900 - 700 = 200 left for 12.5 h at $4:
// 4 GPUs, where a reserve kept to the end leaves it 100: 2 GPUs.
TEST(BudgetPolicyReserveRelease, AnUnusedReserveGoesToRegularWorkLateInThePeriod) {
  InputsBuilder in = InputsBuilder().AtHour(87.5).Spent("700");
  EXPECT_EQ(Decide(BudgetSpecBuilder().ReservePercent(20), in).allowed_gpus, 4);
  EXPECT_EQ(Decide(BudgetSpecBuilder().ReservePercent(20).ReleaseUnusedFrom(100), in).allowed_gpus,
            2);
  // Before 75% nothing is released.
  EXPECT_EQ(Decide(BudgetSpecBuilder().ReservePercent(20), InputsBuilder().AtHour(70).Spent("700"))
                .allowed_gpus,
            Decide(BudgetSpecBuilder().ReservePercent(20).ReleaseUnusedFrom(100),
                   InputsBuilder().AtHour(70).Spent("700"))
                .allowed_gpus);
}

// Spent 990 of 1000 burning $40 an hour: 990 + 40 x 0.5 = 1010 over the 30-minute lookahead,
// Drain. What may keep running is (1000 - 990) / 0.5 = $20 an hour, and 10 / (4 x 0.5) = 5 GPUs:
// CPU-only work, which costs money but no GPUs, is drained by the first.
TEST(BudgetPolicyDrain, DrainSaysWhatMayKeepRunningInMoneyAndInGpus) {
  BudgetDecision d =
      Decide(BudgetSpecBuilder(), InputsBuilder().Spent("990").Rate("40").Running(10));
  EXPECT_EQ(d.rung, LadderAction::kDrain);
  EXPECT_EQ(d.keep_running_rate, M("20"));
  EXPECT_EQ(d.keep_running_gpus, 5);
}

// ---------------------------------------------------------------------------------------------
// The start room: what work Bursar holds may add when resumed.

// Spent 900 of 1000 burning $40 an hour, 30-minute lookahead. Resumed work must be able to run a
// whole lookahead before its own projection reaches the default Drain line (100 %): spend by
// then plus one more lookahead of burn, 900 + 40 x 1 h, leaves 60 under the line, so it may add
// less than $60 an hour: 14 GPUs at $4 (15 would reach it).
TEST(BudgetPolicyStartRoom, ResumedWorkRunsALookaheadBeforeReachingTheDrainLine) {
  BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Spent("900").Rate("40"));
  EXPECT_EQ(d.rung, LadderAction::kThrottle);
  EXPECT_EQ(d.start_rate, M("60"));
  EXPECT_EQ(d.start_gpus, 14);
}

// The start room is measured over the lookahead resumed work brings: held Jobs whose pods take
// an hour to stop (start_lookahead 1 h) must run two hours before their projection reaches the
// line: 1000 - 900 - 40 x 2 h = 20 over 2 h, $10 an hour, 2 GPUs (14 with the 30-minute one).
TEST(BudgetPolicyStartRoom, MeasuredOverTheLookaheadResumedWorkBrings) {
  BudgetDecision d = Decide(BudgetSpecBuilder(),
                            InputsBuilder().Spent("900").Rate("40").StartLookahead(absl::Hours(1)));
  EXPECT_EQ(d.start_rate, M("10"));
  EXPECT_EQ(d.start_gpus, 2);
  // Never shorter than the decision's own lookahead.
  BudgetDecision shorter =
      Decide(BudgetSpecBuilder(),
             InputsBuilder().Spent("900").Rate("40").StartLookahead(absl::Minutes(1)));
  EXPECT_EQ(shorter.start_rate, M("60"));
}

TEST(BudgetPolicyStartRoom, NoneAtOrAboveTheDrainLine) {
  for (std::string_view spent : {"980", "990", "1200"}) {
    BudgetDecision d = Decide(BudgetSpecBuilder(), InputsBuilder().Spent(spent).Rate("40"));
    EXPECT_EQ(d.rung, LadderAction::kDrain) << spent;
    EXPECT_EQ(d.start_rate, M("0")) << spent;
    EXPECT_EQ(d.start_gpus, 0) << spent;
  }
}

// The line is the lowest Drain percent; a ladder that never drains has no start room.
TEST(BudgetPolicyStartRoom, TheLineIsTheLowestDrain) {
  InputsBuilder in = InputsBuilder().Spent("900").Rate("40");
  BudgetDecision two_drains = Decide(
      BudgetSpecBuilder().Thresholds(
          {{99, LadderAction::kDrain}, {93, LadderAction::kHold}, {96, LadderAction::kDrain}}),
      in);
  EXPECT_EQ(two_drains.start_rate, M("20"));  // 960 - 900 - 40 x 1 h
  EXPECT_EQ(two_drains.start_gpus, 4);
  for (std::vector<api::Threshold> ladder :
       {std::vector<api::Threshold>{{95, LadderAction::kHold}},
        std::vector<api::Threshold>{{50, LadderAction::kNotify}, {80, LadderAction::kThrottle}}}) {
    BudgetDecision never = Decide(BudgetSpecBuilder().Thresholds(ladder), in);
    EXPECT_FALSE(never.start_rate.has_value());
    EXPECT_FALSE(never.start_gpus.has_value());
  }
}

// GPU-hours budgets have a start room in GPUs; with both limits the stricter counts.
TEST(BudgetPolicyStartRoom, GpuHoursCountInGpus) {
  // 90 of 100 GPU-hours used, 4 GPUs running: 100 - 90 - 4 x 1 h = 6, so fewer than 6 more.
  BudgetDecision gpu_hours = Decide(BudgetSpecBuilder().NoAmount().GpuHours("100"),
                                    InputsBuilder().GpuHoursUsed(90).Running(4));
  EXPECT_EQ(gpu_hours.start_gpus, 5);
  EXPECT_FALSE(gpu_hours.start_rate.has_value());
  BudgetDecision both = Decide(BudgetSpecBuilder().GpuHours("100"),
                               InputsBuilder().Spent("900").Rate("40").GpuHoursUsed(90).Running(4));
  EXPECT_EQ(both.start_gpus, 5);  // money alone would allow 14
  EXPECT_EQ(both.start_rate, M("60"));
}

// Whatever the spend, work resumed within the start room has run a whole lookahead when its
// projection could first reach the Drain line: a lookahead later (spend grown by the burn, the
// paced line moved on) the budget is still below Drain; with one GPU more it would be drained
// then. What Release resumes is not drained again at once (the finding of 6 December 2026: a
// Drain, a Release of the same Job, a Drain again, every pass), and nothing that fits is kept.
TEST(BudgetPolicyStartRoom, WorkResumedWithinItIsNotDrainedALookaheadLater) {
  for (BudgetSpecBuilder spec : {BudgetSpecBuilder(), BudgetSpecBuilder().Even(10)}) {
    for (int spent = 0; spent <= 1000; spent += 7) {
      BudgetDecision d = Decide(spec, InputsBuilder().Spent(absl::StrCat(spent)).Rate("12"));
      ASSERT_TRUE(d.start_gpus.has_value());
      if (d.rung == LadderAction::kDrain) {
        EXPECT_EQ(d.start_gpus, 0) << spent;
        continue;
      }
      // Running `more` GPUs beside the $12 an hour for the 30-minute lookahead.
      auto later = [&](int64_t more) {
        const int64_t rate = 12 + 4 * more;
        return Decide(spec, InputsBuilder()
                                .AtHour(60.5)
                                .Spent(absl::StrCat(spent + static_cast<double>(rate) / 2))
                                .Rate(absl::StrCat(rate)));
      };
      const int64_t more = *d.start_gpus;
      EXPECT_LT(later(more).rung, LadderAction::kDrain) << spent << " + " << more << " GPUs";
      EXPECT_EQ(later(more + 1).rung, LadderAction::kDrain) << spent << " + " << more + 1;
    }
  }
}

}  // namespace
}  // namespace bursar::engine
