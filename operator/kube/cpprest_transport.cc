#include "operator/kube/cpprest_transport.h"

// The only translation unit that includes cpprestsdk. Every cpprestsdk, pplx and Boost
// exception is caught here and becomes an absl::Status.
//
// How a request runs: cpprestsdk's request() task completes when the response headers arrive,
// on its own thread pool; continuations hand results to the calling thread through a small
// completion object, which the caller awaits with a deadline on the steady clock. When the
// deadline passes, the request's pplx cancellation token is cancelled, which makes cpprestsdk
// close the socket (the connection is never pooled again). Every pplx task chain ends in a
// task-based continuation that calls get(): an unobserved task exception terminates the process.

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/http_listener.h>
#include <cpprest/streams.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pplx/pplxtasks.h>
#include <pplx/threadpool.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::kube {
namespace {

namespace http = web::http;
namespace http_client = web::http::client;
namespace http_listener = web::http::experimental::listener;
namespace asio = boost::asio;

using SteadyTime = std::chrono::steady_clock::time_point;
// Bodies cross into cpprestsdk as bytes: its byte streams (istream<uint8_t>) wrapped around a
// std::string buffer call it through the wrong type, which UBSan rightly reports.
using Bytes = std::vector<uint8_t>;

// Timeouts are enforced per request by this file; cpprestsdk's own timer (an idle timer, one
// value per http_client) is only a backstop against a connection that hangs forever.
constexpr std::chrono::hours kBackstopTimeout(24);
constexpr int kPortAttempts = 5;

// `timeout` from now, or nullopt for an infinite timeout. Far-away deadlines are clamped so
// that the steady_clock arithmetic cannot overflow.
std::optional<SteadyTime> DeadlineAfter(absl::Duration timeout) {
  if (timeout == absl::InfiniteDuration()) {
    return std::nullopt;
  }
  timeout = std::clamp(timeout, absl::ZeroDuration(), absl::Hours(24 * 365));
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
}

// Waits on `cv` until `ready()` or the deadline; returns ready().
template <typename Predicate>
bool WaitUntil(std::condition_variable& cv, std::unique_lock<std::mutex>& lock,
               const std::optional<SteadyTime>& deadline, Predicate ready) {
  if (!deadline.has_value()) {
    cv.wait(lock, ready);
    return true;
  }
  return cv.wait_until(lock, *deadline, ready);
}

// cpprestsdk reports every failed TLS handshake as "Error in SSL handshake" and keeps only the
// error's value: an OpenSSL error (a large packed code) when verification failed, or the socket's
// errno / Asio's end-of-stream when the peer closed or reset the connection mid-handshake (a
// refused connection behind a proxy, an API server restarting). A reset that reaches the socket
// before the connect completes is "Failed to connect to any resolved endpoint" with the same
// errno. Say which.
std::string ErrorHint(const http::http_exception& e) {
  const int code = e.error_code().value();
  const bool dropped = code == ECONNRESET || code == ECONNABORTED || code == EPIPE ||
                       code == asio::error::eof ||
                       code == static_cast<int>(asio::ssl::error::stream_truncated);
  auto dropped_hint = [&](const char* when) {
    return absl::StrCat(" (the connection was closed or reset ", when,
                        ": the server, or a proxy in front of it, dropped it; code ", code, ")");
  };
  const char* what = e.what();
  if (absl::StrContains(what, "SSL handshake")) {
    return dropped ? dropped_hint("during the TLS handshake")
                   : absl::StrCat(
                         " (server certificate not signed by the trusted CA, or not "
                         "issued for this host; code ",
                         code, ")");
  }
  if (dropped && absl::StrContains(what, "Failed to connect")) {
    return dropped_hint("as it was made");
  }
  return "";
}

// The error of a failed cpprestsdk operation, from inside a catch block. `what` names the
// request: "GET https://10.0.0.1:6443/api/v1/pods".
absl::Status StatusFromCurrentException(const std::string& what) {
  try {
    throw;
  } catch (const http::http_exception& e) {
    if (e.error_code() == std::errc::timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": ", e.what()));
    }
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what(), ErrorHint(e)));
  } catch (const web::uri_exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": invalid URI: ", e.what()));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(what, ": ", e.what()));
  } catch (...) {
    return absl::UnavailableError(absl::StrCat(what, ": unknown error"));
  }
}

