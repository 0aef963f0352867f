#include "controllers/sim/spend_chart.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controllers/values/strings.h"

namespace bursar::sim {
namespace {

// Layout, in SVG user units (pixels).
constexpr double kWidth = 960;
constexpr double kHeaderHeight = 72;
constexpr double kPanelHeight = 270;
constexpr double kPlotTopOffset = 30;  // panel top to plot top (room for the panel title)
constexpr double kPlotHeight = 190;
constexpr double kLeft = 84;
constexpr double kRight = 28;
constexpr double kFooter = 8;

constexpr std::string_view kSpentColor = "#1f77b4";
constexpr std::string_view kPacingColor = "#555555";
constexpr std::string_view kLimitColor = "#d62728";

using values::AbslView;

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t length = 0;
  uint32_t code = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    length = 2;
    code = c & 0x1fu;
  } else if (c >= 0xe0 && c <= 0xef) {
    length = 3;
    code = c & 0x0fu;
  } else if (c >= 0xf0 && c <= 0xf4) {
    length = 4;
    code = c & 0x07u;
  } else {
    return 0;
  }
  if (i + length > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0u) != 0x80u) {
      return 0;
    }
    code = (code << 6) | (byte(i + k) & 0x3fu);
  }
  const bool overlong = (length == 3 && code < 0x800) || (length == 4 && code < 0x10000);
  const bool surrogate = code >= 0xd800 && code <= 0xdfff;
  // U+FFFE and U+FFFF are not XML characters either.
  if (overlong || surrogate || code > 0x10ffff || code == 0xfffe || code == 0xffff) {
    return 0;
  }
  return length;
}

// Escapes text for XML character data and attribute values. Characters XML 1.0 forbids
// (most control characters, invalid UTF-8) become U+FFFD so that the document stays well-formed.
std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const char c = text[i];
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&apos;";
          break;
        default:
          if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            out += "\xEF\xBF\xBD";
          } else {
            out += c;
          }
      }
      ++i;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

// Decimal places that show every tick of a given step distinctly.
int DecimalsFor(double step) {
  if (!(step > 0)) {
    return 0;
  }
  const double exponent = std::floor(std::log10(step) + 1e-9);
  return exponent >= 0 ? 0 : static_cast<int>(-exponent);
}

// "0", "2.5", "12k", "1.5M": short tick labels, with the precision the step needs.
std::string FormatTick(double value, double step) {
  struct Scale {
    double factor;
    std::string_view suffix;
  };
  constexpr std::array<Scale, 3> kScales = {Scale{1e9, "G"}, Scale{1e6, "M"}, Scale{1e3, "k"}};
  double factor = 1;
  std::string_view suffix;
  for (const Scale& scale : kScales) {
    if (step >= scale.factor / 10 && std::abs(value) >= scale.factor) {
      factor = scale.factor;
      suffix = scale.suffix;
      break;
    }
  }
  if (std::abs(value) < step * 1e-9) {
    value = 0;  // avoid "-0"
  }
  return absl::StrCat(absl::StrFormat("%.*f", DecimalsFor(step / factor), value / factor),
                      AbslView(suffix));
}

std::string Num(double v) {
  return absl::StrFormat("%.1f", v);
}

// Maps data coordinates of one panel to SVG coordinates.
struct Frame {
  double x0, x1;                    // data range of x
  double y0, y1;                    // data range of y
  double left, top, width, height;  // plot area in SVG units

  double X(double x) const { return left + (x - x0) / (x1 - x0) * width; }
  double Y(double y) const { return top + height - (y - y0) / (y1 - y0) * height; }
};

struct Line {
  std::vector<double> t;
  std::vector<double> v;
};

// The finite points of `values` over the prefix it shares with `t`.
Line FinitePoints(const std::vector<double>& t, const std::vector<double>& values) {
  Line line;
  const size_t n = std::min(t.size(), values.size());
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(t[i]) && std::isfinite(values[i])) {
      line.t.push_back(t[i]);
      line.v.push_back(values[i]);
    }
  }
  return line;
}

