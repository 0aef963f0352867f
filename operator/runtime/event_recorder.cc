#include "operator/runtime/event_recorder.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controllers/values/strings.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/requests.h"

namespace bursar::runtime {
namespace {

// events.k8s.io's limit on a note; core/v1 sets none, but kubectl's columns and etcd do.
constexpr size_t kMaxMessageBytes = 1024;
// core/v1 validation's limit on reportingInstance.
constexpr size_t kMaxReportingInstance = 128;
// An Event's name is the object's name, '.', and up to 16 hex digits: a DNS subdomain.
constexpr size_t kMaxNamePrefix = 253 - 17;
// Where client-go puts Events of cluster-scoped objects.
constexpr std::string_view kDefaultNamespace = "default";

// At most `limit` bytes, not cutting a UTF-8 sequence in two.
std::string Truncate(std::string_view s, size_t limit) {
  if (s.size() <= limit) {
    return std::string(s);
  }
  size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) {
    --end;
  }
  return std::string(s.substr(0, end));
}

// metav1.Time: RFC 3339 in UTC, whole seconds.
std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%SZ", t, absl::UTCTimeZone());
}

json::Value JsonString(std::string_view s) {
  return json::Value::String(std::string(s));
}

std::string EventNamespace(const ObjectReference& object) {
  return object.namespace_name.empty() ? std::string(kDefaultNamespace) : object.namespace_name;
}

// One string per involved object; '\n' cannot occur in any of its parts.
std::string ObjectKeyOfReference(const ObjectReference& o) {
  return absl::StrCat(o.api_version, "\n", o.kind, "\n", o.namespace_name, "\n", o.name, "\n",
                      o.uid);
}

}  // namespace

ObjectReference ObjectReference::Of(const kube::ResourceType& type, const json::Value& object) {
  ObjectReference ref;
  ref.api_version = type.ApiVersion();
  ref.kind = std::string(type.kind);
  ref.namespace_name = json::StringAt(object, "metadata.namespace");
  ref.name = json::StringAt(object, "metadata.name");
  ref.uid = json::StringAt(object, "metadata.uid");
  return ref;
}

std::string_view EventTypeName(EventType type) {
  return type == EventType::kWarning ? "Warning" : "Normal";
}

// ---------------------------------------------------------------------------------------------
// Lru.

template <typename V>
V* ApiEventRecorder::Lru<V>::Find(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return nullptr;
  }
  order_.splice(order_.begin(), order_, it->second);
  return &it->second->second;
}

template <typename V>
V& ApiEventRecorder::Lru<V>::Insert(const std::string& key, V value) {
  if (V* existing = Find(key); existing != nullptr) {
    *existing = std::move(value);
    return *existing;
  }
  order_.emplace_front(key, std::move(value));
  index_[key] = order_.begin();
  while (order_.size() > capacity_) {
    index_.erase(order_.back().first);
    order_.pop_back();
  }
  return order_.front().second;
}

template <typename V>
void ApiEventRecorder::Lru<V>::Erase(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    return;
  }
  order_.erase(it->second);
  index_.erase(it);
}

// ---------------------------------------------------------------------------------------------
// Metrics.

struct ApiEventRecorder::Metrics {
  Counter* created = nullptr;
  Counter* aggregated = nullptr;
  Counter* rate_limited = nullptr;
  Counter* queue_full = nullptr;
  Counter* failed = nullptr;
  Counter* shutdown = nullptr;

  static std::unique_ptr<Metrics> Register(Registry& registry) {
    absl::StatusOr<CounterFamily*> events = registry.AddCounter(
        "bursar_event_recorder_events_total",
        "Events recorded, by result: created, aggregated (count patched), rate_limited, "
        "queue_full, failed, shutdown (dropped at shutdown).",
        {"result"});
    if (!events.ok()) {
      return nullptr;
    }
    auto m = std::make_unique<Metrics>();
    m->created = &(*events)->WithLabels({"created"});
    m->aggregated = &(*events)->WithLabels({"aggregated"});
    m->rate_limited = &(*events)->WithLabels({"rate_limited"});
    m->queue_full = &(*events)->WithLabels({"queue_full"});
    m->failed = &(*events)->WithLabels({"failed"});
    m->shutdown = &(*events)->WithLabels({"shutdown"});
    return m;
  }
};