// A result handed from a cpprestsdk thread to the waiting caller. The first Set() wins.
template <typename T>
class Completion {
 public:
  void Set(absl::StatusOr<T> value) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (value_.has_value()) {
        return;
      }
      value_ = std::move(value);
    }
    cv_.notify_all();
  }

  // The value, or nullopt when the deadline passed first.
  std::optional<absl::StatusOr<T>> Wait(const std::optional<SteadyTime>& deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!WaitUntil(cv_, lock, deadline, [this] { return value_.has_value(); })) {
      return std::nullopt;
    }
    return std::move(value_);
  }

 private:
  // std::condition_variable rather than absl::CondVar: its waits on steady_clock ignore
  // wall-clock steps (see operator/runtime/clock.h).
  std::mutex mu_;
  std::condition_variable cv_;
  std::optional<absl::StatusOr<T>> value_;  // guarded by mu_
};

Headers HeadersOf(const http::http_response& response) {
  Headers headers;
  for (const auto& [name, value] : response.headers()) {
    headers.emplace_back(name, value);
  }
  return headers;
}

// Reads the rest of `response`'s body and completes `done` with the whole response.
void CompleteWithBody(http::http_response response, std::shared_ptr<Completion<HttpResponse>> done,
                      std::string what) {
  try {
    concurrency::streams::container_buffer<Bytes> body;
    response.body().read_to_end(body).then(
        [response, body, done, what](pplx::task<size_t> read) mutable {
          try {
            read.get();
            HttpResponse result;
            result.status = response.status_code();
            result.headers = HeadersOf(response);
            const Bytes& bytes = body.collection();
            result.body.assign(bytes.begin(), bytes.end());
            done->Set(std::move(result));
          } catch (...) {
            done->Set(StatusFromCurrentException(what));
          }
        });
  } catch (...) {
    done->Set(StatusFromCurrentException(what));
  }
}

// The certificates and key that every new TLS connection is configured with. cpprestsdk
// creates a fresh ssl::context per connection and calls the context callback on it.
struct TlsMaterial {
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
};

