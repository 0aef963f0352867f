// bursar: the operator's binary. Commands:
//   bursar run [flags]   the operator (operator/cmd/run.h)
//   bursar report-drift --address HOST:PORT --model NAME --score 0..1   (report_drift.h)
//   bursar simulate --scenario FILE [--policy P|all] [--output table|json|csv] [--plot FILE.svg]
//                   [--jobs FILE.csv] [--decisions FILE.csv] [--order policy|fifo|length]
//   bursar trace generate [--seed N] [--jobs N] [--span DURATION] [--team NS[:W[:M1|M2]]]...
//                         [--retrain-fraction F] [--max-duration DURATION] [--out FILE]
//   bursar kubectl status|why|simulate ...   (plugin.h; also run as `kubectl-bursar`)
//   bursar version
// main only parses flags, wires the pieces and runs them; the work lives in controllers/.

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "controllers/sim/report.h"
#include "controllers/sim/scenario.h"
#include "controllers/sim/spend_chart.h"
#include "controllers/sim/spend_match.h"
#include "controllers/sim/trace_generator.h"
#include "controllers/values/duration.h"
#include "controllers/values/printable.h"
#include "controllers/values/strings.h"
#include "operator/cmd/args.h"
#include "operator/cmd/plugin.h"
#include "operator/cmd/report_drift.h"
#include "operator/cmd/run.h"
#include "operator/cmd/run_options.h"

namespace bursar::cmd {
namespace {

constexpr char kVersion[] = "0.1.0";

constexpr char kUsage[] =
    R"(bursar keeps the compute spend of ML workloads within declared budgets.

Usage:
  bursar run [--kubeconfig FILE] [--config FILE] [--tick 15s] ...   (the operator; run --help)
  bursar report-drift --address HOST:PORT --model NAME --score 0..1 [--metric psi] [--source S]
                  [--ca-file FILE] [--token-file FILE] [--server-name NAME]
  bursar simulate --scenario FILE [--policy bursar|none|static-quota|shutoff|all]
                  [--output table|json|csv] [--plot FILE.svg] [--quiet]
  bursar trace generate [--seed N] [--jobs N] [--span 720h] [--team NS[:WEIGHT[:MODEL|MODEL]]]...
                  [--retrain-fraction 0.05] [--max-duration 336h] [--out FILE]
  bursar kubectl status [--kubeconfig FILE] [--context NAME] [--output table|json]
  bursar kubectl why BUDGET [--kubeconfig FILE] [--context NAME]
  bursar kubectl simulate ...   (`kubectl bursar ...` through a kubectl-bursar symlink on PATH)
  bursar version

Every command prints its usage for --help.
)";

// `bursar simulate --help` (also `kubectl bursar simulate --help`).
constexpr char kSimulateUsage[] =
    R"(Usage:
  bursar simulate --scenario FILE [--policy bursar|none|static-quota|shutoff|all]
                  [--output table|json|csv] [--plot FILE.svg] [--jobs FILE.csv]
                  [--decisions FILE.csv] [--order policy|fifo|length] [--quiet]

Runs a scenario (the manifests users apply, a CSV trace, modelDrift events and a simulated
cluster) through the engine the operator runs, and reports per budget the limit, the spend,
whether a period went over, and the jobs that ran, were held or suspended (docs/simulate.md).

  --scenario FILE   the scenario to run (required)
  --policy P        bursar (default), none, static-quota, shutoff; all compares the four
                    and a static quota scaled to Bursar's spend: static-quota (same spend)
  --output FORMAT   table (default), json or csv
  --plot FILE.svg   also draw each budget's spend against its pacing line
  --jobs FILE.csv   also write one row per submitted Job (times, suspensions, cost) of the
                    first policy run
  --decisions FILE.csv  also write one row per budget and tick of the first policy run: its
                    rung, usage, quota, what Drain keeps, the GPUs running, idle and stopping,
                    spend so far and the engine's reason (why a Job was held or drained)
  --order ORDER     which waiting Job starts first, for every policy: policy (default: bursar
                    by priority then shorter expected work with aging, the baselines by
                    priority then submission, as a ResourceQuota or Kueue gives), fifo, length
  --quiet           no progress bar or timing lines on stderr
)";

// `bursar trace generate --help` (and `bursar trace --help`).
constexpr char kTraceGenerateUsage[] =
    R"(Usage:
  bursar trace generate [--seed N] [--jobs N] [--span 720h] [--team NS[:WEIGHT[:MODEL|MODEL]]]...
                  [--retrain-fraction 0.05] [--max-duration 336h] [--out FILE] [--quiet]

