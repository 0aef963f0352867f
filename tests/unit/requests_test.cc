#include "operator/kube/requests.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "operator/json/json.h"
#include "operator/kube/resource.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::kube {
namespace {

HttpRequest Expected(std::string method, std::string path, std::string content_type = "",
                     std::string body = "") {
  HttpRequest r;
  r.method = std::move(method);
  r.path = std::move(path);
  r.headers.emplace_back("Accept", "application/json");
  if (!content_type.empty()) {
    r.headers.emplace_back("Content-Type", std::move(content_type));
  }
  r.body = std::move(body);
  return r;
}

struct BuildCase {
  std::string name;
  std::function<absl::StatusOr<HttpRequest>()> build;
  HttpRequest want;
};

TEST(RequestsTest, BuildsExactRequests) {
  const json::Value budget = JsonOrFail(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget",)"
      R"("metadata":{"name":"team-a","resourceVersion":"4711"},"spec":{"enforcement":"DryRun"}})");
  const json::Value lease = JsonOrFail(
      R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
      R"("metadata":{"name":"bursar","namespace":"bursar-system"},"spec":{"holderIdentity":"a"}})");
  const json::Value scale = JsonOrFail(R"({"apiVersion":"autoscaling/v1","kind":"Scale",)"
                                       R"("metadata":{"name":"gpu-pool","namespace":"capi",)"
                                       R"("resourceVersion":"9"},"spec":{"replicas":3}})");

  const std::vector<BuildCase> cases = {
      {"get namespaced", [] { return RequestBuilder(kPods, "team-a").Get("web-0"); },
       Expected("GET", "/api/v1/namespaces/team-a/pods/web-0")},
      {"get cluster-scoped core", [] { return RequestBuilder(kNodes).Get("gpu-node-1"); },
       Expected("GET", "/api/v1/nodes/gpu-node-1")},
      {"get namespace", [] { return RequestBuilder(kNamespaces).Get("team-a"); },
       Expected("GET", "/api/v1/namespaces/team-a")},
      {"get crd", [] { return RequestBuilder(kComputeBudgets).Get("team-a"); },
       Expected("GET", "/apis/bursar.dev/v1alpha1/computebudgets/team-a")},
      {"get name with colon and space", [] { return RequestBuilder(kNodes).Get("system:node a"); },
       Expected("GET", "/api/v1/nodes/system:node%20a")},
      {"list all namespaces", [] { return RequestBuilder(kPods).List(); },
       Expected("GET", "/api/v1/pods")},
      {"list with selectors and limit",
       [] {
         ListOptions o;
         o.label_selector = "app in (train, eval),!canary,tier!=db";
         o.field_selector = "spec.nodeName=gpu-1,status.phase!=Succeeded";
         o.limit = 500;
         return RequestBuilder(kPods).List(o);
       },
       Expected("GET",
                "/api/v1/pods?labelSelector=app%20in%20%28train%2C%20eval%29%2C%21canary%2C"
                "tier%21%3Ddb&fieldSelector=spec.nodeName%3Dgpu-1%2Cstatus.phase%21%3DSucceeded"
                "&limit=500")},
      {"list continue",
       [] {
         ListOptions o;
         o.limit = 2;
         o.continue_token = "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzfQ==";
         return RequestBuilder(kJobs, "ml").List(o);
       },
       Expected("GET",
                "/apis/batch/v1/namespaces/ml/jobs?limit=2&continue="
                "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MTIzfQ%3D%3D")},
      {"list from cache",
       [] {
         ListOptions o;
         o.resource_version = "0";
         o.resource_version_match = ResourceVersionMatch::kNotOlderThan;
         return RequestBuilder(kNodes).List(o);
       },
       Expected("GET", "/api/v1/nodes?resourceVersion=0&resourceVersionMatch=NotOlderThan")},
      {"list exact",
       [] {
         ListOptions o;
         o.resource_version = "123";
         o.resource_version_match = ResourceVersionMatch::kExact;
         return RequestBuilder(kGPUNodePools).List(o);
       },
       Expected("GET",
                "/apis/bursar.dev/v1alpha1/gpunodepools?resourceVersion=123&"
                "resourceVersionMatch=Exact")},
      {"watch defaults",
       [] {
         WatchOptions o;
         o.resource_version = "123";
         return RequestBuilder(kJobs, "ml").Watch(o);
       },
       Expected("GET",
                "/apis/batch/v1/namespaces/ml/jobs?watch=true&resourceVersion=123&"
                "timeoutSeconds=290&allowWatchBookmarks=true")},
      {"watch without bookmarks or timeout, with selectors",
       [] {
         WatchOptions o;
         o.timeout_seconds = 0;
         o.allow_watch_bookmarks = false;
         o.label_selector = "bursar.dev/budget";
         o.field_selector = "metadata.name=a";
         return RequestBuilder(kPods).Watch(o);
       },
       Expected("GET",
                "/api/v1/pods?watch=true&labelSelector=bursar.dev%2Fbudget&"
                "fieldSelector=metadata.name%3Da")},
      {"watch list (sendInitialEvents)",
       [] {
         WatchOptions o;
         o.send_initial_events = true;
         o.timeout_seconds = 60;
         return RequestBuilder(kPods).Watch(o);
       },
       Expected("GET",
                "/api/v1/pods?watch=true&timeoutSeconds=60&allowWatchBookmarks=true&"
                "sendInitialEvents=true&resourceVersionMatch=NotOlderThan")},
      {"create",
       [&] {
         WriteOptions o;
         o.field_manager = "bursar";
         return RequestBuilder(kLeases, "bursar-system").Create(lease, o);
       },
       Expected("POST",
                "/apis/coordination.k8s.io/v1/namespaces/bursar-system/leases"
                "?fieldManager=bursar",
                "application/json", lease.ToJson())},
      {"create dry run cluster-scoped",
       [&] {
         WriteOptions o;
         o.dry_run = true;
         return RequestBuilder(kComputeBudgets).Create(budget, o);
       },
       Expected("POST", "/apis/bursar.dev/v1alpha1/computebudgets?dryRun=All", "application/json",
                budget.ToJson())},
      {"update", [&] { return RequestBuilder(kComputeBudgets).Update(budget); },
       Expected("PUT", "/apis/bursar.dev/v1alpha1/computebudgets/team-a", "application/json",
                budget.ToJson())},
      {"merge patch",
       [] {
         return RequestBuilder(kJobs, "ml")
             .Patch("train-1", PatchType::kMerge, JsonOrFail(R"({"spec":{"suspend":true}})"));
       },
       Expected("PATCH", "/apis/batch/v1/namespaces/ml/jobs/train-1",
                "application/merge-patch+json", R"({"spec":{"suspend":true}})")},
      {"json patch",
       [] {
         return RequestBuilder(kKueueClusterQueues)
             .Patch("gpu", PatchType::kJson,
                    JsonOrFail(R"([{"op":"test","path":"/metadata/resourceVersion","value":"7"},)"
                               R"({"op":"replace","path":"/spec/resourceGroups/0/flavors/0/)"
                               R"(resources/0/nominalQuota","value":"8"}])"));
       },
       Expected("PATCH", "/apis/kueue.x-k8s.io/v1beta2/clusterqueues/gpu",
                "application/json-patch+json",
                R"([{"op":"test","path":"/metadata/resourceVersion","value":"7"},)"
                R"({"op":"replace","path":"/spec/resourceGroups/0/flavors/0/resources/0/)"
                R"(nominalQuota","value":"8"}])")},
      {"strategic merge patch with field manager",
       [] {
         PatchOptions o;
         o.field_manager = "bursar";
         return RequestBuilder(kResourceQuotas, "team-a")
             .Patch("bursar-gpu", PatchType::kStrategic,
                    JsonOrFail(R"({"spec":{"hard":{"requests.nvidia.com/gpu":"4"}}})"), o);
       },
       Expected("PATCH", "/api/v1/namespaces/team-a/resourcequotas/bursar-gpu?fieldManager=bursar",
                "application/strategic-merge-patch+json",
                R"({"spec":{"hard":{"requests.nvidia.com/gpu":"4"}}})")},
      {"server-side apply with force",
       [&] { return RequestBuilder(kComputeBudgets).Apply(budget, "bursar", true); },
       Expected("PATCH",
                "/apis/bursar.dev/v1alpha1/computebudgets/team-a?fieldManager=bursar&force=true",
                "application/apply-patch+yaml", budget.ToJson())},
      {"server-side apply without force",
       [&] { return RequestBuilder(kComputeBudgets).Apply(budget, "bursar"); },
       Expected("PATCH", "/apis/bursar.dev/v1alpha1/computebudgets/team-a?fieldManager=bursar",
                "application/apply-patch+yaml", budget.ToJson())},
      {"apply status",
       [&] { return RequestBuilder(kComputeBudgets).ApplySubresource("status", budget, "bursar"); },
       Expected("PATCH",
                "/apis/bursar.dev/v1alpha1/computebudgets/team-a/status?fieldManager=bursar",
                "application/apply-patch+yaml", budget.ToJson())},
      {"get status", [] { return RequestBuilder(kGPUNodePools).GetSubresource("a100", "status"); },
       Expected("GET", "/apis/bursar.dev/v1alpha1/gpunodepools/a100/status")},
      {"update status",
       [&] { return RequestBuilder(kComputeBudgets).UpdateSubresource("status", budget); },
       Expected("PUT", "/apis/bursar.dev/v1alpha1/computebudgets/team-a/status", "application/json",
                budget.ToJson())},
      {"merge patch status",
       [] {
         return RequestBuilder(kGPUNodePools)
             .PatchSubresource("a100", "status", PatchType::kMerge,
                               JsonOrFail(R"({"status":{"desiredNodes":3}})"));
       },
       Expected("PATCH", "/apis/bursar.dev/v1alpha1/gpunodepools/a100/status",
                "application/merge-patch+json", R"({"status":{"desiredNodes":3}})")},
      {"get scale",
       [] {
         return RequestBuilder(kMachineDeployments, "capi").GetSubresource("gpu-pool", "scale");
       },
       Expected("GET",
                "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/"
                "gpu-pool/scale")},
      {"update scale",
       [&] {
         return RequestBuilder(kMachineDeployments, "capi").UpdateSubresource("scale", scale);
       },
       Expected("PUT",
                "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu-pool/scale",
                "application/json", scale.ToJson())},
      {"patch scale",
       [] {
         return RequestBuilder(kMachineDeployments, "capi")
             .PatchSubresource("gpu-pool", "scale", PatchType::kMerge,
                               JsonOrFail(R"({"spec":{"replicas":2}})"));
       },
       Expected("PATCH",
                "/apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu-pool/scale",
                "application/merge-patch+json", R"({"spec":{"replicas":2}})")},
      {"karpenter nodepool", [] { return RequestBuilder(kKarpenterNodePools).Get("gpu"); },
       Expected("GET", "/apis/karpenter.sh/v1/nodepools/gpu")},
      {"events in a namespace", [] { return RequestBuilder(kEvents, "team-a").List(); },
       Expected("GET", "/api/v1/namespaces/team-a/events")},
      {"delete plain", [] { return RequestBuilder(kNodes).Delete("kwok-gpu-3"); },
       Expected("DELETE", "/api/v1/nodes/kwok-gpu-3")},
      {"delete with every option",
       [] {
         DeleteOptions o;
         o.precondition_uid = "0b7e0c4e-7d8a-4a43-9e59-1f6b8c1d2e3f";
         o.precondition_resource_version = "4711";
         o.propagation_policy = PropagationPolicy::kForeground;
         o.grace_period_seconds = 30;
         o.dry_run = true;
         return RequestBuilder(kJobs, "ml").Delete("train-1", o);
       },
       Expected("DELETE", "/apis/batch/v1/namespaces/ml/jobs/train-1", "application/json",
                R"({"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1",)"
                R"("gracePeriodSeconds":30,"preconditions":{)"
                R"("uid":"0b7e0c4e-7d8a-4a43-9e59-1f6b8c1d2e3f","resourceVersion":"4711"},)"
                R"("propagationPolicy":"Foreground","dryRun":["All"]})")},
      {"delete background, no grace",
       [] {
         DeleteOptions o;
         o.propagation_policy = PropagationPolicy::kBackground;
         o.grace_period_seconds = 0;
         return RequestBuilder(kPods, "team-a").Delete("web-0", o);
       },
       Expected("DELETE", "/api/v1/namespaces/team-a/pods/web-0", "application/json",
                R"({"kind":"DeleteOptions","apiVersion":"meta.k8s.io/v1",)"
                R"("gracePeriodSeconds":0,"propagationPolicy":"Background"})")},
  };
  for (const BuildCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<HttpRequest> got = c.build();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, c.want);
  }
}

