// Integration tests of the node-pool providers (Kwok, Cluster API, Karpenter) against a real
// kube-apiserver and etcd, started by tests/cluster/with-cluster.sh. They assert resulting state
// in the API server. Cluster API and Karpenter run against their projects' own CRDs, taken from
// the Go module cache at test time (make test-integration sets BURSAR_TEST_CLUSTER_API_CRDS and
// BURSAR_TEST_KARPENTER_CRDS), so the objects must pass the real schemas; no controller of those
// projects runs here, so these tests check what Bursar writes, not what the projects do (the real
// Karpenter is in tests/e2e/scenario-9-karpenter.sh).

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controllers/providers/cluster_api_provider.h"
#include "controllers/providers/karpenter_provider.h"
#include "controllers/providers/kwok_provider.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "operator/yaml/yaml.h"
#include "tests/integration/cluster_test_base.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::providers {
namespace {

using testing::ClusterTest;
using testing::kManager;
using testing::kTestLabel;
using ProviderTest = ClusterTest;

TEST_F(ProviderTest, KwokGrowCreatesGpuNodesAndShrinkDeletesExactlyTheNamedOnes) {
  api::GPUNodePool pool;
  pool.metadata.name = Id();
  pool.spec.provider.type = api::ProviderType::kKwok;
  pool.spec.provider.kwok_node_name_prefix = absl::StrCat(Id(), "-");
  pool.spec.node_selector = {{kTestLabel, Id()}};
  pool.spec.gpu_type = "A100";
  pool.spec.gpus_per_node = 8;
  pool.spec.capacity_type = api::CapacityType::kSpot;
  KwokProvider provider(client());

  ASSERT_TRUE(provider.Resize(pool, 3, {}).ok());
  absl::StatusOr<PoolObservation> observed = provider.Observe(pool);
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 3);
  const std::string p = pool.spec.provider.kwok_node_name_prefix;
  EXPECT_EQ(NodeNames(absl::StrCat(kTestLabel, "=", Id())),
            (std::set<std::string>{p + "0", p + "1", p + "2"}));

  absl::StatusOr<json::Value> node = client().Get(kube::kNodes, "", p + "1");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(json::MemberStringAt(*node, "status.capacity", "nvidia.com/gpu"), "8");
  EXPECT_EQ(json::MemberStringAt(*node, "status.allocatable", "nvidia.com/gpu"), "8");
  EXPECT_EQ(json::MemberStringAt(*node, "status.capacity", "pods"), "110");
  EXPECT_EQ(json::MemberStringAt(*node, "metadata.labels", "nvidia.com/gpu.product"), "A100");
  EXPECT_EQ(json::MemberStringAt(*node, "metadata.labels", "karpenter.sh/capacity-type"), "spot");
  EXPECT_EQ(json::MemberStringAt(*node, "metadata.annotations", "kwok.x-k8s.io/node"), "fake");
  const json::Value* taints = node->FindPath("spec.taints");
  ASSERT_NE(taints, nullptr);
  // The apiserver adds node.kubernetes.io/not-ready itself (TaintNodesByCondition).
  bool kwok_taint = false;
  for (const json::Value& taint : taints->elements()) {
    kwok_taint = kwok_taint || (json::StringAt(taint, "key") == "kwok.x-k8s.io/node" &&
                                json::StringAt(taint, "value") == "fake" &&
                                json::StringAt(taint, "effect") == "NoSchedule");
  }
  EXPECT_TRUE(kwok_taint) << taints->ToJson();

  // Refusals change nothing.
  EXPECT_FALSE(provider.Resize(pool, 1, {p + "0", "no-such-node"}).ok());
  EXPECT_FALSE(provider.Resize(pool, 1, {p + "0"}).ok());
  EXPECT_EQ(NodeNames(absl::StrCat(kTestLabel, "=", Id())).size(), 3u);

  ASSERT_TRUE(provider.Resize(pool, 1, {p + "0", p + "2"}).ok());
  EXPECT_EQ(NodeNames(absl::StrCat(kTestLabel, "=", Id())), (std::set<std::string>{p + "1"}));

  // Growing again fills the lowest free index.
  ASSERT_TRUE(provider.Resize(pool, 2, {}).ok());
  EXPECT_EQ(NodeNames(absl::StrCat(kTestLabel, "=", Id())),
            (std::set<std::string>{p + "0", p + "1"}));
}

// What every Cluster API Machine (and MachineDeployment template) must name: a bootstrap and an
// infrastructure reference (nothing here reconciles them).
constexpr char kMachineSpec[] = R"("clusterName":"c","bootstrap":{"dataSecretName":"gpu-boot"},
    "infrastructureRef":{"apiVersion":"infrastructure.cluster.x-k8s.io/v1beta1",
                         "kind":"DockerMachine","name":"gpu"})";