Line Downsample(const Line& line) {
  if (line.v.size() <= kMaxChartPoints) {
    return line;
  }
  Line out;
  for (size_t i : DownsampleIndices(line.v, kMaxChartPoints)) {
    out.t.push_back(line.t[i]);
    out.v.push_back(line.v[i]);
  }
  return out;
}

// The points where a step line changes value (plus the first and last). Falls back to plain
// downsampling when the limit changes too often to draw every step.
Line StepCorners(const Line& line) {
  Line out;
  for (size_t i = 0; i < line.v.size(); ++i) {
    if (i == 0 || i + 1 == line.v.size() || line.v[i] != line.v[i - 1]) {
      out.t.push_back(line.t[i]);
      out.v.push_back(line.v[i]);
    }
  }
  return out.v.size() <= kMaxChartPoints ? out : Downsample(out);
}

void AppendPolyline(std::string& svg, const Frame& frame, const Line& line,
                    std::string_view css_class, std::string_view attributes) {
  if (line.t.empty()) {
    return;
  }
  absl::StrAppend(&svg, "<polyline class=\"", AbslView(css_class), "\" fill=\"none\" ",
                  AbslView(attributes), " points=\"");
  for (size_t i = 0; i < line.t.size(); ++i) {
    absl::StrAppend(&svg, i == 0 ? "" : " ", Num(frame.X(line.t[i])), ",", Num(frame.Y(line.v[i])));
  }
  svg += "\"/>\n";
}

// The limit as a step line: it holds each value until the next point.
void AppendStepPath(std::string& svg, const Frame& frame, const Line& line) {
  if (line.t.empty()) {
    return;
  }
  absl::StrAppend(&svg, "<path class=\"limit\" fill=\"none\" stroke=\"", AbslView(kLimitColor),
                  "\" stroke-width=\"1.5\" d=\"M", Num(frame.X(line.t[0])), ",",
                  Num(frame.Y(line.v[0])));
  for (size_t i = 1; i < line.t.size(); ++i) {
    absl::StrAppend(&svg, "H", Num(frame.X(line.t[i])));
    if (line.v[i] != line.v[i - 1]) {
      absl::StrAppend(&svg, "V", Num(frame.Y(line.v[i])));
    }
  }
  svg += "\"/>\n";
}

// Shades the regions where the spent line is above the limit step line. Between consecutive
// grid points the spent line is straight and the limit constant, so each interval clips exactly.
void AppendOverLimit(std::string& svg, const Frame& frame, const Line& spent, const Line& limit) {
  if (spent.t.size() < 2 || limit.t.empty()) {
    return;
  }
  const auto limit_at = [&](double t) {
    const auto it = std::upper_bound(limit.t.begin(), limit.t.end(), t);
    return it == limit.t.begin() ? limit.v.front()
                                 : limit.v[static_cast<size_t>(it - limit.t.begin() - 1)];
  };
  // Grid: the spent points plus the limit's change points inside the spent range.
  std::vector<double> grid = spent.t;
  for (size_t i = 1; i < limit.t.size(); ++i) {
    if (limit.v[i] != limit.v[i - 1] && limit.t[i] > spent.t.front() &&
        limit.t[i] < spent.t.back()) {
      grid.push_back(limit.t[i]);
    }
  }
  std::sort(grid.begin(), grid.end());
  grid.erase(std::unique(grid.begin(), grid.end()), grid.end());
  const auto spent_at = [&](double t) {
    const auto it = std::lower_bound(spent.t.begin(), spent.t.end(), t);
    if (it == spent.t.end()) {
      return spent.v.back();
    }
    const auto j = static_cast<size_t>(it - spent.t.begin());
    if (*it == t || j == 0) {
      return spent.v[j];
    }
    const double f = (t - spent.t[j - 1]) / (spent.t[j] - spent.t[j - 1]);
    return spent.v[j - 1] + f * (spent.v[j] - spent.v[j - 1]);
  };

  std::string path;
  std::vector<std::pair<double, double>> upper;
  std::vector<std::pair<double, double>> lower;
  const auto close = [&] {
    if (upper.empty()) {
      return;
    }
    absl::StrAppend(&path, "M", Num(frame.X(upper[0].first)), ",", Num(frame.Y(upper[0].second)));
    for (size_t i = 1; i < upper.size(); ++i) {
      absl::StrAppend(&path, "L", Num(frame.X(upper[i].first)), ",", Num(frame.Y(upper[i].second)));
    }
    for (size_t i = lower.size(); i > 0; --i) {
      absl::StrAppend(&path, "L", Num(frame.X(lower[i - 1].first)), ",",
                      Num(frame.Y(lower[i - 1].second)));
    }
    path += "Z";
    upper.clear();
    lower.clear();
  };
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const double a = grid[i];
    const double b = grid[i + 1];
    const double level = limit_at(a);
    const double da = spent_at(a) - level;
    const double db = spent_at(b) - level;
    if (da > 0) {
      if (upper.empty()) {
        upper.emplace_back(a, level + da);
      }
      lower.emplace_back(a, level);
      if (db > 0) {
        upper.emplace_back(b, level + db);
        lower.emplace_back(b, level);
      } else {
        const double crossing = a + (b - a) * da / (da - db);
        upper.emplace_back(crossing, level);
        close();
      }
    } else {
      close();
      if (db > 0) {
        const double crossing = a + (b - a) * da / (da - db);
        upper.emplace_back(crossing, level);
        upper.emplace_back(b, level + db);
        lower.emplace_back(crossing, level);
        lower.emplace_back(b, level);
      }
    }
  }
  close();
  if (!path.empty()) {
    absl::StrAppend(&svg, "<path class=\"over-limit\" fill=\"", AbslView(kLimitColor),
                    "\" fill-opacity=\"0.2\" stroke=\"none\" d=\"", path, "\"/>\n");
  }
}

