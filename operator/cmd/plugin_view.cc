#include "operator/cmd/plugin_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"
#include "controllers/values/money.h"
#include "controllers/values/strings.h"

namespace bursar::cmd {
namespace {

using values::Money;

constexpr char kNone[] = "—";
constexpr int kDefaultBarCells = 20;
constexpr int kMinBarCells = 10;
constexpr int kMaxBarCells = 30;
constexpr int kMinLastColumn = 12;

// ANSI SGR codes.
constexpr char kGreen[] = "32";
constexpr char kYellow[] = "33";
constexpr char kRed[] = "31";
constexpr char kBoldRed[] = "1;31";
constexpr char kDim[] = "2";
constexpr char kBold[] = "1";

std::string Paint(std::string_view text, const char* code, bool enabled) {
  if (!enabled || code == nullptr || text.empty()) {
    return std::string(text);
  }
  return absl::StrCat("\033[", code, "m", values::AbslView(text), "\033[0m");
}

// Terminal columns of UTF-8 text: one per code point (no wide characters are printed here).
int DisplayWidth(std::string_view s) {
  int n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++n;
    }
  }
  return n;
}

// At most `max` columns, the last one an ellipsis when something was cut.
std::string Truncate(std::string_view s, int max) {
  if (max <= 0 || DisplayWidth(s) <= max) {
    return std::string(s);
  }
  std::string out;
  int points = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    bool starts_point = (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
    if (starts_point && ++points > max - 1) {
      break;
    }
    out.push_back(s[i]);
  }
  return out + "…";
}

// Newlines would break a table row: keep the first line of a message and mark the rest.
std::string OneLine(std::string_view s) {
  size_t nl = s.find('\n');
  if (nl == std::string_view::npos) {
    return std::string(s);
  }
  return absl::StrCat(absl::string_view(s.data(), nl), " …");
}

// `m` rounded (half even) to `decimals` places, e.g. 2 -> "1234.50", 1 -> "812.5".
std::string FormatFixed(Money m, int decimals) {
  int64_t step = 1;
  for (int i = decimals; i < 6; ++i) {
    step *= 10;
  }
  int64_t scale = Money::kMicrosPerUnit / step;
  int64_t v = m.MulDiv(1, step).micros();
  bool negative = v < 0;
  uint64_t a = negative ? static_cast<uint64_t>(-(v + 1)) + 1 : static_cast<uint64_t>(v);
  std::string out = absl::StrCat(negative ? "-" : "", a / static_cast<uint64_t>(scale));
  if (decimals > 0) {
    std::string frac = absl::StrCat(a % static_cast<uint64_t>(scale));
    out += ".";
    out.append(static_cast<size_t>(decimals) - frac.size(), '0');
    out += frac;
  }
  return out;
}

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * fraction);
  return buf;
}

// "2h13m", "45s", "3d4h": at most two units, the larger first.
std::string ShortDuration(absl::Duration d) {
  int64_t s = absl::ToInt64Seconds(d);
  if (s < 60) {
    return absl::StrCat(s, "s");
  }
  int64_t m = s / 60;
  if (m < 60) {
    return absl::StrCat(m, "m");
  }
  int64_t h = m / 60;
  if (h < 48) {
    return m % 60 == 0 ? absl::StrCat(h, "h") : absl::StrCat(h, "h", m % 60, "m");
  }
  int64_t days = h / 24;
  return h % 24 == 0 ? absl::StrCat(days, "d") : absl::StrCat(days, "d", h % 24, "h");
}

// A kubectl-style age: "5m", "2h13m", "3d"; "—" for an unknown time, "0s" for the future.
std::string Age(absl::Time at, absl::Time now) {
  if (at == absl::InfinitePast()) {
    return kNone;
  }
  return ShortDuration(std::max(absl::ZeroDuration(), now - at));
}

const api::Condition* FindCondition(const api::ComputeBudget& b, std::string_view type) {
  for (const api::Condition& c : b.status.conditions) {
    if (c.type == type) {
      return &c;
    }
  }
  return nullptr;
}

// What the numbers of one budget mean, in its own unit.
struct Numbers {
  bool gpu_hours_only = false;
  std::string unit;  // currency, or "GPU-h"
  int decimals = 2;
  Money spent;
  Money limit;
  std::optional<double> elapsed;        // of status.period
  std::optional<Money> pacing_target;   // Even pacing only
  std::optional<double> forecast_frac;  // money budgets only
  std::string phase;                    // as displayed
  const char* phase_color = nullptr;
  const api::Condition* not_ready = nullptr;
  bool pending = false;  // no status written yet
};

