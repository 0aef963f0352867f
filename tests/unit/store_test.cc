#include "operator/runtime/store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "operator/json/json.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/watcher.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::runtime {
namespace {

using Keys = std::vector<std::string>;
using Event = WatcherEvent<json::Value>;

json::Value Obj(std::string_view ns, std::string_view name, std::string_view rv,
                std::string_view node = "") {
  json::Value metadata = json::Value::Object({});
  if (!ns.empty()) {
    metadata.Set("namespace", json::Value::String(std::string(ns)));
  }
  metadata.Set("name", json::Value::String(std::string(name)));
  metadata.Set("resourceVersion", json::Value::String(std::string(rv)));
  json::Value spec = json::Value::Object({});
  spec.Set("nodeName", json::Value::String(std::string(node)));
  json::Value o = json::Value::Object({});
  o.Set("metadata", std::move(metadata));
  o.Set("spec", std::move(spec));
  return o;
}

std::vector<json::Value> Objs(std::initializer_list<json::Value> list) {
  return std::vector<json::Value>(list);
}

// Change callbacks as lines: "+ns/a" added, "~ns/a" modified, "-ns/a" deleted.
class Recorder {
 public:
  template <typename T>
  void Attach(T& store) {
    store.OnChange([this](const typename T::Change& c) {
      const char* sign = c.old_value == nullptr ? "+" : c.new_value == nullptr ? "-" : "~";
      lines.push_back(absl::StrCat(sign, c.key));
    });
  }
  Keys lines;
};

Keys Sorted(Keys keys) {
  std::sort(keys.begin(), keys.end());
  return keys;
}

TEST(ObjectKeyTest, NamespacedAndClusterScoped) {
  EXPECT_EQ(ObjectKey("ml", "train-1"), "ml/train-1");
  EXPECT_EQ(ObjectKey("", "team-a"), "team-a");
  EXPECT_EQ(ObjectKeyOf(Obj("ml", "a", "1")), "ml/a");
  EXPECT_EQ(ObjectKeyOf(Obj("", "budget", "1")), "budget");
  ObjectName n = SplitObjectKey("ml/train-1");
  EXPECT_EQ(n.namespace_name, "ml");
  EXPECT_EQ(n.name, "train-1");
  n = SplitObjectKey("team-a");
  EXPECT_EQ(n.namespace_name, "");
  EXPECT_EQ(n.name, "team-a");
}

TEST(StoreTest, SyncedOnlyAfterTheFirstRestart) {
  ObjectStore store;
  store.Apply(Event::Applied(Obj("ml", "a", "1")));
  EXPECT_FALSE(store.HasSynced());  // a watch event alone is not a full list
  store.Apply(Event::Restarted({}));
  EXPECT_TRUE(store.HasSynced());
  EXPECT_EQ(store.size(), 0u);
}

TEST(StoreTest, AppliedAndDeletedUpdateTheContentAndReportChanges) {
  ObjectStore store;
  Recorder recorder;
  recorder.Attach(store);
  store.Apply(Event::Restarted(Objs({Obj("ml", "a", "1")})));
  store.Apply(Event::Applied(Obj("ml", "b", "2")));
  store.Apply(Event::Applied(Obj("ml", "a", "3", "gpu-1")));
  store.Apply(Event::Deleted(Obj("ml", "b", "4")));

  EXPECT_EQ(recorder.lines, (Keys{"+ml/a", "+ml/b", "~ml/a", "-ml/b"}));
  EXPECT_EQ(store.ListKeys(), (Keys{"ml/a"}));
  std::shared_ptr<const json::Value> a = store.Get("ml/a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(PathOrFail(*a, "spec.nodeName").string_value(), "gpu-1");
  EXPECT_EQ(store.Get("ml/b"), nullptr);
}

TEST(StoreTest, ChangeCarriesOldAndNewValues) {
  ObjectStore store;
  std::vector<std::pair<std::string, std::string>> seen;  // old rv, new rv
  store.OnChange([&](const ObjectStore::Change& c) {
    seen.emplace_back(c.old_value ? std::string(ResourceVersionOf(*c.old_value)) : "",
                      c.new_value ? std::string(ResourceVersionOf(*c.new_value)) : "");
  });
  store.Apply(Event::Applied(Obj("ml", "a", "1")));
  store.Apply(Event::Applied(Obj("ml", "a", "2")));
  store.Apply(Event::Deleted(Obj("ml", "a", "3")));
  // Deleted before it was ever seen: still reported, with its final state.
  store.Apply(Event::Deleted(Obj("ml", "ghost", "9")));
  using P = std::pair<std::string, std::string>;
  EXPECT_EQ(seen, (std::vector<P>{P{"", "1"}, P{"1", "2"}, P{"2", ""}, P{"9", ""}}));
}

TEST(StoreTest, RestartReplacesEverythingAndReportsWhatVanished) {
  ObjectStore store;
  Recorder recorder;
  recorder.Attach(store);
  store.Apply(Event::Restarted(
      Objs({Obj("ml", "a", "1"), Obj("ml", "b", "2"), Obj("ml", "c", "3"), Obj("ml", "d", "4")})));
  recorder.lines.clear();

  // After a relist: a unchanged, b modified, c and d gone, e new.
  std::vector<std::string> vanished = store.Apply(
      Event::Restarted(Objs({Obj("ml", "e", "9"), Obj("ml", "a", "1"), Obj("ml", "b", "7")})));

  EXPECT_EQ(vanished, (Keys{"ml/c", "ml/d"}));
  EXPECT_EQ(Sorted(store.ListKeys()), (Keys{"ml/a", "ml/b", "ml/e"}));
  // Unchanged objects are not reported: a relist does not requeue the world.
  EXPECT_EQ(recorder.lines, (Keys{"+ml/e", "~ml/b", "-ml/c", "-ml/d"}));
}

// A streaming list: its objects are projected as they come and shown only with the Restarted
// that ends it; an abandoned attempt (a new SyncStarted) leaves nothing behind.
TEST(StoreTest, AStreamingListIsProjectedAsItComesAndShownOnlyWhenItEnds) {
  int projected = 0;
  Store<std::string, json::Value> store([&projected](const json::Value& o) {
    ++projected;
    return PathOrFail(o, "metadata.name").string_value();
  });
  Recorder recorder;
  recorder.Attach(store);
  store.Apply(Event::Restarted(Objs({Obj("ml", "old", "1")})));
  recorder.lines.clear();

  store.Apply(Event::SyncStarted());
  store.Apply(Event::SyncObject(Obj("ml", "abandoned", "5")));
  store.Apply(Event::SyncStarted());  // the stream broke; the next attempt starts over
  store.Apply(Event::SyncObject(Obj("ml", "a", "7")));
  store.Apply(Event::SyncObject(Obj("ml", "b", "8")));
  EXPECT_EQ(projected, 4);                        // old, abandoned, a, b: each as it came
  EXPECT_EQ(store.ListKeys(), (Keys{"ml/old"}));  // readers still see the old content
  EXPECT_TRUE(recorder.lines.empty());

  std::vector<std::string> vanished = store.Apply(Event::Restarted(Objs({Obj("ml", "c", "9")})));
  EXPECT_EQ(vanished, (Keys{"ml/old"}));
  EXPECT_EQ(Sorted(store.ListKeys()), (Keys{"ml/a", "ml/b", "ml/c"}));
  ASSERT_NE(store.Get("ml/b"), nullptr);
  EXPECT_EQ(*store.Get("ml/b"), "b");
  EXPECT_EQ(recorder.lines, (Keys{"+ml/a", "+ml/b", "+ml/c", "-ml/old"}));

  // The next relist starts from nothing kept aside.
  store.Apply(Event::SyncStarted());
  store.Apply(Event::Restarted({}));
  EXPECT_TRUE(store.ListKeys().empty());
}

TEST(StoreTest, NotSyncedWhileAStreamingListIsInProgress) {
  ObjectStore store;
  store.Apply(Event::SyncStarted());
  store.Apply(Event::SyncObject(Obj("ml", "a", "1")));
  EXPECT_FALSE(store.HasSynced());
  EXPECT_EQ(store.size(), 0u);
  store.Apply(Event::Restarted({}));
  EXPECT_TRUE(store.HasSynced());
  EXPECT_EQ(store.size(), 1u);
}

TEST(StoreTest, SnapshotsOutliveTheContentTheyCameFrom) {
  ObjectStore store;
  store.Apply(Event::Restarted(Objs({Obj("ml", "a", "1", "gpu-1")})));
  std::shared_ptr<const json::Value> held = store.Get("ml/a");
  std::vector<std::shared_ptr<const json::Value>> listed = store.List();
  store.Apply(Event::Restarted({}));
  store.Apply(Event::Applied(Obj("ml", "a", "2", "gpu-2")));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(PathOrFail(*held, "spec.nodeName").string_value(), "gpu-1");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(PathOrFail(*listed[0], "metadata.resourceVersion").string_value(), "1");
}

TEST(StoreTest, ProjectorStoresTheCallersType) {
  struct Placement {
    std::string name;
    std::string node;
  };
  Store<Placement, json::Value> store([](const json::Value& o) {
    return Placement{PathOrFail(o, "metadata.name").string_value(),
                     PathOrFail(o, "spec.nodeName").string_value()};
  });
  store.Apply(WatcherEvent<json::Value>::Restarted(
      Objs({Obj("ml", "a", "1", "gpu-1"), Obj("", "cluster-wide", "2", "gpu-2")})));
  ASSERT_NE(store.Get("ml/a"), nullptr);
  EXPECT_EQ(store.Get("ml/a")->node, "gpu-1");
  EXPECT_EQ(store.Get("cluster-wide")->node, "gpu-2");
  std::vector<std::string> nodes;
  store.ForEach([&](std::string_view, const Placement& p) { nodes.push_back(p.node); });
  EXPECT_EQ(Sorted(nodes), (Keys{"gpu-1", "gpu-2"}));
}

// A value that holds its own namespace and name: its store keeps no copy of the key, and
// behaves as any other store (by key text, relists, streaming lists, ForEach's keys).
struct Named {
  std::string ns, name, node;
};
ObjectName StoreKeyOf(const Named& n) {
  return {n.ns, n.name};
}
static_assert(HoldsItsKey<Named>);
static_assert(!HoldsItsKey<json::Value>);

TEST(StoreTest, AValueThatHoldsItsKeyIsStoredWithoutOne) {
  Store<Named, json::Value> store([](const json::Value& o) {
    const json::Value* ns = o.FindPath("metadata.namespace");
    return Named{ns != nullptr ? ns->string_value() : "",
                 PathOrFail(o, "metadata.name").string_value(),
                 PathOrFail(o, "spec.nodeName").string_value()};
  });
  Recorder recorder;
  recorder.Attach(store);
  store.Apply(WatcherEvent<json::Value>::Restarted(Objs(
      {Obj("ml", "a", "1", "gpu-1"), Obj("ml", "b", "2"), Obj("", "cluster-wide", "3", "gpu-3")})));
  ASSERT_NE(store.Get("ml/a"), nullptr);
  EXPECT_EQ(store.Get("ml/a")->node, "gpu-1");
  EXPECT_EQ(store.Get("cluster-wide")->node, "gpu-3");
  EXPECT_EQ(store.Get("ml/c"), nullptr);
  EXPECT_EQ(store.Get("other/a"), nullptr);  // the same name in another namespace

  recorder.lines.clear();
  store.Apply(WatcherEvent<json::Value>::Applied(Obj("ml", "a", "4", "gpu-4")));
  store.Apply(WatcherEvent<json::Value>::Deleted(Obj("ml", "b", "5")));
  EXPECT_EQ(store.Get("ml/a")->node, "gpu-4");
  EXPECT_EQ(store.Get("ml/b"), nullptr);
  EXPECT_EQ(store.size(), 2u);
  EXPECT_EQ(recorder.lines, (Keys{"~ml/a", "-ml/b"}));

  // A streaming relist: a unchanged, cluster-wide gone, d new.
  recorder.lines.clear();
  store.Apply(WatcherEvent<json::Value>::SyncStarted());
  store.Apply(WatcherEvent<json::Value>::SyncObject(Obj("ml", "a", "4", "gpu-4")));
  store.Apply(WatcherEvent<json::Value>::SyncObject(Obj("ml", "d", "6")));
  std::vector<std::string> vanished = store.Apply(WatcherEvent<json::Value>::Restarted({}));
  EXPECT_EQ(vanished, (Keys{"cluster-wide"}));
  EXPECT_EQ(recorder.lines, (Keys{"+ml/d", "-cluster-wide"}));
  EXPECT_EQ(Sorted(store.ListKeys()), (Keys{"ml/a", "ml/d"}));
  Keys keys;
  store.ForEach([&](std::string_view key, const Named& n) {
    keys.push_back(std::string(key) + "=" + n.name);
  });
  EXPECT_EQ(Sorted(keys), (Keys{"ml/a=a", "ml/d=d"}));
  EXPECT_EQ(store.List().size(), 2u);
}

TEST(StoreTest, PodStoreKeysSummariesByNamespaceAndName) {
  PodStore store;
  Recorder recorder;
  recorder.Attach(store);
  kube::PodSummary pod;
  pod.namespace_name = kube::InternedString("ml");
  pod.name = "train-0";
  pod.resource_version = "5";
  pod.node_name = "gpu-1";
  store.Apply(WatcherEvent<kube::PodSummary>::Restarted({pod}));
  pod.resource_version = "6";
  pod.node_name = "gpu-2";
  store.Apply(WatcherEvent<kube::PodSummary>::Restarted({pod}));
  ASSERT_NE(store.Get("ml/train-0"), nullptr);
  EXPECT_EQ(store.Get("ml/train-0")->node_name, "gpu-2");
  EXPECT_EQ(recorder.lines, (Keys{"+ml/train-0", "~ml/train-0"}));
}

// Readers see one whole content or the other, never a mix of two lists.
TEST(StoreTest, ReadersNeverSeeAHalfAppliedRestart) {
  ObjectStore store;
  const auto a = [] {
    return Objs({Obj("ml", "a1", "1"), Obj("ml", "a2", "1"), Obj("ml", "a3", "1")});
  };
  const auto b = [] {
    return Objs({Obj("ml", "b1", "1"), Obj("ml", "b2", "1"), Obj("ml", "b3", "1"),
                 Obj("ml", "b4", "1"), Obj("ml", "b5", "1")});
  };
  store.Apply(Event::Restarted(a()));
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      Keys keys = Sorted(store.ListKeys());
      if (keys != Keys{"ml/a1", "ml/a2", "ml/a3"} &&
          keys != Keys{"ml/b1", "ml/b2", "ml/b3", "ml/b4", "ml/b5"}) {
        torn.fetch_add(1);
      }
      reads.fetch_add(1);
    }
  });
  for (int i = 0; i < 2000 || reads.load() < 100; ++i) {
    store.Apply(Event::Restarted(i % 2 == 0 ? b() : a()));
  }
  done.store(true);
  reader.join();
  EXPECT_EQ(torn.load(), 0);
}

}  // namespace
}  // namespace bursar::runtime
