#include "operator/cmd/run_options.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "controllers/api/field_reader.h"
#include "controllers/engine/budget_step.h"
#include "controllers/values/duration.h"
#include "controllers/values/host_port.h"
#include "controllers/values/validation.h"
#include "operator/cmd/args.h"
#include "operator/cmd/run_option_checks.h"
#include "operator/runtime/serving_cert_manager.h"
#include "operator/yaml/yaml.h"

namespace bursar::cmd {
namespace {

using api::Quote;
using values::AbslView;

// One setting: its flag, its key in the config file, and its help. `metavar` is empty for
// boolean flags. `default_text` renders the default for the help text.
struct Setting {
  std::string_view flag;
  std::string_view key;
  std::string_view metavar;
  std::string_view help;
  std::string (*default_text)(const RunOptions&);
};

constexpr Setting kKubeconfig{
    "kubeconfig", "kubeconfig", "FILE", "The kubeconfig to connect with.",
    [](const RunOptions&) -> std::string { return "$KUBECONFIG, else the pod's service account"; }};
constexpr Setting kContext{"context", "context", "NAME", "The kubeconfig context to use.",
                           [](const RunOptions&) -> std::string { return "current-context"; }};
constexpr Setting kTick{"tick", "tick", "DURATION",
                        "How often to meter spend and reconcile budgets, 100ms to 10m.",
                        [](const RunOptions& d) { return values::FormatDuration(d.tick); }};
constexpr Setting kLookahead{"lookahead", "lookahead", "DURATION",
                             "How far ahead enforcement looks when it projects spend; at least "
                             "the tick, 0 means twice the tick. A budget whose running pods take "
                             "longer than a tick to stop (terminationGracePeriodSeconds) looks "
                             "a tick plus that far ahead. Longer rides through a longer API "
                             "server outage at a Drain line, at the price of acting earlier "
                             "(docs/operations.md: an outage at the Drain line).",
                             [](const RunOptions&) -> std::string { return "2 x tick"; }};
constexpr Setting kStatusInterval{
    "status-interval", "statusInterval", "DURATION",
    "How often a budget's status is written when only its spend moved (spent, forecast, the "
    "ledger checkpoint), 0 to 10m; 0 writes every pass. Phases, conditions, actions, "
    "allowances, a new period and pods starting or ending are written at once. A restart "
    "re-meters from the last checkpoint written (docs/operations.md).",
    [](const RunOptions& d) { return values::FormatDuration(d.status_interval); }};
constexpr Setting kLeaderElect{
    "leader-elect", "leaderElect", "",
    "Take a Lease before acting, so that only one replica actuates at a time.",
    [](const RunOptions& d) -> std::string { return d.leader_elect ? "true" : "false"; }};
constexpr Setting kPodProtobuf{
    "pod-protobuf", "podProtobuf", "",
    "Read Pods (lists and watches) in Kubernetes' protobuf encoding, as client-go does; false "
    "reads JSON. Both give the same cache; protobuf costs the API server less to encode and "
    "syncs faster (docs/benchmarks.md).",
    [](const RunOptions& d) -> std::string { return d.pod_protobuf ? "true" : "false"; }};
constexpr Setting kLeaseNamespace{
    "leader-election-namespace", "leaderElectionNamespace", "NAMESPACE",
    "The namespace of the leader-election Lease.",
    [](const RunOptions& d) { return absl::StrCat("$POD_NAMESPACE, else ", d.lease_namespace); }};
constexpr Setting kLeaseName{"leader-election-id", "leaderElectionId", "NAME",
                             "The name of the leader-election Lease (a DNS-1123 subdomain).",
                             [](const RunOptions& d) { return d.lease_name; }};
constexpr Setting kIdentity{"id", "id", "NAME", "This replica's identity as a Lease holder.",
                            [](const RunOptions&) -> std::string { return "<hostname>_<pid>"; }};
constexpr Setting kHealthAddr{
    "health-addr", "healthAddr", "HOST:PORT",
    "Where to serve /healthz, /readyz and /metrics. An empty host listens on every interface, "
    "port 0 on any free port; bracket IPv6 hosts ([::1]:8081).",
    [](const RunOptions& d) { return d.health_addr; }};
constexpr Setting kGrpcAddr{
    "grpc-addr", "grpcAddr", "HOST:PORT|off",
    "Where to serve the bursar.v1.Signals and bursar.v1.Budgets gRPC services; off disables them.",
    [](const RunOptions& d) { return d.grpc_addr; }};
constexpr Setting kGrpcTlsCertFile{
    "grpc-tls-cert-file", "grpcTlsCertFile", "FILE",
    "The gRPC server's PEM certificate chain; re-read when it changes.",
    [](const RunOptions& d) { return d.grpc_tls_cert_file; }};
constexpr Setting kGrpcTlsKeyFile{
    "grpc-tls-key-file", "grpcTlsKeyFile", "FILE",
    "The private key of --grpc-tls-cert-file (PEM); re-read when it changes.",
    [](const RunOptions& d) { return d.grpc_tls_key_file; }};
constexpr Setting kGrpcPlaintext{
    "grpc-plaintext", "grpcPlaintext", "",
    "Serve gRPC without TLS. Only for local demos: tokens and reports cross the network in clear.",
    [](const RunOptions& d) -> std::string { return d.grpc_plaintext ? "true" : "false"; }};
constexpr Setting kGrpcClientAuth{
    "grpc-client-auth", "grpcClientAuth", "token|none",
    "token: callers send a Kubernetes bearer token, checked with TokenReview and "
    "SubjectAccessReview (docs/security.md). none: anyone who reaches the port may unlock "
    "retraining reserves.",
    [](const RunOptions& d) { return d.grpc_client_auth; }};
constexpr Setting kGrpcTokenAudience{
    "grpc-token-audience", "grpcTokenAudience", "NAME",
    "Accept only bearer tokens minted for this audience (TokenRequest audiences).",
    [](const RunOptions&) -> std::string { return "the API server's own audience"; }};
constexpr Setting kPrometheusUrl{
    "prometheus-url", "prometheusUrl", "URL",
    "http(s)://HOST:PORT[/PREFIX] of the Prometheus that scrapes DCGM, for GPU utilisation.",
    [](const RunOptions&) -> std::string { return "none (no utilisation)"; }};
constexpr Setting kPrometheusCaFile{
    "prometheus-ca-file", "prometheusCaFile", "FILE",
    "PEM certificates to verify an https Prometheus with.",
    [](const RunOptions&) -> std::string { return "the system's trust store"; }};
constexpr Setting kDcgmQuery{
    "dcgm-query", "dcgmQuery", "PROMQL", "The PromQL query for per-pod GPU utilisation.",
    [](const RunOptions&) -> std::string { return "the built-in DCGM_FI_DEV_GPU_UTIL query"; }};
constexpr Setting kMetricsApi{
    "metrics-api", "metricsApi", "",
    "Read pod CPU and memory usage from metrics.k8s.io (metrics-server).",
    [](const RunOptions& d) -> std::string { return d.metrics_api ? "true" : "false"; }};
constexpr Setting kLogLevel{
    "log-level", "logLevel", "debug|info|warn|error", "The least severe log records to write.",
    [](const RunOptions& d) { return std::string(runtime::LogLevelName(d.log_level)); }};
constexpr Setting kLogFormat{
    "log-format", "logFormat", "json|text", "One JSON object per line, or text for people.",
    [](const RunOptions& d) { return std::string(runtime::LogFormatName(d.log_format)); }};
constexpr Setting kShutdownGrace{
    "shutdown-grace", "shutdownGrace", "DURATION",
    "How long SIGTERM waits for in-flight work before the process exits.",
    [](const RunOptions& d) { return values::FormatDuration(d.shutdown_grace); }};
constexpr Setting kWebhookCertDir{
    "webhook-cert-dir", "webhookCertDir", "DIR",
    "Serve the admission webhook over TLS with DIR/tls.crt and DIR/tls.key, re-read for every "
    "new connection (a renewed certificate needs no restart). Without it no webhook is served.",
    [](const RunOptions&) -> std::string { return "none (no webhook)"; }};
constexpr Setting kWebhookAddr{
    "webhook-addr", "webhookAddr", "HOST:PORT",
    "Where the admission webhook listens (with --webhook-cert-dir). An empty host listens on "
    "every interface, port 0 on any free port.",
    [](const RunOptions& d) { return d.webhook_addr; }};
constexpr Setting kAddressFile{
    "address-file", "addressFile", "FILE",
    "After start-up, write \"health=HOST:PORT\", \"grpc=HOST:PORT\" and (with a webhook) "
    "\"webhook=HOST:PORT\" lines here (the ports really bound, for tests that listen on port 0).",
    [](const RunOptions&) -> std::string { return "none"; }};

constexpr Setting kWebhookCerts{
    "webhook-certs", "webhookCerts", "self|external",
    "Who provides the admission webhook's serving certificate. self: Bursar makes a CA and a "
    "certificate, keeps them in --webhook-cert-secret, writes them into --webhook-cert-dir on "
    "every replica, puts the CA into caBundle of --webhook-configurations (the leader) and "
    "rotates them before expiry. external: cert-manager (or anything else) writes "
    "--webhook-cert-dir and caBundle; Bursar touches neither.",
    [](const RunOptions& d) { return d.webhook_certs; }};
constexpr Setting kWebhookCertSecret{
    "webhook-cert-secret", "webhookCertSecret", "NAME",
    "With --webhook-certs=self: the Secret (in the operator's namespace, "
    "--leader-election-namespace) holding ca.crt, ca.key, tls.crt and tls.key.",
    [](const RunOptions& d) { return d.webhook_cert_secret; }};
constexpr Setting kWebhookService{
    "webhook-service", "webhookService", "NAME",
    "With --webhook-certs=self: the webhook's Service, in the operator's namespace; the "
    "certificate names NAME, NAME.NAMESPACE, NAME.NAMESPACE.svc and "
    "NAME.NAMESPACE.svc.cluster.local.",
    [](const RunOptions& d) { return d.webhook_service; }};
constexpr Setting kWebhookConfigurations{
    "webhook-configurations", "webhookConfigurations", "mutating/NAME,validating/NAME",
    "With --webhook-certs=self: the MutatingWebhookConfigurations and "
    "ValidatingWebhookConfigurations whose caBundle the leader fills (every webhook in them); "
    "no other object is touched.",
    [](const RunOptions&) -> std::string { return "none"; }};
constexpr Setting kWebhookCertValidity{
    "webhook-cert-validity", "webhookCertValidity", "DURATION",
    "With --webhook-certs=self: how long a serving certificate is valid (at least 10s); a new "
    "one is issued when less than a third is left.",
    [](const RunOptions& d) { return values::FormatDuration(d.webhook_cert_validity); }};
constexpr Setting kWebhookCaValidity{
    "webhook-ca-validity", "webhookCaValidity", "DURATION",
    "With --webhook-certs=self: how long the CA is valid, at least twice "
    "--webhook-cert-validity; renewed when less than a third is left, the old CA staying in "
    "caBundle until it expires.",
    [](const RunOptions& d) { return values::FormatDuration(d.webhook_ca_validity); }};

constexpr const Setting* kSettings[] = {
    &kKubeconfig,
    &kContext,
    &kTick,
    &kLookahead,
    &kStatusInterval,
    &kLeaderElect,
    &kLeaseNamespace,
    &kLeaseName,
    &kIdentity,
    &kHealthAddr,
    &kGrpcAddr,
    &kGrpcTlsCertFile,
    &kGrpcTlsKeyFile,
    &kGrpcPlaintext,
    &kGrpcClientAuth,
    &kGrpcTokenAudience,
    &kPrometheusUrl,
    &kPrometheusCaFile,
    &kDcgmQuery,
    &kMetricsApi,
    &kLogLevel,
    &kLogFormat,
    &kShutdownGrace,
    &kWebhookCertDir,
    &kWebhookAddr,
    &kAddressFile,
    &kPodProtobuf,
    // The webhook's serving certificate.
    &kWebhookCerts,
    &kWebhookCertSecret,
    &kWebhookService,
    &kWebhookConfigurations,
    &kWebhookCertValidity,
    &kWebhookCaValidity,
};

constexpr std::string_view kConfigFlag = "config";

constexpr api::EnumSpelling<runtime::LogLevel> kLevelSpellings[] = {
    {runtime::LogLevel::kDebug, "debug"},
    {runtime::LogLevel::kInfo, "info"},
    {runtime::LogLevel::kWarn, "warn"},
    {runtime::LogLevel::kError, "error"},
};
constexpr api::EnumSpelling<runtime::LogFormat> kFormatSpellings[] = {
    {runtime::LogFormat::kJson, "json"},
    {runtime::LogFormat::kText, "text"},
};

bool IsBoolean(const Setting& s) {
  return s.metavar.empty();
}

// -------------------------------------------------------------------------------------------
// Sources: the file and the flags, read by one function (ReadSettings).

class SettingSource {
 public:
  virtual ~SettingSource() = default;
  // Each reader returns true when the setting is present and of the right type (then *out is
  // set); type errors are reported by the source.
  virtual bool String(const Setting& s, std::string* out) = 0;
  virtual bool Duration(const Setting& s, absl::Duration* out) = 0;
  virtual bool Bool(const Setting& s, bool* out) = 0;
  virtual bool Level(const Setting& s, runtime::LogLevel* out) = 0;
  virtual bool Format(const Setting& s, runtime::LogFormat* out) = 0;
  virtual void Error(const Setting& s, std::string_view reason) = 0;
  // Where the setting's value came from, as a message prefix: "--tick" or "run.yaml:3: tick".
  virtual std::string Where(const Setting& s) const = 0;
};

class FlagSource final : public SettingSource {
 public:
  FlagSource(const Args& args, std::vector<std::string>* errors) : args_(args), errors_(errors) {}

