#pragma once

// The text building blocks of plugin_view.cc (`status`) and plugin_why.cc (`why`): ANSI
// colours, display widths, number and time formats, a budget's numbers and bar, and tables.
// Internal to operator/cmd; plugin_view.h is the interface.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/values/money.h"
#include "operator/cmd/plugin_view.h"

namespace bursar::cmd::view_text {

using values::Money;

inline constexpr char kNone[] = "—";
inline constexpr int kDefaultBarCells = 20;
inline constexpr int kMinBarCells = 10;
inline constexpr int kMaxBarCells = 30;
inline constexpr int kMinLastColumn = 12;

// ANSI SGR codes.
inline constexpr char kGreen[] = "32";
inline constexpr char kYellow[] = "33";
inline constexpr char kRed[] = "31";
inline constexpr char kBoldRed[] = "1;31";
inline constexpr char kDim[] = "2";
inline constexpr char kBold[] = "1";

std::string Paint(std::string_view text, const char* code, bool enabled);

// Terminal columns of UTF-8 text: one per code point (no wide characters are printed here).
int DisplayWidth(std::string_view s);

// At most `max` columns, the last one an ellipsis when something was cut.
std::string Truncate(std::string_view s, int max);

// Newlines would break a table row: keep the first line of a message and mark the rest.
std::string OneLine(std::string_view s);

// `m` rounded (half even) to `decimals` places, e.g. 2 -> "1234.50", 1 -> "812.5".
std::string FormatFixed(Money m, int decimals);

std::string Percent(double fraction);

// "2h13m", "45s", "3d4h": at most two units, the larger first.
std::string ShortDuration(absl::Duration d);

// A kubectl-style age: "5m", "2h13m", "3d"; "—" for an unknown time, "0s" for the future.
std::string Age(absl::Time at, absl::Time now);

const api::Condition* FindCondition(const api::ComputeBudget& b, std::string_view type);

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

const char* PhaseColor(api::BudgetPhase phase);

Numbers NumbersOf(const api::ComputeBudget& b, absl::Time now);

double Fraction(Money part, Money whole);

std::string PaintBar(const std::string& bar, const char* color, bool enabled);

std::string BarOf(const Numbers& n, int cells);

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

inline constexpr int kGap = 2;

std::vector<int> ColumnWidths(const std::vector<Row>& rows);

std::string FormatRow(const Row& row, const std::vector<int>& widths, int indent,
                      const ViewOptions& o);

std::string FormatTable(const std::vector<Row>& rows, int indent, const ViewOptions& o);

}  // namespace bursar::cmd::view_text
