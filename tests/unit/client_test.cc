#include "operator/kube/client.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::kube {
namespace {

std::string Pod(std::string_view name, std::string_view rv = "1") {
  return absl::StrCat(R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")", std::string(name),
                      R"(","namespace":"ml","resourceVersion":")", std::string(rv), R"("}})");
}

std::string PodList(const std::vector<std::string>& names, std::string_view rv,
                    std::string_view continue_token) {
  std::string items;
  for (const std::string& name : names) {
    absl::StrAppend(&items, items.empty() ? "" : ",", Pod(name));
  }
  return absl::StrCat(R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")",
                      std::string(rv), R"(","continue":")", std::string(continue_token),
                      R"("},"items":[)", items, "]}");
}

std::string StatusBody(int code, std::string_view reason, std::string_view message) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)",
                      R"("message":")", std::string(message), R"(","reason":")",
                      std::string(reason), R"(","code":)", code, "}");
}

std::vector<std::string> Names(const ObjectList& list) {
  std::vector<std::string> names;
  for (const json::Value& item : list.items) {
    names.push_back(PathOrFail(item, "metadata.name").string_value());
  }
  return names;
}

TEST(ApiClientTest, GetReturnsTheObject) {
  FakeTransport transport;
  transport.Reply(200, Pod("web-0", "42"));
  ApiClient client(transport);
  absl::StatusOr<json::Value> pod = client.Get(kPods, "ml", "web-0");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(PathOrFail(*pod, "metadata.resourceVersion").string_value(), "42");
  ASSERT_EQ(transport.sent().size(), 1u);
  EXPECT_EQ(transport.sent()[0].request.path, "/api/v1/namespaces/ml/pods/web-0");
  EXPECT_EQ(transport.sent()[0].timeout, absl::Seconds(30));
}

TEST(ApiClientTest, ErrorsKeepTheirKubernetesStatus) {
  FakeTransport transport;
  transport.Reply(404, StatusBody(404, "NotFound", R"(pods \"web-0\" not found)"));
  transport.Reply(409, StatusBody(409, "Conflict",
                                  "Operation cannot be fulfilled on computebudgets.bursar.dev "
                                  R"(\"team-a\": the object has been modified)"));
  transport.Reply(409, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
                       R"("message":"Apply failed with 1 conflict: conflict with \"kubectl\")"
                       R"( using bursar.dev/v1alpha1: .spec.limit.amount","reason":"Conflict",)"
                       R"("details":{"causes":[{"reason":"FieldManagerConflict",)"
                       R"("message":"conflict with \"kubectl\"","field":".spec.limit.amount"}]},)"
                       R"("code":409})");
  transport.Reply(409, StatusBody(409, "AlreadyExists", "leases \\\"bursar\\\" already exists"));
  transport.Reply(409, StatusBody(409, "Conflict", "Precondition failed: UID in precondition"));
  ApiClient client(transport);

  EXPECT_TRUE(kube::IsNotFound(client.Get(kPods, "ml", "web-0").status()));

  const json::Value budget =
      JsonOrFail(R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget",)"
                 R"("metadata":{"name":"team-a","resourceVersion":"7"},"spec":{}})");
  absl::Status update = client.Update(kComputeBudgets, "", budget).status();
  EXPECT_TRUE(IsConflict(update)) << update;
  EXPECT_FALSE(IsRetryable(update));

  absl::Status apply = client.Apply(kComputeBudgets, "", budget, "bursar").status();
  EXPECT_TRUE(IsConflict(apply)) << apply;
  EXPECT_EQ(FieldOrFail(KubeStatusOf(apply)->details, "causes").elements().size(), 1u);

  const json::Value lease = JsonOrFail(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
                                       R"("metadata":{"name":"bursar"}})");
  EXPECT_TRUE(kube::IsAlreadyExists(client.Create(kLeases, "bursar-system", lease).status()));

  DeleteOptions preconditions;
  preconditions.precondition_uid = "u-1";
  EXPECT_TRUE(IsConflict(client.Delete(kJobs, "ml", "train", preconditions).status()));

  const std::vector<HttpRequest> sent = transport.requests();
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(sent[1].method, "PUT");
  EXPECT_EQ(sent[2].method, "PATCH");
  EXPECT_EQ(sent[2].path, "/apis/bursar.dev/v1alpha1/computebudgets/team-a?fieldManager=bursar");
  EXPECT_EQ(sent[3].method, "POST");
  EXPECT_EQ(sent[4].method, "DELETE");
  EXPECT_EQ(transport.pending(), 0u);
}

