// The Pod watcher's initial sync against the real kube-apiserver: a streaming list (WatchList:
// sendInitialEvents=true, ended by the bookmark annotated k8s.io/initial-events-end) where the
// server allows it, paginated LIST where it does not. `make test-integration` runs this suite on
// the default cluster (WatchList on in 1.35) and again on one started with
// BURSAR_APISERVER_EXTRA_ARGS=--feature-gates=WatchList=false, where the server answers 422.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "operator/kube/client.h"
#include "operator/kube/pod_proto_decoder.h"
#include "operator/kube/resource.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/store.h"
#include "operator/runtime/watcher.h"
#include "tests/integration/cluster_test_base.h"

namespace bursar::testing {
namespace {

using Outcome = runtime::WatcherStep::Outcome;

struct SeenRequest {
  std::string path;
  int status = 0;
};

class WatchListTest : public ClusterTest {
 protected:
  // Whether this run's apiserver has the WatchList feature gate turned off.
  static bool GateOff() {
    return absl::StrContains(Env("BURSAR_APISERVER_EXTRA_ARGS"), "WatchList=false");
  }

  void CreatePod(const std::string& ns, int i) {
    absl::StatusOr<json::Value> pod = client().Create(
        kube::kPods, ns,
        JsonOrFail(
            absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"train-)", i,
                         R"(","labels":{"team":"vision"}},"spec":{"containers":[{"name":"main",)",
                         R"("image":"trainer","resources":{"requests":{"cpu":"2","memory":"8Gi",)",
                         R"("nvidia.com/gpu":")", 1 + i % 4, R"("},"limits":{"nvidia.com/gpu":")",
                         1 + i % 4, R"("}}}]}})")));
    ASSERT_TRUE(pod.ok()) << pod.status();
  }

  kube::ApiClient ObservedClient() {
    kube::ApiClient::Options options;
    options.observer = [this](const kube::HttpRequest& request, int status, absl::Duration) {
      absl::MutexLock lock(&mu_);
      seen_.push_back({request.path, status});
    };
    return kube::ApiClient(*transport_, options);
  }

  std::vector<SeenRequest> Seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }

  absl::Mutex mu_;
  std::vector<SeenRequest> seen_;
};

TEST_F(WatchListTest, PodWatcherSyncsByStreamingOrByPagesWhenTheServerRefuses) {
  const std::string ns = Namespace();
  constexpr int kPods = 7;
  for (int i = 0; i < kPods; ++i) {
    CreatePod(ns, i);
  }
  kube::ApiClient client = ObservedClient();
  runtime::SystemClock clock;
  runtime::PodStore store;
  runtime::WatcherOptions options;
  options.namespace_name = ns;
  options.page_size = 3;  // the fallback needs three pages
  options.watch_timeout = absl::Seconds(60);
  options.pod_label_keys = {kube::PodSummaryDecoder::kAllLabels};
  runtime::PodWatcher watcher(client, clock, kube::kPods, store.Sink(), options);

  for (int step = 0; step < 3 * kPods && !store.HasSynced(); ++step) {
    runtime::WatcherStep taken = watcher.Step();
    ASSERT_NE(taken.outcome, Outcome::kError) << taken.error;
  }
  ASSERT_TRUE(store.HasSynced());
  EXPECT_EQ(store.size(), static_cast<size_t>(kPods));
  std::shared_ptr<const kube::PodSummary> pod = store.Get(absl::StrCat(ns, "/train-2"));
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->TotalGpus(), 3);
  EXPECT_EQ(pod->containers.at(0).memory_bytes, int64_t{8} << 30);
  EXPECT_FALSE(watcher.resource_version().empty());

  const std::vector<SeenRequest> seen = Seen();
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(absl::StrContains(seen[0].path, "sendInitialEvents=true")) << seen[0].path;
  EXPECT_TRUE(absl::StrContains(seen[0].path, "resourceVersionMatch=NotOlderThan"));
  if (GateOff()) {
    // 422 Invalid: "sendInitialEvents is forbidden for watch unless the WatchList feature gate
    // is enabled"; then three pages of three.
    EXPECT_EQ(seen[0].status, 422);
    EXPECT_TRUE(watcher.watch_list_refused());
    ASSERT_EQ(seen.size(), 4u);
    for (size_t i = 1; i < seen.size(); ++i) {
      EXPECT_TRUE(absl::StrContains(seen[i].path, "limit=3")) << seen[i].path;
      EXPECT_EQ(seen[i].status, 200);
    }
    EXPECT_EQ(watcher.state(), runtime::WatcherState::kListed);
    ASSERT_EQ(watcher.Step().outcome, Outcome::kWatchStarted);
  } else {
    EXPECT_EQ(seen[0].status, 200);
    EXPECT_FALSE(watcher.watch_list_refused());
    EXPECT_EQ(seen.size(), 1u);  // no LIST: the initial state came on the watch
    EXPECT_EQ(watcher.state(), runtime::WatcherState::kWatching);
  }

  // Later changes arrive on the watch that follows (the same stream when streaming).
  CreatePod(ns, kPods);
  for (int step = 0; step < 10 && store.size() == static_cast<size_t>(kPods); ++step) {
    runtime::WatcherStep taken = watcher.Step();
    ASSERT_NE(taken.outcome, Outcome::kError) << taken.error;
  }
  EXPECT_EQ(store.size(), static_cast<size_t>(kPods + 1));
  EXPECT_EQ(Seen().size(), GateOff() ? 5u : 1u);
  watcher.Interrupt();
}

