#include "operator/runtime/metrics.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "controllers/values/strings.h"

namespace bursar::runtime {
namespace {

// Debian's Abseil has its own string_view type, not an alias of std::string_view.

bool IsNameStart(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
}

bool IsNameChar(char c, bool allow_colon) {
  return IsNameStart(c, allow_colon) || (c >= '0' && c <= '9');
}

// Metric names may contain ':' (reserved for recording rules); label names may not.
bool IsValidName(std::string_view name, bool allow_colon) {
  if (name.empty() || !IsNameStart(name[0], allow_colon)) {
    return false;
  }
  return std::all_of(name.begin() + 1, name.end(),
                     [&](char c) { return IsNameChar(c, allow_colon); });
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void AppendEscaped(std::string_view text, bool quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendHeader(const MetricFamily& family, std::string_view type, std::string* out) {
  absl::StrAppend(out, "# HELP ", family.name(), " ");
  AppendEscaped(family.help(), /*quote=*/false, out);
  absl::StrAppend(out, "\n# TYPE ", family.name(), " ", values::AbslView(type), "\n");
}

// name{l1="v1",l2="v2",extra="x"} value
void AppendSample(std::string_view name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, std::string_view extra_name,
                  std::string_view extra_value, std::string_view value, std::string* out) {
  absl::StrAppend(out, values::AbslView(name), values::AbslView(suffix));
  if (!label_names.empty() || !extra_name.empty()) {
    out->push_back('{');
    for (size_t i = 0; i < label_names.size(); ++i) {
      absl::StrAppend(out, i == 0 ? "" : ",", label_names[i], "=\"");
      AppendEscaped(label_values[i], /*quote=*/true, out);
      out->push_back('"');
    }
    if (!extra_name.empty()) {
      absl::StrAppend(out, label_names.empty() ? "" : ",", values::AbslView(extra_name), "=\"",
                      values::AbslView(extra_value), "\"");
    }
    out->push_back('}');
  }
  absl::StrAppend(out, " ", values::AbslView(value), "\n");
}

void AppendChild(const MetricFamily& family, const std::vector<std::string>& values,
                 const Counter& counter, std::string* out) {
  AppendSample(family.name(), "", family.label_names(), values, "", "",
               FormatMetricValue(counter.Value()), out);
}

void AppendChild(const MetricFamily& family, const std::vector<std::string>& values,
                 const Gauge& gauge, std::string* out) {
  AppendSample(family.name(), "", family.label_names(), values, "", "",
               FormatMetricValue(gauge.Value()), out);
}

void AppendChild(const MetricFamily& family, const std::vector<std::string>& values,
                 const Histogram& histogram, std::string* out) {
  const Histogram::Snapshot snap = histogram.Take();
  for (size_t i = 0; i < snap.cumulative.size(); ++i) {
    const double bound = i < snap.upper_bounds.size() ? snap.upper_bounds[i] : INFINITY;
    AppendSample(family.name(), "_bucket", family.label_names(), values, "le",
                 FormatMetricValue(bound), std::to_string(snap.cumulative[i]), out);
  }
  AppendSample(family.name(), "_sum", family.label_names(), values, "", "",
               FormatMetricValue(snap.sum), out);
  AppendSample(family.name(), "_count", family.label_names(), values, "", "",
               std::to_string(snap.count), out);
}

template <typename Metric>
constexpr MetricType TypeOf() {
  if constexpr (std::is_same_v<Metric, Counter>) {
    return MetricType::kCounter;
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    return MetricType::kGauge;
  } else {
    return MetricType::kHistogram;
  }
}

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) {
    return "NaN";
  }
  if (std::isinf(value)) {
    return value > 0 ? "+Inf" : "-Inf";
  }
  if (value == 0) {
    return "0";
  }
  // Shortest round-trip digits in scientific form ("-1.2345e+06"), re-laid out as Go's 'g'.
  char buf[64];
  const std::to_chars_result result =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));
  const size_t e = sci.find('e');
  std::string out;
  std::string digits;
  for (char c : sci.substr(0, e)) {
    if (c == '-') {
      out.push_back('-');
    } else if (c != '.') {
      digits.push_back(c);
    }
  }
  const int exponent = std::atoi(std::string(sci.substr(e + 1)).c_str());
  const int num_digits = static_cast<int>(digits.size());
  if (exponent < -4 || exponent >= 6) {
    out.push_back(digits[0]);
    if (num_digits > 1) {
      absl::StrAppend(&out, ".", values::AbslView(std::string_view(digits).substr(1)));
    }
    const int magnitude = std::abs(exponent);
    absl::StrAppend(&out, exponent < 0 ? "e-" : "e+", magnitude < 10 ? "0" : "", magnitude);
    return out;
  }
  const int point = exponent + 1;  // digits before the decimal point
  if (point <= 0) {
    absl::StrAppend(&out, "0.", std::string(static_cast<size_t>(-point), '0'), digits);
  } else if (point >= num_digits) {
    absl::StrAppend(&out, digits, std::string(static_cast<size_t>(point - num_digits), '0'));
  } else {
    absl::StrAppend(&out, digits.substr(0, static_cast<size_t>(point)), ".",
                    digits.substr(static_cast<size_t>(point)));
  }
  return out;
}

