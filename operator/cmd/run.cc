#include "operator/cmd/run.h"

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controllers/admission/admission_review.h"
#include "controllers/admission/webhook_handler.h"
#include "controllers/api/field_reader.h"
#include "controllers/providers/cluster_api_provider.h"
#include "controllers/providers/external_grpc_provider.h"
#include "controllers/providers/karpenter_provider.h"
#include "controllers/providers/kwok_provider.h"
#include "controllers/reconcilers/budget_loop.h"
#include "controllers/reconcilers/gather.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "controllers/signals/caller_auth.h"
#include "controllers/signals/grpc_tls.h"
#include "controllers/signals/prometheus.h"
#include "controllers/signals/signals_service.h"
#include "controllers/values/host_port.h"
#include "controllers/values/strings.h"
#include "grpcpp/grpcpp.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kubeconfig.h"
#include "operator/runtime/endpoints.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/serving_cert_manager.h"
#include "operator/runtime/thread_group.h"
#include "operator/runtime/watcher.h"

namespace bursar::cmd {
namespace {

using api::AbslView;
using reconcilers::kManagedByLabel;
using reconcilers::kManagedByValue;

struct HostPort {
  std::string host;
  int port = 0;
};

// "host:port", "[v6]:port" or ":port" (every interface), given to `flag`. ParseRunOptions has
// checked the form already; an address it let through that still does not split is an error
// that names the flag, never a silent port 0.
absl::StatusOr<HostPort> SplitHostPort(std::string_view flag, const std::string& address) {
  std::optional<values::HostPortText> parts = values::SplitHostPort(address);
  std::optional<int> port = parts.has_value() ? values::ParsePort(parts->port) : std::nullopt;
  if (!port.has_value() || *port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--", AbslView(flag), ": \"", address,
                                                   "\" is not HOST:PORT with a port 0-65535"));
  }
  HostPort out{.host = std::string(values::UnbracketHost(parts->host)), .port = *port};
  if (out.host.empty()) {
    out.host = "0.0.0.0";
  }
  return out;
}

// The PEM bundle named by --prometheus-ca-file. An unreadable or empty file is an error: the
// transport would otherwise fall back to the system trust store without a word.
absl::StatusOr<std::string> ReadCaFile(const std::string& path) {
  absl::StatusOr<std::string> pem = signals::ReadWholeFile(path);
  if (!pem.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--prometheus-ca-file: ", pem.status().message()));
  }
  return pem;
}

// Starts the admission webhook's HTTPS server. --webhook-cert-dir must be a directory; its
// tls.crt and tls.key may appear later (a Secret volume is filled after the pod starts): until
// then every handshake fails, and the API server applies the webhooks' failurePolicy.
absl::StatusOr<std::unique_ptr<kube::HttpServer>> StartWebhook(const RunOptions& options,
                                                               admission::WebhookCaches caches,
                                                               runtime::Registry* registry,
                                                               const runtime::Clock* clock,
                                                               runtime::Logger& log) {
  struct stat info {};
  if (options.webhook_certs == "self" && stat(options.webhook_cert_dir.c_str(), &info) != 0) {
    // Bursar writes the certificate there itself (ServingCertManager): make the folder.
    std::error_code error;
    std::filesystem::create_directories(options.webhook_cert_dir, error);
  }
  if (stat(options.webhook_cert_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--webhook-cert-dir: \"", options.webhook_cert_dir, "\" is not a readable directory"));
  }
  for (const char* file : {"tls.crt", "tls.key"}) {
    std::string path = absl::StrCat(options.webhook_cert_dir, "/", file);
    if (access(path.c_str(), R_OK) != 0) {
      log.Warn("webhook certificate file not readable yet; TLS handshakes fail until it is",
               {{"file", path}, {"error", std::string(std::strerror(errno))}});
    }
  }
  absl::StatusOr<HostPort> address = SplitHostPort("webhook-addr", options.webhook_addr);
  if (!address.ok()) {
    return address.status();
  }
  absl::StatusOr<kube::HttpPostHandler> handler =
      admission::MakeWebhookHandler(caches, registry, clock);
  if (!handler.ok()) {
    return handler.status();
  }
  absl::StatusOr<std::unique_ptr<kube::HttpServer>> server =
      kube::StartHttpsServer({.address = address->host,
                              .port = address->port,
                              .cert_dir = options.webhook_cert_dir,
                              .max_body_bytes = admission::kMaxReviewBytes},
                             *std::move(handler));
  if (!server.ok()) {
    return absl::UnavailableError(absl::StrCat("--webhook-addr: ", server.status().message()));
  }
  return server;
}

