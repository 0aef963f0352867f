#include "controllers/signals/drift_inbox.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bursar::signals {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

ModelDriftReport ValidReport() {
  return {.model = "fraud-detector.v2",
          .score = 0.42,
          .metric = "psi",
          .time = kNow,
          .source = "evidently"};
}

engine::ModelDriftSignal Signal(const std::string& model) {
  return {.model = model, .score_micros = 500000, .metric = "psi", .time = kNow, .source = "t"};
}

std::vector<std::string> Models(const std::vector<engine::ModelDriftSignal>& signals) {
  std::vector<std::string> out;
  for (const engine::ModelDriftSignal& s : signals) {
    out.push_back(s.model);
  }
  return out;
}

TEST(ValidateModelDriftReportTest, ConvertsAValidReport) {
  absl::StatusOr<engine::ModelDriftSignal> signal = ValidateModelDriftReport(ValidReport(), kNow);
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ(signal->model, "fraud-detector.v2");
  EXPECT_EQ(signal->score_micros, 420000);
  EXPECT_EQ(signal->metric, "psi");
  EXPECT_EQ(signal->time, kNow);
  EXPECT_EQ(signal->source, "evidently");
}

TEST(ValidateModelDriftReportTest, RoundsScoreToNearestMillionth) {
  ModelDriftReport report = ValidReport();
  report.score = 0.1234567;
  EXPECT_EQ(ValidateModelDriftReport(report, kNow)->score_micros, 123457);
  report.score = 0.1234564;
  EXPECT_EQ(ValidateModelDriftReport(report, kNow)->score_micros, 123456);
}

TEST(ValidateModelDriftReportTest, AcceptsBoundaries) {
  ModelDriftReport report = ValidReport();
  report.model = std::string(63, 'm');
  report.score = 1.0;
  report.time = kNow + kMaxFutureSkew;
  absl::StatusOr<engine::ModelDriftSignal> signal = ValidateModelDriftReport(report, kNow);
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ(signal->score_micros, 1'000'000);

  report.model = "a";
  report.score = 0.0;
  report.time = kNow - absl::Hours(24 * 365);  // old reports are the gate's business, not ours
  signal = ValidateModelDriftReport(report, kNow);
  ASSERT_TRUE(signal.ok()) << signal.status();
  EXPECT_EQ(signal->score_micros, 0);
}

TEST(ValidateModelDriftReportTest, EmptySourceDefaultsToGrpc) {
  ModelDriftReport report = ValidReport();
  report.source = "";
  EXPECT_EQ(ValidateModelDriftReport(report, kNow)->source, "grpc");
}

TEST(ValidateModelDriftReportTest, RejectsInvalidFieldsNamingThem) {
  struct Case {
    std::string name;
    void (*mutate)(ModelDriftReport&);
    std::string field;
  };
  const std::vector<Case> cases = {
      {"empty model", [](ModelDriftReport& r) { r.model = ""; }, "model: "},
      {"model too long", [](ModelDriftReport& r) { r.model = std::string(64, 'm'); }, "model: "},
      {"model with slash", [](ModelDriftReport& r) { r.model = "team/model"; }, "model: "},
      {"model starts with dash", [](ModelDriftReport& r) { r.model = "-model"; }, "model: "},
      {"model ends with dot", [](ModelDriftReport& r) { r.model = "model."; }, "model: "},
      {"negative score", [](ModelDriftReport& r) { r.score = -0.01; }, "score: "},
      {"score above one", [](ModelDriftReport& r) { r.score = 1.0001; }, "score: "},
      {"NaN score", [](ModelDriftReport& r) { r.score = std::numeric_limits<double>::quiet_NaN(); },
       "score: "},
      {"infinite score",
       [](ModelDriftReport& r) { r.score = std::numeric_limits<double>::infinity(); }, "score: "},
      {"missing time", [](ModelDriftReport& r) { r.time = absl::InfinitePast(); }, "time: "},
      {"time too far ahead",
       [](ModelDriftReport& r) { r.time = kNow + kMaxFutureSkew + absl::Nanoseconds(1); },
       "time: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    ModelDriftReport report = ValidReport();
    c.mutate(report);
    absl::StatusOr<engine::ModelDriftSignal> signal = ValidateModelDriftReport(report, kNow);
    ASSERT_FALSE(signal.ok());
    EXPECT_EQ(signal.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(signal.status().message()), StartsWith(c.field));
  }
}

TEST(ValidateModelDriftReportTest, FutureTimeMessageSaysByHowMuch) {
  ModelDriftReport report = ValidReport();
  report.time = kNow + absl::Hours(1);
  EXPECT_THAT(std::string(ValidateModelDriftReport(report, kNow).status().message()),
              HasSubstr("5m"));
}

TEST(DriftInboxTest, DrainReturnsOldestFirstAndEmpties) {
  DriftInbox inbox(4);
  inbox.Push(Signal("a"));
  inbox.Push(Signal("b"));
  EXPECT_EQ(inbox.size(), 2u);
  EXPECT_EQ(Models(inbox.Drain()), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(inbox.size(), 0u);
  EXPECT_TRUE(inbox.Drain().empty());
  EXPECT_EQ(inbox.dropped(), 0u);
}

TEST(DriftInboxTest, WhenFullDropsOldestAndCounts) {
  DriftInbox inbox(3);
  for (const char* model : {"a", "b", "c", "d", "e"}) {
    inbox.Push(Signal(model));
  }
  EXPECT_EQ(inbox.size(), 3u);
  EXPECT_EQ(inbox.dropped(), 2u);
  EXPECT_EQ(Models(inbox.Drain()), (std::vector<std::string>{"c", "d", "e"}));
  // The count is cumulative; draining does not reset it.
  inbox.Push(Signal("f"));
  EXPECT_EQ(inbox.dropped(), 2u);
}

TEST(DriftInboxTest, ZeroCapacityKeepsTheNewest) {
  DriftInbox inbox(0);
  EXPECT_EQ(inbox.capacity(), 1u);
  inbox.Push(Signal("a"));
  inbox.Push(Signal("b"));
  EXPECT_EQ(Models(inbox.Drain()), (std::vector<std::string>{"b"}));
  EXPECT_EQ(inbox.dropped(), 1u);
}

}  // namespace
}  // namespace bursar::signals
