// RenderWhy of plugin_view.h: `kubectl bursar why BUDGET`.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"
#include "controllers/values/strings.h"
#include "operator/cmd/plugin_view.h"
#include "operator/cmd/plugin_view_text.h"

namespace bursar::cmd {
namespace {

using namespace view_text;  // NOLINT(google-build-using-namespace): this file's vocabulary

// ---------------------------------------------------------------------------------------------
// Spec summaries for `why`.

std::string SelectorText(const values::LabelSelector& s) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : s.match_labels) {
    parts.push_back(absl::StrCat(k, "=", v));
  }
  for (const values::SelectorRequirement& r : s.match_expressions) {
    std::string values = absl::StrCat("(", absl::StrJoin(r.values, ","), ")");
    switch (r.op) {
      case values::SelectorOperator::kIn:
        parts.push_back(absl::StrCat(r.key, " in ", values));
        break;
      case values::SelectorOperator::kNotIn:
        parts.push_back(absl::StrCat(r.key, " notin ", values));
        break;
      case values::SelectorOperator::kExists:
        parts.push_back(r.key);
        break;
      case values::SelectorOperator::kDoesNotExist:
        parts.push_back(absl::StrCat("!", r.key));
        break;
    }
  }
  return parts.empty() ? "(everything)" : absl::StrJoin(parts, ",");
}

std::string ScopeText(const api::BudgetScope& scope) {
  std::vector<std::string> parts;
  if (!scope.namespaces.empty()) {
    parts.push_back(absl::StrCat("namespaces ", absl::StrJoin(scope.namespaces, ", ")));
  }
  if (scope.namespace_selector.has_value()) {
    parts.push_back(absl::StrCat("namespaceSelector ", SelectorText(*scope.namespace_selector)));
  }
  if (scope.pod_selector.has_value()) {
    parts.push_back(absl::StrCat("podSelector ", SelectorText(*scope.pod_selector)));
  }
  return parts.empty() ? std::string(kNone) : absl::StrJoin(parts, "; ");
}

std::string LimitText(const api::BudgetLimit& limit) {
  std::vector<std::string> parts;
  if (limit.amount.has_value()) {
    parts.push_back(absl::StrCat(FormatFixed(*limit.amount, 2), " ", limit.currency));
  }
  if (limit.gpu_hours.has_value()) {
    parts.push_back(absl::StrCat(FormatFixed(*limit.gpu_hours, 1), " GPU-h"));
  }
  return absl::StrCat(absl::StrJoin(parts, " and "), " per period");
}

std::string PeriodText(const values::PeriodSpec& p) {
  std::string type = values::PeriodTypeName(p.type);
  switch (p.type) {
    case values::PeriodType::kHourly:
    case values::PeriodType::kDaily:
      return absl::StrCat(type, ", ", p.time_zone);
    case values::PeriodType::kWeekly: {
      constexpr const char* kDays[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                       "Friday", "Saturday", "Sunday"};
      int day = std::clamp(p.start_day, 1, 7);
      return absl::StrCat(type, " from ", kDays[day - 1], ", ", p.time_zone);
    }
    case values::PeriodType::kMonthly:
      return absl::StrCat(type, " from day ", p.start_day, ", ", p.time_zone);
    case values::PeriodType::kCustom:
      return absl::StrCat(type, " every ", values::FormatDuration(p.duration), " from ",
                          api::FormatTime(p.anchor));
  }
  return type;
}

std::string ThresholdsText(const std::vector<api::Threshold>& thresholds) {
  std::vector<std::string> parts;
  parts.reserve(thresholds.size());
  for (const api::Threshold& t : thresholds) {
    parts.push_back(absl::StrCat(t.percent, "% ", api::Name(t.action)));
  }
  return parts.empty() ? std::string(kNone) : absl::StrJoin(parts, ", ");
}

std::string QuotaText(const api::QuotaSpec& q) {
  std::string resources = absl::StrJoin(q.resources, ", ");
  switch (q.mode) {
    case api::QuotaMode::kResourceQuota:
      return absl::StrCat("ResourceQuota on ", resources);
    case api::QuotaMode::kKueueClusterQueue:
      return absl::StrCat("KueueClusterQueue ", q.cluster_queue, " on ", resources);
    case api::QuotaMode::kNone:
      return "None (no quota written)";
    case api::QuotaMode::kWebhook:
      return absl::StrCat("Webhook (admission only, no quota written) on ", resources);
  }
  return "";
}

std::string DriftText(int64_t micros) {
  Money m = Money::FromMicros(micros);  // a score in millionths reads like money in micros
  std::string s = m.ToString();
  while (s.size() > 3 && s.back() == '0' && s[s.size() - 2] != '.') {
    s.pop_back();
  }
  return s;
}

