#include "operator/kube/kubeconfig.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/values/strings.h"
#include "tests/unit/temp_dir.h"

namespace bursar::kube {
namespace {

namespace fs = std::filesystem;

constexpr char kCa[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr char kCert[] = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN EC PRIVATE KEY-----\nKEY\n-----END EC PRIVATE KEY-----\n";

// Sets environment variables for one test and restores them afterwards.
class EnvGuard {
 public:
  void Set(const char* name, const char* value) {
    if (!saved_.count(name)) {
      const char* old = std::getenv(name);
      saved_[name] = old ? std::optional<std::string>(old) : std::nullopt;
    }
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~EnvGuard() {
    for (const auto& [name, value] : saved_) {
      if (value.has_value()) {
        ::setenv(name.c_str(), value->c_str(), 1);
      } else {
        ::unsetenv(name.c_str());
      }
    }
  }

 private:
  std::map<std::string, std::optional<std::string>> saved_;
};

std::string B64(std::string_view s) {
  return absl::Base64Escape(values::AbslView(s));
}

std::string Message(const absl::Status& s) {
  return std::string(s.message());
}

// A kubeconfig with two clusters and users, as kind and kubeadm write them.
std::string TwoContexts() {
  return absl::StrCat(R"(apiVersion: v1
kind: Config
preferences: {}
current-context: kind-bursar
clusters:
- name: kind-bursar
  cluster:
    server: https://127.0.0.1:36443/
    certificate-authority-data: )",
                      B64(kCa), R"(
- name: staging
  cluster:
    server: https://staging.example.com:6443
    certificate-authority: pki/ca.crt
    tls-server-name: kubernetes.default.svc
users:
- name: kind-bursar
  user:
    client-certificate-data: )",
                      B64(kCert), R"(
    client-key-data: )",
                      B64(kKey), R"(
- name: staging-admin
  user:
    client-certificate: pki/admin.crt
    client-key: /ABSOLUTE_KEY
contexts:
- name: kind-bursar
  context:
    cluster: kind-bursar
    user: kind-bursar
- name: staging
  context:
    cluster: staging
    user: staging-admin
    namespace: bursar-system
)");
}

TEST(KubeconfigTest, CurrentContextWithEmbeddedData) {
  TempDir dir;
  const std::string path = dir.File("config", TwoContexts());
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:36443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
  EXPECT_EQ(config->bearer_token, "");
  EXPECT_EQ(config->token_file, "");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->tls_server_name, "");
  EXPECT_EQ(config->default_namespace, "");
}

TEST(KubeconfigTest, NamedContextWithFilesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.File("kube/pki/ca.crt", kCa);
  dir.File("kube/pki/admin.crt", kCert);
  const std::string key = dir.File("elsewhere/admin.key", kKey);
  std::string text = TwoContexts();
  text.replace(text.find("/ABSOLUTE_KEY"), 13, key);
  const std::string path = dir.File("kube/config", text);
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path, "staging");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://staging.example.com:6443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->client_cert_pem, kCert);
  EXPECT_EQ(config->client_key_pem, kKey);
  EXPECT_EQ(config->tls_server_name, "kubernetes.default.svc");
  EXPECT_EQ(config->default_namespace, "bursar-system");
}

TEST(KubeconfigTest, TokenAndTokenFile) {
  TempDir dir;
  dir.File("tokens/sa", "eyJhbGciOi.token.from-file\n");
  const std::string path = dir.File("config", R"(
clusters:
- name: c
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: static
  user: {token: " abc.def.ghi "}
- name: rotating
  user: {tokenFile: tokens/sa}
contexts:
- name: static
  context: {cluster: c, user: static}
- name: rotating
  context: {cluster: c, user: rotating}
current-context: static
)");
  absl::StatusOr<ClusterConfig> token = LoadKubeconfig(path);
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->bearer_token, "abc.def.ghi");
  EXPECT_TRUE(token->insecure_skip_tls_verify);
  EXPECT_EQ(token->ca_pem, "");

  absl::StatusOr<ClusterConfig> file = LoadKubeconfig(path, "rotating");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->token_file, dir.Path("tokens/sa"));
  EXPECT_EQ(file->bearer_token, "");
}

TEST(KubeconfigTest, InsecureOnlyWhenSetToTrue) {
  TempDir dir;
  for (const auto& [setting, want] :
       std::vector<std::pair<std::string, bool>>{{"", false},
                                                 {"insecure-skip-tls-verify: false", false},
                                                 {"insecure-skip-tls-verify: true", true}}) {
    const std::string path = dir.File("config", absl::StrCat(R"(
clusters:
- name: c
  cluster:
    server: https://h:6443
    )",
                                                             setting, R"(
contexts:
- {name: x, context: {cluster: c}}
current-context: x
)"));
    absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
    ASSERT_TRUE(config.ok()) << setting << ": " << config.status();
    EXPECT_EQ(config->insecure_skip_tls_verify, want) << setting;
  }
}

