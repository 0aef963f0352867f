// Integration tests of Bursar's Kubernetes client against a real kube-apiserver and etcd,
// started by tests/cluster/with-cluster.sh (make test-integration). They assert resulting
// state in the API server, never the calls made. The cluster comes from the BURSAR_TEST_*
// environment that with-cluster.sh exports.

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/endpoints.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/store.h"
#include "operator/runtime/watcher.h"
#include "operator/yaml/yaml.h"
#include "tests/integration/cluster_test_base.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::kube {
namespace {

constexpr ResourceType kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
using testing::Env;
using testing::kCrds;
using testing::kManager;

// The throwaway cluster of tests/cluster/with-cluster.sh (restartable apiserver, etcd gateway,
// token file); other clusters reached through KUBECONFIG lack them.
#define REQUIRE_HARNESS(var, why) REQUIRE_ENV(var, why, "tests/cluster/with-cluster.sh")

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Source(const std::string& relative) {
  return std::string(BURSAR_SOURCE_DIR) + "/" + relative;
}

std::vector<json::Value> YamlFile(const std::string& path) {
  absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(path);
  EXPECT_TRUE(docs.ok()) << docs.status();
  return docs.ok() ? *docs : std::vector<json::Value>{};
}

class ApiServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // Any cluster through KUBECONFIG; tests that need the harness's internals (restarting the
    // apiserver, compacting etcd, its token file) skip themselves elsewhere.
    ASSERT_FALSE(Env("KUBECONFIG").empty())
        << "no cluster: set KUBECONFIG, or run through tests/cluster/with-cluster.sh "
           "(make test-integration)";
    // The admin kubeconfig with-cluster.sh wrote: CA and client certificate, verified TLS.
    absl::StatusOr<ClusterConfig> cluster = LoadKubeconfig(Env("KUBECONFIG"));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    absl::StatusOr<std::unique_ptr<CppRestTransport>> transport = TransportFor(*cluster);
    ASSERT_TRUE(transport.ok()) << transport.status();
    transport_ = std::move(*transport);
    client_ = std::make_unique<ApiClient>(*transport_, ApiClient::Options{});
  }
  static void TearDownTestSuite() {
    client_.reset();
    transport_.reset();
  }

  ApiClient& client() { return *client_; }

  // A fresh namespace per test, deleted afterwards.
  std::string Namespace() {
    std::string name = absl::StrCat(
        "it-", ::testing::UnitTest::GetInstance()->current_test_info()->line(), "-", ++counter_);
    absl::StatusOr<json::Value> ns = client().Create(
        kNamespaces, "",
        JsonOrFail(absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")",
                                name, R"("}})")));
    EXPECT_TRUE(ns.ok()) << ns.status();
    namespaces_.push_back(name);
    return name;
  }

  void TearDown() override {
    for (const std::string& ns : namespaces_) {
      (void)client().Delete(kNamespaces, "", ns);
    }
  }

  // Applies CRD manifests and waits until each is Established.
  void InstallCrds(const std::vector<std::string>& files) {
    for (const std::string& file : files) {
      for (const json::Value& crd : YamlFile(file)) {
        absl::StatusOr<json::Value> applied = client().Apply(kCrds, "", crd, kManager, true);
        ASSERT_TRUE(applied.ok()) << file << ": " << applied.status();
        std::string name = json::StringAt(crd, "metadata.name");
        bool established = false;
        for (int i = 0; i < 100 && !established; ++i) {
          absl::StatusOr<json::Value> got = client().Get(kCrds, "", name);
          ASSERT_TRUE(got.ok()) << got.status();
          const json::Value* conditions = got->FindPath("status.conditions");
          for (const json::Value& c :
               conditions != nullptr ? conditions->elements() : std::vector<json::Value>{}) {
            established = established || (json::StringAt(c, "type") == "Established" &&
                                          json::StringAt(c, "status") == "True");
          }
          if (!established) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        }
        ASSERT_TRUE(established) << name << " never became Established";
      }
    }
  }

  static json::Value ConfigMap(const std::string& ns, const std::string& name,
                               const std::string& data_json) {
    return JsonOrFail(absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")",
                                   name, R"(","namespace":")", ns, R"("},"data":)", data_json,
                                   "}"));
  }

  static inline std::unique_ptr<CppRestTransport> transport_;
  static inline std::unique_ptr<ApiClient> client_;
  static inline int counter_ = 0;
  std::vector<std::string> namespaces_;
};

