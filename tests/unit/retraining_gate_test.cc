// Tests for engine::RetrainingGate: a modelDrift score at or above driftThreshold unlocks the
// reserve for that model until the period ends, unless the model is cooling down (across
// periods) or the budget reached maxPerPeriod unlocks; a new period clears unlocks, not
// cooldowns; a budget without a reserve reports NoReserve.

#include "controllers/engine/retraining_gate.h"

#include <algorithm>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/values/period.h"
#include "gtest/gtest.h"

namespace bursar::engine {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'700'000'000);

// Daily periods starting at kStart.
values::Period Day(int n) {
  return values::Period{kStart + absl::Hours(24 * n), kStart + absl::Hours(24 * (n + 1))};
}

absl::Time At(absl::Duration since_start) {
  return kStart + since_start;
}

// Defaults: 10% reserve, threshold 0.3, cooldown 6 h, 3 unlocks per period.
class RetrainingSpecBuilder {
 public:
  RetrainingSpecBuilder() {
    spec_.reserve_percent = 10;
    spec_.drift_threshold_micros = 300'000;
    spec_.cooldown = absl::Hours(6);
    spec_.max_per_period = 3;
  }
  RetrainingSpecBuilder& Reserve(int percent) {
    spec_.reserve_percent = percent;
    return *this;
  }
  RetrainingSpecBuilder& Threshold(int64_t micros) {
    spec_.drift_threshold_micros = micros;
    return *this;
  }
  RetrainingSpecBuilder& Cooldown(absl::Duration d) {
    spec_.cooldown = d;
    return *this;
  }
  RetrainingSpecBuilder& MaxPerPeriod(int n) {
    spec_.max_per_period = n;
    return *this;
  }
  api::RetrainingSpec Build() const { return spec_; }

