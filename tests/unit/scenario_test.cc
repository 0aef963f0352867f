// Tests for sim::LoadScenario: a scenario file with its manifests and trace in a temp
// directory. Valid files load with every field and with paths resolved against the scenario's
// folder (not the working directory); every kind of bad input fails with a message that names
// the file, the line and the field.

#include "controllers/sim/scenario.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/sim/simulator.h"
#include "tests/unit/temp_dir.h"

namespace bursar::sim {
namespace {

namespace fs = std::filesystem;

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kBudgets[] = R"(apiVersion: bursar.dev/v1alpha1
kind: ComputeBudget
metadata:
  name: vision
spec:
  scope: {namespaces: [vision]}
  limit: {amount: "100"}
  period: {type: Daily}
  nodePools: [a100]
)";

constexpr char kPools[] = R"(apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata:
  name: a100
spec:
  provider: {type: Kwok}
  gpuType: NVIDIA-A100
  gpusPerNode: 4
  maxNodes: 2
---
apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata:
  name: default
spec:
  gpus:
    - {model: NVIDIA-A100, capacityType: OnDemand, pricePerHour: "2"}
)";

constexpr char kTrace[] =
    "submit_time_s,duration_s,gpus,namespace,priority,model,purpose\n"
    "0,900,1,vision,0,resnet50,train\n"
    "60,1800,2,vision,5,resnet50,retrain\n";

// The layout every test starts from: scenarios/tiny.yaml refers to ../manifests and ../traces.
void WriteInputs(TempDir& dir) {
  dir.File("manifests/budgets.yaml", kBudgets);
  dir.File("manifests/pools.yaml", kPools);
  dir.File("traces/tiny.csv", kTrace);
}

constexpr char kValidScenario[] = R"(name: tiny
description: one budget, one pool
start: "2026-11-02T00:00:00Z"
duration: 3h
step: 30s
manifests: [../manifests/budgets.yaml, ../manifests/pools.yaml]
trace: ../traces/tiny.csv
modelDrift:
  - {after: 2h, model: bert, score: "0.9"}
  - {after: 90m, model: resnet50, score: "0.42", metric: psi, source: monitor}
cluster:
  provisioningDelay: 2m
  restartPenalty: 7m
  billingLag: 12h
  cpuPerGpu: "8"
  memoryPerGpu: 64Gi
  unbudgetedPools: [a100]
)";

