#pragma once

// Kubernetes Events (core/v1) about the objects Bursar acts on: what `kubectl describe` and
// `kubectl get events` show ("Throttled: forecast 1240 USD over a 1000 USD limit").
//
// EventRecorder is the interface reconcilers take (fakes live with their tests);
// ApiEventRecorder writes through the API, like client-go's record package:
// - Never blocks the caller on the API: Record() puts the event on a bounded queue (dropped,
//   and counted, when full) and one owned worker thread writes it.
// - Repeats are aggregated as client-go's EventCorrelator does: the same object, type, reason
//   and message within 10 minutes of the last one PATCHes the existing Event's count and
//   lastTimestamp (strategic merge patch) instead of creating another. Different messages are
//   different Events. If the Event has expired on the server meanwhile (the API server keeps
//   Events one hour by default), it is created again.
// - Memory is bounded: what aggregation remembers is an LRU of `cache_size` entries.
// - Per-object spam filter (client-go's EventSourceObjectSpamFilter): a token bucket per
//   involved object, 25 at once then one per 5 minutes; events beyond it are dropped.
// - Events of a namespaced object go to its namespace; events of a cluster-scoped object (all
//   of Bursar's CRDs) go to "default", where client-go puts them too.
// Events are best effort: a failed write is counted in the metrics and not retried.
//
// Pitfalls: `reason` is a short UpperCamelCase word that tools group by; put the details in
// `message` (truncated to 1024 bytes). Messages with ever-changing numbers defeat aggregation:
// keep the volatile part small or the spam filter will drop the rest.
// Thread-safe: Record() may be called from any thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/kube/resource.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"

namespace bursar::runtime {

// The involved object of an Event (a core/v1 ObjectReference).
struct ObjectReference {
  std::string api_version;
  std::string kind;
  std::string namespace_name;  // "" for cluster-scoped objects
  std::string name;
  std::string uid;

  // From the object's metadata; apiVersion and kind come from `type`, because objects inside
  // lists lack them.
  static ObjectReference Of(const kube::ResourceType& type, const json::Value& object);

  bool operator==(const ObjectReference&) const = default;
};

enum class EventType { kNormal, kWarning };

// "Normal", "Warning".
std::string_view EventTypeName(EventType type);

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // Records that `reason` happened to `object`. Returns at once.
  virtual void Record(const ObjectReference& object, EventType type, std::string_view reason,
                      std::string_view message) = 0;
};

struct EventRecorderOptions {
  // reportingComponent (and source.component) of every Event.
  std::string reporting_controller = "bursar.dev/operator";
  // reportingInstance: this replica, e.g. the pod name (at most 128 characters).
  std::string reporting_instance;
  size_t queue_capacity = 1000;
  // Entries remembered for aggregation, and objects tracked by the spam filter.
  size_t cache_size = 4096;
  absl::Duration aggregation_window = absl::Minutes(10);
  int spam_burst = 25;                            // per involved object
  absl::Duration spam_refill = absl::Minutes(5);  // one more event per this
  // After Shutdown(), queued events are still written for this long, then dropped.
  absl::Duration shutdown_grace = absl::Seconds(5);
  Registry* metrics = nullptr;  // optional
};

class ApiEventRecorder final : public EventRecorder {
 public:
  // `client`, `clock` and the metrics registry must outlive the recorder. Starts the worker.
  ApiEventRecorder(const kube::ApiClient& client, const Clock& clock, EventRecorderOptions options);
  // Shutdown().
  ~ApiEventRecorder() override;
  ApiEventRecorder(const ApiEventRecorder&) = delete;
  ApiEventRecorder& operator=(const ApiEventRecorder&) = delete;

  void Record(const ObjectReference& object, EventType type, std::string_view reason,
              std::string_view message) override;

  // Blocks until every event recorded so far has been written (or dropped). For tests and
  // orderly shutdowns; waits on the worker, in real time.
  void Flush();
  // Stops accepting events, writes what is queued (within shutdown_grace), joins the worker.
  // Idempotent.
  void Shutdown();

 private:
  struct Pending {
    ObjectReference object;
    EventType type = EventType::kNormal;
    std::string reason;
    std::string message;
    absl::Time wall;       // the Event's timestamps
    absl::Time monotonic;  // the aggregation window
  };
  // What aggregation remembers of an Event it wrote.
  struct Written {
    std::string namespace_name;
    std::string name;
    int64_t count = 0;
    absl::Time first_timestamp;
    absl::Time last_seen;  // monotonic
  };
  struct Bucket {
    double tokens = 0;
    absl::Time last;  // monotonic
  };
  // A map that forgets its least recently used entry beyond `capacity`. Thread-compatible.
  template <typename V>
  class Lru {
   public:
    explicit Lru(size_t capacity) : capacity_(capacity < 1 ? 1 : capacity) {}
    // The entry, now the most recently used; null when absent.
    V* Find(const std::string& key);
    V& Insert(const std::string& key, V value);
    void Erase(const std::string& key);
    size_t size() const { return order_.size(); }

   private:
    using Entry = std::pair<std::string, V>;
    size_t capacity_;
    std::list<Entry> order_;  // most recently used first
    absl::flat_hash_map<std::string, typename std::list<Entry>::iterator> index_;
  };
  struct Metrics;

  bool AllowedBySpamFilter(const std::string& object_key, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Work();
  void Write(const Pending& event);
  absl::Status Create(const Pending& event, const Written& written);
  std::string NewName(const ObjectReference& object, absl::Time wall);
  bool HasWorkOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const kube::ApiClient& client_;
  const Clock& clock_;
  const EventRecorderOptions options_;
  std::unique_ptr<Metrics> metrics_;

  mutable absl::Mutex mu_;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  Lru<Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // the worker is writing an event
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();  // monotonic

  // The worker's own state.
  Lru<Written> written_;
  int64_t last_name_nanos_ = 0;

  absl::Mutex join_mu_;  // serialises Shutdown() around join()
  std::thread worker_ ABSL_GUARDED_BY(join_mu_);
};

}  // namespace bursar::runtime