  bool String(const Setting& s, std::string* out) override {
    std::optional<std::string> v = args_.Get(s.flag);
    if (!v.has_value()) {
      return false;
    }
    *out = *std::move(v);
    return true;
  }
  bool Duration(const Setting& s, absl::Duration* out) override {
    return Parse(s, out, values::ParseDuration);
  }
  bool Bool(const Setting& s, bool* out) override {
    return Parse(s, out, [](std::string_view v) -> absl::StatusOr<bool> {
      if (v == "true" || v == "false") {
        return v == "true";
      }
      return absl::InvalidArgumentError(absl::StrCat(Quote(v), " is not true or false"));
    });
  }
  bool Level(const Setting& s, runtime::LogLevel* out) override {
    return Parse(s, out, runtime::ParseLogLevel);
  }
  bool Format(const Setting& s, runtime::LogFormat* out) override {
    return Parse(s, out, runtime::ParseLogFormat);
  }
  void Error(const Setting& s, std::string_view reason) override {
    errors_->push_back(absl::StrCat(Where(s), ": ", AbslView(reason)));
  }
  std::string Where(const Setting& s) const override {
    return absl::StrCat("--", AbslView(s.flag));
  }

 private:
  template <typename T, typename ParseFn>
  bool Parse(const Setting& s, T* out, ParseFn parse) {
    std::optional<std::string> v = args_.Get(s.flag);
    if (!v.has_value()) {
      return false;
    }
    absl::StatusOr<T> parsed = parse(*v);
    if (!parsed.ok()) {
      Error(s, values::StdView(parsed.status().message()));
      return false;
    }
    *out = *parsed;
    return true;
  }