struct ErrorCase {
  std::string name;
  std::string yaml;
  std::string context;
  std::string want;  // the message after "kubeconfig <path>: "
};

TEST(KubeconfigTest, ErrorsNameTheFileAndTheKey) {
  const std::string cluster = R"(
clusters:
- name: c
  cluster: {server: "https://h:6443"}
)";
  const std::vector<ErrorCase> cases = {
      {"bad base64",
       cluster + R"(users:
- name: u
  user: {client-certificate-data: )" +
           B64(kCert) +
           R"(, client-key-data: "!!!not base64!!!"}
contexts:
- {name: x, context: {cluster: c, user: u}}
current-context: x
)",
       "", "users[0].user.client-key-data: not valid base64"},
      {"missing current-context", cluster + "contexts:\n- {name: x, context: {cluster: c}}\n", "",
       "current-context is not set; name a context to use"},
      {"missing context",
       cluster + "contexts:\n- {name: x, context: {cluster: c}}\ncurrent-context: x\n", "nope",
       "context \"nope\" not found (contexts: x)"},
      {"missing cluster", "contexts:\n- {name: x, context: {cluster: gone}}\n", "x",
       "contexts[0].context.cluster: cluster \"gone\" not found"},
      {"missing user", cluster + "contexts:\n- {name: x, context: {cluster: c, user: u}}\n", "x",
       "contexts[0].context.user: user \"u\" not found"},
      {"no server",
       "clusters:\n- {name: c, cluster: {}}\ncontexts:\n- {name: x, context: "
       "{cluster: c}}\n",
       "x", "clusters[0].cluster.server: is required"},
      {"not a url",
       "clusters:\n- {name: c, cluster: {server: \"h:6443\"}}\ncontexts:\n- {name: x, context: "
       "{cluster: c}}\n",
       "x", "clusters[0].cluster.server: \"h:6443\" is not an http(s) URL"},
      {"missing ca file",
       "clusters:\n- {name: c, cluster: {server: \"https://h\", certificate-authority: nope.crt}}\n"
       "contexts:\n- {name: x, context: {cluster: c}}\n",
       "x", "clusters[0].cluster.certificate-authority: "},
      {"insecure with ca",
       "clusters:\n- {name: c, cluster: {server: \"https://h\", insecure-skip-tls-verify: true, "
       "certificate-authority-data: " +
           B64(kCa) + "}}\ncontexts:\n- {name: x, context: {cluster: c}}\n",
       "x", "clusters[0].cluster: insecure-skip-tls-verify cannot be combined"},
      {"insecure not a bool",
       "clusters:\n- {name: c, cluster: {server: \"https://h\", insecure-skip-tls-verify: maybe}}\n"
       "contexts:\n- {name: x, context: {cluster: c}}\n",
       "x", "clusters[0].cluster.insecure-skip-tls-verify: \"maybe\" is not a boolean"},
      {"cert without key",
       cluster + "users:\n- {name: u, user: {client-certificate-data: " + B64(kCert) +
           "}}\ncontexts:\n- {name: x, context: {cluster: c, user: u}}\n",
       "x", "users[0].user: client-certificate is set without client-key"},
      {"missing token file",
       cluster + "users:\n- {name: u, user: {tokenFile: /nonexistent/token}}\n"
                 "contexts:\n- {name: x, context: {cluster: c, user: u}}\n",
       "x", "users[0].user.tokenFile: /nonexistent/token: No such file or directory"},
      {"clusters not a list", "clusters: {a: b}\ncontexts:\n- {name: x, context: {cluster: c}}\n",
       "x", "clusters: must be a list"},
      {"not a mapping", "- just\n- a list\n", "x", "not a kubeconfig (expected a mapping)"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const std::string path = dir.File("config", c.yaml);
    absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path, c.context);
    ASSERT_FALSE(config.ok());
    const std::string prefix = absl::StrCat("kubeconfig ", path, ": ");
    EXPECT_EQ(Message(config.status()).substr(0, prefix.size() + c.want.size()), prefix + c.want)
        << config.status();
  }
}

TEST(KubeconfigTest, ExecPluginsAreNotSupported) {
  TempDir dir;
  const std::string path = dir.File("config", R"(
clusters:
- {name: c, cluster: {server: "https://eks.example.com"}}
users:
- name: u
  user:
    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws}
contexts:
- {name: x, context: {cluster: c, user: u}}
current-context: x
)");
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_NE(Message(config.status()).find("users[0].user.exec: not supported"), std::string::npos)
      << config.status();
}