TEST(ScenarioLoad, ReadsEveryFieldAndResolvesPathsAgainstTheScenarioFolder) {
  TempDir dir;
  WriteInputs(dir);
  dir.File("scenarios/tiny.yaml", kValidScenario);
  // The working directory is not the scenario's folder: relative paths must not depend on it.
  ASSERT_NE(fs::current_path(), fs::path(dir.Path("scenarios")));

  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("scenarios/tiny.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "tiny");
  EXPECT_EQ(s->description, "one budget, one pool");
  EXPECT_EQ(s->source, dir.Path("scenarios/tiny.yaml"));
  EXPECT_EQ(s->start, absl::FromUnixSeconds(1793577600));  // 2026-11-02T00:00:00Z
  EXPECT_EQ(s->duration, absl::Hours(3));
  EXPECT_EQ(s->step, absl::Seconds(30));
  ASSERT_THAT(s->manifests.budgets, SizeIs(1));
  EXPECT_EQ(s->manifests.budgets[0].metadata.name, "vision");
  ASSERT_THAT(s->manifests.pools, SizeIs(1));
  EXPECT_EQ(s->manifests.pools[0].spec.gpus_per_node, 4);
  ASSERT_THAT(s->manifests.price_books, SizeIs(1));
  ASSERT_THAT(s->jobs, SizeIs(2));
  EXPECT_EQ(s->jobs[1].submit_time_s, 60);
  EXPECT_EQ(s->jobs[1].gpus, 2);
  EXPECT_EQ(s->jobs[1].purpose, "retrain");
  // modelDrift events come back sorted by time, with the score in millionths.
  ASSERT_THAT(s->drift, SizeIs(2));
  EXPECT_EQ(s->drift[0].at, absl::Minutes(90));
  EXPECT_EQ(s->drift[0].signal.model, "resnet50");
  EXPECT_EQ(s->drift[0].signal.score_micros, 420000);
  EXPECT_EQ(s->drift[0].signal.metric, "psi");
  EXPECT_EQ(s->drift[0].signal.source, "monitor");
  EXPECT_EQ(s->drift[1].at, absl::Hours(2));
  EXPECT_EQ(s->drift[1].signal.score_micros, 900000);
  EXPECT_EQ(s->drift[1].signal.source, "scenario");  // the default source
  EXPECT_EQ(s->cluster.provisioning_delay, absl::Minutes(2));
  EXPECT_EQ(s->cluster.restart_penalty, absl::Minutes(7));
  EXPECT_EQ(s->cluster.billing_lag, absl::Hours(12));
  EXPECT_EQ(s->cluster.cpu_millis_per_gpu, 8000);
  EXPECT_EQ(s->cluster.memory_bytes_per_gpu, int64_t{64} << 30);
  EXPECT_EQ(s->cluster.unbudgeted_pools, std::vector<std::string>{"a100"});
}

TEST(ScenarioLoad, OptionalFieldsKeepTheirDefaults) {
  TempDir dir;
  WriteInputs(dir);
  dir.File("scenarios/min.yaml", R"(name: min
start: "2026-11-02T00:00:00Z"
duration: 1h
manifests: [../manifests]
trace: ../traces/tiny.csv
)");
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("scenarios/min.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  ClusterModel defaults;
  EXPECT_EQ(s->step, absl::Minutes(1));
  EXPECT_TRUE(s->drift.empty());
  EXPECT_EQ(s->cluster.provisioning_delay, defaults.provisioning_delay);
  EXPECT_EQ(s->cluster.billing_lag, defaults.billing_lag);
  EXPECT_EQ(s->cluster.cpu_millis_per_gpu, defaults.cpu_millis_per_gpu);
  EXPECT_EQ(s->cluster.memory_bytes_per_gpu, defaults.memory_bytes_per_gpu);
  // A manifest directory loads every *.yaml in it.
  EXPECT_THAT(s->manifests.budgets, SizeIs(1));
  EXPECT_THAT(s->manifests.pools, SizeIs(1));
}

TEST(ScenarioLoad, AbsolutePathsAreUsedAsGiven) {
  TempDir dir;
  WriteInputs(dir);
  dir.File(
      "elsewhere/abs.yaml",
      absl::StrCat("name: abs\nstart: \"2026-11-02T00:00:00Z\"\nduration: 1h\n", "manifests: [",
                   dir.Path("manifests"), "]\n", "trace: ", dir.Path("traces/tiny.csv"), "\n"));
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("elsewhere/abs.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_THAT(s->jobs, SizeIs(2));
}

struct BadScenarioCase {
  std::string name;
  std::string yaml;
  int line;            // the line the message must point at
  std::string field;   // the JSON path it must name
  std::string reason;  // a fragment of the reason
};

void PrintTo(const BadScenarioCase& c, std::ostream* os) {
  *os << c.name;
}

class ScenarioLoadErrors : public ::testing::TestWithParam<BadScenarioCase> {};

TEST_P(ScenarioLoadErrors, NameFileLineAndField) {
  const BadScenarioCase& c = GetParam();
  TempDir dir;
  WriteInputs(dir);
  dir.File("scenarios/bad.yaml", c.yaml);
  const std::string path = dir.Path("scenarios/bad.yaml");
  absl::StatusOr<Scenario> s = LoadScenario(path);
  ASSERT_FALSE(s.ok());
  const std::string message(s.status().message());
  EXPECT_THAT(message, HasSubstr(absl::StrCat(path, ":", c.line, ": ", c.field, ": ")));
  EXPECT_THAT(message, HasSubstr(c.reason));
}

// Lines: 1 name, 2 start, 3 duration, 4 step, 5 manifests, 6 trace, 7... the rest.
std::string ScenarioYaml(const std::string& name, const std::string& start,
                         const std::string& duration, const std::string& manifests,
                         const std::string& trace, const std::string& rest = "") {
  std::string out;
  if (!name.empty()) {
    absl::StrAppend(&out, "name: ", name, "\n");
  }
  absl::StrAppend(&out, "start: ", start, "\n");
  if (!duration.empty()) {
    absl::StrAppend(&out, "duration: ", duration, "\n");
  }
  absl::StrAppend(&out, "step: 1m\n");
  absl::StrAppend(&out, "manifests: ", manifests, "\n");
  if (!trace.empty()) {
    absl::StrAppend(&out, "trace: ", trace, "\n");
  }
  return out + rest;
}

const char kStart[] = "\"2026-11-02T00:00:00Z\"";
const char kManifests[] = "[../manifests/budgets.yaml, ../manifests/pools.yaml]";
const char kTracePath[] = "../traces/tiny.csv";

INSTANTIATE_TEST_SUITE_P(
    ScenarioFiles, ScenarioLoadErrors,
    ::testing::Values(
        BadScenarioCase{"MissingName", ScenarioYaml("", kStart, "1h", kManifests, kTracePath), 1,
                        "name", "required"},
        BadScenarioCase{"MissingDuration", ScenarioYaml("x", kStart, "", kManifests, kTracePath), 1,
                        "duration", "required"},
        BadScenarioCase{"MissingTrace", ScenarioYaml("x", kStart, "1h", kManifests, ""), 1, "trace",
                        "required"},
        BadScenarioCase{"BadDuration", ScenarioYaml("x", kStart, "2 hours", kManifests, kTracePath),
                        3, "duration", "2 hours"},
        BadScenarioCase{"BadStart", ScenarioYaml("x", "yesterday", "1h", kManifests, kTracePath), 2,
                        "start", "yesterday"},
        BadScenarioCase{"StepLongerThanDuration",
                        "name: x\nstart: \"2026-11-02T00:00:00Z\"\nduration: 1m\nstep: 2m\n"
                        "manifests: []\ntrace: t.csv\n",
                        4, "step", "no longer than duration"},
        BadScenarioCase{"DriftScoreAboveOne",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "modelDrift:\n"
                                     "  - after: 10m\n"
                                     "    model: resnet50\n"
                                     "    score: \"1.5\"\n"),
                        10, "modelDrift[0].score", "[0, 1]"},
        BadScenarioCase{"DriftWithoutModel",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "modelDrift:\n"
                                     "  - {after: 10m, score: \"0.5\"}\n"),
                        8, "modelDrift[0].model", "required"},
        BadScenarioCase{"DriftBadAfter",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "modelDrift:\n"
                                     "  - model: resnet50\n"
                                     "    after: soon\n"
                                     "    score: \"0.5\"\n"),
                        9, "modelDrift[0].after", "soon"},
        BadScenarioCase{"UnknownTopLevelKey",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath, "durations: 2h\n"),
                        7, "durations", "unknown"},
        BadScenarioCase{"UnknownClusterKey",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "cluster:\n  provisioningDelay: 1m\n  billinglag: 1h\n"),
                        9, "cluster.billinglag", "unknown"},
        BadScenarioCase{"BadClusterQuantity",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "cluster:\n  memoryPerGpu: lots\n"),
                        8, "cluster.memoryPerGpu", "lots"},
        BadScenarioCase{
            "MissingManifestFile",
            ScenarioYaml("x", kStart, "1h",
                         "\n  - ../manifests/budgets.yaml\n  - ../manifests/nope.yaml", kTracePath),
            7, "manifests[1]", "nope.yaml"},
        BadScenarioCase{"SubSecondStep",
                        "name: x\nstart: \"2026-11-02T00:00:00Z\"\nduration: 1m\nstep: 1500ms\n"
                        "manifests: []\ntrace: t.csv\n",
                        4, "step", "whole number of seconds"},
        BadScenarioCase{"ClusterDelayLongerThanAYear",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "cluster:\n  billingLag: 9000h\n"),
                        8, "cluster.billingLag", "at most 8760h"},
        BadScenarioCase{"DriftAfterTheEnd",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "modelDrift:\n  - {after: 2h, model: m, score: \"0.5\"}\n"),
                        8, "modelDrift[0].after", "would never fire"},
        BadScenarioCase{"UnknownUnbudgetedPool",
                        ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                     "cluster:\n  unbudgetedPools: [a100, h100]\n"),
                        8, "cluster.unbudgetedPools[1]", "\"h100\" is not defined"},
        BadScenarioCase{"MissingTraceFile",
                        ScenarioYaml("x", kStart, "1h", kManifests, "../traces/gone.csv"), 6,
                        "trace", "gone.csv"}),
    [](const ::testing::TestParamInfo<BadScenarioCase>& param) { return param.param.name; });

