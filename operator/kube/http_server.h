#pragma once

// The operator's small HTTP server for /healthz, /readyz and /metrics. This header is only the
// interface: the implementation (cpprestsdk's http_listener) is started by
// StartHttpServer in cpprest_transport.h, so that exactly one translation
// unit includes cpprestsdk.
//
// Only GET is served (anything else gets 405); the handler sees the request path without the
// query. Pitfall: the handler runs on the server's thread pool, concurrently for concurrent
// requests, so it must be thread-safe and quick (it must not wait on the controller).

#include <functional>
#include <string>
#include <string_view>

namespace bursar::kube {

struct HttpServerResponse {
  int status = 200;
  std::string content_type;  // empty: "text/plain; charset=utf-8"
  std::string body;
};

// Maps a request path ("/healthz") to a response. An exception becomes a 500.
using HttpHandler = std::function<HttpServerResponse(std::string_view path)>;

// A running server. Destroying it stops it. Thread-safe.
class HttpServer {
 public:
  virtual ~HttpServer() = default;
  // The TCP port the server listens on (the one picked when 0 was asked for).
  virtual int port() const = 0;
  // Stops listening and waits for the server to close; idempotent.
  virtual void Stop() = 0;
};

}  // namespace bursar::kube
