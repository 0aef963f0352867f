// The webhook's self-managed serving certificate against the real kube-apiserver: two replicas
// racing to create the Secret end up serving one certificate; the leader fills caBundle of the
// named webhook configurations and of nothing else; with short validities (15 s leaf, 30 s CA)
// the leaf and the CA rotate before expiry while a TLS client that trusts only the caBundle
// read from the API server keeps connecting to a server that serves from the cert dir.

#include "operator/runtime/serving_cert.h"

#include <gmock/gmock.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/serving_cert_manager.h"
#include "tests/integration/cluster_test_base.h"
#include "tests/unit/temp_dir.h"

extern char** environ;

namespace bursar::testing {
namespace {

using runtime::kMutatingWebhookConfigurations;
using runtime::kValidatingWebhookConfigurations;

// A webhook configuration whose one webhook never matches anything (an objectSelector no object
// carries), pointing at the Service `service` in `ns`.
json::Value WebhookConfiguration(bool mutating, const std::string& name, const std::string& ns,
                                 const std::string& service) {
  return JsonOrFail(
      absl::StrCat(R"({"apiVersion":"admissionregistration.k8s.io/v1","kind":")",
                   mutating ? "MutatingWebhookConfiguration" : "ValidatingWebhookConfiguration",
                   R"(","metadata":{"name":")", name, R"("},"webhooks":[{"name":"never.bursar.dev",
      "clientConfig":{"service":{"namespace":")",
                   ns, R"(","name":")", service, R"(","path":"/validate","port":443}},
      "rules":[{"operations":["CREATE"],"apiGroups":[""],"apiVersions":["v1"],
                "resources":["configmaps"]}],
      "objectSelector":{"matchLabels":{"bursar.dev/never":"true"}},
      "failurePolicy":"Ignore","sideEffects":"None","admissionReviewVersions":["v1"],
      "timeoutSeconds":2}]})"));
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ServingCertTest : public ClusterTest {
 protected:
  void TearDown() override {
    for (const auto& [type, name] : configurations_) {
      (void)client().Delete(*type, "", name);
    }
    ClusterTest::TearDown();
  }

  void CreateConfiguration(bool mutating, const std::string& name, const std::string& ns) {
    const kube::ResourceType& type =
        mutating ? kMutatingWebhookConfigurations : kValidatingWebhookConfigurations;
    absl::StatusOr<json::Value> made =
        client().Create(type, "", WebhookConfiguration(mutating, name, ns, "bursar-webhook"));
    ASSERT_TRUE(made.ok()) << made.status();
    configurations_.push_back({&type, name});
  }

  // The caBundle of every webhook of the configuration, decoded.
  std::vector<std::string> CaBundles(bool mutating, const std::string& name) {
    absl::StatusOr<json::Value> got = client().Get(
        mutating ? kMutatingWebhookConfigurations : kValidatingWebhookConfigurations, "", name);
    EXPECT_TRUE(got.ok()) << got.status();
    std::vector<std::string> out;
    for (const json::Value& w :
         got.ok() ? got->Find("webhooks")->elements() : std::vector<json::Value>{}) {
      std::string pem;
      EXPECT_TRUE(absl::Base64Unescape(json::StringAt(w, "clientConfig.caBundle"), &pem));
      out.push_back(pem);
    }
    return out;
  }

  std::string SecretKey(const std::string& ns, const std::string& name, const char* key) {
    absl::StatusOr<json::Value> secret = client().Get(kube::kSecrets, ns, name);
    EXPECT_TRUE(secret.ok()) << secret.status();
    std::string pem;
    if (secret.ok()) {
      EXPECT_TRUE(absl::Base64Unescape(json::MemberStringAt(*secret, "data", key), &pem));
    }
    return pem;
  }

  runtime::ServingCertManagerOptions Options(const std::string& ns, const std::string& dir,
                                             bool leader) {
    runtime::ServingCertManagerOptions o;
    o.secret_namespace = ns;
    o.secret_name = "bursar-webhook-tls";
    o.cert_dir = dir;
    o.configurations = {{.mutating = true, .name = Id()}, {.mutating = false, .name = Id()}};
    o.policy.dns_names = runtime::ServiceDnsNames("bursar-webhook", ns);
    o.is_leader = [leader] { return leader; };
    return o;
  }

  std::vector<std::pair<const kube::ResourceType*, std::string>> configurations_;
  runtime::SystemClock clock_;
};

TEST_F(ServingCertTest, TwoRacingReplicasCreateOneSecretAndServeTheSameCertificate) {
  const std::string ns = Namespace();
  CreateConfiguration(true, Id(), ns);
  CreateConfiguration(false, Id(), ns);
  CreateConfiguration(false, Id() + "-other", ns);  // not named: must stay untouched
  TempDir tmp;
  runtime::Registry registry;
  runtime::ServingCertManagerOptions leader_options = Options(ns, tmp.Path("a"), true);
  leader_options.metrics = &registry;
  runtime::ServingCertManager leader(client(), clock_, leader_options);
  runtime::ServingCertManager follower(client(), clock_, Options(ns, tmp.Path("b"), false));
  EXPECT_EQ(leader.NotReadyReason(), "the webhook serving certificate is not written yet");

  absl::StatusOr<absl::Time> a, b;
  std::thread ta([&] { a = leader.Sync(); });
  std::thread tb([&] { b = follower.Sync(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();

  const std::string crt = SecretKey(ns, "bursar-webhook-tls", runtime::kTlsCertKey);
  const std::string ca = SecretKey(ns, "bursar-webhook-tls", runtime::kCaCertKey);
  // Each replica generated a bundle of its own before creating; only one create won, and both
  // serve the winner's.
  EXPECT_EQ(Slurp(tmp.Path("a/tls.crt")), crt);
  EXPECT_EQ(Slurp(tmp.Path("b/tls.crt")), crt);
  EXPECT_EQ(Slurp(tmp.Path("b/tls.key")), SecretKey(ns, "bursar-webhook-tls", runtime::kTlsKeyKey));
  EXPECT_EQ(leader.NotReadyReason(), "");
  EXPECT_EQ(follower.NotReadyReason(), "");
  EXPECT_TRUE(
      runtime::VerifyServingCert(crt, ca, "bursar-webhook." + ns + ".svc", absl::Now()).ok());

  absl::StatusOr<std::vector<runtime::CertInfo>> served = runtime::ParseCertificates(crt);
  ASSERT_TRUE(served.ok()) << served.status();
  // The exposition prints 9 significant digits (1.80432387e+09): within 10 s.
  const std::string metrics = registry.Render();
  const std::string name = "\nbursar_webhook_certificate_expiry_timestamp_seconds ";
  double expiry = 0;
  ASSERT_NE(metrics.find(name), std::string::npos) << metrics;
  ASSERT_TRUE(absl::SimpleAtod(
      metrics.substr(metrics.find(name) + name.size(),
                     metrics.find('\n', metrics.find(name) + 1) - metrics.find(name) - name.size()),
      &expiry))
      << metrics;
  EXPECT_NEAR(expiry, static_cast<double>(absl::ToUnixSeconds(served->front().not_after)), 10);

  // The leader filled both named configurations; the other one is untouched.
  EXPECT_EQ(CaBundles(true, Id()), std::vector<std::string>{ca});
  EXPECT_EQ(CaBundles(false, Id()), std::vector<std::string>{ca});
  EXPECT_EQ(CaBundles(false, Id() + "-other"), std::vector<std::string>{""});

  // A second pass changes nothing: the same certificate, no new Secret version.
  absl::StatusOr<json::Value> before = client().Get(kube::kSecrets, ns, "bursar-webhook-tls");
  ASSERT_TRUE(leader.Sync().ok());
  absl::StatusOr<json::Value> after = client().Get(kube::kSecrets, ns, "bursar-webhook-tls");
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_EQ(json::StringAt(*before, "metadata.resourceVersion"),
            json::StringAt(*after, "metadata.resourceVersion"));
}

// A child process running the reloading TLS server; its port.
class TlsServer {
 public:
  explicit TlsServer(const std::string& cert_dir) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::string script =
        std::string(BURSAR_SOURCE_DIR) + "/tests/integration/fixtures/reloading_tls_server.py";
    std::vector<char*> argv = {const_cast<char*>("python3"), script.data(),
                               const_cast<char*>(cert_dir.c_str()), nullptr};
    EXPECT_EQ(posix_spawnp(&pid_, "python3", &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fds[0];  // open until the server ends: it must never write into a closed pipe
    std::string line;
    char c = 0;
    while (line.size() < 16 && read(out_, &c, 1) == 1 && c != '\n') {
      line.push_back(c);
    }
    EXPECT_TRUE(absl::SimpleAtoi(line, &port_)) << "the server printed \"" << line << "\"";
  }
  ~TlsServer() {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
    close(out_);
  }
  int port() const { return port_; }

 private:
  pid_t pid_ = 0;
  int out_ = -1;
  int port_ = 0;
};

// Connects with the openssl client, trusting only `ca_file` and checking `host` against the
// certificate; the body the server sent (the SHA-256 of the certificate it served), or "" when
// the handshake or the verification failed.
std::string Probe(int port, const std::string& host, const std::string& ca_file) {
  std::string command = absl::StrCat(
      "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | openssl s_client -quiet -connect 127.0.0.1:", port,
      " -servername ", host, " -verify_hostname ", host, " -CAfile ", ca_file,
      " -verify_return_error 2>/dev/null");
  FILE* p = popen(command.c_str(), "r");
  std::string out;
  char buf[512];
  while (p != nullptr && fgets(buf, sizeof buf, p) != nullptr) {
    out += buf;
  }
  if (p != nullptr) {
    pclose(p);  // s_client exits 1 even after a good exchange: judge by what it printed
  }
  // With -verify_return_error a certificate that does not verify ends the handshake, so the
  // server's answer is printed only after a verified one.
  if (!absl::StrContains(out, "200 OK")) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(out.substr(out.rfind("\r\n\r\n") + 4)));
}

TEST_F(ServingCertTest, LeafAndCaRotateBeforeExpiryAndATrustingClientNeverFails) {
  const std::string ns = Namespace();
  CreateConfiguration(true, Id(), ns);
  CreateConfiguration(false, Id(), ns);
  TempDir tmp;
  runtime::ServingCertManagerOptions o = Options(ns, tmp.Path("certs"), true);
  o.policy.leaf_validity = absl::Seconds(15);
  o.policy.ca_validity = absl::Seconds(30);
  o.policy.ca_propagation = runtime::DefaultCaPropagation(o.policy.leaf_validity);
  o.resync = absl::Seconds(1);
  runtime::ServingCertManager manager(client(), clock_, o);
  // The follower shares the Secret: it must pick up each rotation from it.
  runtime::ServingCertManager follower(client(), clock_, [&] {
    runtime::ServingCertManagerOptions f = o;
    f.cert_dir = tmp.Path("follower");
    f.is_leader = [] { return false; };
    return f;
  }());
  ASSERT_TRUE(manager.Sync().ok());
  runtime::Wakeup stop;
  std::thread leader_thread([&] { manager.Run(&stop); });
  std::thread follower_thread([&] { follower.Run(&stop); });
  TlsServer server(tmp.Path("follower"));
  ASSERT_GT(server.port(), 0);
  // The follower writes its dir within a second; wait for it.
  for (int i = 0; i < 50 && !std::filesystem::exists(tmp.Path("follower/tls.crt")); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  const std::string host = absl::StrCat("bursar-webhook.", ns, ".svc");
  // The probe can fail: a name the certificate does not carry is refused.
  EXPECT_EQ(Probe(server.port(), "evil.example", tmp.File("ca.pem", CaBundles(false, Id())[0])),
            "");
  std::set<std::string> leaves, cas;
  int probes = 0, failures = 0, two_ca_bundles = 0;
  std::string first_failure;
  const absl::Time end = absl::Now() + absl::Seconds(40);
  while (absl::Now() < end) {
    // What the API server would trust right now: the caBundle as stored.
    std::vector<std::string> bundle = CaBundles(false, Id());
    ASSERT_EQ(bundle.size(), 1u);
    const std::string ca_file = tmp.File("ca.pem", bundle[0]);
    absl::StatusOr<std::vector<runtime::CertInfo>> in_bundle =
        runtime::ParseCertificates(bundle[0]);
    ASSERT_TRUE(in_bundle.ok()) << in_bundle.status();
    two_ca_bundles += in_bundle->size() == 2 ? 1 : 0;
    cas.insert(in_bundle->front().common_name);
    std::string served = Probe(server.port(), host, ca_file);
    ++probes;
    if (served.empty()) {
      ++failures;
      if (first_failure.empty()) {
        first_failure = absl::StrCat("probe ", probes, " at ", absl::FormatTime(absl::Now()));
      }
    } else {
      leaves.insert(served);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  stop.Notify();
  leader_thread.join();
  follower_thread.join();

  std::printf("%d probes, %d failed; %zu leaves served, %zu CAs, %d probes saw two CAs\n", probes,
              failures, leaves.size(), cas.size(), two_ca_bundles);
  EXPECT_EQ(failures, 0) << "of " << probes << " probes; first: " << first_failure;
  // 40 s of a 15 s leaf renewed at 10 s: at least three leaves; a 30 s CA renewed at 20 s: two
  // CAs, with an overlap during which caBundle held both.
  EXPECT_GE(leaves.size(), 3u);
  EXPECT_GE(cas.size(), 2u);
  EXPECT_GT(two_ca_bundles, 0);
  // The mutating configuration got the same bundle.
  EXPECT_EQ(CaBundles(true, Id()), CaBundles(false, Id()));
}

}  // namespace
}  // namespace bursar::testing
