#include "operator/kube/requests.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::kube {
namespace {

constexpr std::string_view kJsonMediaType = "application/json";
constexpr std::string_view kHexDigits = "0123456789ABCDEF";

using values::AbslView;

bool IsUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986 pchar minus pct-encoded: unreserved, sub-delims, ':' and '@'.
bool IsPathChar(char c) {
  return IsUnreserved(c) || std::string_view("!$&'()*+,;=:@").find(c) != std::string_view::npos;
}

void AppendPercentEncoded(std::string& out, std::string_view s, bool (*keep)(char)) {
  for (char c : s) {
    if (keep(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHexDigits[byte >> 4]);
      out.push_back(kHexDigits[byte & 0xF]);
    }
  }
}

// Appends one path segment (a name, namespace or subresource), refusing the ones that would
// change the path's shape.
absl::Status AppendSegment(std::string& path, std::string_view what, std::string_view segment) {
  if (segment.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(AbslView(what), " is empty"));
  }
  if (segment == "." || segment == ".." || segment.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(what), " \"", AbslView(segment), "\" is not a valid path segment"));
  }
  path.push_back('/');
  AppendPercentEncoded(path, segment, IsPathChar);
  return absl::OkStatus();
}

// key=value pairs in the order added; empty values are left out.
class Query {
 public:
  void Add(std::string_view key, std::string_view value) {
    if (value.empty()) {
      return;
    }
    text_.push_back(text_.empty() ? '?' : '&');
    text_.append(key);
    text_.push_back('=');
    AppendPercentEncoded(text_, value, IsUnreserved);
  }
  void AddInt(std::string_view key, int64_t value) { Add(key, std::to_string(value)); }
  void AddBool(std::string_view key, bool value) { Add(key, value ? "true" : "false"); }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

std::string_view ResourceVersionMatchName(ResourceVersionMatch match) {
  switch (match) {
    case ResourceVersionMatch::kUnset:
      return "";
    case ResourceVersionMatch::kNotOlderThan:
      return "NotOlderThan";
    case ResourceVersionMatch::kExact:
      return "Exact";
  }
  return "";
}

std::string_view PropagationPolicyName(PropagationPolicy policy) {
  switch (policy) {
    case PropagationPolicy::kOrphan:
      return "Orphan";
    case PropagationPolicy::kBackground:
      return "Background";
    case PropagationPolicy::kForeground:
      return "Foreground";
  }
  return "";
}

const json::Value* Metadata(const json::Value& object) {
  return object.is_object() ? object.Find("metadata") : nullptr;
}

// metadata.<key> as a string; "" when absent or not a string.
std::string_view MetadataString(const json::Value& object, std::string_view key) {
  const json::Value* metadata = Metadata(object);
  const json::Value* v = metadata != nullptr ? metadata->Find(key) : nullptr;
  return v != nullptr && v->is_string() ? std::string_view(v->string_value()) : "";
}

HttpRequest MakeRequest(std::string method, std::string path, std::string_view content_type,
                        std::string body) {
  HttpRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.headers.emplace_back("Accept", kJsonMediaType);
  if (!content_type.empty()) {
    request.headers.emplace_back("Content-Type", content_type);
  }
  request.body = std::move(body);
  return request;
}

// With `protobuf`, the request accepts protobuf first (kProtobufAccept).
HttpRequest AcceptingProtobuf(HttpRequest request, bool protobuf) {
  if (protobuf) {
    for (auto& [name, value] : request.headers) {
      if (name == "Accept") {
        value = kProtobufAccept;
      }
    }
  }
  return request;
}

// A create or update must not name a namespace other than the request's (`verb` starts the
// message).
absl::Status CheckObjectNamespace(std::string_view verb, const json::Value& object,
                                  std::string_view request_ns) {
  std::string_view object_ns = MetadataString(object, "namespace");
  if (!object_ns.empty() && object_ns != request_ns) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(verb), ": metadata.namespace \"", AbslView(object_ns),
                     "\" does not match the request namespace \"", AbslView(request_ns), "\""));
  }
  return absl::OkStatus();
}

