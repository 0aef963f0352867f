#include "operator/runtime/metrics.h"

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gtest/gtest.h"

namespace bursar::runtime {
namespace {

template <typename T>
T* Must(absl::StatusOr<T*> result) {
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *result : nullptr;
}

TEST(FormatMetricValue, MatchesGoStrconvG) {
  struct Case {
    double value;
    const char* text;
  };
  const Case cases[] = {
      {0, "0"},
      {-0.0, "0"},
      {1, "1"},
      {-1, "-1"},
      {0.5, "0.5"},
      {2.5, "2.5"},
      {0.005, "0.005"},
      {100, "100"},
      {123456, "123456"},
      {999999, "999999"},
      {1e6, "1e+06"},
      {1234567, "1.234567e+06"},
      {0.0001, "0.0001"},
      {0.00012, "0.00012"},
      {0.00001, "1e-05"},
      {1.5e-7, "1.5e-07"},
      {-2.5e-10, "-2.5e-10"},
      {1e100, "1e+100"},
      {0.1 + 0.2, "0.30000000000000004"},
      {12.34, "12.34"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::nan(""), "NaN"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(FormatMetricValue(c.value), c.text);
  }
}

TEST(Registry, RendersTheTextFormat) {
  Registry registry;
  CounterFamily* reconciles = Must(registry.AddCounter(
      "bursar_reconcile_total", "Reconciles by controller and result.", {"controller", "result"}));
  GaugeFamily* depth = Must(registry.AddGauge("bursar_workqueue_depth", "Keys waiting."));
  HistogramFamily* latency = Must(registry.AddHistogram(
      "bursar_reconcile_duration_seconds", "Reconcile latency.", {"controller"}, {0.01, 0.1, 1}));

  reconciles->WithLabels({"budget", "success"}).Increment();
  reconciles->WithLabels({"budget", "success"}).Increment(2);
  reconciles->WithLabels({"budget", "error"}).Increment();
  reconciles->WithLabels({"nodepool", "success"}).Increment(1e6);
  depth->WithLabels({}).Set(7);
  Histogram& budget_latency = latency->WithLabels({"budget"});
  budget_latency.Observe(0.005);
  budget_latency.Observe(0.01);  // bounds are inclusive
  budget_latency.Observe(0.5);
  budget_latency.Observe(3);

  EXPECT_EQ(registry.Render(),
            "# HELP bursar_reconcile_duration_seconds Reconcile latency.\n"
            "# TYPE bursar_reconcile_duration_seconds histogram\n"
            "bursar_reconcile_duration_seconds_bucket{controller=\"budget\",le=\"0.01\"} 2\n"
            "bursar_reconcile_duration_seconds_bucket{controller=\"budget\",le=\"0.1\"} 2\n"
            "bursar_reconcile_duration_seconds_bucket{controller=\"budget\",le=\"1\"} 3\n"
            "bursar_reconcile_duration_seconds_bucket{controller=\"budget\",le=\"+Inf\"} 4\n"
            "bursar_reconcile_duration_seconds_sum{controller=\"budget\"} 3.515\n"
            "bursar_reconcile_duration_seconds_count{controller=\"budget\"} 4\n"
            "# HELP bursar_reconcile_total Reconciles by controller and result.\n"
            "# TYPE bursar_reconcile_total counter\n"
            "bursar_reconcile_total{controller=\"budget\",result=\"error\"} 1\n"
            "bursar_reconcile_total{controller=\"budget\",result=\"success\"} 3\n"
            "bursar_reconcile_total{controller=\"nodepool\",result=\"success\"} 1e+06\n"
            "# HELP bursar_workqueue_depth Keys waiting.\n"
            "# TYPE bursar_workqueue_depth gauge\n"
            "bursar_workqueue_depth 7\n");
}

TEST(Registry, EscapesHelpAndLabelValues) {
  Registry registry;
  GaugeFamily* gauge =
      Must(registry.AddGauge("g", "A \\ backslash,\na newline and \"quotes\".", {"path"}));
  gauge->WithLabels({"C:\\dir\n\"x\""}).Set(-1.5);
  EXPECT_EQ(registry.Render(),
            "# HELP g A \\\\ backslash,\\na newline and \"quotes\".\n"
            "# TYPE g gauge\n"
            "g{path=\"C:\\\\dir\\n\\\"x\\\"\"} -1.5\n");
}

TEST(Registry, UnlabelledFamiliesRenderZeroAndLabelledOnesWaitForAChild) {
  Registry registry;
  Must(registry.AddCounter("requests_total", "Requests."));
  Must(registry.AddCounter("errors_total", "Errors by code.", {"code"}));
  Must(registry.AddHistogram("latency_seconds", "Latency.", {}, {1}));
  EXPECT_EQ(registry.Render(),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{le=\"1\"} 0\n"
            "latency_seconds_bucket{le=\"+Inf\"} 0\n"
            "latency_seconds_sum 0\n"
            "latency_seconds_count 0\n"
            "# HELP requests_total Requests.\n"
            "# TYPE requests_total counter\n"
            "requests_total 0\n");
}

TEST(Registry, RemovedSeriesStopBeingExported) {
  Registry registry;
  GaugeFamily* spent = Must(registry.AddGauge("spent", "Spent.", {"budget"}));
  spent->WithLabels({"team-a"}).Set(1);
  spent->WithLabels({"team-b"}).Set(2);
  EXPECT_TRUE(spent->Remove({"team-a"}));
  EXPECT_FALSE(spent->Remove({"team-a"}));
  EXPECT_EQ(registry.Render(),
            "# HELP spent Spent.\n"
            "# TYPE spent gauge\n"
            "spent{budget=\"team-b\"} 2\n");
  EXPECT_TRUE(spent->Remove({"team-b"}));
  EXPECT_EQ(registry.Render(), "");
}

TEST(Registry, SameShapeSharesTheFamilyAndAnyOtherClashFails) {
  Registry registry;
  CounterFamily* first = Must(registry.AddCounter("c_total", "C.", {"a"}));
  EXPECT_EQ(Must(registry.AddCounter("c_total", "C.", {"a"})), first);
  EXPECT_EQ(registry.AddCounter("c_total", "C.", {"b"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddCounter("c_total", "Other help.", {"a"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(registry.AddGauge("c_total", "C.", {"a"}).status().code(),
            absl::StatusCode::kAlreadyExists);
  Must(registry.AddHistogram("h", "H.", {}, {1, 2}));
  EXPECT_EQ(registry.AddHistogram("h", "H.", {}, {1, 3}).status().code(),
            absl::StatusCode::kAlreadyExists);
  // A trailing +Inf bound is implied anyway, so this is the same shape.
  EXPECT_TRUE(
      registry.AddHistogram("h", "H.", {}, {1, 2, std::numeric_limits<double>::infinity()}).ok());
}

TEST(Registry, RejectsInvalidNamesAndBuckets) {
  Registry registry;
  const absl::StatusCode invalid = absl::StatusCode::kInvalidArgument;
  EXPECT_EQ(registry.AddCounter("", "x").status().code(), invalid);
  EXPECT_EQ(registry.AddCounter("1abc", "x").status().code(), invalid);
  EXPECT_EQ(registry.AddCounter("a-b", "x").status().code(), invalid);
  EXPECT_TRUE(registry.AddCounter("ns:rule_total", "x").ok());
  EXPECT_EQ(registry.AddCounter("c1", "x", {"a:b"}).status().code(), invalid);
  EXPECT_EQ(registry.AddCounter("c2", "x", {"__reserved"}).status().code(), invalid);
  EXPECT_EQ(registry.AddCounter("c3", "x", {"a", "a"}).status().code(), invalid);
  EXPECT_TRUE(registry.AddCounter("c4", "x", {"le"}).ok());
  EXPECT_EQ(registry.AddHistogram("h1", "x", {"le"}, {1}).status().code(), invalid);
  EXPECT_EQ(registry.AddHistogram("h2", "x", {}, {2, 1}).status().code(), invalid);
  EXPECT_EQ(registry.AddHistogram("h3", "x", {}, {1, 1}).status().code(), invalid);
  EXPECT_EQ(registry.AddHistogram("h4", "x", {}, {std::nan("")}).status().code(), invalid);
}

TEST(Metrics, CountersOnlyGoUpAndGaugesBothWays) {
  Counter counter;
  counter.Increment();
  counter.Increment(-5);
  counter.Increment(0.5);
  EXPECT_EQ(counter.Value(), 1.5);
  Gauge gauge;
  gauge.Increment(3);
  gauge.Decrement();
  EXPECT_EQ(gauge.Value(), 2);
  gauge.Set(-4);
  EXPECT_EQ(gauge.Value(), -4);
}

TEST(Metrics, BucketHelpers) {
  EXPECT_EQ(DefaultBuckets(),
            (std::vector<double>{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}));
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1}));
}

TEST(Metrics, ConcurrentUpdatesAreNotLost) {
  Registry registry;
  CounterFamily* counter = Must(registry.AddCounter("c_total", "C.", {"worker"}));
  HistogramFamily* histogram = Must(registry.AddHistogram("h", "H.", {}, {0.5}));
  constexpr int kThreads = 4;
  constexpr int kIterations = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        counter->WithLabels({"shared"}).Increment();
        counter->WithLabels({t % 2 == 0 ? "even" : "odd"}).Increment();
        histogram->WithLabels({}).Observe(i % 2 == 0 ? 0.25 : 1);
        if (i % 1000 == 0) {
          registry.Render();  // rendering while updating is safe
        }
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  EXPECT_EQ(counter->WithLabels({"shared"}).Value(), kThreads * kIterations);
  EXPECT_EQ(counter->WithLabels({"even"}).Value(), kThreads / 2 * kIterations);
  const Histogram::Snapshot snap = histogram->WithLabels({}).Take();
  EXPECT_EQ(snap.cumulative,
            (std::vector<uint64_t>{kThreads * kIterations / 2, kThreads * kIterations}));
  EXPECT_EQ(snap.count, static_cast<uint64_t>(kThreads * kIterations));
}

}  // namespace
}  // namespace bursar::runtime