void AppendText(std::string& svg, double x, double y, std::string_view anchor, double size,
                std::string_view text, std::string_view extra = "") {
  absl::StrAppend(&svg, "<text x=\"", Num(x), "\" y=\"", Num(y), "\" text-anchor=\"",
                  AbslView(anchor), "\" font-size=\"", Num(size), "\"", AbslView(extra), ">",
                  XmlEscape(text), "</text>\n");
}

void AppendLegend(std::string& svg, double y) {
  double x = kLeft;
  const auto sample = [&](std::string_view label, std::string_view line_attributes) {
    absl::StrAppend(&svg, "<line x1=\"", Num(x), "\" y1=\"", Num(y - 4), "\" x2=\"", Num(x + 28),
                    "\" y2=\"", Num(y - 4), "\" ", AbslView(line_attributes), "/>\n");
    AppendText(svg, x + 34, y, "start", 12, label);
    x += 130;
  };
  sample("spent", absl::StrCat("stroke=\"", AbslView(kSpentColor), "\" stroke-width=\"2\""));
  sample("pacing", absl::StrCat("stroke=\"", AbslView(kPacingColor),
                                "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\""));
  sample("limit", absl::StrCat("stroke=\"", AbslView(kLimitColor), "\" stroke-width=\"1.5\""));
  absl::StrAppend(&svg, "<rect x=\"", Num(x), "\" y=\"", Num(y - 11), "\" width=\"28\" height=\"",
                  "12\" fill=\"", AbslView(kLimitColor), "\" fill-opacity=\"0.2\"/>\n");
  AppendText(svg, x + 34, y, "start", 12, "spent over limit");
}