// Bad input to the simulator (issue 10, item 7): each case fails with exactly one line, naming
// the file, the line and the field.
class ScenarioBadInput : public ::testing::Test {
 protected:
  void SetUp() override { WriteInputs(dir_); }

  // The error message of loading `yaml` as scenarios/bad.yaml, after checking it is one line.
  std::string ErrorOf(const std::string& yaml) {
    dir_.File("scenarios/bad.yaml", yaml);
    absl::StatusOr<Scenario> s = LoadScenario(path());
    EXPECT_FALSE(s.ok());
    const std::string message(s.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return message;
  }
  std::string path() { return dir_.Path("scenarios/bad.yaml"); }

  TempDir dir_;
};

TEST_F(ScenarioBadInput, AZeroDurationIsRefused) {
  EXPECT_EQ(ErrorOf(ScenarioYaml("x", kStart, "0s", kManifests, kTracePath)),
            absl::StrCat(path(), ":3: duration: must be positive"));
}

TEST_F(ScenarioBadInput, ARunOfMoreThanTenMillionTicksIsRefusedWithTheCount) {
  EXPECT_EQ(ErrorOf(absl::StrCat("name: x\nstart: ", kStart, "\nduration: 2000000h\nstep: 1s\n",
                                 "manifests: ", kManifests, "\ntrace: ", kTracePath, "\n")),
            absl::StrCat(path(),
                         ":3: duration: 2000000h at a 1s step is 7200000000 ticks; a run is at "
                         "most 10000000 ticks (duration/step): use a longer step or a shorter "
                         "duration"));
}

TEST_F(ScenarioBadInput, AYearAtOneMinuteTicksIsAllowed) {
  dir_.File("scenarios/year.yaml", ScenarioYaml("x", kStart, "8760h", kManifests, kTracePath));
  absl::StatusOr<Scenario> s = LoadScenario(dir_.Path("scenarios/year.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::Duration rest;
  EXPECT_EQ(absl::IDivDuration(s->duration, s->step, &rest), 525'600);
}

TEST_F(ScenarioBadInput, ANegativeCpuShareIsRefused) {
  EXPECT_EQ(ErrorOf(ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                 "cluster:\n  cpuPerGpu: \"-4\"\n")),
            absl::StrCat(path(),
                         ":8: cluster.cpuPerGpu: \"-4\" is out of range: want 0 to 1024 "
                         "(cores per GPU)"));
}

TEST_F(ScenarioBadInput, AMemoryShareThatWouldOverflowMoneyIsRefused) {
  EXPECT_EQ(ErrorOf(ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                 "cluster:\n  memoryPerGpu: 7Ei\n")),
            absl::StrCat(path(),
                         ":8: cluster.memoryPerGpu: \"7Ei\" is out of range: want 0 to "
                         "16Ti (bytes per GPU)"));
}

TEST_F(ScenarioBadInput, TheLargestSharesStillPriceANodeWithoutOverflow) {
  dir_.File("scenarios/max.yaml", ScenarioYaml("x", kStart, "1h", kManifests, kTracePath,
                                               "cluster:\n  cpuPerGpu: \"1024\"\n"
                                               "  memoryPerGpu: 16Ti\n"));
  absl::StatusOr<Scenario> s = LoadScenario(dir_.Path("scenarios/max.yaml"));
  ASSERT_TRUE(s.ok()) << s.status();
  absl::StatusOr<SimReport> report = Simulate(*s, {});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_THAT(report->budgets, SizeIs(1));
  EXPECT_GE(report->budgets[0].spent, 0);
}

TEST_F(ScenarioBadInput, AnUnknownPoolNamesTheManifestFileAndLine) {
  std::string budgets = kBudgets;
  budgets.replace(budgets.find("nodePools: [a100]"), 17, "nodePools: [h100]");
  dir_.File("manifests/budgets.yaml", budgets);
  EXPECT_EQ(ErrorOf(ScenarioYaml("x", kStart, "1h", kManifests, kTracePath)),
            absl::StrCat(dir_.Path("manifests/budgets.yaml"),
                         ":9: spec.nodePools[0]: ComputeBudget \"vision\" names GPUNodePool "
                         "\"h100\", which no manifest of the scenario defines (defined: "
                         "\"a100\")"));
}

TEST_F(ScenarioBadInput, AControlByteInTheInputIsEscapedInTheMessage) {
  // "\a" is a valid YAML escape: the key "dura<BEL>tion" holds a raw BEL (0x07), which
  // "unknown field" echoes.
  const std::string message =
      ErrorOf(ScenarioYaml("x", kStart, "1h", kManifests, kTracePath, "\"dura\\ation\": 2h\n"));
  EXPECT_EQ(message,
            absl::StrCat(path(), ":7: dura\\x07tion: unknown field (did you mean \"duration\"?)"));
  for (char c : message) {
    EXPECT_FALSE(static_cast<unsigned char>(c) < 0x20 || c == 0x7f) << message;
  }
}

TEST_F(ScenarioBadInput, ABadYamlEscapeShowsTheByteEscaped) {
  // A backslash followed by a raw BEL: the YAML reader names the character it cannot unescape.
  EXPECT_EQ(ErrorOf("name: \"a\\\ab\"\n"),
            absl::StrCat(path(), ":1:11: unknown escape character: \\x07"));
}

TEST_F(ScenarioBadInput, AManifestPassedAsTheScenarioIsNamedAsSuch) {
  EXPECT_EQ(ErrorOf(kBudgets),
            absl::StrCat(path(),
                         ": this is a ComputeBudget manifest, not a scenario; a scenario "
                         "lists manifests under `manifests:` (see docs/simulate.md)"));
}

TEST(ScenarioLoad, ErrorsInsideAManifestNameTheManifestFileAndLine) {
  TempDir dir;
  WriteInputs(dir);
  // Line 7 of the budget: a limit that is not a decimal string.
  std::string budgets = kBudgets;
  budgets.replace(budgets.find("amount: \"100\""), 13, "amount: \"ten\"");
  dir.File("manifests/budgets.yaml", budgets);
  dir.File("scenarios/s.yaml", ScenarioYaml("x", kStart, "1h", kManifests, kTracePath));
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("scenarios/s.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr(absl::StrCat(dir.Path("manifests/budgets.yaml"), ":7: spec.limit.amount")));
}

TEST(ScenarioLoad, ErrorsInsideTheTraceNameTheTraceFileAndLine) {
  TempDir dir;
  WriteInputs(dir);
  dir.File("traces/tiny.csv",
           "submit_time_s,duration_s,gpus,namespace,priority,model,purpose\n"
           "0,900,1,vision,0,resnet50,train\n"
           "60,abc,2,vision,5,resnet50,retrain\n");
  dir.File("scenarios/s.yaml", ScenarioYaml("x", kStart, "1h", kManifests, kTracePath));
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("scenarios/s.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr(absl::StrCat(dir.Path("traces/tiny.csv"), ":3: duration_s")));
}

TEST(ScenarioLoad, EveryMissingInputIsReportedAtOnceAsNotFound) {
  TempDir dir;
  WriteInputs(dir);
  dir.File("scenarios/s.yaml",
           ScenarioYaml("x", kStart, "1h", "[../manifests/nope.yaml, ../manifests/pools.yaml]",
                        "../traces/gone.csv"));
  const std::string path = dir.Path("scenarios/s.yaml");
  absl::StatusOr<Scenario> s = LoadScenario(path);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  const std::string message(s.status().message());
  EXPECT_THAT(message,
              HasSubstr(absl::StrCat(path, ":5: manifests[0]: \"../manifests/nope.yaml\"")));
  EXPECT_THAT(message, HasSubstr(dir.Path("manifests/nope.yaml")));  // where it looked
  EXPECT_THAT(message, HasSubstr(absl::StrCat(path, ":6: trace: \"../traces/gone.csv\"")));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("pools.yaml")));
}

TEST(ScenarioLoad, MissingScenarioFileIsNotFound) {
  TempDir dir;
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("nope.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(dir.Path("nope.yaml")));
}

TEST(ScenarioLoad, TwoDocumentsAreRejected) {
  TempDir dir;
  WriteInputs(dir);
  dir.File("scenarios/two.yaml",
           ScenarioYaml("x", kStart, "1h", kManifests, kTracePath) + "---\nname: y\n");
  absl::StatusOr<Scenario> s = LoadScenario(dir.Path("scenarios/two.yaml"));
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("exactly one YAML document, found 2"));
}

}  // namespace
}  // namespace bursar::sim
