#include "operator/runtime/watcher.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/pod_proto_decoder.h"
#include "operator/kube/requests.h"

namespace bursar::runtime {
namespace {

bool IsBlank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

Backoff MakeBackoff(const WatcherOptions& options) {
  return options.seed.has_value() ? Backoff(options.backoff, *options.seed)
                                  : Backoff(options.backoff);
}

std::mt19937_64 MakeRng(const WatcherOptions& options) {
  if (options.seed.has_value()) {
    return std::mt19937_64(*options.seed);
  }
  std::random_device device;
  return std::mt19937_64((static_cast<uint64_t>(device()) << 32) ^ device());
}

WatcherStep Took(WatcherStep::Outcome outcome, absl::Status error = absl::OkStatus(),
                 absl::Duration retry_after = absl::ZeroDuration()) {
  WatcherStep step;
  step.outcome = outcome;
  step.error = std::move(error);
  step.retry_after = retry_after;
  return step;
}

kube::ListOptions ListOptionsOf(const WatcherOptions& options, bool protobuf = false) {
  kube::ListOptions list;
  list.protobuf = protobuf;
  list.label_selector = options.label_selector;
  list.field_selector = options.field_selector;
  list.limit = options.page_size;
  return list;
}

}  // namespace

std::string_view WatcherStateName(WatcherState state) {
  switch (state) {
    case WatcherState::kEmpty:
      return "Empty";
    case WatcherState::kSyncing:
      return "Syncing";
    case WatcherState::kListed:
      return "Listed";
    case WatcherState::kWatching:
      return "Watching";
  }
  return "Unknown";
}

std::string_view WatcherOutcomeName(WatcherStep::Outcome outcome) {
  using Outcome = WatcherStep::Outcome;
  switch (outcome) {
    case Outcome::kListed:
      return "Listed";
    case Outcome::kWatchStarted:
      return "WatchStarted";
    case Outcome::kInitialEvent:
      return "InitialEvent";
    case Outcome::kEvent:
      return "Event";
    case Outcome::kBookmark:
      return "Bookmark";
    case Outcome::kWatchEnded:
      return "WatchEnded";
    case Outcome::kGone:
      return "Gone";
    case Outcome::kError:
      return "Error";
    case Outcome::kInterrupted:
      return "Interrupted";
  }
  return "Unknown";
}

// ---------------------------------------------------------------------------------------------
// Codecs: how each object type is listed and decoded.

namespace watcher_internal {

// Whole objects as JSON trees; ApiClient::ListAll follows the pages.
template <>
class Codec<json::Value> {
 public:
  using Listed = watcher_internal::Listed<json::Value>;
  using Decoded = watcher_internal::Decoded<json::Value>;

  explicit Codec(const WatcherOptions&) {}

  bool protobuf() const { return false; }

  absl::StatusOr<Listed> List(const kube::ApiClient& client, const kube::ResourceType& type,
                              const WatcherOptions& options) {
    absl::StatusOr<kube::ObjectList> all =
        client.ListAll(type, options.namespace_name, ListOptionsOf(options));
    if (!all.ok()) {
      return all.status();
    }
    return Listed{std::move(all->items), std::move(all->resource_version)};
  }

  absl::StatusOr<Decoded> Decode(std::string_view line) {
    absl::StatusOr<kube::WatchEvent> event = kube::DecodeWatchEvent(line);
    if (!event.ok()) {
      return event.status();
    }
    if (event->type == kube::WatchEvent::Type::kError) {
      return kube::ErrorOf(*event);
    }
    Decoded decoded;
    decoded.type = event->type;
    decoded.resource_version = std::string(event->ResourceVersion());
    decoded.initial_events_end = event->EndsInitialEvents();
    decoded.object = std::move(event->object);
    return decoded;
  }
};

// Pods straight from the text into PodSummary; pages followed here, as ListAll would.
template <>
class Codec<kube::PodSummary> {
 public:
  using Listed = watcher_internal::Listed<kube::PodSummary>;
  using Decoded = watcher_internal::Decoded<kube::PodSummary>;

  explicit Codec(const WatcherOptions& options)
      : protobuf_(options.protobuf),
        decoder_(options.pod_label_keys),
        proto_decoder_(options.pod_label_keys) {}

