#pragma once

// What `kubectl bursar status` and `kubectl bursar why` print, from objects already read from
// the API server: pure functions of the decoded budgets, the current time and the terminal
// width, so that tests pin the exact text without a cluster (operator/cmd/plugin.h does the
// I/O).
//
// Units: a budget with a money limit is shown in its currency; a GPU-hours-only budget shows
// status.gpuHours against spec.limit.gpuHours. Its status holds no GPU-hour forecast (the
// operator writes forecast and burnRate in money), so FORECAST there is the cost forecast.
// The bar `[#####|...   ]`: `#` is spent as a fraction of the limit, `.` the rest of the forecast
// to the period's end (money budgets), `|` the Even pacing line now (limit x elapsed fraction
// of status.period; absent with pacing None or before the first status).
// Pitfalls: `width` counts terminal columns (UTF-8 code points, e.g. the "—" of an empty cell);
// 0 means unlimited (output to a pipe), and nothing is truncated. Colour is ANSI escapes, only
// when asked for: alignment is computed on the plain text first.
// Thread-compatible: everything here is plain data and pure functions.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "operator/json/json.h"

namespace bursar::cmd {

// One item of a ComputeBudget list: decoded, or its name and why it could not be.
struct ListedBudget {
  std::string name;
  std::optional<api::ComputeBudget> budget;
  std::string decode_error;  // set when `budget` is empty
};

// A core/v1 Event about a budget, reduced to what `why` prints.
struct BudgetEvent {
  absl::Time last_seen = absl::InfinitePast();
  std::string type;  // Normal, Warning
  std::string reason;
  std::string message;
  int64_t count = 1;
};

struct ViewOptions {
  int width = 0;       // terminal columns; 0: unlimited
  bool color = false;  // ANSI colours (stdout is a TTY and NO_COLOR is unset)
};

// Reads an Event as the core/v1 API serves it: lastTimestamp, else series.lastObservedTime,
// eventTime, firstTimestamp or metadata.creationTimestamp (events.k8s.io writers leave
// lastTimestamp empty); count, else series.count, else 1.
BudgetEvent DecodeBudgetEvent(const json::Value& event);

// `kubectl bursar status`: one row per budget (in the given order), a Ready=False reason or a
// decode error on an indented line under its row; "No ComputeBudgets found." for none.
std::string RenderStatusTable(const std::vector<ListedBudget>& budgets, absl::Time now,
                              const ViewOptions& options);

// `kubectl bursar status --output json`: {"now": ..., "budgets": [...]}, one object per budget
// with the numbers as decimal strings (money keeps its exactness), times in RFC 3339.
std::string RenderStatusJson(const std::vector<ListedBudget>& budgets, absl::Time now);

// `kubectl bursar why BUDGET`: spec summary, status numbers and bar, conditions, recent actions
// (newest first) and Events (newest first), with ages relative to `now`.
std::string RenderWhy(const api::ComputeBudget& budget, const std::vector<BudgetEvent>& events,
                      absl::Time now, const ViewOptions& options);

// Helpers, exposed for tests.

// "in 2h13m", "in 45s", "in 3d4h"; "reached" when `at` <= now; "—" when there is no time.
std::string FormatExhausts(std::optional<absl::Time> at, absl::Time now);
// `[` + `inner` cells + `]` as described above; fractions are of the limit (spent may pass 1).
std::string PacingBar(double spent, std::optional<double> forecast, std::optional<double> pacing,
                      int inner);

}  // namespace bursar::cmd
