// Tests for `bursar run`'s options (cmd::ParseRunOptions) and the flag reader under it
// (cmd::Args): defaults and what is resolved from the environment and the process, every flag,
// the config file, which source wins, and every error path, each naming the flag or the
// file:line of the key. The bundled example config must stay valid and complete.

#include "operator/cmd/run_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "operator/cmd/args.h"
#include "operator/yaml/yaml.h"
#include "tests/unit/temp_dir.h"

namespace bursar::cmd {
namespace {

namespace fs = std::filesystem;

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

GetenvFn Env(std::map<std::string, std::string> vars = {}) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end() || it->second.empty()) {
      return std::nullopt;
    }
    return it->second;
  };
}

std::string DefaultIdentity() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return absl::StrCat(host, "_", ::getpid());
}

// The error message of a parse that must fail.
std::string ErrorOf(const std::vector<std::string>& argv, const GetenvFn& env = Env()) {
  absl::StatusOr<RunOptions> o = ParseRunOptions(argv, env);
  EXPECT_FALSE(o.ok()) << "parsed: " << absl::StrJoin(argv, " ");
  if (o.ok()) {
    return "";
  }
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(o.status().message());
}

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n');
}

TEST(RunOptionsTest, DefaultsAreResolved) {
  absl::StatusOr<RunOptions> o = ParseRunOptions({}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "");
  EXPECT_EQ(o->context, "");
  EXPECT_EQ(o->tick, absl::Seconds(15));
  EXPECT_EQ(o->lookahead, absl::Seconds(30));  // 2 x tick
  EXPECT_TRUE(o->leader_elect);
  EXPECT_TRUE(o->pod_protobuf);
  EXPECT_EQ(o->lease_namespace, "bursar-system");
  EXPECT_EQ(o->lease_name, "bursar-operator");
  EXPECT_EQ(o->identity, DefaultIdentity());
  EXPECT_EQ(o->health_addr, ":8081");
  EXPECT_EQ(o->grpc_addr, ":9090");
  EXPECT_EQ(o->grpc_tls_cert_file, "/etc/bursar/grpc-tls/tls.crt");
  EXPECT_EQ(o->grpc_tls_key_file, "/etc/bursar/grpc-tls/tls.key");
  EXPECT_FALSE(o->grpc_plaintext);
  EXPECT_EQ(o->grpc_client_auth, "token");
  EXPECT_EQ(o->grpc_token_audience, "");
  EXPECT_EQ(o->prometheus_url, "");
  EXPECT_EQ(o->prometheus_ca_file, "");
  EXPECT_EQ(o->dcgm_query, "");
  EXPECT_FALSE(o->metrics_api);
  EXPECT_EQ(o->log_level, runtime::LogLevel::kInfo);
  EXPECT_EQ(o->log_format, runtime::LogFormat::kJson);
  EXPECT_EQ(o->shutdown_grace, absl::Seconds(10));
  EXPECT_EQ(o->address_file, "");
}

TEST(RunOptionsTest, GrpcSecurityFlagsAreReadAndInsecureModesAreExplicit) {
  absl::StatusOr<RunOptions> o =
      ParseRunOptions({"--grpc-plaintext", "--grpc-client-auth", "none", "--grpc-tls-cert-file", "",
                       "--grpc-token-audience", "bursar"},
                      Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->grpc_plaintext);
  EXPECT_EQ(o->grpc_client_auth, "none");
  EXPECT_EQ(o->grpc_token_audience, "bursar");
  // Without gRPC, no certificate is needed.
  EXPECT_TRUE(ParseRunOptions({"--grpc-addr", "off", "--grpc-tls-cert-file", ""}, Env()).ok());
}

