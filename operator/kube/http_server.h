#pragma once

// The operator's small HTTP servers: /healthz, /readyz and /metrics over HTTP (GET only), and
// the admission webhook over HTTPS (POST only). This header is only the interface: the
// implementation (cpprestsdk's http_listener) is started by StartHttpServer and StartHttpsServer
// in cpprest_transport.h, so that exactly one translation unit includes cpprestsdk.
//
// Any other method gets 405; handlers see the request path without the query. Pitfall: the handler
// runs on the server's thread pool, concurrently for concurrent requests, so it must be thread-safe
// and quick (it must not wait on the controller).

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

// Maps a POST request's path and body to a response (the admission webhook's server). An
// exception becomes a 500. Runs concurrently, like HttpHandler.
using HttpPostHandler =
    std::function<HttpServerResponse(std::string_view path, std::string_view body)>;

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
