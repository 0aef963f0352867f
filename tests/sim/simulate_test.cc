// Runs the real `bursar` binary on the bundled scenarios and asserts outcomes, not calls:
// with --policy bursar no period of an Enforce budget ends over its limit, while `none`
// overspends them; bad input fails with one clear line naming the place.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "operator/json/json.h"
#include "tests/sim/run_bursar.h"
#include "tests/unit/json_or_fail.h"

namespace {

using bursar::FieldOrFail;
using bursar::simtest::Bursar;
using bursar::simtest::Capture;
using bursar::simtest::Output;
using bursar::simtest::RunBursar;

namespace fs = std::filesystem;

std::string Source(const std::string& relative) {
  return std::string(BURSAR_SOURCE_DIR) + "/" + relative;
}

std::vector<std::string> BundledScenarios() {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(Source("examples/scenarios"))) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") {
      out.push_back(entry.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

bursar::json::Value Report(const std::string& scenario, const std::string& policy) {
  Output run =
      Bursar("simulate --quiet --output json --policy " + policy + " --scenario " + scenario);
  EXPECT_EQ(run.exit_code, 0) << scenario << " " << policy;
  absl::StatusOr<bursar::json::Value> v = bursar::json::Parse(run.out);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << run.out.substr(0, 500);
  return v.ok() ? *v : bursar::json::Value();
}

TEST(SimulateTest, ThereAreBundledScenarios) {
  EXPECT_GE(BundledScenarios().size(), 2u);
}

void ExpectEveryEnforcedPeriodWithinItsLimit(const std::string& scenario) {
  {
    bursar::json::Value report = Report(scenario, "bursar");
    const bursar::json::Value* budgets = report.Find("budgets");
    ASSERT_NE(budgets, nullptr) << scenario;
    ASSERT_FALSE(budgets->elements().empty()) << scenario;
    for (const bursar::json::Value& b : budgets->elements()) {
      std::string name = FieldOrFail(b, "name").string_value();
      ASSERT_NE(b.Find("periods"), nullptr);
      EXPECT_FALSE(FieldOrFail(b, "periods").elements().empty()) << name;
      if (!FieldOrFail(b, "enforced").bool_value()) {
        continue;
      }
      EXPECT_EQ(FieldOrFail(b, "overspentPeriods").int_value(), 0) << scenario << ": " << name;
      for (const bursar::json::Value& p : FieldOrFail(b, "periods").elements()) {
        EXPECT_LE(FieldOrFail(p, "spent").number_value(), FieldOrFail(p, "limit").number_value())
            << scenario << ": " << name << " period " << FieldOrFail(p, "start").string_value();
      }
      // Not a budget that simply did nothing: work ran and was charged.
      EXPECT_GT(FieldOrFail(b, "spent").number_value(), 0) << scenario << ": " << name;
      EXPECT_GT(FieldOrFail(b, "jobsCompleted").int_value(), 0) << scenario << ": " << name;
    }
  }
}

TEST(SimulateTest, BursarKeepsEveryEnforcedPeriodWithinItsLimit) {
  for (const std::string& scenario : BundledScenarios()) {
    ExpectEveryEnforcedPeriodWithinItsLimit(scenario);
  }
}

// A directory where copies of the bundled scenarios with a termination grace set resolve their
// manifests and traces: it links the bundled ones' folders. Removed with the object.
class GraceScenarios {
 public:
  GraceScenarios()
      : root_(fs::temp_directory_path() / ("bursar-grace-" + std::to_string(getpid()))) {
    fs::create_directories(root_ / "scenarios");
    const fs::path examples = Source("examples");
    for (const auto& entry : fs::directory_iterator(examples)) {
      if (entry.is_directory() && entry.path().filename() != "scenarios") {
        fs::create_directory_symlink(entry.path(), root_ / entry.path().filename());
      }
    }
    for (const auto& entry : fs::directory_iterator(examples / "scenarios")) {
      if (entry.is_directory()) {
        fs::create_directory_symlink(entry.path(), root_ / "scenarios" / entry.path().filename());
      }
    }
  }
  ~GraceScenarios() { fs::remove_all(root_); }

  // A copy of the bundled `scenario` with cluster.terminationGrace set to `grace`.
  std::string With(const std::string& scenario, const std::string& grace) {
    std::ifstream in(scenario);
    std::stringstream text;
    text << in.rdbuf();
    std::string yaml = text.str();
    const size_t cluster = yaml.find("\ncluster:\n");
    EXPECT_NE(cluster, std::string::npos) << scenario << ": no cluster section to set";
    if (cluster != std::string::npos) {
      yaml.insert(cluster + 10, "  terminationGrace: " + grace + "\n");
    }
    const fs::path copy =
        root_ / "scenarios" / (fs::path(scenario).stem().string() + "-" + grace + ".yaml");
    std::ofstream(copy) << yaml;
    return copy.string();
  }

 private:
  fs::path root_;
};

// The same with the termination grace of real pods: Kubernetes' default of 30 s, and 2 minutes
// (a Job that checkpoints on SIGTERM). Suspended work costs until it has stopped, and on nodes
// a budget grew until a pass removes the freed node (engine::OwnedBin, StopLagToRelease): with
// 30 s, three-teams-month's recsys ended two weeks at up to 500.26 of 500 GPU-hours before.
TEST(SimulateTest, BursarKeepsEveryEnforcedPeriodWithinItsLimitWithATerminationGrace) {
  GraceScenarios copies;
  for (const char* grace : {"30s", "2m"}) {
    for (const std::string& scenario : BundledScenarios()) {
      const std::string copy = copies.With(scenario, grace);
      SCOPED_TRACE(copy);
      ExpectEveryEnforcedPeriodWithinItsLimit(copy);
    }
  }
}

// CPU-only Jobs whose pods take 10 minutes to stop, beside GPU Jobs on 8-GPU nodes the budget
// grows one at a time: each node grown counted for the whole 11-minute lookahead, so Drain
// stopped the CPU-only Jobs it found running, which paid their grace again at every resume: no
// Job finished in the week, 10,252 suspensions, and a day at 103 %. Now a wholly idle node
// counts for a tick (a Hold removes it) and resumed work must run the lookahead of its own grace
// before reaching the Drain line: 414 of 490 Jobs finish, with 94 suspensions (0 s: 415, 18).
TEST(SimulateTest, CpuOnlyWorkWithALongGraceIsNotDrainedOverAndOver) {
  GraceScenarios copies;
  bursar::json::Value report =
      Report(copies.With(Source("examples/scenarios/stress-cpu-mixed.yaml"), "10m"), "bursar");
  const bursar::json::Value& data = FieldOrFail(report, "budgets").elements().at(0);
  EXPECT_EQ(FieldOrFail(data, "overspentPeriods").int_value(), 0);
  EXPECT_GE(FieldOrFail(data, "jobsCompleted").int_value(), 400);
  EXPECT_LE(FieldOrFail(data, "suspensions").int_value(), 200);
}

TEST(SimulateTest, WithoutEnforcementTheEnforcedBudgetsOverspend) {
  for (const std::string& scenario : BundledScenarios()) {
    if (absl::StrContains(scenario, "under-demand")) {
      continue;  // its point is demand below the limit: pacing must not slow it down
    }
    bursar::json::Value report = Report(scenario, "none");
    double overspend = 0;
    for (const bursar::json::Value& b : FieldOrFail(report, "budgets").elements()) {
      if (FieldOrFail(b, "enforced").bool_value()) {
        overspend += FieldOrFail(b, "overspend").number_value();
      }
    }
    EXPECT_GT(overspend, 0) << scenario << ": the scenario does not stress its budgets";
  }
}

TEST(SimulateTest, ReportHasTheDocumentedFields) {
  bursar::json::Value report = Report(Source("examples/scenarios/smoke-drift.yaml"), "bursar");
  EXPECT_EQ(FieldOrFail(report, "policy").string_value(), "bursar");
  for (const bursar::json::Value& b : FieldOrFail(report, "budgets").elements()) {
    for (const char* field : {"name", "limit", "spent", "overspend", "gpuHours", "jobsSubmitted",
                              "jobsCompleted", "jobsSuspended", "meanWaitSeconds", "periods"}) {
      EXPECT_NE(b.Find(field), nullptr) << field;
    }
    for (const bursar::json::Value& p : FieldOrFail(b, "periods").elements()) {
      for (const char* field : {"start", "end", "limit", "spent"}) {
        EXPECT_NE(p.Find(field), nullptr) << field;
      }
    }
  }
}

TEST(SimulateTest, ModelDriftUnlocksTheRetrainingReserve) {
  bursar::json::Value report = Report(Source("examples/scenarios/smoke-drift.yaml"), "bursar");
  int64_t unlocks = 0;
  for (const bursar::json::Value& b : FieldOrFail(report, "budgets").elements()) {
    if (FieldOrFail(b, "name").string_value() == "vision-hourly") {
      unlocks = FieldOrFail(b, "modelDriftUnlocks").int_value();
    }
  }
  EXPECT_EQ(unlocks, 1);
}

TEST(SimulateTest, IsDeterministic) {
  std::string scenario = Source("examples/scenarios/smoke-drift.yaml");
  Output a = Bursar("simulate --quiet --output json --scenario " + scenario);
  Output b = Bursar("simulate --quiet --output json --scenario " + scenario);
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
}

TEST(SimulateTest, TableCsvAndPlotOutputs) {
  std::string scenario = Source("examples/scenarios/smoke-drift.yaml");
  Output table = Bursar("simulate --quiet --scenario " + scenario);
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.out.find("vision-hourly"), std::string::npos);
  EXPECT_NE(table.out.find("OVERSPEND"), std::string::npos);
  Output csv = Bursar("simulate --quiet --output csv --scenario " + scenario);
  EXPECT_EQ(csv.out.rfind("policy,budget,unit,period_start,period_end,limit,spent,overspend,"
                          "complete,gpu_hours,gpu_hours_limit,gpu_hours_overspend,over_limit\n",
                          0),
            0u);
  fs::path svg = fs::temp_directory_path() / ("bursar-plot-" + std::to_string(getpid()) + ".svg");
  Output plot =
      Bursar("simulate --quiet --output json --scenario " + scenario + " --plot " + svg.string());
  EXPECT_EQ(plot.exit_code, 0);
  std::ifstream in(svg);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(content.find("<svg"), std::string::npos);
  EXPECT_NE(content.find("vision-hourly"), std::string::npos);
  EXPECT_NE(content.find("</svg>"), std::string::npos);
  fs::remove(svg);
}

// --jobs writes one row per submitted Job with the documented columns; the rows agree with the
// JSON report's counts, and every row's times are in order.
TEST(SimulateTest, JobsCsvHasOneRowPerSubmittedJob) {
  std::string scenario = Source("examples/scenarios/smoke-drift.yaml");
  fs::path csv = fs::temp_directory_path() / ("bursar-jobs-" + std::to_string(getpid()) + ".csv");
  Output run =
      Bursar("simulate --quiet --output json --scenario " + scenario + " --jobs " + csv.string());
  ASSERT_EQ(run.exit_code, 0) << run.out.substr(0, 500);
  absl::StatusOr<bursar::json::Value> report = bursar::json::Parse(run.out);
  ASSERT_TRUE(report.ok()) << report.status();
  std::ifstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line,
            "job,budget,namespace,priority,gpus,duration_s,submit_s,first_start_s,finish_s,state,"
            "suspensions,gpu_hours,cost");
  std::map<std::string, int64_t> submitted;
  std::map<std::string, int64_t> finished;
  std::map<std::string, int64_t> suspensions;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) {
      f.push_back(cell);
    }
    if (!line.empty() && line.back() == ',') {
      f.emplace_back();
    }
    ASSERT_EQ(f.size(), 13u) << line;
    ++submitted[f[1]];
    suspensions[f[1]] += std::stoll(f[10]);
    const int64_t submit = std::stoll(f[6]);
    if (!f[7].empty()) {
      EXPECT_GE(std::stoll(f[7]), submit) << line;
    }
    if (!f[8].empty()) {
      ++finished[f[1]];
      ASSERT_FALSE(f[7].empty()) << line;
      EXPECT_GE(std::stoll(f[8]), std::stoll(f[7]) + std::stoll(f[5])) << line;
      EXPECT_EQ(f[9], "finished") << line;
    }
  }
  fs::remove(csv);
  for (const bursar::json::Value& b : FieldOrFail(*report, "budgets").elements()) {
    std::string name = FieldOrFail(b, "name").string_value();
    EXPECT_EQ(submitted[name], FieldOrFail(b, "jobsSubmitted").int_value()) << name;
    EXPECT_EQ(finished[name], FieldOrFail(b, "jobsCompleted").int_value()) << name;
    EXPECT_EQ(suspensions[name], FieldOrFail(b, "suspensions").int_value()) << name;
  }
}