// The query every write sends: dryRun=All when asked, and the field manager when there is one.
Query WriteQuery(bool dry_run, std::string_view field_manager) {
  Query query;
  if (dry_run) {
    query.Add("dryRun", "All");
  }
  query.Add("fieldManager", field_manager);
  return query;
}

}  // namespace

std::string EncodeQueryValue(std::string_view value) {
  std::string out;
  AppendPercentEncoded(out, value, IsUnreserved);
  return out;
}

std::string_view PatchContentType(PatchType type) {
  switch (type) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategic:
      return "application/strategic-merge-patch+json";
    case PatchType::kApply:
      return "application/apply-patch+yaml";
  }
  return "";
}

RequestBuilder::RequestBuilder(const ResourceType& type, std::string_view ns)
    : type_(type), ns_(ns) {}

absl::StatusOr<std::string> RequestBuilder::CollectionPath(bool item) const {
  std::string path = type_.ApiPrefix();
  if (type_.namespaced) {
    if (item && ns_.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(AbslView(type_.plural), " are namespaced: a namespace is required"));
    }
    if (!ns_.empty()) {
      path.append("/namespaces");
      absl::Status s = AppendSegment(path, "namespace", ns_);
      if (!s.ok()) {
        return s;
      }
    }
  } else if (!ns_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        AbslView(type_.plural), " are cluster-scoped: namespace \"", ns_, "\" must be empty"));
  }
  path.push_back('/');
  path.append(type_.plural);
  return path;
}

absl::StatusOr<std::string> RequestBuilder::ItemPath(std::string_view name,
                                                     std::string_view subresource) const {
  absl::StatusOr<std::string> path = CollectionPath(/*item=*/true);
  if (!path.ok()) {
    return path.status();
  }
  absl::Status s = AppendSegment(*path, "name", name);
  if (s.ok() && !subresource.empty()) {
    s = AppendSegment(*path, "subresource", subresource);
  }
  if (!s.ok()) {
    return s;
  }
  return path;
}

absl::StatusOr<HttpRequest> RequestBuilder::Get(std::string_view name) const {
  return GetSubresource(name, "");
}

absl::StatusOr<HttpRequest> RequestBuilder::GetSubresource(std::string_view name,
                                                           std::string_view subresource) const {
  absl::StatusOr<std::string> path = ItemPath(name, subresource);
  if (!path.ok()) {
    return path.status();
  }
  return MakeRequest("GET", *std::move(path), "", "");
}

absl::StatusOr<HttpRequest> RequestBuilder::List(const ListOptions& options) const {
  if (options.limit < 0) {
    return absl::InvalidArgumentError("list: limit must not be negative");
  }
  if (!options.continue_token.empty() && !options.resource_version.empty()) {
    return absl::InvalidArgumentError(
        "list: resourceVersion cannot be combined with continue (the token pins the version)");
  }
  if (options.resource_version_match != ResourceVersionMatch::kUnset &&
      options.resource_version.empty()) {
    return absl::InvalidArgumentError("list: resourceVersionMatch requires a resourceVersion");
  }
  absl::StatusOr<std::string> path = CollectionPath(/*item=*/false);
  if (!path.ok()) {
    return path.status();
  }
  Query query;
  query.Add("labelSelector", options.label_selector);
  query.Add("fieldSelector", options.field_selector);
  if (options.limit > 0) {
    query.AddInt("limit", options.limit);
  }
  query.Add("continue", options.continue_token);
  query.Add("resourceVersion", options.resource_version);
  query.Add("resourceVersionMatch", ResourceVersionMatchName(options.resource_version_match));
  return AcceptingProtobuf(MakeRequest("GET", *path + query.text(), "", ""), options.protobuf);
}

