#pragma once

// GPU utilisation from Prometheus: a pure builder of instant queries (/api/v1/query), a pure
// parser of their instant-vector answers, a thin client over the kube::Transport seam, and the
// reduction of NVIDIA DCGM exporter series to a mean utilisation per pod.
//
// Pod labels of DCGM_FI_DEV_GPU_UTIL: the exporter labels a GPU's series with the pod using it
// as `namespace` / `pod` (exporters before 2.x: `pod_namespace` / `pod_name`). When Prometheus
// scrapes it without honor_labels, the scrape target's own `namespace` / `pod` labels (the
// exporter's pod) win and the exporter's are renamed `exported_namespace` / `exported_pod`.
// GpuUtilizationByPod therefore reads, per field, exported_* first, then the old names, then the
// plain ones.
// Pitfall: without honor_labels, an idle GPU's series has no pod of its own, so nothing is
// renamed and it carries the exporter's pod: scrape DCGM with honor_labels: true (the exporter's
// own labels are authoritative), or such series are attributed to the exporter pod.
// Thread-compatible free functions; PrometheusClient is thread-safe when its transport is.

#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/values/labels.h"
#include "operator/kube/transport.h"

namespace bursar::signals {

// Mean GPU utilisation (percent, 0-100) per pod and per the labels that may name it (see above);
// labels a series lacks group as empty.
inline constexpr char kDefaultDcgmQuery[] =
    "avg by (namespace, pod, exported_namespace, exported_pod, pod_namespace, pod_name) "
    "(DCGM_FI_DEV_GPU_UTIL)";

// GET <base_path>/api/v1/query?query=<percent-encoded promql>&time=<unix seconds, 3 decimals>,
// Accept: application/json. `base_path` is the URL path prefix under which the server answers
// ("" normally; "/prometheus" behind a path-routing proxy; or the API server's service proxy,
// "/api/v1/namespaces/monitoring/services/prometheus-k8s:9090/proxy"); a trailing '/' is
// dropped. An infinite `at` omits time: the server evaluates at its own now.
kube::HttpRequest BuildPrometheusQuery(std::string_view base_path, std::string_view promql,
                                       absl::Time at);

// One element of an instant vector: the series' labels (including __name__ when the query kept
// it), its value and the evaluation time.
struct PromSample {
  values::Labels labels;
  double value = 0;
  absl::Time time;
  bool operator==(const PromSample&) const = default;
};

// Parses the body of an instant query. A `"status":"error"` body becomes an error whose message
// holds Prometheus's errorType and error ("prometheus: bad_data: parse error ..."), with a code
// mapped from errorType (bad_data/execution: InvalidArgument, timeout: DeadlineExceeded,
// canceled: Cancelled, unavailable: Unavailable, not_found: NotFound, others: Internal). Not
// JSON, a result type other than "vector", or a malformed sample is InvalidArgument naming the
// place ("data.result[2].value[1]: ..."). Samples whose value is NaN or ±Inf (e.g. 0/0 in a
// ratio) are skipped: they carry no usable measurement. Warnings are ignored.
absl::StatusOr<std::vector<PromSample>> ParsePrometheusVector(std::string_view body);

// Sends instant queries to one Prometheus server through an injected transport (for example a
// kube::CppRestTransport created with server "http://prometheus.monitoring:9090"). The transport
// must outlive the client. Thread-safe when the transport is (CppRestTransport is).
class PrometheusClient {
 public:
  static constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);

  PrometheusClient(kube::Transport& transport, std::string base_path,
                   absl::Duration timeout = kDefaultTimeout);

  // Evaluates `promql` at `at`. Errors: the transport's (connection, timeout) with their code;
  // a non-2xx response maps its HTTP status (400/422: InvalidArgument, 401: Unauthenticated,
  // 403: PermissionDenied, 404: NotFound, 503 and other 5xx: Unavailable, 504:
  // DeadlineExceeded) and quotes Prometheus's errorType and error (or the start of a non-JSON
  // body); then ParsePrometheusVector's.
  absl::StatusOr<std::vector<PromSample>> Query(std::string_view promql, absl::Time at);

 private:
  kube::Transport& transport_;
  const std::string base_path_;
  const absl::Duration timeout_;
};

// Mean of the DCGM samples per pod, keyed "namespace/pod" (labels resolved as described at the
// top). Samples without both a namespace and a pod (unallocated GPUs) are ignored.
absl::flat_hash_map<std::string, double> GpuUtilizationByPod(
    const std::vector<PromSample>& samples);

}  // namespace bursar::signals