TEST_F(ApiServerTest, CrudOnCoreAndBatchKinds) {
  std::string ns = Namespace();
  struct Case {
    ResourceType type;
    bool namespaced;
    std::string object;
  };
  const std::vector<Case> cases = {
      {kPods, true,
       R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":{"app":"x"}},
           "spec":{"containers":[{"name":"c","image":"busybox","resources":{"requests":{"cpu":"100m"}}}]}})"},
      {kNodes, false,
       R"({"apiVersion":"v1","kind":"Node","metadata":{"name":"it-node","labels":{"app":"x"}}})"},
      {kResourceQuotas, true,
       R"({"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"q","labels":{"app":"x"}},
           "spec":{"hard":{"requests.nvidia.com/gpu":"4"}}})"},
      {kEvents, true,
       R"({"apiVersion":"v1","kind":"Event","metadata":{"name":"e","labels":{"app":"x"}},
           "involvedObject":{"kind":"Pod","name":"p","namespace":"NAMESPACE"},"reason":"Test","message":"hello","type":"Normal"})"},
      {kJobs, true,
       R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","labels":{"app":"x"}},
           "spec":{"suspend":true,"template":{"spec":{"restartPolicy":"Never",
           "containers":[{"name":"c","image":"busybox"}]}}}})"},
      {kLeases, true,
       R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l","labels":{"app":"x"}},
           "spec":{"holderIdentity":"a","leaseDurationSeconds":15}})"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.type.plural));
    std::string where = c.namespaced ? ns : "";
    std::string text = c.object;
    if (size_t at = text.find("NAMESPACE"); at != std::string::npos) {
      text.replace(at, 9, ns);
    }
    json::Value object = JsonOrFail(text);
    absl::StatusOr<json::Value> created = client().Create(c.type, where, object);
    ASSERT_TRUE(created.ok()) << created.status();
    std::string name = json::StringAt(*created, "metadata.name");
    EXPECT_FALSE(json::StringAt(*created, "metadata.uid").empty());

    absl::StatusOr<json::Value> got = client().Get(c.type, where, name);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(json::StringAt(*got, "metadata.uid"), json::StringAt(*created, "metadata.uid"));

    ListOptions by_label;
    by_label.label_selector = "app=x";
    absl::StatusOr<ObjectList> listed = client().List(c.type, where, by_label);
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_GE(listed->items.size(), 1u);

    json::Value updated = *got;
    updated.FindMutable("metadata")->Set("labels", JsonOrFail(R"({"app":"x","updated":"yes"})"));
    absl::StatusOr<json::Value> after = client().Update(c.type, where, updated);
    ASSERT_TRUE(after.ok()) << after.status();
    EXPECT_EQ(json::StringAt(*after, "metadata.labels.updated"), "yes");

    absl::StatusOr<json::Value> deleted = client().Delete(c.type, where, name);
    ASSERT_TRUE(deleted.ok()) << deleted.status();
    absl::StatusOr<json::Value> gone = client().Get(c.type, where, name);
    // Pods and Jobs may linger while their finalizers run; NotFound or terminating is fine.
    if (gone.ok()) {
      EXPECT_NE(gone->FindPath("metadata.deletionTimestamp"), nullptr);
    } else {
      EXPECT_TRUE(kube::IsNotFound(gone.status())) << gone.status();
    }
  }
}

TEST_F(ApiServerTest, BursarKindsRoundTripWithStatusSubresource) {
  InstallCrds({Source("crds/bursar.dev_computebudgets.yaml"),
               Source("crds/bursar.dev_gpunodepools.yaml"),
               Source("crds/bursar.dev_pricebooks.yaml")});
  struct Case {
    ResourceType type;
    std::string file;
  };
  for (const Case& c : {Case{kPriceBooks, "examples/pricebooks/default.yaml"},
                        Case{kGPUNodePools, "examples/pools/a100-kwok.yaml"},
                        Case{kComputeBudgets, "examples/budgets/team-vision-monthly.yaml"}}) {
    SCOPED_TRACE(c.file);
    std::vector<json::Value> docs = YamlFile(Source(c.file));
    ASSERT_EQ(docs.size(), 1u);
    absl::StatusOr<json::Value> created = client().Create(c.type, "", docs[0]);
    ASSERT_TRUE(created.ok()) << created.status();
    std::string name = json::StringAt(*created, "metadata.name");
    // Defaults from the schema were applied by the server.
    if (c.type == kComputeBudgets) {
      EXPECT_EQ(json::StringAt(*created, "spec.enforcement"), "Enforce");
      json::Value status =
          JsonOrFail(R"({"status":{"phase":"AtRisk","spent":"12.50","allowedGPUs":3}})");
      absl::StatusOr<json::Value> patched =
          client().PatchStatus(c.type, "", name, PatchType::kMerge, status);
      ASSERT_TRUE(patched.ok()) << patched.status();
      absl::StatusOr<json::Value> got = client().Get(c.type, "", name);
      ASSERT_TRUE(got.ok());
      EXPECT_EQ(json::StringAt(*got, "status.phase"), "AtRisk");
      EXPECT_EQ(json::StringAt(*got, "spec.limit.amount"), "5000");
      // A main-resource write cannot change status.
      json::Value spec_write = *got;
      spec_write.FindMutable("status")->Set("phase", json::Value::String("Held"));
      absl::StatusOr<json::Value> updated = client().Update(c.type, "", spec_write);
      ASSERT_TRUE(updated.ok()) << updated.status();
      EXPECT_EQ(json::StringAt(*updated, "status.phase"), "AtRisk");
    }
    absl::StatusOr<ObjectList> listed = client().ListAll(c.type, "", {});
    ASSERT_TRUE(listed.ok()) << listed.status();
    EXPECT_EQ(listed->items.size(), 1u);
    ASSERT_TRUE(client().Delete(c.type, "", name).ok());
  }
}