absl::StatusOr<HttpRequest> RequestBuilder::Watch(const WatchOptions& options) const {
  if (options.timeout_seconds < 0) {
    return absl::InvalidArgumentError("watch: timeoutSeconds must not be negative");
  }
  if (options.send_initial_events.has_value() && !options.allow_watch_bookmarks) {
    return absl::InvalidArgumentError("watch: sendInitialEvents requires allowWatchBookmarks");
  }
  absl::StatusOr<std::string> path = CollectionPath(/*item=*/false);
  if (!path.ok()) {
    return path.status();
  }
  Query query;
  query.Add("watch", "true");
  query.Add("resourceVersion", options.resource_version);
  if (options.timeout_seconds > 0) {
    query.AddInt("timeoutSeconds", options.timeout_seconds);
  }
  if (options.allow_watch_bookmarks) {
    query.Add("allowWatchBookmarks", "true");
  }
  query.Add("labelSelector", options.label_selector);
  query.Add("fieldSelector", options.field_selector);
  if (options.send_initial_events.has_value()) {
    query.AddBool("sendInitialEvents", *options.send_initial_events);
    query.Add("resourceVersionMatch", "NotOlderThan");
  }
  return AcceptingProtobuf(MakeRequest("GET", *path + query.text(), "", ""), options.protobuf);
}

absl::StatusOr<HttpRequest> RequestBuilder::Create(const json::Value& object,
                                                   const WriteOptions& options) const {
  if (!object.is_object()) {
    return absl::InvalidArgumentError("create: the object must be a JSON object");
  }
  if (absl::Status ns = CheckObjectNamespace("create", object, ns_); !ns.ok()) {
    return ns;
  }
  absl::StatusOr<std::string> path = CollectionPath(/*item=*/type_.namespaced);
  if (!path.ok()) {
    return path.status();
  }
  Query query = WriteQuery(options.dry_run, options.field_manager);
  return MakeRequest("POST", *path + query.text(), kJsonMediaType, object.ToJson());
}

absl::StatusOr<HttpRequest> RequestBuilder::Update(const json::Value& object,
                                                   const WriteOptions& options) const {
  return Put("", object, options);
}

absl::StatusOr<HttpRequest> RequestBuilder::UpdateSubresource(std::string_view subresource,
                                                              const json::Value& object,
                                                              const WriteOptions& options) const {
  if (subresource.empty()) {
    return absl::InvalidArgumentError("update: subresource is empty");
  }
  return Put(subresource, object, options);
}

absl::StatusOr<HttpRequest> RequestBuilder::Put(std::string_view subresource,
                                                const json::Value& object,
                                                const WriteOptions& options) const {
  if (!object.is_object()) {
    return absl::InvalidArgumentError("update: the object must be a JSON object");
  }
  std::string_view name = MetadataString(object, "name");
  if (name.empty()) {
    return absl::InvalidArgumentError("update: metadata.name is required");
  }
  if (MetadataString(object, "resourceVersion").empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "update of \"", AbslView(name),
        "\": metadata.resourceVersion is required (an unconditional PUT overwrites concurrent "
        "writers; use a patch or server-side apply instead)"));
  }
  if (absl::Status ns = CheckObjectNamespace("update", object, ns_); !ns.ok()) {
    return ns;
  }
  absl::StatusOr<std::string> path = ItemPath(name, subresource);
  if (!path.ok()) {
    return path.status();
  }
  Query query = WriteQuery(options.dry_run, options.field_manager);
  return MakeRequest("PUT", *path + query.text(), kJsonMediaType, object.ToJson());
}

absl::StatusOr<HttpRequest> RequestBuilder::Patch(std::string_view name, PatchType type,
                                                  const json::Value& patch,
                                                  const PatchOptions& options) const {
  return PatchSubresource(name, "", type, patch, options);
}