Writes a seeded synthetic job trace as CSV
(submit_time_s,duration_s,gpus,namespace,priority,model,purpose) for a scenario to replay.

  --seed N                  the random seed (default 1): the same seed gives the same trace
  --jobs N                  how many jobs (default 1000)
  --span DURATION           submissions spread over this long (default 720h)
  --team NS[:W[:M1|M2]]     a team's namespace, its share of jobs and its models; repeatable
                            (default: one team "default")
  --retrain-fraction F      share of jobs that retrain a model (default 0.05)
  --max-duration DURATION   the longest one job runs (default 336h)
  --out FILE                write there instead of stdout
  --quiet                   no summary line on stderr
)";

constexpr char kVersionUsage[] =
    R"(Usage:
  bursar version   prints the version of this binary
)";

// Every message reaches a terminal: a control byte from user input is shown as \xHH.
int Fail(const absl::Status& status) {
  std::cerr << "bursar: " << values::EscapeControlBytes(values::StdView(status.message())) << "\n";
  return 2;
}

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) {
    return absl::UnavailableError(absl::StrCat(path, ": cannot write"));
  }
  return absl::OkStatus();
}

// A one-line progress bar on stderr, only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(std::string label, bool enabled)
      : label_(std::move(label)), enabled_(enabled && isatty(STDERR_FILENO) == 1) {}
  void Update(double fraction) {
    if (!enabled_) {
      return;
    }
    int filled = static_cast<int>(fraction * 30);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.append(static_cast<size_t>(30 - filled), '.');
    std::fprintf(stderr, "\r  %s [%s] %3d%%", label_.c_str(), bar.c_str(),
                 static_cast<int>(fraction * 100));
    std::fflush(stderr);
    shown_ = true;
  }
  ~ProgressBar() {
    if (shown_) {
      std::fprintf(stderr, "\r%*s\r", static_cast<int>(label_.size() + 45), "");
    }
  }

 private:
  std::string label_;
  bool enabled_;
  bool shown_ = false;
};

