// Integration tests of the node-pool providers (Kwok, Cluster API, Karpenter) against a real
// kube-apiserver and etcd, started by tests/cluster/with-cluster.sh. They assert resulting state
// in the API server. Cluster API and Karpenter run against the stand-in CRDs of
// tests/integration/fixtures/optional-crds.yaml (plus a stand-in Machine CRD defined here);
// nothing reconciles them, so these tests check what Bursar writes, not what the projects do.

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
#include "controllers/api/yaml.h"
#include "controllers/providers/cluster_api_provider.h"
#include "controllers/providers/karpenter_provider.h"
#include "controllers/providers/kwok_provider.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::providers {
namespace {

constexpr kube::ResourceType kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                   "CustomResourceDefinition", false};
constexpr char kManager[] = "bursar-provider-tests";
constexpr char kTestLabel[] = "bursar.dev/provider-test";

// Cluster API's Machine, reduced to what the provider reads (no status subresource, so a test
// can set status.nodeRef on create).
constexpr char kMachineCrd[] = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "machines.cluster.x-k8s.io"},
  "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
           "names": {"plural": "machines", "singular": "machine", "kind": "Machine",
                     "listKind": "MachineList"},
           "versions": [{"name": "v1beta1", "served": true, "storage": true,
                         "schema": {"openAPIV3Schema": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": true}}}]}})";

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

std::string Str(const json::Value& v, std::string_view dotted) {
  const json::Value* f = v.FindPath(dotted);
  return f != nullptr && f->is_string() ? f->string_value() : "";
}

// Member lookup for keys with dots ("nvidia.com/gpu"), which FindPath would split.
std::string Member(const json::Value& v, std::string_view path, std::string_view key) {
  const json::Value* parent = v.FindPath(path);
  const json::Value* f = parent != nullptr ? parent->Find(key) : nullptr;
  return f != nullptr && f->is_string() ? f->string_value() : "";
}

class ProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_FALSE(Env("KUBECONFIG").empty())
        << "no cluster: set KUBECONFIG, or run through tests/cluster/with-cluster.sh";
    absl::StatusOr<kube::ClusterConfig> cluster = kube::LoadKubeconfig(Env("KUBECONFIG"));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    absl::StatusOr<std::unique_ptr<kube::CppRestTransport>> transport =
        kube::TransportFor(*cluster);
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = std::move(*transport);
    client_ = std::make_unique<kube::ApiClient>(*transport_, kube::ApiClient::Options{});
  }
  static void TearDownTestSuite() {
    client_.reset();
    transport_.reset();
  }

  kube::ApiClient& client() { return *client_; }

  // A name unique to this test and process, so reruns on a cached control plane never collide.
  std::string Id() {
    return absl::StrCat("pt-", ::testing::UnitTest::GetInstance()->current_test_info()->line(), "-",
                        getpid());
  }

  void TearDown() override {
    kube::ListOptions options;
    options.label_selector = absl::StrCat(kTestLabel, "=", Id());
    absl::StatusOr<kube::ObjectList> nodes = client().ListAll(kube::kNodes, "", options);
    if (nodes.ok()) {
      for (const json::Value& node : nodes->items) {
        (void)client().Delete(kube::kNodes, "", Str(node, "metadata.name"));
      }
    }
    for (const std::string& ns : namespaces_) {
      (void)client().Delete(kube::kNamespaces, "", ns);
    }
    for (const std::string& node_pool : node_pools_) {
      (void)client().Delete(kube::kKarpenterNodePools, "", node_pool);
    }
  }

  std::string Namespace() {
    const std::string name = Id();
    absl::StatusOr<json::Value> ns = client().Create(
        kube::kNamespaces, "",
        JsonOrFail(absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")",
                                name, R"("}})")));
    EXPECT_TRUE(ns.ok()) << ns.status();
    namespaces_.push_back(name);
    return name;
  }

  // A plain Node in the test's cleanup set, with extra labels.
  void CreateNode(const std::string& name, const std::string& labels_json) {
    absl::StatusOr<json::Value> node = client().Create(
        kube::kNodes, "",
        JsonOrFail(absl::StrCat(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")", name,
                                R"(","labels":{")", kTestLabel, R"(":")", Id(), R"(",)",
                                labels_json, "}}}")));
    ASSERT_TRUE(node.ok()) << node.status();
  }

  void ApplyCrd(const json::Value& crd) {
    absl::StatusOr<json::Value> applied = client().Apply(kCrds, "", crd, kManager, true);
    ASSERT_TRUE(applied.ok()) << applied.status();
    const std::string name = Str(crd, "metadata.name");
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<json::Value> got = client().Get(kCrds, "", name);
      ASSERT_TRUE(got.ok()) << got.status();
      const json::Value* conditions = got->FindPath("status.conditions");
      if (conditions != nullptr) {
        for (const json::Value& c : conditions->elements()) {
          if (Str(c, "type") == "Established" && Str(c, "status") == "True") {
            return;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << name << " never became Established";
  }

  void InstallOptionalCrds() {
    absl::StatusOr<std::vector<json::Value>> docs = api::ReadYamlFile(
        std::string(BURSAR_SOURCE_DIR) + "/tests/integration/fixtures/optional-crds.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const json::Value& crd : *docs) {
      ApplyCrd(crd);
    }
    ApplyCrd(JsonOrFail(kMachineCrd));
  }

  std::set<std::string> NodeNames(const std::string& selector) {
    kube::ListOptions options;
    options.label_selector = selector;
    absl::StatusOr<kube::ObjectList> nodes = client().ListAll(kube::kNodes, "", options);
    EXPECT_TRUE(nodes.ok()) << nodes.status();
    std::set<std::string> names;
    for (const json::Value& node : nodes.ok() ? nodes->items : std::vector<json::Value>{}) {
      names.insert(Str(node, "metadata.name"));
    }
    return names;
  }

  static inline std::unique_ptr<kube::CppRestTransport> transport_;
  static inline std::unique_ptr<kube::ApiClient> client_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> node_pools_;
};

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
  EXPECT_EQ(Member(*node, "status.capacity", "nvidia.com/gpu"), "8");
  EXPECT_EQ(Member(*node, "status.allocatable", "nvidia.com/gpu"), "8");
  EXPECT_EQ(Member(*node, "status.capacity", "pods"), "110");
  EXPECT_EQ(Member(*node, "metadata.labels", "nvidia.com/gpu.product"), "A100");
  EXPECT_EQ(Member(*node, "metadata.labels", "karpenter.sh/capacity-type"), "spot");
  EXPECT_EQ(Member(*node, "metadata.annotations", "kwok.x-k8s.io/node"), "fake");
  const json::Value* taints = node->FindPath("spec.taints");
  ASSERT_NE(taints, nullptr);
  // The apiserver adds node.kubernetes.io/not-ready itself (TaintNodesByCondition).
  bool kwok_taint = false;
  for (const json::Value& taint : taints->elements()) {
    kwok_taint =
        kwok_taint || (Str(taint, "key") == "kwok.x-k8s.io/node" && Str(taint, "value") == "fake" &&
                       Str(taint, "effect") == "NoSchedule");
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

TEST_F(ProviderTest, ClusterApiScalesTheMachineDeploymentAndMarksMachines) {
  InstallOptionalCrds();
  const std::string ns = Namespace();
  absl::StatusOr<json::Value> md = client().Create(
      kube::kMachineDeployments, ns,
      JsonOrFail(R"({"apiVersion":"cluster.x-k8s.io/v1beta1","kind":"MachineDeployment",
               "metadata":{"name":"gpu-md"},"spec":{"clusterName":"c","replicas":1}})"));
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
  EXPECT_EQ(scale->FindPath("spec.replicas")->int_value(), 3);

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
            machine, R"(","labels":{"cluster.x-k8s.io/deployment-name":"gpu-md"}},)",
            R"("spec":{"clusterName":"c"},"status":{"nodeRef":{"kind":"Node","name":")", node,
            R"("}}})")));
    ASSERT_TRUE(created.ok()) << created.status();
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
  EXPECT_EQ(scale->FindPath("spec.replicas")->int_value(), 1);
  absl::StatusOr<json::Value> m2 = client().Get(kClusterApiMachines, ns, "m2");
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_EQ(Member(*m2, "metadata.annotations", kDeleteMachineAnnotation), "yes");
  absl::StatusOr<json::Value> m1 = client().Get(kClusterApiMachines, ns, "m1");
  ASSERT_TRUE(m1.ok()) << m1.status();
  EXPECT_EQ(Member(*m1, "metadata.annotations", kDeleteMachineAnnotation), "");
}

