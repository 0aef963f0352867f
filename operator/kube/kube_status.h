#pragma once

// Kubernetes API errors as absl::Status values that keep the server's metav1.Status.
//
// ErrorFromResponse maps the HTTP status to an absl code and attaches the Status as a payload
// (type URL kKubeStatusTypeUrl, the JSON text), so code, reason and message survive however
// far the error travels; KubeStatusOf reads it back. A body that is not a metav1.Status (a
// proxy's HTML page, "404 page not found") gets a synthesized one with the reason the HTTP
// code implies, as client-go does.
//
//   HTTP  reason                  absl code            predicate
//   400   BadRequest              kInvalidArgument
//   401   Unauthorized            kUnauthenticated
//   403   Forbidden               kPermissionDenied
//   404   NotFound                kNotFound            IsNotFound
//   405   MethodNotAllowed        kUnimplemented
//   409   AlreadyExists           kAlreadyExists       IsAlreadyExists
//   409   Conflict (and others)   kAborted             IsConflict (reason Conflict only)
//   410   Expired / Gone          kOutOfRange          IsGone: relist from scratch
//   422   Invalid                 kInvalidArgument
//   429   TooManyRequests         kUnavailable         IsRetryable
//   500   InternalError, ...      kUnavailable         IsRetryable
//   501   NotImplemented          kUnimplemented
//   502/503                       kUnavailable         IsRetryable
//   504   Timeout                 kDeadlineExceeded    IsRetryable
//
// Call the predicates qualified (kube::IsNotFound): Abseil's absl::IsNotFound and
// absl::IsAlreadyExists (which check only the code) are found by argument-dependent lookup and
// make an unqualified call ambiguous.
// Pitfall: a 409 Conflict (stale resourceVersion, or an apply conflict with another field
// manager) is not retryable as is: read again (or decide to force) and write again.
// Thread-compatible (plain data and free functions).

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "operator/json/json.h"

namespace bursar::kube {

inline constexpr std::string_view kKubeStatusTypeUrl = "type.bursar.dev/kube.Status";

// A metav1.Status: what the API server says about a failed (or a delete's successful) request.
struct KubeStatus {
  int code = 0;        // the HTTP status the server meant
  std::string status;  // "Failure" or "Success"
  std::string reason;  // CamelCase StatusReason: NotFound, Conflict, Expired, ...
  std::string message;
  json::Value details;  // name, group, kind, uid, causes[], retryAfterSeconds; null if absent

  // Compact JSON of a metav1.Status with these fields.
  std::string ToJson() const;
};

// Reads a metav1.Status; nullopt unless `value` is an object with kind "Status".
std::optional<KubeStatus> ParseKubeStatus(const json::Value& value);
std::optional<KubeStatus> ParseKubeStatus(std::string_view body);

// The absl code of an HTTP error status (any HTTP server, not only Kubernetes): 400/422
// InvalidArgument, 401 Unauthenticated, 403 PermissionDenied, 404 NotFound, 409 Aborted (or
// AlreadyExists with that `reason`), 410 OutOfRange, 429 and 5xx Unavailable, 504
// DeadlineExceeded, other 4xx FailedPrecondition.
absl::StatusCode StatusCodeForHttp(int http_status, std::string_view reason = "");

// The error for a non-2xx response (OK for 2xx), carrying the parsed or synthesized Status.
absl::Status ErrorFromResponse(int http_status, std::string_view body);
// The error for a Status received in a 2xx body, e.g. a watch ERROR event.
absl::Status ErrorFromKubeStatus(const KubeStatus& status);

// The Status attached by the functions above; nullopt for other errors.
std::optional<KubeStatus> KubeStatusOf(const absl::Status& status);

bool IsNotFound(const absl::Status& status);
// 409 with reason Conflict: a stale resourceVersion, a failed precondition, or a
// server-side apply conflict with another field manager.
bool IsConflict(const absl::Status& status);
bool IsAlreadyExists(const absl::Status& status);
// 410: the resourceVersion or continue token is older than the server keeps (reason Expired
// or Gone). A watcher relists; a paginated list starts over.
bool IsGone(const absl::Status& status);
// 400 BadRequest or 422 Invalid from the server: it refuses the request as built (a parameter
// it does not allow, such as sendInitialEvents with the WatchList feature gate off); sending
// it again will not help.
bool IsInvalidRequest(const absl::Status& status);
// Sending the same request again later may succeed: throttling, server errors, timeouts, and
// transport failures (kUnavailable, kDeadlineExceeded without a Status).
bool IsRetryable(const absl::Status& status);
// The server's requested delay (details.retryAfterSeconds), if any.
std::optional<absl::Duration> RetryAfter(const absl::Status& status);

}  // namespace bursar::kube
