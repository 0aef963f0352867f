#include "operator/runtime/endpoints.h"

#include <gtest/gtest.h>

namespace bursar::runtime {
namespace {

TEST(EndpointsTest, HealthzReadyzAndMetrics) {
  Registry registry;
  ASSERT_TRUE(registry.AddGauge("bursar_test_gauge", "A gauge.").ok());
  Endpoints endpoints(&registry);
  bool synced = false;
  endpoints.AddReadinessCheck({"leader-election", [] { return std::string(); }});
  endpoints.AddReadinessCheck(
      {"caches", [&] { return synced ? std::string() : std::string("pods not synced"); }});

  struct Case {
    std::string path;
    int status;
    std::string body_contains;
  };
  const std::vector<Case> before = {
      {"/healthz", 200, "ok"},
      {"/livez", 200, "ok"},
      {"/readyz", 503, "[-]caches: pods not synced"},
      {"/readyz?verbose", 503, "[+]leader-election ok"},
      {"/metrics", 200, "# TYPE bursar_test_gauge gauge"},
      {"/nope", 404, "not found: /nope"},
  };
  for (const Case& c : before) {
    kube::HttpServerResponse r = endpoints.Serve(c.path);
    EXPECT_EQ(r.status, c.status) << c.path;
    EXPECT_NE(r.body.find(c.body_contains), std::string::npos) << c.path << "\n" << r.body;
  }
  EXPECT_EQ(endpoints.Serve("/metrics").content_type, kMetricsContentType);
  synced = true;
  kube::HttpServerResponse ready = endpoints.Handler()("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_NE(ready.body.find("[+]caches ok"), std::string::npos);
}

TEST(EndpointsTest, HealthzFailsWithTheReasonsOfTheFailingLivenessChecks) {
  Endpoints endpoints(nullptr);
  std::string loop_reason;
  endpoints.AddLivenessCheck({"webhook", [] { return std::string(); }});
  endpoints.AddLivenessCheck({"budget loop", [&] { return loop_reason; }});
  endpoints.AddReadinessCheck({"caches", [] { return std::string("pods not synced"); }});
  // Not ready is not dead: readiness checks never fail /healthz.
  EXPECT_EQ(endpoints.Serve("/healthz").status, 200);
  EXPECT_EQ(endpoints.Serve("/healthz").body, "ok\n");

  loop_reason = "no reconcile pass completed for 3m12s (tick 15s)";
  for (const char* path : {"/healthz", "/livez", "/healthz?verbose"}) {
    kube::HttpServerResponse r = endpoints.Serve(path);
    EXPECT_EQ(r.status, 500) << path;
    EXPECT_EQ(r.body, "budget loop: no reconcile pass completed for 3m12s (tick 15s)\n") << path;
  }
  loop_reason.clear();
  EXPECT_EQ(endpoints.Serve("/healthz").status, 200);
}

TEST(EndpointsTest, RequestMetricsCountByVerbAndCode) {
  Registry registry;
  absl::StatusOr<kube::ApiClient::Observer> observer = MakeRequestMetricsObserver(&registry);
  ASSERT_TRUE(observer.ok()) << observer.status();
  kube::HttpRequest get{"GET", "/api/v1/pods", {}, ""};
  kube::HttpRequest put{"PUT", "/api/v1/namespaces/a/pods/p", {}, ""};
  (*observer)(get, 200, absl::Milliseconds(3));
  (*observer)(get, 200, absl::Milliseconds(5));
  (*observer)(put, 409, absl::Milliseconds(2));
  (*observer)(get, 0, absl::Seconds(1));
  std::string text = registry.Render();
  EXPECT_NE(text.find("bursar_kube_requests_total{verb=\"GET\",code=\"200\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("bursar_kube_requests_total{verb=\"PUT\",code=\"409\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("bursar_kube_requests_total{verb=\"GET\",code=\"error\"} 1"),
            std::string::npos);
  EXPECT_NE(text.find("bursar_kube_request_duration_seconds_count{verb=\"GET\"} 3"),
            std::string::npos);
  // Registering twice returns the same families, so two clients can share a registry.
  EXPECT_TRUE(MakeRequestMetricsObserver(&registry).ok());
}

}  // namespace
}  // namespace bursar::runtime