TEST_F(ApiServerTest, OptionalKindsAreDiscoveredAndDriven) {
  REQUIRE_ENV(testing::kKueueCrdsEnv, "installs Kueue's own ClusterQueue CRD",
              testing::kKueueCrdsHarness);
  REQUIRE_ENV(testing::kKarpenterCrdsEnv, "installs Karpenter's own NodePool CRD",
              testing::kKarpenterCrdsHarness);
  REQUIRE_ENV(testing::kClusterApiCrdsEnv, "installs Cluster API's own MachineDeployment CRD",
              testing::kClusterApiCrdsHarness);
  absl::StatusOr<bool> before = client().HasResource("kueue.x-k8s.io", "v1beta2", "clusterqueues");
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(*before);
  InstallCrds({Env(testing::kKueueCrdsEnv) + "/kueue.x-k8s.io_clusterqueues.yaml",
               Env(testing::kKarpenterCrdsEnv) + "/karpenter.sh_nodepools.yaml",
               Env(testing::kClusterApiCrdsEnv) + "/cluster.x-k8s.io_machinedeployments.yaml"});
  for (const ResourceType& t : {kKueueClusterQueues, kKarpenterNodePools, kMachineDeployments}) {
    absl::StatusOr<bool> has = client().HasResource(t.group, t.version, t.plural);
    ASSERT_TRUE(has.ok()) << has.status();
    EXPECT_TRUE(*has) << t.plural;
  }
  // Kueue: patch a ClusterQueue's nominalQuota; Kueue's schema keeps the cohort.
  ASSERT_TRUE(
      client()
          .Create(kKueueClusterQueues, "",
                  JsonOrFail(R"({"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"ClusterQueue",
                                   "metadata":{"name":"team-a"},"spec":{"cohortName":"lab","resourceGroups":[{"coveredResources":["nvidia.com/gpu"],
                                   "flavors":[{"name":"a100","resources":[{"name":"nvidia.com/gpu","nominalQuota":8}]}]}]}})"))
          .ok());
  json::Value patch = JsonOrFail(
      R"([{"op":"replace","path":"/spec/resourceGroups/0/flavors/0/resources/0/nominalQuota","value":"3"}])");
  absl::StatusOr<json::Value> patched =
      client().Patch(kKueueClusterQueues, "", "team-a", PatchType::kJson, patch);
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ(patched->FindPath("spec")
                ->Find("resourceGroups")
                ->elements()[0]
                .Find("flavors")
                ->elements()[0]
                .Find("resources")
                ->elements()[0]
                .Find("nominalQuota")
                ->text(),
            "3");
  EXPECT_EQ(json::StringAt(*patched, "spec.cohortName"), "lab");
  // The same write through v1beta1 (no conversion webhook outside Kueue's own install) loses
  // the cohort: v1beta1 calls it `cohort`, so `cohortName` is pruned. Why Bursar writes v1beta2.
  ResourceType v1beta1 = kKueueClusterQueues;
  v1beta1.version = "v1beta1";
  patched = client().Patch(v1beta1, "", "team-a", PatchType::kJson, patch);
  ASSERT_TRUE(patched.ok()) << patched.status();
  absl::StatusOr<json::Value> after = client().Get(kKueueClusterQueues, "", "team-a");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(json::StringAt(*after, "spec.cohortName"), "");
  ASSERT_TRUE(client().Delete(kKueueClusterQueues, "", "team-a").ok());
  // Cluster API: drive a MachineDeployment through its scale subresource.
  std::string ns = Namespace();
  ASSERT_TRUE(
      client()
          .Create(kMachineDeployments, ns,
                  JsonOrFail(R"({"apiVersion":"cluster.x-k8s.io/v1beta1","kind":"MachineDeployment",
                                   "metadata":{"name":"gpu-md"},"spec":{"clusterName":"c","replicas":1,
                                   "selector":{"matchLabels":{"pool":"gpu"}},
                                   "template":{"metadata":{"labels":{"pool":"gpu"}},"spec":{
                                     "clusterName":"c","bootstrap":{"dataSecretName":"gpu-boot"},
                                     "infrastructureRef":{"apiVersion":"infrastructure.cluster.x-k8s.io/v1beta1",
                                                          "kind":"DockerMachineTemplate","name":"gpu"}}}}})"))
          .ok());
  absl::StatusOr<json::Value> scale = client().GetScale(kMachineDeployments, ns, "gpu-md");
  ASSERT_TRUE(scale.ok()) << scale.status();
  EXPECT_EQ(PathOrFail(*scale, "spec.replicas").int_value(), 1);
  absl::StatusOr<json::Value> rescaled =
      client().PatchScale(kMachineDeployments, ns, "gpu-md", PatchType::kMerge,
                          JsonOrFail(R"({"spec":{"replicas":3}})"));
  ASSERT_TRUE(rescaled.ok()) << rescaled.status();
  absl::StatusOr<json::Value> md = client().Get(kMachineDeployments, ns, "gpu-md");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(PathOrFail(*md, "spec.replicas").int_value(), 3);
  // Karpenter: a NodePool's spec.limits through server-side apply.
  absl::StatusOr<json::Value> pool = client().Apply(
      kKarpenterNodePools, "",
      JsonOrFail(R"({"apiVersion":"karpenter.sh/v1","kind":"NodePool","metadata":{"name":"gpu"},
               "spec":{"limits":{"nvidia.com/gpu":"16"},
                       "template":{"spec":{"requirements":[],"nodeClassRef":{
                         "group":"karpenter.kwok.sh","kind":"KWOKNodeClass","name":"default"}}}}})"),
      kManager);
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_EQ(FieldOrFail(PathOrFail(*pool, "spec.limits"), "nvidia.com/gpu").string_value(), "16");
}

