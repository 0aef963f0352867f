// Tests for what `kubectl bursar status` and `why` print (cmd::RenderStatusTable,
// RenderStatusJson, RenderWhy): exact text for budgets within budget, throttled, exhausted,
// GPU-hours only, not ready, not yet reconciled and undecodable, at a fixed `now`; the JSON
// output read back with operator/json; colours and the terminal width.

#include "operator/cmd/plugin_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "controllers/api/codec.h"
#include "controllers/api/types.h"
#include "operator/json/json.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::cmd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using values::Money;

absl::Time At(const char* rfc3339) {
  absl::StatusOr<absl::Time> t = api::ParseTime(rfc3339);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.value_or(absl::UnixEpoch());
}

const absl::Time kNow = At("2025-06-13T12:00:00Z");

Money M(const char* text) {
  absl::StatusOr<Money> m = Money::Parse(text);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.value_or(Money());
}

// A reconciled budget, built fluently; June 2025 (30 days) unless told otherwise.
class Budget {
 public:
  explicit Budget(std::string name) {
    b_.metadata.name = std::move(name);
    b_.spec.scope.namespaces = {b_.metadata.name.substr(b_.metadata.name.find('-') + 1)};
    b_.metadata.generation = 2;
    b_.status.observed_generation = 2;
    b_.status.period = values::Period{At("2025-06-01T00:00:00Z"), At("2025-07-01T00:00:00Z")};
    Ready("True", "Enforcing", "spend is on the pacing line");
  }
  Budget& Limit(const char* amount) {
    b_.spec.limit.amount = M(amount);
    return *this;
  }
  Budget& GpuHourLimit(const char* hours) {
    b_.spec.limit.amount.reset();
    b_.spec.limit.gpu_hours = M(hours);
    return *this;
  }
  // Weekly from Monday, Berlin time; the status window given in UTC.
  Budget& Weekly(const char* start, const char* end) {
    b_.spec.period = {.type = values::PeriodType::kWeekly, .time_zone = "Europe/Berlin"};
    b_.status.period = values::Period{At(start), At(end)};
    return *this;
  }
  Budget& Spent(const char* spent, const char* forecast, const char* burn) {
    b_.status.spent = M(spent);
    b_.status.forecast = M(forecast);
    b_.status.burn_rate = M(burn);
    return *this;
  }
  Budget& GpuHours(const char* hours) {
    b_.status.gpu_hours = M(hours);
    return *this;
  }
  Budget& Phase(api::BudgetPhase phase) {
    b_.status.phase = phase;
    return *this;
  }
  Budget& Exhausts(absl::Time at) {
    b_.status.exhausts_at = at;
    return *this;
  }
  Budget& Allowed(int64_t gpus) {
    b_.status.allowed_gpus = gpus;
    return *this;
  }
  Budget& Ready(const char* status, const char* reason, const char* message) {
    b_.status.conditions = {{.type = "Ready",
                             .status = status,
                             .reason = reason,
                             .message = message,
                             .last_transition_time = kNow - absl::Minutes(5),
                             .observed_generation = 2}};
    return *this;
  }
  Budget& Action(absl::Duration ago, const char* action, const char* reason, const char* target,
                 const char* message, bool dry_run = false) {
    b_.status.recent_actions.push_back({.time = kNow - ago,
                                        .action = action,
                                        .reason = reason,
                                        .message = message,
                                        .target = target,
                                        .dry_run = dry_run});
    return *this;
  }
  Budget& NoStatus() {
    b_.status = api::ComputeBudgetStatus();
    return *this;
  }
  api::ComputeBudget& get() { return b_; }
  ListedBudget Listed() const { return {b_.metadata.name, b_, ""}; }

 private:
  api::ComputeBudget b_;
};

Budget WithinBudget() {
  return std::move(Budget("team-vision-monthly")
                       .Limit("5000")
                       .Spent("1800.25", "4300", "6.5")
                       .GpuHours("610.25")
                       .Allowed(8));
}

