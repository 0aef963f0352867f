#include "operator/kube/watch_decoder.h"

// The Pod hot path of watch_decoder.h: Pod JSON straight to PodSummary with simdjson's On-Demand
// parser. simdjson is used directly here, and only here outside operator/json: see the header.
#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/civil_time.h"
#include "controllers/values/quantity.h"
#include "controllers/values/resources.h"
#include "controllers/values/strings.h"
#include "operator/kube/pod_summary_fields.h"
#include "operator/kube/watch_event_type.h"

namespace bursar::kube {
namespace {

namespace ondemand = simdjson::ondemand;

using values::kGpuResource;

using pod_fields::ResourcePair;
using values::AbslView;
using watch_internal::NotAnEvent;
using watch_internal::ParseEventType;

// ---- Field readers for the On-Demand decoder. Each names where it failed. ----

absl::Status JsonError(simdjson::error_code e, std::string_view where) {
  return absl::InvalidArgumentError(
      absl::StrCat("pod: ", AbslView(where), ": ", simdjson::error_message(e)));
}

// A string value; nullopt for null.
absl::Status ReadString(ondemand::value v, std::string_view where,
                        std::optional<std::string_view>& out) {
  ondemand::json_type type;
  if (auto e = v.type().get(type); e) {
    return JsonError(e, where);
  }
  out.reset();
  if (type == ondemand::json_type::null) {
    return absl::OkStatus();
  }
  std::string_view s;
  if (auto e = v.get_string().get(s); e) {
    return JsonError(e, where);
  }
  out = s;
  return absl::OkStatus();
}

absl::Status ReadString(ondemand::value v, std::string_view where, std::string& out) {
  std::optional<std::string_view> s;
  absl::Status status = ReadString(v, where, s);
  if (status.ok()) {
    // A fresh string is allocated to its exact size; assign() would round capacity up.
    out = s.has_value() ? std::string(*s) : std::string();
  }
  return status;
}

// "2006-01-02T15:04:05Z", the form the API server writes, without going through the
// general (and slower) time-format parser.
bool ParseCanonicalTime(std::string_view s, absl::Time& out) {
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  auto number = [&s](size_t pos, size_t len, int& value) {
    value = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') {
        return false;
      }
      value = value * 10 + (s[i] - '0');
    }
    return true;
  };
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(0, 4, year) || !number(5, 2, month) || !number(8, 2, day) || !number(11, 2, hour) ||
      !number(14, 2, minute) || !number(17, 2, second)) {
    return false;
  }
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day || civil.hour() != hour ||
      civil.minute() != minute || civil.second() != second) {
    return false;  // out of range: CivilSecond normalized it
  }
  out = absl::FromCivil(civil, absl::UTCTimeZone());
  return true;
}

absl::Status ReadTime(ondemand::value v, std::string_view where, std::optional<absl::Time>& out) {
  std::optional<std::string_view> s;
  if (absl::Status status = ReadString(v, where, s); !status.ok()) {
    return status;
  }
  out.reset();
  if (!s.has_value()) {
    return absl::OkStatus();
  }
  absl::Time t;
  if (!ParseCanonicalTime(*s, t)) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, AbslView(*s), &t, &error)) {
      return absl::InvalidArgumentError(absl::StrCat("pod: ", AbslView(where), ": \"", AbslView(*s),
                                                     "\" is not a time: ", error));
    }
  }
  out = t;
  return absl::OkStatus();
}

// A quantity, as a string ("500m") or, leniently, a bare number.
absl::Status ReadQuantity(ondemand::value v, std::string_view where,
                          std::optional<values::Quantity>& out) {
  ondemand::json_type type;
  if (auto e = v.type().get(type); e) {
    return JsonError(e, where);
  }
  out.reset();
  std::string_view text;
  if (type == ondemand::json_type::null) {
    return absl::OkStatus();
  }
  if (type == ondemand::json_type::number) {
    text = v.raw_json_token();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\r' ||
                             text.back() == '\t')) {
      text.remove_suffix(1);
    }
  } else if (auto e = v.get_string().get(text); e) {
    return JsonError(e, where);
  }
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  if (!q.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pod: ", AbslView(where), ": ", q.status().message()));
  }
  out = *q;
  return absl::OkStatus();
}