TEST_F(ApiServerTest, ListPaginatesWithContinueTokens) {
  std::string ns = Namespace();
  for (int i = 0; i < 25; ++i) {
    json::Value cm = ConfigMap(ns, absl::StrCat("cm-", i), "{}");
    cm.FindMutable("metadata")->Set("labels", JsonOrFail(R"({"set":"paged"})"));
    ASSERT_TRUE(client().Create(kConfigMaps, ns, cm).ok());
  }
  ListOptions page;
  page.limit = 10;
  page.label_selector = "set=paged";
  absl::StatusOr<ObjectList> first = client().List(kConfigMaps, ns, page);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->items.size(), 10u);
  EXPECT_FALSE(first->continue_token.empty());
  absl::StatusOr<ObjectList> all = client().ListAll(kConfigMaps, ns, page);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->items.size(), 25u);
}

TEST_F(ApiServerTest, ConflictsAreTypedAndRetryable) {
  std::string ns = Namespace();
  absl::StatusOr<json::Value> cm =
      client().Create(kConfigMaps, ns, ConfigMap(ns, "c", R"({"v":"0"})"));
  ASSERT_TRUE(cm.ok()) << cm.status();
  json::Value first = *cm;
  first.FindMutable("data")->Set("v", json::Value::String("1"));
  ASSERT_TRUE(client().Update(kConfigMaps, ns, first).ok());
  // The same resourceVersion again: someone else (we) changed it since.
  first.FindMutable("data")->Set("v", json::Value::String("2"));
  absl::StatusOr<json::Value> stale = client().Update(kConfigMaps, ns, first);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(IsConflict(stale.status())) << stale.status();
  ASSERT_TRUE(KubeStatusOf(stale.status()).has_value());
  EXPECT_EQ(KubeStatusOf(stale.status())->code, 409);
  EXPECT_EQ(KubeStatusOf(stale.status())->reason, "Conflict");
  // Retry the client-go way: read, modify, write.
  absl::StatusOr<json::Value> fresh = client().Get(kConfigMaps, ns, "c");
  ASSERT_TRUE(fresh.ok());
  fresh->FindMutable("data")->Set("v", json::Value::String("2"));
  ASSERT_TRUE(client().Update(kConfigMaps, ns, *fresh).ok());
  // Delete with a stale precondition fails the same way.
  DeleteOptions precondition;
  precondition.precondition_resource_version = json::StringAt(*cm, "metadata.resourceVersion");
  absl::StatusOr<json::Value> deleted = client().Delete(kConfigMaps, ns, "c", precondition);
  ASSERT_FALSE(deleted.ok());
  EXPECT_TRUE(IsConflict(deleted.status())) << deleted.status();
  // And a create of an existing name is AlreadyExists, not a conflict.
  absl::StatusOr<json::Value> again = client().Create(kConfigMaps, ns, ConfigMap(ns, "c", "{}"));
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(kube::IsAlreadyExists(again.status())) << again.status();
}