Budget Throttled() {
  Budget b("team-audio");
  b.Limit("1000")
      .Spent("820", "1900", "3.75")
      .GpuHours("300")
      .Phase(api::BudgetPhase::kThrottled)
      .Exhausts(kNow + absl::Hours(2) + absl::Minutes(13))
      .Allowed(2)
      .Ready("True", "Enforcing", "forecast 1900.00 USD is over the 1000.00 USD limit: Throttle")
      .Action(absl::Hours(3), "Notify", "Forecast 50%", "namespace/audio", "forecast over 50%")
      .Action(absl::Minutes(20), "Throttle", "Forecast 80%", "namespace/audio",
              "quota lowered to 2 GPUs")
      .Action(absl::Minutes(20), "ScaleDown", "Throttle", "gpunodepool/a100-pool", "2 nodes to 1",
              true);
  return b;
}

Budget Exhausted() {
  return std::move(Budget("team-ads")
                       .Limit("200")
                       .Spent("203.5", "260", "1.5")
                       .Phase(api::BudgetPhase::kExhausted)
                       .Exhausts(kNow - absl::Minutes(1))
                       .Allowed(0));
}

// 812.5 of 2000 GPU-hours in a week that is 4.5 days in (64.3%).
Budget GpuHoursOnly() {
  return std::move(Budget("team-nlp-gpuhours")
                       .GpuHourLimit("2000")
                       .Weekly("2025-06-08T22:00:00Z", "2025-06-15T22:00:00Z")
                       .Spent("2437.5", "5100", "32")
                       .GpuHours("812.5")
                       .Phase(api::BudgetPhase::kWithinBudget)
                       .Exhausts(kNow + absl::Hours(50))
                       .Allowed(16));
}

Budget NotReady() {
  return std::move(
      Budget("team-misc")
          .Limit("300")
          .Ready("False", "PriceBookNotFound", "spec.priceBookRef: PriceBook \"gold\" not found")
          .Allowed(0));
}

TEST(PluginViewTest, FormatExhaustsIsRelative) {
  EXPECT_EQ(FormatExhausts(std::nullopt, kNow), "—");
  EXPECT_EQ(FormatExhausts(kNow + absl::Hours(2) + absl::Minutes(13), kNow), "in 2h13m");
  EXPECT_EQ(FormatExhausts(kNow + absl::Hours(2) + absl::Seconds(59), kNow), "in 2h");
  EXPECT_EQ(FormatExhausts(kNow + absl::Seconds(45), kNow), "in 45s");
  EXPECT_EQ(FormatExhausts(kNow + absl::Hours(76), kNow), "in 3d4h");
  EXPECT_EQ(FormatExhausts(kNow, kNow), "reached");
  EXPECT_EQ(FormatExhausts(kNow - absl::Hours(1), kNow), "reached");
}

TEST(PluginViewTest, PacingBarMarksSpentForecastAndPacingLine) {
  EXPECT_EQ(PacingBar(0.5, 0.8, 0.4, 10), "[####|...  ]");
  // Spent ahead of the line: the line shows inside the spent part.
  EXPECT_EQ(PacingBar(0.7, 1.5, 0.3, 10), "[###|###...]");
  EXPECT_EQ(PacingBar(0.0, std::nullopt, std::nullopt, 5), "[     ]");
  // Overspent and the period over: full, the line in the last cell.
  EXPECT_EQ(PacingBar(1.2, 1.3, 1.0, 5), "[####|]");
  EXPECT_EQ(PacingBar(0.5, std::nullopt, 0.0, 4), "[|#  ]");
}

TEST(PluginViewTest, StatusOfNoBudgets) {
  EXPECT_EQ(RenderStatusTable({}, kNow, {}), "No ComputeBudgets found.\n");
  json::Value v = JsonOrFail(RenderStatusJson({}, kNow));
  ASSERT_NE(v.Find("budgets"), nullptr);
  EXPECT_TRUE(FieldOrFail(v, "budgets").elements().empty());
  EXPECT_EQ(FieldOrFail(v, "now").string_value(), "2025-06-13T12:00:00Z");
}

std::vector<ListedBudget> AllKinds() {
  Budget pending("team-new");
  pending.Limit("100").NoStatus();
  return {WithinBudget().Listed(),
          Throttled().Listed(),
          Exhausted().Listed(),
          GpuHoursOnly().Listed(),
          NotReady().Listed(),
          pending.Listed(),
          {"team-broken", std::nullopt,
           "apiserver:0: spec.period.timeZone: unknown time zone \"Mars/Olympus\"\nmore"}};
}