  const Args& args_;
  std::vector<std::string>* errors_;
};

class FileSource final : public SettingSource {
 public:
  FileSource(const json::Value& doc, std::string path, api::DecodeErrors* errors)
      : doc_(doc), path_(std::move(path)), reader_(&doc, "", errors, true) {}

  bool String(const Setting& s, std::string* out) override {
    return reader_.String(s.key, out) && !reader_.Invalid(s.key);
  }
  bool Duration(const Setting& s, absl::Duration* out) override {
    return reader_.Duration(s.key, out) && !reader_.Invalid(s.key);
  }
  bool Bool(const Setting& s, bool* out) override {
    return reader_.Bool(s.key, out) && !reader_.Invalid(s.key);
  }
  bool Level(const Setting& s, runtime::LogLevel* out) override {
    return reader_.Enum(s.key, out, kLevelSpellings) && !reader_.Invalid(s.key);
  }
  bool Format(const Setting& s, runtime::LogFormat* out) override {
    return reader_.Enum(s.key, out, kFormatSpellings) && !reader_.Invalid(s.key);
  }
  void Error(const Setting& s, std::string_view reason) override { reader_.Error(s.key, reason); }
  std::string Where(const Setting& s) const override {
    const json::Value* v = doc_.Find(s.key);
    int line = v != nullptr && v->line() > 0 ? v->line() : doc_.line();
    return absl::StrCat(path_, ":", line, ": ", AbslView(s.key));
  }
  // Reports the keys that no setting read.
  void Finish() { reader_.Finish(); }

