#pragma once

// Pure builders of Kubernetes API requests, as kube-rs's `Request`: each returns the exact
// HttpRequest (method, path with its encoded query, headers, body) and sends nothing, so tests
// compare strings and any transport can send the result.
//
// The builders reject what the API server would reject anyway, with a message that names the
// mistake: a namespaced item without a namespace, a namespace on a cluster-scoped type, an
// Update without metadata.resourceVersion, `continue` together with resourceVersion, `force`
// outside server-side apply. Query values are percent-encoded (RFC 3986 unreserved characters
// stay, everything else, space included, becomes %XX), so label selectors such as
// `tier in (a, b),!canary` survive.
//
// Pitfall: Update (PUT) requires the object's metadata.resourceVersion: an unconditional PUT
// silently overwrites a concurrent writer. Use Patch or server-side apply to write without it.
// Thread-compatible; a RequestBuilder is a small value.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "operator/json/json.h"
#include "operator/kube/resource.h"
#include "operator/kube/transport.h"

namespace bursar::kube {

enum class ResourceVersionMatch { kUnset, kNotOlderThan, kExact };

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;  // page size; 0 asks for everything at once
  std::string continue_token;
  // "" reads the latest state (a quorum read); "0" accepts any state (served from the cache).
  std::string resource_version;
  ResourceVersionMatch resource_version_match = ResourceVersionMatch::kUnset;
  // Accept protobuf first, JSON second (kProtobufAccept): built-in kinds answer in protobuf,
  // CRDs in JSON. The body says which it is (protobuf starts with "k8s\0").
  bool protobuf = false;
};

struct WatchOptions {
  // Events after this version. "" starts at the latest state and "0" at any state; both begin
  // with synthetic ADDED events for every existing object.
  std::string resource_version;
  // The server ends the watch after this long (a clean end: watch again from the last
  // version). 0 leaves it to the server. 290 s stays under common 300 s proxy timeouts.
  int64_t timeout_seconds = 290;
  bool allow_watch_bookmarks = true;
  std::string label_selector;
  std::string field_selector;
  // Watch-list (streaming the initial state, then a BOOKMARK marked as its end). When set,
  // resourceVersionMatch=NotOlderThan is added as the server requires, and bookmarks must be on.
  std::optional<bool> send_initial_events;
  // As ListOptions::protobuf. A protobuf watch answers with length-prefixed frames
  // (Content-Type application/vnd.kubernetes.protobuf;stream=watch), which the transport
  // hands out one frame per LineStream::Next().
  bool protobuf = false;
};

// The Accept header of a request with `protobuf` set.
inline constexpr char kProtobufAccept[] = "application/vnd.kubernetes.protobuf, application/json";

// Options of Create and Update.
struct WriteOptions {
  std::string field_manager;  // optional for create/update; the server derives one otherwise
  bool dry_run = false;       // dryRun=All: validated and admitted, not persisted
};

enum class PatchType {
  kMerge,      // application/merge-patch+json (RFC 7386)
  kJson,       // application/json-patch+json (RFC 6902): the patch is an array of operations
  kStrategic,  // application/strategic-merge-patch+json: built-in types only, not CRDs
  kApply,      // application/apply-patch+yaml: server-side apply; needs a field manager
};

// The Content-Type of a patch type.
std::string_view PatchContentType(PatchType type);

struct PatchOptions {
  std::string field_manager;  // required for kApply
  bool force = false;         // kApply only: take ownership of conflicting fields
  bool dry_run = false;
};

enum class PropagationPolicy { kOrphan, kBackground, kForeground };

// Sent as a JSON DeleteOptions body; an all-default DeleteOptions sends no body.
struct DeleteOptions {
  // Preconditions: the delete fails with 409 Conflict unless the object still has them.
  std::string precondition_uid;
  std::string precondition_resource_version;
  std::optional<PropagationPolicy> propagation_policy;
  std::optional<int64_t> grace_period_seconds;
  bool dry_run = false;
};

// Builds requests for one resource type in one namespace. `ns` must be empty for
// cluster-scoped types; for namespaced types it is required by item requests (Get, Update,
// ...) and optional for List and Watch, where "" means all namespaces.
class RequestBuilder {
 public:
  explicit RequestBuilder(const ResourceType& type, std::string_view ns = "");

  absl::StatusOr<HttpRequest> Get(std::string_view name) const;
  absl::StatusOr<HttpRequest> List(const ListOptions& options = {}) const;
  absl::StatusOr<HttpRequest> Watch(const WatchOptions& options = {}) const;
  // POST to the collection; the object's metadata.namespace, if set, must match `ns`.
  absl::StatusOr<HttpRequest> Create(const json::Value& object,
                                     const WriteOptions& options = {}) const;
  // PUT of the whole object, named by its metadata.name, guarded by its resourceVersion.
  absl::StatusOr<HttpRequest> Update(const json::Value& object,
                                     const WriteOptions& options = {}) const;
  // A JSON patch is an array; every other patch type is an object.
  absl::StatusOr<HttpRequest> Patch(std::string_view name, PatchType type, const json::Value& patch,
                                    const PatchOptions& options = {}) const;
  // Server-side apply of `object` (named by its metadata.name; apiVersion and kind required).
  absl::StatusOr<HttpRequest> Apply(const json::Value& object, std::string_view field_manager,
                                    bool force = false) const;
  absl::StatusOr<HttpRequest> Delete(std::string_view name,
                                     const DeleteOptions& options = {}) const;

  // Subresources such as "status" and "scale".
  absl::StatusOr<HttpRequest> GetSubresource(std::string_view name,
                                             std::string_view subresource) const;
  absl::StatusOr<HttpRequest> UpdateSubresource(std::string_view subresource,
                                                const json::Value& object,
                                                const WriteOptions& options = {}) const;
  absl::StatusOr<HttpRequest> PatchSubresource(std::string_view name, std::string_view subresource,
                                               PatchType type, const json::Value& patch,
                                               const PatchOptions& options = {}) const;
  absl::StatusOr<HttpRequest> ApplySubresource(std::string_view subresource,
                                               const json::Value& object,
                                               std::string_view field_manager,
                                               bool force = false) const;

  const ResourceType& type() const { return type_; }
  const std::string& ns() const { return ns_; }

 private:
  // The collection path (/api/v1/namespaces/ns/pods) after checking the namespace rules.
  absl::StatusOr<std::string> CollectionPath(bool item) const;
  absl::StatusOr<std::string> ItemPath(std::string_view name, std::string_view subresource) const;
  absl::StatusOr<HttpRequest> Put(std::string_view subresource, const json::Value& object,
                                  const WriteOptions& options) const;

  ResourceType type_;
  std::string ns_;
};

// Discovery of one group/version: GET /apis/<group>/<version> (/api/v1 for the core group).
HttpRequest DiscoveryRequest(std::string_view group, std::string_view version);

// Percent-encodes a query value: RFC 3986 unreserved characters stay, all others become %XX.
std::string EncodeQueryValue(std::string_view value);

}  // namespace bursar::kube