int Simulate(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kSimulateUsage;
    return 0;
  }
  absl::StatusOr<Args> args = Args::Parse(
      argv, {"scenario", "policy", "output", "plot", "jobs", "decisions", "order"}, {"quiet"});
  if (!args.ok()) {
    return Fail(args.status());
  }
  std::optional<std::string> scenario_path = args->Get("scenario");
  if (!scenario_path.has_value()) {
    return Fail(absl::InvalidArgumentError("simulate needs --scenario FILE"));
  }
  std::string output = args->GetOr("output", "table");
  if (output != "table" && output != "json" && output != "csv") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--output: \"", output, "\" is not one of table, json, csv")));
  }
  std::optional<bool> order_by_length;
  if (std::string order = args->GetOr("order", "policy"); order == "fifo" || order == "length") {
    order_by_length = order == "length";
  } else if (order != "policy") {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--order: \"", order, "\" is not one of policy, fifo, length")));
  }
  std::vector<sim::Policy> policies;
  std::string policy_flag = args->GetOr("policy", "bursar");
  if (policy_flag == "all") {
    policies.assign(std::begin(sim::kAllPolicies), std::end(sim::kAllPolicies));
  } else {
    absl::StatusOr<sim::Policy> p = sim::ParsePolicy(policy_flag);
    if (!p.ok()) {
      return Fail(p.status());
    }
    policies.push_back(*p);
  }

  absl::StatusOr<sim::Scenario> scenario = sim::LoadScenario(*scenario_path);
  if (!scenario.ok()) {
    return Fail(scenario.status());
  }
  // Streamed as the first policy runs (a year of 1-minute ticks is too many rows to hold).
  std::ofstream decisions;
  const std::optional<std::string> decisions_path = args->Get("decisions");
  auto decisions_failed = [&] {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("--decisions: ", *decisions_path, ": cannot write")));
  };
  if (decisions_path.has_value()) {
    decisions.open(*decisions_path, std::ios::binary | std::ios::trunc);
    decisions << sim::kDecisionsCsvHeader;
    if (!decisions) {
      return decisions_failed();
    }
  }
  std::vector<sim::SimReport> reports;
  for (sim::Policy policy : policies) {
    ProgressBar bar(absl::StrCat("simulating ", scenario->name, " (", sim::PolicyName(policy), ")"),
                    !args->Has("quiet"));
    sim::SimOptions options;
    options.policy = policy;
    options.order_by_length = order_by_length;
    options.progress = [&bar](double f) { bar.Update(f); };
    if (decisions.is_open() && reports.empty()) {
      options.on_decision = [&decisions](const sim::DecisionTrace& d) {
        decisions << sim::FormatDecisionCsvRow(d);
      };
    }
    auto started = std::chrono::steady_clock::now();
    absl::StatusOr<sim::SimReport> report = sim::Simulate(*scenario, options);
    if (!report.ok()) {
      return Fail(report.status());
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!args->Has("quiet")) {
      std::fprintf(stderr, "simulated %s (%s): %zu jobs over %s in %.2f s\n",
                   scenario->name.c_str(), sim::PolicyName(policy), scenario->jobs.size(),
                   values::FormatDuration(scenario->duration).c_str(), seconds);
    }
    reports.push_back(*std::move(report));
  }
  if (decisions.is_open()) {
    decisions.close();
    if (!decisions) {
      return decisions_failed();
    }
  }
  std::string spend_match_note;
  if (policy_flag == "all") {
    // At equal spend, or the comparison means nothing: docs/simulate.md, "Baselines".
    auto started = std::chrono::steady_clock::now();
    sim::SimOptions options;
    options.order_by_length = order_by_length;
    absl::StatusOr<sim::SpendMatch> match =
        sim::SimulateSpendMatchedStaticQuota(*scenario, reports.front(), options);
    if (!match.ok()) {
      return Fail(match.status());
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string scales;
    for (const auto& [name, scale] : match->scales) {
      absl::StrAppend(&scales, scales.empty() ? "" : ", ", name, " ",
                      absl::StrFormat("%.4f", scale));
    }
    spend_match_note = absl::StrFormat(
        "static-quota (same spend): quota scales %s; enforced spend %.2f against bursar's %.2f "
        "(%+.2f %%%s), after %d runs",
        scales, match->spent, match->target,
        match->target > 0 ? 100.0 * (match->spent - match->target) / match->target : 0.0,
        match->matched ? "" : ", NOT within 1 %", match->runs);
    if (!args->Has("quiet")) {
      std::fprintf(stderr, "%s in %.2f s\n", spend_match_note.c_str(), seconds);
    }
    auto at = std::find_if(reports.begin(), reports.end(), [](const sim::SimReport& r) {
      return r.policy == sim::Policy::kStaticQuota;
    });
    reports.insert(at == reports.end() ? at : at + 1, std::move(match->report));
  }
  if (std::optional<std::string> jobs = args->Get("jobs")) {
    if (absl::Status written = WriteFile(*jobs, sim::FormatJobsCsv(reports.front()));
        !written.ok()) {
      return Fail(absl::InvalidArgumentError(absl::StrCat("--jobs: ", written.message())));
    }
  }

  if (std::optional<std::string> plot = args->Get("plot")) {
    std::vector<sim::SpendSeries> series;
    for (const sim::BudgetResult& b : reports.front().budgets) {
      series.push_back(b.chart);
    }
    absl::Status written =
        WriteFile(*plot, sim::RenderSpendChartSvg(
                             series, absl::StrCat(scenario->name, ": spend vs pacing (",
                                                  sim::PolicyName(reports.front().policy), ")")));
    if (!written.ok()) {
      return Fail(written);
    }
  }
  if (reports.size() > 1) {
    std::cout << (output == "json" ? sim::FormatComparisonJson(reports)
                                   : sim::FormatComparisonTable(reports));
    if (output != "json" && !spend_match_note.empty()) {
      std::cout << "\n" << spend_match_note << "\n";
    }
    return 0;
  }
  const sim::SimReport& report = reports.front();
  if (output == "json") {
    std::cout << sim::FormatReportJson(report);
  } else if (output == "csv") {
    std::cout << sim::FormatReportCsv(report);
  } else {
    std::cout << sim::FormatReportTable(report);
  }
  return 0;
}

absl::StatusOr<sim::TeamShare> ParseTeam(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, ':');
  if (parts.empty() || parts.size() > 3 || parts[0].empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--team: \"", text, "\" is not NS[:WEIGHT[:MODEL|MODEL...]]"));
  }
  sim::TeamShare team;
  team.ns = parts[0];
  if (parts.size() >= 2 && !absl::SimpleAtod(parts[1], &team.weight)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--team ", text, ": weight \"", parts[1], "\" is not a number"));
  }
  if (parts.size() == 3) {
    team.models = absl::StrSplit(parts[2], '|', absl::SkipEmpty());
  }
  return team;
}

