// End-to-end test of the GPU utilisation signal: a real Prometheus (the Debian package) scrapes
// the fake DCGM exporter of tests/e2e/fake-dcgm-exporter.py every second, and the operator's
// PrometheusClient, over a real CppRestTransport, must report per pod exactly what the exporter
// serves. Run through tests/e2e/with-prometheus.sh, which starts both and sets the environment;
// without it the tests skip.

#include "controllers/signals/prometheus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "operator/kube/cpprest_transport.h"
#include "tests/integration/harness_env.h"

namespace bursar::signals {
namespace {

using ::testing::HasSubstr;

using ByPod = absl::flat_hash_map<std::string, double>;

// First scrape: Prometheus applies a new target set after up to 5 s, then scrapes every second.
constexpr absl::Duration kFirstScrapeDeadline = absl::Seconds(60);
constexpr absl::Duration kChangeDeadline = absl::Seconds(30);
constexpr absl::Duration kPollInterval = absl::Milliseconds(200);

using testing::Env;

// One GPU as the fake exporter reads it; an empty pod is an idle GPU.
struct Gpu {
  std::string ns;
  std::string pod;
  int gpu;
  double util;
};

// Replaces the exporter's series file atomically, so a scrape never reads half of it.
void WriteSeries(const std::string& path, const std::vector<Gpu>& gpus) {
  std::vector<std::string> items;
  for (const Gpu& g : gpus) {
    std::string item = absl::StrCat(R"({"gpu":")", g.gpu, R"(","node":"node-a","util":)", g.util);
    if (!g.pod.empty()) {
      absl::StrAppend(&item, R"(,"namespace":")", g.ns, R"(","pod":")", g.pod,
                      R"(","container":"main")");
    }
    items.push_back(item + "}");
  }
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "[" << absl::StrJoin(items, ",") << "]\n";
    ASSERT_TRUE(out.good()) << "cannot write " << tmp;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << "cannot replace " << path;
}

std::string Describe(const ByPod& by_pod) {
  std::vector<std::string> parts;
  for (const auto& [pod, util] : by_pod) {
    parts.push_back(absl::StrCat(pod, "=", util));
  }
  std::sort(parts.begin(), parts.end());
  return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
}

class PrometheusDcgmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = Env("BURSAR_TEST_PROMETHEUS_URL");
    series_ = Env("BURSAR_TEST_DCGM_SERIES");
    REQUIRE_ENV("BURSAR_TEST_PROMETHEUS_URL", "queries a real Prometheus",
                "tests/e2e/with-prometheus.sh");
    REQUIRE_ENV("BURSAR_TEST_DCGM_SERIES",
                "writes the series the fake DCGM exporter serves to that Prometheus",
                "tests/e2e/with-prometheus.sh");
    kube::TransportConfig config;
    config.server = url_;  // http://: no TLS, no credentials
    absl::StatusOr<std::unique_ptr<kube::CppRestTransport>> transport =
        kube::CppRestTransport::Create(config);
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = std::move(*transport);
    client_ = std::make_unique<PrometheusClient>(*transport_, "", absl::Seconds(10));
  }

  // Polls the default DCGM query until GpuUtilizationByPod returns `want`; false (and a
  // failure naming the last answer) when `deadline` passes first.
  bool AwaitUtilization(const ByPod& want, absl::Duration deadline) {
    const absl::Time give_up = absl::Now() + deadline;
    ByPod got;
    absl::Status last_error;
    while (true) {
      const absl::Time at = absl::Now();
      absl::StatusOr<std::vector<PromSample>> samples = client_->Query(kDefaultDcgmQuery, at);
      if (samples.ok()) {
        got = GpuUtilizationByPod(*samples);
        last_error = absl::OkStatus();
        if (got == want) {
          // Evaluated at the time asked for, to the millisecond Prometheus keeps.
          for (const PromSample& s : *samples) {
            EXPECT_EQ(s.time, absl::FromUnixMillis(absl::ToUnixMillis(at)));
          }
          return true;
        }
      } else {
        last_error = samples.status();
      }
      if (absl::Now() >= give_up) {
        ADD_FAILURE() << "after " << deadline << " Prometheus reports " << Describe(got)
                      << ", want " << Describe(want) << "; last error: " << last_error;
        return false;
      }
      std::this_thread::sleep_for(absl::ToChronoMilliseconds(kPollInterval));
    }
  }

  std::string url_;
  std::string series_;
  std::unique_ptr<kube::CppRestTransport> transport_;
  std::unique_ptr<PrometheusClient> client_;
};

TEST_F(PrometheusDcgmTest, GpuUtilizationFollowsTheExporter) {
  // Names unique to this process, so answers left from an earlier run cannot pass the test.
  const std::string train = absl::StrCat("train-", getpid());
  const std::string serve = absl::StrCat("serve-", getpid());
  std::vector<Gpu> gpus = {
      {"vision", train, 0, 80},  // two GPUs of one pod: their mean
      {"vision", train, 1, 60},
      {"nlp", serve, 2, 25.5},
      {"", "", 3, 99},  // idle: no pod, ignored
  };
  const std::string train_key = absl::StrCat("vision/", train);
  const std::string serve_key = absl::StrCat("nlp/", serve);
  WriteSeries(series_, gpus);
  ASSERT_TRUE(AwaitUtilization({{train_key, 70}, {serve_key, 25.5}}, kFirstScrapeDeadline));

  gpus[2].util = 3.25;
  WriteSeries(series_, gpus);
  ASSERT_TRUE(AwaitUtilization({{train_key, 70}, {serve_key, 3.25}}, kChangeDeadline));

  // A pod whose GPUs go away disappears at the next scrape (Prometheus marks the series stale).
  gpus.erase(gpus.begin(), gpus.begin() + 2);
  WriteSeries(series_, gpus);
  ASSERT_TRUE(AwaitUtilization({{serve_key, 3.25}}, kChangeDeadline));
}

TEST_F(PrometheusDcgmTest, ReportsPrometheusErrors) {
  absl::StatusOr<std::vector<PromSample>> bad = client_->Query("avg by (pod (", absl::Now());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("HTTP 400: bad_data: "));
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("parse error"));

  absl::StatusOr<std::vector<PromSample>> matrix =
      client_->Query("DCGM_FI_DEV_GPU_UTIL[1m]", absl::Now());
  ASSERT_FALSE(matrix.ok());
  EXPECT_THAT(std::string(matrix.status().message()),
              HasSubstr("data.resultType: expected \"vector\""));
}

}  // namespace
}  // namespace bursar::signals