TEST(RequestsTest, DiscoveryPaths) {
  EXPECT_EQ(DiscoveryRequest("kueue.x-k8s.io", "v1beta1"),
            Expected("GET", "/apis/kueue.x-k8s.io/v1beta1"));
  EXPECT_EQ(DiscoveryRequest("", "v1"), Expected("GET", "/api/v1"));
}

TEST(RequestsTest, ResourceTypeNames) {
  EXPECT_EQ(kPods.ApiPrefix(), "/api/v1");
  EXPECT_EQ(kPods.ApiVersion(), "v1");
  EXPECT_EQ(kJobs.ApiPrefix(), "/apis/batch/v1");
  EXPECT_EQ(kJobs.ApiVersion(), "batch/v1");
  EXPECT_EQ(kMachineDeployments.ApiVersion(), "cluster.x-k8s.io/v1beta1");
  EXPECT_TRUE(kMachineDeployments.namespaced);
  EXPECT_FALSE(kKueueClusterQueues.namespaced);
  EXPECT_FALSE(kKarpenterNodePools.namespaced);
  EXPECT_FALSE(kPriceBooks.namespaced);
}

TEST(RequestsTest, PercentEncodesQueryValues) {
  struct Case {
    std::string in;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"plain-._~AZaz09", "plain-._~AZaz09"},
      {"a=b", "a%3Db"},
      {"a b", "a%20b"},
      {"!(),=", "%21%28%29%2C%3D"},
      {"x+y/z?w&v#u", "x%2By%2Fz%3Fw%26v%23u"},
      {"100%", "100%25"},
      {"\xc3\xbc", "%C3%BC"},  // ü in UTF-8
      {"tab\tnew\nline", "tab%09new%0Aline"},
      {"", ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(EncodeQueryValue(c.in), c.want) << c.in;
  }
}

