#pragma once

// The settings of `bursar run` (the operator itself), from flags and an optional YAML file.
//
// Sources, weakest first: the defaults below, the environment ($KUBECONFIG, $POD_NAMESPACE),
// the file named by --config (the same settings in camelCase, see
// examples/operator/config.yaml), then the flags. ParseRunOptions resolves what depends on other
// settings or on the process, so callers see the real values: lookahead (zero means 2 x tick),
// identity ("<hostname>_<pid>"), lease_namespace and kubeconfig.
//
// Errors are collected, not stopped at: one InvalidArgument holds every problem, one per line,
// each naming where it came from: `--tick: ...` for a flag, `config.yaml:7: tick: ...` for the
// file (unknown keys get a "did you mean"), `$POD_NAMESPACE: ...` for the environment. A file
// value that a flag overrides must still be valid.
//
// Booleans are flags with an optional value: `--leader-elect` or `--leader-elect=false`
// (`--leader-elect false` is rejected with a hint, as in Go's flag package).
// Thread-compatible: plain data and pure functions (apart from reading the file).

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/reconcilers/plan_applier.h"
#include "operator/runtime/log.h"

namespace bursar::cmd {

struct RunOptions {
  // --kubeconfig; "" -> $KUBECONFIG (resolved here), and still "" -> in-cluster config.
  std::string kubeconfig;
  // --context; "" -> the kubeconfig's current-context.
  std::string context;
  // --tick: the metering and reconcile interval, 100ms to 10m.
  absl::Duration tick = absl::Seconds(15);
  // --lookahead: how far ahead enforcement looks, at least tick; zero (the default) resolves to
  // 2 x tick.
  absl::Duration lookahead = absl::ZeroDuration();
  // --status-interval: a ComputeBudget status whose spend alone moved is written at most this
  // often (0: every pass); decisions are written at once (plan_applier.h). 0 to 10m.
  absl::Duration status_interval = reconcilers::kDefaultStatusInterval;
  // --leader-elect[=true|false]
  bool leader_elect = true;
  // --pod-protobuf[=true|false]: read Pods in protobuf rather than JSON (docs/operations.md).
  bool pod_protobuf = true;
  // --leader-election-namespace (a DNS-1123 label); default $POD_NAMESPACE when set.
  std::string lease_namespace = "bursar-system";
  // --leader-election-id: the Lease's name (a DNS-1123 subdomain).
  std::string lease_name = "bursar-operator";
  // --id: this replica's holder identity; "" (the default) resolves to "<hostname>_<pid>".
  std::string identity;
  // --health-addr HOST:PORT serving /healthz, /readyz and /metrics. An empty host is every
  // interface; an IPv6 host is bracketed ("[::1]:8081"); port 0 is any free port.
  std::string health_addr = ":8081";
  // --grpc-addr HOST:PORT for bursar.v1.Signals and bursar.v1.Budgets; "off" disables them.
  std::string grpc_addr = ":9090";
  // --grpc-tls-cert-file / --grpc-tls-key-file: the gRPC server's PEM certificate chain and key
  // (the chart mounts the TLS Secret here). Re-read when they change (a renewed Secret).
  std::string grpc_tls_cert_file = "/etc/bursar/grpc-tls/tls.crt";
  std::string grpc_tls_key_file = "/etc/bursar/grpc-tls/tls.key";
  // --grpc-plaintext: serve gRPC without TLS, for local demos only (logged as a warning).
  bool grpc_plaintext = false;
  // --grpc-client-auth token|none: "token" (the default) requires a Kubernetes bearer token,
  // checked with TokenReview and SubjectAccessReview; "none" trusts anyone who reaches the port.
  std::string grpc_client_auth = "token";
  // --grpc-token-audience: accept only tokens minted for this audience; "" accepts the API
  // server's own audience (a pod's default ServiceAccount token).
  std::string grpc_token_audience;
  // --prometheus-url http(s)://HOST[:PORT][/PREFIX], without a trailing '/'; "" means no DCGM
  // utilisation.
  std::string prometheus_url;
  // --prometheus-ca-file: PEM bundle for an https Prometheus ("" = the system's trust store).
  std::string prometheus_ca_file;
  // --dcgm-query; "" means the default query of controllers/signals/prometheus.h.
  std::string dcgm_query;
  // --metrics-api[=true|false]: read pod cpu/memory usage from metrics.k8s.io.
  bool metrics_api = false;
  runtime::LogLevel log_level = runtime::LogLevel::kInfo;     // --log-level
  runtime::LogFormat log_format = runtime::LogFormat::kJson;  // --log-format
  // --shutdown-grace: how long a SIGTERM waits for in-flight work before exiting.
  absl::Duration shutdown_grace = absl::Seconds(10);
  // --webhook-cert-dir DIR: serve the admission webhook over TLS with DIR/tls.crt and
  // DIR/tls.key (the names of a kubernetes.io/tls Secret), re-read for every new connection so a
  // renewed certificate is used without a restart; "" (the default) serves no webhook.
  std::string webhook_cert_dir;
  // --webhook-addr HOST:PORT: where the webhook listens (as --health-addr: an empty host is
  // every interface, port 0 any free port).
  std::string webhook_addr = ":9443";
  // --address-file FILE: after start-up, write "health=HOST:PORT\ngrpc=HOST:PORT\n" and
  // "webhook=HOST:PORT\n" when it serves one (for tests
  // that use port 0).
  std::string address_file;