const char* PhaseColor(api::BudgetPhase phase) {
  switch (phase) {
    case api::BudgetPhase::kWithinBudget:
      return kGreen;
    case api::BudgetPhase::kAtRisk:
    case api::BudgetPhase::kThrottled:
      return kYellow;
    case api::BudgetPhase::kHeld:
      return kRed;
    case api::BudgetPhase::kExhausted:
      return kBoldRed;
  }
  return nullptr;
}

Numbers NumbersOf(const api::ComputeBudget& b, absl::Time now) {
  Numbers n;
  const api::ComputeBudgetSpec& spec = b.spec;
  const api::ComputeBudgetStatus& st = b.status;
  n.gpu_hours_only = !spec.limit.amount.has_value();
  if (n.gpu_hours_only) {
    n.unit = "GPU-h";
    n.decimals = 1;
    n.spent = st.gpu_hours;
    n.limit = spec.limit.gpu_hours.value_or(Money());
  } else {
    n.unit = spec.limit.currency;
    n.spent = st.spent;
    n.limit = *spec.limit.amount;
    if (n.limit > Money()) {
      n.forecast_frac = st.forecast.ToDouble() / n.limit.ToDouble();
    }
  }
  if (st.period.has_value()) {
    n.elapsed = st.period->ElapsedFraction(now);
    if (spec.pacing.mode == api::PacingMode::kEven) {
      // limit x elapsed / length, in whole seconds and exact (a rounded fraction is not).
      const values::Period& p = *st.period;
      int64_t length = absl::ToInt64Seconds(p.length());
      int64_t elapsed = std::clamp<int64_t>(absl::ToInt64Seconds(now - p.start), 0, length);
      n.pacing_target = length > 0 ? n.limit.MulDiv(elapsed, length) : n.limit;
    }
  }
  n.pending = !st.period.has_value() && st.conditions.empty() && st.observed_generation == 0;
  const api::Condition* ready = FindCondition(b, "Ready");
  if (ready != nullptr && ready->status == "False") {
    n.not_ready = ready;
    n.phase = "NotReady";
    n.phase_color = kRed;
  } else if (n.pending) {
    n.phase = "Pending";
    n.phase_color = kDim;
  } else {
    n.phase = api::Name(st.phase);
    n.phase_color = PhaseColor(st.phase);
  }
  return n;
}

double Fraction(Money part, Money whole) {
  return whole > Money() ? part.ToDouble() / whole.ToDouble() : 0.0;
}

std::string PaintBar(const std::string& bar, const char* color, bool enabled) {
  if (!enabled) {
    return bar;
  }
  std::string out;
  size_t i = 0;
  while (i < bar.size()) {
    size_t j = i;
    while (j < bar.size() && bar[j] == bar[i]) {
      ++j;
    }
    std::string_view run(bar.data() + i, j - i);
    out += bar[i] == '#'   ? Paint(run, color, true)
           : bar[i] == '|' ? Paint(run, kBold, true)
                           : std::string(run);
    i = j;
  }
  return out;
}

std::string BarOf(const Numbers& n, int cells) {
  std::optional<double> pacing;
  if (n.pacing_target.has_value()) {
    pacing = Fraction(*n.pacing_target, n.limit);
  }
  return PacingBar(Fraction(n.spent, n.limit), n.forecast_frac, pacing, cells);
}

// ---------------------------------------------------------------------------------------------
// Tables: columns padded to their widest cell; the last one is cut to the terminal's width.

struct Cell {
  // Implicit, so that rows read as lists of texts: {{"NAME"}, {phase, kGreen}}.
  // NOLINTNEXTLINE(google-explicit-constructor)
  Cell(std::string t, const char* c = nullptr, std::string p = "")
      : text(std::move(t)), color(c), painted(std::move(p)) {}
  std::string text;
  const char* color = nullptr;
  // Pre-painted text (the bar) to print instead of painting `text`; same display width.
  std::string painted;
};
using Row = std::vector<Cell>;

constexpr int kGap = 2;

std::vector<int> ColumnWidths(const std::vector<Row>& rows) {
  std::vector<int> widths;
  for (const Row& row : rows) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], DisplayWidth(row[i].text));
    }
  }
  return widths;
}

std::string FormatRow(const Row& row, const std::vector<int>& widths, int indent,
                      const ViewOptions& o) {
  std::string line(static_cast<size_t>(indent), ' ');
  int used = indent;
  for (size_t i = 0; i < row.size(); ++i) {
    const Cell& cell = row[i];
    bool last = i + 1 == row.size();
    std::string text = cell.text;
    if (last && o.width > 0) {
      text = Truncate(text, std::max(kMinLastColumn, o.width - used));
    }
    if (o.color && !cell.painted.empty() && text == cell.text) {
      line += cell.painted;
    } else {
      line += Paint(text, cell.color, o.color);
    }
    if (!last) {
      int pad = widths[i] - DisplayWidth(text) + kGap;
      line.append(static_cast<size_t>(pad), ' ');
      used += widths[i] + kGap;
    }
  }
  while (!line.empty() && line.back() == ' ') {
    line.pop_back();
  }
  return line + "\n";
}

