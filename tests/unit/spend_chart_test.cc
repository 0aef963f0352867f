#include "controllers/sim/spend_chart.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace bursar::sim {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IsNameChar(char c) {
  return IsNameStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Checks that every '&' starts one of XML's five entities or a character reference, and that no
// raw '<' appears. Returns an error description, empty when fine.
std::string CheckCharacterData(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '<') {
      return "raw '<' in character data";
    }
    if (text[i] != '&') {
      continue;
    }
    const size_t semicolon = text.find(';', i);
    if (semicolon == std::string_view::npos) {
      return "unterminated entity";
    }
    const std::string_view entity = text.substr(i + 1, semicolon - i - 1);
    static const std::set<std::string_view> kEntities = {"amp", "lt", "gt", "quot", "apos"};
    const bool numeric =
        entity.size() > 1 && entity[0] == '#' &&
        std::all_of(entity.begin() + 1, entity.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!kEntities.contains(entity) && !numeric) {
      return "unknown entity &" + std::string(entity) + ";";
    }
    i = semicolon;
  }
  return "";
}

// A minimal well-formedness check: one root element, balanced and properly nested tags, quoted
// and unique attributes, valid entities, comments and processing instructions closed.
std::string CheckWellFormedXml(std::string_view doc) {
  std::vector<std::string_view> open;
  int roots = 0;
  size_t pos = 0;
  while (pos < doc.size()) {
    const size_t lt = doc.find('<', pos);
    const std::string_view text =
        doc.substr(pos, lt == std::string_view::npos ? doc.size() - pos : lt - pos);
    if (open.empty() && !std::all_of(text.begin(), text.end(), IsSpace)) {
      return "text outside the root element";
    }
    if (std::string error = CheckCharacterData(text); !error.empty()) {
      return error;
    }
    if (lt == std::string_view::npos) {
      break;
    }
    pos = lt;
    if (doc.substr(pos).starts_with("<?")) {
      const size_t end = doc.find("?>", pos);
      if (end == std::string_view::npos || !open.empty() || roots > 0) {
        return "bad processing instruction";
      }
      pos = end + 2;
      continue;
    }
    if (doc.substr(pos).starts_with("<!--")) {
      const size_t end = doc.find("-->", pos);
      if (end == std::string_view::npos) {
        return "unterminated comment";
      }
      pos = end + 3;
      continue;
    }
    const bool closing = doc.substr(pos).starts_with("</");
    pos += closing ? 2 : 1;
    const size_t name_start = pos;
    if (pos >= doc.size() || !IsNameStart(doc[pos])) {
      return "bad tag name";
    }
    while (pos < doc.size() && IsNameChar(doc[pos])) {
      ++pos;
    }
    const std::string_view name = doc.substr(name_start, pos - name_start);
    if (closing) {
      while (pos < doc.size() && IsSpace(doc[pos])) {
        ++pos;
      }
      if (pos >= doc.size() || doc[pos] != '>') {
        return "bad closing tag";
      }
      ++pos;
      if (open.empty() || open.back() != name) {
        return "mismatched </" + std::string(name) + ">";
      }
      open.pop_back();
      continue;
    }
    std::set<std::string_view> attributes;
    for (;;) {
      const size_t before_space = pos;
      while (pos < doc.size() && IsSpace(doc[pos])) {
        ++pos;
      }
      if (pos >= doc.size()) {
        return "unterminated tag";
      }
      if (doc.substr(pos).starts_with("/>") || doc[pos] == '>') {
        break;
      }
      if (pos == before_space || !IsNameStart(doc[pos])) {
        return "bad attribute in <" + std::string(name) + ">";
      }
      const size_t attribute_start = pos;
      while (pos < doc.size() && IsNameChar(doc[pos])) {
        ++pos;
      }
      const std::string_view attribute = doc.substr(attribute_start, pos - attribute_start);
      if (!attributes.insert(attribute).second) {
        return "duplicate attribute " + std::string(attribute);
      }
      if (pos + 1 >= doc.size() || doc[pos] != '=' ||
          (doc[pos + 1] != '"' && doc[pos + 1] != '\'')) {
        return "unquoted attribute " + std::string(attribute);
      }
      const char quote = doc[pos + 1];
      const size_t value_end = doc.find(quote, pos + 2);
      if (value_end == std::string_view::npos) {
        return "unterminated attribute value";
      }
      if (std::string error = CheckCharacterData(doc.substr(pos + 2, value_end - pos - 2));
          !error.empty()) {
        return error;
      }
      pos = value_end + 1;
    }
    const bool self_closing = doc[pos] == '/';
    pos += self_closing ? 2 : 1;
    if (open.empty()) {
      ++roots;
      if (roots > 1) {
        return "more than one root element";
      }
    }
    if (!self_closing) {
      open.push_back(name);
    }
  }
  if (!open.empty()) {
    return "unclosed <" + std::string(open.back()) + ">";
  }
  return roots == 1 ? "" : "no root element";
}

