#pragma once

// A scripted Transport for unit tests: replies are queued in the order the code under test will
// send its requests, and every request is recorded so that tests can assert what was sent.
// A request with no reply left fails the test (and gets kFailedPrecondition). Streams replay
// their lines, then end cleanly or with a given error. Thread-safe, like a real transport.
// (In namespace bursar::kube, not a nested `testing`, which would hide ::testing in tests.)
//
//   FakeTransport transport;
//   transport.Reply(200, R"({"kind":"PodList","items":[]})");
//   transport.ReplyStream(200, {R"({"type":"ADDED","object":{...}})"});
//   ApiClient client(transport);
//   ...
//   EXPECT_EQ(transport.requests()[0].path, "/api/v1/pods?limit=500");

#include <gtest/gtest.h>

#include <deque>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "operator/kube/transport.h"

namespace bursar::kube {

// Readable failure messages for EXPECT_EQ on requests.
inline void PrintTo(const HttpRequest& request, std::ostream* os) {
  *os << request.method << " " << request.path;
  for (const auto& [name, value] : request.headers) {
    *os << " [" << name << ": " << value << "]";
  }
  if (!request.body.empty()) {
    *os << " body=" << request.body;
  }
}

// Replays `lines`, then ends with `end` (OK: a clean end of stream). Cancel() makes the next
// Next() fail with kCancelled.
class FakeLineStream : public LineStream {
 public:
  explicit FakeLineStream(std::vector<std::string> lines, absl::Status end = absl::OkStatus())
      : lines_(lines.begin(), lines.end()), end_(std::move(end)) {}

  absl::StatusOr<std::optional<std::string>> Next() override {
    absl::MutexLock lock(&mu_);
    if (cancelled_) {
      return absl::CancelledError("watch cancelled");
    }
    if (lines_.empty()) {
      if (!end_.ok()) {
        return end_;
      }
      return std::optional<std::string>();
    }
    std::string line = std::move(lines_.front());
    lines_.pop_front();
    return std::optional<std::string>(std::move(line));
  }

  void Cancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

 private:
  absl::Mutex mu_;
  std::deque<std::string> lines_ ABSL_GUARDED_BY(mu_);
  const absl::Status end_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

class FakeTransport : public Transport {
 public:
  // Sent requests in order, with the timeout each was given.
  struct Sent {
    HttpRequest request;
    absl::Duration timeout;
    bool stream = false;
  };

  // Queues a reply to the next Send.
  void Reply(int status, std::string body) {
    absl::MutexLock lock(&mu_);
    HttpResponse response;
    response.status = status;
    response.body = std::move(body);
    replies_.emplace_back(std::move(response));
  }
  // Queues a transport failure (connection refused, TLS, timeout) for the next Send or Stream.
  void Fail(absl::Status error) {
    absl::MutexLock lock(&mu_);
    replies_.emplace_back(std::move(error));
  }
  // Queues a reply to the next Stream: a 2xx replays `lines`, ending with `end`; any other
  // status returns `lines` joined as the error body.
  void ReplyStream(int status, std::vector<std::string> lines,
                   absl::Status end = absl::OkStatus()) {
    absl::MutexLock lock(&mu_);
    replies_.emplace_back(StreamReply{status, std::move(lines), std::move(end)});
  }

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request, absl::Duration timeout) override {
    absl::MutexLock lock(&mu_);
    sent_.push_back({request, timeout, false});
    if (replies_.empty()) {
      ADD_FAILURE() << "unexpected request: " << request.method << " " << request.path;
      return absl::FailedPreconditionError("no scripted reply");
    }
    Scripted next = std::move(replies_.front());
    replies_.pop_front();
    if (auto* error = std::get_if<absl::Status>(&next)) {
      return *error;
    }
    if (auto* response = std::get_if<HttpResponse>(&next)) {
      return *response;
    }
    ADD_FAILURE() << "a stream reply was scripted, but Send was called: " << request.path;
    return absl::FailedPreconditionError("stream reply for Send");
  }

  absl::StatusOr<StreamResponse> Stream(const HttpRequest& request,
                                        absl::Duration idle_timeout) override {
    absl::MutexLock lock(&mu_);
    sent_.push_back({request, idle_timeout, true});
    if (replies_.empty()) {
      ADD_FAILURE() << "unexpected stream: " << request.method << " " << request.path;
      return absl::FailedPreconditionError("no scripted reply");
    }
    Scripted next = std::move(replies_.front());
    replies_.pop_front();
    if (auto* error = std::get_if<absl::Status>(&next)) {
      return *error;
    }
    auto* reply = std::get_if<StreamReply>(&next);
    if (reply == nullptr) {
      ADD_FAILURE() << "a Send reply was scripted, but Stream was called: " << request.path;
      return absl::FailedPreconditionError("Send reply for Stream");
    }
    StreamResponse response;
    response.status = reply->status;
    if (reply->status >= 200 && reply->status <= 299) {
      response.lines =
          std::make_unique<FakeLineStream>(std::move(reply->lines), std::move(reply->end));
    } else {
      for (const std::string& line : reply->lines) {
        response.error_body += line;
      }
    }
    return response;
  }

  std::vector<Sent> sent() const {
    absl::MutexLock lock(&mu_);
    return sent_;
  }
  std::vector<HttpRequest> requests() const {
    absl::MutexLock lock(&mu_);
    std::vector<HttpRequest> out;
    for (const Sent& s : sent_) {
      out.push_back(s.request);
    }
    return out;
  }
  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return replies_.size();
  }

 private:
  struct StreamReply {
    int status = 0;
    std::vector<std::string> lines;
    absl::Status end;
  };
  using Scripted = std::variant<HttpResponse, absl::Status, StreamReply>;

  mutable absl::Mutex mu_;
  std::deque<Scripted> replies_ ABSL_GUARDED_BY(mu_);
  std::vector<Sent> sent_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bursar::kube