  bool protobuf() const { return protobuf_; }

  absl::StatusOr<Listed> List(const kube::ApiClient& client, const kube::ResourceType& type,
                              const WatcherOptions& options) {
    const kube::ListOptions first = ListOptionsOf(options, protobuf_);
    kube::ListOptions page_options = first;
    Listed all;
    int restarts = 0;
    while (true) {
      absl::StatusOr<std::string> body = client.ListRaw(type, options.namespace_name, page_options);
      if (!body.ok()) {
        // An expired continue token: pages of two snapshots must not mix, so start over.
        if (kube::IsGone(body.status()) && !page_options.continue_token.empty() &&
            restarts < options.max_list_restarts) {
          ++restarts;
          all = Listed();
          page_options = first;
          continue;
        }
        return body.status();
      }
      absl::StatusOr<kube::PodListPage> page =
          IsProtobuf(*body) ? proto_decoder_.DecodePodList(*body) : decoder_.DecodePodList(*body);
      if (!page.ok()) {
        return page.status();
      }
      if (all.items.empty()) {
        all.items = std::move(page->items);
      } else {
        all.items.reserve(all.items.size() + page->items.size());
        std::move(page->items.begin(), page->items.end(), std::back_inserter(all.items));
      }
      all.resource_version = std::move(page->resource_version);
      if (page->continue_token.empty()) {
        decoder_.ReleaseBuffers();  // sized for a page; the watch needs one Pod's worth
        return all;
      }
      page_options.continue_token = std::move(page->continue_token);
    }
  }

  absl::StatusOr<Decoded> Decode(std::string_view line) {
    // An ERROR event comes back as its error, with its Status attached.
    absl::StatusOr<kube::PodWatchEvent> event =
        IsProtobuf(line) ? proto_decoder_.DecodeWatchFrame(line) : decoder_.DecodeWatchLine(line);
    if (!event.ok()) {
      return event.status();
    }
    Decoded decoded;
    decoded.type = event->type;
    decoded.resource_version = event->pod.resource_version;
    decoded.initial_events_end =
        event->type == kube::WatchEvent::Type::kBookmark && event->initial_events_end;
    decoded.object = std::move(event->pod);
    return decoded;
  }

 private:
  // Asked for protobuf, a body starts with "k8s\0" and a watch frame with the tag of
  // WatchEvent.type (0x0a); the server may still answer JSON, which starts with '{'.
  bool IsProtobuf(std::string_view message) const {
    return protobuf_ && !message.empty() && message.front() != '{';
  }

  const bool protobuf_;
  kube::PodSummaryDecoder decoder_;
  kube::PodProtoDecoder proto_decoder_;
};

}  // namespace watcher_internal

// ---------------------------------------------------------------------------------------------
// Metrics.

template <typename T>
struct Watcher<T>::Metrics {
  Counter* relists = nullptr;
  Counter* watch_restarts = nullptr;
  Counter* errors = nullptr;
  Counter* added = nullptr;
  Counter* modified = nullptr;
  Counter* deleted = nullptr;
  Counter* bookmarks = nullptr;

  // Null when the registry refuses the families (a clash with another component's names).
  static std::unique_ptr<Metrics> Register(Registry& registry, std::string_view resource) {
    absl::StatusOr<CounterFamily*> relists = registry.AddCounter(
        "bursar_watcher_relists_total", "Lists that (re)started a watcher's cache.", {"resource"});
    absl::StatusOr<CounterFamily*> restarts = registry.AddCounter(
        "bursar_watcher_watch_restarts_total",
        "Watches that ended (server timeout, error or 410 Gone) and were opened again.",
        {"resource"});
    absl::StatusOr<CounterFamily*> errors = registry.AddCounter(
        "bursar_watcher_errors_total", "Watcher errors that caused a backoff.", {"resource"});
    absl::StatusOr<CounterFamily*> events = registry.AddCounter(
        "bursar_watcher_events_total", "Watch events received, by type.", {"resource", "type"});
    if (!relists.ok() || !restarts.ok() || !errors.ok() || !events.ok()) {
      return nullptr;
    }
    auto m = std::make_unique<Metrics>();
    m->relists = &(*relists)->WithLabels({resource});
    m->watch_restarts = &(*restarts)->WithLabels({resource});
    m->errors = &(*errors)->WithLabels({resource});
    m->added = &(*events)->WithLabels({resource, "ADDED"});
    m->modified = &(*events)->WithLabels({resource, "MODIFIED"});
    m->deleted = &(*events)->WithLabels({resource, "DELETED"});
    m->bookmarks = &(*events)->WithLabels({resource, "BOOKMARK"});
    return m;
  }

