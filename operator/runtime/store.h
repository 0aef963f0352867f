#pragma once

// Store: the cache a Watcher fills (client-go's informer store, kube-rs's reflector): every
// object of one resource type, keyed by "namespace/name" ("name" when cluster-scoped), as a
// value of the caller's choosing: the whole json::Value, a small struct projected from it
// (Store<NodeInfo, json::Value> with a projector), or the PodSummary the Pod watcher decodes
// (PodStore).
//
// - Apply() takes the watcher's events. A Restarted replaces the whole content in one swap:
//   readers see the old content or the new, never a mix, and the keys that vanished are
//   returned (and reported as deletions). The objects of a streaming list (SyncObject) are
//   projected as they come and kept aside until it. Projection happens outside the lock.
// - HasSynced() turns true with the first Restarted; controllers wait for it (controller.h).
// - Change callbacks run after the content changed, outside the lock, on the thread that
//   applies (the watcher's): one per added, modified or deleted key. A relist reports only the
//   keys whose resourceVersion changed, and the vanished ones. Typical use: enqueue the key
//   (or the key of the object it maps to) on a controller. Keep them quick.
// - Readers get shared_ptr<const T> snapshots: an object stays valid however long it is held,
//   even after the store moved on. Values are immutable once stored.
//
// Pitfalls: List() and ForEach() are in no particular order; sort if order matters. ForEach's
// function runs under the read lock: it must not call back into the store (nor block).
// Thread-safe: any number of readers; Apply() calls are serialised.

#include <algorithm>
#include <concepts>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "controllers/values/compact_string.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/watcher.h"

namespace bursar::runtime {

// client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" when `namespace_name` is "".
std::string ObjectKey(std::string_view namespace_name, std::string_view name);
// From metadata.namespace and metadata.name.
std::string ObjectKeyOf(const json::Value& object);
std::string ObjectKeyOf(const kube::PodSummary& pod);

struct ObjectName {
  std::string_view namespace_name;  // "" for a cluster-scoped key
  std::string_view name;
  bool operator==(const ObjectName&) const = default;
};
// The inverse of ObjectKey; the views point into `key`.
ObjectName SplitObjectKey(std::string_view key);

// A stored type that holds its own namespace and name says so with a function
// `ObjectName StoreKeyOf(const T&)` beside it (found by argument-dependent lookup): its Store
// keeps no copy of the key (the Pod cache: a key is a 32-byte slot part and a heap block a pod).
template <typename T>
concept HoldsItsKey = requires(const T& value) {
  { StoreKeyOf(value) } -> std::same_as<ObjectName>;
};

// metadata.resourceVersion; "" when absent.
std::string_view ResourceVersionOf(const json::Value& object);
std::string_view ResourceVersionOf(const kube::PodSummary& pod);

// What a controller waits for before it starts its workers. Thread-safe.
class SyncedCache {
 public:
  virtual ~SyncedCache() = default;
  // True once the cache holds a complete list from the server.
  virtual bool HasSynced() const = 0;
};

template <typename T, typename Source = T>
class Store final : public SyncedCache {
 public:
  using Projector = std::function<T(Source object)>;

  struct Change {
    std::string key;
    std::shared_ptr<const T> old_value;  // null when added
    std::shared_ptr<const T> new_value;  // null when deleted
  };
  using ChangeCallback = std::function<void(const Change& change)>;

  // Stores the watcher's objects as they are.
  Store() requires std::is_same_v<T, Source>
  = default;
  // Stores projector(object) for each object.
  explicit Store(Projector projector) : projector_(std::move(projector)) {}

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Registers a callback for every later change. May be called at any time.
  void OnChange(ChangeCallback callback) {
    absl::MutexLock lock(&mu_);
    auto next = std::make_shared<std::vector<ChangeCallback>>(*callbacks_);
    next->push_back(std::move(callback));
    callbacks_ = std::move(next);
  }

  // Applies one watcher event; returns the keys a Restarted removed (sorted), else empty.
  std::vector<std::string> Apply(WatcherEvent<Source> event);

  // A watcher sink that applies into this store (which must outlive the watcher).
  std::function<void(WatcherEvent<Source>)> Sink() {
    return [this](WatcherEvent<Source> event) { Apply(std::move(event)); };
  }

  bool HasSynced() const override {
    absl::ReaderMutexLock lock(&mu_);
    return synced_;
  }

  // The object stored under `key`; null when there is none.
  std::shared_ptr<const T> Get(std::string_view key) const {
    absl::ReaderMutexLock lock(&mu_);
    const Entry* entry = FindIn(items_, key);
    return entry == nullptr ? nullptr : entry->value;
  }

  std::vector<std::shared_ptr<const T>> List() const {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<std::shared_ptr<const T>> out;
    out.reserve(items_.size());
    for (const auto& slot : items_) {
      out.push_back(EntryOf(slot).value);
    }
    return out;
  }