TEST(ApiClientTest, InvalidRequestsAreNotSent) {
  FakeTransport transport;
  ApiClient client(transport);
  EXPECT_EQ(client.Get(kPods, "", "web-0").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(transport.sent().empty());
}

TEST(ApiClientTest, TransportFailuresAreRetryable) {
  FakeTransport transport;
  transport.Fail(absl::UnavailableError("connect: connection refused"));
  ApiClient client(transport);
  absl::Status s = client.Get(kNodes, "", "n").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(IsRetryable(s));
  EXPECT_FALSE(KubeStatusOf(s).has_value());
}

TEST(ApiClientTest, ListAllFollowsContinueTokens) {
  FakeTransport transport;
  transport.Reply(200, PodList({"a", "b"}, "100", "c1"));
  transport.Reply(200, PodList({"c", "d"}, "100", "c2"));
  transport.Reply(200, PodList({"e"}, "100", ""));
  ApiClient client(transport);
  ListOptions options;
  options.label_selector = "bursar.dev/budget";
  options.resource_version = "0";
  absl::StatusOr<ObjectList> list = client.ListAll(kPods, "", options);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(Names(*list), (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  EXPECT_EQ(list->resource_version, "100");
  EXPECT_EQ(list->continue_token, "");
  const std::vector<HttpRequest> sent = transport.requests();
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].path,
            "/api/v1/pods?labelSelector=bursar.dev%2Fbudget&limit=500&"
            "resourceVersion=0");
  // The token pins the snapshot: no resourceVersion next to it.
  EXPECT_EQ(sent[1].path, "/api/v1/pods?labelSelector=bursar.dev%2Fbudget&limit=500&continue=c1");
  EXPECT_EQ(sent[2].path, "/api/v1/pods?labelSelector=bursar.dev%2Fbudget&limit=500&continue=c2");
}

TEST(ApiClientTest, ListAllStartsOverWhenTheTokenExpires) {
  FakeTransport transport;
  transport.Reply(200, PodList({"a", "b"}, "100", "c1"));
  transport.Reply(410, StatusBody(410, "Expired", "The provided continue parameter is too old"));
  transport.Reply(200, PodList({"a", "x"}, "250", "c9"));
  transport.Reply(200, PodList({"y"}, "250", ""));
  ApiClient client(transport);
  absl::StatusOr<ObjectList> list = client.ListAll(kPods, "ml");
  ASSERT_TRUE(list.ok()) << list.status();
  // Nothing from the expired snapshot survives.
  EXPECT_EQ(Names(*list), (std::vector<std::string>{"a", "x", "y"}));
  EXPECT_EQ(list->resource_version, "250");
  const std::vector<HttpRequest> sent = transport.requests();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1].path, "/api/v1/namespaces/ml/pods?limit=500&continue=c1");
  EXPECT_EQ(sent[2].path, "/api/v1/namespaces/ml/pods?limit=500");
  EXPECT_EQ(sent[3].path, "/api/v1/namespaces/ml/pods?limit=500&continue=c9");
}

TEST(ApiClientTest, ListAllGivesUpAfterRepeatedExpiry) {
  FakeTransport transport;
  ApiClient::Options options;
  options.max_list_restarts = 2;
  options.list_page_size = 1;
  for (int i = 0; i < 3; ++i) {
    transport.Reply(200, PodList({"a"}, "1", "c"));
    transport.Reply(410, StatusBody(410, "Expired", "too old"));
  }
  ApiClient client(transport, options);
  absl::StatusOr<ObjectList> list = client.ListAll(kPods, "ml");
  EXPECT_TRUE(IsGone(list.status())) << list.status();
  EXPECT_EQ(transport.sent().size(), 6u);
  EXPECT_EQ(transport.sent()[0].request.path, "/api/v1/namespaces/ml/pods?limit=1");
}

