#pragma once

// admission.k8s.io/v1 AdmissionReview: decoding the API server's request and encoding the
// webhook's response. Pure; thread-compatible.
//
// Pitfalls:
// - The response must echo request.uid and use the request's apiVersion (v1 only: the webhook
//   configurations ask for admissionReviewVersions [v1]).
// - A JSONPatch is sent base64-encoded, with patchType "JSONPatch"; only mutating webhooks may
//   send one.
// - A body that is not a v1 AdmissionReview has no uid to echo: the server answers it with an
//   HTTP 400 and the decoder's message (the API server then applies failurePolicy).

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/json/json.h"

namespace bursar::admission {

// The largest AdmissionReview body read (the API server's own request limit is 3 MiB).
inline constexpr size_t kMaxReviewBytes = 3 * 1024 * 1024;

struct AdmissionRequest {
  std::string uid;
  std::string group;           // request.kind.group ("" for core)
  std::string version;         // request.kind.version
  std::string kind;            // request.kind.kind
  std::string operation;       // CREATE, UPDATE, DELETE, CONNECT
  std::string namespace_name;  // request.namespace
  std::string name;            // request.name (often empty on CREATE: generateName)
  bool dry_run = false;
  json::Value object;  // request.object (null when absent)
};

struct AdmissionResponse {
  std::string uid;
  bool allowed = true;
  int code = 0;         // status.code when denied (403); 0 leaves status out
  std::string reason;   // status.reason, e.g. "Forbidden"
  std::string message;  // status.message, shown to the user on denial
  std::vector<std::string> warnings;
  std::string json_patch;  // a JSON Patch document (RFC 6902) as JSON text; empty: none
};

// Fails with InvalidArgument naming the field when `body` is not a v1 AdmissionReview with a
// request (uid, kind, operation).
absl::StatusOr<AdmissionRequest> DecodeAdmissionReview(std::string_view body);

// The AdmissionReview (apiVersion admission.k8s.io/v1) that carries `response`.
std::string EncodeAdmissionReview(const AdmissionResponse& response);

}  // namespace bursar::admission