  std::vector<std::string> ListKeys() const {
    absl::ReaderMutexLock lock(&mu_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    EachIn(items_, [&](std::string_view key, const Entry&) { out.emplace_back(key); });
    return out;
  }

  // Calls fn(key, value) for every object, under the read lock (see the pitfall above).
  void ForEach(const std::function<void(std::string_view key, const T& value)>& fn) const {
    absl::ReaderMutexLock lock(&mu_);
    EachIn(items_, [&](std::string_view key, const Entry& entry) { fn(key, *entry.value); });
  }

  size_t size() const {
    absl::ReaderMutexLock lock(&mu_);
    return items_.size();
  }

 private:
  // A slot is this entry, 24 bytes, when T holds its key (the Pod cache, one per pod of the
  // cluster), else the entry and a CompactString key: 32 (80 with std::string key and version).
  struct Entry {
    std::shared_ptr<const T> value;
    // A hash of the source object's resourceVersion (0: none), so that a relist reports only
    // the objects that changed. Two versions hashing alike would hide one change from the
    // callbacks (the content is replaced all the same): odds of 2^-64 a changed object.
    uint64_t version = 0;
  };
  static constexpr bool kByValue = HoldsItsKey<T>;
  // When T holds its key: a set of entries, found by the name their value holds.
  static ObjectName NameOf(const ObjectName& name) { return name; }
  static ObjectName NameOf(std::string_view key) { return SplitObjectKey(key); }
  static ObjectName NameOf(const Entry& entry) { return StoreKeyOf(*entry.value); }
  struct NameHash {
    using is_transparent = void;
    template <typename K>
    size_t operator()(const K& key) const {
      const ObjectName name = NameOf(key);
      return absl::Hash<std::pair<absl::string_view, absl::string_view>>()(
          {values::AbslView(name.namespace_name), values::AbslView(name.name)});
    }
  };
  struct NameEq {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return NameOf(a) == NameOf(b);
    }
  };
  using Map =
      std::conditional_t<kByValue, absl::flat_hash_set<Entry, NameHash, NameEq>,
                         absl::flat_hash_map<values::CompactString, Entry,
                                             values::CompactStringHash, values::CompactStringEq>>;

  static const Entry& EntryOf(const typename Map::value_type& slot) {
    if constexpr (kByValue) {
      return slot;
    } else {
      return slot.second;
    }
  }
  // The entry under `key`; null when there is none.
  static const Entry* FindIn(const Map& map, std::string_view key) {
    auto it = map.find(NameOrKey(key));
    return it == map.end() ? nullptr : &EntryOf(*it);
  }
  static auto NameOrKey(std::string_view key) {
    if constexpr (kByValue) {
      return SplitObjectKey(key);
    } else {
      return key;
    }
  }
  // Stores `entry` under `key` (for a T that holds its key, the key its value holds), replacing
  // what was there; returns the value replaced (null when none).
  static std::shared_ptr<const T> PutIn(Map& map, std::string_view key, Entry entry) {
    std::shared_ptr<const T> old = TakeFrom(map, key);
    if constexpr (kByValue) {
      map.insert(std::move(entry));
    } else {
      map.emplace(values::CompactString(key), std::move(entry));
    }
    return old;
  }
  // Removes the entry under `key`; returns its value (null when none).
  static std::shared_ptr<const T> TakeFrom(Map& map, std::string_view key) {
    auto it = map.find(NameOrKey(key));
    if (it == map.end()) {
      return nullptr;
    }
    std::shared_ptr<const T> old = EntryOf(*it).value;
    map.erase(it);
    return old;
  }
  // Calls fn(key, entry) for every entry (a key made from the value when T holds its key).
  template <typename F>
  static void EachIn(const Map& map, F&& fn) {
    for (const auto& slot : map) {
      if constexpr (kByValue) {
        const ObjectName name = StoreKeyOf(*slot.value);
        fn(std::string_view(ObjectKey(name.namespace_name, name.name)), slot);
      } else {
        fn(slot.first.view(), slot.second);
      }
    }
  }

  static uint64_t VersionHash(std::string_view resource_version) {
    return resource_version.empty() ? 0 : values::CompactStringHash()(resource_version);
  }

  std::shared_ptr<const T> Project(Source object) const {
    if constexpr (std::is_same_v<T, Source>) {
      if (!projector_) {
        return std::make_shared<const T>(std::move(object));
      }
    }
    return std::make_shared<const T>(projector_(std::move(object)));
  }

