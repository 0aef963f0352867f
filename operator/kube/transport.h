#pragma once

// The transport seam between Bursar's Kubernetes client and the network. Requests are built
// by pure functions (requests.h) and sent through a Transport, so tests script replies and
// watch streams with a fake, and exactly one translation unit (cpprest_transport.cc) talks
// HTTP. Implementations must be thread-safe: many workers send concurrently.

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bursar::kube {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // GET, POST, PUT, PATCH, DELETE
  std::string path;    // absolute path with an encoded query: /api/v1/pods?limit=500
  Headers headers;     // Accept / Content-Type; the transport adds authentication
  std::string body;
  bool operator==(const HttpRequest&) const = default;
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;
};

// The lines of a streaming response (a watch): one JSON event per line.
// Thread-compatible; Cancel() may be called from another thread to unblock Next().
class LineStream {
 public:
  virtual ~LineStream() = default;
  // The next line without its newline; nullopt when the server ended the stream cleanly;
  // an error when the connection failed, timed out between chunks, or was cancelled.
  virtual absl::StatusOr<std::optional<std::string>> Next() = 0;
  virtual void Cancel() = 0;
};

struct StreamResponse {
  int status = 0;
  // Set when status is 2xx.
  std::unique_ptr<LineStream> lines;
  // The whole body when status is not 2xx (a metav1.Status, usually).
  std::string error_body;
};

class Transport {
 public:
  virtual ~Transport() = default;
  // Sends a request and reads the whole response. A non-2xx status is a response, not an
  // error; errors are for connection, TLS and timeout failures (absl::StatusCode::kUnavailable
  // or kDeadlineExceeded).
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request, absl::Duration timeout) = 0;
  // Opens a streaming request; returns when the response headers arrived. `idle_timeout`
  // bounds the wait between two chunks (a watch needs more than its timeoutSeconds).
  virtual absl::StatusOr<StreamResponse> Stream(const HttpRequest& request,
                                                absl::Duration idle_timeout) = 0;
};

}  // namespace bursar::kube