TEST(ApiClientTest, ListAllDoesNotRestartAnExpiredFirstPage) {
  FakeTransport transport;
  transport.Reply(410, StatusBody(410, "Expired", "too old resource version: 5 (900)"));
  ApiClient client(transport);
  ListOptions options;
  options.resource_version = "5";
  options.resource_version_match = ResourceVersionMatch::kExact;
  EXPECT_TRUE(IsGone(client.ListAll(kNodes, "", options).status()));
  EXPECT_EQ(transport.sent().size(), 1u);
}

TEST(ApiClientTest, ListRawReturnsTheBody) {
  FakeTransport transport;
  transport.Reply(200, PodList({"a"}, "9", ""));
  transport.Reply(403, StatusBody(403, "Forbidden", "pods is forbidden"));
  ApiClient client(transport);
  absl::StatusOr<std::string> body = client.ListRaw(kPods, "");
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, PodList({"a"}, "9", ""));
  EXPECT_EQ(client.ListRaw(kPods, "").status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ApiClientTest, WatchStreamsEventsUntilAnErrorEvent) {
  FakeTransport transport;
  transport.ReplyStream(
      200, {R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"11"}}})", "",
            R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"15"}}})",
            R"({"type":"MODIFIED","object":{"metadata":{"name":"a","resourceVersion":"17"}}})",
            R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},)"
            R"js("status":"Failure","message":"too old resource version: 17 (40)",)js"
            R"("reason":"Expired","code":410}})"});
  ApiClient client(transport);
  WatchOptions options;
  options.resource_version = "10";
  absl::StatusOr<WatchStream> watch = client.Watch(kPods, "ml", options);
  ASSERT_TRUE(watch.ok()) << watch.status();
  EXPECT_EQ(transport.sent()[0].request.path,
            "/api/v1/namespaces/ml/pods?watch=true&resourceVersion=10&timeoutSeconds=290&"
            "allowWatchBookmarks=true");
  EXPECT_TRUE(transport.sent()[0].stream);
  // The idle timeout outlasts timeoutSeconds, so the server ends the watch.
  EXPECT_EQ(transport.sent()[0].timeout, absl::Seconds(290 + 30));

  std::vector<WatchEvent::Type> types;
  while (true) {
    absl::StatusOr<std::optional<WatchEvent>> event = watch->Next();
    if (!event.ok()) {
      EXPECT_TRUE(IsGone(event.status())) << event.status();
      break;
    }
    ASSERT_TRUE(event->has_value());
    types.push_back((*event)->type);
  }
  EXPECT_EQ(types,
            (std::vector<WatchEvent::Type>{WatchEvent::Type::kAdded, WatchEvent::Type::kBookmark,
                                           WatchEvent::Type::kModified}));
  EXPECT_EQ(watch->resource_version(), "17");
}

TEST(ApiClientTest, WatchEndsCleanlyAndCanBeCancelled) {
  FakeTransport transport;
  transport.ReplyStream(200, {R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"3"}}})"});
  transport.ReplyStream(200, {R"({"type":"ADDED","object":{"metadata":{"resourceVersion":"4"}}})"});
  transport.ReplyStream(200, {"garbage"});
  transport.ReplyStream(200, {}, absl::UnavailableError("stream reset"));
  ApiClient client(transport);

  absl::StatusOr<WatchStream> ends = client.Watch(kNodes, "");
  ASSERT_TRUE(ends.ok());
  ASSERT_TRUE(ends->Next().ok());
  absl::StatusOr<std::optional<WatchEvent>> end = ends->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
  EXPECT_EQ(ends->resource_version(), "3");

  absl::StatusOr<WatchStream> cancelled = client.Watch(kNodes, "");
  ASSERT_TRUE(cancelled.ok());
  cancelled->Cancel();
  EXPECT_EQ(cancelled->Next().status().code(), absl::StatusCode::kCancelled);

  absl::StatusOr<WatchStream> garbage = client.Watch(kNodes, "");
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage->Next().status().code(), absl::StatusCode::kInvalidArgument);

  absl::StatusOr<WatchStream> broken = client.Watch(kNodes, "");
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken->Next().status().code(), absl::StatusCode::kUnavailable);
}

