#include "operator/kube/pod_proto_decoder.h"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/quantity.h"
#include "controllers/values/resources.h"
#include "controllers/values/strings.h"
#include "google/protobuf/arena.h"
#include "kube/core_v1_subset.pb.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/pod_summary_fields.h"
#include "operator/kube/watch_event_type.h"

namespace bursar::kube {
namespace {

constexpr std::string_view kMagic("k8s\0", 4);

using values::AbslView;
using watch_internal::NotAnEvent;
using watch_internal::ParseEventType;

absl::Status WireError(std::string_view where, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("pod (protobuf): ", AbslView(where), ": ", AbslView(why)));
}

absl::Time TimeOf(const wire::Time& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The raw object inside "k8s\0" + Unknown; a view into `unknown`'s storage.
absl::StatusOr<std::string_view> Unwrap(std::string_view body, wire::Unknown& unknown,
                                        std::string_view where) {
  if (body.substr(0, kMagic.size()) != kMagic) {
    return WireError(where, "missing the \"k8s\\0\" prefix of a protobuf object");
  }
  body.remove_prefix(kMagic.size());
  if (!unknown.ParseFromArray(body.data(), static_cast<int>(body.size()))) {
    return WireError(where, "not a runtime.Unknown message");
  }
  if (!unknown.content_encoding().empty()) {
    return WireError(
        where, absl::StrCat("unsupported contentEncoding \"", unknown.content_encoding(), "\""));
  }
  return std::string_view(unknown.raw());
}

}  // namespace

struct PodProtoDecoder::Impl {
  std::vector<InternedString> label_keys;
  bool keep_all_labels = false;
  absl::flat_hash_map<std::string, InternedString> interned;  // a lock-free front for the pool
  // Every message of one call lives on an arena that starts in this block and is dropped whole
  // at the end of the call: the parser's many small allocations (strings, the unknown fields it
  // keeps) stay out of malloc, between the long-lived pod summaries. (Measured: the RSS after a
  // 10,000-pod sync moved by 1-2 MiB, within run-to-run noise; docs/benchmarks.md.)
  std::vector<char> block = std::vector<char>(kArenaBlockBytes);

  // Most pods fit in the first block; larger ones (and list pages) get blocks of their own.
  static constexpr size_t kArenaBlockBytes = 256 << 10;
  google::protobuf::ArenaOptions ArenaOptions() {
    google::protobuf::ArenaOptions options;
    options.initial_block = block.data();
    options.initial_block_size = block.size();
    options.max_block_size = 4 << 20;
    return options;
  }

  InternedString Intern(const std::string& s) {
    auto it = interned.find(s);
    if (it == interned.end()) {
      it = interned.emplace(s, InternedString(s)).first;
    }
    return it->second;
  }

  bool KeepLabel(const std::string& key, InternedString& interned_key) {
    if (keep_all_labels) {
      interned_key = Intern(key);
      return true;
    }
    for (const InternedString& wanted : label_keys) {
      if (wanted == std::string_view(key)) {
        interned_key = wanted;
        return true;
      }
    }
    return false;
  }