// ---------------------------------------------------------------------------------------------
// ApiEventRecorder.

ApiEventRecorder::ApiEventRecorder(const kube::ApiClient& client, const Clock& clock,
                                   EventRecorderOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      buckets_(options_.cache_size),
      written_(options_.cache_size) {
  if (options_.metrics != nullptr) {
    metrics_ = Metrics::Register(*options_.metrics);
  }
  absl::MutexLock lock(&join_mu_);
  worker_ = std::thread([this] { Work(); });
}

ApiEventRecorder::~ApiEventRecorder() {
  Shutdown();
}

void ApiEventRecorder::Record(const ObjectReference& object, EventType type,
                              std::string_view reason, std::string_view message) {
  const absl::Time wall = clock_.Now();
  const absl::Time monotonic = clock_.MonotonicNow();
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    if (metrics_ != nullptr) {
      metrics_->shutdown->Increment();
    }
    return;
  }
  if (!AllowedBySpamFilter(ObjectKeyOfReference(object), monotonic)) {
    if (metrics_ != nullptr) {
      metrics_->rate_limited->Increment();
    }
    return;
  }
  if (queue_.size() >= options_.queue_capacity) {
    if (metrics_ != nullptr) {
      metrics_->queue_full->Increment();
    }
    return;
  }
  queue_.push_back(Pending{object, type, std::string(reason), Truncate(message, kMaxMessageBytes),
                           wall, monotonic});
}

bool ApiEventRecorder::AllowedBySpamFilter(const std::string& object_key, absl::Time now) {
  const double burst = std::max(1, options_.spam_burst);
  Bucket* bucket = buckets_.Find(object_key);
  if (bucket == nullptr) {
    bucket = &buckets_.Insert(object_key, Bucket{burst, now});
  }
  if (options_.spam_refill > absl::ZeroDuration()) {
    bucket->tokens = std::min(
        burst, bucket->tokens + absl::FDivDuration(now - bucket->last, options_.spam_refill));
  }
  bucket->last = now;
  if (bucket->tokens < 1.0) {
    return false;
  }
  bucket->tokens -= 1.0;
  return true;
}

bool ApiEventRecorder::HasWorkOrStopping() const {
  return !queue_.empty() || stopping_;
}

bool ApiEventRecorder::Idle() const {
  return queue_.empty() && !busy_;
}

void ApiEventRecorder::Flush() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &ApiEventRecorder::Idle));
}

void ApiEventRecorder::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (!stopping_) {
      stopping_ = true;
      stop_deadline_ = clock_.MonotonicNow() + options_.shutdown_grace;
    }
  }
  absl::MutexLock lock(&join_mu_);
  if (worker_.joinable()) {
    worker_.join();
  }
}

void ApiEventRecorder::Work() {
  while (true) {
    Pending event;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &ApiEventRecorder::HasWorkOrStopping));
      if (queue_.empty()) {
        return;  // stopping, and everything is written
      }
      if (stopping_ && clock_.MonotonicNow() >= stop_deadline_) {
        if (metrics_ != nullptr) {
          metrics_->shutdown->Increment(static_cast<double>(queue_.size()));
        }
        queue_.clear();
        return;
      }
      event = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    Write(event);
    absl::MutexLock lock(&mu_);
    busy_ = false;
  }
}

