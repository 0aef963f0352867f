#include "controllers/signals/pod_metrics.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"

namespace bursar::signals {
namespace {

absl::Status Malformed(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("PodMetricsList: ", values::AbslView(where), ": ", values::AbslView(what)));
}

std::string Got(const json::Value* v) {
  return v == nullptr ? "missing"
                      : absl::StrCat("expected a string, got ", json::TypeName(v->type()));
}

// The non-empty string at `key` of `object`, or an error naming `where`.
absl::StatusOr<std::string> RequiredString(const json::Value& object, std::string_view key,
                                           const std::string& where) {
  const json::Value* v = object.FindPath(key);
  if (v == nullptr || !v->is_string()) {
    return Malformed(where, Got(v));
  }
  if (v->string_value().empty()) {
    return Malformed(where, "empty");
  }
  return v->string_value();
}

absl::StatusOr<values::Quantity> RequiredQuantity(const json::Value& usage, std::string_view key,
                                                  const std::string& where) {
  const json::Value* v = usage.Find(key);
  // The API writes quantities as strings; a bare number is read leniently, as the API server does.
  if (v == nullptr || !(v->is_string() || v->is_number())) {
    return Malformed(where, Got(v));
  }
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(v->text());
  if (!q.ok()) {
    return Malformed(where, std::string(q.status().message()));
  }
  return *q;
}

absl::StatusOr<ContainerUsage> ParseContainer(const json::Value& c, const std::string& where) {
  if (!c.is_object()) {
    return Malformed(where, absl::StrCat("expected an object, got ", json::TypeName(c.type())));
  }
  ContainerUsage out;
  absl::StatusOr<std::string> name = RequiredString(c, "name", absl::StrCat(where, ".name"));
  if (!name.ok()) {
    return name.status();
  }
  out.name = std::move(*name);
  const json::Value* usage = c.Find("usage");
  if (usage == nullptr || !usage->is_object()) {
    return Malformed(absl::StrCat(where, ".usage"),
                     usage == nullptr
                         ? std::string("missing")
                         : absl::StrCat("expected an object, got ", json::TypeName(usage->type())));
  }
  absl::StatusOr<values::Quantity> cpu =
      RequiredQuantity(*usage, "cpu", absl::StrCat(where, ".usage.cpu"));
  if (!cpu.ok()) {
    return cpu.status();
  }
  absl::StatusOr<values::Quantity> memory =
      RequiredQuantity(*usage, "memory", absl::StrCat(where, ".usage.memory"));
  if (!memory.ok()) {
    return memory.status();
  }
  out.cpu = *cpu;
  out.memory = *memory;
  return out;
}

absl::StatusOr<PodUsage> ParseItem(const json::Value& item, const std::string& where) {
  if (!item.is_object()) {
    return Malformed(where, absl::StrCat("expected an object, got ", json::TypeName(item.type())));
  }
  PodUsage out;
  absl::StatusOr<std::string> ns =
      RequiredString(item, "metadata.namespace", absl::StrCat(where, ".metadata.namespace"));
  if (!ns.ok()) {
    return ns.status();
  }
  out.namespace_name = std::move(*ns);
  absl::StatusOr<std::string> name =
      RequiredString(item, "metadata.name", absl::StrCat(where, ".metadata.name"));
  if (!name.ok()) {
    return name.status();
  }
  out.name = std::move(*name);

  const std::string timestamp_where = absl::StrCat(where, ".timestamp");
  absl::StatusOr<std::string> timestamp = RequiredString(item, "timestamp", timestamp_where);
  if (!timestamp.ok()) {
    return timestamp.status();
  }
  absl::StatusOr<absl::Time> t = api::ParseTime(*timestamp);
  if (!t.ok()) {
    return Malformed(timestamp_where, std::string(t.status().message()));
  }
  out.timestamp = *t;

  const std::string window_where = absl::StrCat(where, ".window");
  absl::StatusOr<std::string> window = RequiredString(item, "window", window_where);
  if (!window.ok()) {
    return window.status();
  }
  absl::StatusOr<absl::Duration> d = values::ParseDuration(*window);
  if (!d.ok()) {
    return Malformed(window_where, std::string(d.status().message()));
  }
  out.window = *d;

  const json::Value* containers = item.Find("containers");
  if (containers != nullptr && !containers->is_null()) {
    if (!containers->is_array()) {
      return Malformed(absl::StrCat(where, ".containers"),
                       absl::StrCat("expected an array, got ", json::TypeName(containers->type())));
    }
    for (size_t i = 0; i < containers->elements().size(); ++i) {
      absl::StatusOr<ContainerUsage> c =
          ParseContainer(containers->elements()[i], absl::StrCat(where, ".containers[", i, "]"));
      if (!c.ok()) {
        return c.status();
      }
      out.containers.push_back(std::move(*c));
    }
  }
  return out;
}

}  // namespace

kube::HttpRequest BuildPodMetricsList() {
  kube::HttpRequest request;
  request.method = "GET";
  request.path = "/apis/metrics.k8s.io/v1beta1/pods";
  request.headers = {{"Accept", "application/json"}};
  return request;
}

absl::StatusOr<std::vector<PodUsage>> ParsePodMetricsList(std::string_view body) {
  absl::StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok()) {
    return Malformed("body", absl::StrCat("not JSON: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return Malformed("body", absl::StrCat("expected an object, got ", json::TypeName(doc->type())));
  }
  const json::Value* kind = doc->Find("kind");
  if (kind != nullptr && kind->is_string() && kind->string_value() != "PodMetricsList") {
    return Malformed(
        "kind", absl::StrCat("expected \"PodMetricsList\", got \"", kind->string_value(), "\""));
  }
  const json::Value* items = doc->Find("items");
  if (items == nullptr || items->is_null()) {
    return std::vector<PodUsage>();
  }
  if (!items->is_array()) {
    return Malformed("items",
                     absl::StrCat("expected an array, got ", json::TypeName(items->type())));
  }
  std::vector<PodUsage> out;
  out.reserve(items->elements().size());
  for (size_t i = 0; i < items->elements().size(); ++i) {
    absl::StatusOr<PodUsage> pod = ParseItem(items->elements()[i], absl::StrCat("items[", i, "]"));
    if (!pod.ok()) {
      return pod.status();
    }
    out.push_back(std::move(*pod));
  }
  return out;
}

absl::StatusOr<std::vector<PodUsage>> FetchPodMetrics(kube::Transport& transport,
                                                      absl::Duration timeout) {
  absl::StatusOr<kube::HttpResponse> got = transport.Send(BuildPodMetricsList(), timeout);
  if (!got.ok()) {
    return got.status();
  }
  if (got->status / 100 != 2) {
    return absl::UnavailableError(
        absl::StrCat("metrics.k8s.io answered HTTP ", got->status, ": ", got->body.substr(0, 200)));
  }
  return ParsePodMetricsList(got->body);
}

}  // namespace bursar::signals
