#pragma once

// The fixture shared by integration tests that need a client, namespaces, Nodes and the
// optional CRDs — Kueue's own (upstream, from the folder BURSAR_TEST_KUEUE_CRDS names), stand-ins
// for Karpenter and Cluster API (tests/integration/fixtures/optional-crds.yaml) — on the real
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

// Cluster API's Machine, reduced to what the provider reads (no status subresource, so a test
// can set status.nodeRef on create).
inline constexpr char kMachineCrd[] = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "machines.cluster.x-k8s.io"},
  "spec": {"group": "cluster.x-k8s.io", "scope": "Namespaced",
           "names": {"plural": "machines", "singular": "machine", "kind": "Machine",
                     "listKind": "MachineList"},
           "versions": [{"name": "v1beta1", "served": true, "storage": true,
                         "schema": {"openAPIV3Schema": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": true}}}]}})";

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

  void InstallOptionalCrds() {
    absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(
        std::string(BURSAR_SOURCE_DIR) + "/tests/integration/fixtures/optional-crds.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    for (const json::Value& crd : *docs) {
      ApplyCrd(crd);
    }
    ApplyCrd(JsonOrFail(kMachineCrd));
  }

  // Kueue's ClusterQueue CRD as Kueue ships it (served v1beta1 and v1beta2, storage v1beta2,
  // no conversion webhook here), from the module cache. Tests using it start with
  // REQUIRE_ENV(kKueueCrdsEnv, ...).
  void InstallKueueCrds() {
    std::string file = Env(kKueueCrdsEnv) + "/kueue.x-k8s.io_clusterqueues.yaml";
    absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(file);
    ASSERT_TRUE(docs.ok()) << kKueueCrdsEnv << ": " << docs.status();
    for (const json::Value& crd : *docs) {
      ApplyCrd(crd);
    }
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