TEST(KubeconfigTest, YamlSyntaxErrorsNameTheLine) {
  TempDir dir;
  const std::string path = dir.File("config", "clusters:\n- name: [unclosed\n");
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  // "kubeconfig <path>:<line>:<column>: <reason>", as the YAML reader writes every error.
  const std::string prefix = absl::StrCat("kubeconfig ", path, ":");
  const std::string message = Message(config.status());
  ASSERT_GT(message.size(), prefix.size()) << config.status();
  EXPECT_EQ(message.substr(0, prefix.size()), prefix) << config.status();
  EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(message[prefix.size()]))) << config.status();
}

// Hostile YAML is bounded as for manifests (operator/yaml): found by review of the kubeconfig
// fuzz target (tests/fuzz/kubeconfig_fuzz.cc), which read with YAML::Load and no size cap.
TEST(KubeconfigTest, HostileYamlIsRefusedWithAReason) {
  const std::string valid = R"(
clusters:
- {name: c, cluster: {server: "https://h:6443"}}
contexts:
- {name: x, context: {cluster: c}}
current-context: x
)";
  struct Case {
    std::string name;
    std::string yaml;
    std::string want;  // in the message
  };
  const std::vector<Case> cases = {
      // yaml-cpp allocated ~250 bytes per byte of a flow collection; it was parsed whole.
      {"over 4 MiB", valid + "# " + std::string(5 << 20, 'x') + "\n", "larger than 4 MiB"},
      // yaml-cpp said "bad file".
      {"deep nesting", "clusters: " + std::string(400, '[') + std::string(400, ']') + "\n",
       "nesting deeper than 100 levels"},
      {"alias cycle", "clusters: &a [*a]\n" + valid.substr(valid.find("contexts")), "alias"},
      {"two documents", valid + "---\n" + valid, "holds 2 YAML documents"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    const std::string path = dir.File("config", c.yaml);
    absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(Message(config.status()).find(c.want), std::string::npos) << config.status();
  }
}

TEST(KubeconfigTest, ScalarsOfAnyTypeReadAsTheirText) {
  TempDir dir;
  const std::string path = dir.File("config", R"(
clusters:
- {name: 2026, cluster: {server: "https://h:6443", insecure-skip-tls-verify: true}}
users:
- {name: u, user: {token: 12345}}
contexts:
- {name: x, context: {cluster: 2026, user: u}}
current-context: x
)");
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->bearer_token, "12345");
}

TEST(KubeconfigTest, MissingFile) {
  absl::StatusOr<ClusterConfig> config = LoadKubeconfig("/nonexistent/kubeconfig");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Message(config.status()).find("/nonexistent/kubeconfig"), std::string::npos);
}

TEST(KubeconfigTest, SeveralPathsUseTheFirstThatExists) {
  TempDir dir;
  const std::string first = dir.File("a/config", TwoContexts());
  const std::string second = dir.File("b/config", "not: [valid");
  absl::StatusOr<ClusterConfig> config =
      LoadKubeconfig(absl::StrCat(dir.Path("missing"), ":", first, ":", second));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:36443");

  absl::StatusOr<ClusterConfig> none =
      LoadKubeconfig(absl::StrCat(dir.Path("x"), ":", dir.Path("y")));
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
}

TEST(KubeconfigTest, DefaultPathFromEnvironment) {
  EnvGuard env;
  env.Set("KUBECONFIG", "/a:/b");
  EXPECT_EQ(*DefaultKubeconfigPath(), "/a:/b");
  env.Set("KUBECONFIG", "");
  env.Set("HOME", "/home/me");
  EXPECT_EQ(*DefaultKubeconfigPath(), "/home/me/.kube/config");
  env.Set("HOME", nullptr);
  EXPECT_FALSE(DefaultKubeconfigPath().ok());
}

// ---- In-cluster configuration ----

TEST(InClusterConfigTest, ReadsTheServiceAccountMount) {
  TempDir dir;
  dir.File("ca.crt", kCa);
  dir.File("token", "sa-token\n");
  dir.File("namespace", "bursar-system");
  EnvGuard env;
  env.Set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.Set("KUBERNETES_SERVICE_PORT", "443");
  absl::StatusOr<ClusterConfig> config = InClusterConfig(dir.path().string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.96.0.1:443");
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->token_file, dir.Path("token"));
  EXPECT_EQ(config->bearer_token, "");  // read through a TokenSource, which follows rotation
  EXPECT_EQ(config->default_namespace, "bursar-system");

  env.Set("KUBERNETES_SERVICE_HOST", "fd00:10:96::1");
  config = InClusterConfig(dir.path().string());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00:10:96::1]:443");
}