TEST_F(ApiServerTest, ServerSideApplyRespectsFieldOwnership) {
  std::string ns = Namespace();
  ASSERT_TRUE(
      client().Apply(kConfigMaps, ns, ConfigMap(ns, "owned", R"({"a":"1"})"), "manager-a").ok());
  ASSERT_TRUE(
      client().Apply(kConfigMaps, ns, ConfigMap(ns, "owned", R"({"b":"1"})"), "manager-b").ok());
  absl::StatusOr<json::Value> both = client().Get(kConfigMaps, ns, "owned");
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(json::StringAt(*both, "data.a"), "1");
  EXPECT_EQ(json::StringAt(*both, "data.b"), "1");
  // manager-a changes its own field: manager-b's field is untouched.
  ASSERT_TRUE(
      client().Apply(kConfigMaps, ns, ConfigMap(ns, "owned", R"({"a":"2"})"), "manager-a").ok());
  absl::StatusOr<json::Value> after = client().Get(kConfigMaps, ns, "owned");
  EXPECT_EQ(json::StringAt(*after, "data.a"), "2");
  EXPECT_EQ(json::StringAt(*after, "data.b"), "1");
  // manager-b may not take manager-a's field without force...
  absl::StatusOr<json::Value> conflict =
      client().Apply(kConfigMaps, ns, ConfigMap(ns, "owned", R"({"a":"3","b":"1"})"), "manager-b");
  ASSERT_FALSE(conflict.ok());
  EXPECT_TRUE(IsConflict(conflict.status())) << conflict.status();
  // ...and with force it does.
  ASSERT_TRUE(client()
                  .Apply(kConfigMaps, ns, ConfigMap(ns, "owned", R"({"a":"3","b":"1"})"),
                         "manager-b",
                         /*force=*/true)
                  .ok());
  absl::StatusOr<json::Value> taken = client().Get(kConfigMaps, ns, "owned");
  EXPECT_EQ(json::StringAt(*taken, "data.a"), "3");
}

// Reads events until `want` of them arrived or the stream ends; returns what it saw.
std::vector<std::string> Collect(WatchStream& stream, size_t want, std::string* error) {
  std::vector<std::string> seen;
  while (seen.size() < want) {
    absl::StatusOr<std::optional<WatchEvent>> e = stream.Next();
    if (!e.ok()) {
      *error = std::string(e.status().message());
      break;
    }
    if (!e->has_value()) {
      break;
    }
    if ((*e)->type == WatchEvent::Type::kBookmark) {
      continue;
    }
    const char* type = (*e)->type == WatchEvent::Type::kAdded      ? "ADDED"
                       : (*e)->type == WatchEvent::Type::kModified ? "MODIFIED"
                                                                   : "DELETED";
    seen.push_back(absl::StrCat(type, " ", json::StringAt((*e)->object, "metadata.name"), " ",
                                json::StringAt((*e)->object, "data.v")));
  }
  return seen;
}

int Shell(const std::string& command) {
  return std::system(command.c_str());
}