TEST_F(ProviderTest, ClusterApiScalesTheMachineDeploymentAndMarksMachines) {
  REQUIRE_ENV(testing::kClusterApiCrdsEnv, "installs Cluster API's own CRDs",
              testing::kClusterApiCrdsHarness);
  InstallClusterApiCrds();
  const std::string ns = Namespace();
  absl::StatusOr<json::Value> md =
      client().Create(kube::kMachineDeployments, ns,
                      JsonOrFail(absl::StrCat(
                          R"({"apiVersion":"cluster.x-k8s.io/v1beta1","kind":"MachineDeployment",
               "metadata":{"name":"gpu-md"},"spec":{"clusterName":"c","replicas":1,
               "selector":{"matchLabels":{"pool":"gpu"}},
               "template":{"metadata":{"labels":{"pool":"gpu"}},"spec":{)",
                          kMachineSpec, "}}}}")));
  ASSERT_TRUE(md.ok()) << md.status();

  api::GPUNodePool pool;
  pool.metadata.name = Id();
  pool.spec.provider.type = api::ProviderType::kClusterAPI;
  pool.spec.provider.cluster_api_namespace = ns;
  pool.spec.provider.cluster_api_name = "gpu-md";
  pool.spec.node_selector = {{kTestLabel, Id()}};
  ClusterApiProvider provider(client());

  ASSERT_TRUE(provider.Resize(pool, 3, {}).ok());
  absl::StatusOr<json::Value> scale = client().GetScale(kube::kMachineDeployments, ns, "gpu-md");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ(PathOrFail(*scale, "spec.replicas").int_value(), 3);

  // Two of the three replicas have a Node (and a Machine pointing at it).
  const std::string n1 = Id() + "-n1";
  const std::string n2 = Id() + "-n2";
  CreateNode(n1, R"("x":"y")");
  CreateNode(n2, R"("x":"y")");
  for (const auto& [machine, node] : {std::pair{"m1", n1}, std::pair{"m2", n2}}) {
    absl::StatusOr<json::Value> created = client().Create(
        kClusterApiMachines, ns,
        JsonOrFail(absl::StrCat(
            R"({"apiVersion":"cluster.x-k8s.io/v1beta1","kind":"Machine","metadata":{"name":")",
            machine, R"(","labels":{"cluster.x-k8s.io/deployment-name":"gpu-md"}},"spec":{)",
            kMachineSpec, "}}")));
    ASSERT_TRUE(created.ok()) << created.status();
    // The real CRD has a status subresource: the Machine controller's nodeRef goes there.
    absl::StatusOr<json::Value> linked = client().PatchStatus(
        kClusterApiMachines, ns, machine, kube::PatchType::kMerge,
        JsonOrFail(absl::StrCat(R"({"status":{"nodeRef":{"apiVersion":"v1","kind":"Node","name":")",
                                node, R"("}}})")));
    ASSERT_TRUE(linked.ok()) << linked.status();
  }
  absl::StatusOr<PoolObservation> observed = provider.Observe(pool);
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 3);
  EXPECT_EQ(observed->nodes.size(), 2u);

  // Naming no node cannot reach 1 (only one replica has no Node): refused, nothing changes.
  EXPECT_FALSE(provider.Resize(pool, 1, {}).ok());
  ASSERT_TRUE(provider.Resize(pool, 1, {n2}).ok());
  scale = client().GetScale(kube::kMachineDeployments, ns, "gpu-md");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ(PathOrFail(*scale, "spec.replicas").int_value(), 1);
  absl::StatusOr<json::Value> m2 = client().Get(kClusterApiMachines, ns, "m2");
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_EQ(json::MemberStringAt(*m2, "metadata.annotations", kDeleteMachineAnnotation), "yes");
  absl::StatusOr<json::Value> m1 = client().Get(kClusterApiMachines, ns, "m1");
  ASSERT_TRUE(m1.ok()) << m1.status();
  EXPECT_EQ(json::MemberStringAt(*m1, "metadata.annotations", kDeleteMachineAnnotation), "");
}

TEST_F(ProviderTest, KarpenterPatchesTheGpuLimitAndDeletesNamedNodes) {
  REQUIRE_ENV(testing::kKarpenterCrdsEnv, "installs Karpenter's own NodePool CRD",
              testing::kKarpenterCrdsHarness);
  InstallKarpenterCrds();
  const std::string name = Id();
  absl::StatusOr<json::Value> node_pool = client().Create(
      kube::kKarpenterNodePools, "",
      JsonOrFail(absl::StrCat(
          R"({"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":")", name,
          R"("},"spec":{"limits":{"cpu":"1000","nvidia.com/gpu":"4"},
              "template":{"spec":{"nodeClassRef":{"group":"karpenter.kwok.sh",
                                                  "kind":"KWOKNodeClass","name":"default"},
                                  "requirements":[]}}}})")));
  ASSERT_TRUE(node_pool.ok()) << node_pool.status();
  node_pools_.push_back(name);

  api::GPUNodePool pool;
  pool.metadata.name = name;
  pool.spec.provider.type = api::ProviderType::kKarpenter;
  pool.spec.provider.karpenter_node_pool = name;
  pool.spec.gpus_per_node = 4;
  KarpenterProvider provider(client());

  absl::StatusOr<PoolObservation> observed = provider.Observe(pool);
  ASSERT_TRUE(observed.ok()) << observed.status();
  EXPECT_EQ(observed->target_size, 1);

  ASSERT_TRUE(provider.Resize(pool, 3, {}).ok());
  absl::StatusOr<json::Value> got = client().Get(kube::kKarpenterNodePools, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(json::MemberStringAt(*got, "spec.limits", "nvidia.com/gpu"), "12");
  EXPECT_EQ(json::MemberStringAt(*got, "spec.limits", "cpu"), "1000");

  // Karpenter launched three nodes.
  const std::string label = absl::StrCat(R"("karpenter.sh/nodepool":")", name, R"(")");
  for (const char* n : {"-a", "-b", "-c"}) {
    CreateNode(name + n, label);
  }
  EXPECT_FALSE(provider.Resize(pool, 1, {name + "-a"}).ok());  // two must go
  ASSERT_TRUE(provider.Resize(pool, 1, {name + "-a", name + "-c"}).ok());
  got = client().Get(kube::kKarpenterNodePools, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(json::MemberStringAt(*got, "spec.limits", "nvidia.com/gpu"), "4");
  EXPECT_EQ(NodeNames(absl::StrCat("karpenter.sh/nodepool=", name)),
            (std::set<std::string>{name + "-b"}));
}

}  // namespace
}  // namespace bursar::providers