std::string FormatTable(const std::vector<Row>& rows, int indent, const ViewOptions& o) {
  std::vector<int> widths = ColumnWidths(rows);
  std::string out;
  for (const Row& row : rows) {
    out += FormatRow(row, widths, indent, o);
  }
  return out;
}

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

// "  Key:          value" lines.
void Field(std::string* out, std::string_view key, std::string_view value) {
  constexpr int kKeyWidth = 14;
  std::string k = key.empty() ? "" : absl::StrCat(values::AbslView(key), ":");
  absl::StrAppend(out, "  ", k, std::string(static_cast<size_t>(kKeyWidth - DisplayWidth(k)), ' '),
                  values::AbslView(value), "\n");
}

void AppendJsonMoney(json::Writer& w, std::string_view key, std::optional<Money> m) {
  w.Key(key);
  if (m.has_value()) {
    w.String(m->ToString());
  } else {
    w.Null();
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::string FormatExhausts(std::optional<absl::Time> at, absl::Time now) {
  if (!at.has_value()) {
    return kNone;
  }
  if (*at <= now) {
    return "reached";
  }
  return absl::StrCat("in ", ShortDuration(*at - now));
}

std::string PacingBar(double spent, std::optional<double> forecast, std::optional<double> pacing,
                      int inner) {
  inner = std::max(inner, 1);
  auto cells = [inner](double fraction) {
    double c = std::round(std::clamp(fraction, 0.0, 1.0) * inner);
    return static_cast<int>(c);
  };
  int filled = cells(spent);
  int projected = forecast.has_value() ? std::max(filled, cells(*forecast)) : filled;
  std::string bar(static_cast<size_t>(inner), ' ');
  for (int i = 0; i < inner; ++i) {
    bar[static_cast<size_t>(i)] = i < filled ? '#' : i < projected ? '.' : ' ';
  }
  if (pacing.has_value()) {
    // The cell the line falls in; at 100% it is the last one.
    int at = std::min(inner - 1, static_cast<int>(std::clamp(*pacing, 0.0, 1.0) * inner));
    bar[static_cast<size_t>(at)] = '|';
  }
  return absl::StrCat("[", bar, "]");
}

BudgetEvent DecodeBudgetEvent(const json::Value& event) {
  BudgetEvent out;
  auto str = [&](std::string_view path) -> std::string {
    const json::Value* v = event.FindPath(path);
    return v != nullptr && v->is_string() ? v->string_value() : "";
  };
  out.type = str("type");
  out.reason = str("reason");
  out.message = str("message");
  for (std::string_view path : {"lastTimestamp", "series.lastObservedTime", "eventTime",
                                "firstTimestamp", "metadata.creationTimestamp"}) {
    std::string text = str(path);
    if (text.empty()) {
      continue;
    }
    if (absl::StatusOr<absl::Time> t = api::ParseTime(text); t.ok()) {
      out.last_seen = *t;
      break;
    }
  }
  for (std::string_view path : {"count", "series.count"}) {
    const json::Value* v = event.FindPath(path);
    if (v != nullptr && v->is_integer() && v->int_value() > 0) {
      out.count = v->int_value();
      break;
    }
  }
  return out;
}

std::string RenderStatusTable(const std::vector<ListedBudget>& budgets, absl::Time now,
                              const ViewOptions& options) {
  if (budgets.empty()) {
    return "No ComputeBudgets found.\n";
  }
  struct Item {
    Row row;
    std::optional<Numbers> numbers;
    std::string note;  // the line under the row
    const char* note_color = kRed;
  };
  std::vector<Item> items;
  for (const ListedBudget& listed : budgets) {
    Item item;
    if (!listed.budget.has_value()) {
      item.row = {{listed.name}, {"Invalid", kRed}, {kNone}, {kNone}, {kNone}, {kNone}, {kNone}};
      item.note = absl::StrCat("cannot decode: ", OneLine(listed.decode_error));
      items.push_back(std::move(item));
      continue;
    }
    const api::ComputeBudget& b = *listed.budget;
    Numbers n = NumbersOf(b, now);
    std::string spent = absl::StrCat(FormatFixed(n.spent, n.decimals), " / ",
                                     FormatFixed(n.limit, n.decimals), " ", n.unit);
    std::string forecast =
        n.pending ? std::string(kNone)
                  : absl::StrCat(FormatFixed(b.status.forecast, 2), " ", b.spec.limit.currency);
    item.row = {{listed.name},
                {n.phase, n.phase_color},
                {n.pending ? std::string(kNone) : spent},
                {kNone},  // the bar, sized below
                {forecast},
                {FormatExhausts(b.status.exhausts_at, now)},
                {n.pending ? std::string(kNone) : absl::StrCat(b.status.allowed_gpus)}};
    if (n.not_ready != nullptr) {
      item.note =
          absl::StrCat("Ready=False ", n.not_ready->reason, ": ", OneLine(n.not_ready->message));
    } else if (n.pending) {
      item.note = "no status yet: is the operator running?";
      item.note_color = kDim;
    }
    if (!n.pending) {
      item.numbers = std::move(n);
    }
    items.push_back(std::move(item));
  }

  Row header = {{"NAME"},     {"PHASE"},    {"SPENT / LIMIT"}, {"SPEND VS PACING"},
                {"FORECAST"}, {"EXHAUSTS"}, {"GPUS"}};
  std::vector<Row> rows = {header};
  for (const Item& item : items) {
    rows.push_back(item.row);
  }
  // The bar takes what the other columns leave of the terminal, within bounds.
  std::vector<int> widths = ColumnWidths(rows);
  int cells = kDefaultBarCells;
  if (options.width > 0) {
    int others = 0;
    for (size_t i = 0; i < widths.size(); ++i) {
      others += i == 3 ? 0 : widths[i] + (i + 1 < widths.size() ? kGap : 0);
    }
    cells = std::clamp(options.width - others - kGap - 2, kMinBarCells, kMaxBarCells);
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].numbers.has_value()) {
      const Numbers& n = *items[i].numbers;
      std::string bar = BarOf(n, cells);
      rows[i + 1][3] = {bar, nullptr, PaintBar(bar, n.phase_color, options.color)};
    }
  }
  widths = ColumnWidths(rows);
  std::string out = FormatRow(rows[0], widths, 0, options);
  for (size_t i = 0; i < items.size(); ++i) {
    out += FormatRow(rows[i + 1], widths, 0, options);
    if (!items[i].note.empty()) {
      std::string note = absl::StrCat("  ", items[i].note);
      if (options.width > 0) {
        note = Truncate(note, options.width);
      }
      absl::StrAppend(&out, Paint(note, items[i].note_color, options.color), "\n");
    }
  }
  return out;
}