// Polls `done` (up to `seconds`); the cluster answers in milliseconds, restarts in seconds.
bool Eventually(const std::function<bool()>& done, int seconds = 30) {
  for (int i = 0; i < seconds * 20; ++i) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

TEST_F(ApiServerTest, WatcherSurvivesAnApiserverRestartWithoutLossOrDuplicates) {
  REQUIRE_HARNESS("BURSAR_TEST_CLUSTER_DIR",
                  "restarts the kube-apiserver through tests/cluster/restart.sh");
  std::string ns = Namespace();
  ASSERT_TRUE(client().Create(kConfigMaps, ns, ConfigMap(ns, "one", R"({"v":"1"})")).ok());

  runtime::SystemClock clock;
  runtime::ObjectStore store;
  absl::Mutex mu;
  std::map<std::string, int> applied;  // "key@resourceVersion" -> how often it was applied
  int restarts = 0;
  auto store_sink = store.Sink();
  runtime::WatcherOptions options;
  options.namespace_name = ns;
  runtime::ObjectWatcher watcher(
      client(), clock, kConfigMaps,
      [&](runtime::ObjectWatcher::Event event) {
        {
          absl::MutexLock lock(&mu);
          if (event.type == runtime::ObjectWatcher::Event::Type::kRestarted) {
            ++restarts;
          } else if (event.type == runtime::ObjectWatcher::Event::Type::kApplied) {
            ++applied[absl::StrCat(runtime::ObjectKeyOf(event.object), "@",
                                   std::string(runtime::ResourceVersionOf(event.object)))];
          }
        }
        store_sink(std::move(event));
      },
      options);
  runtime::Wakeup stop;
  std::thread run([&] { watcher.Run(&stop); });
  auto value_of = [&](const std::string& name) -> std::string {
    std::shared_ptr<const json::Value> cm = store.Get(runtime::ObjectKey(ns, name));
    return cm == nullptr ? "" : json::StringAt(*cm, "data.v");
  };
  EXPECT_TRUE(Eventually([&] { return store.HasSynced() && value_of("one") == "1"; }));

  ASSERT_EQ(Shell(absl::StrCat(Source("tests/cluster/restart.sh"), " ",
                               Env("BURSAR_TEST_CLUSTER_DIR"), " kube-apiserver")),
            0);
  // Changes made while the watch reconnects (or relists) all reach the cache.
  ASSERT_TRUE(client().Create(kConfigMaps, ns, ConfigMap(ns, "two", R"({"v":"2"})")).ok());
  absl::StatusOr<json::Value> one = client().Get(kConfigMaps, ns, "one");
  ASSERT_TRUE(one.ok());
  one->FindMutable("data")->Set("v", json::Value::String("3"));
  ASSERT_TRUE(client().Update(kConfigMaps, ns, *one).ok());
  EXPECT_TRUE(Eventually([&] { return value_of("one") == "3" && value_of("two") == "2"; }))
      << "one=" << value_of("one") << " two=" << value_of("two");

  // The cache equals the server, object for object and version for version.
  absl::StatusOr<ObjectList> server = client().ListAll(kConfigMaps, ns, {});
  ASSERT_TRUE(server.ok());
  std::map<std::string, std::string> want;
  for (const json::Value& o : server->items) {
    want[runtime::ObjectKeyOf(o)] = std::string(runtime::ResourceVersionOf(o));
  }
  std::map<std::string, std::string> have;
  for (const auto& o : store.List()) {
    have[runtime::ObjectKeyOf(*o)] = std::string(runtime::ResourceVersionOf(*o));
  }
  EXPECT_EQ(have, want);
  {
    absl::MutexLock lock(&mu);
    for (const auto& [key, count] : applied) {
      EXPECT_EQ(count, 1) << key << " was delivered " << count << " times";
    }
    EXPECT_GE(restarts, 1);
  }
  stop.Notify();
  watcher.Interrupt();
  run.join();
}

// etcd's revision, from its JSON gateway (loopback).
int64_t EtcdRevision() {
  std::string out;
  FILE* p = popen(absl::StrCat("curl -s --noproxy '*' -X POST ", Env("BURSAR_TEST_ETCD_URL"),
                               "/v3/kv/range -d '{\"key\":\"Lw==\"}'")
                      .c_str(),
                  "r");
  if (p == nullptr) {
    return -1;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  pclose(p);
  absl::StatusOr<json::Value> v = json::Parse(out);
  if (!v.ok() || v->FindPath("header.revision") == nullptr) {
    return -1;
  }
  return std::stoll(PathOrFail(*v, "header.revision").string_value());
}

TEST_F(ApiServerTest, CompactionMakesAnOldResourceVersionGoneAndARelistRecovers) {
  REQUIRE_HARNESS("BURSAR_TEST_CLUSTER_DIR",
                  "restarts the kube-apiserver through tests/cluster/restart.sh");
  REQUIRE_HARNESS("BURSAR_TEST_ETCD_URL", "compacts etcd through its HTTP gateway");
  std::string ns = Namespace();
  ASSERT_TRUE(client().Create(kConfigMaps, ns, ConfigMap(ns, "a", R"({"v":"1"})")).ok());
  absl::StatusOr<ObjectList> list = client().ListAll(kConfigMaps, ns, {});
  ASSERT_TRUE(list.ok());
  std::string old_rv = list->resource_version;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client().Create(kConfigMaps, ns, ConfigMap(ns, absl::StrCat("b", i), "{}")).ok());
  }
  int64_t revision = EtcdRevision();
  ASSERT_GT(revision, 0);
  ASSERT_EQ(Shell(absl::StrCat(
                "curl -sf --noproxy '*' -o /dev/null -X POST ", Env("BURSAR_TEST_ETCD_URL"),
                "/v3/kv/compaction -d '{\"revision\":\"", revision, "\",\"physical\":true}'")),
            0);
  // A restarted apiserver's watch cache starts after the compaction: the old version is gone.
  ASSERT_EQ(Shell(absl::StrCat(Source("tests/cluster/restart.sh"), " ",
                               Env("BURSAR_TEST_CLUSTER_DIR"), " kube-apiserver")),
            0);
  WatchOptions from;
  from.resource_version = old_rv;
  from.timeout_seconds = 30;
  absl::StatusOr<WatchStream> stream = client().Watch(kConfigMaps, ns, from);
  absl::Status gone = stream.status();
  if (stream.ok()) {
    absl::StatusOr<std::optional<WatchEvent>> e = stream->Next();
    gone = e.ok() ? absl::OkStatus() : e.status();
  }
  EXPECT_TRUE(IsGone(gone)) << gone;
  // Relist: the current state, and a watch from it works.
  absl::StatusOr<ObjectList> relisted = client().ListAll(kConfigMaps, ns, {});
  ASSERT_TRUE(relisted.ok()) << relisted.status();
  EXPECT_GE(relisted->items.size(), 6u);
  from.resource_version = relisted->resource_version;
  absl::StatusOr<WatchStream> fresh = client().Watch(kConfigMaps, ns, from);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_TRUE(client().Create(kConfigMaps, ns, ConfigMap(ns, "c", R"({"v":"9"})")).ok());
  std::string error;
  EXPECT_EQ(Collect(*fresh, 1, &error), std::vector<std::string>{"ADDED c 9"}) << error;
}