// The cells of one CSV row (quoted cells may hold commas and doubled quotes).
std::vector<std::string> CsvCells(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      cells.back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  return cells;
}

// --decisions writes one row per budget and tick with the documented columns: every budget of
// the scenario at every tick, in time order, and the DryRun budget that overspends reaches Drain
// there (as its report's actions say) with what it would keep.
TEST(SimulateTest, DecisionsCsvHasOneRowPerBudgetAndTick) {
  std::string scenario = Source("examples/scenarios/smoke-drift.yaml");
  fs::path csv =
      fs::temp_directory_path() / ("bursar-decisions-" + std::to_string(getpid()) + ".csv");
  Output run = Bursar("simulate --quiet --output json --scenario " + scenario + " --decisions " +
                      csv.string());
  ASSERT_EQ(run.exit_code, 0) << run.out.substr(0, 500);
  std::ifstream in(csv);
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_EQ(line,
            "time,budget,rung,usage_percent,quota_gpus,allowed_gpus,keep_gpus,reserve_keep_gpus,"
            "running_gpus,reserve_gpus,idle_gpus,stopping_gpus,spent,gpu_hours,lookahead_s,reason");
  std::map<std::string, int64_t> rows;
  std::map<std::string, int64_t> drains;
  std::string last_time;
  while (std::getline(in, line)) {
    std::vector<std::string> f = CsvCells(line);
    ASSERT_EQ(f.size(), 16u) << line;
    EXPECT_GE(f[0], last_time) << line;  // RFC 3339 UTC: text order is time order
    last_time = f[0];
    ++rows[f[1]];
    if (f[2] == "Drain") {
      ++drains[f[1]];
      EXPECT_FALSE(f[6].empty()) << "Drain without what it keeps: " << line;
    }
    EXPECT_FALSE(f[15].empty()) << line;
  }
  fs::remove(csv);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows["vision-hourly"], rows["nlp-dryrun"]);
  EXPECT_GE(rows["vision-hourly"], 240);  // 2 hours of 30 s ticks
  EXPECT_GT(drains["nlp-dryrun"], 0);
}