struct RejectCase {
  std::string name;
  std::function<absl::StatusOr<HttpRequest>()> build;
  std::string message_part;
};

TEST(RequestsTest, RejectsWhatTheServerWouldReject) {
  const json::Value no_rv = JsonOrFail(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","metadata":{"name":"a"}})");
  const json::Value no_kind = JsonOrFail(R"({"apiVersion":"v1","metadata":{"name":"a"}})");
  const json::Value other_ns = JsonOrFail(R"({"metadata":{"name":"a","namespace":"other"}})");
  const std::vector<RejectCase> cases = {
      {"namespaced item without namespace", [] { return RequestBuilder(kPods).Get("web-0"); },
       "pods are namespaced: a namespace is required"},
      {"cluster-scoped with namespace",
       [] { return RequestBuilder(kComputeBudgets, "team-a").List(); },
       "computebudgets are cluster-scoped"},
      {"empty name", [] { return RequestBuilder(kNodes).Get(""); }, "name is empty"},
      {"slash in name", [] { return RequestBuilder(kNodes).Get("a/b"); },
       "not a valid path segment"},
      {"dot-dot name", [] { return RequestBuilder(kNodes).Get(".."); }, "not a valid path segment"},
      {"slash in namespace", [] { return RequestBuilder(kPods, "a/b").List(); },
       "not a valid path segment"},
      {"continue with resourceVersion",
       [] {
         ListOptions o;
         o.continue_token = "x";
         o.resource_version = "1";
         return RequestBuilder(kPods).List(o);
       },
       "resourceVersion cannot be combined with continue"},
      {"match without version",
       [] {
         ListOptions o;
         o.resource_version_match = ResourceVersionMatch::kExact;
         return RequestBuilder(kPods).List(o);
       },
       "resourceVersionMatch requires a resourceVersion"},
      {"negative limit",
       [] {
         ListOptions o;
         o.limit = -1;
         return RequestBuilder(kPods).List(o);
       },
       "limit must not be negative"},
      {"initial events without bookmarks",
       [] {
         WatchOptions o;
         o.send_initial_events = false;
         o.allow_watch_bookmarks = false;
         return RequestBuilder(kPods).Watch(o);
       },
       "sendInitialEvents requires allowWatchBookmarks"},
      {"update without resourceVersion",
       [&] { return RequestBuilder(kComputeBudgets).Update(no_rv); },
       "metadata.resourceVersion is required"},
      {"update without name",
       [] { return RequestBuilder(kNodes).Update(JsonOrFail(R"({"spec":{}})")); },
       "metadata.name is required"},
      {"create in another namespace",
       [&] { return RequestBuilder(kPods, "team-a").Create(other_ns); },
       "does not match the request namespace"},
      {"force outside apply",
       [] {
         PatchOptions o;
         o.force = true;
         return RequestBuilder(kNodes).Patch("n", PatchType::kMerge, JsonOrFail("{}"), o);
       },
       "force is only allowed for apply"},
      {"apply without field manager",
       [] { return RequestBuilder(kNodes).Patch("n", PatchType::kApply, JsonOrFail("{}")); },
       "a field manager is required"},
      {"apply without kind", [&] { return RequestBuilder(kNodes).Apply(no_kind, "bursar"); },
       "kind is required"},
      {"json patch as object",
       [] { return RequestBuilder(kNodes).Patch("n", PatchType::kJson, JsonOrFail("{}")); },
       "must be a JSON array"},
      {"merge patch as array",
       [] { return RequestBuilder(kNodes).Patch("n", PatchType::kMerge, JsonOrFail("[]")); },
       "must be a JSON object"},
      {"negative grace period",
       [] {
         DeleteOptions o;
         o.grace_period_seconds = -1;
         return RequestBuilder(kNodes).Delete("n", o);
       },
       "gracePeriodSeconds must not be negative"},
  };
  for (const RejectCase& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<HttpRequest> got = c.build();
    ASSERT_FALSE(got.ok()) << got->path;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(got.status().message()).find(c.message_part), std::string::npos)
        << got.status();
  }
}

}  // namespace
}  // namespace bursar::kube