std::string RetrainingText(const api::RetrainingSpec& r) {
  if (r.reserve_percent == 0) {
    return "no reserve";
  }
  return absl::StrCat(r.reserve_percent,
                      "% reserve, unlocked at modelDrift >= ", DriftText(r.drift_threshold_micros),
                      " (cooldown ", values::FormatDuration(r.cooldown), ", at most ",
                      r.max_per_period, " per period)");
}

// The retraining reserve as status published it: whom it is unlocked for (status.retraining) and
// the GPUs their retraining may hold (status.admission), or that it is locked.
std::string ReserveText(const api::ComputeBudgetStatus& st) {
  if (!st.admission.has_value() || !st.admission->reserve_gpus.has_value()) {
    return "locked (no modelDrift unlock this period)";
  }
  return absl::StrCat("unlocked for ", absl::StrJoin(api::OpenUnlocks(st), ", "),
                      ": their retraining may hold ", *st.admission->reserve_gpus,
                      " GPUs now, beside regular work");
}

// "  Key:          value" lines.
void Field(std::string* out, std::string_view key, std::string_view value) {
  constexpr int kKeyWidth = 14;
  std::string k = key.empty() ? "" : absl::StrCat(values::AbslView(key), ":");
  absl::StrAppend(out, "  ", k, std::string(static_cast<size_t>(kKeyWidth - DisplayWidth(k)), ' '),
                  values::AbslView(value), "\n");
}

}  // namespace