TEST(InClusterConfigTest, FailsOutsideACluster) {
  TempDir dir;
  EnvGuard env;
  env.Set("KUBERNETES_SERVICE_HOST", nullptr);
  env.Set("KUBERNETES_SERVICE_PORT", "443");
  EXPECT_EQ(InClusterConfig(dir.path().string()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  env.Set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  absl::StatusOr<ClusterConfig> no_ca = InClusterConfig(dir.path().string());
  EXPECT_EQ(no_ca.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Message(no_ca.status()).find("ca.crt"), std::string::npos) << no_ca.status();

  dir.File("ca.crt", kCa);
  absl::StatusOr<ClusterConfig> no_token = InClusterConfig(dir.path().string());
  EXPECT_EQ(no_token.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(Message(no_token.status()).find("token"), std::string::npos) << no_token.status();
}

// ---- TokenSource ----

// A wall clock the test moves by hand.
struct FakeNow {
  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  TokenSource::NowFn Fn() {
    return [this] { return now; };
  }
};

void SetMtime(const std::string& path, int64_t seconds) {
  struct timespec times[2] = {{static_cast<time_t>(seconds), 0}, {static_cast<time_t>(seconds), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

TEST(TokenSourceTest, PicksUpARotatedToken) {
  TempDir dir;
  FakeNow clock;
  const std::string path = dir.File("token", "first-token\n");
  SetMtime(path, 1000);
  TokenSource source = TokenSource::File(path, "", clock.Fn());
  EXPECT_EQ(*source.Token(), "first-token");

  // Rewritten in place with a new modification time: picked up at once.
  dir.File("token", "second-token");
  SetMtime(path, 2000);
  EXPECT_EQ(*source.Token(), "second-token");

  // The kubelet swaps a symlinked file atomically: a new inode.
  dir.File("token.new", "third-token");
  fs::rename(dir.Path("token.new"), path);
  SetMtime(path, 2000);
  EXPECT_EQ(*source.Token(), "third-token");
}

TEST(TokenSourceTest, RereadsAtLeastEveryMinute) {
  TempDir dir;
  FakeNow clock;
  const std::string path = dir.File("token", "aaaa");
  SetMtime(path, 1000);
  TokenSource source = TokenSource::File(path, "", clock.Fn());
  EXPECT_EQ(*source.Token(), "aaaa");
  // Same size, same inode, same mtime: invisible to stat, so the period decides.
  dir.File("token", "bbbb");
  SetMtime(path, 1000);
  clock.now += absl::Seconds(59);
  EXPECT_EQ(*source.Token(), "aaaa");
  clock.now += absl::Seconds(1);
  EXPECT_EQ(*source.Token(), "bbbb");
}

TEST(TokenSourceTest, KeepsTheLastGoodTokenWhileTheFileIsGone) {
  TempDir dir;
  FakeNow clock;
  const std::string path = dir.File("token", "good");
  TokenSource source = TokenSource::File(path, "", clock.Fn());
  EXPECT_EQ(*source.Token(), "good");
  fs::remove(path);
  clock.now += absl::Minutes(5);
  EXPECT_EQ(*source.Token(), "good");
  dir.File("token", "");  // mid-rewrite: empty
  EXPECT_EQ(*source.Token(), "good");
}

TEST(TokenSourceTest, FailsOnlyWithoutAnyToken) {
  TempDir dir;
  TokenSource missing = TokenSource::File(dir.Path("token"));
  EXPECT_EQ(missing.Token().status().code(), absl::StatusCode::kNotFound);
  TokenSource with_fallback = TokenSource::File(dir.Path("token"), "from-kubeconfig");
  EXPECT_EQ(*with_fallback.Token(), "from-kubeconfig");
  dir.File("token", "now-there");
  EXPECT_EQ(*with_fallback.Token(), "now-there");
  EXPECT_EQ(*TokenSource::Static(" fixed\n").Token(), "fixed");
}

TEST(TokenSourceTest, ConcurrentReadersSeeAWholeToken) {
  TempDir dir;
  const std::string path = dir.File("token", "token-0");
  TokenSource source = TokenSource::File(path);
  std::vector<std::thread> readers;
  std::atomic<int> bad{0};
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      for (int j = 0; j < 200; ++j) {
        absl::StatusOr<std::string> token = source.Token();
        if (!token.ok() || token->rfind("token-", 0) != 0) {
          ++bad;
        }
      }
    });
  }
  for (int i = 1; i <= 20; ++i) {
    dir.File("token.new", absl::StrCat("token-", i));
    fs::rename(dir.Path("token.new"), path);
  }
  for (std::thread& t : readers) {
    t.join();
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(*source.Token(), "token-20");
}

}  // namespace
}  // namespace bursar::kube