std::string RenderStatusJson(const std::vector<ListedBudget>& budgets, absl::Time now) {
  json::Writer w;
  w.BeginObject().Key("now").String(api::FormatTime(now)).Key("budgets").BeginArray();
  for (const ListedBudget& listed : budgets) {
    w.BeginObject().Key("name").String(listed.name);
    if (!listed.budget.has_value()) {
      w.Key("phase").String("Invalid").Key("error").String(listed.decode_error).EndObject();
      continue;
    }
    const api::ComputeBudget& b = *listed.budget;
    const api::ComputeBudgetStatus& st = b.status;
    Numbers n = NumbersOf(b, now);
    w.Key("phase").String(n.phase);
    w.Key("ready");
    if (const api::Condition* ready = FindCondition(b, "Ready")) {
      w.BeginObject()
          .Key("status")
          .String(ready->status)
          .Key("reason")
          .String(ready->reason)
          .Key("message")
          .String(ready->message)
          .EndObject();
    } else {
      w.Null();
    }
    w.Key("unit").String(n.unit).Key("currency").String(b.spec.limit.currency);
    AppendJsonMoney(w, "spent", n.spent);
    AppendJsonMoney(w, "limit", n.limit);
    AppendJsonMoney(w, "remaining", n.limit - n.spent);
    w.Key("spentFraction").Double(Fraction(n.spent, n.limit));
    w.Key("pacing").BeginObject().Key("mode").String(api::Name(b.spec.pacing.mode));
    AppendJsonMoney(w, "target", n.pacing_target);
    w.Key("elapsedFraction");
    if (n.elapsed.has_value()) {
      w.Double(*n.elapsed);
    } else {
      w.Null();
    }
    w.EndObject();
    w.Key("period");
    if (st.period.has_value()) {
      w.BeginObject()
          .Key("start")
          .String(api::FormatTime(st.period->start))
          .Key("end")
          .String(api::FormatTime(st.period->end))
          .EndObject();
    } else {
      w.Null();
    }
    // forecast and burnRate are money in status, whatever the limit's unit.
    AppendJsonMoney(w, "forecast", st.forecast);
    AppendJsonMoney(w, "burnRatePerHour", st.burn_rate);
    w.Key("exhaustsAt");
    if (st.exhausts_at.has_value()) {
      w.String(api::FormatTime(*st.exhausts_at));
    } else {
      w.Null();
    }
    w.Key("exhausts").String(FormatExhausts(st.exhausts_at, now));
    AppendJsonMoney(w, "gpuHours", st.gpu_hours);
    w.Key("allowedGPUs").Int(st.allowed_gpus);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take() + "\n";
}

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