  // The admission webhook's serving certificate (operator/runtime/serving_cert_manager.h).
  // --webhook-certs self|external: "self" makes a CA and leaf, keeps them in the Secret
  // --webhook-cert-secret (in the operator's namespace, as the Lease), writes tls.crt/tls.key into
  // --webhook-cert-dir and the CA into caBundle of --webhook-configurations; "external" (the
  // default, and the chart's choice with cert-manager) leaves all of that to someone else.
  std::string webhook_certs = "external";
  // (--webhook-cert-dir, above: where the manager writes tls.crt and tls.key for the server.)
  // --webhook-cert-secret (a DNS-1123 subdomain).
  std::string webhook_cert_secret = "bursar-webhook-tls";
  // --webhook-service: the Service the API server dials (a DNS-1123 label); names the leaf's SANs.
  std::string webhook_service = "bursar-webhook";
  // --webhook-configurations: "mutating/NAME" and "validating/NAME", comma-separated.
  std::vector<std::string> webhook_configurations;
  // --webhook-cert-validity / --webhook-ca-validity: lifetimes of the leaf and the CA; each is
  // renewed when less than a third is left. The CA lives at least twice as long as the leaf.
  absl::Duration webhook_cert_validity = absl::Hours(24 * 90);
  absl::Duration webhook_ca_validity = absl::Hours(24 * 365 * 10);
};

inline constexpr absl::Duration kMinWebhookCertValidity = absl::Seconds(10);

inline constexpr absl::Duration kMinTick = absl::Milliseconds(100);
inline constexpr absl::Duration kMaxTick = absl::Minutes(10);
inline constexpr absl::Duration kMaxStatusInterval = absl::Minutes(10);

// Reads the environment; empty values count as unset.
using GetenvFn = std::function<std::optional<std::string>(std::string_view)>;

// `argv` holds the arguments after "run". `getenv` is consulted for KUBECONFIG and
// POD_NAMESPACE only; `--help` is not handled here (check for it first).
absl::StatusOr<RunOptions> ParseRunOptions(const std::vector<std::string>& argv,
                                           const GetenvFn& getenv);

// std::getenv, for main.
std::optional<std::string> ProcessGetenv(std::string_view name);

// The help text of `bursar run`: every flag with its default, wrapped at 100 columns.
std::string RunUsage();

}  // namespace bursar::cmd