  absl::Status Quantity(const wire::Quantity& q, std::string_view where,
                        std::optional<values::Quantity>& out) {
    absl::StatusOr<values::Quantity> parsed = values::Quantity::Parse(q.string());
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("pod: ", AbslView(where), ": ", parsed.status().message()));
    }
    out = *parsed;
    return absl::OkStatus();
  }

  absl::Status Container(const wire::Container& c, PodSummary& out) {
    ContainerSummary container;
    container.name = Intern(c.name());
    pod_fields::ResourcePair cpu, memory, gpu;
    auto pair_of = [&](const std::string& resource) -> pod_fields::ResourcePair* {
      return resource == "cpu"                  ? &cpu
             : resource == "memory"             ? &memory
             : resource == values::kGpuResource ? &gpu
                                                : nullptr;
    };
    for (const auto& [resource, q] : c.resources().requests()) {
      if (pod_fields::ResourcePair* pair = pair_of(resource); pair != nullptr) {
        if (absl::Status s = Quantity(q, "spec.containers[].resources.requests", pair->request);
            !s.ok()) {
          return s;
        }
      }
    }
    for (const auto& [resource, q] : c.resources().limits()) {
      if (pod_fields::ResourcePair* pair = pair_of(resource); pair != nullptr) {
        if (absl::Status s = Quantity(q, "spec.containers[].resources.limits", pair->limit);
            !s.ok()) {
          return s;
        }
      }
    }
    pod_fields::SetRequests(cpu, memory, gpu, container);
    out.containers.push_back(container);
    return absl::OkStatus();
  }

  // `initial_events_end`: set when the annotation k8s.io/initial-events-end is "true".
  absl::Status Summarize(const wire::Pod& in, PodSummary& out, bool& initial_events_end) {
    const wire::ObjectMeta& meta = in.metadata();
    out.uid = meta.uid();
    out.namespace_name = Intern(meta.namespace_());
    out.name = meta.name();
    out.resource_version = meta.resource_version();
    if (meta.has_deletion_timestamp()) {
      out.deletion_timestamp = TimeOf(meta.deletion_timestamp());
    }
    for (const auto& [key, value] : meta.labels()) {
      if (InternedString interned_key; KeepLabel(key, interned_key)) {
        out.labels.emplace_back(interned_key, value);
      }
    }
    // The server writes labels sorted by key (in JSON too); a protobuf map has no order.
    std::sort(out.labels.begin(), out.labels.end(),
              [](const auto& a, const auto& b) { return a.first.view() < b.first.view(); });
    auto end = meta.annotations().find(std::string(kInitialEventsEndAnnotation));
    initial_events_end = end != meta.annotations().end() && end->second == "true";
    for (const wire::OwnerReference& ref : meta.owner_references()) {
      if (ref.controller()) {
        out.owner_kind = Intern(ref.kind());
        out.owner_name = ref.name();
      }
    }
    out.node_name = in.spec().node_name();
    out.priority = in.spec().priority();
    if (in.spec().has_termination_grace_period_seconds()) {
      out.termination_grace_seconds =
          pod_fields::ClampGrace(in.spec().termination_grace_period_seconds());
    }
    for (const wire::Container& c : in.spec().containers()) {
      if (absl::Status s = Container(c, out); !s.ok()) {
        return s;
      }
    }
    out.phase = pod_fields::ParsePodPhase(in.status().phase());
    if (in.status().has_start_time()) {
      out.start_time = TimeOf(in.status().start_time());
    }
    for (const wire::ContainerStatus& cs : in.status().container_statuses()) {
      if (!cs.state().terminated().has_finished_at()) {
        continue;
      }
      const absl::Time at = TimeOf(cs.state().terminated().finished_at());
      for (ContainerSummary& c : out.containers) {
        if (c.name == std::string_view(cs.name())) {
          c.finished_at = at;
        }
      }
    }
    out.labels.shrink_to_fit();
    out.containers.shrink_to_fit();
    return absl::OkStatus();
  }

  // One Pod object ("k8s\0" + Unknown{Pod}) into `out`.
  absl::Status DecodePodObject(google::protobuf::Arena& arena, std::string_view body,
                               PodSummary& out, bool& initial_events_end) {
    auto* inner = google::protobuf::Arena::CreateMessage<wire::Unknown>(&arena);
    absl::StatusOr<std::string_view> raw = Unwrap(body, *inner, "object");
    if (!raw.ok()) {
      return raw.status();
    }
    if (inner->type_meta().kind() != "Pod") {
      return WireError("object",
                       absl::StrCat("kind \"", inner->type_meta().kind(), "\" is not Pod"));
    }
    auto* pod = google::protobuf::Arena::CreateMessage<wire::Pod>(&arena);
    if (!pod->ParseFromArray(raw->data(), static_cast<int>(raw->size()))) {
      return WireError("object", "not a Pod message");
    }
    return Summarize(*pod, out, initial_events_end);
  }
};

