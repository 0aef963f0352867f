#pragma once

// An in-process gRPC server for tests: serves one or more services on 127.0.0.1 at a port the
// kernel picks (hermetic: port 0, loopback only), and hands out insecure channels to it.
// The services must outlive the server: declare them before it in a fixture.
// Not thread-safe; create and stop it from the test's thread.

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace bursar {

class LoopbackGrpcServer {
 public:
  explicit LoopbackGrpcServer(std::initializer_list<grpc::Service*> services) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    for (grpc::Service* service : services) {
      builder.RegisterService(service);
    }
    server_ = builder.BuildAndStart();
  }
  explicit LoopbackGrpcServer(grpc::Service* service) : LoopbackGrpcServer({service}) {}
  ~LoopbackGrpcServer() { Stop(); }
  LoopbackGrpcServer(const LoopbackGrpcServer&) = delete;
  LoopbackGrpcServer& operator=(const LoopbackGrpcServer&) = delete;

  // False when the server did not start; ASSERT_TRUE(server.ok()) before using it.
  bool ok() const { return server_ != nullptr && port_ > 0; }
  int port() const { return port_; }
  // "127.0.0.1:PORT".
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  }

  // Stops serving and waits until it has: pending calls end at `deadline` when one is given,
  // else when they complete. Later calls do nothing.
  void Stop(std::optional<std::chrono::system_clock::time_point> deadline = std::nullopt) {
    if (server_ == nullptr || stopped_) {
      return;
    }
    stopped_ = true;
    if (deadline.has_value()) {
      server_->Shutdown(*deadline);
    } else {
      server_->Shutdown();
    }
    server_->Wait();
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  bool stopped_ = false;
};

}  // namespace bursar