TEST_F(WatchListTest, ObjectWatcherStreamsOrFallsBackToo) {
  const std::string ns = Namespace();
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<json::Value> cm = client().Create(
        kube::ResourceType{"", "v1", "configmaps", "ConfigMap", true}, ns,
        JsonOrFail(absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c)", i,
                                R"(","labels":{"watch-list-test":"yes"}},"data":{"k":"v"}})")));
    ASSERT_TRUE(cm.ok()) << cm.status();
  }
  kube::ApiClient client = ObservedClient();
  runtime::SystemClock clock;
  runtime::ObjectStore store;
  runtime::WatcherOptions options;
  options.namespace_name = ns;
  options.label_selector = "watch-list-test=yes";  // not kube-root-ca.crt, if a manager adds it
  options.watch_timeout = absl::Seconds(60);
  runtime::ObjectWatcher watcher(client, clock,
                                 kube::ResourceType{"", "v1", "configmaps", "ConfigMap", true},
                                 store.Sink(), options);
  for (int step = 0; step < 20 && !store.HasSynced(); ++step) {
    runtime::WatcherStep taken = watcher.Step();
    ASSERT_NE(taken.outcome, Outcome::kError) << taken.error;
  }
  ASSERT_TRUE(store.HasSynced());
  EXPECT_EQ(store.size(), 4u);
  EXPECT_EQ(watcher.watch_list_refused(), GateOff());
  EXPECT_EQ(Seen().size(), GateOff() ? 2u : 1u);
  watcher.Interrupt();
}

// `object` without the members named in `drop`.
json::Value Without(const json::Value& object, const std::vector<std::string>& drop) {
  std::vector<json::Value::Member> kept;
  for (const json::Value::Member& member : object.members()) {
    if (std::find(drop.begin(), drop.end(), member.first) == drop.end()) {
      kept.push_back(member);
    }
  }
  return json::Value::Object(std::move(kept));
}

// tests/testdata/gpu-pod.json (two containers, GPUs, a finished sidecar, managedFields) in
// namespace `ns`, its status written through /status as a kubelet would.
void CreateFixturePod(kube::ApiClient& client, const std::string& ns) {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/gpu-pod.json");
  std::stringstream text;
  text << in.rdbuf();
  const json::Value fixture = JsonOrFail(text.str());
  const json::Value status = *fixture.Find("status");
  json::Value pod = Without(fixture, {"status"});
  json::Value metadata =
      Without(*fixture.Find("metadata"), {"uid", "resourceVersion", "creationTimestamp",
                                          "managedFields", "generateName", "finalizers"});
  metadata.Set("namespace", json::Value::String(ns));
  pod.Set("metadata", std::move(metadata));
  // No PriorityClass on this cluster.
  pod.Set("spec", Without(*fixture.Find("spec"), {"priorityClassName", "priority"}));
  absl::StatusOr<json::Value> created = client.Create(kube::kPods, ns, pod);
  ASSERT_TRUE(created.ok()) << created.status();
  created->Set("status", status);
  absl::StatusOr<json::Value> updated = client.UpdateStatus(kube::kPods, ns, *created);
  ASSERT_TRUE(updated.ok()) << updated.status();
}