void AppendPanel(std::string& svg, const SpendSeries& series, double panel_top) {
  const std::string heading =
      series.unit.empty() ? series.budget : absl::StrCat(series.budget, " (", series.unit, ")");
  AppendText(svg, kLeft, panel_top + 18, "start", 14, heading, " font-weight=\"bold\"");

  const Line spent = Downsample(FinitePoints(series.t_hours, series.spent));
  const Line pacing = Downsample(FinitePoints(series.t_hours, series.pacing));
  const Line limit = FinitePoints(series.t_hours, series.limit);
  const Line limit_corners = StepCorners(limit);

  double x_lo = std::numeric_limits<double>::infinity();
  double x_hi = -x_lo;
  double y_hi = 0;
  double y_lo = 0;
  for (const Line* line : {&spent, &pacing, &limit_corners}) {
    for (size_t i = 0; i < line->t.size(); ++i) {
      x_lo = std::min(x_lo, line->t[i]);
      x_hi = std::max(x_hi, line->t[i]);
      y_lo = std::min(y_lo, line->v[i]);
      y_hi = std::max(y_hi, line->v[i]);
    }
  }
  const double plot_top = panel_top + kPlotTopOffset;
  const double plot_width = kWidth - kLeft - kRight;
  absl::StrAppend(&svg, "<rect x=\"", Num(kLeft), "\" y=\"", Num(plot_top), "\" width=\"",
                  Num(plot_width), "\" height=\"", Num(kPlotHeight),
                  "\" fill=\"#ffffff\" stroke=\"#bbbbbb\"/>\n");
  if (x_lo > x_hi) {
    AppendText(svg, kLeft + plot_width / 2, plot_top + kPlotHeight / 2, "middle", 14, "no data",
               " fill=\"#777777\"");
    return;
  }
  if (x_hi - x_lo < 1e-9) {
    x_lo -= 0.5;
    x_hi += 0.5;
  }
  if (y_hi - y_lo < 1e-12) {
    y_hi = y_lo + 1;
  }
  const std::vector<double> y_ticks = NiceTicks(y_lo, y_hi, 5);
  const Frame frame{x_lo,  x_hi,     y_ticks.front(), y_ticks.back(),
                    kLeft, plot_top, plot_width,      kPlotHeight};

  // Y grid and labels.
  const double y_step = y_ticks.size() > 1 ? y_ticks[1] - y_ticks[0] : 1;
  for (double tick : y_ticks) {
    const double y = frame.Y(tick);
    absl::StrAppend(&svg, "<line x1=\"", Num(kLeft), "\" y1=\"", Num(y), "\" x2=\"",
                    Num(kLeft + plot_width), "\" y2=\"", Num(y), "\" stroke=\"#e6e6e6\"/>\n");
    AppendText(svg, kLeft - 6, y + 4, "end", 11, FormatTick(tick, y_step));
  }
  const double y_mid = plot_top + kPlotHeight / 2;
  AppendText(svg, 18, y_mid, "middle", 12, series.unit.empty() ? "spent" : series.unit,
             absl::StrCat(" transform=\"rotate(-90 18 ", Num(y_mid), ")\""));

  // X ticks: hours for up to three days, then days.
  const bool in_days = x_hi - x_lo > 72;
  const double x_scale = in_days ? 24 : 1;
  const std::vector<double> x_ticks = NiceTicks(x_lo / x_scale, x_hi / x_scale, 8);
  const double x_step = x_ticks.size() > 1 ? x_ticks[1] - x_ticks[0] : 1;
  const double axis_y = plot_top + kPlotHeight;
  for (double tick : x_ticks) {
    const double t = tick * x_scale;
    if (t < x_lo - 1e-9 || t > x_hi + 1e-9) {
      continue;
    }
    const double x = frame.X(t);
    absl::StrAppend(&svg, "<line x1=\"", Num(x), "\" y1=\"", Num(axis_y), "\" x2=\"", Num(x),
                    "\" y2=\"", Num(axis_y + 5), "\" stroke=\"#333333\"/>\n");
    AppendText(svg, x, axis_y + 18, "middle", 11, FormatTick(tick, x_step));
  }
  AppendText(svg, kLeft + plot_width / 2, axis_y + 34, "middle", 12,
             in_days ? "days since start" : "hours since start");

  for (double start : series.period_starts_h) {
    if (!std::isfinite(start) || start < x_lo || start > x_hi) {
      continue;
    }
    const double x = frame.X(start);
    absl::StrAppend(&svg, "<line class=\"period-start\" x1=\"", Num(x), "\" y1=\"", Num(plot_top),
                    "\" x2=\"", Num(x), "\" y2=\"", Num(axis_y),
                    "\" stroke=\"#999999\" stroke-dasharray=\"2 3\"/>\n");
  }

  AppendOverLimit(svg, frame, spent, limit);
  AppendStepPath(svg, frame, limit_corners);
  AppendPolyline(svg, frame, pacing, "pacing",
                 absl::StrCat("stroke=\"", AbslView(kPacingColor),
                              "\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\""));
  AppendPolyline(svg, frame, spent, "spent",
                 absl::StrCat("stroke=\"", AbslView(kSpentColor), "\" stroke-width=\"2\""));
}

}  // namespace