std::string RenderWhy(const api::ComputeBudget& b, const std::vector<BudgetEvent>& events,
                      absl::Time now, const ViewOptions& options) {
  const api::ComputeBudgetSpec& spec = b.spec;
  const api::ComputeBudgetStatus& st = b.status;
  Numbers n = NumbersOf(b, now);
  auto fit = [&](const std::string& s) {
    return options.width > 0 ? Truncate(s, options.width) : s;
  };

  std::string out =
      absl::StrCat(Paint(b.metadata.name, kBold, options.color), "  ",
                   Paint(n.phase, n.phase_color, options.color), "  (generation ",
                   b.metadata.generation, ", status of generation ", st.observed_generation, ")\n");
  if (const api::Condition* ready = FindCondition(b, "Ready")) {
    out += fit(
        absl::StrCat("  Ready=", ready->status, " ", ready->reason, ": ", OneLine(ready->message)));
    out += "\n";
  } else if (n.pending) {
    out += "  No status yet: the operator has not reconciled this budget (is it running?)\n";
  }

  out += "\nSpec\n";
  Field(&out, "Limit", LimitText(spec.limit));
  Field(&out, "Period", PeriodText(spec.period));
  Field(&out, "Pacing",
        spec.pacing.mode == api::PacingMode::kEven
            ? absl::StrCat("Even, burst ", spec.pacing.burst_percent, "%")
            : std::string("None"));
  Field(&out, "Thresholds", ThresholdsText(spec.thresholds));
  Field(&out, "Enforcement", api::Name(spec.enforcement));
  Field(&out, "Quota", QuotaText(spec.quota));
  Field(&out, "Node pools",
        spec.node_pools.empty() ? std::string(kNone) : absl::StrJoin(spec.node_pools, ", "));
  Field(&out, "Scope", ScopeText(spec.scope));
  Field(&out, "Retraining", RetrainingText(spec.retraining));
  Field(&out, "Price book", spec.price_book_ref);

  out += "\nStatus\n";
  Field(&out, "Phase", Paint(n.phase, n.phase_color, options.color));
  if (st.period.has_value()) {
    std::string ends = st.period->end > now
                           ? absl::StrCat("ends in ", ShortDuration(st.period->end - now))
                           : std::string("ended");
    Field(&out, "Period",
          absl::StrCat(api::FormatTime(st.period->start), " .. ", api::FormatTime(st.period->end),
                       " (", Percent(n.elapsed.value_or(0)), " elapsed, ", ends, ")"));
  } else {
    Field(&out, "Period", kNone);
  }
  std::string spent = absl::StrCat(FormatFixed(n.spent, n.decimals), " ", n.unit, " of ",
                                   FormatFixed(n.limit, n.decimals), " (",
                                   Percent(Fraction(n.spent, n.limit)), ")");
  if (n.pacing_target.has_value()) {
    absl::StrAppend(&spent, "; Even pacing line now ", FormatFixed(*n.pacing_target, n.decimals));
  }
  Field(&out, "Spent", spent);
  std::string bar = BarOf(n, kDefaultBarCells);
  Field(&out, "", PaintBar(bar, n.phase_color, options.color));
  std::string money = spec.limit.currency;
  Field(&out, "Burn rate", absl::StrCat(FormatFixed(st.burn_rate, 2), " ", money, "/h"));
  Field(&out, "Forecast",
        absl::StrCat(FormatFixed(st.forecast, 2), " ", money, " at the period's end",
                     n.gpu_hours_only ? " (cost; the limit is in GPU-hours)" : ""));
  Field(&out, "Remaining", absl::StrCat(FormatFixed(n.limit - n.spent, n.decimals), " ", n.unit));
  Field(&out, "Exhausts",
        st.exhausts_at.has_value() ? absl::StrCat(FormatExhausts(st.exhausts_at, now), " (",
                                                  api::FormatTime(*st.exhausts_at), ")")
                                   : std::string("— (not this period at the current burn rate)"));
  Field(&out, "GPU-hours", FormatFixed(st.gpu_hours, 1));
  Field(&out, "Allowed GPUs", absl::StrCat(st.allowed_gpus));
  if (spec.retraining.reserve_percent > 0) {
    Field(&out, "Reserve", ReserveText(st));
  }

  if (!st.jobs.empty()) {
    out += "\nJobs with their own cap (spend over their whole life)\n";
    std::vector<Row> rows = {{{"JOB"}, {"SPENT"}, {"GPU-HOURS"}, {"CAP"}, {"LAST RATE"}}};
    for (const api::JobSpend& j : st.jobs) {
      rows.push_back({{absl::StrCat(j.namespace_name, "/", j.name)},
                      {absl::StrCat(FormatFixed(values::AccrualToMoney(j.accrued), 2), " ", money)},
                      {absl::StrFormat("%.2f", static_cast<double>(j.gpu_seconds) / 3600.0)},
                      {j.cap.empty() ? std::string(kNone) : j.cap},
                      {absl::StrCat(FormatFixed(j.rate, 2), " ", money, "/h")}});
    }
    out += FormatTable(rows, 2, options);
  }

  out += "\nConditions\n";
  if (st.conditions.empty()) {
    out += "  (none)\n";
  } else {
    std::vector<Row> rows = {{{"TYPE"}, {"STATUS"}, {"REASON"}, {"AGE"}, {"MESSAGE"}}};
    for (const api::Condition& c : st.conditions) {
      const char* color = c.type == "Ready" && c.status == "False" ? kRed : nullptr;
      rows.push_back({{c.type},
                      {c.status, color},
                      {c.reason},
                      {Age(c.last_transition_time, now)},
                      {OneLine(c.message)}});
    }
    out += FormatTable(rows, 2, options);
  }

  out += "\nRecent actions (newest first)\n";
  if (st.recent_actions.empty()) {
    out += "  (none)\n";
  } else {
    std::vector<api::ActionRecord> actions = st.recent_actions;
    std::stable_sort(
        actions.begin(), actions.end(),
        [](const api::ActionRecord& a, const api::ActionRecord& c) { return a.time > c.time; });
    std::vector<Row> rows = {{{"AGE"}, {"ACTION"}, {"REASON"}, {"TARGET"}, {"MESSAGE"}}};
    for (const api::ActionRecord& a : actions) {
      rows.push_back({{Age(a.time, now)},
                      {a.dry_run ? absl::StrCat(a.action, " [dry run]") : a.action},
                      {a.reason.empty() ? std::string(kNone) : a.reason},
                      {a.target.empty() ? std::string(kNone) : a.target},
                      {OneLine(a.message)}});
    }
    out += FormatTable(rows, 2, options);
  }

  out += "\nEvents (newest first)\n";
  if (events.empty()) {
    out += "  (none; the API server keeps Events for about an hour)\n";
  } else {
    std::vector<BudgetEvent> sorted = events;
    std::stable_sort(sorted.begin(), sorted.end(), [](const BudgetEvent& a, const BudgetEvent& c) {
      return a.last_seen > c.last_seen;
    });
    std::vector<Row> rows = {{{"LAST SEEN"}, {"TYPE"}, {"REASON"}, {"COUNT"}, {"MESSAGE"}}};
    for (const BudgetEvent& e : sorted) {
      rows.push_back({{Age(e.last_seen, now)},
                      {e.type, e.type == "Warning" ? kYellow : nullptr},
                      {e.reason},
                      {absl::StrCat(e.count)},
                      {OneLine(e.message)}});
    }
    out += FormatTable(rows, 2, options);
  }
  return out;
}

}  // namespace bursar::cmd
