#include "controllers/sim/report.h"

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "operator/json/json.h"

namespace bursar::sim {
namespace {

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M", t, absl::UTCTimeZone());
}
std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}
double Cents(double v) {
  return std::round(v * 100.0) / 100.0;
}

std::string Seconds(double s) {
  return absl::FormatDuration(absl::Seconds(std::round(s)));
}

std::string GpuHours(double v) {
  return absl::StrFormat("%.1f", v);
}

// CSV: an absent value is an empty cell.
std::string Cell(const std::optional<int64_t>& v) {
  return v.has_value() ? absl::StrCat(*v) : "";
}

// A CSV field: quoted when it holds a comma, a quote or a line break.
std::string CsvField(const std::string& v) {
  if (v.find_first_of(",\"\r\n") == std::string::npos) {
    return v;
  }
  std::string out = "\"";
  for (char c : v) {
    out += c == '"' ? std::string("\"\"") : std::string(1, c);
  }
  return out + "\"";
}

std::string Amount(double v, const std::string& unit) {
  return unit == "GPU-h" ? absl::StrFormat("%.1f GPU-h", v) : absl::StrFormat("%.2f %s", v, unit);
}

// A fixed-width text table: columns right-aligned except the first.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const {
    std::vector<size_t> width(rows_.front().size(), 0);
    for (const auto& row : rows_) {
      for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
        width[i] = std::max(width[i], row[i].size());
      }
    }
    std::string out;
    for (size_t r = 0; r < rows_.size(); ++r) {
      for (size_t i = 0; i < rows_[r].size() && i < width.size(); ++i) {
        const std::string& cell = rows_[r][i];
        std::string pad(width[i] - cell.size(), ' ');
        absl::StrAppend(&out, i == 0 ? "" : "  ", i == 0 ? cell + pad : pad + cell);
      }
      out.push_back('\n');
      if (r == 0) {
        size_t total = 0;
        for (size_t w : width) {
          total += w + 2;
        }
        out.append(total - 2, '-');
        out.push_back('\n');
      }
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

void WriteBudget(json::Writer& w, const BudgetResult& b) {
  w.BeginObject();
  w.Key("name").String(b.name);
  w.Key("unit").String(b.unit);
  w.Key("enforced").Bool(b.enforced);
  w.Key("limit").Double(Cents(b.limit));
  w.Key("spent").Double(Cents(b.spent));
  w.Key("overspend").Double(Cents(b.overspend));
  w.Key("overspentPeriods").Int(b.overspent_periods);
  w.Key("gpuHours").Double(Cents(b.gpu_hours));
  w.Key("completedGpuHours").Double(Cents(b.completed_gpu_hours));
  w.Key("jobsSubmitted").Int(b.jobs_submitted);
  w.Key("jobsCompleted").Int(b.jobs_completed);
  w.Key("jobsSuspended").Int(b.jobs_suspended);
  w.Key("jobsHeld").Int(b.jobs_held);
  w.Key("gpuHoursOverspend").Double(Cents(b.gpu_hours_overspend));
  w.Key("cost").Double(Cents(b.cost));
  if (b.static_quota_scale.has_value()) {
    w.Key("staticQuotaScale").Double(*b.static_quota_scale);
  }
  w.Key("jobsUnfinished").Int(b.jobs_unfinished);
  w.Key("jobsUnschedulable").Int(b.jobs_unschedulable);
  w.Key("suspensions").Int(b.suspensions);
  w.Key("boundaryDrains").Int(b.boundary_drains);
  w.Key("jobsCapped").Int(b.jobs_capped);
  w.Key("jobsRefusedOverCap").Int(b.jobs_refused_over_cap);
  w.Key("lostGpuHours").Double(Cents(b.lost_gpu_hours));
  w.Key("meanWaitSeconds").Double(std::round(b.mean_wait_seconds));
  w.Key("meanFlowSeconds").Double(std::round(b.mean_flow_seconds));
  w.Key("meanJctSeconds").Double(std::round(b.mean_jct_seconds));
  w.Key("p95JctSeconds").Double(std::round(b.p95_jct_seconds));
  w.Key("modelDriftUnlocks").Int(b.model_drift_unlocks);
  w.Key("actions").BeginObject();
  for (const auto& [name, count] : b.actions) {
    w.Key(name).Int(count);
  }
  w.EndObject();
  w.Key("periods").BeginArray();
  for (const PeriodResult& p : b.periods) {
    w.BeginObject();
    w.Key("start").String(Rfc3339(p.start));
    w.Key("end").String(Rfc3339(p.end));
    w.Key("limit").Double(Cents(p.limit));
    w.Key("spent").Double(Cents(p.spent));
    w.Key("overspend").Double(Cents(p.overspend));
    w.Key("gpuHours").Double(Cents(p.gpu_hours));
    if (p.gpu_hours_limit.has_value()) {
      w.Key("gpuHoursLimit").Double(Cents(*p.gpu_hours_limit));
      w.Key("gpuHoursOverspend").Double(Cents(p.gpu_hours_overspend));
    }
    w.Key("overLimit").Bool(p.over_limit);
    w.Key("complete").Bool(p.complete);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

void WriteReport(json::Writer& w, const SimReport& r) {
  w.BeginObject();
  w.Key("scenario").String(r.scenario);
  w.Key("policy").String(PolicyLabel(r));
  w.Key("spendMatched").Bool(r.spend_matched);
  w.Key("start").String(Rfc3339(r.start));
  w.Key("end").String(Rfc3339(r.end));
  w.Key("jobsTotal").Int(r.jobs_total);
  w.Key("jobsUnschedulable").Int(r.jobs_unschedulable);
  w.Key("unbudgetedSpent").Double(Cents(r.unbudgeted_spent));
  w.Key("budgets").BeginArray();
  for (const BudgetResult& b : r.budgets) {
    WriteBudget(w, b);
  }
  w.EndArray();
  w.Key("pools").BeginArray();
  for (const PoolResult& p : r.pools) {
    w.BeginObject();
    w.Key("name").String(p.name);
    w.Key("peakNodes").Int(p.peak_nodes);
    w.Key("nodeHours").Double(Cents(p.node_hours));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace

std::string FormatReportJson(const SimReport& report) {
  json::Writer w;
  WriteReport(w, report);
  return w.Take() + "\n";
}

std::string FormatComparisonJson(const std::vector<SimReport>& reports) {
  json::Writer w;
  w.BeginArray();
  for (const SimReport& r : reports) {
    WriteReport(w, r);
  }
  w.EndArray();
  return w.Take() + "\n";
}

std::string FormatReportTable(const SimReport& report) {
  std::string out =
      absl::StrFormat("Scenario %s, policy %s, %s .. %s UTC, %d jobs\n\n", report.scenario,
                      PolicyLabel(report), Day(report.start), Day(report.end), report.jobs_total);
  TextTable budgets({"BUDGET", "MODE", "LIMIT/PERIOD", "SPENT", "OVERSPEND", "OVER PERIODS",
                     "GPU-H", "JOBS", "DONE", "SUSPENDED", "HELD"});
  for (const BudgetResult& b : report.budgets) {
    budgets.Add({b.name, b.enforced ? "Enforce" : "DryRun", Amount(b.limit, b.unit),
                 Amount(b.spent, b.unit), Amount(b.overspend, b.unit),
                 absl::StrFormat("%d/%d", b.overspent_periods, b.periods.size()),
                 absl::StrFormat("%.0f", b.gpu_hours), absl::StrCat(b.jobs_submitted),
                 absl::StrCat(b.jobs_completed), absl::StrCat(b.jobs_suspended),
                 absl::StrCat(b.jobs_held)});
  }
  out += budgets.Render();
  out += "\n";
  TextTable times({"BUDGET", "MEAN WAIT", "MEAN FLOW", "MEAN JCT", "P95 JCT", "UNFINISHED",
                   "SUSPENSIONS", "BOUNDARY DRAINS", "LOST GPU-H", "GPU-H OVER"});
  for (const BudgetResult& b : report.budgets) {
    times.Add({b.name, Seconds(b.mean_wait_seconds), Seconds(b.mean_flow_seconds),
               Seconds(b.mean_jct_seconds), Seconds(b.p95_jct_seconds),
               absl::StrCat(b.jobs_unfinished), absl::StrCat(b.suspensions),
               absl::StrCat(b.boundary_drains), GpuHours(b.lost_gpu_hours),
               GpuHours(b.gpu_hours_overspend)});
  }
  out += times.Render();
  for (const BudgetResult& b : report.budgets) {
    if (b.jobs_capped > 0 || b.jobs_refused_over_cap > 0) {
      absl::StrAppend(&out, b.name, ": ", b.jobs_capped, b.jobs_capped == 1 ? " Job" : " Jobs",
                      " stopped at their own max_cost, ", b.jobs_refused_over_cap,
                      " refused (their declared length passes their max_cost)\n");
    }
  }
  for (const BudgetResult& b : report.budgets) {
    if (b.periods.size() <= 1) {
      continue;
    }
    absl::StrAppend(&out, "\n", b.name, " by period:\n");
    TextTable periods({"  START", "END", "LIMIT", "SPENT", "USED", "GPU-H", "GPU-H LIMIT", "OVER"});
    for (const PeriodResult& p : b.periods) {
      periods.Add({"  " + Day(p.start), Day(p.end), Amount(p.limit, b.unit),
                   Amount(p.spent, b.unit),
                   p.limit > 0 ? absl::StrFormat("%.1f%%%s", 100.0 * p.spent / p.limit,
                                                 p.complete ? "" : " (partial)")
                               : "-",
                   GpuHours(p.gpu_hours),
                   p.gpu_hours_limit.has_value() ? GpuHours(*p.gpu_hours_limit) : "-",
                   p.over_limit ? "yes" : "no"});
    }
    out += periods.Render();
  }
  absl::StrAppend(&out, "\nUnbudgeted spend: ", absl::StrFormat("%.2f", report.unbudgeted_spent));
  if (report.jobs_unschedulable > 0) {
    absl::StrAppend(&out, "; ", report.jobs_unschedulable, " jobs could never fit a pool");
  }
  out += "\nPools:";
  for (const PoolResult& p : report.pools) {
    absl::StrAppend(&out, " ", p.name, " peak ", p.peak_nodes, " nodes, ",
                    absl::StrFormat("%.0f", p.node_hours), " node-hours;");
  }
  out += "\n";
  return out;
}

std::string FormatReportCsv(const SimReport& report) {
  std::string out =
      "policy,budget,unit,period_start,period_end,limit,spent,overspend,complete,gpu_hours,"
      "gpu_hours_limit,gpu_hours_overspend,over_limit\n";
  for (const BudgetResult& b : report.budgets) {
    for (const PeriodResult& p : b.periods) {
      absl::StrAppendFormat(
          &out, "%s,%s,%s,%s,%s,%.2f,%.2f,%.2f,%s,%.2f,%s,%s,%s\n", CsvField(PolicyLabel(report)),
          b.name, b.unit, Rfc3339(p.start), Rfc3339(p.end), p.limit, p.spent, p.overspend,
          p.complete ? "true" : "false", p.gpu_hours,
          p.gpu_hours_limit.has_value() ? absl::StrFormat("%.2f", *p.gpu_hours_limit) : "",
          p.gpu_hours_limit.has_value() ? absl::StrFormat("%.2f", p.gpu_hours_overspend) : "",
          p.over_limit ? "true" : "false");
    }
  }
  return out;
}

std::string FormatJobsCsv(const SimReport& report) {
  std::string out =
      "job,budget,namespace,priority,gpus,duration_s,submit_s,first_start_s,finish_s,state,"
      "suspensions,gpu_hours,cost\n";
  for (const JobResult& j : report.jobs) {
    absl::StrAppendFormat(&out, "%d,%s,%s,%d,%d,%d,%d,%s,%s,%s,%d,%.4f,%.4f\n", j.index,
                          CsvField(j.budget), CsvField(j.namespace_name), j.priority, j.gpus,
                          j.duration_s, j.submit_s, Cell(j.first_start_s), Cell(j.finish_s),
                          j.state, j.suspensions, j.gpu_hours, j.cost);
  }
  return out;
}

const char kDecisionsCsvHeader[] =
    "time,budget,rung,usage_percent,quota_gpus,allowed_gpus,keep_gpus,reserve_keep_gpus,"
    "running_gpus,reserve_gpus,idle_gpus,stopping_gpus,spent,gpu_hours,lookahead_s,reason\n";

std::string FormatDecisionCsvRow(const DecisionTrace& d) {
  const engine::BudgetDecision& x = d.decision;
  const engine::BudgetBurn& burn = d.step.burn;
  return absl::StrFormat(
      "%s,%s,%s,%.2f,%s,%d,%s,%s,%d,%d,%d,%d,%s,%.4f,%d,%s\n",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", d.step.now, absl::UTCTimeZone()), CsvField(d.budget),
      api::Name(x.rung), x.usage_percent, Cell(x.quota_gpus), x.allowed_gpus,
      Cell(x.keep_running_gpus), Cell(x.reserve_keep_running_gpus), burn.regular_gpus,
      burn.reserve_gpus, burn.idle_gpus, burn.stopping_gpus + burn.reserve_stopping_gpus,
      d.step.ledger->spent().ToString(), d.step.ledger->gpu_hours(),
      absl::ToInt64Seconds(engine::InputsFor(d.step).lookahead), CsvField(x.reason));
}

std::string FormatComparisonTable(const std::vector<SimReport>& reports) {
  TextTable t({"POLICY", "BUDGET", "SPENT", "OVERSPEND", "OVER PERIODS", "USEFUL GPU-H",
               "LOST GPU-H", "DONE", "UNFINISHED", "SUSPENSIONS", "BOUNDARY DRAINS", "MEAN WAIT",
               "MEAN FLOW", "MEAN JCT", "P95 JCT"});
  for (const SimReport& r : reports) {
    for (const BudgetResult& b : r.budgets) {
      t.Add({PolicyLabel(r), b.name, Amount(b.spent, b.unit), Amount(b.overspend, b.unit),
             absl::StrFormat("%d/%d", b.overspent_periods, b.periods.size()),
             absl::StrFormat("%.0f", b.completed_gpu_hours), GpuHours(b.lost_gpu_hours),
             absl::StrFormat("%d/%d", b.jobs_completed, b.jobs_submitted),
             absl::StrCat(b.jobs_unfinished), absl::StrCat(b.suspensions),
             absl::StrCat(b.boundary_drains), Seconds(b.mean_wait_seconds),
             Seconds(b.mean_flow_seconds), Seconds(b.mean_jct_seconds),
             Seconds(b.p95_jct_seconds)});
    }
  }
  return t.Render();
}

}  // namespace bursar::sim
