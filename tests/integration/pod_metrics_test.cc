// Bursar's metrics.k8s.io client (signals::FetchPodMetrics, what `bursar run --metrics-api`
// calls each pass) against the real metrics-server: kwok runs pods on a simulated node and serves
// the node's kubelet resource metrics with the usage their annotations declare; metrics-server
// scrapes them and serves metrics.k8s.io through the apiserver's aggregation layer. Run by
// `make test-integration` inside `tests/cluster/metrics-server.sh with` (see docs/testing.md,
// "The metrics pipeline").

#include "controllers/signals/pod_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/integration/cluster_test_base.h"

namespace bursar::signals {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;

// metrics-server scrapes every 10 s and lists a pod after two scrapes of it Running; kwok starts
// pods within a second or two.
constexpr absl::Duration kFirstMetricsDeadline = absl::Seconds(90);

values::Quantity Q(const std::string& text) {
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *q : values::Quantity();
}

class PodMetricsClusterTest : public testing::ClusterTest {
 protected:
  void SetUp() override {
    REQUIRE_ENV("BURSAR_TEST_METRICS_SERVER_PORT",
                "reads metrics.k8s.io from a real metrics-server",
                "tests/cluster/metrics-server.sh with");
  }

  // A kwok node that metrics-server can scrape: kwok serves its kubelet resource metrics at the
  // path in metrics.k8s.io/resource-metrics-path, on kwok's port at the InternalIP kwok gives
  // it (127.0.0.1).
  std::string CreateKwokNode() {
    const std::string name = Id() + "-node";
    const std::string resources = R"({"cpu":"32","memory":"64Gi","pods":"110"})";
    const std::string node_json =
        absl::StrCat(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")", name, R"(",)",
                     R"("labels":{")", testing::kTestLabel, R"(":")", Id(), R"("},)",
                     R"("annotations":{"kwok.x-k8s.io/node":"fake",)",
                     R"("metrics.k8s.io/resource-metrics-path":"/metrics/nodes/)", name,
                     R"(/metrics/resource"}},)", R"("status":{"capacity":)", resources,
                     R"(,"allocatable":)", resources, "}}");
    absl::StatusOr<json::Value> node = client().Create(kube::kNodes, "", JsonOrFail(node_json));
    EXPECT_TRUE(node.ok()) << node.status();
    return name;
  }

  // A pod bound to `node` whose containers each use `cpu` and `memory` (kwok's usage annotations).
  void CreatePod(const std::string& ns, const std::string& name, const std::string& node,
                 const std::vector<std::string>& containers, const std::string& cpu,
                 const std::string& memory) {
    std::vector<std::string> specs;
    for (const std::string& c : containers) {
      specs.push_back(absl::StrCat(R"({"name":")", c, R"(",)",
                                   R"("image":"registry.invalid/bursar/fake-trainer:1",)",
                                   R"("resources":{"requests":{"cpu":"100m","memory":"16Mi"}}})"));
    }
    const std::string pod_json = absl::StrCat(
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")", name, R"(",)",
        R"("annotations":{"kwok.x-k8s.io/usage-cpu":")", cpu, R"(",)",
        R"("kwok.x-k8s.io/usage-memory":")", memory, R"("}},)", R"("spec":{"nodeName":")", node,
        R"(","containers":[)", absl::StrJoin(specs, ","), "]}}");
    absl::StatusOr<json::Value> pod = client().Create(kube::kPods, ns, JsonOrFail(pod_json));
    ASSERT_TRUE(pod.ok()) << pod.status();
  }

  // Polls metrics.k8s.io until every pod in `want` (names in `ns`) is listed; returns them by
  // name. Fails the test with the last answer when the deadline passes.
  std::map<std::string, PodUsage> WaitForPods(const std::string& ns,
                                              const std::vector<std::string>& want) {
    std::map<std::string, PodUsage> found;
    std::string last;
    const absl::Time deadline = absl::Now() + kFirstMetricsDeadline;
    while (absl::Now() < deadline) {
      absl::StatusOr<std::vector<PodUsage>> pods = FetchPodMetrics(*transport_, absl::Seconds(10));
      found.clear();
      if (pods.ok()) {
        for (const PodUsage& p : *pods) {
          if (p.namespace_name == ns) {
            found[p.name] = p;
          }
        }
        last = absl::StrCat(pods->size(), " pods listed, ", found.size(), " of them in ", ns);
      } else {
        last = std::string(pods.status().message());
      }
      bool all = true;
      for (const std::string& name : want) {
        all = all && found.contains(name);
      }
      if (all) {
        return found;
      }
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    ADD_FAILURE() << "metrics.k8s.io did not list " << absl::StrJoin(want, ", ") << " in " << ns
                  << " within " << kFirstMetricsDeadline << "; last answer: " << last;
    return found;
  }
};

// CPU is a rate metrics-server computes from two cumulative samples, so allow 5 %; memory is a
// gauge and must be exact.
void ExpectUsage(const PodUsage& pod, const std::string& container, const std::string& cpu,
                 const std::string& memory) {
  SCOPED_TRACE(absl::StrCat(pod.namespace_name, "/", pod.name, " container ", container));
  for (const ContainerUsage& c : pod.containers) {
    if (c.name == container) {
      EXPECT_NEAR(c.cpu.ToDouble(), Q(cpu).ToDouble(), 0.05 * Q(cpu).ToDouble())
          << "cpu " << c.cpu.ToString();
      EXPECT_EQ(c.memory, Q(memory)) << "memory " << c.memory.ToString();
      return;
    }
  }
  ADD_FAILURE() << "no container " << container;
}

TEST_F(PodMetricsClusterTest, ReadsTheUsageKwokReportsThroughTheRealMetricsServer) {
  const std::string ns = Namespace();
  const std::string node = CreateKwokNode();
  CreatePod(ns, "small", node, {"main"}, "250m", "64Mi");
  CreatePod(ns, "wide", node, {"trainer", "sidecar"}, "1500m", "1Gi");

  const absl::Time asked = absl::Now();
  std::map<std::string, PodUsage> pods = WaitForPods(ns, {"small", "wide"});
  ASSERT_EQ(pods.size(), 2u);
  RecordProperty("seconds_until_listed", absl::StrCat(absl::ToInt64Seconds(absl::Now() - asked)));

  EXPECT_THAT(pods["small"].containers, ElementsAre(Field(&ContainerUsage::name, "main")));
  ExpectUsage(pods["small"], "main", "250m", "64Mi");
  ASSERT_EQ(pods["wide"].containers.size(), 2u);
  ExpectUsage(pods["wide"], "trainer", "1500m", "1Gi");
  ExpectUsage(pods["wide"], "sidecar", "1500m", "1Gi");
  for (const auto& [name, pod] : pods) {
    SCOPED_TRACE(name);
    EXPECT_GT(pod.window, absl::ZeroDuration());
    EXPECT_LE(pod.window, absl::Seconds(30)) << "metrics-server scrapes every 10 s here";
    EXPECT_LT(absl::AbsDuration(absl::Now() - pod.timestamp), absl::Minutes(2))
        << "timestamp " << absl::FormatTime(pod.timestamp);
  }
}

}  // namespace
}  // namespace bursar::signals