std::vector<size_t> DownsampleIndices(std::span<const double> values, size_t max_points) {
  std::vector<size_t> kept;
  const size_t n = values.size();
  if (n <= max_points) {
    for (size_t i = 0; i < n; ++i) {
      if (std::isfinite(values[i])) {
        kept.push_back(i);
      }
    }
    return kept;
  }
  const size_t buckets = std::max<size_t>(1, max_points / 4);
  for (size_t b = 0; b < buckets; ++b) {
    const size_t lo = b * n / buckets;
    const size_t hi = (b + 1) * n / buckets;
    constexpr size_t kNone = std::numeric_limits<size_t>::max();
    size_t first = kNone;
    size_t last = kNone;
    size_t min_index = kNone;
    size_t max_index = kNone;
    for (size_t i = lo; i < hi; ++i) {
      if (!std::isfinite(values[i])) {
        continue;
      }
      if (first == kNone) {
        first = min_index = max_index = i;
      }
      last = i;
      if (values[i] < values[min_index]) {
        min_index = i;
      }
      if (values[i] > values[max_index]) {
        max_index = i;
      }
    }
    if (first == kNone) {
      continue;
    }
    std::array<size_t, 4> picked = {first, min_index, max_index, last};
    std::sort(picked.begin(), picked.end());
    for (size_t i = 0; i < picked.size(); ++i) {
      if (i == 0 || picked[i] != picked[i - 1]) {
        kept.push_back(picked[i]);
      }
    }
  }
  return kept;
}

std::vector<double> NiceTicks(double lo, double hi, int target_count) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) {
    return {0, 1};
  }
  if (hi < lo) {
    std::swap(lo, hi);
  }
  if (hi - lo < 1e-12 * std::max(1.0, std::abs(hi))) {
    hi = lo + 1;
  }
  const double rough = (hi - lo) / std::max(1, target_count);
  const double magnitude = std::pow(10, std::floor(std::log10(rough)));
  const double fraction = rough / magnitude;
  const double step = (fraction <= 1.5 ? 1
                       : fraction <= 3 ? 2
                       : fraction <= 7 ? 5
                                       : 10) *
                      magnitude;
  // Computing each tick as an integer multiple of the step avoids accumulating rounding error.
  const double first = std::floor(lo / step + 1e-9);
  const double last = std::ceil(hi / step - 1e-9);
  std::vector<double> ticks;
  for (double k = first; k <= last; ++k) {
    ticks.push_back(k * step);
  }
  if (ticks.size() < 2) {
    ticks.push_back(ticks.empty() ? lo : ticks.back() + step);
  }
  return ticks;
}

std::string RenderSpendChartSvg(const std::vector<SpendSeries>& series, std::string_view title) {
  const size_t panels = std::max<size_t>(1, series.size());
  const double height = kHeaderHeight + static_cast<double>(panels) * kPanelHeight + kFooter;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n";
  absl::StrAppend(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"",
                  Num(kWidth), "\" height=\"", Num(height), "\" viewBox=\"0 0 ", Num(kWidth), " ",
                  Num(height), "\" font-family=\"sans-serif\">\n");
  absl::StrAppend(&svg, "<title>", XmlEscape(title), "</title>\n");
  absl::StrAppend(&svg, "<rect width=\"100%\" height=\"100%\" fill=\"#fafafa\"/>\n");
  AppendText(svg, kLeft, 28, "start", 18, title, " font-weight=\"bold\"");
  AppendLegend(svg, 54);
  if (series.empty()) {
    AppendText(svg, kWidth / 2, kHeaderHeight + kPanelHeight / 2, "middle", 14, "no data",
               " fill=\"#777777\"");
  }
  for (size_t i = 0; i < series.size(); ++i) {
    absl::StrAppend(&svg, "<g class=\"panel\">\n");
    AppendPanel(svg, series[i], kHeaderHeight + static_cast<double>(i) * kPanelHeight);
    svg += "</g>\n";
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace bursar::sim