PodProtoDecoder::PodProtoDecoder(std::vector<std::string> label_keys)
    : impl_(std::make_unique<Impl>()) {
  for (const std::string& key : label_keys) {
    if (key == PodSummaryDecoder::kAllLabels) {
      impl_->keep_all_labels = true;
      continue;
    }
    impl_->label_keys.push_back(impl_->Intern(key));
  }
}

PodProtoDecoder::~PodProtoDecoder() = default;

absl::StatusOr<PodSummary> PodProtoDecoder::DecodePod(std::string_view body) {
  google::protobuf::Arena arena(impl_->ArenaOptions());
  PodSummary pod;
  bool ignored = false;
  if (absl::Status s = impl_->DecodePodObject(arena, body, pod, ignored); !s.ok()) {
    return s;
  }
  return pod;
}

absl::StatusOr<PodListPage> PodProtoDecoder::DecodePodList(std::string_view body) {
  google::protobuf::Arena arena(impl_->ArenaOptions());
  auto* unknown = google::protobuf::Arena::CreateMessage<wire::Unknown>(&arena);
  absl::StatusOr<std::string_view> raw = Unwrap(body, *unknown, "list");
  if (!raw.ok()) {
    return raw.status();
  }
  if (unknown->type_meta().kind() != "PodList") {
    return WireError("list",
                     absl::StrCat("kind \"", unknown->type_meta().kind(), "\" is not PodList"));
  }
  auto* list = google::protobuf::Arena::CreateMessage<wire::PodList>(&arena);
  if (!list->ParseFromArray(raw->data(), static_cast<int>(raw->size()))) {
    return WireError("list", "not a PodList message");
  }
  PodListPage page;
  page.resource_version = list->metadata().resource_version();
  page.continue_token = list->metadata().continue_();
  page.items.reserve(static_cast<size_t>(list->items_size()));
  for (const wire::Pod& item : list->items()) {
    PodSummary pod;
    bool ignored = false;
    if (absl::Status s = impl_->Summarize(item, pod, ignored); !s.ok()) {
      return s;
    }
    page.items.push_back(std::move(pod));
  }
  return page;
}

absl::StatusOr<PodWatchEvent> PodProtoDecoder::DecodeWatchFrame(std::string_view frame) {
  google::protobuf::Arena arena(impl_->ArenaOptions());
  auto* event = google::protobuf::Arena::CreateMessage<wire::WatchEvent>(&arena);
  if (!event->ParseFromArray(frame.data(), static_cast<int>(frame.size()))) {
    return NotAnEvent("not a protobuf WatchEvent");
  }
  std::optional<WatchEvent::Type> type = ParseEventType(event->type());
  if (!type.has_value()) {
    return NotAnEvent(absl::StrCat("unknown or missing type \"", event->type(), "\""));
  }
  if (!event->has_object()) {
    return NotAnEvent("\"object\" is missing");
  }
  const std::string& object = event->object().raw();
  if (*type == WatchEvent::Type::kError) {
    auto* inner = google::protobuf::Arena::CreateMessage<wire::Unknown>(&arena);
    auto* status = google::protobuf::Arena::CreateMessage<wire::Status>(&arena);
    absl::StatusOr<std::string_view> raw = Unwrap(object, *inner, "ERROR event");
    if (!raw.ok() || !status->ParseFromArray(raw->data(), static_cast<int>(raw->size()))) {
      return NotAnEvent("an ERROR event without a Status");
    }
    KubeStatus kube_status;
    kube_status.code = status->code();
    kube_status.status = status->status();
    kube_status.reason = status->reason();
    kube_status.message = status->message();
    return ErrorFromKubeStatus(kube_status);
  }
  PodWatchEvent decoded;
  decoded.type = *type;
  if (absl::Status s =
          impl_->DecodePodObject(arena, object, decoded.pod, decoded.initial_events_end);
      !s.ok()) {
    return s;
  }
  return decoded;
}

}  // namespace bursar::kube