void Counter::Increment(double by) {
  if (by > 0) {
    value_.fetch_add(by, std::memory_order_relaxed);
  }
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  // Buckets are "less than or equal": the first bound >= value.
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(upper_bounds_.begin(), upper_bounds_.end(), value) - upper_bounds_.begin());
  absl::MutexLock lock(&mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot snap;
  snap.upper_bounds = upper_bounds_;
  absl::MutexLock lock(&mu_);
  uint64_t running = 0;
  for (uint64_t n : counts_) {
    running += n;
    snap.cumulative.push_back(running);
  }
  snap.sum = sum_;
  snap.count = count_;
  return snap;
}

std::vector<double> DefaultBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

template <typename Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> upper_bounds)
    : MetricFamily(std::move(name), std::move(help), std::move(label_names)),
      upper_bounds_(std::move(upper_bounds)) {}

template <typename Metric>
Metric& Family<Metric>::Child(std::vector<std::string> values) {
  assert(values.size() == label_names().size() && "one value per label name");
  values.resize(label_names().size());
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Metric>& child = children_[std::move(values)];
  if (child == nullptr) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      child = std::make_unique<Histogram>(upper_bounds_);
    } else {
      child = std::make_unique<Metric>();
    }
  }
  return *child;
}

template <typename Metric>
Metric& Family<Metric>::WithLabels(std::initializer_list<std::string_view> values) {
  return Child(std::vector<std::string>(values.begin(), values.end()));
}

template <typename Metric>
Metric& Family<Metric>::WithLabels(const std::vector<std::string>& values) {
  return Child(values);
}

template <typename Metric>
bool Family<Metric>::Remove(std::initializer_list<std::string_view> values) {
  const std::vector<std::string> key(values.begin(), values.end());
  absl::MutexLock lock(&mu_);
  return children_.erase(key) > 0;
}

template <typename Metric>
MetricType Family<Metric>::type() const {
  return TypeOf<Metric>();
}

template <typename Metric>
void Family<Metric>::Render(std::string* out) const {
  absl::MutexLock lock(&mu_);
  if (children_.empty()) {
    return;
  }
  AppendHeader(*this, TypeName(type()), out);
  for (const auto& [values, child] : children_) {
    AppendChild(*this, values, *child, out);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename Metric>
absl::StatusOr<Family<Metric>*> Registry::Add(std::string name, std::string help,
                                              std::vector<std::string> label_names,
                                              std::vector<double> upper_bounds) {
  if (!IsValidName(name, /*allow_colon=*/true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name, "\": must match [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  for (size_t i = 0; i < label_names.size(); ++i) {
    const std::string& label = label_names[i];
    if (!IsValidName(label, /*allow_colon=*/false) || label.rfind("__", 0) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": label name \"", label,
                       "\" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __"));
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i),
                  label) != label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": label \"", label, "\" repeated"));
    }
    if (TypeOf<Metric>() == MetricType::kHistogram && label == "le") {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": \"le\" is reserved for histogram buckets"));
    }
  }
  if (!upper_bounds.empty() && std::isinf(upper_bounds.back()) && upper_bounds.back() > 0) {
    upper_bounds.pop_back();  // +Inf is always the last bucket
  }
  for (size_t i = 0; i < upper_bounds.size(); ++i) {
    if (!std::isfinite(upper_bounds[i]) || (i > 0 && upper_bounds[i] <= upper_bounds[i - 1])) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": bucket bounds must be finite and strictly increasing"));
    }
  }

  absl::MutexLock lock(&mu_);
  auto it = families_.find(name);
  if (it != families_.end()) {
    auto* existing = dynamic_cast<Family<Metric>*>(it->second.get());
    if (existing != nullptr && existing->help() == help && existing->label_names() == label_names &&
        existing->upper_bounds_ == upper_bounds) {
      return existing;
    }
    return absl::AlreadyExistsError(
        absl::StrCat(name, ": already registered with another type, help, labels or buckets"));
  }
  const bool unlabelled = label_names.empty();
  auto* family = new Family<Metric>(std::move(name), std::move(help), std::move(label_names),
                                    std::move(upper_bounds));
  families_.emplace(family->name(), std::unique_ptr<MetricFamily>(family));
  if (unlabelled) {
    family->WithLabels({});  // a single series, rendered from the start
  }
  return family;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(std::string name, std::string help,
                                                    std::vector<std::string> label_names) {
  return Add<Counter>(std::move(name), std::move(help), std::move(label_names), {});
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                                std::vector<std::string> label_names) {
  return Add<Gauge>(std::move(name), std::move(help), std::move(label_names), {});
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                        std::vector<std::string> label_names,
                                                        std::vector<double> upper_bounds) {
  return Add<Histogram>(std::move(name), std::move(help), std::move(label_names),
                        std::move(upper_bounds));
}

std::string Registry::Render() const {
  std::string out;
  absl::MutexLock lock(&mu_);
  for (const auto& [name, family] : families_) {
    family->Render(&out);
  }
  return out;
}

}  // namespace bursar::runtime