// Throws boost::system::system_error when a PEM cannot be used.
void ConfigureTls(const TlsMaterial& tls, asio::ssl::context& context) {
  // The API server speaks TLS 1.2 or later.
  context.set_options(asio::ssl::context::no_sslv2 | asio::ssl::context::no_sslv3 |
                      asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  if (!tls.ca_pem.empty() && !tls.insecure_skip_tls_verify) {
    // Trust this CA alone, as client-go does: cpprestsdk has already loaded the system roots
    // into the context, so replace its store (SSL_CTX_set_cert_store frees the old one).
    X509_STORE* store = X509_STORE_new();
    if (store == nullptr) {
      throw std::bad_alloc();
    }
    SSL_CTX_set_cert_store(context.native_handle(), store);
    context.add_certificate_authority(asio::buffer(tls.ca_pem));
  }
  if (!tls.client_cert_pem.empty()) {
    context.use_certificate_chain(asio::buffer(tls.client_cert_pem));
    context.use_private_key(asio::buffer(tls.client_key_pem), asio::ssl::context::pem);
  }
}

// The messages of a chunked response body, one at a time: lines for JSON, or for a protobuf
// watch (Content-Type application/vnd.kubernetes.protobuf;stream=watch) length-prefixed frames.
// They are cut (LineAssembler, FrameAssembler) from what the body already holds, read in blocks
// on the caller's thread; only when nothing has arrived does Next() wait for the next byte on
// cpprestsdk's pool. (cpprestsdk's own read_line takes a lock for every character and a thread
// hand-off for every line: most of a 50,000-pod initial list's time.)
// Next() is thread-compatible; Cancel() may come from any thread.
class CppRestLineStream final : public LineStream {
 public:
  CppRestLineStream(http::http_response response, pplx::cancellation_token_source cancel,
                    absl::Duration idle_timeout, std::string what)
      : response_(std::move(response)),
        cancel_(std::move(cancel)),
        idle_timeout_(idle_timeout),
        what_(std::move(what)),
        framed_(absl::StartsWith(response_.headers().content_type(),
                                 "application/vnd.kubernetes.protobuf")),
        state_(std::make_shared<State>()) {}

  // Closes the connection unless the server already ended the stream (then the cancellation
  // is a no-op and the connection went back to the pool).
  ~CppRestLineStream() override { cancel_.cancel(); }

  absl::StatusOr<std::optional<std::string>> Next() override {
    if (end_.has_value()) {
      return *end_;
    }
    for (;;) {
      absl::StatusOr<std::optional<std::string>> message = NextBuffered();
      if (!message.ok()) {
        cancel_.cancel();
        return End(Named(message.status()));
      }
      if (message->has_value()) {
        return message;
      }
      absl::StatusOr<bool> fed = FeedAvailable();
      if (!fed.ok()) {
        cancel_.cancel();
        return End(fed.status());
      }
      if (*fed) {
        continue;
      }
      absl::StatusOr<bool> more = AwaitData();
      if (!more.ok()) {
        return End(more.status());
      }
      if (!*more) {  // the end of the body: an unterminated last line, if any
        absl::StatusOr<std::optional<std::string>> last = FinishBuffered();
        return last.ok() && last->has_value() ? last : End(std::move(last));
      }
    }
  }

  void Cancel() override {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      state_->cancelled = true;
    }
    state_->cv.notify_all();
    cancel_.cancel();
  }

 private:
  // The most read from the body at once.
  static constexpr size_t kReadBlock = 64 << 10;

  // Shared with the read continuations, which may outlive the stream.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool cancelled = false;  // guarded by mu
    // The outcome of the wait in flight: true when bytes arrived, false at the end of the
    // body, or an error.
    std::optional<absl::StatusOr<bool>> read;  // guarded by mu
  };

  // Feeds what the body holds already, without waiting; false when it holds nothing.
  absl::StatusOr<bool> FeedAvailable() {
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (state_->cancelled) {
        return false;  // AwaitData() says so
      }
    }
    try {
      concurrency::streams::streambuf<uint8_t> body = response_.body().streambuf();
      const size_t available = std::min(body.in_avail(), kReadBlock);
      if (available == 0) {
        return false;
      }
      block_.resize(available);
      // Completes at once (on this thread): the buffer holds at least `available` bytes.
      const size_t got = body.getn(block_.data(), available).get();
      if (got == 0 || got > available) {
        return false;
      }
      absl::Status fed = Feed(std::string_view(reinterpret_cast<const char*>(block_.data()), got));
      if (!fed.ok()) {
        return fed;
      }
      return true;
    } catch (...) {
      return StatusFromCurrentException(what_);
    }
  }

  // Fails when a line grows over LineAssembler's limit (frames are checked when cut).
  absl::Status Feed(std::string_view bytes) {
    if (framed_) {
      frames_.Feed(bytes);
      return absl::OkStatus();
    }
    absl::Status fed = lines_.Feed(bytes);
    return fed.ok() ? fed : Named(fed);
  }

  // The next whole message read already; nullopt when more must be read.
  absl::StatusOr<std::optional<std::string>> NextBuffered() {
    if (framed_) {
      return frames_.NextFrame();
    }
    return lines_.NextLine();
  }

  // At the end of the body: the unterminated last line, if any; an error inside a frame; else
  // the clean end (nullopt).
  absl::StatusOr<std::optional<std::string>> FinishBuffered() {
    if (framed_) {
      absl::Status finished = frames_.Finish();
      if (!finished.ok()) {
        return Named(finished);
      }
      return std::nullopt;
    }
    return lines_.Finish();
  }

  // `status` with the request it came from.
  absl::Status Named(const absl::Status& status) const {
    return absl::Status(status.code(), absl::StrCat(what_, ": ", status.message()));
  }

  // Waits (within the idle timeout) until the body holds bytes (true) or has ended (false).
  absl::StatusOr<bool> AwaitData() {
    const std::optional<SteadyTime> deadline = DeadlineAfter(idle_timeout_);
    std::unique_lock<std::mutex> lock(state_->mu);
    // One wait at a time: a wait that times out or is cancelled ends the stream.
    if (!state_->cancelled) {
      lock.unlock();  // the peek may complete and run its continuation at once
      StartRead();
      lock.lock();
    }
    const bool ready = WaitUntil(state_->cv, lock, deadline,
                                 [this] { return state_->cancelled || state_->read.has_value(); });
    if (state_->cancelled) {
      return absl::CancelledError(absl::StrCat(what_, ": watch cancelled"));
    }
    if (!ready) {
      lock.unlock();
      cancel_.cancel();
      return absl::DeadlineExceededError(absl::StrCat(
          what_, ": no data for ", absl::FormatDuration(idle_timeout_), " (idle timeout)"));
    }
    absl::StatusOr<bool> read = std::move(*state_->read);
    state_->read.reset();
    return read;
  }

  void StartRead() {
    const std::shared_ptr<State> state = state_;
    auto deliver = [state](absl::StatusOr<bool> read) {
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->read = std::move(read);
      }
      state->cv.notify_all();
    };
    try {
      // A peek completes as soon as a byte arrives (or the body ends) and consumes nothing:
      // FeedAvailable() then reads it with the rest.
      using Body = concurrency::streams::istream;
      response_.body().peek().then([deliver, what = what_](pplx::task<Body::int_type> peeked) {
        try {
          deliver(peeked.get() != Body::traits::eof());
        } catch (...) {
          deliver(StatusFromCurrentException(what));
        }
      });
    } catch (...) {
      deliver(StatusFromCurrentException(what_));
    }
  }

  absl::StatusOr<std::optional<std::string>> End(absl::StatusOr<std::optional<std::string>> end) {
    end_ = end;
    return end;
  }

  const http::http_response response_;
  pplx::cancellation_token_source cancel_;
  const absl::Duration idle_timeout_;
  const std::string what_;
  const bool framed_;  // protobuf frames rather than lines
  const std::shared_ptr<State> state_;
  LineAssembler lines_;         // JSON: the lines read so far
  FrameAssembler frames_;       // protobuf: the frames read so far
  std::vector<uint8_t> block_;  // JSON: the last block read
  // Set once the stream ended (cleanly, with an error, or cancelled): Next() repeats it.
  std::optional<absl::StatusOr<std::optional<std::string>>> end_;
};

