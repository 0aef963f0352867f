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
#include "operator/cmd/plugin_view_text.h"

namespace bursar::cmd {
namespace {

using values::Money;
using namespace view_text;  // NOLINT(google-build-using-namespace): this file's vocabulary

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

}  // namespace bursar::cmd