TEST_F(ProviderTest, KarpenterPatchesTheGpuLimitAndDeletesNamedNodes) {
  InstallOptionalCrds();
  const std::string name = Id();
  absl::StatusOr<json::Value> node_pool = client().Create(
      kube::kKarpenterNodePools, "",
      JsonOrFail(
          absl::StrCat(R"({"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":")",
                       name, R"("},"spec":{"limits":{"cpu":"1000","nvidia.com/gpu":"4"}}})")));
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
  EXPECT_EQ(Member(*got, "spec.limits", "nvidia.com/gpu"), "12");
  EXPECT_EQ(Member(*got, "spec.limits", "cpu"), "1000");

  // Karpenter launched three nodes.
  const std::string label = absl::StrCat(R"("karpenter.sh/nodepool":")", name, R"(")");
  for (const char* n : {"-a", "-b", "-c"}) {
    CreateNode(name + n, label);
  }
  EXPECT_FALSE(provider.Resize(pool, 1, {name + "-a"}).ok());  // two must go
  ASSERT_TRUE(provider.Resize(pool, 1, {name + "-a", name + "-c"}).ok());
  got = client().Get(kube::kKarpenterNodePools, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(Member(*got, "spec.limits", "nvidia.com/gpu"), "4");
  EXPECT_EQ(NodeNames(absl::StrCat("karpenter.sh/nodepool=", name)),
            (std::set<std::string>{name + "-b"}));
}

}  // namespace
}  // namespace bursar::providers