TEST(SpendChartXmlCheckerTest, CatchesMalformedDocuments) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<a><b/></a>", ""},
      {"<?xml version=\"1.0\"?>\n<a x=\"1\" y='2'>t &amp; &#38; u</a>\n", ""},
      {"<a><b></a>", "mismatched </a>"},
      {"<a>", "unclosed <a>"},
      {"<a></a><b/>", "more than one root element"},
      {"<a>x < y</a>", "bad tag name"},
      {"<a>AT&T</a>", "unterminated entity"},
      {"<a>&nbsp;</a>", "unknown entity &nbsp;"},
      {"<a x=1/>", "unquoted attribute x"},
      {"<a x=\"1\" x=\"2\"/>", "duplicate attribute x"},
      {"<a x=\"<\"/>", "raw '<' in character data"},
      {"text<a/>", "text outside the root element"},
      {"", "no root element"},
  };
  for (const auto& [doc, want] : cases) {
    EXPECT_EQ(CheckWellFormedXml(doc), want) << doc;
  }
}

size_t Count(std::string_view haystack, std::string_view needle) {
  size_t count = 0;
  for (size_t pos = haystack.find(needle); pos != std::string_view::npos;
       pos = haystack.find(needle, pos + needle.size())) {
    ++count;
  }
  return count;
}

// The number of points of the polyline with the given class.
size_t PolylinePoints(const std::string& svg, std::string_view css_class) {
  const size_t element = svg.find("<polyline class=\"" + std::string(css_class) + "\"");
  if (element == std::string::npos) {
    return 0;
  }
  const size_t start = svg.find("points=\"", element) + 8;
  const size_t end = svg.find('"', start);
  return Count(std::string_view(svg).substr(start, end - start), " ") + 1;
}

// A monthly budget over `days` days sampled every `step_h` hours, spending `rate` per hour.
SpendSeries MonthlyBudget(std::string name, double days, double step_h, double rate, double limit) {
  SpendSeries series;
  series.budget = std::move(name);
  series.unit = "USD";
  const double period_h = 30 * 24;
  for (double t = 0; t <= days * 24; t += step_h) {
    const double period_start = std::floor(t / period_h) * period_h;
    series.t_hours.push_back(t);
    series.spent.push_back((t - period_start) * rate);
    series.pacing.push_back(limit * (t - period_start) / period_h);
    series.limit.push_back(limit);
  }
  for (double start = 0; start <= days * 24; start += period_h) {
    series.period_starts_h.push_back(start);
  }
  return series;
}