// Writes `content` to `path` through a temporary file and a rename, so that a reader never sees
// half of it.
absl::Status WriteAddressFile(const std::string& path, const std::string& content) {
  const std::string tmp = path + ".tmp";
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out.is_open()) {
    return absl::UnavailableError(
        absl::StrCat("--address-file: cannot create \"", tmp, "\": ", std::strerror(errno)));
  }
  out << content;
  out.close();
  if (!out) {
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("--address-file: cannot write \"", tmp, "\""));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = errno;
    std::remove(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("--address-file: cannot rename \"", tmp, "\" to \"",
                                               path, "\": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

absl::StatusOr<kube::ClusterConfig> LoadCluster(const RunOptions& options) {
  if (!options.kubeconfig.empty()) {
    return kube::LoadKubeconfig(options.kubeconfig, options.context);
  }
  return kube::InClusterConfig();
}

// Node pool providers by type, built once; ExternalGRPC channels by address and CA. Thread-safe:
// the pass thread resizes and the plan applier's probe thread observes.
class Providers {
 public:
  Providers(kube::ApiClient& client, std::string secret_namespace)
      : client_(client),
        secret_namespace_(std::move(secret_namespace)),
        kwok_(client),
        cluster_api_(client),
        karpenter_(client) {}

  providers::NodePoolProvider* For(const api::GPUNodePool& pool, std::string* why) {
    absl::MutexLock lock(&mu_);
    switch (pool.spec.provider.type) {
      case api::ProviderType::kKwok:
        return &kwok_;
      case api::ProviderType::kClusterAPI:
        return &cluster_api_;
      case api::ProviderType::kKarpenter:
        return &karpenter_;
      case api::ProviderType::kExternalGRPC:
        return ExternalGrpc(pool, why);
    }
    *why = "unknown provider type";
    return nullptr;
  }

 private:
  providers::NodePoolProvider* ExternalGrpc(const api::GPUNodePool& pool, std::string* why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string ca_pem;
    const std::string& secret = pool.spec.provider.grpc_tls_secret_ref;
    if (!secret.empty()) {
      absl::StatusOr<json::Value> got = client_.Get(kube::kSecrets, secret_namespace_, secret);
      if (!got.ok()) {
        *why = absl::StrCat("spec.provider.externalGRPC.tlsSecretRef: Secret ", secret_namespace_,
                            "/", secret, ": ", got.status().message());
        return nullptr;
      }
      std::string ca = json::MemberStringAt(*got, "data", "ca.crt");
      if (ca.empty() || !absl::Base64Unescape(ca, &ca_pem)) {
        *why = absl::StrCat("spec.provider.externalGRPC.tlsSecretRef: Secret ", secret_namespace_,
                            "/", secret, " has no base64 key ca.crt");
        return nullptr;
      }
    }
    std::string key = absl::StrCat(pool.spec.provider.grpc_address, "\n", ca_pem);
    auto it = grpc_.find(key);
    if (it == grpc_.end()) {
      auto provider = std::make_unique<providers::ExternalGrpcProvider>(
          providers::MakeExternalGrpcChannel(pool.spec.provider.grpc_address, ca_pem));
      it = grpc_.emplace(key, std::move(provider)).first;
    }
    return it->second.get();
  }

  kube::ApiClient& client_;
  std::string secret_namespace_;
  providers::KwokProvider kwok_;
  providers::ClusterApiProvider cluster_api_;
  providers::KarpenterProvider karpenter_;
  absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<providers::ExternalGrpcProvider>> grpc_
      ABSL_GUARDED_BY(mu_);
};

// Blocks SIGTERM/SIGINT in every thread and turns them into `stop` on a dedicated thread.
class SignalWaiter {
 public:
  explicit SignalWaiter(runtime::Wakeup* stop) {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGUSR1);  // used to end the waiter itself
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, stop] {
      int sig = 0;
      sigwait(&set_, &sig);
      received_ = sig;
      stop->Notify();
    });
  }
  ~SignalWaiter() {
    if (received_ == 0) {
      pthread_kill(thread_.native_handle(), SIGUSR1);
    }
    thread_.join();
  }
  int received() const { return received_; }

 private:
  sigset_t set_;
  std::atomic<int> received_{0};
  std::thread thread_;
};