  // Projects `object` into `map` (a later object under the same key wins), its key onto `order`.
  void AddTo(Map& map, std::vector<std::string>& order, Source object) const {
    std::string key = ObjectKeyOf(object);
    const uint64_t version = VersionHash(ResourceVersionOf(object));
    PutIn(map, key, Entry{Project(std::move(object)), version});
    order.push_back(std::move(key));
  }

  void Notify(const std::vector<Change>& changes) const {
    std::shared_ptr<const std::vector<ChangeCallback>> callbacks;
    {
      absl::ReaderMutexLock lock(&mu_);
      callbacks = callbacks_;
    }
    for (const Change& change : changes) {
      for (const ChangeCallback& callback : *callbacks) {
        callback(change);
      }
    }
  }

  const Projector projector_;
  // Serialises Apply(): a Restarted compares against the content it then replaces.
  absl::Mutex apply_mu_;
  // The streaming list in progress (kSyncObject since kSyncStarted), in the list's order.
  Map syncing_ ABSL_GUARDED_BY(apply_mu_);
  std::vector<std::string> sync_order_ ABSL_GUARDED_BY(apply_mu_);
  mutable absl::Mutex mu_;
  Map items_ ABSL_GUARDED_BY(mu_);
  bool synced_ ABSL_GUARDED_BY(mu_) = false;
  // Copy-on-write, so that Apply() copies a pointer, not the callbacks.
  std::shared_ptr<const std::vector<ChangeCallback>> callbacks_ ABSL_GUARDED_BY(mu_) =
      std::make_shared<const std::vector<ChangeCallback>>();
};

// The Pod cache: PodSummary values, straight from the PodWatcher.
using PodStore = Store<kube::PodSummary>;
// A cache of whole objects, straight from an ObjectWatcher.
using ObjectStore = Store<json::Value>;

template <typename T, typename Source>
std::vector<std::string> Store<T, Source>::Apply(WatcherEvent<Source> event) {
  absl::MutexLock apply_lock(&apply_mu_);
  std::vector<Change> changes;
  std::vector<std::string> vanished;
  switch (event.type) {
    case WatcherEvent<Source>::Type::kSyncStarted:
      syncing_ = Map();
      sync_order_.clear();
      return {};
    case WatcherEvent<Source>::Type::kSyncObject:
      // Kept aside as a stored value (projected), not as received: a list of Nodes as JSON
      // trees is many times the size of their views.
      AddTo(syncing_, sync_order_, std::move(event.object));
      return {};
    case WatcherEvent<Source>::Type::kRestarted: {
      // Build the new content without holding the lock readers need.
      Map fresh = std::exchange(syncing_, Map());
      std::vector<std::string> order = std::exchange(sync_order_, {});  // for the callbacks
      fresh.reserve(fresh.size() + event.objects.size());
      order.reserve(order.size() + event.objects.size());
      for (Source& object : event.objects) {
        AddTo(fresh, order, std::move(object));
      }
      {
        absl::ReaderMutexLock lock(&mu_);
        for (const std::string& key : order) {
          const Entry& now = *FindIn(fresh, key);
          const Entry* old = FindIn(items_, key);
          if (old == nullptr) {
            changes.push_back({key, nullptr, now.value});
          } else if (now.version == 0 || old->version != now.version) {
            changes.push_back({key, old->value, now.value});
          }
        }
        EachIn(items_, [&](std::string_view key, const Entry&) {
          if (FindIn(fresh, key) == nullptr) {
            vanished.emplace_back(key);
          }
        });
        std::sort(vanished.begin(), vanished.end());
        for (const std::string& key : vanished) {
          changes.push_back({key, FindIn(items_, key)->value, nullptr});
        }
      }
      {
        absl::MutexLock lock(&mu_);
        items_.swap(fresh);
        synced_ = true;
      }
      // `fresh` now holds the old content; it is freed here, outside the lock.
      break;
    }
    case WatcherEvent<Source>::Type::kApplied: {
      std::string key = ObjectKeyOf(event.object);
      const uint64_t version = VersionHash(ResourceVersionOf(event.object));
      std::shared_ptr<const T> value = Project(std::move(event.object));
      std::shared_ptr<const T> old;
      {
        absl::MutexLock lock(&mu_);
        old = PutIn(items_, key, Entry{value, version});
      }
      changes.push_back({std::move(key), std::move(old), std::move(value)});
      break;
    }
    case WatcherEvent<Source>::Type::kDeleted: {
      std::string key = ObjectKeyOf(event.object);
      std::shared_ptr<const T> old;
      {
        absl::MutexLock lock(&mu_);
        old = TakeFrom(items_, key);
      }
      if (old == nullptr) {
        // Deleted before we ever saw it: still worth a callback, with its final state.
        old = Project(std::move(event.object));
      }
      changes.push_back({std::move(key), std::move(old), nullptr});
      break;
    }
  }
  Notify(changes);
  return vanished;
}

}  // namespace bursar::runtime
