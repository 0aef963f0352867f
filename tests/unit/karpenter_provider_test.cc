#include "controllers/providers/karpenter_provider.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::providers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

api::GPUNodePool Pool() {
  api::GPUNodePool pool;
  pool.metadata.name = "l4";
  pool.spec.provider.type = api::ProviderType::kKarpenter;
  pool.spec.provider.karpenter_node_pool = "gpu";
  pool.spec.node_selector = {{"bursar.dev/pool", "l4"}};
  pool.spec.gpus_per_node = 4;
  return pool;
}

std::string NodePool(const std::string& limits) {
  return absl::StrCat(R"({"metadata":{"name":"gpu"},"spec":{"limits":)", limits, "}}");
}

std::string NodeJson(const std::string& name, bool ready) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"("},"spec":{"providerID":"aws:///)", name,
                      R"("},"status":{"conditions":[{"type":"Ready","status":")",
                      ready ? "True" : "False", R"("}]}})");
}

std::string List(const std::vector<std::string>& items) {
  return absl::StrCat(R"({"metadata":{"resourceVersion":"7"},"items":[)", absl::StrJoin(items, ","),
                      "]}");
}

constexpr char kNodePoolPath[] = "/apis/karpenter.sh/v1/nodepools/gpu";

class KarpenterProviderTest : public ::testing::Test {
 protected:
  kube::FakeTransport transport_;
  kube::ApiClient client_{transport_};
  KarpenterProvider provider_{client_};
};

TEST_F(KarpenterProviderTest, ObserveTargetIsTheGpuLimitOverGpusPerNode) {
  transport_.Reply(200, NodePool(R"({"cpu":"1000","nvidia.com/gpu":"12"})"));
  transport_.Reply(200, List({NodeJson("n1", true)}));
  absl::StatusOr<PoolObservation> observed = provider_.Observe(Pool());
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 3);
  EXPECT_THAT(observed->nodes, ElementsAre(ProviderNode{"n1", "aws:///n1", true}));
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  EXPECT_EQ(sent[0].path, kNodePoolPath);
  EXPECT_EQ(sent[1].path,
            "/api/v1/nodes?labelSelector=bursar.dev%2Fpool%3Dl4%2Ckarpenter.sh%2Fnodepool%3Dgpu&"
            "limit=500");
}

TEST_F(KarpenterProviderTest, ObserveWithoutLimitCountsNodes) {
  transport_.Reply(200, NodePool(R"({"cpu":"1000"})"));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", false)}));
  absl::StatusOr<PoolObservation> observed = provider_.Observe(Pool());
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 2);
}

TEST_F(KarpenterProviderTest, GrowRaisesTheGpuLimit) {
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":4})"));
  transport_.Reply(200, List({NodeJson("n1", true)}));
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"12"})"));
  ASSERT_TRUE(provider_.Resize(Pool(), 3, {}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[2].method, "PATCH");
  EXPECT_EQ(sent[2].path, kNodePoolPath);
  EXPECT_EQ(JsonOrFail(sent[2].body).ToJson(), R"({"spec":{"limits":{"nvidia.com/gpu":"12"}}})");
}

TEST_F(KarpenterProviderTest, ShrinkLowersTheLimitThenDeletesTheNamedNodes) {
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"12"})"));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true), NodeJson("n3", true)}));
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"4"})"));
  transport_.Reply(200, R"({"metadata":{"name":"n1"}})");
  transport_.Reply(404, R"({"kind":"Status","status":"Failure","reason":"NotFound","code":404})");
  ASSERT_TRUE(provider_.Resize(Pool(), 1, {"n3", "n1"}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(JsonOrFail(sent[2].body).ToJson(), R"({"spec":{"limits":{"nvidia.com/gpu":"4"}}})");
  EXPECT_EQ(sent[3].method, "DELETE");
  EXPECT_EQ(sent[3].path, "/api/v1/nodes/n1");
  EXPECT_EQ(sent[4].path, "/api/v1/nodes/n3");
}

TEST_F(KarpenterProviderTest, ShrinkOfHeadroomNeedsNoNames) {
  // Limit for 3 nodes, 1 running: going to 1 only lowers the limit.
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"12"})"));
  transport_.Reply(200, List({NodeJson("n1", true)}));
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"4"})"));
  ASSERT_TRUE(provider_.Resize(Pool(), 1, {}).ok());
  EXPECT_EQ(transport_.requests().size(), 3u);
}

TEST_F(KarpenterProviderTest, ShrinkRefusesWhenNodesWouldStayAboveTheLimit) {
  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"12"})"));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true), NodeJson("n3", true)}));
  absl::Status status = provider_.Resize(Pool(), 1, {"n1"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("needs 2 nodes named in remove"));

  transport_.Reply(200, NodePool(R"({"nvidia.com/gpu":"12"})"));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true), NodeJson("n3", true)}));
  status = provider_.Resize(Pool(), 2, {"n1", "n9"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not in the pool: n9"));
  for (const kube::HttpRequest& request : transport_.requests()) {
    EXPECT_EQ(request.method, "GET");
  }
}

TEST_F(KarpenterProviderTest, MissingNodePoolIsAnError) {
  transport_.Reply(404, R"({"kind":"Status","status":"Failure","reason":"NotFound","code":404})");
  absl::StatusOr<PoolObservation> observed = provider_.Observe(Pool());
  EXPECT_EQ(observed.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(observed.status().message(), HasSubstr("GPUNodePool l4 (Karpenter NodePool gpu)"));
}

}  // namespace
}  // namespace bursar::providers
