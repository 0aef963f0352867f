#pragma once

// The fixture shared by integration tests that need a client, namespaces, Nodes and the
// optional CRDs — Kueue's, Karpenter's and Cluster API's own, upstream, from the Go module cache
// folders that BURSAR_TEST_KUEUE_CRDS, BURSAR_TEST_KARPENTER_CRDS and
// BURSAR_TEST_CLUSTER_API_CRDS name (make test-integration sets them) — on the real
// kube-apiserver that tests/cluster/with-cluster.sh starts. Cleans up after each test.

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
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "operator/yaml/yaml.h"
#include "tests/integration/harness_env.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::testing {

inline constexpr kube::ResourceType kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions",
                                          "CustomResourceDefinition", false};
inline constexpr char kManager[] = "bursar-integration-tests";
inline constexpr char kTestLabel[] = "bursar.dev/integration-test";
// The folder of Kueue's CRDs in the Go module cache (`tests/cluster/kueue.sh crds` prints it;
// make test-integration sets it).
inline constexpr char kKueueCrdsEnv[] = "BURSAR_TEST_KUEUE_CRDS";
inline constexpr char kKueueCrdsHarness[] = "make test-integration (tests/cluster/kueue.sh crds)";

// Karpenter's CRDs (pkg/apis/crds of sigs.k8s.io/karpenter: `tests/cluster/karpenter.sh crds`)
// and Cluster API's (config/crd/bases of sigs.k8s.io/cluster-api:
// `tests/cluster/cluster-api.sh crds`).
inline constexpr char kKarpenterCrdsEnv[] = "BURSAR_TEST_KARPENTER_CRDS";
inline constexpr char kKarpenterCrdsHarness[] =
    "make test-integration (tests/cluster/karpenter.sh crds)";
inline constexpr char kClusterApiCrdsEnv[] = "BURSAR_TEST_CLUSTER_API_CRDS";
inline constexpr char kClusterApiCrdsHarness[] =
    "make test-integration (tests/cluster/cluster-api.sh crds)";

class ClusterTest : public ::testing::Test {
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
        (void)client().Delete(kube::kNodes, "", json::StringAt(node, "metadata.name"));
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
    const std::string name = json::StringAt(crd, "metadata.name");
    for (int i = 0; i < 100; ++i) {
      absl::StatusOr<json::Value> got = client().Get(kCrds, "", name);
      ASSERT_TRUE(got.ok()) << got.status();
      const json::Value* conditions = got->FindPath("status.conditions");
      if (conditions != nullptr) {
        for (const json::Value& c : conditions->elements()) {
          if (json::StringAt(c, "type") == "Established" && json::StringAt(c, "status") == "True") {
            return;
          }
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << name << " never became Established";
  }

  // Applies the CRDs of FILE (one or more documents) and waits until each is Established.
  void InstallCrdFile(const std::string& file, const char* env) {
    absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(file);
    ASSERT_TRUE(docs.ok()) << env << ": " << docs.status();
    for (const json::Value& crd : *docs) {
      ApplyCrd(crd);
    }
  }

  // Karpenter's NodePool CRD as Karpenter ships it. Tests using it start with
  // REQUIRE_ENV(kKarpenterCrdsEnv, ...).
  void InstallKarpenterCrds() {
    InstallCrdFile(Env(kKarpenterCrdsEnv) + "/karpenter.sh_nodepools.yaml", kKarpenterCrdsEnv);
  }

  // Cluster API's MachineDeployment and Machine CRDs (v1beta1 stored, scale subresource on
  // MachineDeployment, status subresource on both). REQUIRE_ENV(kClusterApiCrdsEnv, ...).
  void InstallClusterApiCrds() {
    for (const char* kind : {"machinedeployments", "machines"}) {
      InstallCrdFile(absl::StrCat(Env(kClusterApiCrdsEnv), "/cluster.x-k8s.io_", kind, ".yaml"),
                     kClusterApiCrdsEnv);
    }
  }

  // Kueue's ClusterQueue CRD as Kueue ships it (served v1beta1 and v1beta2, storage v1beta2,
  // no conversion webhook here), from the module cache. Tests using it start with
  // REQUIRE_ENV(kKueueCrdsEnv, ...).
  void InstallKueueCrds() {
    InstallCrdFile(Env(kKueueCrdsEnv) + "/kueue.x-k8s.io_clusterqueues.yaml", kKueueCrdsEnv);
  }

  std::set<std::string> NodeNames(const std::string& selector) {
    kube::ListOptions options;
    options.label_selector = selector;
    absl::StatusOr<kube::ObjectList> nodes = client().ListAll(kube::kNodes, "", options);
    EXPECT_TRUE(nodes.ok()) << nodes.status();
    std::set<std::string> names;
    for (const json::Value& node : nodes.ok() ? nodes->items : std::vector<json::Value>{}) {
      names.insert(json::StringAt(node, "metadata.name"));
    }
    return names;
  }

  static inline std::unique_ptr<kube::CppRestTransport> transport_;
  static inline std::unique_ptr<kube::ApiClient> client_;
  std::vector<std::string> namespaces_;
  std::vector<std::string> node_pools_;
};

}  // namespace bursar::testing