// Threads of cpprestsdk's I/O pool. Its handlers only parse TLS records and hand bodies over
// (the watch threads and the loop block, never the pool), so a few are enough on any core
// count; cpprestsdk's default is 40 (docs/benchmarks.md, "Threads and allocator").
// BURSAR_HTTP_THREADS (1-256) in the environment overrides it, for measurements.
constexpr int kHttpThreads = 4;
// glibc malloc arenas. By default glibc gives threads that allocate at once their own arenas,
// up to 8 per core, and returns little of them: measured at 10,000 pods, two arenas keep RSS
// lowest at no cost to pass time (docs/benchmarks.md). MALLOC_ARENA_MAX in the environment
// still wins.
constexpr int kMallocArenas = 2;

// Sets the process-wide memory and thread settings above, before any thread but the signal
// waiter starts (the I/O pool starts here).
void ConfigureProcess(runtime::Logger& log) {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) {
    mallopt(M_ARENA_MAX, kMallocArenas);
  }
  int threads = kHttpThreads;
  if (const char* env = std::getenv("BURSAR_HTTP_THREADS"); env != nullptr) {
    if (!absl::SimpleAtoi(env, &threads) || threads < 1 || threads > 256) {
      log.Warn("BURSAR_HTTP_THREADS must be a whole number from 1 to 256; using the default",
               {{"value", std::string(env)}, {"default", kHttpThreads}});
      threads = kHttpThreads;
    }
  }
  if (absl::Status sized = kube::SetHttpThreads(static_cast<size_t>(threads)); !sized.ok()) {
    log.Warn("keeping cpprestsdk's default thread pool", {{"error", std::string(sized.message())}});
  }
}

}  // namespace

// The ServingCertManager of --webhook-certs=self, or null. The Secret and the Service are in
// the operator's namespace (--leader-election-namespace, $POD_NAMESPACE in a pod).
std::unique_ptr<runtime::ServingCertManager> MakeServingCertManager(
    const RunOptions& options, const kube::ApiClient& client, const runtime::Clock& clock,
    std::function<bool()> is_leader, runtime::Logger* log, runtime::Registry* metrics) {
  if (options.webhook_certs != "self") {
    return nullptr;
  }
  runtime::ServingCertManagerOptions o;
  o.secret_namespace = options.lease_namespace;
  o.secret_name = options.webhook_cert_secret;
  o.cert_dir = options.webhook_cert_dir;
  for (const std::string& ref : options.webhook_configurations) {
    o.configurations.push_back(*runtime::ParseWebhookConfigurationRef(ref));  // checked
  }
  o.policy = {.dns_names = runtime::ServiceDnsNames(options.webhook_service, o.secret_namespace),
              .leaf_validity = options.webhook_cert_validity,
              .ca_validity = options.webhook_ca_validity,
              .ca_propagation = runtime::DefaultCaPropagation(options.webhook_cert_validity)};
  // Followers must see a rotation well before the old leaf's last third runs out.
  o.resync = std::clamp(options.webhook_cert_validity / 10, absl::Seconds(1), absl::Minutes(1));
  o.is_leader = std::move(is_leader);
  o.log = log;
  o.metrics = metrics;
  return std::make_unique<runtime::ServingCertManager>(client, clock, std::move(o));
}

