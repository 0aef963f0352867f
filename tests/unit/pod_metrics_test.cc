#include "controllers/signals/pod_metrics.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/values/quantity.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/fake_transport.h"

namespace bursar::signals {
namespace {

using ::testing::HasSubstr;

values::Quantity Q(const std::string& text) {
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << q.status();
  return q.ok() ? *q : values::Quantity();
}

// A PodMetricsList around `items` (a JSON array).
std::string List(const std::string& items) {
  return absl::StrCat(
      R"({"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","metadata":{},"items":)",
      items, "}");
}

// One item as metrics-server writes it, with `containers` (a JSON array) spliced in.
std::string Item(const std::string& ns, const std::string& name, const std::string& containers) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"(","namespace":")", ns,
                      R"(","creationTimestamp":"2026-11-27T08:00:03Z","labels":{"app":"x"}},)",
                      R"("timestamp":"2026-11-27T08:00:00Z","window":"10.062s",)",
                      R"("containers":)", containers, "}");
}

TEST(PodMetricsTest, BuildsTheListRequest) {
  EXPECT_EQ(BuildPodMetricsList(), (kube::HttpRequest{
                                       .method = "GET",
                                       .path = "/apis/metrics.k8s.io/v1beta1/pods",
                                       .headers = {{"Accept", "application/json"}},
                                       .body = "",
                                   }));
}

TEST(PodMetricsTest, ParsesPodsAndContainers) {
  absl::StatusOr<std::vector<PodUsage>> pods = ParsePodMetricsList(List(absl::StrCat(
      "[",
      Item("vision", "train-0",
           R"([{"name":"trainer","usage":{"cpu":"250m","memory":"1Gi"}},
               {"name":"sidecar","usage":{"cpu":"5n","memory":"123456Ki","nvidia.com/gpu":"1"}}])"),
      ",", Item("nlp", "serve", "[]"), ",",
      R"({"metadata":{"name":"idle","namespace":"nlp"},"timestamp":"2026-11-27T08:00:00.5+01:00",
          "window":"1m0.5s","containers":null})",
      "]")));
  ASSERT_TRUE(pods.ok()) << pods.status();
  const absl::Time t = absl::FromUnixSeconds(1795766400);  // 2026-11-27T08:00:00Z
  EXPECT_EQ(*pods, (std::vector<PodUsage>{
                       {"vision",
                        "train-0",
                        t,
                        absl::Milliseconds(10062),
                        {{"trainer", Q("250m"), Q("1Gi")}, {"sidecar", Q("5n"), Q("123456Ki")}}},
                       {"nlp", "serve", t, absl::Milliseconds(10062), {}},
                       {"nlp",
                        "idle",
                        t - absl::Hours(1) + absl::Milliseconds(500),
                        absl::Milliseconds(60500),
                        {}},
                   }));
  // Exact quantities, not approximations.
  EXPECT_EQ((*pods)[0].containers[0].cpu.MilliValue(), 250);
  EXPECT_EQ((*pods)[0].containers[0].memory.Value(), int64_t{1} << 30);
  EXPECT_EQ((*pods)[0].containers[1].cpu.nanos(), 5);
  EXPECT_EQ((*pods)[0].containers[1].memory.Value(), 123456 * 1024);
}

TEST(PodMetricsTest, EmptyListsAreNoPods) {
  for (const std::string& body :
       {List("[]"), List("null"), std::string(R"({"kind":"PodMetricsList"})")}) {
    SCOPED_TRACE(body);
    absl::StatusOr<std::vector<PodUsage>> pods = ParsePodMetricsList(body);
    ASSERT_TRUE(pods.ok()) << pods.status();
    EXPECT_TRUE(pods->empty());
  }
}