 private:
  api::RetrainingSpec spec_;
};

ModelDriftSignal Signal(std::string model, int64_t score_micros, absl::Time time) {
  ModelDriftSignal s;
  s.model = std::move(model);
  s.score_micros = score_micros;
  s.metric = "psi";
  s.time = time;
  s.source = "test";
  return s;
}

// One step of a scripted run: a signal, the period it is observed in, the expected outcome.
struct Obs {
  std::string model;
  int64_t score;
  absl::Duration at;  // since kStart
  int day;
  DriftOutcome want;
};

struct GateCase {
  std::string name;
  RetrainingSpecBuilder spec;
  std::vector<Obs> script;
  // After the script: the models unlocked in the last observation's period, and how many.
  std::vector<std::string> want_unlocked;
  int want_unlocks;
};

void PrintTo(const GateCase& c, std::ostream* os) {
  *os << c.name;
}

class RetrainingGateTest : public testing::TestWithParam<GateCase> {};

TEST_P(RetrainingGateTest, Script) {
  const GateCase& c = GetParam();
  const api::RetrainingSpec spec = c.spec.Build();
  RetrainingGate gate;
  for (size_t i = 0; i < c.script.size(); ++i) {
    const Obs& o = c.script[i];
    DriftOutcome got = gate.Observe(spec, Signal(o.model, o.score, At(o.at)), Day(o.day));
    EXPECT_EQ(got, o.want) << "step " << i << " (" << o.model << " at " << o.at << "): got "
                           << DriftOutcomeName(got) << ", want " << DriftOutcomeName(o.want);
  }
  ASSERT_FALSE(c.script.empty());
  const values::Period last = Day(c.script.back().day);
  for (const char* model : {"fraud", "churn", "ranker", "vision"}) {
    const bool want =
        std::find(c.want_unlocked.begin(), c.want_unlocked.end(), model) != c.want_unlocked.end();
    EXPECT_EQ(gate.IsUnlocked(model, last), want) << model;
  }
  EXPECT_EQ(gate.AnyUnlocked(last), !c.want_unlocked.empty());
  EXPECT_EQ(gate.UnlocksIn(last), c.want_unlocks);
}

using absl::Hours;
using absl::Minutes;
using absl::Seconds;
constexpr DriftOutcome kUnlocked = DriftOutcome::kUnlocked;
constexpr DriftOutcome kBelow = DriftOutcome::kBelowThreshold;
constexpr DriftOutcome kCooling = DriftOutcome::kCoolingDown;
constexpr DriftOutcome kCap = DriftOutcome::kCapReached;
constexpr DriftOutcome kNoReserve = DriftOutcome::kNoReserve;

INSTANTIATE_TEST_SUITE_P(
    RetrainingGate, RetrainingGateTest,
    testing::Values(GateCase{"BelowThreshold",
                             RetrainingSpecBuilder(),
                             {{"fraud", 299'999, Hours(1), 0, kBelow}},
                             {},
                             0},
                    GateCase{"AtThresholdUnlocks",
                             RetrainingSpecBuilder(),
                             {{"fraud", 300'000, Hours(1), 0, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"FullScoreUnlocks",
                             RetrainingSpecBuilder(),
                             {{"fraud", 1'000'000, Hours(1), 0, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"CustomThreshold",
                             RetrainingSpecBuilder().Threshold(800'000),
                             {{"fraud", 799'999, Hours(1), 0, kBelow},
                              {"fraud", 800'000, Hours(2), 0, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"ZeroThresholdUnlocksAnySignal",
                             RetrainingSpecBuilder().Threshold(0),
                             {{"fraud", 0, Hours(1), 0, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"NoReserve",
                             RetrainingSpecBuilder().Reserve(0),
                             {{"fraud", 1'000'000, Hours(1), 0, kNoReserve}},
                             {},
                             0},
                    GateCase{"NoReserveEvenBelowThreshold",
                             RetrainingSpecBuilder().Reserve(0),
                             {{"fraud", 0, Hours(1), 0, kNoReserve}},
                             {},
                             0},
                    GateCase{"BelowThresholdStartsNoCooldown",
                             RetrainingSpecBuilder(),
                             {{"fraud", 100'000, Hours(1), 0, kBelow},
                              {"fraud", 500'000, Hours(1) + Minutes(1), 0, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"Cooldown",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"fraud", 900'000, Hours(1) + Seconds(1), 0, kCooling},
                              {"fraud", 900'000, Hours(7) - Seconds(1), 0, kCooling},
                              // Exactly one cooldown later counts again, and is a second unlock.
                              {"fraud", 900'000, Hours(7), 0, kUnlocked}},
                             {"fraud"},
                             2},
                    GateCase{"CooldownIsPerModel",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"churn", 500'000, Hours(1) + Minutes(5), 0, kUnlocked}},
                             {"fraud", "churn"},
                             2},
                    GateCase{"CooldownCrossesPeriods",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(23), 0, kUnlocked},
                              {"fraud", 500'000, Hours(25), 1, kCooling}},
                             {},
                             0},
                    GateCase{"CooldownEndsInNextPeriod",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(23), 0, kUnlocked},
                              {"fraud", 500'000, Hours(25), 1, kCooling},
                              {"fraud", 500'000, Hours(29), 1, kUnlocked}},
                             {"fraud"},
                             1},
                    GateCase{"CoolingDownDoesNotCount",
                             RetrainingSpecBuilder().MaxPerPeriod(2),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"fraud", 500'000, Hours(2), 0, kCooling},
                              {"fraud", 500'000, Hours(3), 0, kCooling},
                              {"churn", 500'000, Hours(4), 0, kUnlocked}},
                             {"fraud", "churn"},
                             2},
                    GateCase{"CapReached",
                             RetrainingSpecBuilder().MaxPerPeriod(2),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"churn", 500'000, Hours(2), 0, kUnlocked},
                              {"ranker", 500'000, Hours(3), 0, kCap}},
                             {"fraud", "churn"},
                             2},
                    GateCase{"CapZero",
                             RetrainingSpecBuilder().MaxPerPeriod(0),
                             {{"fraud", 1'000'000, Hours(1), 0, kCap}},
                             {},
                             0},
                    GateCase{"CapResetsInNewPeriod",
                             RetrainingSpecBuilder().MaxPerPeriod(2),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"churn", 500'000, Hours(2), 0, kUnlocked},
                              {"ranker", 500'000, Hours(3), 0, kCap},
                              {"ranker", 500'000, Hours(24), 1, kUnlocked}},
                             {"ranker"},
                             1},
                    GateCase{"NewPeriodClearsUnlocks",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"churn", 500'000, Hours(30), 1, kUnlocked}},
                             {"churn"},
                             1},
                    GateCase{"NewPeriodBelowThresholdStillClears",
                             RetrainingSpecBuilder(),
                             {{"fraud", 500'000, Hours(1), 0, kUnlocked},
                              {"fraud", 100'000, Hours(30), 1, kBelow}},
                             {},
                             0}),
    [](const testing::TestParamInfo<GateCase>& p) { return p.param.name; });

TEST(RetrainingGateQueryTest, FreshGateHasNothingUnlocked) {
  RetrainingGate gate;
  EXPECT_FALSE(gate.IsUnlocked("fraud", Day(0)));
  EXPECT_FALSE(gate.AnyUnlocked(Day(0)));
  EXPECT_EQ(gate.UnlocksIn(Day(0)), 0);
}

TEST(RetrainingGateQueryTest, UnlockHoldsOnlyForItsPeriod) {
  RetrainingGate gate;
  const api::RetrainingSpec spec = RetrainingSpecBuilder().Build();
  ASSERT_EQ(gate.Observe(spec, Signal("fraud", 500'000, At(Hours(1))), Day(0)),
            DriftOutcome::kUnlocked);
  EXPECT_TRUE(gate.IsUnlocked("fraud", Day(0)));
  EXPECT_FALSE(gate.IsUnlocked("churn", Day(0)));
  EXPECT_TRUE(gate.AnyUnlocked(Day(0)));
  EXPECT_EQ(gate.UnlocksIn(Day(0)), 1);
  // Asked about the next period before any signal arrives in it: nothing is unlocked there.
  EXPECT_FALSE(gate.IsUnlocked("fraud", Day(1)));
  EXPECT_FALSE(gate.AnyUnlocked(Day(1)));
  EXPECT_EQ(gate.UnlocksIn(Day(1)), 0);
  // Querying does not roll the gate: the current period still holds its unlock.
  EXPECT_TRUE(gate.IsUnlocked("fraud", Day(0)));
}

TEST(RetrainingGateQueryTest, OutcomeNames) {
  EXPECT_STREQ(DriftOutcomeName(DriftOutcome::kUnlocked), "Unlocked");
  EXPECT_STREQ(DriftOutcomeName(DriftOutcome::kBelowThreshold), "BelowThreshold");
  EXPECT_STREQ(DriftOutcomeName(DriftOutcome::kCoolingDown), "CoolingDown");
  EXPECT_STREQ(DriftOutcomeName(DriftOutcome::kCapReached), "CapReached");
  EXPECT_STREQ(DriftOutcomeName(DriftOutcome::kNoReserve), "NoReserve");
}

}  // namespace
}  // namespace bursar::engine