TEST_F(WatchListTest, ProtobufAndJsonGiveTheSameSummaries) {
  const std::string ns = Namespace();
  CreateFixturePod(client(), ns);
  for (int i = 0; i < 4; ++i) {
    CreatePod(ns, i);
  }
  const std::vector<std::string> labels = {kube::PodSummaryDecoder::kAllLabels};

  // One LIST each way.
  kube::ListOptions as_json;
  kube::ListOptions as_protobuf;
  as_protobuf.protobuf = true;
  absl::StatusOr<std::string> json_body = client().ListRaw(kube::kPods, ns, as_json);
  absl::StatusOr<std::string> proto_body = client().ListRaw(kube::kPods, ns, as_protobuf);
  ASSERT_TRUE(json_body.ok()) << json_body.status();
  ASSERT_TRUE(proto_body.ok()) << proto_body.status();
  ASSERT_EQ(proto_body->substr(0, 4), std::string("k8s\0", 4));  // protobuf it is
  kube::PodSummaryDecoder json_decoder(labels);
  kube::PodProtoDecoder proto_decoder(labels);
  absl::StatusOr<kube::PodListPage> from_json = json_decoder.DecodePodList(*json_body);
  absl::StatusOr<kube::PodListPage> from_proto = proto_decoder.DecodePodList(*proto_body);
  ASSERT_TRUE(from_json.ok()) << from_json.status();
  ASSERT_TRUE(from_proto.ok()) << from_proto.status();
  ASSERT_EQ(from_json->items.size(), 5u);
  EXPECT_EQ(from_proto->items, from_json->items);
  EXPECT_LT(proto_body->size(), json_body->size());
  bool fixture_seen = false;
  for (const kube::PodSummary& pod : from_proto->items) {
    if (pod.name == "llama-finetune-7b-worker-0-x7k2p") {
      fixture_seen = true;
      EXPECT_EQ(pod.phase, kube::PodPhase::kRunning);
      EXPECT_TRUE(pod.start_time.has_value());
      EXPECT_EQ(pod.owner_kind.view(), "Job");
    }
  }
  EXPECT_TRUE(fixture_seen);

  // Two Pod watchers, one per wire format, streaming (or paging, with the gate off): the same
  // cache, then the same change through the watch (protobuf frames on the wire).
  runtime::SystemClock clock;
  std::map<bool, std::unique_ptr<runtime::PodStore>> stores;
  std::map<bool, std::unique_ptr<runtime::PodWatcher>> watchers;
  for (bool protobuf : {false, true}) {
    runtime::WatcherOptions options;
    options.namespace_name = ns;
    options.watch_timeout = absl::Seconds(60);
    options.pod_label_keys = labels;
    options.protobuf = protobuf;
    stores[protobuf] = std::make_unique<runtime::PodStore>();
    watchers[protobuf] = std::make_unique<runtime::PodWatcher>(client(), clock, kube::kPods,
                                                               stores[protobuf]->Sink(), options);
    for (int step = 0; step < 20 && !stores[protobuf]->HasSynced(); ++step) {
      runtime::WatcherStep taken = watchers[protobuf]->Step();
      ASSERT_NE(taken.outcome, Outcome::kError) << "protobuf=" << protobuf << ": " << taken.error;
    }
    ASSERT_TRUE(stores[protobuf]->HasSynced()) << "protobuf=" << protobuf;
  }
  kube::DeleteOptions now;
  now.grace_period_seconds = 0;
  absl::StatusOr<json::Value> deleted = client().Delete(kube::kPods, ns, "train-1", now);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  for (bool protobuf : {false, true}) {
    for (int step = 0; step < 10 && stores[protobuf]->size() == 5; ++step) {
      runtime::WatcherStep taken = watchers[protobuf]->Step();
      ASSERT_NE(taken.outcome, Outcome::kError) << "protobuf=" << protobuf << ": " << taken.error;
    }
    EXPECT_EQ(stores[protobuf]->size(), 4u) << "protobuf=" << protobuf;
    watchers[protobuf]->Interrupt();
  }
  for (const std::string& key : stores[false]->ListKeys()) {
    std::shared_ptr<const kube::PodSummary> json_pod = stores[false]->Get(key);
    std::shared_ptr<const kube::PodSummary> proto_pod = stores[true]->Get(key);
    ASSERT_NE(proto_pod, nullptr) << key;
    EXPECT_EQ(*proto_pod, *json_pod) << key;
  }
}

}  // namespace
}  // namespace bursar::testing