TEST(PodMetricsTest, Errors) {
  const std::string ok = Item("ns", "p", "[]");
  struct Case {
    std::string name;
    std::string body;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not JSON", "{", "PodMetricsList: body: not JSON"},
      {"not an object", "[]", "PodMetricsList: body: expected an object, got array"},
      {"another kind", R"({"kind":"PodList","items":[]})",
       "PodMetricsList: kind: expected \"PodMetricsList\", got \"PodList\""},
      {"items not an array", R"({"items":{}})", "PodMetricsList: items: expected an array"},
      {"item not an object", List(absl::StrCat("[", ok, ",7]")),
       "PodMetricsList: items[1]: expected an object, got number"},
      {"no namespace", List(R"([{"metadata":{"name":"p"}}])"),
       "PodMetricsList: items[0].metadata.namespace: missing"},
      {"no metadata", List(R"([{"timestamp":"2026-11-27T08:00:00Z"}])"),
       "PodMetricsList: items[0].metadata.namespace: missing"},
      {"empty name", List(R"([{"metadata":{"namespace":"ns","name":""}}])"),
       "PodMetricsList: items[0].metadata.name: empty"},
      {"name a number", List(R"([{"metadata":{"namespace":"ns","name":3}}])"),
       "PodMetricsList: items[0].metadata.name: expected a string, got number"},
      {"no timestamp", List(R"([{"metadata":{"namespace":"ns","name":"p"},"window":"30s"}])"),
       "PodMetricsList: items[0].timestamp: missing"},
      {"bad timestamp",
       List(
           R"([{"metadata":{"namespace":"ns","name":"p"},"timestamp":"yesterday","window":"30s"}])"),
       "PodMetricsList: items[0].timestamp: \"yesterday\" is not an RFC 3339 date-time"},
      {"no window",
       List(R"([{"metadata":{"namespace":"ns","name":"p"},"timestamp":"2026-11-27T08:00:00Z"}])"),
       "PodMetricsList: items[0].window: missing"},
      {"bad window",
       List(R"([{"metadata":{"namespace":"ns","name":"p"},"timestamp":"2026-11-27T08:00:00Z",
                 "window":"ten seconds"}])"),
       "PodMetricsList: items[0].window: duration \"ten seconds\""},
      {"containers not an array", List(absl::StrCat("[", Item("ns", "p", R"({"a":1})"), "]")),
       "PodMetricsList: items[0].containers: expected an array, got object"},
      {"container without a name",
       List(absl::StrCat("[", ok, ",", Item("ns", "q", R"([{"usage":{"cpu":"1","memory":"1Mi"}}])"),
                         "]")),
       "PodMetricsList: items[1].containers[0].name: missing"},
      {"container without usage",
       List(absl::StrCat("[", Item("ns", "p", R"([{"name":"c"}])"), "]")),
       "PodMetricsList: items[0].containers[0].usage: missing"},
      {"no cpu",
       List(absl::StrCat(
           "[",
           Item(
               "ns", "p",
               R"([{"name":"a","usage":{"cpu":"1","memory":"1"}},{"name":"b","usage":{"memory":"1Mi"}}])"),
           "]")),
       "PodMetricsList: items[0].containers[1].usage.cpu: missing"},
      {"no memory",
       List(absl::StrCat("[", Item("ns", "p", R"([{"name":"c","usage":{"cpu":"1"}}])"), "]")),
       "PodMetricsList: items[0].containers[0].usage.memory: missing"},
      {"bad cpu",
       List(absl::StrCat(
           "[", Item("ns", "p", R"([{"name":"c","usage":{"cpu":"lots","memory":"1"}}])"), "]")),
       "PodMetricsList: items[0].containers[0].usage.cpu: quantity \"lots\""},
      {"cpu an object",
       List(absl::StrCat("[", Item("ns", "p", R"([{"name":"c","usage":{"cpu":{},"memory":"1"}}])"),
                         "]")),
       "PodMetricsList: items[0].containers[0].usage.cpu: expected a string, got object"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<PodUsage>> pods = ParsePodMetricsList(c.body);
    ASSERT_FALSE(pods.ok());
    EXPECT_EQ(pods.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(pods.status().message()), HasSubstr(c.message));
  }
}

TEST(PodMetricsTest, BareNumberQuantitiesAreRead) {
  absl::StatusOr<std::vector<PodUsage>> pods = ParsePodMetricsList(List(
      absl::StrCat("[", Item("ns", "p", R"([{"name":"c","usage":{"cpu":2,"memory":1e3}}])"), "]")));
  ASSERT_TRUE(pods.ok()) << pods.status();
  EXPECT_EQ((*pods)[0].containers[0].cpu, Q("2"));
  EXPECT_EQ((*pods)[0].containers[0].memory, Q("1e3"));
}

TEST(PodMetricsTest, FetchSendsTheListRequestAndParsesTheAnswer) {
  kube::FakeTransport transport;
  transport.Reply(
      200,
      List(absl::StrCat(
          "[", Item("ns", "p", R"([{"name":"c","usage":{"cpu":"250m","memory":"64Mi"}}])"), "]")));
  absl::StatusOr<std::vector<PodUsage>> pods = FetchPodMetrics(transport, absl::Seconds(3));
  ASSERT_TRUE(pods.ok()) << pods.status();
  ASSERT_EQ(pods->size(), 1u);
  EXPECT_EQ((*pods)[0].containers[0].cpu, Q("250m"));
  ASSERT_EQ(transport.requests().size(), 1u);
  EXPECT_EQ(transport.requests()[0], BuildPodMetricsList());
}

TEST(PodMetricsTest, FetchMapsAnErrorAnswerToUnavailableWithItsStatus) {
  kube::FakeTransport transport;
  transport.Reply(503, "service unavailable");
  absl::StatusOr<std::vector<PodUsage>> pods = FetchPodMetrics(transport, absl::Seconds(3));
  ASSERT_FALSE(pods.ok());
  EXPECT_EQ(pods.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pods.status().message(), "metrics.k8s.io answered HTTP 503: service unavailable");
}

TEST(PodMetricsTest, FetchReturnsATransportErrorAsItIs) {
  kube::FakeTransport transport;
  transport.Fail(absl::DeadlineExceededError("timed out"));
  absl::StatusOr<std::vector<PodUsage>> pods = FetchPodMetrics(transport, absl::Seconds(3));
  EXPECT_EQ(pods.status(), absl::DeadlineExceededError("timed out"));
}

}  // namespace
}  // namespace bursar::signals
