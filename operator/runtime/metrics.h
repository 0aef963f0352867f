#pragma once

// A small Prometheus registry: counter, gauge and histogram families with labels, rendered in
// the text exposition format 0.0.4 (what GET /metrics serves, Content-Type
// "text/plain; version=0.0.4; charset=utf-8"). There is no global registry: whoever wires the
// operator creates one and passes it to the components that export metrics.
//
// Output matches Prometheus' client_golang: families sorted by name, each with # HELP and # TYPE
// lines, children sorted by label values, numbers formatted like Go's strconv 'g' (1e+06,
// 0.005, +Inf), histograms with cumulative le buckets ending in +Inf, then _sum and _count.
// A labelled family appears once it has a child; an unlabelled one renders 0 from the start.
//
// Pitfalls: every distinct label value is a time series kept forever. Label by bounded things
// (a budget's name, a controller, a result), never by a pod UID or an error message. Keep the
// reference WithLabels() returns instead of looking it up on hot paths.
// Thread-safe: families, children and Render() may be used from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace bursar::runtime {

// The Content-Type of Registry::Render()'s output.
inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// A value that only goes up (requests sent, reconciles done). Thread-safe.
class Counter {
 public:
  // Negative increments are ignored: a counter never goes down.
  void Increment(double by = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (queue depth, budget spend). Thread-safe.
class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Increment(double by = 1.0) { value_.fetch_add(by, std::memory_order_relaxed); }
  void Decrement(double by = 1.0) { value_.fetch_sub(by, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed buckets (reconcile latency). Thread-safe.
class Histogram {
 public:
  // `upper_bounds` strictly increasing and finite; +Inf is implied.
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;  // without +Inf
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

 private:
  const std::vector<double> upper_bounds_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket, not cumulative; last is +Inf
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// client_golang's DefBuckets: 5 ms to 10 s, for request and reconcile latencies in seconds.
std::vector<double> DefaultBuckets();
// `count` bounds: start, start × factor, start × factor², ...
std::vector<double> ExponentialBuckets(double start, double factor, int count);

enum class MetricType { kCounter, kGauge, kHistogram };

// One metric name with its help text and label names; the children are its time series.
class MetricFamily {
 public:
  virtual ~MetricFamily() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  virtual MetricType type() const = 0;
  // Appends the family's exposition text; nothing for a labelled family without children.
  virtual void Render(std::string* out) const = 0;

 protected:
  MetricFamily(std::string name, std::string help, std::vector<std::string> label_names)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
};

// A family of one metric type. Thread-safe; children live as long as the registry.
template <typename Metric>
class Family final : public MetricFamily {
 public:
  // The child with these label values, one per label name in order, created on first use.
  // A wrong number of values is a programming error: asserts in debug builds; otherwise
  // missing values are empty and extra ones are dropped.
  Metric& WithLabels(std::initializer_list<std::string_view> values);
  Metric& WithLabels(const std::vector<std::string>& values);
  // Drops the child with these label values, so a series for a deleted object stops being
  // exported. Pitfall: references to that child dangle; only the code that owns the series
  // (the reconciler that saw the deletion) should remove it. False when there was none.
  bool Remove(std::initializer_list<std::string_view> values);

  MetricType type() const override;
  void Render(std::string* out) const override;

 private:
  friend class Registry;
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> upper_bounds);
  Metric& Child(std::vector<std::string> values);

  const std::vector<double> upper_bounds_;  // histograms only
  mutable absl::Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_ ABSL_GUARDED_BY(mu_);
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

// Owns the families and renders them. Registering a name again with the same type, help,
// labels (and buckets) returns the existing family, so two components may share one; any other
// clash, or an invalid name, label name or bucket list, is an error. Thread-safe.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  absl::StatusOr<CounterFamily*> AddCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names = {});
  absl::StatusOr<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> upper_bounds);

  // The text exposition format 0.0.4 of every family.
  std::string Render() const;

 private:
  template <typename Metric>
  absl::StatusOr<Family<Metric>*> Add(std::string name, std::string help,
                                      std::vector<std::string> label_names,
                                      std::vector<double> upper_bounds);

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<MetricFamily>, std::less<>> families_ ABSL_GUARDED_BY(mu_);
};

// Prometheus/Go number text (strconv.FormatFloat(v, 'g', -1, 64)): shortest round-trip digits,
// exponent form below 1e-4 and from 1e6 upwards (1e+06, 1.5e-07, 123456, 0.0001), and NaN,
// +Inf, -Inf.
std::string FormatMetricValue(double value);

}  // namespace bursar::runtime