TEST(SimulateTest, JobsOrDecisionsCsvToAnUnwritablePathNamesTheFlag) {
  for (const char* flag : {"--jobs", "--decisions"}) {
    Output run =
        RunBursar("simulate --quiet --scenario " + Source("examples/scenarios/smoke-drift.yaml") +
                      " " + flag + " /nonexistent-dir/out.csv",
                  Capture::kStderr);
    EXPECT_EQ(run.exit_code, 2) << flag;
    EXPECT_NE(run.out.find(flag), std::string::npos) << run.out;
  }
}

// Bursar admits less expected work first (docs/concepts.md, "Admission order"): on the evening
// burst, where three Jobs in four declare a length, that lowers the mean time in the system
// against the same engine admitting in submission order, at the same limit.
TEST(SimulateTest, AdmittingLessWorkFirstLowersMeanFlow) {
  const std::string scenario = Source("examples/scenarios/stress-end-of-day-burst.yaml");
  auto flow = [&](const std::string& order) {
    bursar::json::Value report = Report(scenario + " --order " + order, "bursar");
    const bursar::json::Value& budget = FieldOrFail(report, "budgets").elements().at(0);
    EXPECT_EQ(FieldOrFail(budget, "overspentPeriods").int_value(), 0) << order;
    return FieldOrFail(budget, "meanFlowSeconds").number_value();
  };
  const double by_length = flow("length");
  const double fifo = flow("fifo");
  EXPECT_LT(by_length, 0.9 * fifo) << by_length << " vs " << fifo;
  EXPECT_EQ(by_length, flow("policy"));  // Bursar's own order
}