// Starts the leader probe; returns its pid.
pid_t StartProbe(const std::string& identity, const std::string& ns) {
  std::string probe = BURSAR_LEADER_PROBE;
  std::vector<std::string> args = {probe, identity, ns, "bursar-leader"};
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, probe.c_str(), nullptr, nullptr, argv.data(), ::environ) != 0) {
    return -1;
  }
  return pid;
}

TEST_F(ApiServerTest, TwoProcessesElectOneLeaderAndHandOverWhenItIsKilled) {
  std::string ns = Namespace();
  auto holder = [&]() -> std::string {
    absl::StatusOr<json::Value> lease = client().Get(kLeases, ns, "bursar-leader");
    return lease.ok() ? json::StringAt(*lease, "spec.holderIdentity") : "";
  };
  pid_t a = StartProbe("replica-a", ns);
  ASSERT_GT(a, 0);
  ASSERT_TRUE(Eventually([&] { return holder() == "replica-a"; })) << holder();
  pid_t b = StartProbe("replica-b", ns);
  ASSERT_GT(b, 0);
  // b stays a candidate while a renews (a lease is 15 s; watch a few renewals).
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(holder(), "replica-a");
  }
  // a dies without releasing: b takes over once the lease expires.
  kill(a, SIGKILL);
  waitpid(a, nullptr, 0);
  EXPECT_TRUE(Eventually([&] { return holder() == "replica-b"; }, 40)) << holder();
  absl::StatusOr<json::Value> lease = client().Get(kLeases, ns, "bursar-leader");
  ASSERT_TRUE(lease.ok());
  EXPECT_GE(PathOrFail(*lease, "spec.leaseTransitions").int_value(), 1);
  // A clean shutdown releases the lease at once.
  kill(b, SIGTERM);
  int status = 0;
  waitpid(b, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(holder(), "");
}

