#include "controllers/providers/cluster_api_provider.h"

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
  pool.metadata.name = "h100";
  pool.spec.provider.type = api::ProviderType::kClusterAPI;
  pool.spec.provider.cluster_api_namespace = "capi";
  pool.spec.provider.cluster_api_name = "gpu-md";
  pool.spec.node_selector = {{"bursar.dev/pool", "h100"}};
  pool.spec.gpus_per_node = 8;
  return pool;
}

std::string Scale(int replicas) {
  return absl::StrCat(
      R"({"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"gpu-md","resourceVersion":"42"},"spec":{"replicas":)",
      replicas, "}}");
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

std::string Machine(const std::string& name, const std::string& node) {
  return absl::StrCat(R"({"metadata":{"name":")", name, R"("},"status":{"nodeRef":{"name":")", node,
                      R"("}}})");
}

constexpr char kScalePath[] =
    "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu-md/scale";

class ClusterApiProviderTest : public ::testing::Test {
 protected:
  kube::FakeTransport transport_;
  kube::ApiClient client_{transport_};
  ClusterApiProvider provider_{client_};
};

TEST_F(ClusterApiProviderTest, ObserveReadsReplicasAndNodes) {
  transport_.Reply(200, Scale(3));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", false)}));
  absl::StatusOr<PoolObservation> observed = provider_.Observe(Pool());
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 3);
  EXPECT_THAT(observed->nodes, ElementsAre(ProviderNode{"n1", "aws:///n1", true},
                                           ProviderNode{"n2", "aws:///n2", false}));
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  EXPECT_EQ(sent[0].path, kScalePath);
  EXPECT_EQ(sent[1].path, "/api/v1/nodes?labelSelector=bursar.dev%2Fpool%3Dh100&limit=500");
}

TEST_F(ClusterApiProviderTest, GrowPatchesReplicasGuardedByResourceVersion) {
  transport_.Reply(200, Scale(1));
  transport_.Reply(200, Scale(3));
  ASSERT_TRUE(provider_.Resize(Pool(), 3, {}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[1].method, "PATCH");
  EXPECT_EQ(sent[1].path, kScalePath);
  EXPECT_EQ(JsonOrFail(sent[1].body).ToJson(),
            R"({"metadata":{"resourceVersion":"42"},"spec":{"replicas":3}})");
}

TEST_F(ClusterApiProviderTest, ShrinkMarksTheNamedNodesMachinesThenScales) {
  transport_.Reply(200, Scale(3));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true), NodeJson("n3", true)}));
  transport_.Reply(200, List({Machine("m1", "n1"), Machine("m2", "n2"), Machine("m3", "n3")}));
  transport_.Reply(200, R"({"metadata":{"name":"m2"}})");
  transport_.Reply(200, Scale(2));
  ASSERT_TRUE(provider_.Resize(Pool(), 2, {"n2"}).ok());
  const std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(
      sent[2].path,
      "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machines?labelSelector=cluster.x-k8s.io%"
      "2Fdeployment-name%3Dgpu-md&limit=500");
  EXPECT_EQ(sent[3].method, "PATCH");
  EXPECT_EQ(sent[3].path, "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machines/m2");
  EXPECT_EQ(JsonOrFail(sent[3].body).ToJson(),
            R"({"metadata":{"annotations":{"cluster.x-k8s.io/delete-machine":"yes"}}})");
  EXPECT_EQ(sent[4].path, kScalePath);
  EXPECT_EQ(PathOrFail(JsonOrFail(sent[4].body), "spec.replicas").int_value(), 2);
}

TEST_F(ClusterApiProviderTest, ShrinkOfReplicasWithoutNodesNeedsNoNames) {
  transport_.Reply(200, Scale(3));
  transport_.Reply(200, List({NodeJson("n1", true)}));
  transport_.Reply(200, List({Machine("m1", "n1"), Machine("m2", ""), Machine("m3", "")}));
  transport_.Reply(200, Scale(1));
  ASSERT_TRUE(provider_.Resize(Pool(), 1, {}).ok());
  EXPECT_EQ(transport_.requests().size(), 4u);
}

TEST_F(ClusterApiProviderTest, ShrinkRefusesANodeWithoutMachineAndChangesNothing) {
  transport_.Reply(200, Scale(2));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true)}));
  transport_.Reply(200, List({Machine("m1", "n1")}));
  absl::Status status = provider_.Resize(Pool(), 1, {"n2"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("no Machine of the MachineDeployment: n2"));
  for (const kube::HttpRequest& request : transport_.requests()) {
    EXPECT_EQ(request.method, "GET");
  }
}

TEST_F(ClusterApiProviderTest, ShrinkRefusesUnknownAndTooFewNames) {
  transport_.Reply(200, Scale(2));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true)}));
  transport_.Reply(200, List({Machine("m1", "n1"), Machine("m2", "n2")}));
  absl::Status status = provider_.Resize(Pool(), 1, {"n9"});
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not in the pool: n9"));

  transport_.Reply(200, Scale(2));
  transport_.Reply(200, List({NodeJson("n1", true), NodeJson("n2", true)}));
  transport_.Reply(200, List({Machine("m1", "n1"), Machine("m2", "n2")}));
  status = provider_.Resize(Pool(), 0, {"n1"});
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("needs 2 nodes named in remove"));
  for (const kube::HttpRequest& request : transport_.requests()) {
    EXPECT_EQ(request.method, "GET");
  }
}

TEST_F(ClusterApiProviderTest, MissingMachineDeploymentIsAnError) {
  api::GPUNodePool pool = Pool();
  pool.spec.provider.cluster_api_name.clear();
  EXPECT_EQ(provider_.Observe(pool).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport_.requests().empty());
}

}  // namespace
}  // namespace bursar::providers