TEST(SpendChartTest, RendersWellFormedSvg) {
  const std::string svg = RenderSpendChartSvg(
      {MonthlyBudget("team-a", 60, 1, 10, 8000), MonthlyBudget("team-b", 60, 1, 2, 8000)},
      "Spend vs pacing");
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  EXPECT_THAT(svg, HasSubstr("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\""));
  EXPECT_EQ(Count(svg, "<g class=\"panel\">"), 2u);
  EXPECT_EQ(Count(svg, "class=\"spent\""), 2u);
  EXPECT_EQ(Count(svg, "class=\"pacing\""), 2u);
  EXPECT_EQ(Count(svg, "class=\"limit\""), 2u);
  EXPECT_THAT(svg, HasSubstr("stroke-dasharray=\"6 4\""));  // pacing is dashed
  EXPECT_THAT(svg, HasSubstr("team-a (USD)"));
  EXPECT_THAT(svg, HasSubstr(">days since start<"));
  EXPECT_EQ(Count(svg, "class=\"period-start\""), 6u);  // t = 0, 30 and 60 days, per panel
  // team-a spends 7200/720 h x 10 = 7200 per period: never over its 8000 limit.
  // team-b spends less still. Neither panel is shaded.
  EXPECT_THAT(svg, Not(HasSubstr("class=\"over-limit\"")));
  // Self-contained: no scripts, no external references.
  EXPECT_THAT(svg, Not(HasSubstr("<script")));
  EXPECT_THAT(svg, Not(HasSubstr("href")));
  EXPECT_THAT(svg, Not(HasSubstr("@import")));
}

TEST(SpendChartTest, ShadesOnlyWhereSpentExceedsLimit) {
  SpendSeries series = MonthlyBudget("over", 60, 1, 20, 8000);  // crosses 8000 at 400 h
  const std::string svg = RenderSpendChartSvg({series}, "over");
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  ASSERT_EQ(Count(svg, "class=\"over-limit\""), 1u);
  // One shaded region per period (both periods overspend).
  const size_t start = svg.find("class=\"over-limit\"");
  const size_t d = svg.find(" d=\"", start);
  const std::string path = svg.substr(d, svg.find("\"/>", d) - d);
  EXPECT_EQ(Count(path, "M"), 2u);
  EXPECT_EQ(Count(path, "Z"), 2u);

  // The same spend against a higher limit is never over.
  for (double& limit : series.limit) {
    limit = 1e6;
  }
  EXPECT_THAT(RenderSpendChartSvg({series}, "under"), Not(HasSubstr("class=\"over-limit\"")));
}

TEST(SpendChartTest, LimitIsAStepLine) {
  SpendSeries series;
  series.budget = "steps";
  series.unit = "GPU-h";
  series.t_hours = {0, 1, 2, 3, 4};
  series.spent = {0, 1, 2, 3, 4};
  series.pacing = {0, 1, 2, 3, 4};
  series.limit = {10, 10, 20, 20, 5};
  const std::string svg = RenderSpendChartSvg({series}, "steps");
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  const size_t start = svg.find("class=\"limit\"");
  ASSERT_NE(start, std::string::npos);
  const size_t d = svg.find(" d=\"", start);
  const std::string path = svg.substr(d, svg.find("\"/>", d) - d);
  EXPECT_EQ(Count(path, "V"), 2u);  // two changes of limit
  EXPECT_THAT(svg, HasSubstr(">hours since start<"));
  EXPECT_THAT(svg, HasSubstr("steps (GPU-h)"));
}

TEST(SpendChartTest, EscapesText) {
  SpendSeries series = MonthlyBudget("a<b & \"c\" 'd'>", 1, 1, 1, 10);
  series.unit = "US$ & <co>";
  const std::string svg =
      RenderSpendChartSvg({series}, std::string("R&D <budget> \x01 caf\xC3\xA9 bad\xFF"));
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  EXPECT_THAT(svg,
              HasSubstr("a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt; (US$ &amp; &lt;co&gt;)"));
  // Control characters and invalid UTF-8 are replaced; valid UTF-8 is kept.
  EXPECT_THAT(svg, HasSubstr("R&amp;D &lt;budget&gt; \xEF\xBF\xBD caf\xC3\xA9 bad\xEF\xBF\xBD"));
  EXPECT_THAT(svg, Not(HasSubstr("\x01")));
}

TEST(SpendChartTest, YearAtMinuteResolutionStaysSmall) {
  SpendSeries series = MonthlyBudget("year", 365, 1.0 / 60, 5, 4000);
  ASSERT_GT(series.t_hours.size(), 500000u);
  const std::string svg = RenderSpendChartSvg({series}, "a year");
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  EXPECT_LE(PolylinePoints(svg, "spent"), kMaxChartPoints);
  EXPECT_LE(PolylinePoints(svg, "pacing"), kMaxChartPoints);
  EXPECT_GT(PolylinePoints(svg, "spent"), kMaxChartPoints / 2);
  EXPECT_LT(svg.size(), 200u * 1024);
}

