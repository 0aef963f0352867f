#pragma once

// Where the API server is and how to authenticate to it: from a kubeconfig file (kubectl's
// format) or from inside a pod (the service-account mount), as client-go's clientcmd and
// rest.InClusterConfig do. The result is plain data for the transport.
//
// Differences from client-go, on purpose:
// - KUBECONFIG with several paths: the first file that exists is used; files are not merged.
// - exec and auth-provider credential plugins are not supported: a user that has only those
//   is an error (naming the key), not an anonymous client.
// Errors name the file and the key path: `kubeconfig /home/me/.kube/config:
// users[0].user.client-key-data: not valid base64`, or the line and column of a YAML error.
// The file is read by the project's YAML reader (operator/yaml), so hostile input is bounded as
// for manifests: over 4 MiB, nesting over 100 levels, alias cycles and alias expansion are
// errors, never a crash or an unbounded allocation. Files it names (PEMs, a token) are read up to
// 16 MiB.
//
// Tokens rotate: bound service-account tokens are refreshed by the kubelet about every hour.
// TokenSource re-reads a token file the way client-go does, so a long-running operator keeps
// authenticating.

#include <functional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace bursar::kube {

struct ClusterConfig {
  std::string server;  // https://host:port, no trailing slash
  // PEM texts (files are read when the config is loaded; relative paths are resolved against
  // the kubeconfig's folder).
  std::string ca_pem;           // empty: the system's trust store
  std::string client_cert_pem;  // client certificate authentication: both or neither
  std::string client_key_pem;
  // Bearer token authentication. When token_file is set it wins (as in client-go): read it
  // through a TokenSource, which follows rotation; bearer_token is then only a fallback.
  std::string bearer_token;
  std::string token_file;
  bool insecure_skip_tls_verify = false;  // only when the kubeconfig says so explicitly
  std::string tls_server_name;            // SNI and verification name, if not the host
  // The context's namespace, or the pod's own namespace in a cluster; "" when unknown.
  std::string default_namespace;
};

// Loads `path` (a single file, or a KUBECONFIG-style ':'-separated list: the first that
// exists) and resolves `context`, or the file's current-context when `context` is empty.
absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path,
                                             std::string_view context = "");

// $KUBECONFIG when set and not empty, else $HOME/.kube/config. Fails when neither is known.
absl::StatusOr<std::string> DefaultKubeconfigPath();

// The service-account configuration of a pod: KUBERNETES_SERVICE_HOST / _PORT (an IPv6 host
// is bracketed), `root`/ca.crt, `root`/token (as token_file, so that it is re-read) and
// `root`/namespace. FailedPrecondition outside a cluster.
absl::StatusOr<ClusterConfig> InClusterConfig(
    const std::string& root = "/var/run/secrets/kubernetes.io/serviceaccount");

// The bearer token to send, from a file that may be rotated. A file is re-read when its
// modification time, size or inode changes, and at least once a minute regardless (client-go's
// period), so a rotation is picked up on the next request. When a re-read fails, the last good
// token is kept. Thread-safe.
class TokenSource {
 public:
  // The clock decides when a minute has passed; tests pass a simulated one.
  using NowFn = std::function<absl::Time()>;
  static constexpr absl::Duration kMaxAge = absl::Minutes(1);

  // A fixed token: never re-read.
  static TokenSource Static(std::string token);
  // A token file; `fallback` is returned while the file cannot be read and no token has been.
  static TokenSource File(std::string path, std::string fallback = "", NowFn now = nullptr);

  TokenSource(TokenSource&& other) noexcept;
  TokenSource& operator=(TokenSource&&) = delete;

  // The current token (whitespace trimmed). Fails only when no token was ever read.
  absl::StatusOr<std::string> Token();

 private:
  TokenSource(std::string path, std::string token, NowFn now);

  struct FileState {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    uint64_t inode = 0;
    bool operator==(const FileState&) const = default;
  };

  const std::string path_;  // "" for a static token
  const NowFn now_;
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  bool read_once_ ABSL_GUARDED_BY(mu_) = false;
  FileState state_ ABSL_GUARDED_BY(mu_);
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace bursar::kube