  void CountEvent(kube::WatchEvent::Type type) {
    switch (type) {
      case kube::WatchEvent::Type::kAdded:
        added->Increment();
        break;
      case kube::WatchEvent::Type::kModified:
        modified->Increment();
        break;
      case kube::WatchEvent::Type::kDeleted:
        deleted->Increment();
        break;
      case kube::WatchEvent::Type::kBookmark:
        bookmarks->Increment();
        break;
      case kube::WatchEvent::Type::kError:
        break;
    }
  }
};

// ---------------------------------------------------------------------------------------------
// The state machine.

template <typename T>
Watcher<T>::Watcher(const kube::ApiClient& client, const Clock& clock,
                    const kube::ResourceType& type, Sink sink, WatcherOptions options)
    : client_(client),
      clock_(clock),
      type_(type),
      sink_(std::move(sink)),
      options_(std::move(options)),
      codec_(std::make_unique<Codec>(options_)),
      backoff_(MakeBackoff(options_)),
      rng_(MakeRng(options_)) {
  if (options_.metrics != nullptr) {
    metrics_ = Metrics::Register(*options_.metrics, options_.metrics_name.empty()
                                                        ? type_.plural
                                                        : std::string_view(options_.metrics_name));
  }
}

template <typename T>
Watcher<T>::~Watcher() {
  absl::MutexLock lock(&stream_mu_);
  if (stream_ != nullptr) {
    stream_->Cancel();
  }
}

template <typename T>
WatcherStep Watcher<T>::Step() {
  if (interrupted()) {
    CloseWatch(AfterWatch());
    return Took(WatcherStep::Outcome::kInterrupted);
  }
  switch (state_) {
    case WatcherState::kEmpty:
      return options_.watch_list && !watch_list_refused_ ? StartStreamingList() : List();
    case WatcherState::kListed:
      return OpenWatch();
    case WatcherState::kSyncing:
    case WatcherState::kWatching:
      return Read();
  }
  return Fail(absl::InternalError("watcher in an unknown state"));
}

template <typename T>
void Watcher<T>::Run(Wakeup* stop) {
  while (!stop->HasBeenNotified()) {
    WatcherStep step = Step();
    if (step.outcome == WatcherStep::Outcome::kInterrupted) {
      break;
    }
    if (step.outcome == WatcherStep::Outcome::kError && !clock_.SleepFor(step.retry_after, stop)) {
      break;  // woken by stop
    }
  }
  CloseWatch(AfterWatch());
}

template <typename T>
void Watcher<T>::Interrupt() {
  interrupted_.store(true, std::memory_order_release);
  absl::MutexLock lock(&stream_mu_);
  if (stream_ != nullptr) {
    stream_->Cancel();
  }
}

template <typename T>
WatcherStep Watcher<T>::List() {
  absl::StatusOr<Listed> listed = codec_->List(client_, type_, options_);
  if (!listed.ok()) {
    return Fail(listed.status());
  }
  state_ = WatcherState::kListed;
  resource_version_ = std::move(listed->resource_version);
  if (metrics_ != nullptr) {
    metrics_->relists->Increment();
  }
  sink_(Event::Restarted(std::move(listed->items)));
  return Took(WatcherStep::Outcome::kListed);
}

template <typename T>
kube::WatchOptions Watcher<T>::WatchFrom(std::string resource_version) {
  kube::WatchOptions watch;
  watch.resource_version = std::move(resource_version);
  watch.protobuf = codec_->protobuf();
  watch.timeout_seconds = NextTimeoutSeconds();
  watch.allow_watch_bookmarks = true;
  watch.label_selector = options_.label_selector;
  watch.field_selector = options_.field_selector;
  return watch;
}

template <typename T>
WatcherStep Watcher<T>::StartStreamingList() {
  // "": the latest state, read from etcd's quorum, then streamed.
  kube::WatchOptions watch = WatchFrom("");
  watch.send_initial_events = true;
  absl::StatusOr<std::unique_ptr<kube::LineStream>> lines =
      client_.WatchLines(type_, options_.namespace_name, watch);
  if (!lines.ok()) {
    // The WatchList feature gate off: 422 Invalid ("sendInitialEvents is forbidden for watch
    // unless the WatchList feature gate is enabled"); servers before 1.27 reject the parameters.
    if (kube::IsInvalidRequest(lines.status())) {
      watch_list_refused_ = true;
      return List();
    }
    return kube::IsGone(lines.status()) ? Relist(lines.status()) : Fail(lines.status());
  }
  sink_(Event::SyncStarted());
  AdoptStream(*std::move(lines), WatcherState::kSyncing);
  return Took(WatcherStep::Outcome::kWatchStarted);
}

template <typename T>
void Watcher<T>::AdoptStream(std::unique_ptr<kube::LineStream> lines, WatcherState next) {
  {
    absl::MutexLock lock(&stream_mu_);
    stream_ = std::move(lines);
    reading_ = stream_.get();
    // Interrupt() may have run between the request and here, with no stream to cancel.
    if (interrupted()) {
      stream_->Cancel();
    }
  }
  state_ = next;
}

template <typename T>
WatcherStep Watcher<T>::OpenWatch() {
  kube::WatchOptions watch = WatchFrom(resource_version_);
  absl::StatusOr<std::unique_ptr<kube::LineStream>> lines =
      client_.WatchLines(type_, options_.namespace_name, watch);
  if (!lines.ok()) {
    if (kube::IsGone(lines.status())) {
      return Relist(lines.status());
    }
    return Fail(lines.status());
  }
  AdoptStream(*std::move(lines), WatcherState::kWatching);
  return Took(WatcherStep::Outcome::kWatchStarted);
}

template <typename T>
WatcherStep Watcher<T>::Read() {
  while (true) {
    absl::StatusOr<std::optional<std::string>> line = reading_->Next();
    if (!line.ok()) {
      CloseWatch(AfterWatch());
      if (interrupted()) {
        return Took(WatcherStep::Outcome::kInterrupted);
      }
      if (kube::IsGone(line.status())) {
        return Relist(line.status());
      }
      return Fail(line.status());  // a broken stream: watch again from the last version
    }
    if (!line->has_value()) {
      CloseWatch(AfterWatch());
      return Took(WatcherStep::Outcome::kWatchEnded);
    }
    if (IsBlank(**line)) {
      continue;
    }
    absl::StatusOr<Decoded> decoded = codec_->Decode(**line);
    if (!decoded.ok()) {
      if (kube::IsGone(decoded.status())) {
        CloseWatch(AfterWatch());
        return Relist(decoded.status());
      }
      if (kube::KubeStatusOf(decoded.status()).has_value()) {
        // Any other ERROR event: the server ends the watch after it.
        CloseWatch(AfterWatch());
      }
      // Otherwise a line we cannot read: report it and keep watching.
      return Fail(decoded.status());
    }
    if (metrics_ != nullptr) {
      metrics_->CountEvent(decoded->type);
    }
    if (state_ == WatcherState::kSyncing) {
      return ReadInitial(*std::move(decoded));
    }
    if (!decoded->resource_version.empty()) {
      resource_version_ = std::move(decoded->resource_version);
    }
    switch (decoded->type) {
      case kube::WatchEvent::Type::kBookmark:
        return Took(WatcherStep::Outcome::kBookmark);
      case kube::WatchEvent::Type::kDeleted:
        sink_(Event::Deleted(std::move(decoded->object)));
        return Took(WatcherStep::Outcome::kEvent);
      case kube::WatchEvent::Type::kAdded:
      case kube::WatchEvent::Type::kModified:
        sink_(Event::Applied(std::move(decoded->object)));
        return Took(WatcherStep::Outcome::kEvent);
      case kube::WatchEvent::Type::kError:
        break;  // decoders return ERROR events as errors
    }
    return Fail(absl::InternalError("watch: unexpected event type"));
  }
}

template <typename T>
WatcherStep Watcher<T>::ReadInitial(Decoded decoded) {
  switch (decoded.type) {
    case kube::WatchEvent::Type::kAdded:
    case kube::WatchEvent::Type::kModified:
      sink_(Event::SyncObject(std::move(decoded.object)));
      return Took(WatcherStep::Outcome::kInitialEvent);
    case kube::WatchEvent::Type::kBookmark:
      if (!decoded.initial_events_end) {
        return Took(WatcherStep::Outcome::kBookmark);  // progress only; the list goes on
      }
      if (decoded.resource_version.empty()) {
        CloseWatch(WatcherState::kEmpty);
        return Fail(absl::InvalidArgumentError(
            "streaming list: the initial-events-end bookmark has no resourceVersion"));
      }
      resource_version_ = std::move(decoded.resource_version);
      state_ = WatcherState::kWatching;
      if (metrics_ != nullptr) {
        metrics_->relists->Increment();
      }
      sink_(Event::Restarted({}));
      return Took(WatcherStep::Outcome::kListed);
    case kube::WatchEvent::Type::kDeleted:
    case kube::WatchEvent::Type::kError:
      break;
  }
  // The initial state is a snapshot: only ADDED until the bookmark. Anything else means the
  // stream cannot be trusted; start over.
  CloseWatch(WatcherState::kEmpty);
  return Fail(absl::InternalError(absl::StrCat("streaming list: unexpected ",
                                               std::string(kube::WatchEventTypeName(decoded.type)),
                                               " before the initial-events-end bookmark")));
}

template <typename T>
WatcherStep Watcher<T>::Fail(absl::Status error) {
  if (metrics_ != nullptr) {
    metrics_->errors->Increment();
  }
  if (options_.on_error) {
    options_.on_error(error);
  }
  absl::Duration delay = backoff_.NextDelay(clock_.MonotonicNow());
  // A 429 or 503 may say how long to stay away.
  if (std::optional<absl::Duration> asked = kube::RetryAfter(error); asked && *asked > delay) {
    delay = *asked;
  }
  return Took(WatcherStep::Outcome::kError, std::move(error), delay);
}

template <typename T>
WatcherStep Watcher<T>::Relist(absl::Status error) {
  CloseWatch(WatcherState::kEmpty);
  resource_version_.clear();
  return Took(WatcherStep::Outcome::kGone, std::move(error));
}

template <typename T>
void Watcher<T>::CloseWatch(WatcherState next) {
  std::unique_ptr<kube::LineStream> closing;
  {
    absl::MutexLock lock(&stream_mu_);
    closing = std::move(stream_);
    reading_ = nullptr;
  }
  if (closing != nullptr) {
    closing->Cancel();
    if (metrics_ != nullptr && !interrupted()) {
      metrics_->watch_restarts->Increment();
    }
  }
  state_ = next;
}

template <typename T>
WatcherState Watcher<T>::AfterWatch() const {
  switch (state_) {
    case WatcherState::kSyncing:
      return WatcherState::kEmpty;
    case WatcherState::kWatching:
      return WatcherState::kListed;
    case WatcherState::kEmpty:
    case WatcherState::kListed:
      break;
  }
  return state_;
}

template <typename T>
int64_t Watcher<T>::NextTimeoutSeconds() {
  const double jitter = std::clamp(options_.watch_timeout_jitter, 0.0, 1.0);
  const double base = absl::ToDoubleSeconds(options_.watch_timeout);
  const int64_t hi = std::max<int64_t>(1, static_cast<int64_t>(std::floor(base)));
  const int64_t lo =
      std::clamp<int64_t>(static_cast<int64_t>(std::ceil(base * (1.0 - jitter))), 1, hi);
  if (lo == hi) {
    return hi;
  }
  const uint64_t span = static_cast<uint64_t>(hi - lo) + 1;
  return lo + static_cast<int64_t>(rng_() % span);
}

template class Watcher<json::Value>;
template class Watcher<kube::PodSummary>;

}  // namespace bursar::runtime
