#pragma once

// The Transport that speaks HTTPS to the API server, and the operator's health/metrics HTTP
// server, both on cpprestsdk. cpprest_transport.cc is the only translation unit that includes
// cpprestsdk (or Boost.Asio) headers; this header exposes none of their types.
//
// TLS: the server certificate is verified against `ca_pem` alone when it is given (not the
// system roots as well, like client-go), else against the system's trust store; the host name
// or IP address must match a subjectAltName. A client certificate is presented when both PEMs
// are set. PEMs are loaded from memory; nothing is written to disk.
//
// Timeouts are enforced here, per request, on the monotonic clock: Send()'s timeout bounds the
// whole exchange (connect, TLS, headers, body); Stream()'s idle timeout bounds the wait for the
// response headers and then for each line. When one fires, the connection is closed.
// Connections are kept alive and reused across requests.
//
// Pitfalls:
// - `tls_server_name` is sent as the HTTP Host header as well: cpprestsdk takes the SNI and
//   verification name from the Host header. The API server ignores Host, so this is harmless.
// - When a stream's connection fails, lines that arrived but were not read yet may be lost with
//   it (cpprestsdk fails the body at once). A watch resumes from the last resourceVersion it
//   handled, so nothing is missed.
// - `bearer_token` is called for every request, from many threads at once: it must be
//   thread-safe and cheap (a TokenSource that re-reads a rotated file is).

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "operator/kube/http_server.h"
#include "operator/kube/kubeconfig.h"
#include "operator/kube/transport.h"

namespace bursar::kube {

struct TransportConfig {
  std::string server;           // https://host:port (http:// is accepted, e.g. for kubectl proxy)
  std::string ca_pem;           // empty: the system's trust store
  std::string client_cert_pem;  // client certificate authentication: both or neither
  std::string client_key_pem;
  // Returns the bearer token to send (empty: none). May be empty itself.
  std::function<std::string()> bearer_token;
  bool insecure_skip_tls_verify = false;  // no server verification at all: only when asked
  std::string tls_server_name;            // SNI and verification name, if not the URL's host
};

// Thread-safe: Send() and Stream() may be called from many threads at once; one cpprestsdk
// http_client (itself thread-safe, with a keep-alive connection pool) serves them all.
class CppRestTransport final : public Transport {
 public:
  // Fails with InvalidArgument when the server URL or a PEM cannot be used.
  static absl::StatusOr<std::unique_ptr<CppRestTransport>> Create(const TransportConfig& config);

  ~CppRestTransport() override;
  CppRestTransport(const CppRestTransport&) = delete;
  CppRestTransport& operator=(const CppRestTransport&) = delete;

  // A request that failed while being written on a pooled connection the server had closed is
  // sent once more on a fresh one (nothing reached the server).
  // Errors: Unavailable (connection, TLS, broken stream, with cpprestsdk's message),
  // DeadlineExceeded (timeout), InvalidArgument (a path that is not a valid URI).
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request, absl::Duration timeout) override;
  // The LineStream's Next() fails with DeadlineExceeded when no line arrives within
  // `idle_timeout`, and with Cancelled after Cancel(); destroying it closes the connection.
  absl::StatusOr<StreamResponse> Stream(const HttpRequest& request,
                                        absl::Duration idle_timeout) override;

 private:
  struct Impl;
  explicit CppRestTransport(std::unique_ptr<Impl> impl);
  absl::StatusOr<HttpResponse> SendOnce(const HttpRequest& request, absl::Duration timeout);

  std::unique_ptr<Impl> impl_;
};

// Starts an HTTP (not HTTPS) server on `address` (e.g. "127.0.0.1" or "0.0.0.0") and `port`.
// cpprestsdk's listener cannot report the port it bound, so for port 0 a free port is found
// first by binding a socket to `address`:0; a lost race for it is retried a few times.
// Fails with Unavailable when the address cannot be bound.
// The transport for a loaded kubeconfig or in-cluster config: its CA, client certificate and
// bearer token (a token file is re-read as it rotates, through a TokenSource).
absl::StatusOr<std::unique_ptr<CppRestTransport>> TransportFor(const ClusterConfig& cluster);

absl::StatusOr<std::unique_ptr<kube::HttpServer>> StartHttpServer(const std::string& address,
                                                                  int port,
                                                                  kube::HttpHandler handler);

struct HttpsServerOptions {
  std::string address;  // an IPv4 address, e.g. "0.0.0.0" or "127.0.0.1"
  int port = 0;         // 0: any free port
  // The serving certificate: DIR/tls.crt (PEM chain) and DIR/tls.key, the names of a
  // kubernetes.io/tls Secret's keys. Read for every new connection: renewed files are used at
  // once, and missing or unreadable ones fail that connection's handshake only.
  std::string cert_dir;
  size_t max_body_bytes = 3 * 1024 * 1024;
};

// Starts an HTTPS server (TLS 1.2 or later) that answers POST with `handler`. Other methods
// get 405, a body without Content-Length 411, a larger one than max_body_bytes 413; a request
// is read within 10 s. Fails as StartHttpServer does.
absl::StatusOr<std::unique_ptr<kube::HttpServer>> StartHttpsServer(
    const HttpsServerOptions& options, kube::HttpPostHandler handler);

// Sizes cpprestsdk's shared I/O thread pool (every client and listener runs its handlers
// there; cpprestsdk starts 40 threads by default). Call once, before the first transport or
// server is made; fails with FailedPrecondition when the pool has already started.
absl::Status SetHttpThreads(size_t threads);

}  // namespace bursar::kube