// Serves GET requests with a kube::HttpHandler. Thread-safe.
class CppRestHttpServer final : public kube::HttpServer {
 public:
  CppRestHttpServer(std::unique_ptr<http_listener::http_listener> listener, int port)
      : listener_(std::move(listener)), port_(port) {}
  ~CppRestHttpServer() override { Stop(); }

  int port() const override { return port_; }

  void Stop() override {
    absl::MutexLock lock(&mu_);
    if (listener_ == nullptr) {
      return;
    }
    try {
      listener_->close().wait();
    } catch (...) {
      // Closing failed; the listener is dropped all the same.
    }
    listener_.reset();
  }

 private:
  absl::Mutex mu_;
  std::unique_ptr<http_listener::http_listener> listener_ ABSL_GUARDED_BY(mu_);
  const int port_;
};

void Reply(const http::http_request& request, const kube::HttpServerResponse& reply,
           const char* allow = "GET") {
  http::http_response response(static_cast<http::status_code>(reply.status));
  response.headers().add("Content-Type", reply.content_type.empty()
                                             ? std::string("text/plain; charset=utf-8")
                                             : reply.content_type);
  response.set_body(Bytes(reply.body.begin(), reply.body.end()));
  if (reply.status == http::status_codes::MethodNotAllowed) {
    response.headers().add("Allow", allow);
  }
  // A client that went away fails the reply; nothing to do about it, but it must be observed.
  request.reply(response).then([](pplx::task<void> done) {
    try {
      done.get();
    } catch (...) {
    }
  });
}

void Serve(const kube::HttpHandler& handler, const http::http_request& request) {
  if (request.method() != http::methods::GET) {
    Reply(request, {http::status_codes::MethodNotAllowed, "", "method not allowed\n"});
    return;
  }
  kube::HttpServerResponse response;
  try {
    response = handler(request.request_uri().path());
  } catch (...) {
    response = {http::status_codes::InternalError, "", "internal error\n"};
  }
  Reply(request, response);
}

// A port that was free on `address` a moment ago: bind to port 0 and read the port back.
absl::StatusOr<int> PickFreePort(const asio::ip::address& address) {
  try {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(address, 0));
    return acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("cannot bind ", address.to_string(), ":0: ", e.what()));
  }
}