TEST(SimulateTest, ComparesAllPolicies) {
  Output run = Bursar("simulate --quiet --policy all --scenario " +
                      Source("examples/scenarios/smoke-drift.yaml"));
  EXPECT_EQ(run.exit_code, 0);
  for (const char* policy :
       {"bursar", "none", "static-quota", "static-quota (same spend)", "shutoff"}) {
    EXPECT_NE(run.out.find(policy), std::string::npos) << policy;
  }
}

// Bad input: one clear line naming the file, line or field, and a non-zero exit.
TEST(SimulateTest, BadInputFailsWithOneClearLine) {
  struct Case {
    std::string args;
    std::string expect;
  };
  const std::string data = Source("tests/sim/testdata/");
  const std::vector<Case> cases = {
      {"simulate --scenario /nonexistent/scenario.yaml", "/nonexistent/scenario.yaml"},
      {"simulate", "--scenario"},
      {"simulate --scenario " + data + "bad-trace.yaml --policy nope", "--policy"},
      {"simulate --scenario " + data + "bad-trace.yaml", "bad-trace.csv:3"},
      {"simulate --scenario " + data + "bad-budget.yaml", "spec.limit.amount"},
      {"simulate --scenario " + data + "bad-budget.yaml", "bad-budget-manifest.yaml:"},
      {"simulate --scenario " + data + "bad-scenario.yaml", "bad-scenario.yaml:"},
      {"simulate --scenario " + data + "bad-scenario.yaml", "duration"},
      {"simulate --scenario " + data + "unknown-pool.yaml", "nodePools"},
      {"simulate --scenario " + data + "currency-mismatch.yaml", "spec.limit.currency"},
      {"simulate --scenario " + Source("examples/scenarios/smoke-drift.yaml") + " --output xml",
       "--output"},
      {"simulate --scenario " + Source("examples/scenarios/smoke-drift.yaml") + " --order sjf",
       "--order: \"sjf\" is not one of policy, fifo, length"},
      {"trace generate --jobs many", "--jobs"},
      {"frobnicate", "unknown command"},
  };
  for (const Case& c : cases) {
    Output run = Bursar(c.args, /*merge_stderr=*/true);
    EXPECT_NE(run.exit_code, 0) << c.args;
    EXPECT_NE(run.out.find(c.expect), std::string::npos) << c.args << "\n" << run.out;
    EXPECT_EQ(run.out.find("terminate called"), std::string::npos) << c.args;
  }
}