 private:
  const json::Value& doc_;
  std::string path_;
  api::ObjectReader reader_;
};

// Where the values that cross-field rules look at came from ("" = the default).
struct Origins {
  std::string tick;
  bool tick_valid = true;
  std::string lookahead;
  std::string prometheus_ca_file;
  bool lease_namespace_set = false;
};

void Check(SettingSource& src, const Setting& s, const std::string& reason) {
  if (!reason.empty()) {
    src.Error(s, reason);
  }
}

void ReadWebhookCertSettings(SettingSource& src, RunOptions* o) {
  if (src.String(kWebhookCerts, &o->webhook_certs) && o->webhook_certs != "self" &&
      o->webhook_certs != "external") {
    src.Error(kWebhookCerts,
              absl::StrCat("must be self or external (got ", Quote(o->webhook_certs), ")"));
  }
  if (src.String(kWebhookCertSecret, &o->webhook_cert_secret)) {
    Check(src, kWebhookCertSecret, CheckDnsSubdomain(o->webhook_cert_secret));
  }
  if (src.String(kWebhookService, &o->webhook_service)) {
    Check(src, kWebhookService, CheckDnsLabel(o->webhook_service));
  }
  if (std::string list; src.String(kWebhookConfigurations, &list)) {
    o->webhook_configurations.clear();
    for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
      std::string ref(absl::StripAsciiWhitespace(item));
      std::optional<runtime::WebhookConfigurationRef> parsed =
          runtime::ParseWebhookConfigurationRef(ref);
      std::string why = parsed.has_value() ? CheckDnsSubdomain(parsed->name) : "";
      if (!parsed.has_value()) {
        src.Error(kWebhookConfigurations,
                  absl::StrCat(Quote(ref), " is not mutating/NAME or validating/NAME"));
      } else if (!why.empty()) {
        src.Error(kWebhookConfigurations, absl::StrCat(Quote(ref), ": ", why));
      } else {
        o->webhook_configurations.push_back(ref);
      }
    }
  }
  if (src.Duration(kWebhookCertValidity, &o->webhook_cert_validity) &&
      o->webhook_cert_validity < kMinWebhookCertValidity) {
    src.Error(kWebhookCertValidity,
              absl::StrCat("must be at least ", values::FormatDuration(kMinWebhookCertValidity),
                           " (got ", values::FormatDuration(o->webhook_cert_validity), ")"));
  }
  src.Duration(kWebhookCaValidity, &o->webhook_ca_validity);  // checked against the leaf below
}

// Reads every setting `src` holds into `o`, checking each value on its own.
void ReadSettings(SettingSource& src, RunOptions* o, Origins* origins) {
  src.String(kKubeconfig, &o->kubeconfig);
  src.String(kContext, &o->context);
  if (src.Duration(kTick, &o->tick)) {
    origins->tick = src.Where(kTick);
    std::string why = CheckTick(o->tick);
    origins->tick_valid = why.empty();
    Check(src, kTick, why);
  }
  if (src.Duration(kLookahead, &o->lookahead)) {
    origins->lookahead = src.Where(kLookahead);
  }
  if (src.Duration(kStatusInterval, &o->status_interval) &&
      o->status_interval > kMaxStatusInterval) {
    src.Error(kStatusInterval,
              absl::StrCat("must be at most ", values::FormatDuration(kMaxStatusInterval), " (got ",
                           values::FormatDuration(o->status_interval), ")"));
  }
  src.Bool(kLeaderElect, &o->leader_elect);
  src.Bool(kPodProtobuf, &o->pod_protobuf);
  if (src.String(kLeaseNamespace, &o->lease_namespace)) {
    origins->lease_namespace_set = true;
    Check(src, kLeaseNamespace, CheckDnsLabel(o->lease_namespace));
  }
  if (src.String(kLeaseName, &o->lease_name)) {
    Check(src, kLeaseName, CheckDnsSubdomain(o->lease_name));
  }
  src.String(kIdentity, &o->identity);  // "" means the default, as for the kubeconfig
  if (src.String(kHealthAddr, &o->health_addr)) {
    Check(src, kHealthAddr, CheckListenAddress(o->health_addr));
  }
  if (src.String(kGrpcAddr, &o->grpc_addr)) {
    Check(src, kGrpcAddr, CheckGrpcAddress(o->grpc_addr));
  }
  src.String(kGrpcTlsCertFile, &o->grpc_tls_cert_file);
  src.String(kGrpcTlsKeyFile, &o->grpc_tls_key_file);
  src.Bool(kGrpcPlaintext, &o->grpc_plaintext);
  if (src.String(kGrpcClientAuth, &o->grpc_client_auth) && o->grpc_client_auth != "token" &&
      o->grpc_client_auth != "none") {
    src.Error(kGrpcClientAuth,
              absl::StrCat("must be token or none (got ", Quote(o->grpc_client_auth), ")"));
  }
  src.String(kGrpcTokenAudience, &o->grpc_token_audience);
  if (std::string url; src.String(kPrometheusUrl, &url)) {
    if (url.empty()) {
      o->prometheus_url.clear();
    } else if (absl::StatusOr<std::string> normal = NormalizePrometheusUrl(url); normal.ok()) {
      o->prometheus_url = *std::move(normal);
    } else {
      src.Error(kPrometheusUrl, values::StdView(normal.status().message()));
    }
  }
  if (src.String(kPrometheusCaFile, &o->prometheus_ca_file)) {
    origins->prometheus_ca_file = src.Where(kPrometheusCaFile);
  }
  src.String(kDcgmQuery, &o->dcgm_query);
  src.Bool(kMetricsApi, &o->metrics_api);
  src.Level(kLogLevel, &o->log_level);
  src.Format(kLogFormat, &o->log_format);
  src.Duration(kShutdownGrace, &o->shutdown_grace);  // ParseDuration rejects negatives
  src.String(kWebhookCertDir, &o->webhook_cert_dir);
  if (src.String(kWebhookAddr, &o->webhook_addr)) {
    Check(src, kWebhookAddr, CheckListenAddress(o->webhook_addr));
  }
  src.String(kAddressFile, &o->address_file);
  ReadWebhookCertSettings(src, o);
}

// Reads --config FILE into `o`; file problems go to `errors`, others to `messages`.
void ReadConfigFile(const std::string& path, RunOptions* o, Origins* origins,
                    api::DecodeErrors* errors, std::vector<std::string>* messages) {
  absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(path);
  if (!docs.ok()) {
    messages->push_back(absl::StrCat("--config: ", docs.status().message()));
    return;
  }
  if (docs->empty()) {
    return;  // an empty file (or only comments) changes nothing
  }
  if (docs->size() > 1) {
    messages->push_back(absl::StrCat(path, ":", (*docs)[1].line(),
                                     ": a config file holds one document, found ", docs->size()));
    return;
  }
  FileSource file(docs->front(), path, errors);
  ReadSettings(file, o, origins);
  file.Finish();
}

std::string Hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') {
    return "localhost";
  }
  return buf;
}