// Serves POST requests with a kube::HttpPostHandler, reading at most `max_body` bytes of body.
// A body without a Content-Length (chunked) is refused: its size is not known before reading.
void ServePost(const kube::HttpPostHandler& handler, size_t max_body,
               const http::http_request& request) {
  if (request.method() != http::methods::POST) {
    Reply(request, {http::status_codes::MethodNotAllowed, "", "method not allowed\n"}, "POST");
    return;
  }
  if (!request.headers().has(http::header_names::content_length)) {
    Reply(request, {http::status_codes::LengthRequired, "", "a Content-Length is required\n"},
          "POST");
    return;
  }
  if (request.headers().content_length() > max_body) {
    Reply(request,
          {http::status_codes::RequestEntityTooLarge, "",
           absl::StrCat("request body over the limit of ", max_body, " bytes\n")},
          "POST");
    return;
  }
  kube::HttpServerResponse response;
  try {
    std::vector<unsigned char> body = request.extract_vector().get();
    response = handler(request.request_uri().path(),
                       std::string_view(reinterpret_cast<const char*>(body.data()), body.size()));
  } catch (...) {
    response = {http::status_codes::InternalError, "", "internal error\n"};
  }
  Reply(request, response, "POST");
}

// Loads DIR/tls.crt and DIR/tls.key into a new connection's TLS context (TLS 1.2 or later). Runs
// for every connection, so renewed files are used at once. It must not throw (it runs inside
// cpprestsdk's accept handler): a failure leaves the context without a certificate, and that one
// handshake fails.
void LoadServingCertificate(const std::string& dir, asio::ssl::context& ctx) {
  try {
    ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                    asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                    asio::ssl::context::no_tlsv1_1);
    ctx.use_certificate_chain_file(dir + "/tls.crt");
    ctx.use_private_key_file(dir + "/tls.key", asio::ssl::context::pem);
  } catch (...) {
    // No certificate: the handshake fails; the next connection tries the files again.
  }
}

// Opens a listener on `scheme`://`address`:`port` with `config`, whose requests go to `serve`.
// For port 0 a free port is picked first (a lost race for it is retried).
absl::StatusOr<std::unique_ptr<kube::HttpServer>> Listen(
    const std::string& scheme, const std::string& address, int port,
    const http_listener::http_listener_config& config,
    std::function<void(const http::http_request&)> serve) {
  if (port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port ", port, " is out of range"));
  }
  boost::system::error_code parse_error;
  const asio::ip::address ip = asio::ip::make_address(address, parse_error);
  if (parse_error) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\" is not an IP address"));
  }
  if (!ip.is_v4()) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address \"", address, "\": only IPv4 is supported"));
  }
  absl::Status last_error;
  for (int attempt = 0; attempt < (port == 0 ? kPortAttempts : 1); ++attempt) {
    int chosen = port;
    if (port == 0) {
      absl::StatusOr<int> free_port = PickFreePort(ip);
      if (!free_port.ok()) {
        return free_port.status();
      }
      chosen = *free_port;
    }
    try {
      auto listener = std::make_unique<http_listener::http_listener>(
          web::uri(absl::StrCat(scheme, "://", address, ":", chosen)), config);
      listener->support(serve);
      listener->open().wait();
      return std::make_unique<CppRestHttpServer>(std::move(listener), chosen);
    } catch (const std::exception& e) {
      // Another process may have taken the port between PickFreePort and open().
      last_error = absl::UnavailableError(
          absl::StrCat("cannot listen on ", address, ":", chosen, ": ", e.what()));
    }
  }
  return last_error;
}

}  // namespace

struct CppRestTransport::Impl {
  Impl(web::uri base_uri, const http_client::http_client_config& client_config,
       std::function<std::string()> bearer_token_fn, std::string tls_server_name_value)
      : base(std::move(base_uri)),
        client(base, client_config),
        bearer_token(std::move(bearer_token_fn)),
        tls_server_name(std::move(tls_server_name_value)) {}

  // "GET https://host:port/path?query", for error messages.
  std::string Describe(const HttpRequest& request) const {
    std::string server = base.to_string();
    if (absl::EndsWith(server, "/")) {
      server.pop_back();
    }
    return absl::StrCat(request.method, " ", server, request.path);
  }