// Bad input to the simulator (issue 10, item 7): exit status 2 and exactly one line on stderr,
// naming the file (and line) at fault; nothing on stdout.
TEST(SimulateTest, BadScenarioValuesExitTwoWithOneLineOnStderr) {
  struct Case {
    std::string scenario;
    std::string expect;  // the start of the stderr line after "bursar: "
  };
  const std::string data = Source("tests/sim/testdata/");
  const std::vector<Case> cases = {
      {data + "zero-duration.yaml", data + "zero-duration.yaml:3: duration: must be positive"},
      {data + "too-many-ticks.yaml",
       data + "too-many-ticks.yaml:3: duration: 2000000h at a 1s step is 7200000000 ticks"},
      {data + "huge-memory.yaml", data + "huge-memory.yaml:8: cluster.memoryPerGpu: \"7Ei\""},
      {data + "unknown-pool.yaml",
       data + "unknown-pool-budget.yaml:12: spec.nodePools[0]: ComputeBudget \"lost\""},
      {data + "unknown-pool-budget.yaml",
       data + "unknown-pool-budget.yaml: this is a ComputeBudget manifest, not a scenario"},
  };
  for (const Case& c : cases) {
    Output run = RunBursar("simulate --quiet --scenario " + c.scenario, Capture::kStderr);
    EXPECT_EQ(run.exit_code, 2) << c.scenario << "\n" << run.out;
    EXPECT_EQ(std::count(run.out.begin(), run.out.end(), '\n'), 1) << run.out;
    EXPECT_EQ(run.out.rfind("bursar: " + c.expect, 0), 0u) << run.out;
  }
}

TEST(SimulateTest, TraceGenerateIsSeededAndParsesBack) {
  Output a = Bursar(
      "trace generate --quiet --seed 7 --jobs 200 --span 48h --team vision:2:resnet50 --team nlp");
  Output b = Bursar(
      "trace generate --quiet --seed 7 --jobs 200 --span 48h --team vision:2:resnet50 --team nlp");
  Output c = Bursar(
      "trace generate --quiet --seed 8 --jobs 200 --span 48h --team vision:2:resnet50 --team nlp");
  EXPECT_EQ(a.exit_code, 0);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  EXPECT_EQ(a.out.rfind("submit_time_s,duration_s,gpus,namespace,priority,model,purpose\n", 0), 0u);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 201);
}

}  // namespace
