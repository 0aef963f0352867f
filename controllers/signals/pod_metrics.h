#pragma once

// CPU and memory usage of pods from the resource metrics API (metrics.k8s.io/v1beta1, served by
// metrics-server or prometheus-adapter through the API server's aggregation layer): a pure
// request builder and a pure parser of the PodMetricsList; send the request with the API
// client's transport.
//
// Meaning: usage.cpu is the mean rate over `window` ending at `timestamp` (in cores, "250m" or
// "5n"), usage.memory the working set at `timestamp` ("123456Ki"). A pod appears only once the
// metrics server has two samples of it, so new pods are missing for a scrape or two.
// Pitfall: the API is served only when a metrics server is installed; without one the request
// fails with 404 (or 503 while its APIService is unavailable).
// Thread-compatible free functions.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/values/quantity.h"
#include "operator/kube/transport.h"

namespace bursar::signals {

// GET /apis/metrics.k8s.io/v1beta1/pods (every namespace), Accept: application/json.
kube::HttpRequest BuildPodMetricsList();

struct ContainerUsage {
  std::string name;
  values::Quantity cpu;
  values::Quantity memory;
  bool operator==(const ContainerUsage&) const = default;
};

struct PodUsage {
  std::string namespace_name;
  std::string name;
  absl::Time timestamp;
  absl::Duration window;
  std::vector<ContainerUsage> containers;
  bool operator==(const PodUsage&) const = default;
};

// Parses a PodMetricsList. Required per item: metadata.namespace, metadata.name, timestamp
// (RFC 3339), window (a Go duration such as "10.062s" or "1m0s"), and per container name,
// usage.cpu and usage.memory (Quantities); `items` or `containers` absent or null means none;
// a `kind` other than PodMetricsList is refused. Errors are InvalidArgument naming the item and
// field ("PodMetricsList: items[3].containers[0].usage.cpu: quantity \"x\": ..."). Other
// fields and other usage resources are ignored.
absl::StatusOr<std::vector<PodUsage>> ParsePodMetricsList(std::string_view body);

// Sends BuildPodMetricsList() through `transport` (an API server's) and parses the answer. A
// non-2xx answer is Unavailable, with the status and the start of the body ("metrics.k8s.io
// answered HTTP 503: service unavailable"); a transport error is returned as it is.
absl::StatusOr<std::vector<PodUsage>> FetchPodMetrics(kube::Transport& transport,
                                                      absl::Duration timeout);

}  // namespace bursar::signals