  // Throws web::uri_exception for a path that is not a valid URI.
  http::http_request Build(const HttpRequest& request) const {
    http::http_request out(request.method);
    out.set_request_uri(web::uri(request.path));
    std::string content_type;
    for (const auto& [name, value] : request.headers) {
      if (absl::EqualsIgnoreCase(name, "Content-Type")) {
        content_type = value;
      } else {
        out.headers().add(name, value);
      }
    }
    if (!tls_server_name.empty()) {
      // cpprestsdk takes the SNI name and the name it verifies from the Host header.
      out.headers()["Host"] = tls_server_name;
    }
    if (bearer_token) {
      const std::string token = bearer_token();
      if (!token.empty()) {
        out.headers()["Authorization"] = absl::StrCat("Bearer ", token);
      }
    }
    if (!request.body.empty() && content_type.empty()) {
      content_type = "application/json";
    }
    if (!content_type.empty()) {
      out.headers().add("Content-Type", content_type);
    }
    if (!request.body.empty()) {
      out.set_body(Bytes(request.body.begin(), request.body.end()));
    }
    return out;
  }

  const web::uri base;
  // request() is not const but is safe from many threads (the pipeline is never changed
  // after construction); one keep-alive connection pool serves every request.
  http_client::http_client client;
  const std::function<std::string()> bearer_token;
  const std::string tls_server_name;  // empty unless verifying another name than the host
};

absl::StatusOr<std::unique_ptr<CppRestTransport>> CppRestTransport::Create(
    const TransportConfig& config) {
  web::uri base;
  try {
    base = web::uri(config.server);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("server \"", config.server, "\" is not a URL: ", e.what()));
  }
  const std::string scheme = absl::AsciiStrToLower(base.scheme());
  if ((scheme != "https" && scheme != "http") || base.host().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server \"", config.server, "\" is not an https:// or http:// URL"));
  }
  if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key, and a key its certificate");
  }

  auto tls = std::make_shared<const TlsMaterial>(TlsMaterial{config.ca_pem, config.client_cert_pem,
                                                             config.client_key_pem,
                                                             config.insecure_skip_tls_verify});
  try {
    // Load the PEMs once now, so that a bad one fails here rather than on every connection.
    asio::ssl::context probe(asio::ssl::context::tls_client);
    ConfigureTls(*tls, probe);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("TLS configuration for ", config.server, ": ", e.what()));
  }

  http_client::http_client_config client_config;
  client_config.set_timeout(kBackstopTimeout);
  client_config.set_validate_certificates(!config.insecure_skip_tls_verify);
  client_config.set_ssl_context_callback(
      [tls](asio::ssl::context& context) { ConfigureTls(*tls, context); });
  try {
    return std::unique_ptr<CppRestTransport>(new CppRestTransport(
        std::make_unique<Impl>(std::move(base), client_config, config.bearer_token,
                               scheme == "https" ? config.tls_server_name : std::string())));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create an HTTP client for ", config.server, ": ", e.what()));
  }
}

CppRestTransport::CppRestTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CppRestTransport::~CppRestTransport() = default;

namespace {

// A pooled keep-alive connection that the server closed (it restarted, or timed the connection
// out) fails while the request is still being written. Nothing reached the server, so sending
// again on a fresh connection is safe even for a POST — what Go's net/http does too.
bool FailedBeforeSending(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         absl::StrContains(status.message(), "Failed to write request");
}

}  // namespace

absl::StatusOr<std::unique_ptr<CppRestTransport>> TransportFor(const ClusterConfig& cluster) {
  TransportConfig config;
  config.server = cluster.server;
  config.ca_pem = cluster.ca_pem;
  config.client_cert_pem = cluster.client_cert_pem;
  config.client_key_pem = cluster.client_key_pem;
  config.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify;
  config.tls_server_name = cluster.tls_server_name;
  if (!cluster.token_file.empty()) {
    // TokenSource is thread-safe; shared so the transport's copies of the callback agree.
    auto tokens =
        std::make_shared<TokenSource>(TokenSource::File(cluster.token_file, cluster.bearer_token));
    config.bearer_token = [tokens]() -> std::string {
      absl::StatusOr<std::string> token = tokens->Token();
      return token.ok() ? *token : std::string();
    };
  } else if (!cluster.bearer_token.empty()) {
    config.bearer_token = [token = cluster.bearer_token] { return token; };
  }
  return CppRestTransport::Create(config);
}