TEST(ApiClientTest, WatchThatCannotStartReportsTheStatus) {
  FakeTransport transport;
  transport.ReplyStream(403, {StatusBody(403, "Forbidden", "pods is forbidden")});
  transport.Fail(absl::DeadlineExceededError("connect timeout"));
  ApiClient client(transport);
  absl::Status forbidden = client.Watch(kPods, "").status();
  EXPECT_EQ(forbidden.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(KubeStatusOf(forbidden)->reason, "Forbidden");
  EXPECT_TRUE(IsRetryable(client.Watch(kPods, "").status()));
}

TEST(ApiClientTest, WatchWithServerDefaultTimeout) {
  FakeTransport transport;
  transport.ReplyStream(200, {});
  ApiClient client(transport);
  WatchOptions options;
  options.timeout_seconds = 0;
  ASSERT_TRUE(client.WatchLines(kNodes, "", options).ok());
  EXPECT_EQ(transport.sent()[0].timeout, absl::Hours(1) + absl::Seconds(30));
}

TEST(ApiClientTest, SubresourcesUseTheirPaths) {
  FakeTransport transport;
  for (int i = 0; i < 7; ++i) {
    transport.Reply(200, R"({"kind":"Scale","spec":{"replicas":2}})");
  }
  ApiClient client(transport);
  const json::Value budget = JsonOrFail(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget",)"
      R"("metadata":{"name":"team-a","resourceVersion":"7"},"status":{"phase":"AtRisk"}})");
  const json::Value scale = JsonOrFail(R"({"apiVersion":"autoscaling/v1","kind":"Scale",)"
                                       R"("metadata":{"name":"gpu","resourceVersion":"3"},)"
                                       R"("spec":{"replicas":4}})");
  ASSERT_TRUE(client.GetStatus(kComputeBudgets, "", "team-a").ok());
  ASSERT_TRUE(client.UpdateStatus(kComputeBudgets, "", budget).ok());
  ASSERT_TRUE(client
                  .PatchStatus(kComputeBudgets, "", "team-a", PatchType::kMerge,
                               JsonOrFail(R"({"status":{"phase":"Held"}})"))
                  .ok());
  ASSERT_TRUE(client.ApplyStatus(kComputeBudgets, "", budget, "bursar", true).ok());
  absl::StatusOr<json::Value> got = client.GetScale(kMachineDeployments, "capi", "gpu");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(PathOrFail(*got, "spec.replicas").int_value(), 2);
  ASSERT_TRUE(client.UpdateScale(kMachineDeployments, "capi", scale).ok());
  ASSERT_TRUE(client
                  .PatchScale(kMachineDeployments, "capi", "gpu", PatchType::kMerge,
                              JsonOrFail(R"({"spec":{"replicas":5}})"))
                  .ok());
  std::vector<std::string> got_requests;
  for (const HttpRequest& r : transport.requests()) {
    got_requests.push_back(r.method + " " + r.path);
  }
  EXPECT_EQ(got_requests,
            (std::vector<std::string>{
                "GET /apis/bursar.dev/v1alpha1/computebudgets/team-a/status",
                "PUT /apis/bursar.dev/v1alpha1/computebudgets/team-a/status",
                "PATCH /apis/bursar.dev/v1alpha1/computebudgets/team-a/status",
                "PATCH /apis/bursar.dev/v1alpha1/computebudgets/team-a/status?fieldManager="
                "bursar&force=true",
                "GET /apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu/scale",
                "PUT /apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu/scale",
                "PATCH /apis/cluster.x-k8s.io/v1beta1/namespaces/capi/machinedeployments/gpu/"
                "scale"}));
}

TEST(ApiClientTest, DeleteReturnsWhatTheServerSent) {
  FakeTransport transport;
  transport.Reply(200, R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success",)"
                       R"("details":{"name":"n","kind":"nodes","uid":"u"}})");
  transport.Reply(202, Pod("web-0"));
  ApiClient client(transport);
  absl::StatusOr<json::Value> status = client.Delete(kNodes, "", "n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(FieldOrFail(*status, "status").string_value(), "Success");
  absl::StatusOr<json::Value> pod = client.Delete(kPods, "ml", "web-0");
  ASSERT_TRUE(pod.ok()) << pod.status();
  EXPECT_EQ(PathOrFail(*pod, "metadata.name").string_value(), "web-0");
}

TEST(ApiClientTest, NonJsonSuccessIsAnError) {
  FakeTransport transport;
  transport.Reply(200, "<html>proxy login</html>");
  transport.Reply(200, "");
  ApiClient client(transport);
  EXPECT_EQ(client.Get(kNodes, "", "n").status().code(), absl::StatusCode::kInternal);
  absl::StatusOr<json::Value> empty = client.Get(kNodes, "", "n");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->is_null());
}

TEST(ApiClientTest, DiscoveryTellsWhetherAnOptionalApiIsServed) {
  FakeTransport transport;
  transport.Reply(404, "404 page not found\n");
  transport.Reply(200, R"({"kind":"APIResourceList","apiVersion":"v1",)"
                       R"("groupVersion":"kueue.x-k8s.io/v1beta1","resources":[)"
                       R"({"name":"clusterqueues","singularName":"clusterqueue",)"
                       R"("namespaced":false,"kind":"ClusterQueue","verbs":["get","list"]},)"
                       R"({"name":"clusterqueues/status","namespaced":false,)"
                       R"("kind":"ClusterQueue","verbs":["get","patch"]}]})");
  transport.Reply(200, R"({"kind":"APIResourceList","groupVersion":"karpenter.sh/v1",)"
                       R"("resources":[{"name":"nodeclaims","kind":"NodeClaim"}]})");
  transport.Reply(503, "service unavailable");
  ApiClient client(transport);

  absl::StatusOr<bool> capi =
      client.HasResource("cluster.x-k8s.io", "v1beta1", "machinedeployments");
  ASSERT_TRUE(capi.ok()) << capi.status();
  EXPECT_FALSE(*capi);
  absl::StatusOr<bool> kueue = client.HasResource("kueue.x-k8s.io", "v1beta1", "clusterqueues");
  ASSERT_TRUE(kueue.ok()) << kueue.status();
  EXPECT_TRUE(*kueue);
  absl::StatusOr<bool> karpenter = client.HasResource("karpenter.sh", "v1", "nodepools");
  ASSERT_TRUE(karpenter.ok()) << karpenter.status();
  EXPECT_FALSE(*karpenter);
  absl::StatusOr<bool> unavailable = client.HasResource("metrics.k8s.io", "v1beta1", "pods");
  EXPECT_TRUE(IsRetryable(unavailable.status())) << unavailable.status();

  const std::vector<HttpRequest> sent = transport.requests();
  EXPECT_EQ(sent[0].path, "/apis/cluster.x-k8s.io/v1beta1");
  EXPECT_EQ(sent[1].path, "/apis/kueue.x-k8s.io/v1beta1");
}

TEST(ApiClientTest, ObserverSeesEveryRequest) {
  FakeTransport transport;
  transport.Reply(200, Pod("a"));
  transport.Reply(404, "");
  transport.Fail(absl::UnavailableError("refused"));
  transport.ReplyStream(200, {});
  struct Seen {
    std::string path;
    int status;
    absl::Duration latency;
  };
  std::vector<Seen> seen;
  absl::Time now = absl::UnixEpoch();
  ApiClient::Options options;
  options.now = [&now] {
    now += absl::Milliseconds(5);  // each reading is 5 ms after the last
    return now;
  };
  options.observer = [&seen](const HttpRequest& r, int status, absl::Duration latency) {
    seen.push_back({r.path, status, latency});
  };
  ApiClient client(transport, options);
  (void)client.Get(kPods, "ml", "a");
  (void)client.Get(kPods, "ml", "b");
  (void)client.Get(kPods, "ml", "c");
  (void)client.WatchLines(kPods, "ml");
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[0].path, "/api/v1/namespaces/ml/pods/a");
  EXPECT_EQ(seen[0].status, 200);
  EXPECT_EQ(seen[1].status, 404);
  EXPECT_EQ(seen[2].status, 0);
  EXPECT_EQ(seen[3].status, 200);
  for (const Seen& s : seen) {
    EXPECT_EQ(s.latency, absl::Milliseconds(5)) << s.path;
  }
}

}  // namespace
}  // namespace bursar::kube
