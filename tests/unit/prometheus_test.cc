#include "controllers/signals/prometheus.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/fake_transport.h"

namespace bursar::signals {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

const absl::Time kAt = absl::FromUnixMillis(1700000000123);

// A success envelope around `result` (a JSON array of samples).
std::string Vector(const std::string& result) {
  return absl::StrCat(R"({"status":"success","data":{"resultType":"vector","result":)", result,
                      "}}");
}

// ---------------------------------------------------------------------------------------------
// BuildPrometheusQuery

TEST(PrometheusQueryTest, BuildsAnEncodedInstantQuery) {
  struct Case {
    std::string name;
    std::string base_path;
    std::string promql;
    absl::Time at;
    std::string path;
  };
  const std::vector<Case> cases = {
      {"no base path", "", "up", kAt, "/api/v1/query?query=up&time=1700000000.123"},
      {"default DCGM query", "", kDefaultDcgmQuery, absl::FromUnixSeconds(1700000000),
       "/api/v1/query?query=avg%20by%20%28namespace%2C%20pod%2C%20exported_namespace%2C%20"
       "exported_pod%2C%20pod_namespace%2C%20pod_name%29%20%28DCGM_FI_DEV_GPU_UTIL%29"
       "&time=1700000000.000"},
      {"selector with quotes and regex", "/prometheus", R"(x{a=~"b.+",c!="d"})", kAt,
       "/prometheus/api/v1/query?query=x%7Ba%3D~%22b.%2B%22%2Cc%21%3D%22d%22%7D"
       "&time=1700000000.123"},
      {"trailing slash dropped", "/prom/", "up", kAt,
       "/prom/api/v1/query?query=up&time=1700000000.123"},
      {"service proxy", "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy", "up",
       kAt,
       "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy/api/v1/query?query=up"
       "&time=1700000000.123"},
      {"before 1970", "", "up", absl::FromUnixMillis(-1500), "/api/v1/query?query=up&time=-2.500"},
      {"infinite time is the server's now", "", "up", absl::InfiniteFuture(),
       "/api/v1/query?query=up"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const kube::HttpRequest request = BuildPrometheusQuery(c.base_path, c.promql, c.at);
    EXPECT_EQ(request, (kube::HttpRequest{
                           .method = "GET",
                           .path = c.path,
                           .headers = {{"Accept", "application/json"}},
                           .body = "",
                       }));
  }
}

// ---------------------------------------------------------------------------------------------
// ParsePrometheusVector

TEST(PrometheusVectorTest, ParsesSamples) {
  absl::StatusOr<std::vector<PromSample>> samples = ParsePrometheusVector(Vector(R"([
      {"metric":{"__name__":"DCGM_FI_DEV_GPU_UTIL","namespace":"ns","pod":"p","gpu":"0"},
       "value":[1700000000.781,"42.5"]},
      {"metric":{},"value":[1700000001,"0"]},
      {"metric":{"pod":"q"},"value":[1700000002.5,"1e2"]}])"));
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ(
      *samples,
      (std::vector<PromSample>{
          {{{"__name__", "DCGM_FI_DEV_GPU_UTIL"}, {"gpu", "0"}, {"namespace", "ns"}, {"pod", "p"}},
           42.5,
           absl::FromUnixMillis(1700000000781)},
          {{}, 0, absl::FromUnixSeconds(1700000001)},
          {{{"pod", "q"}}, 100, absl::FromUnixMillis(1700000002500)},
      }));
}

TEST(PrometheusVectorTest, EmptyResultIsNoSamples) {
  absl::StatusOr<std::vector<PromSample>> samples = ParsePrometheusVector(Vector("[]"));
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_TRUE(samples->empty());
}

TEST(PrometheusVectorTest, SkipsNonFiniteValues) {
  absl::StatusOr<std::vector<PromSample>> samples = ParsePrometheusVector(Vector(R"([
      {"metric":{"pod":"nan"},"value":[1,"NaN"]},
      {"metric":{"pod":"inf"},"value":[1,"+Inf"]},
      {"metric":{"pod":"-inf"},"value":[1,"-Inf"]},
      {"metric":{"pod":"ok"},"value":[1,"-3.25"]}])"));
  ASSERT_TRUE(samples.ok()) << samples.status();
  ASSERT_EQ(samples->size(), 1u);
  EXPECT_EQ((*samples)[0].labels.at("pod"), "ok");
  EXPECT_EQ((*samples)[0].value, -3.25);
}

TEST(PrometheusVectorTest, Errors) {
  struct Case {
    std::string name;
    std::string body;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"status error",
       R"({"status":"error","errorType":"bad_data","error":"parse error at char 4"})",
       absl::StatusCode::kInvalidArgument, "prometheus: bad_data: parse error at char 4"},
      {"status error timeout",
       R"({"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"})",
       absl::StatusCode::kDeadlineExceeded,
       "prometheus: timeout: query timed out in expression evaluation"},
      {"status error without details", R"({"status":"error"})", absl::StatusCode::kInternal,
       "prometheus: unknown: (no message)"},
      {"not JSON", "<html>bad gateway</html>", absl::StatusCode::kInvalidArgument,
       "prometheus response: body: not JSON"},
      {"not an object", "[1,2]", absl::StatusCode::kInvalidArgument,
       "prometheus response: body: expected an object, got array"},
      {"no status", R"({"data":{}})", absl::StatusCode::kInvalidArgument,
       "prometheus response: status: missing"},
      {"odd status", R"({"status":"pending"})", absl::StatusCode::kInvalidArgument,
       "prometheus response: status: expected \"success\" or \"error\", got \"pending\""},
      {"no data", R"({"status":"success"})", absl::StatusCode::kInvalidArgument,
       "prometheus response: data: missing"},
      {"matrix", R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.resultType: expected \"vector\""},
      {"scalar", R"({"status":"success","data":{"resultType":"scalar","result":[1,"2"]}})",
       absl::StatusCode::kInvalidArgument, "got \"scalar\""},
      {"no result type", R"({"status":"success","data":{"result":[]}})",
       absl::StatusCode::kInvalidArgument, "prometheus response: data.resultType: missing"},
      {"result not an array", R"({"status":"success","data":{"resultType":"vector","result":{}}})",
       absl::StatusCode::kInvalidArgument, "prometheus response: data.result: expected an array"},
      {"sample not an object", Vector("[3]"), absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0]: expected an object, got number"},
      {"no metric", Vector(R"([{"value":[1,"2"]}])"), absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].metric: missing"},
      {"label not a string", Vector(R"([{"metric":{"gpu":0},"value":[1,"2"]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].metric.gpu: expected a string, got number"},
      {"no value", Vector(R"([{"metric":{}},{"metric":{}}])"), absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].value: missing"},
      {"value of one element", Vector(R"([{"metric":{},"value":[1]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].value: expected [<unix time>, \"<value>\"]"},
      {"time a string", Vector(R"([{"metric":{},"value":["1","2"]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].value[0]: expected a unix time in seconds"},
      {"value a number", Vector(R"([{"metric":{},"value":[1,2]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].value[1]: expected a string, got number"},
      {"bad value string",
       Vector(R"([{"metric":{},"value":[1,"2"]},{"metric":{},"value":[1,"12abc"]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[1].value[1]: \"12abc\" is not a number"},
      {"empty value string", Vector(R"([{"metric":{},"value":[1,""]}])"),
       absl::StatusCode::kInvalidArgument,
       "prometheus response: data.result[0].value[1]: \"\" is not a number"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<std::vector<PromSample>> samples = ParsePrometheusVector(c.body);
    ASSERT_FALSE(samples.ok());
    EXPECT_EQ(samples.status().code(), c.code) << samples.status();
    EXPECT_THAT(std::string(samples.status().message()), HasSubstr(c.message));
  }
}

// ---------------------------------------------------------------------------------------------
// PrometheusClient

class PrometheusClientTest : public ::testing::Test {
 protected:
  kube::FakeTransport transport_;
  PrometheusClient client_{transport_, "/prom", absl::Seconds(7)};
};

TEST_F(PrometheusClientTest, SendsTheQueryAndParsesTheVector) {
  transport_.Reply(200, Vector(R"([{"metric":{"pod":"p"},"value":[1700000000.123,"7"]}])"));
  absl::StatusOr<std::vector<PromSample>> samples = client_.Query("sum(up)", kAt);
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ(*samples, (std::vector<PromSample>{{{{"pod", "p"}}, 7, kAt}}));

  const std::vector<kube::FakeTransport::Sent> sent = transport_.sent();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].request.method, "GET");
  EXPECT_EQ(sent[0].request.path, "/prom/api/v1/query?query=sum%28up%29&time=1700000000.123");
  EXPECT_EQ(sent[0].request.headers, (kube::Headers{{"Accept", "application/json"}}));
  EXPECT_EQ(sent[0].timeout, absl::Seconds(7));
  EXPECT_FALSE(sent[0].stream);
}

TEST_F(PrometheusClientTest, Errors) {
  struct Case {
    std::string name;
    int status;  // 0: a transport failure
    std::string body;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"400 with the error envelope", 400,
       R"({"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected \")\""})",
       absl::StatusCode::kInvalidArgument,
       "prometheus query up: HTTP 400: bad_data: 1:5: parse error: unexpected \")\""},
      {"422 execution error", 422,
       R"({"status":"error","errorType":"execution","error":"many-to-many matching not allowed"})",
       absl::StatusCode::kInvalidArgument,
       "HTTP 422: execution: many-to-many matching not allowed"},
      {"500 with a plain body", 500, "internal server error\n", absl::StatusCode::kUnavailable,
       "prometheus query up: HTTP 500: internal server error"},
      {"503 timeout", 503, R"({"status":"error","errorType":"timeout","error":"query timed out"})",
       absl::StatusCode::kUnavailable, "HTTP 503: timeout: query timed out"},
      {"404 wrong base path", 404, "404 page not found", absl::StatusCode::kNotFound,
       "HTTP 404: 404 page not found"},
      {"401 with an empty body", 401, "", absl::StatusCode::kUnauthenticated,
       "HTTP 401: (empty body)"},
      {"long body is cut", 502, std::string(2000, 'x'), absl::StatusCode::kUnavailable,
       absl::StrCat("HTTP 502: ", std::string(512, 'x'), "...")},
      {"200 with status error", 200,
       R"({"status":"error","errorType":"canceled","error":"query was canceled"})",
       absl::StatusCode::kCancelled, "prometheus: canceled: query was canceled"},
      {"200 with a matrix", 200,
       R"({"status":"success","data":{"resultType":"matrix","result":[]}})",
       absl::StatusCode::kInvalidArgument, "data.resultType"},
      {"connection refused", 0, "connection refused", absl::StatusCode::kUnavailable,
       "prometheus query up: connection refused"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    if (c.status == 0) {
      transport_.Fail(absl::UnavailableError(c.body));
    } else {
      transport_.Reply(c.status, c.body);
    }
    absl::StatusOr<std::vector<PromSample>> samples = client_.Query("up", kAt);
    ASSERT_FALSE(samples.ok());
    EXPECT_EQ(samples.status().code(), c.code) << samples.status();
    EXPECT_THAT(std::string(samples.status().message()), HasSubstr(c.message));
  }
  EXPECT_EQ(transport_.pending(), 0u);
}

// ---------------------------------------------------------------------------------------------
// GpuUtilizationByPod

PromSample Sample(values::Labels labels, double value) {
  return PromSample{std::move(labels), value, kAt};
}

TEST(DcgmUtilizationTest, ResolvesPodLabels) {
  struct Case {
    std::string name;
    values::Labels labels;
    std::string key;  // "" when the sample names no pod
  };
  const std::vector<Case> cases = {
      {"exporter labels (honor_labels)", {{"namespace", "ns"}, {"pod", "p"}}, "ns/p"},
      {"renamed by Prometheus",
       {{"namespace", "gpu-operator"},
        {"pod", "dcgm-exporter-x"},
        {"exported_namespace", "ns"},
        {"exported_pod", "p"}},
       "ns/p"},
      {"only the pod renamed (the target had no namespace label)",
       {{"namespace", "ns"}, {"pod", "dcgm-exporter-x"}, {"exported_pod", "p"}},
       "ns/p"},
      {"old exporter labels", {{"pod_namespace", "ns"}, {"pod_name", "p"}}, "ns/p"},
      {"old exporter labels beside the target's",
       {{"namespace", "gpu-operator"},
        {"pod", "dcgm-exporter-x"},
        {"pod_namespace", "ns"},
        {"pod_name", "p"}},
       "ns/p"},
      {"empty exported labels are unset",
       {{"namespace", "ns"}, {"pod", "p"}, {"exported_namespace", ""}, {"exported_pod", ""}},
       "ns/p"},
      {"no pod (an idle GPU)", {{"gpu", "0"}, {"Hostname", "node-a"}}, ""},
      {"pod without a namespace", {{"pod", "p"}}, ""},
      {"namespace without a pod", {{"namespace", "ns"}}, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::flat_hash_map<std::string, double> by_pod = GpuUtilizationByPod({Sample(c.labels, 40)});
    if (c.key.empty()) {
      EXPECT_TRUE(by_pod.empty());
    } else {
      EXPECT_THAT(by_pod, UnorderedElementsAre(Pair(c.key, 40)));
    }
  }
}

TEST(DcgmUtilizationTest, AveragesEachPodsSamples) {
  const absl::flat_hash_map<std::string, double> by_pod = GpuUtilizationByPod({
      Sample({{"namespace", "a"}, {"pod", "train"}, {"gpu", "0"}}, 90),
      Sample({{"namespace", "a"}, {"pod", "train"}, {"gpu", "1"}}, 60),
      Sample({{"exported_namespace", "a"}, {"exported_pod", "train"}, {"gpu", "2"}}, 30),
      Sample({{"namespace", "b"}, {"pod", "train"}}, 10),
      Sample({{"gpu", "3"}}, 99),
  });
  EXPECT_THAT(by_pod, UnorderedElementsAre(Pair("a/train", 60), Pair("b/train", 10)));
}

TEST(DcgmUtilizationTest, NoSamplesNoPods) {
  EXPECT_TRUE(GpuUtilizationByPod({}).empty());
}

}  // namespace
}  // namespace bursar::signals