void ApiEventRecorder::Write(const Pending& event) {
  // Same object, type, reason, message and source: one Event with a count.
  const std::string key = absl::StrCat(ObjectKeyOfReference(event.object), "\n",
                                       values::AbslView(EventTypeName(event.type)), "\n",
                                       event.reason, "\n", event.message);
  Written* seen = written_.Find(key);
  if (seen != nullptr && event.monotonic - seen->last_seen <= options_.aggregation_window) {
    seen->count += 1;
    seen->last_seen = event.monotonic;
    // What client-go's correlator sends: count, lastTimestamp and message.
    json::Value patch = json::Value::Object({});
    patch.Set("count", json::Value::Int(seen->count));
    patch.Set("lastTimestamp", JsonString(FormatTimestamp(event.wall)));
    patch.Set("message", JsonString(event.message));
    absl::StatusOr<json::Value> patched = client_.Patch(
        kube::kEvents, seen->namespace_name, seen->name, kube::PatchType::kStrategic, patch);
    if (patched.ok()) {
      if (metrics_ != nullptr) {
        metrics_->aggregated->Increment();
      }
      return;
    }
    if (!kube::IsNotFound(patched.status())) {
      if (metrics_ != nullptr) {
        metrics_->failed->Increment();
      }
      return;
    }
    // The server dropped the Event (its TTL): create it again, same name and count.
    const Written again = *seen;
    if (absl::Status created = Create(event, again); !created.ok()) {
      written_.Erase(key);
    }
    return;
  }

  Written written;
  written.namespace_name = EventNamespace(event.object);
  written.name = NewName(event.object, event.wall);
  written.count = 1;
  written.first_timestamp = event.wall;
  written.last_seen = event.monotonic;
  if (absl::Status created = Create(event, written); created.ok()) {
    written_.Insert(key, std::move(written));
  } else {
    written_.Erase(key);  // nothing on the server to aggregate into
  }
}

absl::Status ApiEventRecorder::Create(const Pending& event, const Written& written) {
  const ObjectReference& o = event.object;
  json::Value metadata = json::Value::Object({});
  metadata.Set("name", JsonString(written.name));
  metadata.Set("namespace", JsonString(written.namespace_name));
  json::Value involved = json::Value::Object({});
  involved.Set("apiVersion", JsonString(o.api_version));
  involved.Set("kind", JsonString(o.kind));
  if (!o.namespace_name.empty()) {
    involved.Set("namespace", JsonString(o.namespace_name));
  }
  involved.Set("name", JsonString(o.name));
  if (!o.uid.empty()) {
    involved.Set("uid", JsonString(o.uid));
  }
  json::Value source = json::Value::Object({});
  source.Set("component", JsonString(options_.reporting_controller));

  json::Value e = json::Value::Object({});
  e.Set("apiVersion", JsonString("v1"));
  e.Set("kind", JsonString("Event"));
  e.Set("metadata", std::move(metadata));
  e.Set("involvedObject", std::move(involved));
  e.Set("reason", JsonString(event.reason));
  e.Set("message", JsonString(event.message));
  e.Set("type", JsonString(EventTypeName(event.type)));
  e.Set("count", json::Value::Int(written.count));
  e.Set("firstTimestamp", JsonString(FormatTimestamp(written.first_timestamp)));
  e.Set("lastTimestamp", JsonString(FormatTimestamp(event.wall)));
  e.Set("source", std::move(source));
  e.Set("reportingComponent", JsonString(options_.reporting_controller));
  e.Set("reportingInstance",
        JsonString(Truncate(options_.reporting_instance, kMaxReportingInstance)));

  absl::Status status = client_.Create(kube::kEvents, written.namespace_name, e).status();
  if (metrics_ != nullptr) {
    (status.ok() ? metrics_->created : metrics_->failed)->Increment();
  }
  return status;
}

std::string ApiEventRecorder::NewName(const ObjectReference& object, absl::Time wall) {
  // client-go's "<name>.<hex UnixNano>", kept strictly increasing so that two Events recorded
  // in the same nanosecond (or on a clock that stands still) never share a name.
  const int64_t nanos = std::max(absl::ToUnixNanos(wall), last_name_nanos_ + 1);
  last_name_nanos_ = nanos;
  return absl::StrFormat("%s.%x", Truncate(object.name, kMaxNamePrefix),
                         static_cast<uint64_t>(nanos));
}

}  // namespace bursar::runtime
