#pragma once

// Watcher: keeps a local copy of one resource type in step with the API server, as kube-rs's
// watcher and client-go's reflector do, through an explicit state machine (one transition per
// Step()):
//
//   kEmpty     streaming list (WatchList, the default): a watch with sendInitialEvents=true,
//              resourceVersionMatch=NotOlderThan, allowWatchBookmarks   ok → kSyncing
//              or, once the server refused that, a paginated list      ok → Restarted(all), kListed
//   kSyncing   read one event of the streaming list: ADDED/MODIFIED → SyncObject (the sink keeps
//              it aside); the BOOKMARK annotated k8s.io/initial-events-end=true ends the initial
//              state → Restarted, its resourceVersion is the resume point, kWatching on the
//              same stream
//   kListed    watch from the list's (or last) resourceVersion  ok → kWatching
//              with allowWatchBookmarks and timeoutSeconds (290 s, jittered down by 10 %)
//   kWatching  read one event: ADDED/MODIFIED → Applied, DELETED → Deleted,
//              BOOKMARK → only the resourceVersion moves;
//              the server closing the watch (timeoutSeconds) → kListed (watch again from the
//              last resourceVersion, no relist)
//
// Streaming list: the API server sends the initial state one object per line, so memory stays
// at one object's text instead of a 500-object page (a page of Pods with managedFields is
// ~7 MB of JSON, and the parser's buffers grow to a multiple of the largest page). A server whose
// WatchList feature gate is off answers 422 Invalid ("sendInitialEvents is forbidden ..."); an
// older one may answer 400: the watcher then lists with pages from then on (remembered for its
// lifetime). A streaming list that ends or breaks before its end bookmark starts over from kEmpty.
//
// A 410 Gone, as the watch's HTTP status or inside an ERROR event, means the resourceVersion is
// older than the server keeps: back to kEmpty and relist at once. Every other error backs off
// (0.8 s doubling to 30 s, jittered; the sequence starts over after 120 s without failures)
// and retries the same state; a broken watch retries from the last resourceVersion. A line
// that does not decode is reported and skipped: the watch goes on (as kube-rs does), so one bad
// object cannot stall the whole cache.
//
// Two object types: json::Value (the whole object, for every resource but Pods) and
// kube::PodSummary (raw mode: list pages and watch lines go straight to PodSummaryDecoder, so
// the Pod cache never builds JSON trees). Other types do not link.
//
// Consumers get events through a sink, on the thread that calls Step()/Run(), in order:
// Restarted after every (re)list replaces everything known before (with the SyncObjects since
// the last SyncStarted, for a streaming list); Applied and Deleted follow. A Store (store.h) is
// the usual sink.
//
// Pitfalls:
// - Step() never sleeps: after kError it returns the delay to wait; Run() waits it on the Clock.
// - Run() returns when `stop` is notified, but a watch read blocks on the network (up to
//   timeoutSeconds). Call Interrupt() after notifying `stop` to cancel it.
// Thread-compatible: one thread runs Step()/Run(); Interrupt() may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/resource.h"
#include "operator/kube/transport.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/backoff.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"

namespace bursar::runtime {

// What a watcher tells its sink. A streaming list hands over its initial objects one at a
// time, so that a cache can keep each in its own (smaller) form as it arrives instead of holding
// the whole list as received: kSyncStarted, then kSyncObject for each object, then kRestarted,
// whose `objects` complete the list. A paginated list sends only kRestarted with every object.
// A sync that fails before its kRestarted is abandoned: the next one begins with kSyncStarted.
template <typename T>
struct WatcherEvent {
  enum class Type { kSyncStarted, kSyncObject, kRestarted, kApplied, kDeleted };

  Type type = Type::kApplied;
  // kRestarted: with the kSyncObjects since kSyncStarted, every object that exists, replacing
  // all before.
  std::vector<T> objects;
  T object;  // kSyncObject, kApplied (added or modified), kDeleted (its last state)