TEST(SpendChartTest, EmptyInput) {
  const std::string none = RenderSpendChartSvg({}, "nothing");
  EXPECT_EQ(CheckWellFormedXml(none), "");
  EXPECT_THAT(none, HasSubstr(">no data<"));

  SpendSeries empty;
  empty.budget = "idle";
  const std::string idle = RenderSpendChartSvg({empty}, "idle");
  EXPECT_EQ(CheckWellFormedXml(idle), "");
  EXPECT_THAT(idle, HasSubstr(">no data<"));
  EXPECT_THAT(idle, Not(HasSubstr("<polyline")));
}

TEST(SpendChartTest, DegenerateSeries) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  SpendSeries series;
  series.budget = "odd";
  series.t_hours = {5, 5, 5};
  series.spent = {nan, 3, inf};
  series.pacing = {1};             // shorter than t_hours: drawn over the common prefix
  series.limit = {2, 2, 2, 2, 2};  // longer than t_hours
  series.period_starts_h = {nan, 5, -100};
  const std::string svg = RenderSpendChartSvg({series}, "odd");
  EXPECT_EQ(CheckWellFormedXml(svg), "");
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  EXPECT_EQ(PolylinePoints(svg, "spent"), 1u);
  EXPECT_EQ(Count(svg, "class=\"period-start\""), 1u);
}

TEST(SpendChartDownsampleTest, KeepsAllWhenItFits) {
  const std::vector<double> values = {3, 1, 4, 1, 5};
  EXPECT_EQ(DownsampleIndices(values, 8), (std::vector<size_t>{0, 1, 2, 3, 4}));
  const std::vector<double> with_nan = {3, std::nan(""), 4};
  EXPECT_EQ(DownsampleIndices(with_nan, 8), (std::vector<size_t>{0, 2}));
}

TEST(SpendChartDownsampleTest, BoundedAndKeepsExtremes) {
  std::vector<double> values(100003);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = std::sin(static_cast<double>(i) / 500);
  }
  values[31337] = 50;   // a spike
  values[77777] = -50;  // a dip
  const std::vector<size_t> kept = DownsampleIndices(values, 2000);
  EXPECT_LE(kept.size(), 2000u);
  EXPECT_GT(kept.size(), 1000u);
  EXPECT_TRUE(std::is_sorted(kept.begin(), kept.end()));
  EXPECT_EQ(std::adjacent_find(kept.begin(), kept.end()), kept.end());  // no duplicates
  EXPECT_EQ(kept.front(), 0u);
  EXPECT_EQ(kept.back(), values.size() - 1);
  EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), 31337u));
  EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), 77777u));
}

struct TickCase {
  double lo;
  double hi;
  int count;
  std::vector<double> want;
};

TEST(SpendChartTicksTest, NiceSteps) {
  const std::vector<TickCase> cases = {
      {0, 10, 5, {0, 2, 4, 6, 8, 10}},
      {0, 7200, 5, {0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000}},
      {0, 1, 5, {0, 0.2, 0.4, 0.6, 0.8, 1}},
      {0, 30, 8, {0, 5, 10, 15, 20, 25, 30}},
      {3, 3, 5, {3, 3.2, 3.4, 3.6, 3.8, 4}},  // an empty range widens to one unit
      {-15, 40, 5, {-20, -10, 0, 10, 20, 30, 40}},
      {0, 8760 / 24.0, 8, {0, 50, 100, 150, 200, 250, 300, 350, 400}},
  };
  for (const TickCase& c : cases) {
    const std::vector<double> got = NiceTicks(c.lo, c.hi, c.count);
    ASSERT_EQ(got.size(), c.want.size()) << c.lo << ".." << c.hi;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_NEAR(got[i], c.want[i], 1e-9) << c.lo << ".." << c.hi << " tick " << i;
    }
  }
}

}  // namespace
}  // namespace bursar::sim
