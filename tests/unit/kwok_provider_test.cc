#include "controllers/providers/kwok_provider.h"

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

std::string At(const json::Value& v, std::string_view dotted) {
  const json::Value* f = v.FindPath(dotted);
  return f != nullptr && f->is_string() ? f->string_value() : "";
}

api::GPUNodePool Pool() {
  api::GPUNodePool pool;
  pool.metadata.name = "a100";
  pool.spec.provider.type = api::ProviderType::kKwok;
  pool.spec.provider.kwok_node_name_prefix = "gpu-a-";
  pool.spec.node_selector = {{"bursar.dev/pool", "a100"}};
  pool.spec.gpu_type = "A100";
  pool.spec.gpus_per_node = 8;
  pool.spec.capacity_type = api::CapacityType::kSpot;
  return pool;
}

std::string NodeJson(const std::string& name, bool ready) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"("},"spec":{"providerID":"kwok://)", name,
                      R"("},"status":{"conditions":[{"type":"Ready","status":")",
                      ready ? "True" : "False", R"("}]}})");
}

std::string NodeList(const std::vector<std::string>& nodes) {
  return absl::StrCat(R"({"kind":"NodeList","metadata":{"resourceVersion":"7"},"items":[)",
                      absl::StrJoin(nodes, ","), "]}");
}

constexpr char kListPath[] = "/api/v1/nodes?labelSelector=bursar.dev%2Fpool%3Da100&limit=500";

class KwokProviderTest : public ::testing::Test {
 protected:
  kube::FakeTransport transport_;
  kube::ApiClient client_{transport_};
  KwokProvider provider_{client_};
};

TEST_F(KwokProviderTest, ObserveCountsSelectedNodesWithThePrefix) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-0", true), NodeJson("gpu-a-1", false),
                                  NodeJson("other-0", true)}));
  absl::StatusOr<PoolObservation> observed = provider_.Observe(Pool());
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 2);
  EXPECT_THAT(observed->nodes, ElementsAre(ProviderNode{"gpu-a-0", "kwok://gpu-a-0", true},
                                           ProviderNode{"gpu-a-1", "kwok://gpu-a-1", false}));
  EXPECT_EQ(transport_.requests()[0].path, kListPath);
}

TEST_F(KwokProviderTest, GrowCreatesGpuNodesAtTheLowestFreeIndices) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-1", true)}));
  // The first create keeps the status; the second drops it, so it is patched in.
  transport_.Reply(
      201, R"({"metadata":{"name":"gpu-a-0"},"status":{"capacity":{"nvidia.com/gpu":"8"}}})");
  transport_.Reply(201, R"({"metadata":{"name":"gpu-a-2"}})");
  transport_.Reply(200, R"({"metadata":{"name":"gpu-a-2"}})");

  ASSERT_TRUE(provider_.Resize(Pool(), 3, {}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1].method, "POST");
  EXPECT_EQ(sent[1].path, "/api/v1/nodes");
  const json::Value node = JsonOrFail(sent[1].body);
  EXPECT_EQ(At(node, "metadata.name"), "gpu-a-0");
  const json::Value* labels = node.FindPath("metadata.labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_EQ(FieldOrFail(*labels, "bursar.dev/pool").string_value(), "a100");
  EXPECT_EQ(FieldOrFail(*labels, "nvidia.com/gpu.product").string_value(), "A100");
  EXPECT_EQ(FieldOrFail(*labels, "karpenter.sh/capacity-type").string_value(), "spot");
  EXPECT_EQ(
      FieldOrFail(PathOrFail(node, "metadata.annotations"), "kwok.x-k8s.io/node").string_value(),
      "fake");
  EXPECT_EQ(
      FieldOrFail(PathOrFail(node, "metadata.annotations"), "metrics.k8s.io/resource-metrics-path")
          .string_value(),
      "/metrics/nodes/gpu-a-0/metrics/resource");
  EXPECT_EQ(PathOrFail(node, "spec.taints").ToJson(),
            R"([{"key":"kwok.x-k8s.io/node","value":"fake","effect":"NoSchedule"}])");
  EXPECT_EQ(PathOrFail(node, "status.capacity").ToJson(),
            R"({"cpu":"96","memory":"512Gi","pods":"110","nvidia.com/gpu":"8"})");
  EXPECT_EQ(PathOrFail(node, "status.allocatable").ToJson(),
            PathOrFail(node, "status.capacity").ToJson());

  EXPECT_EQ(At(JsonOrFail(sent[2].body), "metadata.name"), "gpu-a-2");
  EXPECT_EQ(sent[3].method, "PATCH");
  EXPECT_EQ(sent[3].path, "/api/v1/nodes/gpu-a-2/status");
  EXPECT_EQ(FieldOrFail(PathOrFail(JsonOrFail(sent[3].body), "status.capacity"), "nvidia.com/gpu")
                .string_value(),
            "8");
  EXPECT_EQ(transport_.pending(), 0u);
}

TEST_F(KwokProviderTest, GrowSkipsNamesTakenOutsideThePool) {
  transport_.Reply(200, NodeList({}));
  transport_.Reply(409,
                   R"({"kind":"Status","status":"Failure","reason":"AlreadyExists","code":409})");
  transport_.Reply(
      201, R"({"metadata":{"name":"gpu-a-1"},"status":{"capacity":{"nvidia.com/gpu":"8"}}})");
  ASSERT_TRUE(provider_.Resize(Pool(), 1, {}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(At(JsonOrFail(sent[1].body), "metadata.name"), "gpu-a-0");
  EXPECT_EQ(At(JsonOrFail(sent[2].body), "metadata.name"), "gpu-a-1");
}

TEST_F(KwokProviderTest, ShrinkDeletesExactlyTheNamedNodes) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-0", true), NodeJson("gpu-a-1", true),
                                  NodeJson("gpu-a-2", true)}));
  transport_.Reply(200, R"({"metadata":{"name":"gpu-a-0"}})");
  transport_.Reply(200, R"({"metadata":{"name":"gpu-a-2"}})");
  ASSERT_TRUE(provider_.Resize(Pool(), 1, {"gpu-a-2", "gpu-a-0"}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[1].method, "DELETE");
  EXPECT_EQ(sent[1].path, "/api/v1/nodes/gpu-a-0");
  EXPECT_EQ(sent[2].path, "/api/v1/nodes/gpu-a-2");
}

TEST_F(KwokProviderTest, ShrinkRefusesUnknownNodesAndChangesNothing) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-0", true), NodeJson("gpu-a-1", true)}));
  absl::Status status = provider_.Resize(Pool(), 0, {"gpu-a-0", "other-0"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("other-0"));
  EXPECT_EQ(transport_.requests().size(), 1u);
}

TEST_F(KwokProviderTest, ShrinkRefusesWhenRemoveDoesNotAccountForTheDifference) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-0", true), NodeJson("gpu-a-1", true)}));
  absl::Status status = provider_.Resize(Pool(), 0, {"gpu-a-0"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("needs 2 nodes named in remove, but it names 1"));
  EXPECT_EQ(transport_.requests().size(), 1u);
}

TEST_F(KwokProviderTest, SameSizeChangesNothing) {
  transport_.Reply(200, NodeList({NodeJson("gpu-a-0", true)}));
  EXPECT_TRUE(provider_.Resize(Pool(), 1, {}).ok());
  EXPECT_EQ(transport_.requests().size(), 1u);
}

}  // namespace
}  // namespace bursar::providers