TEST(PluginViewTest, StatusTableOfEveryKindOfBudget) {
  // June is 41.7% elapsed (the pacing line in cell 8 of 20); the NLP week 65.5% (cell 13).
  // No colours and no width: what a pipe gets.
  EXPECT_EQ("\n" + RenderStatusTable(AllKinds(), kNow, {}), R"(
NAME                 PHASE         SPENT / LIMIT          SPEND VS PACING         FORECAST     EXHAUSTS  GPUS
team-vision-monthly  WithinBudget  1800.25 / 5000.00 USD  [#######.|........   ]  4300.00 USD  —         8
team-audio           Throttled     820.00 / 1000.00 USD   [########|#######....]  1900.00 USD  in 2h13m  2
team-ads             Exhausted     203.50 / 200.00 USD    [########|###########]  260.00 USD   reached   0
team-nlp-gpuhours    WithinBudget  812.5 / 2000.0 GPU-h   [########     |      ]  5100.00 USD  in 2d2h   16
team-misc            NotReady      0.00 / 300.00 USD      [        |           ]  0.00 USD     —         0
  Ready=False PriceBookNotFound: spec.priceBookRef: PriceBook "gold" not found
team-new             Pending       —                      —                       —            —         —
  no status yet: is the operator running?
team-broken          Invalid       —                      —                       —            —         —
  cannot decode: apiserver:0: spec.period.timeZone: unknown time zone "Mars/Olympus" …
)");
}

TEST(PluginViewTest, StatusTableFitsTheTerminal) {
  // The bar takes what the other columns (85 columns here) leave: 110 - 85 - 2 - 2 = 21 cells.
  std::string text = RenderStatusTable(AllKinds(), kNow, {.width = 110});
  EXPECT_THAT(text, HasSubstr("[########|########....]"));
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    int width = 0;
    for (char c : line) {
      width += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
    }
    EXPECT_LE(width, 110) << line;
  }
  EXPECT_THAT(text, HasSubstr("PriceBookNotFound"));
  // Narrower, the bar stops shrinking at 10 cells and the notes are cut with an ellipsis.
  std::string narrow = RenderStatusTable(AllKinds(), kNow, {.width = 60});
  EXPECT_THAT(narrow, HasSubstr("[####|###..]"));
  EXPECT_THAT(narrow,
              HasSubstr("\n  Ready=False PriceBookNotFound: spec.priceBookRef: PriceBo…\n"));
}

std::string StripAnsi(const std::string& s) {
  return std::regex_replace(s, std::regex("\033\\[[0-9;]*m"), "");
}

TEST(PluginViewTest, ColoursOnlyWhenAskedAndAlignmentUnchanged) {
  std::string plain = RenderStatusTable(AllKinds(), kNow, {.width = 120});
  std::string coloured = RenderStatusTable(AllKinds(), kNow, {.width = 120, .color = true});
  EXPECT_THAT(plain, Not(HasSubstr("\033[")));
  EXPECT_THAT(coloured, HasSubstr("\033[33mThrottled\033[0m"));
  EXPECT_THAT(coloured, HasSubstr("\033[1;31mExhausted\033[0m"));
  EXPECT_EQ(StripAnsi(coloured), plain);
  std::string why = RenderWhy(Throttled().get(), {}, kNow, {.width = 120, .color = true});
  EXPECT_EQ(StripAnsi(why), RenderWhy(Throttled().get(), {}, kNow, {.width = 120}));
}

TEST(PluginViewTest, StatusJsonParsesWithTheNumbers) {
  json::Value v = JsonOrFail(RenderStatusJson(AllKinds(), kNow));
  const json::Value* budgets = v.Find("budgets");
  ASSERT_NE(budgets, nullptr);
  ASSERT_EQ(budgets->elements().size(), 7u);
  const json::Value& throttled = budgets->elements()[1];
  EXPECT_EQ(FieldOrFail(throttled, "name").string_value(), "team-audio");
  EXPECT_EQ(FieldOrFail(throttled, "phase").string_value(), "Throttled");
  EXPECT_EQ(FieldOrFail(throttled, "unit").string_value(), "USD");
  EXPECT_EQ(FieldOrFail(throttled, "spent").string_value(), "820.00");
  EXPECT_EQ(FieldOrFail(throttled, "limit").string_value(), "1000.00");
  EXPECT_EQ(FieldOrFail(throttled, "remaining").string_value(), "180.00");
  EXPECT_DOUBLE_EQ(FieldOrFail(throttled, "spentFraction").number_value(), 0.82);
  EXPECT_EQ(PathOrFail(throttled, "pacing.mode").string_value(), "Even");
  EXPECT_EQ(PathOrFail(throttled, "pacing.target").string_value(), "416.666667");
  EXPECT_NEAR(PathOrFail(throttled, "pacing.elapsedFraction").number_value(), 12.5 / 30, 1e-9);
  EXPECT_EQ(FieldOrFail(throttled, "exhaustsAt").string_value(), "2025-06-13T14:13:00Z");
  EXPECT_EQ(FieldOrFail(throttled, "exhausts").string_value(), "in 2h13m");
  EXPECT_EQ(FieldOrFail(throttled, "allowedGPUs").int_value(), 2);
  EXPECT_EQ(PathOrFail(throttled, "ready.reason").string_value(), "Enforcing");
  const json::Value& nlp = budgets->elements()[3];
  EXPECT_EQ(FieldOrFail(nlp, "unit").string_value(), "GPU-h");
  EXPECT_EQ(FieldOrFail(nlp, "spent").string_value(), "812.50");
  EXPECT_EQ(FieldOrFail(nlp, "limit").string_value(), "2000.00");
  EXPECT_EQ(FieldOrFail(nlp, "forecast").string_value(), "5100.00");
  EXPECT_EQ(FieldOrFail(budgets->elements()[4], "phase").string_value(), "NotReady");
  EXPECT_EQ(FieldOrFail(budgets->elements()[5], "phase").string_value(), "Pending");
  EXPECT_TRUE(FieldOrFail(budgets->elements()[5], "period").is_null());
  EXPECT_EQ(FieldOrFail(budgets->elements()[6], "phase").string_value(), "Invalid");
  EXPECT_THAT(FieldOrFail(budgets->elements()[6], "error").string_value(),
              HasSubstr("Mars/Olympus"));
}

TEST(PluginViewTest, WhyShowsInputsActionsAndEvents) {
  Budget b = Throttled();
  b.get().spec.node_pools = {"a100-pool"};
  std::vector<BudgetEvent> events = {
      {kNow - absl::Hours(3), "Normal", "Notify", "forecast over 50% of the limit", 1},
      {kNow - absl::Minutes(2), "Warning", "Throttle", "quota lowered to 2 GPUs", 4}};
  // Actions and Events newest first; the dry-run ScaleDown says so.
  EXPECT_EQ("\n" + RenderWhy(b.get(), events, kNow, {}), R"(
team-audio  Throttled  (generation 2, status of generation 2)
  Ready=True Enforcing: forecast 1900.00 USD is over the 1000.00 USD limit: Throttle

Spec
  Limit:        1000.00 USD per period
  Period:       Monthly from day 1, UTC
  Pacing:       Even, burst 10%
  Thresholds:   50% Notify, 80% Throttle, 95% Hold, 100% Drain
  Enforcement:  Enforce
  Quota:        ResourceQuota on nvidia.com/gpu
  Node pools:   a100-pool
  Scope:        namespaces audio
  Retraining:   no reserve
  Price book:   default

Status
  Phase:        Throttled
  Period:       2025-06-01T00:00:00Z .. 2025-07-01T00:00:00Z (41.7% elapsed, ends in 17d12h)
  Spent:        820.00 USD of 1000.00 (82.0%); Even pacing line now 416.67
                [########|#######....]
  Burn rate:    3.75 USD/h
  Forecast:     1900.00 USD at the period's end
  Remaining:    180.00 USD
  Exhausts:     in 2h13m (2025-06-13T14:13:00Z)
  GPU-hours:    300.0
  Allowed GPUs: 2

Conditions
  TYPE   STATUS  REASON     AGE  MESSAGE
  Ready  True    Enforcing  5m   forecast 1900.00 USD is over the 1000.00 USD limit: Throttle

Recent actions (newest first)
  AGE  ACTION               REASON        TARGET                 MESSAGE
  20m  Throttle             Forecast 80%  namespace/audio        quota lowered to 2 GPUs
  20m  ScaleDown [dry run]  Throttle      gpunodepool/a100-pool  2 nodes to 1
  3h   Notify               Forecast 50%  namespace/audio        forecast over 50%

Events (newest first)
  LAST SEEN  TYPE     REASON    COUNT  MESSAGE
  2m         Warning  Throttle  4      quota lowered to 2 GPUs
  3h         Normal   Notify    1      forecast over 50% of the limit
)");
}

TEST(PluginViewTest, WhyOfABudgetThatIsNotReady) {
  std::string text = RenderWhy(NotReady().get(), {}, kNow, {.width = 80});
  // The reason up front; the condition's message cut to 80 columns.
  EXPECT_EQ("\n" + text, R"(
team-misc  NotReady  (generation 2, status of generation 2)
  Ready=False PriceBookNotFound: spec.priceBookRef: PriceBook "gold" not found

Spec
  Limit:        300.00 USD per period
  Period:       Monthly from day 1, UTC
  Pacing:       Even, burst 10%
  Thresholds:   50% Notify, 80% Throttle, 95% Hold, 100% Drain
  Enforcement:  Enforce
  Quota:        ResourceQuota on nvidia.com/gpu
  Node pools:   —
  Scope:        namespaces misc
  Retraining:   no reserve
  Price book:   default

Status
  Phase:        NotReady
  Period:       2025-06-01T00:00:00Z .. 2025-07-01T00:00:00Z (41.7% elapsed, ends in 17d12h)
  Spent:        0.00 USD of 300.00 (0.0%); Even pacing line now 125.00
                [        |           ]
  Burn rate:    0.00 USD/h
  Forecast:     0.00 USD at the period's end
  Remaining:    300.00 USD
  Exhausts:     — (not this period at the current burn rate)
  GPU-hours:    0.0
  Allowed GPUs: 0

Conditions
  TYPE   STATUS  REASON             AGE  MESSAGE
  Ready  False   PriceBookNotFound  5m   spec.priceBookRef: PriceBook "gold" no…

Recent actions (newest first)
  (none)

Events (newest first)
  (none; the API server keeps Events for about an hour)
)");
}

TEST(PluginViewTest, WhyOfAGpuHoursBudgetCutToTheTerminal) {
  std::string text = RenderWhy(GpuHoursOnly().get(), {}, kNow, {.width = 50});
  // GPU-hours against the GPU-hour limit; the forecast is the cost (status keeps money).
  EXPECT_EQ("\n" + text, R"(
team-nlp-gpuhours  WithinBudget  (generation 2, status of generation 2)
  Ready=True Enforcing: spend is on the pacing li…

Spec
  Limit:        2000.0 GPU-h per period
  Period:       Weekly from Monday, Europe/Berlin
  Pacing:       Even, burst 10%
  Thresholds:   50% Notify, 80% Throttle, 95% Hold, 100% Drain
  Enforcement:  Enforce
  Quota:        ResourceQuota on nvidia.com/gpu
  Node pools:   —
  Scope:        namespaces nlp-gpuhours
  Retraining:   no reserve
  Price book:   default

Status
  Phase:        WithinBudget
  Period:       2025-06-08T22:00:00Z .. 2025-06-15T22:00:00Z (65.5% elapsed, ends in 2d10h)
  Spent:        812.5 GPU-h of 2000.0 (40.6%); Even pacing line now 1309.5
                [########     |      ]
  Burn rate:    32.00 USD/h
  Forecast:     5100.00 USD at the period's end (cost; the limit is in GPU-hours)
  Remaining:    1187.5 GPU-h
  Exhausts:     in 2d2h (2025-06-15T14:00:00Z)
  GPU-hours:    812.5
  Allowed GPUs: 16

Conditions
  TYPE   STATUS  REASON     AGE  MESSAGE
  Ready  True    Enforcing  5m   spend is on the …

Recent actions (newest first)
  (none)

Events (newest first)
  (none; the API server keeps Events for about an hour)
)");
}

// A budget with a retraining reserve says whether it is unlocked, for which models, and the GPUs
// their retraining may hold (status.retraining and status.admission, what the webhook decides
// from; a model only cooling down is not unlocked); a budget without
// one prints no such line (the exact texts above).
TEST(PluginViewTest, WhySaysWhomTheReserveIsUnlockedFor) {
  Budget b = Throttled();
  b.get().spec.retraining.reserve_percent = 15;
  EXPECT_THAT(RenderWhy(b.get(), {}, kNow, {}),
              HasSubstr("  Reserve:      locked (no modelDrift unlock this period)\n"));
  b.get().status.admission = api::AdmissionAllowance{};
  b.get().status.admission->reserve_gpus = 3;
  b.get().status.retraining = api::RetrainingStatus{.period = b.get().status.period,
                                                    .models = {{.model = "bert", .open = true},
                                                               {.model = "resnet", .open = true},
                                                               {.model = "vit", .open = false}}};
  EXPECT_THAT(RenderWhy(b.get(), {}, kNow, {}),
              HasSubstr("  Reserve:      unlocked for bert, resnet: their retraining may hold 3 "
                        "GPUs now, beside regular work\n"));
}

TEST(PluginViewTest, DecodesCoreAndEventsApiEvents) {
  BudgetEvent core = DecodeBudgetEvent(JsonOrFail(R"({
    "type": "Warning", "reason": "Throttle", "message": "quota lowered", "count": 3,
    "firstTimestamp": "2025-06-13T10:00:00Z", "lastTimestamp": "2025-06-13T11:58:00Z"})"));
  EXPECT_EQ(core.type, "Warning");
  EXPECT_EQ(core.reason, "Throttle");
  EXPECT_EQ(core.message, "quota lowered");
  EXPECT_EQ(core.count, 3);
  EXPECT_EQ(core.last_seen, At("2025-06-13T11:58:00Z"));
  // Written through events.k8s.io: no lastTimestamp or count, a series instead.
  BudgetEvent series = DecodeBudgetEvent(JsonOrFail(R"({
    "type": "Normal", "reason": "Notify", "message": "m",
    "eventTime": "2025-06-13T09:00:00.123456Z",
    "series": {"count": 7, "lastObservedTime": "2025-06-13T11:00:00.5Z"}})"));
  EXPECT_EQ(series.count, 7);
  EXPECT_EQ(series.last_seen, At("2025-06-13T11:00:00.5Z"));
  BudgetEvent bare = DecodeBudgetEvent(JsonOrFail(R"({"reason": "X"})"));
  EXPECT_EQ(bare.count, 1);
  EXPECT_EQ(bare.last_seen, absl::InfinitePast());
}

TEST(PluginViewTest, DecodedFromTheApiServerShape) {
  // What `status` gets from a list: the encoded budget, decoded as plugin.cc does.
  api::ComputeBudget original = Throttled().get();
  json::Value encoded = api::EncodeComputeBudget(original);
  absl::StatusOr<api::ComputeBudget> decoded =
      api::DecodeComputeBudget(encoded, {.source = "apiserver", .reject_unknown_fields = false});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(RenderStatusTable({{"team-audio", *decoded, ""}}, kNow, {}),
            RenderStatusTable({Throttled().Listed()}, kNow, {}));
}

}  // namespace
}  // namespace bursar::cmd

namespace bursar::cmd {
namespace {

TEST(PluginViewTest, WhyListsTheJobsWithTheirOwnCap) {
  Budget b = Throttled();
  api::JobSpend spend;
  spend.namespace_name = "audio";
  spend.name = "finetune-7b";
  spend.accrued = values::Accrual{1'234'560'000} * values::kAccrualPerMicro;  // 1234.56
  spend.gpu_seconds = 8 * 3600 + 1800;
  spend.rate = values::Money::FromUnits(96);
  spend.gpus = 8;
  spend.cap = "max-cost 2000.00";
  b.get().status.jobs = {spend};
  std::string text = RenderWhy(b.get(), {}, kNow, {.width = 120});
  EXPECT_THAT(text, HasSubstr("\nJobs with their own cap (spend over their whole life)\n"));
  EXPECT_THAT(text, HasSubstr("audio/finetune-7b  1234.56 USD  8.50       max-cost 2000.00  "
                              "96.00 USD/h"));
  // Without capped Jobs the section is left out.
  EXPECT_THAT(RenderWhy(Throttled().get(), {}, kNow, {.width = 120}),
              Not(HasSubstr("their own cap")));
}

}  // namespace
}  // namespace bursar::cmd
