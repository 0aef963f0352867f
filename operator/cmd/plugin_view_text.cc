#include "operator/cmd/plugin_view_text.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::cmd::view_text {

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

}  // namespace bursar::cmd::view_text