TEST_F(ApiServerTest, HealthReadinessAndMetricsShareOneListener) {
  // A client whose requests are counted, as `bursar run` wires it.
  runtime::Registry registry;
  ApiClient::Options options;
  absl::StatusOr<ApiClient::Observer> observer = runtime::MakeRequestMetricsObserver(&registry);
  ASSERT_TRUE(observer.ok()) << observer.status();
  options.observer = *observer;
  ApiClient counted(*transport_, options);
  ASSERT_TRUE(counted.Get(kNamespaces, "", "default").ok());
  EXPECT_FALSE(counted.Get(kNamespaces, "", "no-such-namespace").ok());

  runtime::Endpoints endpoints(&registry);
  bool synced = false;
  endpoints.AddReadinessCheck(
      {"caches", [&] { return synced ? std::string() : std::string("not synced"); }});
  absl::StatusOr<std::unique_ptr<kube::HttpServer>> server =
      StartHttpServer("127.0.0.1", 0, endpoints.Handler());
  ASSERT_TRUE(server.ok()) << server.status();
  TransportConfig plain;
  plain.server = absl::StrCat("http://127.0.0.1:", (*server)->port());
  absl::StatusOr<std::unique_ptr<CppRestTransport>> http = CppRestTransport::Create(plain);
  ASSERT_TRUE(http.ok()) << http.status();
  auto get = [&](const std::string& path) {
    absl::StatusOr<HttpResponse> r = (*http)->Send({"GET", path, {}, ""}, absl::Seconds(5));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : HttpResponse{};
  };
  EXPECT_EQ(get("/healthz").status, 200);
  EXPECT_EQ(get("/readyz").status, 503);
  synced = true;
  EXPECT_EQ(get("/readyz").status, 200);
  HttpResponse metrics = get("/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("bursar_kube_requests_total{verb=\"GET\",code=\"200\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("bursar_kube_requests_total{verb=\"GET\",code=\"404\"} 1"),
            std::string::npos);
  (*server)->Stop();
}

TEST_F(ApiServerTest, BearerTokenFromAFileAuthenticates) {
  REQUIRE_HARNESS("BURSAR_TEST_TOKEN_FILE",
                  "authenticates with the static token the harness registers");
  ClusterConfig cluster;
  cluster.server = Env("BURSAR_TEST_APISERVER");
  cluster.ca_pem = ReadFile(Env("BURSAR_TEST_CA_FILE"));
  cluster.token_file = Env("BURSAR_TEST_TOKEN_FILE");
  absl::StatusOr<std::unique_ptr<CppRestTransport>> transport = TransportFor(cluster);
  ASSERT_TRUE(transport.ok()) << transport.status();
  ApiClient by_token(**transport, {});
  absl::StatusOr<json::Value> ns = by_token.Get(kNamespaces, "", "default");
  EXPECT_TRUE(ns.ok()) << ns.status();
  // A wrong CA fails verification: TLS is verified by default.
  cluster.ca_pem = ReadFile(Env("BURSAR_TEST_CLIENT_CERT_FILE"));  // a certificate, not our CA
  absl::StatusOr<std::unique_ptr<CppRestTransport>> wrong = TransportFor(cluster);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  ApiClient unverified(**wrong, {});
  absl::StatusOr<json::Value> refused = unverified.Get(kNamespaces, "", "default");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  // Without credentials the apiserver refuses (401), surfaced with its metav1.Status.
  cluster.ca_pem = ReadFile(Env("BURSAR_TEST_CA_FILE"));
  cluster.token_file.clear();
  absl::StatusOr<std::unique_ptr<CppRestTransport>> anonymous = TransportFor(cluster);
  ASSERT_TRUE(anonymous.ok());
  ApiClient nobody(**anonymous, {});
  absl::StatusOr<json::Value> denied = nobody.Get(kNamespaces, "", "default");
  ASSERT_FALSE(denied.ok());
  ASSERT_TRUE(KubeStatusOf(denied.status()).has_value()) << denied.status();
  EXPECT_TRUE(KubeStatusOf(denied.status())->code == 401 ||
              KubeStatusOf(denied.status())->code == 403)
      << denied.status();
}

TEST_F(ApiServerTest, EventRecorderAggregatesRepeatsIntoOneEvent) {
  std::string ns = Namespace();
  absl::StatusOr<json::Value> cm = client().Create(kConfigMaps, ns, ConfigMap(ns, "budget", "{}"));
  ASSERT_TRUE(cm.ok()) << cm.status();
  runtime::SystemClock clock;
  runtime::EventRecorderOptions options;
  options.reporting_instance = "integration-test";
  runtime::ApiEventRecorder events(client(), clock, options);
  runtime::ObjectReference ref = runtime::ObjectReference::Of(kConfigMaps, *cm);
  for (int i = 0; i < 3; ++i) {
    events.Record(ref, runtime::EventType::kWarning, "BudgetAtRisk", "forecast 5400 over 5000");
  }
  events.Record(ref, runtime::EventType::kNormal, "Throttled", "quota lowered to 3 GPUs");
  events.Flush();
  absl::StatusOr<ObjectList> listed = client().ListAll(kEvents, ns, {});
  ASSERT_TRUE(listed.ok()) << listed.status();
  std::map<std::string, int64_t> count_by_reason;
  for (const json::Value& e : listed->items) {
    EXPECT_EQ(json::StringAt(e, "involvedObject.name"), "budget");
    EXPECT_EQ(json::StringAt(e, "reportingComponent"), "bursar.dev/operator");
    const json::Value* count = e.Find("count");
    count_by_reason[json::StringAt(e, "reason")] += count != nullptr ? count->int_value() : 1;
  }
  EXPECT_EQ(listed->items.size(), 2u);
  EXPECT_EQ(count_by_reason["BudgetAtRisk"], 3);
  EXPECT_EQ(count_by_reason["Throttled"], 1);
  events.Shutdown();
}

}  // namespace
}  // namespace bursar::kube