int RunOperator(const RunOptions& options) {
  runtime::SystemClock clock;
  runtime::Logger log(clock, options.log_level, options.log_format);
  runtime::Wakeup stop;
  // Before any thread starts, so they inherit the mask: ConfigureProcess starts cpprestsdk's
  // pool, whose threads would otherwise take SIGTERM with its default action (exit 143).
  SignalWaiter signals(&stop);
  ConfigureProcess(log);

  absl::StatusOr<kube::ClusterConfig> cluster = LoadCluster(options);
  if (!cluster.ok()) {
    log.Error(
        "cannot load the cluster configuration",
        {{"kubeconfig", options.kubeconfig}, {"error", std::string(cluster.status().message())}});
    return 2;
  }
  absl::StatusOr<std::unique_ptr<kube::CppRestTransport>> transport = kube::TransportFor(*cluster);
  if (!transport.ok()) {
    log.Error("cannot connect",
              {{"server", cluster->server}, {"error", std::string(transport.status().message())}});
    return 2;
  }
  runtime::Registry registry;
  kube::ApiClient::Options client_options;
  if (absl::StatusOr<kube::ApiClient::Observer> observer =
          runtime::MakeRequestMetricsObserver(&registry);
      observer.ok()) {
    client_options.observer = *observer;
  }
  kube::ApiClient client(**transport, client_options);

  // Caches.
  reconcilers::PodViewStore pods(reconcilers::PodViewOf);
  reconcilers::NodeStore nodes(reconcilers::NodeViewOf);
  reconcilers::JobStore jobs(reconcilers::JobViewOf);
  runtime::ObjectStore namespaces, budgets, pools, price_books, quotas;
  struct NamedWatcher {
    std::string resource;
    std::unique_ptr<runtime::Watcher<json::Value>> watcher;
  };
  std::vector<NamedWatcher> watchers;
  auto watch = [&](const kube::ResourceType& type, auto& store, std::string label_selector = "") {
    runtime::WatcherOptions wo;
    wo.label_selector = std::move(label_selector);
    wo.metrics = &registry;
    wo.on_error = [&log, type](const absl::Status& error) {
      log.Warn("watch failed; retrying",
               {{"resource", std::string(type.plural)}, {"error", std::string(error.message())}});
    };
    watchers.push_back({std::string(type.plural), std::make_unique<runtime::Watcher<json::Value>>(
                                                      client, clock, type, store.Sink(), wo)});
  };
  watch(kube::kNodes, nodes);
  watch(kube::kJobs, jobs);
  watch(kube::kNamespaces, namespaces);
  watch(kube::kComputeBudgets, budgets);
  watch(kube::kGPUNodePools, pools);
  watch(kube::kPriceBooks, price_books);
  watch(kube::kResourceQuotas, quotas, absl::StrCat(kManagedByLabel, "=", kManagedByValue));
  // The other ML workload kinds Bursar can hold (JobSet, Kubeflow, RayJob), where the cluster
  // serves them: the webhook creates them suspended and the loop resumes them. A kind installed
  // later is watched after a restart; until then its pods are gated at pod level.
  std::deque<reconcilers::JobStore> workload_stores;
  std::vector<std::pair<const reconcilers::SuspendPath*, const reconcilers::JobStore*>> workloads;
  for (const reconcilers::SuspendPath& kind : reconcilers::SuspendPaths()) {
    if (kind.IsBatchJob()) {
      continue;
    }
    absl::StatusOr<bool> served = client.HasResource(kind.group, kind.version, kind.plural);
    if (!served.ok() || !*served) {
      log.Info(
          "workload kind not watched: its pods are gated at pod level",
          {{"kind", absl::StrCat(values::AbslView(kind.kind), ".", values::AbslView(kind.group),
                                 "/", values::AbslView(kind.version))},
           {"why",
            served.ok() ? "not served by the cluster" : std::string(served.status().message())}});
      continue;
    }
    watch(kind.Type(), workload_stores.emplace_back([&kind](const json::Value& object) {
      return reconcilers::WorkloadViewOf(kind, object);
    }));
    workloads.emplace_back(&kind, &workload_stores.back());
  }
  runtime::WatcherOptions pod_options;
  pod_options.pod_label_keys = {kube::PodSummaryDecoder::kAllLabels};
  pod_options.protobuf = options.pod_protobuf;
  pod_options.metrics = &registry;
  pod_options.on_error = [&log](const absl::Status& error) {
    log.Warn("watch failed; retrying",
             {{"resource", "pods"}, {"error", std::string(error.message())}});
  };
  runtime::PodWatcher pod_watcher(client, clock, kube::kPods, pods.Sink(), pod_options);

  // Leader election.
  std::unique_ptr<runtime::LeaderElector> elector;
  if (options.leader_elect) {
    runtime::LeaderElectionOptions le;
    le.lease_namespace = options.lease_namespace;
    le.lease_name = options.lease_name;
    le.identity = options.identity;
    le.metrics = &registry;
    le.on_started_leading = [&log] { log.Info("became the leader"); };
    le.on_stopped_leading = [&log] { log.Warn("lost leadership: actuation stops"); };
    elector = std::make_unique<runtime::LeaderElector>(client, clock, le);
  }
  auto is_leader = [&elector] { return elector == nullptr || elector->IsLeader(); };

  // Signals, budgets board, events, providers, the loop.
  signals::DriftInbox drift;
  signals::BudgetBoard board;
  runtime::EventRecorderOptions event_options;
  event_options.reporting_instance = options.identity;
  event_options.metrics = &registry;
  runtime::ApiEventRecorder events(client, clock, event_options);
  Providers providers(client, options.lease_namespace);
  reconcilers::PlanApplier applier(client, events,
                                   [&providers](const api::GPUNodePool& pool, std::string* why) {
                                     return providers.For(pool, why);
                                   },
                                   {.status_interval = options.status_interval});

  reconcilers::UsageSources usage;
  std::unique_ptr<kube::CppRestTransport> prometheus_transport;
  std::unique_ptr<signals::PrometheusClient> prometheus;
  if (!options.prometheus_url.empty()) {
    kube::TransportConfig tc;
    size_t path_at = options.prometheus_url.find('/', options.prometheus_url.find("//") + 2);
    tc.server = options.prometheus_url.substr(0, path_at);
    std::string base_path =
        path_at == std::string::npos ? "" : options.prometheus_url.substr(path_at);
    if (!options.prometheus_ca_file.empty()) {
      absl::StatusOr<std::string> pem = ReadCaFile(options.prometheus_ca_file);
      if (!pem.ok()) {
        log.Error("cannot use the Prometheus CA", {{"error", std::string(pem.status().message())}});
        return 2;
      }
      tc.ca_pem = *std::move(pem);
    }
    absl::StatusOr<std::unique_ptr<kube::CppRestTransport>> pt = kube::CppRestTransport::Create(tc);
    if (!pt.ok()) {
      log.Error("--prometheus-url: cannot use it", {{"error", std::string(pt.status().message())}});
      return 2;
    }
    prometheus_transport = *std::move(pt);
    prometheus = std::make_unique<signals::PrometheusClient>(*prometheus_transport, base_path);
    std::string query =
        options.dcgm_query.empty() ? signals::kDefaultDcgmQuery : options.dcgm_query;
    usage.prometheus_query = [&prometheus](const std::string& promql, absl::Time now) {
      return prometheus->Query(promql, now);
    };
    usage.gpu_utilization =
        [&prometheus,
         query](absl::Time now) -> absl::StatusOr<absl::flat_hash_map<std::string, double>> {
      absl::StatusOr<std::vector<signals::PromSample>> samples = prometheus->Query(query, now);
      if (!samples.ok()) {
        return samples.status();
      }
      return signals::GpuUtilizationByPod(*samples);
    };
  }
  if (options.metrics_api) {
    usage.pod_usage = [&transport]() {
      return signals::FetchPodMetrics(**transport, absl::Seconds(10));
    };
  }

  reconcilers::BudgetLoopCaches caches{.pods = &pods,
                                       .nodes = &nodes,
                                       .jobs = &jobs,
                                       .namespaces = &namespaces,
                                       .budgets = &budgets,
                                       .pools = &pools,
                                       .price_books = &price_books,
                                       .owned_quotas = &quotas,
                                       .workloads = workloads};
  absl::StatusOr<std::unique_ptr<reconcilers::BudgetLoop>> loop = reconcilers::BudgetLoop::Create(
      caches, &applier, is_leader, &drift, &board, std::move(usage), &registry, &log, clock,
      {.tick = options.tick,
       .min_interval = std::min(options.tick, reconcilers::BudgetLoopOptions().min_interval),
       .lookahead = options.lookahead});
  if (!loop.ok()) {
    log.Error("cannot set up metrics", {{"error", std::string(loop.status().message())}});
    return 2;
  }
  (*loop)->WatchForChanges(pods, budgets, pools, price_books, jobs);

  // The webhook's serving certificate, when Bursar manages it (--webhook-certs=self).
  std::unique_ptr<runtime::ServingCertManager> serving_certs = MakeServingCertManager(
      options, client, clock, [&is_leader] { return is_leader(); }, &log, &registry);

  // Health, readiness and metrics.
  std::vector<const runtime::SyncedCache*> all_caches = {
      &pods, &nodes, &jobs, &namespaces, &budgets, &pools, &price_books, &quotas};
  runtime::Endpoints endpoints(&registry);
  endpoints.AddReadinessCheck({"caches", [&all_caches] {
                                 for (const runtime::SyncedCache* c : all_caches) {
                                   if (!c->HasSynced()) {
                                     return std::string("watch caches are still syncing");
                                   }
                                 }
                                 return std::string();
                               }});
  if (serving_certs != nullptr) {
    endpoints.AddReadinessCheck(
        {"webhook certificate", [&serving_certs] { return serving_certs->NotReadyReason(); }});
  }
  // Alive while the loop completes passes (on every replica: followers pass too); a wedged pass
  // restarts the container after a few ticks.
  endpoints.AddLivenessCheck({"budget loop", [&loop] { return (*loop)->LivenessProblem(); }});
  absl::StatusOr<HostPort> health = SplitHostPort("health-addr", options.health_addr);
  if (!health.ok()) {
    log.Error("cannot listen", {{"error", std::string(health.status().message())}});
    return 2;
  }
  absl::StatusOr<std::unique_ptr<kube::HttpServer>> http =
      kube::StartHttpServer(health->host, health->port, endpoints.Handler());
  if (!http.ok()) {
    log.Error("--health-addr: cannot listen",
              {{"address", options.health_addr}, {"error", std::string(http.status().message())}});
    return 2;
  }

  // The admission webhook, on every replica (it decides from the caches and the leader's
  // published budget status), over TLS with the certificate in --webhook-cert-dir.
  std::unique_ptr<kube::HttpServer> webhook;
  std::string webhook_address;
  if (!options.webhook_cert_dir.empty()) {
    absl::StatusOr<std::unique_ptr<kube::HttpServer>> started =
        StartWebhook(options, {.pods = &pods, .namespaces = &namespaces, .budgets = &budgets},
                     &registry, &clock, log);
    if (!started.ok()) {
      log.Error("cannot serve the admission webhook",
                {{"error", std::string(started.status().message())}});
      return 2;
    }
    webhook = *std::move(started);
    absl::StatusOr<HostPort> w = SplitHostPort("webhook-addr", options.webhook_addr);
    webhook_address = absl::StrCat(w.ok() ? w->host : "", ":", webhook->port());
  }

  // gRPC: modelDrift signals and the budget query API, over TLS, each call authenticated with
  // a Kubernetes bearer token and authorised by RBAC (docs/security.md). The insecure modes are
  // explicit flags and say so at every start.
  signals::KubeTokenReviewer token_reviewer(
      client, options.grpc_token_audience.empty()
                  ? std::vector<std::string>{}
                  : std::vector<std::string>{options.grpc_token_audience});
  signals::KubeAccessReviewer access_reviewer(client);
  signals::CallerGateOptions gate_options;
  if (absl::StatusOr<runtime::CounterFamily*> outcomes = registry.AddCounter(
          "bursar_grpc_auth_total",
          "gRPC callers checked, by outcome: authenticated, unauthenticated, allowed, denied, "
          "error (the API server could not be asked)",
          {"outcome"});
      outcomes.ok()) {
    gate_options.observe = [family = *outcomes](std::string_view outcome) {
      family->WithLabels({outcome}).Increment();
    };
  }
  signals::CallerGate gate(
      &token_reviewer, &access_reviewer, [&clock] { return clock.Now(); }, gate_options);
  signals::CallerGate* gate_or_null = options.grpc_client_auth == "none" ? nullptr : &gate;
  signals::SignalsService signals_service(
      &drift, [&clock] { return clock.Now(); }, is_leader, gate_or_null);
  signals::BudgetsService budgets_service(&board, absl::Milliseconds(100), gate_or_null);
  std::unique_ptr<grpc::Server> grpc_server;
  int grpc_port = 0;
  std::string grpc_host = options.grpc_addr;  // "off" stays "off" in --address-file
  if (options.grpc_addr != "off") {
    absl::StatusOr<HostPort> g = SplitHostPort("grpc-addr", options.grpc_addr);
    if (!g.ok()) {
      log.Error("cannot listen", {{"error", std::string(g.status().message())}});
      return 2;
    }
    std::shared_ptr<grpc::ServerCredentials> credentials;
    if (options.grpc_plaintext) {
      log.Warn(
          "INSECURE: --grpc-plaintext serves gRPC without TLS; bearer tokens and reports "
          "cross the network in clear. Use it only for a local demo.",
          {{"address", options.grpc_addr}});
      credentials = grpc::InsecureServerCredentials();
    } else {
      absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls =
          signals::ServerTlsCredentials(options.grpc_tls_cert_file, options.grpc_tls_key_file);
      if (!tls.ok()) {
        log.Error("--grpc-tls-cert-file/--grpc-tls-key-file: cannot serve gRPC over TLS",
                  {{"error", std::string(tls.status().message())}});
        return 2;
      }
      credentials = *std::move(tls);
    }
    if (gate_or_null == nullptr) {
      log.Warn(
          "INSECURE: --grpc-client-auth=none: anyone who reaches the gRPC port can report "
          "modelDrift and unlock retraining reserves, and read every budget",
          {{"address", options.grpc_addr}});
    }
    grpc_host = g->host;
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        absl::StrCat(
            g->host.find(':') != std::string::npos ? absl::StrCat("[", g->host, "]") : g->host, ":",
            g->port),
        credentials, &grpc_port);
    builder.RegisterService(&signals_service);
    builder.RegisterService(&budgets_service);
    grpc_server = builder.BuildAndStart();
    if (grpc_server == nullptr || grpc_port == 0) {
      log.Error("--grpc-addr: cannot listen", {{"address", options.grpc_addr}});
      return 2;
    }
  }
  if (!options.address_file.empty()) {
    absl::Status written = WriteAddressFile(
        options.address_file,
        absl::StrCat(
            "health=", health->host, ":", (*http)->port(), "\n", "grpc=", grpc_host, ":", grpc_port,
            "\n",
            webhook == nullptr ? std::string() : absl::StrCat("webhook=", webhook_address, "\n")));
    if (!written.ok()) {
      log.Error("cannot write the address file", {{"error", std::string(written.message())}});
      return 2;
    }
  }
  log.Info("bursar operator started",
           {{"server", cluster->server},
            {"identity", options.identity},
            {"leaderElection", options.leader_elect},
            {"tick", absl::FormatDuration(options.tick)},
            {"statusInterval", absl::FormatDuration(options.status_interval)},
            {"healthPort", (*http)->port()},
            {"grpcPort", grpc_port},
            {"grpcTls", !options.grpc_plaintext},
            {"grpcClientAuth", options.grpc_client_auth}});

  // Threads: the watchers fill the caches, the elector holds the Lease, and the budget loop's
  // controller passes once every cache has synced. A thread that ends on its own notifies
  // `stop` as a signal does: the operator shuts down rather than run half-dead.
  runtime::ThreadGroup threads(&stop, &clock);
  for (NamedWatcher& named : watchers) {
    runtime::Watcher<json::Value>* w = named.watcher.get();
    threads.Add(absl::StrCat("watch ", named.resource), [w](std::stop_token token) {
      runtime::RunWithStopToken(
          token, [w](runtime::Wakeup* s) { w->Run(s); }, [w] { w->Interrupt(); });
    });
  }
  threads.Add("watch pods", [&pod_watcher](std::stop_token token) {
    runtime::RunWithStopToken(
        token, [&pod_watcher](runtime::Wakeup* s) { pod_watcher.Run(s); },
        [&pod_watcher] { pod_watcher.Interrupt(); });
  });
  if (elector != nullptr) {
    threads.Add("leader election", [&elector](std::stop_token token) {
      runtime::RunWithStopToken(token, [&elector](runtime::Wakeup* s) { elector->Run(s); });
    });
  }
  if (serving_certs != nullptr) {
    threads.Add("webhook certificates", [&serving_certs](std::stop_token token) {
      runtime::RunWithStopToken(token,
                                [&serving_certs](runtime::Wakeup* s) { serving_certs->Run(s); });
    });
  }
  threads.Add("budget loop", [&loop](std::stop_token token) {
    runtime::RunWithStopToken(token, [&loop](runtime::Wakeup* s) { (*loop)->Run(s); });
  });
  threads.Start();

  // Shutdown, on SIGTERM/SIGINT: the threads stop in reverse order (thread_group.h), so the
  // loop finishes its pass before the elector stops and the watches end; then the Lease is
  // given up and the services close.
  while (!stop.HasBeenNotified()) {
    clock.SleepUntil(absl::InfiniteFuture(), &stop);
  }
  log.Info("shutting down", {{"signal", signals.received()}});
  absl::Status stopped = threads.Stop(options.shutdown_grace);
  if (absl::IsDeadlineExceeded(stopped)) {
    // A thread is stuck (a pass blocked in a call that ignores its stop token) and still uses
    // what this function owns: no destructor may run, so the process ends here, within the
    // grace, rather than wait for the kubelet's SIGKILL.
    log.Error("a thread did not stop within --shutdown-grace; exiting",
              {{"error", std::string(stopped.message())},
               {"shutdownGrace", absl::FormatDuration(options.shutdown_grace)}});
    std::fflush(nullptr);
    std::_Exit(1);
  }
  if (!stopped.ok()) {
    log.Error("a thread failed", {{"error", std::string(stopped.message())}});
  }
  if (elector != nullptr) {
    if (absl::Status released = elector->Release(); !released.ok()) {
      log.Warn("could not release the Lease", {{"error", std::string(released.message())}});
    }
  }
  board.Close();
  if (grpc_server != nullptr) {
    grpc_server->Shutdown(std::chrono::system_clock::now() +
                          absl::ToChronoSeconds(options.shutdown_grace));
  }
  (*http)->Stop();
  events.Shutdown();
  log.Info("stopped");
  return stopped.ok() ? 0 : 1;
}

}  // namespace bursar::cmd
