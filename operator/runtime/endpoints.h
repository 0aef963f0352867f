#pragma once

// The operator's one HTTP listener: /healthz (the process is alive and its work moves on: every
// liveness check passes, e.g. the budget loop completed a pass lately), /readyz (every
// registered readiness check passes: caches synced, leader election running, ...) and /metrics
// (the Prometheus registry). A failing /healthz makes the kubelet restart the container, so a
// liveness check fails only for what a restart cures (a wedged loop), never for a slow start
// or an unreachable dependency: /readyz covers those. ServeEndpoint is a pure dispatcher, tested
// without a socket; the listener itself comes from kube::StartHttpServer (the one cpprestsdk file).
// Also: the client-side metrics of Kubernetes API requests, attached to an ApiClient as its
// Observer. Thread-safe once built: checks may be added before serving starts only.

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/kube/client.h"
#include "operator/kube/http_server.h"
#include "operator/runtime/metrics.h"

namespace bursar::runtime {

// A named readiness check; returns "" when ready, else why not (shown by /readyz).
struct ReadinessCheck {
  std::string name;
  std::function<std::string()> not_ready_reason;
};

// A named liveness check; returns "" when alive, else one line saying why not (the body of a
// failing /healthz).
struct LivenessCheck {
  std::string name;
  std::function<std::string()> not_alive_reason;
};

class Endpoints {
 public:
  explicit Endpoints(const Registry* registry) : registry_(registry) {}

  void AddReadinessCheck(ReadinessCheck check) { checks_.push_back(std::move(check)); }
  void AddLivenessCheck(LivenessCheck check) { liveness_.push_back(std::move(check)); }

  // /healthz (and /livez) -> 200 "ok", or 500 with the failing liveness checks' reasons on one
  // line ("name: reason", joined by "; "); /readyz -> 200 with one "[+]name ok" line per check, or
  // 503 with
  // "[-]name: reason" for the failing ones (the kube-apiserver's format); /metrics -> the
  // registry; anything else -> 404.
  kube::HttpServerResponse Serve(std::string_view path) const;
  kube::HttpHandler Handler() const {
    return [this](std::string_view path) { return Serve(path); };
  }

 private:
  const Registry* registry_;
  std::vector<ReadinessCheck> checks_;
  std::vector<LivenessCheck> liveness_;
};

// Counts and times every Kubernetes API request by verb and HTTP status class:
// bursar_kube_requests_total{verb,code} and bursar_kube_request_duration_seconds{verb}.
// `code` is the status ("200", "409", ...) or "error" when the transport failed.
absl::StatusOr<kube::ApiClient::Observer> MakeRequestMetricsObserver(Registry* registry);

}  // namespace bursar::runtime