absl::StatusOr<HttpResponse> CppRestTransport::Send(const HttpRequest& request,
                                                    absl::Duration timeout) {
  absl::StatusOr<HttpResponse> response = SendOnce(request, timeout);
  if (!response.ok() && FailedBeforeSending(response.status())) {
    response = SendOnce(request, timeout);
  }
  return response;
}

absl::StatusOr<HttpResponse> CppRestTransport::SendOnce(const HttpRequest& request,
                                                        absl::Duration timeout) {
  const std::optional<SteadyTime> deadline = DeadlineAfter(timeout);
  const std::string what = impl_->Describe(request);
  auto done = std::make_shared<Completion<HttpResponse>>();
  pplx::cancellation_token_source cancel;
  try {
    impl_->client.request(impl_->Build(request), cancel.get_token())
        .then([done, what](pplx::task<http::http_response> headers) {
          try {
            CompleteWithBody(headers.get(), done, what);
          } catch (...) {
            done->Set(StatusFromCurrentException(what));
          }
        });
  } catch (...) {
    return StatusFromCurrentException(what);
  }
  std::optional<absl::StatusOr<HttpResponse>> response = done->Wait(deadline);
  if (!response.has_value()) {
    cancel.cancel();
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no response within ", absl::FormatDuration(timeout)));
  }
  return *std::move(response);
}

absl::StatusOr<StreamResponse> CppRestTransport::Stream(const HttpRequest& request,
                                                        absl::Duration idle_timeout) {
  const std::string what = impl_->Describe(request);
  // Headers first; a non-2xx body is read whole (it is a small metav1.Status).
  auto headers = std::make_shared<Completion<http::http_response>>();
  pplx::cancellation_token_source cancel;
  try {
    impl_->client.request(impl_->Build(request), cancel.get_token())
        .then([headers, what](pplx::task<http::http_response> response) {
          try {
            headers->Set(response.get());
          } catch (...) {
            headers->Set(StatusFromCurrentException(what));
          }
        });
  } catch (...) {
    return StatusFromCurrentException(what);
  }
  std::optional<absl::StatusOr<http::http_response>> response =
      headers->Wait(DeadlineAfter(idle_timeout));
  if (!response.has_value()) {
    cancel.cancel();
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no response headers within ", absl::FormatDuration(idle_timeout)));
  }
  if (!response->ok()) {
    return response->status();
  }
  StreamResponse out;
  out.status = (*response)->status_code();
  if (out.status >= 200 && out.status < 300) {
    out.lines = std::make_unique<CppRestLineStream>(std::move(**response), std::move(cancel),
                                                    idle_timeout, what);
    return out;
  }
  auto body = std::make_shared<Completion<HttpResponse>>();
  CompleteWithBody(std::move(**response), body, what);
  std::optional<absl::StatusOr<HttpResponse>> error = body->Wait(DeadlineAfter(idle_timeout));
  if (!error.has_value()) {
    cancel.cancel();
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": error body not read within ", absl::FormatDuration(idle_timeout)));
  }
  if (!error->ok()) {
    return error->status();
  }
  out.error_body = std::move((*error)->body);
  return out;
}

absl::StatusOr<std::unique_ptr<kube::HttpServer>> StartHttpServer(const std::string& address,
                                                                  int port,
                                                                  kube::HttpHandler handler) {
  return Listen("http", address, port, http_listener::http_listener_config(),
                [handler](const http::http_request& request) { Serve(handler, request); });
}

absl::StatusOr<std::unique_ptr<kube::HttpServer>> StartHttpsServer(
    const HttpsServerOptions& options, kube::HttpPostHandler handler) {
  http_listener::http_listener_config config;
  config.set_timeout(std::chrono::seconds(10));
  std::string dir = options.cert_dir;
  config.set_ssl_context_callback(
      [dir](asio::ssl::context& ctx) { LoadServingCertificate(dir, ctx); });
  size_t max_body = options.max_body_bytes;
  return Listen("https", options.address, options.port, config,
                [handler, max_body](const http::http_request& request) {
                  ServePost(handler, max_body, request);
                });
}

absl::Status SetHttpThreads(size_t threads) {
  try {
    crossplat::threadpool::initialize_with_threads(threads);
  } catch (const std::exception& e) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot size the HTTP thread pool: ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace bursar::kube