TEST(RunOptionsTest, EnvironmentGivesKubeconfigAndLeaseNamespace) {
  absl::StatusOr<RunOptions> o =
      ParseRunOptions({}, Env({{"KUBECONFIG", "/etc/kube/config"}, {"POD_NAMESPACE", "ml-ops"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "/etc/kube/config");
  EXPECT_EQ(o->lease_namespace, "ml-ops");

  // Empty variables count as unset.
  o = ParseRunOptions({}, Env({{"KUBECONFIG", ""}, {"POD_NAMESPACE", ""}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "");
  EXPECT_EQ(o->lease_namespace, "bursar-system");

  // Flags win over the environment.
  o = ParseRunOptions({"--kubeconfig", "/k", "--leader-election-namespace", "ops"},
                      Env({{"KUBECONFIG", "/etc/kube/config"}, {"POD_NAMESPACE", "ml-ops"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "/k");
  EXPECT_EQ(o->lease_namespace, "ops");
}

TEST(RunOptionsTest, LookaheadDefaultsToTwiceTheTickAndZeroMeansDefault) {
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--tick=500ms"}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->lookahead, absl::Seconds(1));
  o = ParseRunOptions({"--tick", "1m", "--lookahead", "0"}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->lookahead, absl::Minutes(2));
  o = ParseRunOptions({"--tick", "1m", "--lookahead", "1m"}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->lookahead, absl::Minutes(1));
}

TEST(RunOptionsTest, EveryFlagIsRead) {
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--kubeconfig",
                                                  "/home/me/.kube/config",
                                                  "--context=kind-gpu",
                                                  "--tick",
                                                  "100ms",
                                                  "--lookahead",
                                                  "10m",
                                                  "--leader-elect=false",
                                                  "--leader-election-namespace",
                                                  "ml-ops",
                                                  "--leader-election-id",
                                                  "bursar.example.com",
                                                  "--id",
                                                  "replica-a",
                                                  "--health-addr",
                                                  "[::1]:0",
                                                  "--grpc-addr",
                                                  "off",
                                                  "--prometheus-url",
                                                  "https://prom.monitoring:9090/p/",
                                                  "--prometheus-ca-file",
                                                  "/etc/prom/ca.pem",
                                                  "--dcgm-query",
                                                  "avg(DCGM_FI_DEV_GPU_UTIL)",
                                                  "--metrics-api",
                                                  "--log-level",
                                                  "debug",
                                                  "--log-format=text",
                                                  "--shutdown-grace",
                                                  "0s",
                                                  "--address-file",
                                                  "/tmp/addr",
                                                  "--pod-protobuf=false"},
                                                 Env({{"KUBECONFIG", "/ignored"}}));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "/home/me/.kube/config");
  EXPECT_EQ(o->context, "kind-gpu");
  EXPECT_EQ(o->tick, absl::Milliseconds(100));
  EXPECT_EQ(o->lookahead, absl::Minutes(10));
  EXPECT_FALSE(o->leader_elect);
  EXPECT_FALSE(o->pod_protobuf);
  EXPECT_EQ(o->lease_namespace, "ml-ops");
  EXPECT_EQ(o->lease_name, "bursar.example.com");
  EXPECT_EQ(o->identity, "replica-a");
  EXPECT_EQ(o->health_addr, "[::1]:0");
  EXPECT_EQ(o->grpc_addr, "off");
  EXPECT_EQ(o->prometheus_url, "https://prom.monitoring:9090/p");  // trailing '/' dropped
  EXPECT_EQ(o->prometheus_ca_file, "/etc/prom/ca.pem");
  EXPECT_EQ(o->dcgm_query, "avg(DCGM_FI_DEV_GPU_UTIL)");
  EXPECT_TRUE(o->metrics_api);
  EXPECT_EQ(o->log_level, runtime::LogLevel::kDebug);
  EXPECT_EQ(o->log_format, runtime::LogFormat::kText);
  EXPECT_EQ(o->shutdown_grace, absl::ZeroDuration());
  EXPECT_EQ(o->address_file, "/tmp/addr");
}

TEST(RunOptionsTest, WebhookCertificateSettingsAreReadAndChecked) {
  absl::StatusOr<RunOptions> d = ParseRunOptions({}, Env());
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->webhook_certs, "external");  // nothing is made unless asked
  EXPECT_EQ(d->webhook_cert_dir, "");       // and no webhook served
  EXPECT_THAT(d->webhook_configurations, IsEmpty());
  EXPECT_EQ(d->webhook_cert_validity, absl::Hours(24 * 90));
  EXPECT_EQ(d->webhook_ca_validity, absl::Hours(24 * 3650));

  absl::StatusOr<RunOptions> o = ParseRunOptions(
      {"--webhook-certs=self", "--webhook-cert-dir", "/run/certs", "--webhook-cert-secret",
       "wh-tls", "--webhook-service", "wh", "--webhook-configurations",
       "mutating/bursar-webhook, validating/bursar-webhook", "--webhook-cert-validity", "15s",
       "--webhook-ca-validity", "30s"},
      Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->webhook_certs, "self");
  EXPECT_EQ(o->webhook_cert_dir, "/run/certs");
  EXPECT_EQ(o->webhook_cert_secret, "wh-tls");
  EXPECT_EQ(o->webhook_service, "wh");
  EXPECT_THAT(o->webhook_configurations,
              ElementsAre("mutating/bursar-webhook", "validating/bursar-webhook"));
  EXPECT_EQ(o->webhook_cert_validity, absl::Seconds(15));
  EXPECT_EQ(o->webhook_ca_validity, absl::Seconds(30));

  EXPECT_EQ(ErrorOf({"--webhook-certs=cert-manager"}),
            "--webhook-certs: must be self or external (got \"cert-manager\")");
  EXPECT_EQ(ErrorOf({"--webhook-configurations", "bursar-webhook"}),
            "--webhook-configurations: \"bursar-webhook\" is not mutating/NAME or validating/NAME");
  EXPECT_THAT(ErrorOf({"--webhook-configurations", "validating/Bad_Name"}),
              HasSubstr("--webhook-configurations: \"validating/Bad_Name\": "));
  EXPECT_THAT(ErrorOf({"--webhook-service", "wh.ops"}), HasSubstr("--webhook-service: "));
  EXPECT_EQ(ErrorOf({"--webhook-cert-validity", "5s"}),
            "--webhook-cert-validity: must be at least 10s (got 5s)");
  EXPECT_EQ(
      ErrorOf({"--webhook-cert-validity", "1h", "--webhook-ca-validity", "90m"}),
      "--webhook-ca-validity: must be at least twice --webhook-cert-validity, 2h (got 1h30m)");
  EXPECT_EQ(ErrorOf({"--webhook-certs=self"}),
            "--webhook-certs=self: needs --webhook-cert-dir (where the certificate is written for "
            "the webhook server)");
}

TEST(RunOptionsTest, AddressesAndUrlsThatAreValid) {
  for (const char* addr : {":8081", "0.0.0.0:0", "127.0.0.1:65535", "localhost:9090", "[::]:8081",
                           "[fe80::1]:1", "my-host.local:80"}) {
    absl::StatusOr<RunOptions> o =
        ParseRunOptions({"--health-addr", addr, "--grpc-addr", addr}, Env());
    EXPECT_TRUE(o.ok()) << addr << ": " << o.status();
  }
  for (const char* url : {"http://prometheus", "http://10.0.0.1:9090", "https://[::1]:9090",
                          "https://thanos.example.com/prometheus", "http://prom:9090/"}) {
    absl::StatusOr<RunOptions> o = ParseRunOptions({"--prometheus-url", url}, Env());
    EXPECT_TRUE(o.ok()) << url << ": " << o.status();
  }
}

TEST(RunOptionsTest, EmptyIdMeansTheDefaultIdentity) {
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--id="}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->identity, DefaultIdentity());
}

TEST(RunOptionsTest, BooleanFlagsTakeAnOptionalValue) {
  auto leader_elect = [](const std::vector<std::string>& argv) {
    absl::StatusOr<RunOptions> o = ParseRunOptions(argv, Env());
    EXPECT_TRUE(o.ok()) << o.status();
    return o.ok() && o->leader_elect;
  };
  EXPECT_TRUE(leader_elect({"--leader-elect"}));
  EXPECT_FALSE(leader_elect({"--leader-elect=false"}));
  EXPECT_TRUE(leader_elect({"--leader-elect=false", "--leader-elect=true"}));  // last wins
  EXPECT_EQ(ErrorOf({"--leader-elect", "false"}),
            "unexpected argument \"false\" (write --leader-elect=false)");
  EXPECT_EQ(ErrorOf({"--metrics-api=yes"}), "--metrics-api: \"yes\" is not true or false");
  EXPECT_EQ(ErrorOf({"extra"}), "unexpected argument \"extra\"");
}

constexpr char kFullConfig[] = R"(# every setting
kubeconfig: /etc/bursar/kubeconfig
context: prod
tick: 30s
lookahead: 2m
leaderElect: false
leaderElectionNamespace: ml-ops
leaderElectionId: bursar-lease
id: pod-a
healthAddr: "127.0.0.1:0"
grpcAddr: "off"
prometheusUrl: http://prometheus.monitoring:9090
prometheusCaFile: ""
dcgmQuery: avg by (pod) (DCGM_FI_DEV_GPU_UTIL)
metricsApi: true
logLevel: warn
logFormat: text
shutdownGrace: 1m
webhookCertDir: /etc/bursar/webhook-tls
webhookAddr: "127.0.0.1:0"
addressFile: /run/bursar/addresses
)";

TEST(RunOptionsTest, ConfigFileSetsEverySetting) {
  TempDir dir;
  std::string path = dir.File("run.yaml", kFullConfig);
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--config", path}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->kubeconfig, "/etc/bursar/kubeconfig");
  EXPECT_EQ(o->context, "prod");
  EXPECT_EQ(o->tick, absl::Seconds(30));
  EXPECT_EQ(o->lookahead, absl::Minutes(2));
  EXPECT_FALSE(o->leader_elect);
  EXPECT_EQ(o->lease_namespace, "ml-ops");
  EXPECT_EQ(o->lease_name, "bursar-lease");
  EXPECT_EQ(o->identity, "pod-a");
  EXPECT_EQ(o->health_addr, "127.0.0.1:0");
  EXPECT_EQ(o->grpc_addr, "off");
  EXPECT_EQ(o->prometheus_url, "http://prometheus.monitoring:9090");
  EXPECT_EQ(o->prometheus_ca_file, "");
  EXPECT_EQ(o->dcgm_query, "avg by (pod) (DCGM_FI_DEV_GPU_UTIL)");
  EXPECT_TRUE(o->metrics_api);
  EXPECT_EQ(o->log_level, runtime::LogLevel::kWarn);
  EXPECT_EQ(o->log_format, runtime::LogFormat::kText);
  EXPECT_EQ(o->shutdown_grace, absl::Minutes(1));
  EXPECT_EQ(o->webhook_cert_dir, "/etc/bursar/webhook-tls");
  EXPECT_EQ(o->webhook_addr, "127.0.0.1:0");
  EXPECT_EQ(o->address_file, "/run/bursar/addresses");
}

TEST(RunOptionsTest, WebhookFlagsDefaultAndAreChecked) {
  absl::StatusOr<RunOptions> o = ParseRunOptions({}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->webhook_cert_dir, "");  // no webhook unless asked
  EXPECT_EQ(o->webhook_addr, ":9443");
  EXPECT_NE(ErrorOf({"--webhook-addr", "nowhere"}).find("--webhook-addr: "), std::string::npos)
      << ErrorOf({"--webhook-addr", "nowhere"});
}

TEST(RunOptionsTest, FlagsOverrideTheFileWhichOverridesTheEnvironment) {
  TempDir dir;
  std::string path = dir.File("run.yaml",
                              "tick: 20s\nlogLevel: debug\nleaderElect: false\n"
                              "leaderElectionNamespace: from-file\nkubeconfig: /file\n");
  GetenvFn env = Env({{"POD_NAMESPACE", "from-env"}, {"KUBECONFIG", "/env"}});
  absl::StatusOr<RunOptions> o =
      ParseRunOptions({"--tick", "30s", "--config", path, "--leader-elect"}, env);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tick, absl::Seconds(30));               // flag, even though given before --config
  EXPECT_EQ(o->lookahead, absl::Seconds(60));          // from the winning tick
  EXPECT_EQ(o->log_level, runtime::LogLevel::kDebug);  // file
  EXPECT_TRUE(o->leader_elect);                        // flag
  EXPECT_EQ(o->lease_namespace, "from-file");          // file over $POD_NAMESPACE
  EXPECT_EQ(o->kubeconfig, "/file");                   // file over $KUBECONFIG

  o = ParseRunOptions({"--config", path, "--leader-election-namespace=from-flag"}, env);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->lease_namespace, "from-flag");
}

TEST(RunOptionsTest, EmptyConfigFileChangesNothing) {
  TempDir dir;
  std::string path = dir.File("empty.yaml", "# nothing yet\n");
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--config", path}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->tick, absl::Seconds(15));
}

TEST(RunOptionsTest, ConfigFileErrorsNameFileLineAndKeyAndAreAllReported) {
  TempDir dir;
  std::string path = dir.File("bad.yaml",
                              "tik: 30s\n"                         // 1
                              "tick: 15\n"                         // 2
                              "lookahead: 5x\n"                    // 3
                              "leaderElect: \"yes\"\n"             // 4
                              "leaderElectionNamespace: ML_Ops\n"  // 5
                              "leaderElectionId: -lease\n"         // 6
                              "healthAddr: \"8081\"\n"             // 7
                              "grpcAddr: \"localhost:99999\"\n"    // 8
                              "prometheusUrl: ftp://prom\n"        // 9
                              "logLevel: verbose\n"                // 10
                              "logFormat: [json]\n"                // 11
                              "shutdownGrace: -1s\n"               // 12
                              "metricsApi: 1\n");                  // 13
  const std::string& p = path;
  EXPECT_THAT(
      Lines(ErrorOf({"--config", path})),
      ElementsAre(
          p + ":1: tik: unknown field (did you mean \"tick\"?)",
          p + ":2: tick: must be a string; quote it: \"15\"",
          p + ":3: lookahead: \"5x\" is not a duration (want e.g. \"90s\", \"6h\" or \"1h30m\")",
          p + ":4: leaderElect: must be true or false, got string \"yes\"",
          p + ":5: leaderElectionNamespace: \"ML_Ops\" is not a DNS-1123 label (at most 63 "
              "lower-case letters, digits and '-', starting and ending with a letter or digit)",
          p + ":6: leaderElectionId: \"-lease\" is not a DNS-1123 subdomain (at most 253 "
              "lower-case letters, digits, '-' and '.', starting and ending with a letter or "
              "digit)",
          p + ":7: healthAddr: \"8081\" is not HOST:PORT (e.g. \":8081\", \"127.0.0.1:0\" or "
              "\"[::1]:8081\")",
          p + ":8: grpcAddr: \"localhost:99999\": port \"99999\" is not a number from 0 to 65535",
          p + ":9: prometheusUrl: \"ftp://prom\": must start with http:// or https://",
          p + ":10: logLevel: \"verbose\" is not one of debug, info, warn, error",
          p + ":11: logFormat: must be a string, got a list",
          p + ":12: shutdownGrace: \"-1s\" is not a duration (want e.g. \"90s\", \"6h\" or "
              "\"1h30m\")",
          p + ":13: metricsApi: must be true or false, got number 1"));
}

TEST(RunOptionsTest, CrossFieldErrorsPointAtTheFileLineOrTheFlag) {
  TempDir dir;
  std::string path = dir.File("run.yaml", "tick: 1m\nlookahead: 30s\nprometheusCaFile: ca.pem\n");
  EXPECT_THAT(Lines(ErrorOf({"--config", path})),
              ElementsAre(path + ":2: lookahead: must be at least the tick, 1m (got 30s)",
                          path + ":3: prometheusCaFile: needs an https:// prometheus URL"));
  // The flag that sets the tick is checked against the file's lookahead.
  EXPECT_EQ(ErrorOf({"--config", path, "--tick=45s", "--prometheus-url", "https://p"}),
            path + ":2: lookahead: must be at least the tick, 45s (got 30s)");
  EXPECT_EQ(ErrorOf({"--tick=20s", "--lookahead=10s"}),
            "--lookahead: must be at least the tick, 20s (got 10s)");
  // An invalid tick is reported once, not again through the lookahead.
  EXPECT_EQ(ErrorOf({"--tick=20m", "--lookahead=1m"}),
            "--tick: must be between 100ms and 10m (got 20m)");
}

TEST(RunOptionsTest, ConfigFileThatCannotBeUsed) {
  TempDir dir;
  std::string missing = dir.File("x", "") + ".missing";
  EXPECT_EQ(ErrorOf({"--config", missing}),
            absl::StrCat("--config: ", missing, ": cannot open: No such file or directory"));
  std::string two = dir.File("two.yaml", "tick: 1m\n---\ntick: 2m\n");
  EXPECT_EQ(ErrorOf({"--config", two}),
            absl::StrCat(two, ":3: a config file holds one document, found 2"));
  std::string list = dir.File("list.yaml", "- tick: 1m\n");
  EXPECT_THAT(ErrorOf({"--config", list}), HasSubstr(absl::StrCat(list, ":1: must be an object")));
  std::string broken = dir.File("broken.yaml", "tick: [1m\n");
  EXPECT_THAT(ErrorOf({"--config", broken}), HasSubstr(absl::StrCat("--config: ", broken, ":")));
}

TEST(RunOptionsTest, FlagErrorsNameTheFlag) {
  struct Case {
    std::vector<std::string> argv;
    std::string error;
  };
  const Case cases[] = {
      {{"--tik", "1s"}, "--tik: unknown flag (did you mean --tick?)"},
      {{"--verbose"}, "--verbose: unknown flag"},
      {{"--tick"}, "--tick: needs a value"},
      {{"--tick", "fast"},
       "--tick: duration \"fast\": expected a number (want e.g. 90s, 1h30m or 500ms)"},
      {{"--tick", "50ms"}, "--tick: must be between 100ms and 10m (got 50ms)"},
      {{"--tick", "10m1s"}, "--tick: must be between 100ms and 10m (got 10m1s)"},
      {{"--lookahead", "-1s"}, "--lookahead: duration \"-1s\": negative durations are not allowed"},
      {{"--shutdown-grace", "5"},
       "--shutdown-grace: duration \"5\": missing unit (one of ns, us, ms, s, m, h)"},
      {{"--health-addr", "localhost"},
       "--health-addr: \"localhost\" is not HOST:PORT (e.g. \":8081\", \"127.0.0.1:0\" or "
       "\"[::1]:8081\")"},
      {{"--health-addr", ":65536"},
       "--health-addr: \":65536\": port \"65536\" is not a number from 0 to 65535"},
      {{"--health-addr", "host:"},
       "--health-addr: \"host:\": port \"\" is not a number from 0 to "
       "65535"},
      {{"--health-addr", "::1:8081"},
       "--health-addr: \"::1:8081\": an IPv6 host needs brackets, e.g. \"[::1]:8081\""},
      {{"--health-addr", "[zz::1]:80"},
       "--health-addr: \"[zz::1]:80\": \"[zz::1]\" is not a bracketed IPv6 address"},
      {{"--grpc-addr", "bad host:80"},
       "--grpc-addr: \"bad host:80\": \"bad host\" is not a host name or IP address"},
      {{"--grpc-client-auth", "mtls"}, "--grpc-client-auth: must be token or none (got \"mtls\")"},
      {{"--grpc-tls-key-file", ""},
       "--grpc-tls-cert-file and --grpc-tls-key-file: both are needed to serve gRPC over TLS (or "
       "--grpc-plaintext for a local demo, or --grpc-addr=off)"},
      {{"--grpc-addr", "Off"},
       "--grpc-addr: \"Off\" is not HOST:PORT (e.g. \":8081\", "
       "\"127.0.0.1:0\" or \"[::1]:8081\")"},
      {{"--prometheus-url", "prometheus:9090"},
       "--prometheus-url: \"prometheus:9090\": must start with http:// or https://"},
      {{"--prometheus-url", "http://"}, "--prometheus-url: \"http://\": the host is missing"},
      {{"--prometheus-url", "http://p:0"},
       "--prometheus-url: \"http://p:0\": the host or port is not valid (want HOST[:PORT], port "
       "1-65535)"},
      {{"--prometheus-url", "http://a b"},
       "--prometheus-url: \"http://a b\": the host is not valid"},
      {{"--prometheus-url", "http://p/api?x=1"},
       "--prometheus-url: \"http://p/api?x=1\": must not have a query or fragment"},
      {{"--prometheus-url", "https://u:pw@p"},
       "--prometheus-url: \"https://u:pw@p\": must not hold credentials"},
      {{"--prometheus-ca-file", "ca.pem", "--prometheus-url", "http://p"},
       "--prometheus-ca-file: needs an https:// prometheus URL"},
      {{"--leader-election-namespace", "a.b"},
       "--leader-election-namespace: \"a.b\" is not a DNS-1123 label (at most 63 lower-case "
       "letters, digits and '-', starting and ending with a letter or digit)"},
      {{"--leader-election-namespace", std::string(64, 'a')},
       absl::StrCat("--leader-election-namespace: \"", std::string(64, 'a'),
                    "\" is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', "
                    "starting and ending with a letter or digit)")},
      {{"--leader-election-id", "bursar..lease"},
       "--leader-election-id: \"bursar..lease\" is not a DNS-1123 subdomain (at most 253 "
       "lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"},
      {{"--log-level", "trace"}, "--log-level: \"trace\" is not one of debug, info, warn, error"},
      {{"--log-format", "logfmt"}, "--log-format: \"logfmt\" is not one of json, text"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(ErrorOf(c.argv), c.error) << absl::StrJoin(c.argv, " ");
  }
}

TEST(RunOptionsTest, InvalidPodNamespaceIsReportedOnlyWhenUsed) {
  EXPECT_EQ(ErrorOf({}, Env({{"POD_NAMESPACE", "Bad_NS"}})),
            "$POD_NAMESPACE: \"Bad_NS\" is not a DNS-1123 label (at most 63 lower-case letters, "
            "digits and '-', starting and ending with a letter or digit)");
  absl::StatusOr<RunOptions> o =
      ParseRunOptions({"--leader-election-namespace", "ok"}, Env({{"POD_NAMESPACE", "Bad_NS"}}));
  EXPECT_TRUE(o.ok()) << o.status();
}

TEST(RunOptionsTest, EveryErrorIsCollected) {
  TempDir dir;
  std::string path = dir.File("run.yaml", "tick: 1s\nhealthAddr: nope\n");
  EXPECT_THAT(
      Lines(ErrorOf({"--nope", "--config", path, "--tick", "1h", "--log-level=loud", "stray"})),
      ElementsAre("--nope: unknown flag", "unexpected argument \"stray\"",
                  path + ":2: healthAddr: \"nope\" is not HOST:PORT (e.g. \":8081\", "
                         "\"127.0.0.1:0\" or \"[::1]:8081\")",
                  "--tick: must be between 100ms and 10m (got 1h)",
                  "--log-level: \"loud\" is not one of debug, info, warn, error"));
}

TEST(RunOptionsTest, UsageListsEveryFlagWithItsDefaultWithin100Columns) {
  std::string usage = RunUsage();
  for (const std::string& line : Lines(usage)) {
    EXPECT_LE(line.size(), 100u) << line;
  }
  for (const char* flag : {"--config FILE",
                           "--kubeconfig FILE",
                           "--context NAME",
                           "--tick DURATION",
                           "--lookahead DURATION",
                           "--leader-elect[=true|false]",
                           "--leader-election-namespace",
                           "--leader-election-id",
                           "--id NAME",
                           "--health-addr HOST:PORT",
                           "--grpc-addr",
                           "--prometheus-url URL",
                           "--prometheus-ca-file FILE",
                           "--dcgm-query",
                           "--metrics-api[=true|false]",
                           "--log-level",
                           "--log-format",
                           "--shutdown-grace DURATION",
                           "--address-file FILE",
                           "--pod-protobuf[=true|false]"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  // Descriptions wrap onto lines indented by 6; join them back before searching.
  std::string flat = absl::StrReplaceAll(usage, {{"\n      ", " "}});
  for (const char* text :
       {"Default: 15s.", "Default: 2 x tick.", "Default: true.",
        "Default: $POD_NAMESPACE, else bursar-system.", "Default: bursar-operator.",
        "Default: <hostname>_<pid>.", "Default: :8081.", "Default: :9090.", "Default: false.",
        "Default: info.", "Default: json.", "Default: 10s.", "(leaderElectionNamespace)",
        "(shutdownGrace)"}) {
    EXPECT_THAT(flat, HasSubstr(text));
  }
}

TEST(RunOptionsTest, ExampleConfigIsValidAndMentionsEverySetting) {
  std::string path = std::string(BURSAR_SOURCE_DIR) + "/examples/operator/config.yaml";
  absl::StatusOr<RunOptions> o = ParseRunOptions({"--config", path}, Env());
  ASSERT_TRUE(o.ok()) << o.status();
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Each key is set or shown commented out ("# key: value").
  for (const char* key : {"kubeconfig",
                          "context",
                          "tick",
                          "lookahead",
                          "leaderElect",
                          "leaderElectionNamespace",
                          "leaderElectionId",
                          "id",
                          "healthAddr",
                          "grpcAddr",
                          "prometheusUrl",
                          "prometheusCaFile",
                          "dcgmQuery",
                          "metricsApi",
                          "logLevel",
                          "logFormat",
                          "shutdownGrace",
                          "webhookCertDir",
                          "webhookAddr",
                          "addressFile",
                          "webhookCerts",
                          "webhookCertSecret",
                          "webhookService",
                          "webhookConfigurations",
                          "webhookCertValidity",
                          "webhookCaValidity"}) {
    EXPECT_THAT(text, ::testing::ContainsRegex(absl::StrCat("(^|\n)(# )?", key, ":"))) << key;
  }
}

TEST(ArgsTest, BooleanFlagsSwitchesAndValues) {
  absl::StatusOr<Args> args = Args::Parse({"--a", "1", "--b=2", "--q", "--on", "--off=false", "p"},
                                          {"a", "b"}, {"q"}, {"on", "off"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->Get("a"), "1");
  EXPECT_EQ(args->Get("b"), "2");
  EXPECT_EQ(args->Get("q"), "true");
  EXPECT_EQ(args->Get("on"), "true");
  EXPECT_EQ(args->Get("off"), "false");
  EXPECT_THAT(args->positional(), ElementsAre("p"));
}

TEST(ArgsTest, ParseReportsEveryProblemAndParseAllKeepsTheRest) {
  std::vector<std::string> argv = {"--q=1", "--scenaro", "x", "--a", "7", "y", "--b"};
  absl::StatusOr<Args> args = Args::Parse(argv, {"a", "b", "scenario"}, {"q"});
  ASSERT_FALSE(args.ok());
  EXPECT_EQ(args.status().message(),
            "--q: takes no value\n--scenaro: unknown flag (did you mean --scenario?)\n"
            "--b: needs a value");
  std::vector<std::string> errors;
  Args partial = Args::ParseAll(argv, {"a", "b", "scenario"}, {"q"}, {}, &errors);
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_EQ(partial.Get("a"), "7");
  EXPECT_THAT(partial.positional(), ElementsAre("y"));  // "x" went with --scenaro
  std::vector<std::string> none;
  Args::ParseAll({"--a", "1"}, {"a"}, {}, {}, &none);
  EXPECT_THAT(none, IsEmpty());
}

}  // namespace
}  // namespace bursar::cmd