int TraceGenerate(const std::vector<std::string>& argv) {
  if (AsksForHelp(argv)) {
    std::cout << kTraceGenerateUsage;
    return 0;
  }
  absl::StatusOr<Args> args = Args::Parse(
      argv, {"seed", "jobs", "span", "team", "retrain-fraction", "max-duration", "out"}, {"quiet"});
  if (!args.ok()) {
    return Fail(args.status());
  }
  sim::TraceGeneratorOptions options;
  auto number = [&](const char* flag, auto* out) -> absl::Status {
    if (std::optional<std::string> v = args->Get(flag)) {
      bool ok = false;
      if constexpr (std::is_same_v<std::remove_pointer_t<decltype(out)>, double>) {
        ok = absl::SimpleAtod(*v, out);
      } else {
        ok = absl::SimpleAtoi(*v, out);
      }
      if (!ok) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag, ": \"", *v, "\" is not a number"));
      }
    }
    return absl::OkStatus();
  };
  auto duration = [&](const char* flag, int64_t* out) -> absl::Status {
    if (std::optional<std::string> v = args->Get(flag)) {
      absl::StatusOr<absl::Duration> d = values::ParseDuration(*v);
      if (!d.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", d.status().message()));
      }
      *out = absl::ToInt64Seconds(*d);
    }
    return absl::OkStatus();
  };
  for (const absl::Status& s :
       {number("seed", &options.seed), number("jobs", &options.jobs),
        number("retrain-fraction", &options.retrain_fraction), duration("span", &options.span_s),
        duration("max-duration", &options.max_duration_s)}) {
    if (!s.ok()) {
      return Fail(s);
    }
  }
  for (const std::string& t : args->GetAll("team")) {
    absl::StatusOr<sim::TeamShare> team = ParseTeam(t);
    if (!team.ok()) {
      return Fail(team.status());
    }
    options.teams.push_back(*team);
  }
  if (absl::Status s = sim::ValidateTraceGeneratorOptions(options); !s.ok()) {
    return Fail(s);
  }
  sim::GeneratedTrace trace = sim::GenerateTraceWithStats(options);
  std::string csv = sim::FormatTraceCsv(trace.jobs);
  if (std::optional<std::string> out = args->Get("out")) {
    if (absl::Status s = WriteFile(*out, csv); !s.ok()) {
      return Fail(s);
    }
  } else {
    std::cout << csv;
  }
  if (!args->Has("quiet")) {
    const sim::TraceStats& s = trace.stats;
    std::fprintf(stderr,
                 "generated %lld jobs: median run %.0f s, mean run %.0f s, %.0f%% single-GPU, "
                 "max %d GPUs, %.0f GPU-hours, %.0f%% of GPU time in failed or killed jobs\n",
                 static_cast<long long>(s.jobs), s.median_duration_s, s.mean_duration_s,
                 100 * s.single_gpu_share, s.max_gpus, s.total_gpu_hours,
                 100 * s.unsuccessful_gpu_time_share);
  }
  return 0;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (argc > 0 && InvokedAsKubectlPlugin(argv[0])) {
    return KubectlPlugin(args, Simulate);
  }
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "run") {
    if (AsksForHelp(rest)) {
      std::cout << RunUsage();
      return 0;
    }
    absl::StatusOr<RunOptions> options = ParseRunOptions(rest, ProcessGetenv);
    if (!options.ok()) {
      return Fail(options.status());
    }
    return RunOperator(*options);
  }
  if (command == "report-drift") {
    if (AsksForHelp(rest)) {
      std::cout << "Usage:\n" << kReportDriftUsage;
      return 0;
    }
    return ReportDrift(rest);
  }
  if (command == "simulate") {
    return Simulate(rest);
  }
  if (command == "kubectl") {
    return KubectlPlugin(rest, Simulate);
  }
  if (command == "trace" && !rest.empty() && rest[0] == "generate") {
    return TraceGenerate(std::vector<std::string>(rest.begin() + 1, rest.end()));
  }
  if (command == "trace") {  // generate is trace's only command
    if (AsksForHelp(rest) || (!rest.empty() && rest[0] == "help")) {
      std::cout << kTraceGenerateUsage;
      return 0;
    }
    std::cerr << "bursar trace: needs the command \"generate\"\n\n" << kTraceGenerateUsage;
    return 2;
  }
  if ((command == "version" || command == "--version") && AsksForHelp(rest)) {
    std::cout << kVersionUsage;
    return 0;
  }
  if (command == "version" || command == "--version") {
    std::cout << "bursar " << kVersion << "\n";
    return 0;
  }
  std::cerr << "bursar: unknown command \"" << command << "\"\n\n" << kUsage;
  return 2;
}

}  // namespace
}  // namespace bursar::cmd

int main(int argc, char** argv) {
  return bursar::cmd::Main(argc, argv);
}
