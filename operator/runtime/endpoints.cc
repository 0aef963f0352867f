#include "operator/runtime/endpoints.h"

#include "absl/strings/str_cat.h"

namespace bursar::runtime {

kube::HttpServerResponse Endpoints::Serve(std::string_view path) const {
  // Probes may carry a query (?verbose); it does not change the answer.
  path = path.substr(0, path.find('?'));
  if (path == "/healthz" || path == "/livez") {
    std::string failing;
    for (const LivenessCheck& check : liveness_) {
      std::string reason = check.not_alive_reason();
      if (!reason.empty()) {
        absl::StrAppend(&failing, failing.empty() ? "" : "; ", check.name, ": ", reason);
      }
    }
    if (!failing.empty()) {
      return {500, "", absl::StrCat(failing, "\n")};
    }
    return {200, "", "ok\n"};
  }
  if (path == "/readyz") {
    std::string body;
    bool ready = true;
    for (const ReadinessCheck& check : checks_) {
      std::string reason = check.not_ready_reason();
      if (reason.empty()) {
        absl::StrAppend(&body, "[+]", check.name, " ok\n");
      } else {
        ready = false;
        absl::StrAppend(&body, "[-]", check.name, ": ", reason, "\n");
      }
    }
    absl::StrAppend(&body, ready ? "readyz check passed\n" : "readyz check failed\n");
    return {ready ? 200 : 503, "", body};
  }
  if (path == "/metrics") {
    return {200, kMetricsContentType, registry_ == nullptr ? "" : registry_->Render()};
  }
  return {404, "", absl::StrCat("not found: ", std::string(path), "\n")};
}

absl::StatusOr<kube::ApiClient::Observer> MakeRequestMetricsObserver(Registry* registry) {
  absl::StatusOr<CounterFamily*> requests =
      registry->AddCounter("bursar_kube_requests_total",
                           "Kubernetes API requests sent, by HTTP verb and response code "
                           "(\"error\" when the transport failed).",
                           {"verb", "code"});
  if (!requests.ok()) {
    return requests.status();
  }
  absl::StatusOr<HistogramFamily*> latency = registry->AddHistogram(
      "bursar_kube_request_duration_seconds",
      "Latency of Kubernetes API requests (headers received, for watches), by HTTP verb.", {"verb"},
      ExponentialBuckets(0.001, 2, 15));
  if (!latency.ok()) {
    return latency.status();
  }
  CounterFamily* counts = *requests;
  HistogramFamily* durations = *latency;
  return kube::ApiClient::Observer(
      [counts, durations](const kube::HttpRequest& request, int status, absl::Duration took) {
        std::string code = status == 0 ? "error" : absl::StrCat(status);
        counts->WithLabels({request.method, code}).Increment();
        durations->WithLabels({request.method}).Observe(absl::ToDoubleSeconds(took));
      });
}

}  // namespace bursar::runtime
