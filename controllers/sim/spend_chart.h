#pragma once

// An SVG chart of what `bursar simulate` saw: one panel per budget, stacked vertically, with
// the spend within the current period (solid), the pacing line (dashed), the period's limit
// (a red step line), period boundaries (thin vertical lines) and shading where spend exceeded
// the limit. The document is self-contained SVG 1.1: no scripts, no external fonts or styles.
//
// Pitfalls: series longer than kMaxChartPoints are downsampled per line (first, last, minimum
// and maximum of each bucket, so spikes survive); non-finite values are dropped; a line whose
// length differs from t_hours is drawn over the common prefix. Elements carry class names
// ("spent", "pacing", "limit", "over-limit", "period-start") for tests and for styling.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bursar::sim {

struct SpendSeries {
  std::string budget;                   // panel title
  std::string unit;                     // "USD" or "GPU-h"
  std::vector<double> t_hours;          // x: hours since scenario start, ascending
  std::vector<double> spent;            // cumulative spend within the current period at each t
  std::vector<double> pacing;           // the pacing line (limit x elapsed fraction) at each t
  std::vector<double> limit;            // the period's limit at each t (a step line)
  std::vector<double> period_starts_h;  // vertical period boundaries
};

// The whole SVG document. An empty `series` gives a small document saying "no data".
std::string RenderSpendChartSvg(const std::vector<SpendSeries>& series, std::string_view title);

// Building blocks, public so that tests can pin them down.

inline constexpr size_t kMaxChartPoints = 2000;

// Indices of the points to keep so that at most `max_points` (>= 4) remain: all of them when
// they fit, else the first, last, smallest and largest of each of max_points / 4 buckets, in
// ascending order. Non-finite values are never picked.
std::vector<size_t> DownsampleIndices(std::span<const double> values, size_t max_points);

// Evenly spaced "nice" ticks (1, 2 or 5 x 10^k apart) covering [lo, hi] with about
// `target_count` ticks; the first tick is <= lo and the last >= hi.
std::vector<double> NiceTicks(double lo, double hi, int target_count);

}  // namespace bursar::sim