std::vector<std::string> FlagNames(bool booleans) {
  std::vector<std::string> out;
  for (const Setting* s : kSettings) {
    if (IsBoolean(*s) == booleans) {
      out.emplace_back(s->flag);
    }
  }
  if (!booleans) {
    out.emplace_back(kConfigFlag);
  }
  return out;
}

// Words of `text` wrapped to `width` columns, each line indented by `indent` spaces.
void AppendWrapped(std::string& out, std::string_view text, size_t indent, size_t width) {
  size_t column = 0;
  for (absl::string_view word : absl::StrSplit(AbslView(text), ' ', absl::SkipEmpty())) {
    if (column > indent && column + 1 + word.size() > width) {
      out.push_back('\n');
      column = 0;
    }
    if (column == 0) {
      out.append(indent, ' ');
      column = indent;
    } else {
      out.push_back(' ');
      ++column;
    }
    out.append(word.data(), word.size());
    column += word.size();
  }
  out.push_back('\n');
}

}  // namespace

absl::StatusOr<RunOptions> ParseRunOptions(const std::vector<std::string>& argv,
                                           const GetenvFn& getenv) {
  std::vector<std::string> messages;  // everything that is not a config-file problem
  std::vector<std::string> booleans = FlagNames(true);
  Args args = Args::ParseAll(argv, FlagNames(false), {}, booleans, &messages);
  for (const std::string& p : args.positional()) {
    std::string hint;
    for (size_t i = 1; i < argv.size() && (p == "true" || p == "false"); ++i) {
      for (const std::string& b : booleans) {
        if (argv[i] == p && argv[i - 1] == absl::StrCat("--", b)) {
          hint = absl::StrCat(" (write --", b, "=", p, ")");
        }
      }
    }
    messages.push_back(absl::StrCat("unexpected argument ", Quote(p), hint));
  }

  RunOptions o;
  Origins origins;
  std::optional<std::string> pod_namespace = getenv("POD_NAMESPACE");
  if (pod_namespace.has_value() && !pod_namespace->empty()) {
    o.lease_namespace = *pod_namespace;
  }

  std::optional<std::string> config = args.Get(kConfigFlag);
  api::DecodeErrors file_errors(config.value_or(""));
  if (config.has_value()) {
    ReadConfigFile(*config, &o, &origins, &file_errors, &messages);
  }
  std::vector<std::string> flag_errors;
  FlagSource flags(args, &flag_errors);
  ReadSettings(flags, &o, &origins);

  // Resolve what depends on other settings, the environment or the process.
  if (o.kubeconfig.empty()) {
    o.kubeconfig = getenv("KUBECONFIG").value_or("");
  }
  if (!origins.lease_namespace_set && pod_namespace.has_value() && !pod_namespace->empty()) {
    if (std::string why = CheckDnsLabel(o.lease_namespace); !why.empty()) {
      flag_errors.push_back(absl::StrCat("$POD_NAMESPACE: ", why));
    }
  }
  if (o.identity.empty()) {
    o.identity = absl::StrCat(Hostname(), "_", ::getpid());
  }
  if (o.lookahead == absl::ZeroDuration()) {
    o.lookahead = engine::LookaheadFor(o.tick);
  } else if (origins.tick_valid && o.lookahead < o.tick) {
    flag_errors.push_back(absl::StrCat(origins.lookahead, ": must be at least the tick, ",
                                       values::FormatDuration(o.tick), " (got ",
                                       values::FormatDuration(o.lookahead), ")"));
  }
  if (!o.prometheus_ca_file.empty() && !o.prometheus_url.starts_with("https://")) {
    flag_errors.push_back(
        absl::StrCat(origins.prometheus_ca_file, ": needs an https:// prometheus URL"));
  }

  if (o.grpc_addr != "off" && !o.grpc_plaintext &&
      (o.grpc_tls_cert_file.empty() || o.grpc_tls_key_file.empty())) {
    flag_errors.push_back(
        "--grpc-tls-cert-file and --grpc-tls-key-file: both are needed to serve gRPC over TLS "
        "(or --grpc-plaintext for a local demo, or --grpc-addr=off)");
  }

  if (o.webhook_certs == "self" && o.webhook_cert_dir.empty()) {
    flag_errors.push_back(
        "--webhook-certs=self: needs --webhook-cert-dir (where the certificate is written for the "
        "webhook server)");
  }

  if (o.webhook_ca_validity < 2 * o.webhook_cert_validity) {
    flag_errors.push_back(
        absl::StrCat("--webhook-ca-validity: must be at least twice --webhook-cert-validity, ",
                     values::FormatDuration(2 * o.webhook_cert_validity), " (got ",
                     values::FormatDuration(o.webhook_ca_validity), ")"));
  }

  if (!file_errors.empty()) {
    messages.emplace_back(values::StdView(file_errors.ToStatus().message()));
  }
  messages.insert(messages.end(), flag_errors.begin(), flag_errors.end());
  if (!messages.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(messages, "\n"));
  }
  return o;
}