  static WatcherEvent SyncStarted() {
    WatcherEvent e;
    e.type = Type::kSyncStarted;
    return e;
  }
  static WatcherEvent SyncObject(T obj) {
    WatcherEvent e;
    e.type = Type::kSyncObject;
    e.object = std::move(obj);
    return e;
  }
  static WatcherEvent Restarted(std::vector<T> all) {
    WatcherEvent e;
    e.type = Type::kRestarted;
    e.objects = std::move(all);
    return e;
  }
  static WatcherEvent Applied(T obj) {
    WatcherEvent e;
    e.type = Type::kApplied;
    e.object = std::move(obj);
    return e;
  }
  static WatcherEvent Deleted(T obj) {
    WatcherEvent e;
    e.type = Type::kDeleted;
    e.object = std::move(obj);
    return e;
  }
};

enum class WatcherState { kEmpty, kSyncing, kListed, kWatching };

std::string_view WatcherStateName(WatcherState state);

struct WatcherOptions {
  // "" watches all namespaces (and is required for cluster-scoped types).
  std::string namespace_name;
  std::string label_selector;
  std::string field_selector;
  int64_t page_size = 500;  // list limit per page (paginated lists only)
  // Stream the initial state with a watch-list request where the server supports it; false
  // always lists with pages.
  bool watch_list = true;
  // The server ends each watch after this long; each watch asks for a value drawn uniformly
  // from [timeout × (1 − jitter), timeout], whole seconds, so that many watchers started
  // together do not all re-watch together. 290 s stays under common 300 s proxy timeouts.
  absl::Duration watch_timeout = absl::Seconds(290);
  double watch_timeout_jitter = 0.1;
  BackoffPolicy backoff;
  std::optional<uint64_t> seed;  // for the backoff and timeout jitter; from the OS when unset
  // Pod mode (kube::PodSummary): the labels worth keeping (PodSummaryDecoder).
  std::vector<std::string> pod_label_keys;
  // Pod mode: ask for protobuf (lists and watches); decoded by PodProtoDecoder into the same
  // summaries. Ignored for json::Value watchers (CRDs only speak JSON).
  bool protobuf = false;
  // Raw Pod lists restart after a 410 on a continue token at most this often.
  int max_list_restarts = 3;
  Registry* metrics = nullptr;  // optional
  // The "resource" label of the metrics; the type's plural when empty.
  std::string metrics_name;
  // Called (on the stepping thread) with every error that makes the watcher back off, for
  // logs; optional. A 410 is not an error: it only relists.
  std::function<void(const absl::Status& error)> on_error;
};

// The transition one Step() took.
struct WatcherStep {
  enum class Outcome {
    kListed,        // kEmpty → kListed, or kSyncing → kWatching; Restarted was sent
    kWatchStarted,  // kListed → kWatching, or kEmpty → kSyncing
    kInitialEvent,  // kSyncing: one object of the initial state was kept aside
    kEvent,         // an Applied or Deleted was sent
    kBookmark,      // the resourceVersion moved
    kWatchEnded,    // the server closed the watch: kListed, watch again from the last version
    kGone,          // 410: kEmpty, relist now
    kError,         // wait retry_after, then Step() again
    kInterrupted,   // Interrupt() was called: nothing more to do
  };
  Outcome outcome = Outcome::kError;
  absl::Status error;                                 // kGone, kError
  absl::Duration retry_after = absl::ZeroDuration();  // kError
};

std::string_view WatcherOutcomeName(WatcherStep::Outcome outcome);

namespace watcher_internal {

// What a list produced.
template <typename T>
struct Listed {
  std::vector<T> items;
  std::string resource_version;
};

// One decoded watch line.
template <typename T>
struct Decoded {
  kube::WatchEvent::Type type = kube::WatchEvent::Type::kAdded;
  T object;
  std::string resource_version;
  bool initial_events_end = false;  // a BOOKMARK that ends a streaming list's initial state
};

// How objects of type T are listed and decoded; specialised in watcher.cc for the two types.
template <typename T>
class Codec;

}  // namespace watcher_internal

template <typename T>
class Watcher {
 public:
  using Event = WatcherEvent<T>;
  using Sink = std::function<void(Event event)>;

  // `client`, `clock` and `metrics` must outlive the watcher; `type` is copied, but its
  // strings are views (resource.h: use the constants).
  Watcher(const kube::ApiClient& client, const Clock& clock, const kube::ResourceType& type,
          Sink sink, WatcherOptions options = {});
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Performs one transition (one list, one watch request, or one event read; a read blocks
  // until the server sends a line).
  WatcherStep Step();
  // Steps until `stop` is notified or Interrupt() is called, waiting out backoff delays on
  // the clock (woken early by `stop`).
  void Run(Wakeup* stop);
  // Cancels the watch in flight and every later one, and makes Step() return kInterrupted.
  // Sticky. Thread-safe.
  void Interrupt();

  WatcherState state() const { return state_; }
  // The version the next watch starts from; "" while kEmpty or kSyncing.
  const std::string& resource_version() const { return resource_version_; }
  // True once the server refused a streaming list: this watcher lists with pages from then on.
  bool watch_list_refused() const { return watch_list_refused_; }

 private:
  using Listed = watcher_internal::Listed<T>;
  using Decoded = watcher_internal::Decoded<T>;
  using Codec = watcher_internal::Codec<T>;
  struct Metrics;

  WatcherStep List();
  WatcherStep StartStreamingList();
  WatcherStep OpenWatch();
  // Keeps `lines` as the open stream and moves to `next`.
  void AdoptStream(std::unique_ptr<kube::LineStream> lines, WatcherState next);
  WatcherStep Read();
  // One decoded event of a streaming list's initial state (kSyncing).
  WatcherStep ReadInitial(Decoded decoded);
  WatcherStep Fail(absl::Status error);
  WatcherStep Relist(absl::Status error);
  // Drops the open watch (cancelling it first) and moves to `next`.
  void CloseWatch(WatcherState next);
  // Where a watch that ended or broke leaves the watcher: a streaming list that had not
  // finished starts over (kEmpty); a watch resumes from the last version (kListed).
  WatcherState AfterWatch() const;
  int64_t NextTimeoutSeconds();
  // A watch of this watcher's selectors and encoding from `resource_version`, with bookmarks.
  kube::WatchOptions WatchFrom(std::string resource_version);
  bool interrupted() const { return interrupted_.load(std::memory_order_acquire); }

  const kube::ApiClient& client_;
  const Clock& clock_;
  const kube::ResourceType type_;
  const Sink sink_;
  const WatcherOptions options_;
  std::unique_ptr<Codec> codec_;
  std::unique_ptr<Metrics> metrics_;
  Backoff backoff_;
  std::mt19937_64 rng_;

  WatcherState state_ = WatcherState::kEmpty;
  std::string resource_version_;
  bool watch_list_refused_ = false;

  std::atomic<bool> interrupted_{false};
  // Guards the stream's lifetime against a concurrent Interrupt(); reads run unlocked on the
  // Step() thread, which is the only one that replaces the stream.
  mutable absl::Mutex stream_mu_;
  std::unique_ptr<kube::LineStream> stream_ ABSL_GUARDED_BY(stream_mu_);
  kube::LineStream* reading_ = nullptr;  // == stream_.get(), read by the Step() thread only
};

extern template class Watcher<json::Value>;
extern template class Watcher<kube::PodSummary>;

using ObjectWatcher = Watcher<json::Value>;
using PodWatcher = Watcher<kube::PodSummary>;

}  // namespace bursar::runtime