absl::StatusOr<HttpRequest> RequestBuilder::PatchSubresource(std::string_view name,
                                                             std::string_view subresource,
                                                             PatchType type,
                                                             const json::Value& patch,
                                                             const PatchOptions& options) const {
  if (type == PatchType::kJson ? !patch.is_array() : !patch.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("patch of \"", AbslView(name), "\": a ", AbslView(PatchContentType(type)),
                     " patch must be a JSON ", type == PatchType::kJson ? "array" : "object"));
  }
  if (type == PatchType::kApply && options.field_manager.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("apply of \"", AbslView(name), "\": a field manager is required"));
  }
  if (type != PatchType::kApply && options.force) {
    return absl::InvalidArgumentError(
        absl::StrCat("patch of \"", AbslView(name), "\": force is only allowed for apply"));
  }
  absl::StatusOr<std::string> path = ItemPath(name, subresource);
  if (!path.ok()) {
    return path.status();
  }
  Query query = WriteQuery(options.dry_run, options.field_manager);
  if (options.force) {
    query.Add("force", "true");
  }
  return MakeRequest("PATCH", *path + query.text(), PatchContentType(type), patch.ToJson());
}

absl::StatusOr<HttpRequest> RequestBuilder::Apply(const json::Value& object,
                                                  std::string_view field_manager,
                                                  bool force) const {
  return ApplySubresource("", object, field_manager, force);
}

absl::StatusOr<HttpRequest> RequestBuilder::ApplySubresource(std::string_view subresource,
                                                             const json::Value& object,
                                                             std::string_view field_manager,
                                                             bool force) const {
  if (!object.is_object()) {
    return absl::InvalidArgumentError("apply: the object must be a JSON object");
  }
  std::string_view name = MetadataString(object, "name");
  if (name.empty()) {
    return absl::InvalidArgumentError("apply: metadata.name is required");
  }
  for (std::string_view key : {"apiVersion", "kind"}) {
    const json::Value* v = object.Find(key);
    if (v == nullptr || !v->is_string() || v->string_value().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("apply of \"", AbslView(name), "\": ", AbslView(key), " is required"));
    }
  }
  PatchOptions options;
  options.field_manager = std::string(field_manager);
  options.force = force;
  return PatchSubresource(name, subresource, PatchType::kApply, object, options);
}

absl::StatusOr<HttpRequest> RequestBuilder::Delete(std::string_view name,
                                                   const DeleteOptions& options) const {
  absl::StatusOr<std::string> path = ItemPath(name, "");
  if (!path.ok()) {
    return path.status();
  }
  if (options.grace_period_seconds.has_value() && *options.grace_period_seconds < 0) {
    return absl::InvalidArgumentError("delete: gracePeriodSeconds must not be negative");
  }
  const bool has_preconditions =
      !options.precondition_uid.empty() || !options.precondition_resource_version.empty();
  if (!has_preconditions && !options.propagation_policy.has_value() &&
      !options.grace_period_seconds.has_value() && !options.dry_run) {
    return MakeRequest("DELETE", *std::move(path), "", "");
  }
  json::Writer w;
  w.BeginObject().Key("kind").String("DeleteOptions").Key("apiVersion").String("meta.k8s.io/v1");
  if (options.grace_period_seconds.has_value()) {
    w.Key("gracePeriodSeconds").Int(*options.grace_period_seconds);
  }
  if (has_preconditions) {
    w.Key("preconditions").BeginObject();
    if (!options.precondition_uid.empty()) {
      w.Key("uid").String(options.precondition_uid);
    }
    if (!options.precondition_resource_version.empty()) {
      w.Key("resourceVersion").String(options.precondition_resource_version);
    }
    w.EndObject();
  }
  if (options.propagation_policy.has_value()) {
    w.Key("propagationPolicy").String(PropagationPolicyName(*options.propagation_policy));
  }
  if (options.dry_run) {
    w.Key("dryRun").BeginArray().String("All").EndArray();
  }
  w.EndObject();
  return MakeRequest("DELETE", *std::move(path), kJsonMediaType, w.Take());
}

HttpRequest DiscoveryRequest(std::string_view group, std::string_view version) {
  return MakeRequest("GET", ApiPrefix(group, version), "", "");
}

}  // namespace bursar::kube