std::optional<std::string> ProcessGetenv(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr || *v == '\0') {
    return std::nullopt;
  }
  return std::string(v);
}

std::string RunUsage() {
  constexpr size_t kWidth = 100;
  RunOptions defaults;
  std::string out =
      "Usage: bursar run [--config FILE] [flags]\n"
      "\n";
  AppendWrapped(out,
                "Runs the operator: meters what every pod costs, paces each ComputeBudget and "
                "enforces it. Settings come from the defaults, the environment, the --config "
                "file and the flags, each overriding the one before. Durations are Go-style "
                "(500ms, 15s, 1h30m). Boolean flags take --flag or --flag=false.",
                0, kWidth);
  out += "\nFlags (config file key in parentheses):\n";
  out += "  --config FILE\n";
  AppendWrapped(out,
                "A YAML file with any of the settings below, keys in camelCase; see "
                "examples/operator/config.yaml.",
                6, kWidth);
  for (const Setting* s : kSettings) {
    absl::StrAppend(&out, "  --", AbslView(s->flag),
                    IsBoolean(*s) ? "[=true|false]" : absl::StrCat(" ", AbslView(s->metavar)),
                    "  (", AbslView(s->key), ")\n");
    AppendWrapped(out,
                  absl::StrCat(AbslView(s->help), " Default: ", s->default_text(defaults), "."), 6,
                  kWidth);
  }
  return out;
}

}  // namespace bursar::cmd