// Iterates an object's fields, calling fn(key, value) -> absl::Status.
template <typename Fn>
absl::Status ForEachField(ondemand::value v, std::string_view where, Fn fn) {
  ondemand::object object;
  if (auto e = v.get_object().get(object); e) {
    return JsonError(e, where);
  }
  for (auto field_or : object) {
    ondemand::field field;
    if (auto e = std::move(field_or).get(field); e) {
      return JsonError(e, where);
    }
    std::string_view key;
    if (auto e = field.unescaped_key().get(key); e) {
      return JsonError(e, where);
    }
    if (absl::Status s = fn(key, field.value()); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Iterates an array's elements, calling fn(value) -> absl::Status. null is an empty array.
template <typename Fn>
absl::Status ForEachElement(ondemand::value v, std::string_view where, Fn fn) {
  ondemand::json_type type;
  if (auto e = v.type().get(type); e) {
    return JsonError(e, where);
  }
  if (type == ondemand::json_type::null) {
    return absl::OkStatus();
  }
  ondemand::array array;
  if (auto e = v.get_array().get(array); e) {
    return JsonError(e, where);
  }
  for (auto element_or : array) {
    ondemand::value element;
    if (auto e = std::move(element_or).get(element); e) {
      return JsonError(e, where);
    }
    if (absl::Status s = fn(element); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// PodSummaryDecoder.

struct PodSummaryDecoder::Impl {
  // What the decoder keeps between documents at most; a larger document (a list page) gets
  // buffers of its own size, given back before the next small one (or by ReleaseBuffers).
  static constexpr size_t kRetainedBufferBytes = 1 << 20;

  ondemand::parser parser;
  std::string padded;  // the input plus simdjson's padding

  size_t BufferBytes() const { return padded.capacity() + parser.capacity(); }
  void ReleaseBuffers() {
    std::string().swap(padded);  // assigning an empty string would keep the capacity
    ondemand::parser fresh;
    std::swap(parser, fresh);
  }
  std::vector<InternedString> label_keys;
  bool keep_all_labels = false;
  // A lock-free front for the process-wide pool.
  absl::flat_hash_map<std::string, InternedString> interned;

  InternedString Intern(std::string_view s) {
    auto it = interned.find(AbslView(s));
    if (it == interned.end()) {
      it = interned.emplace(std::string(s), InternedString(s)).first;
    }
    return it->second;
  }

  simdjson::error_code Iterate(std::string_view json, ondemand::document& doc) {
    if (json.size() < kRetainedBufferBytes && BufferBytes() > kRetainedBufferBytes) {
      ReleaseBuffers();  // a large list page came before: give its buffers back
    }
    padded.assign(json.data(), json.size());
    padded.append(simdjson::SIMDJSON_PADDING, '\0');
    return parser.iterate(padded.data(), json.size(), padded.size()).get(doc);
  }

  absl::Status DecodeMetadata(ondemand::value v, PodSummary& pod, bool& initial_events_end);
  absl::Status DecodeOwnerReference(ondemand::value v, PodSummary& pod);
  absl::Status DecodeSpec(ondemand::value v, PodSummary& pod);
  absl::Status DecodeContainer(ondemand::value v, PodSummary& pod);
  absl::Status DecodeStatus(ondemand::value v, PodSummary& pod,
                            std::vector<std::pair<InternedString, absl::Time>>& finished);
  absl::Status DecodePodObject(ondemand::value v, PodSummary& pod, bool& initial_events_end);
};

absl::Status PodSummaryDecoder::Impl::DecodeMetadata(ondemand::value v, PodSummary& pod,
                                                     bool& initial_events_end) {
  return ForEachField(v, "metadata", [&](std::string_view key, ondemand::value value) {
    if (key == "name") {
      return ReadString(value, "metadata.name", pod.name);
    }
    if (key == "namespace") {
      std::optional<std::string_view> ns;
      absl::Status s = ReadString(value, "metadata.namespace", ns);
      pod.namespace_name = Intern(ns.value_or(""));
      return s;
    }
    if (key == "uid") {
      return ReadString(value, "metadata.uid", pod.uid);
    }
    if (key == "resourceVersion") {
      return ReadString(value, "metadata.resourceVersion", pod.resource_version);
    }
    if (key == "deletionTimestamp") {
      return ReadTime(value, "metadata.deletionTimestamp", pod.deletion_timestamp);
    }
    if (key == "labels") {
      return ForEachField(value, "metadata.labels", [&](std::string_view k, ondemand::value lv) {
        if (keep_all_labels) {
          std::string label_value;
          absl::Status s = ReadString(lv, "metadata.labels", label_value);
          pod.labels.emplace_back(Intern(k), std::move(label_value));
          return s;
        }
        for (const InternedString& wanted : label_keys) {
          if (wanted == k) {
            std::string label_value;
            absl::Status s = ReadString(lv, "metadata.labels", label_value);
            pod.labels.emplace_back(wanted, std::move(label_value));
            return s;
          }
        }
        return absl::OkStatus();
      });
    }
    if (key == "annotations") {
      return ForEachField(value, "metadata.annotations",
                          [&](std::string_view k, ondemand::value av) {
                            if (k != kInitialEventsEndAnnotation) {
                              return absl::OkStatus();
                            }
                            std::optional<std::string_view> s;
                            absl::Status status = ReadString(av, "metadata.annotations", s);
                            initial_events_end = s == "true";
                            return status;
                          });
    }
    if (key == "ownerReferences") {
      return ForEachElement(value, "metadata.ownerReferences",
                            [&](ondemand::value ref) { return DecodeOwnerReference(ref, pod); });
    }
    return absl::OkStatus();
  });
}

absl::Status PodSummaryDecoder::Impl::DecodeOwnerReference(ondemand::value v, PodSummary& pod) {
  std::optional<std::string_view> kind;
  std::string name;
  bool controller = false;
  absl::Status status = ForEachField(
      v, "metadata.ownerReferences[]", [&](std::string_view key, ondemand::value value) {
        if (key == "kind") {
          return ReadString(value, "metadata.ownerReferences[].kind", kind);
        }
        if (key == "name") {
          return ReadString(value, "metadata.ownerReferences[].name", name);
        }
        if (key == "controller") {
          bool b = false;
          if (auto e = value.get_bool().get(b); e) {
            return JsonError(e, "metadata.ownerReferences[].controller");
          }
          controller = b;
        }
        return absl::OkStatus();
      });
  if (status.ok() && controller) {
    pod.owner_kind = Intern(kind.value_or(""));
    pod.owner_name = std::move(name);
  }
  return status;
}

absl::Status PodSummaryDecoder::Impl::DecodeContainer(ondemand::value v, PodSummary& pod) {
  ContainerSummary container;
  ResourcePair cpu, memory, gpu;
  absl::Status status =
      ForEachField(v, "spec.containers[]", [&](std::string_view key, ondemand::value value) {
        if (key == "name") {
          std::optional<std::string_view> name;
          absl::Status s = ReadString(value, "spec.containers[].name", name);
          container.name = Intern(name.value_or(""));
          return s;
        }
        if (key != "resources") {
          return absl::OkStatus();
        }
        return ForEachField(
            value, "spec.containers[].resources", [&](std::string_view kind, ondemand::value list) {
              const bool is_request = kind == "requests";
              if (!is_request && kind != "limits") {
                return absl::OkStatus();
              }
              ondemand::json_type type;
              if (auto e = list.type().get(type); e) {
                return JsonError(e, "spec.containers[].resources");
              }
              if (type == ondemand::json_type::null) {
                return absl::OkStatus();
              }
              return ForEachField(list, "spec.containers[].resources",
                                  [&](std::string_view resource, ondemand::value q) {
                                    ResourcePair* pair = resource == "cpu"          ? &cpu
                                                         : resource == "memory"     ? &memory
                                                         : resource == kGpuResource ? &gpu
                                                                                    : nullptr;
                                    if (pair == nullptr) {
                                      return absl::OkStatus();
                                    }
                                    return ReadQuantity(q,
                                                        is_request
                                                            ? "spec.containers[].resources.requests"
                                                            : "spec.containers[].resources.limits",
                                                        is_request ? pair->request : pair->limit);
                                  });
            });
      });
  if (!status.ok()) {
    return status;
  }
  pod_fields::SetRequests(cpu, memory, gpu, container);
  pod.containers.push_back(container);
  return absl::OkStatus();
}

absl::Status PodSummaryDecoder::Impl::DecodeSpec(ondemand::value v, PodSummary& pod) {
  return ForEachField(v, "spec", [&](std::string_view key, ondemand::value value) {
    if (key == "containers") {
      return ForEachElement(value, "spec.containers",
                            [&](ondemand::value c) { return DecodeContainer(c, pod); });
    }
    if (key == "nodeName") {
      return ReadString(value, "spec.nodeName", pod.node_name);
    }
    if (key == "priority") {
      int64_t priority = 0;
      if (auto e = value.get_int64().get(priority); e) {
        return JsonError(e, "spec.priority");
      }
      pod.priority = static_cast<int32_t>(std::clamp<int64_t>(
          priority, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max()));
    }
    if (key == "terminationGracePeriodSeconds") {
      int64_t grace = 0;
      if (auto e = value.get_int64().get(grace); e) {
        return JsonError(e, "spec.terminationGracePeriodSeconds");
      }
      pod.termination_grace_seconds = pod_fields::ClampGrace(grace);
    }
    return absl::OkStatus();
  });
}

absl::Status PodSummaryDecoder::Impl::DecodeStatus(
    ondemand::value v, PodSummary& pod,
    std::vector<std::pair<InternedString, absl::Time>>& finished) {
  return ForEachField(v, "status", [&](std::string_view key, ondemand::value value) {
    if (key == "phase") {
      std::optional<std::string_view> phase;
      absl::Status s = ReadString(value, "status.phase", phase);
      pod.phase = pod_fields::ParsePodPhase(phase.value_or(""));
      return s;
    }
    if (key == "startTime") {
      return ReadTime(value, "status.startTime", pod.start_time);
    }
    if (key != "containerStatuses") {
      return absl::OkStatus();
    }
    return ForEachElement(value, "status.containerStatuses", [&](ondemand::value cs) {
      InternedString name;
      std::optional<absl::Time> finished_at;
      absl::Status s = ForEachField(
          cs, "status.containerStatuses[]", [&](std::string_view k, ondemand::value cv) {
            if (k == "name") {
              std::optional<std::string_view> n;
              absl::Status ns = ReadString(cv, "status.containerStatuses[].name", n);
              name = Intern(n.value_or(""));
              return ns;
            }
            if (k != "state") {
              return absl::OkStatus();
            }
            return ForEachField(
                cv, "status.containerStatuses[].state",
                [&](std::string_view state, ondemand::value sv) {
                  if (state != "terminated") {
                    return absl::OkStatus();
                  }
                  return ForEachField(
                      sv, "status.containerStatuses[].state.terminated",
                      [&](std::string_view tk, ondemand::value tv) {
                        if (tk != "finishedAt") {
                          return absl::OkStatus();
                        }
                        return ReadTime(tv,
                                        "status.containerStatuses[].state.terminated.finishedAt",
                                        finished_at);
                      });
                });
          });
      if (s.ok() && finished_at.has_value()) {
        finished.emplace_back(name, *finished_at);
      }
      return s;
    });
  });
}

absl::Status PodSummaryDecoder::Impl::DecodePodObject(ondemand::value v, PodSummary& pod,
                                                      bool& initial_events_end) {
  // Statuses may come before the spec in hand-written JSON: join them at the end.
  std::vector<std::pair<InternedString, absl::Time>> finished;
  absl::Status status = ForEachField(v, "object", [&](std::string_view key, ondemand::value value) {
    if (key == "metadata") {
      return DecodeMetadata(value, pod, initial_events_end);
    }
    if (key == "spec") {
      return DecodeSpec(value, pod);
    }
    if (key == "status") {
      return DecodeStatus(value, pod, finished);
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  for (const auto& [name, at] : finished) {
    for (ContainerSummary& c : pod.containers) {
      if (c.name == name) {
        c.finished_at = at;
      }
    }
  }
  pod.labels.shrink_to_fit();
  pod.containers.shrink_to_fit();
  return absl::OkStatus();
}

PodSummaryDecoder::PodSummaryDecoder(std::vector<std::string> label_keys)
    : impl_(std::make_unique<Impl>()) {
  for (const std::string& key : label_keys) {
    if (key == kAllLabels) {
      impl_->keep_all_labels = true;
      continue;
    }
    impl_->label_keys.push_back(impl_->Intern(key));
  }
}

PodSummaryDecoder::~PodSummaryDecoder() = default;

size_t PodSummaryDecoder::BufferBytes() const {
  return impl_->BufferBytes();
}

void PodSummaryDecoder::ReleaseBuffers() {
  impl_->ReleaseBuffers();
}

absl::StatusOr<PodSummary> PodSummaryDecoder::DecodePod(std::string_view json) {
  ondemand::document doc;
  if (auto e = impl_->Iterate(json, doc); e) {
    return JsonError(e, "object");
  }
  ondemand::value root;
  if (auto e = doc.get_value().get(root); e) {
    return JsonError(e, "object");
  }
  PodSummary pod;
  bool initial_events_end = false;
  if (absl::Status s = impl_->DecodePodObject(root, pod, initial_events_end); !s.ok()) {
    return s;
  }
  return pod;
}

absl::StatusOr<PodWatchEvent> PodSummaryDecoder::DecodeWatchLine(std::string_view line) {
  PodWatchEvent event;
  std::optional<WatchEvent::Type> type;
  bool has_object = false;
  absl::Status status = [&]() -> absl::Status {
    ondemand::document doc;
    if (auto e = impl_->Iterate(line, doc); e) {
      return NotAnEvent(simdjson::error_message(e));
    }
    ondemand::value root;
    if (auto e = doc.get_value().get(root); e) {
      return NotAnEvent(simdjson::error_message(e));
    }
    absl::Status s = ForEachField(root, "event", [&](std::string_view key, ondemand::value v) {
      if (key == "type") {
        std::optional<std::string_view> t;
        absl::Status ts = ReadString(v, "type", t);
        type = t.has_value() ? ParseEventType(*t) : std::nullopt;
        if (ts.ok() && !type.has_value()) {
          return NotAnEvent("unknown or missing type");
        }
        return ts;
      }
      if (key == "object" && type != WatchEvent::Type::kError) {
        has_object = true;
        return impl_->DecodePodObject(v, event.pod, event.initial_events_end);
      }
      return absl::OkStatus();
    });
    return s;
  }();
  if (type == WatchEvent::Type::kError || (!status.ok() && !type.has_value())) {
    // ERROR events carry a Status, not a Pod; they are rare, so the tree decoder reads them
    // (also when "object" came before "type" and failed to decode as a Pod).
    absl::StatusOr<WatchEvent> generic = DecodeWatchEvent(line);
    if (generic.ok() && generic->type == WatchEvent::Type::kError) {
      return ErrorOf(*generic);
    }
  }
  if (!status.ok()) {
    return status;
  }
  if (!type.has_value()) {
    return NotAnEvent("\"type\" is missing");
  }
  if (!has_object) {
    return NotAnEvent("\"object\" is missing");
  }
  event.type = *type;
  return event;
}

absl::StatusOr<PodListPage> PodSummaryDecoder::DecodePodList(std::string_view json) {
  ondemand::document doc;
  if (auto e = impl_->Iterate(json, doc); e) {
    return JsonError(e, "list");
  }
  ondemand::value root;
  if (auto e = doc.get_value().get(root); e) {
    return JsonError(e, "list");
  }
  PodListPage page;
  absl::Status status = ForEachField(root, "list", [&](std::string_view key, ondemand::value v) {
    if (key == "metadata") {
      return ForEachField(v, "list.metadata", [&](std::string_view k, ondemand::value mv) {
        if (k == "resourceVersion") {
          return ReadString(mv, "list.metadata.resourceVersion", page.resource_version);
        }
        if (k == "continue") {
          return ReadString(mv, "list.metadata.continue", page.continue_token);
        }
        return absl::OkStatus();
      });
    }
    if (key == "items") {
      return ForEachElement(v, "list.items", [&](ondemand::value item) {
        PodSummary pod;
        bool ignored = false;
        absl::Status s = impl_->DecodePodObject(item, pod, ignored);
        page.items.push_back(std::move(pod));
        return s;
      });
    }
    return absl::OkStatus();
  });
  if (!status.ok()) {
    return status;
  }
  return page;
}

}  // namespace bursar::kube
