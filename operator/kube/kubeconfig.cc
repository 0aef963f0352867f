#include "operator/kube/kubeconfig.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"
#include "operator/yaml/yaml.h"

namespace bursar::kube {
namespace {

using values::AbslView;

std::string_view TrimSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) {
    return {};
  }
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

// Kubeconfigs, PEM files and tokens are a few KiB; reading stops past this, so that a wrong
// path (a device, a huge file) fails instead of filling memory. The YAML reader has its own,
// smaller, cap on the kubeconfig's text.
constexpr size_t kMaxFileBytes = 16 << 20;

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    std::string why = err != 0 ? std::strerror(err) : "cannot open";
    if (err == ENOENT) {
      return absl::NotFoundError(absl::StrCat(path, ": ", why));
    }
    return absl::PermissionDeniedError(absl::StrCat(path, ": ", why));
  }
  std::string text;
  char buffer[64 << 10];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than ", kMaxFileBytes >> 20, " MiB"));
    }
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return text;
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// Reads one kubeconfig document, as parsed by the project's YAML reader (bounded against
// hostile input: size, nesting, aliases); every error names the file and the key path.
class KubeconfigReader {
 public:
  explicit KubeconfigReader(std::string file)
      : file_(std::move(file)), dir_(std::filesystem::path(file_).parent_path()) {}

  absl::Status Error(std::string_view key_path, std::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", file_, ": ", AbslView(key_path), ": ", AbslView(what)));
  }

  static std::string KeyPath(std::string_view path, std::string_view key) {
    return path.empty() ? std::string(key) : absl::StrCat(AbslView(path), ".", AbslView(key));
  }

  // A scalar at node[key] as text (numbers as written, booleans as true/false); nullopt when
  // absent or null.
  absl::StatusOr<std::optional<std::string>> Scalar(const json::Value& node, const char* key,
                                                    std::string_view path) const {
    const json::Value* child = node.Find(key);
    if (child == nullptr || child->is_null()) {
      return std::optional<std::string>();
    }
    if (child->is_bool()) {
      return std::optional<std::string>(child->bool_value() ? "true" : "false");
    }
    if (!child->is_string() && !child->is_number()) {
      return Error(KeyPath(path, key), "must be a string");
    }
    return std::optional<std::string>(child->text());
  }

  absl::StatusOr<std::string> String(const json::Value& node, const char* key,
                                     std::string_view path) const {
    absl::StatusOr<std::optional<std::string>> s = Scalar(node, key, path);
    if (!s.ok()) {
      return s.status();
    }
    return s->value_or("");
  }

  absl::StatusOr<bool> Bool(const json::Value& node, const char* key, std::string_view path) const {
    absl::StatusOr<std::optional<std::string>> s = Scalar(node, key, path);
    if (!s.ok()) {
      return s.status();
    }
    if (!s->has_value()) {
      return false;
    }
    if (**s == "true" || **s == "True" || **s == "TRUE") {
      return true;
    }
    if (**s == "false" || **s == "False" || **s == "FALSE") {
      return false;
    }
    return Error(KeyPath(path, key), absl::StrCat("\"", **s, "\" is not a boolean"));
  }

  // Index of the entry of `list` (clusters, users, contexts) named `name`; -1 when absent.
  absl::StatusOr<int> Find(const json::Value& root, const char* list, std::string_view name) const {
    const json::Value* entries = root.Find(list);
    if (entries == nullptr || entries->is_null()) {
      return -1;
    }
    if (!entries->is_array()) {
      return Error(list, "must be a list");
    }
    for (size_t i = 0; i < entries->elements().size(); ++i) {
      const std::string path = absl::StrCat(list, "[", i, "]");
      const json::Value& entry = entries->elements()[i];
      if (!entry.is_object()) {
        return Error(path, "must be a mapping");
      }
      absl::StatusOr<std::string> entry_name = String(entry, "name", path);
      if (!entry_name.ok()) {
        return entry_name.status();
      }
      if (*entry_name == name) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  std::vector<std::string> Names(const json::Value& root, const char* list) const {
    std::vector<std::string> names;
    const json::Value* entries = root.Find(list);
    if (entries != nullptr && entries->is_array()) {
      for (const json::Value& entry : entries->elements()) {
        const json::Value* name = entry.Find("name");
        if (name != nullptr && (name->is_string() || name->is_number())) {
          names.push_back(name->text());
        }
      }
    }
    return names;
  }

  std::string Resolve(const std::string& p) const {
    std::filesystem::path fs_path(p);
    if (fs_path.is_absolute() || dir_.empty()) {
      return p;
    }
    return (dir_ / fs_path).string();
  }

  // A PEM from `<key>-data` (base64) or from the file `<key>` (relative to the kubeconfig's
  // folder); data wins when both are set, as in client-go.
  absl::StatusOr<std::string> Pem(const json::Value& node, const std::string& key,
                                  std::string_view path) const {
    const std::string data_key = key + "-data";
    absl::StatusOr<std::string> data = String(node, data_key.c_str(), path);
    if (!data.ok()) {
      return data.status();
    }
    if (!data->empty()) {
      std::string compact;
      for (char c : *data) {
        if (c != '\n' && c != '\r' && c != ' ' && c != '\t') {
          compact.push_back(c);
        }
      }
      std::string decoded;
      if (!absl::Base64Unescape(compact, &decoded) || decoded.empty()) {
        return Error(KeyPath(path, data_key), "not valid base64");
      }
      return decoded;
    }
    absl::StatusOr<std::string> file = String(node, key.c_str(), path);
    if (!file.ok() || file->empty()) {
      return file;
    }
    absl::StatusOr<std::string> text = ReadFile(Resolve(*file));
    if (!text.ok()) {
      return Error(KeyPath(path, key), std::string(text.status().message()));
    }
    return text;
  }

  absl::StatusOr<ClusterConfig> Read(const json::Value& root, std::string_view context) const {
    if (!root.is_object()) {
      return absl::InvalidArgumentError(
          absl::StrCat("kubeconfig ", file_, ": not a kubeconfig (expected a mapping)"));
    }
    std::string context_name(context);
    if (context_name.empty()) {
      absl::StatusOr<std::string> current = String(root, "current-context", "");
      if (!current.ok()) {
        return current.status();
      }
      if (current->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "kubeconfig ", file_, ": current-context is not set; name a context to use"));
      }
      context_name = *current;
    }
    absl::StatusOr<int> context_index = Find(root, "contexts", context_name);
    if (!context_index.ok()) {
      return context_index.status();
    }
    if (*context_index < 0) {
      return absl::NotFoundError(absl::StrCat(
          "kubeconfig ", file_, ": context \"", context_name,
          "\" not found (contexts: ", absl::StrJoin(Names(root, "contexts"), ", "), ")"));
    }
    const std::string context_path = absl::StrCat("contexts[", *context_index, "].context");
    const json::Value* context_node =
        root.Find("contexts")->elements()[static_cast<size_t>(*context_index)].Find("context");
    if (context_node == nullptr || !context_node->is_object()) {
      return Error(context_path, "must be a mapping");
    }
    absl::StatusOr<std::string> cluster_name = String(*context_node, "cluster", context_path);
    absl::StatusOr<std::string> user_name = String(*context_node, "user", context_path);
    absl::StatusOr<std::string> ns = String(*context_node, "namespace", context_path);
    for (const auto* s : {&cluster_name, &user_name, &ns}) {
      if (!s->ok()) {
        return s->status();
      }
    }
    if (cluster_name->empty()) {
      return Error(absl::StrCat(context_path, ".cluster"), "is required");
    }

    ClusterConfig config;
    config.default_namespace = *ns;
    if (absl::Status s = ReadCluster(root, *cluster_name, context_path, config); !s.ok()) {
      return s;
    }
    if (!user_name->empty()) {
      if (absl::Status s = ReadUser(root, *user_name, context_path, config); !s.ok()) {
        return s;
      }
    }
    return config;
  }

 private:
  absl::Status ReadCluster(const json::Value& root, const std::string& name,
                           std::string_view context_path, ClusterConfig& config) const {
    absl::StatusOr<int> index = Find(root, "clusters", name);
    if (!index.ok()) {
      return index.status();
    }
    if (*index < 0) {
      return Error(absl::StrCat(AbslView(context_path), ".cluster"),
                   absl::StrCat("cluster \"", name, "\" not found"));
    }
    const std::string path = absl::StrCat("clusters[", *index, "].cluster");
    const json::Value* found =
        root.Find("clusters")->elements()[static_cast<size_t>(*index)].Find("cluster");
    if (found == nullptr || !found->is_object()) {
      return Error(path, "must be a mapping");
    }
    const json::Value& node = *found;
    absl::StatusOr<std::string> server = String(node, "server", path);
    if (!server.ok()) {
      return server.status();
    }
    std::string_view url = TrimSpace(*server);
    while (!url.empty() && url.back() == '/') {
      url.remove_suffix(1);
    }
    if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
      return Error(absl::StrCat(path, ".server"),
                   url.empty() ? "is required"
                               : absl::StrCat("\"", AbslView(url), "\" is not an http(s) URL"));
    }
    config.server = std::string(url);
    absl::StatusOr<std::string> ca = Pem(node, "certificate-authority", path);
    absl::StatusOr<bool> insecure = Bool(node, "insecure-skip-tls-verify", path);
    absl::StatusOr<std::string> server_name = String(node, "tls-server-name", path);
    if (!ca.ok()) {
      return ca.status();
    }
    if (!insecure.ok()) {
      return insecure.status();
    }
    if (!server_name.ok()) {
      return server_name.status();
    }
    if (*insecure && !ca->empty()) {
      return Error(path,
                   "insecure-skip-tls-verify cannot be combined with a certificate authority");
    }
    config.ca_pem = *std::move(ca);
    config.insecure_skip_tls_verify = *insecure;
    config.tls_server_name = *std::move(server_name);
    return absl::OkStatus();
  }

  absl::Status ReadUser(const json::Value& root, const std::string& name,
                        std::string_view context_path, ClusterConfig& config) const {
    absl::StatusOr<int> index = Find(root, "users", name);
    if (!index.ok()) {
      return index.status();
    }
    if (*index < 0) {
      return Error(absl::StrCat(AbslView(context_path), ".user"),
                   absl::StrCat("user \"", name, "\" not found"));
    }
    const std::string path = absl::StrCat("users[", *index, "].user");
    const json::Value* found =
        root.Find("users")->elements()[static_cast<size_t>(*index)].Find("user");
    if (found == nullptr || found->is_null()) {
      return absl::OkStatus();  // an anonymous user
    }
    if (!found->is_object()) {
      return Error(path, "must be a mapping");
    }
    const json::Value& node = *found;
    absl::StatusOr<std::string> cert = Pem(node, "client-certificate", path);
    if (!cert.ok()) {
      return cert.status();
    }
    absl::StatusOr<std::string> key = Pem(node, "client-key", path);
    if (!key.ok()) {
      return key.status();
    }
    if (cert->empty() != key->empty()) {
      return Error(path, cert->empty() ? "client-key is set without client-certificate"
                                       : "client-certificate is set without client-key");
    }
    absl::StatusOr<std::string> token = String(node, "token", path);
    if (!token.ok()) {
      return token.status();
    }
    absl::StatusOr<std::string> token_file = String(node, "tokenFile", path);
    if (!token_file.ok()) {
      return token_file.status();
    }
    if (!token_file->empty()) {
      config.token_file = Resolve(*token_file);
      absl::StatusOr<std::string> probe = ReadFile(config.token_file);
      if (!probe.ok()) {
        return Error(absl::StrCat(path, ".tokenFile"), std::string(probe.status().message()));
      }
    }
    config.client_cert_pem = *std::move(cert);
    config.client_key_pem = *std::move(key);
    config.bearer_token = std::string(TrimSpace(*token));
    const bool has_credentials = !config.client_cert_pem.empty() || !config.bearer_token.empty() ||
                                 !config.token_file.empty();
    if (!has_credentials) {
      for (const char* unsupported : {"exec", "auth-provider", "username"}) {
        if (node.Find(unsupported) != nullptr) {
          return absl::UnimplementedError(
              absl::StrCat("kubeconfig ", file_, ": ", path, ".", unsupported,
                           ": not supported; use a token, a token file or a client certificate"));
        }
      }
    }
    return absl::OkStatus();
  }

  std::string file_;
  std::filesystem::path dir_;
};

}  // namespace

absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path, std::string_view context) {
  std::string file = path;
  if (path.find(':') != std::string::npos) {
    file.clear();
    for (absl::string_view part : absl::StrSplit(path, ':', absl::SkipEmpty())) {
      if (Exists(std::string(part))) {
        file = std::string(part);
        break;
      }
    }
    if (file.empty()) {
      return absl::NotFoundError(
          absl::StrCat("kubeconfig: none of the files in \"", path, "\" exists"));
    }
  }
  absl::StatusOr<std::string> text = ReadFile(file);
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("kubeconfig ", text.status().message()));
  }
  // Errors read "kubeconfig <file>:<line>:<column>: <reason>".
  absl::StatusOr<std::vector<json::Value>> docs = yaml::ParseYamlDocuments(*text, file);
  if (!docs.ok()) {
    return absl::Status(docs.status().code(), absl::StrCat("kubeconfig ", docs.status().message()));
  }
  if (docs->size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", file, ": holds ", docs->size(),
                                                   " YAML documents; a kubeconfig is one"));
  }
  KubeconfigReader reader(file);
  return reader.Read(docs->empty() ? json::Value() : docs->front(), context);
}

absl::StatusOr<std::string> DefaultKubeconfigPath() {
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return absl::StrCat(home, "/.kube/config");
  }
  return absl::NotFoundError("kubeconfig: neither KUBECONFIG nor HOME is set");
}

absl::StatusOr<ClusterConfig> InClusterConfig(const std::string& root) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host == nullptr || *host == '\0' || port == nullptr || *port == '\0') {
    return absl::FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(is this running in a pod?)");
  }
  std::string_view host_view(host);
  ClusterConfig config;
  if (host_view.find(':') != std::string_view::npos && host_view.front() != '[') {
    config.server = absl::StrCat("https://[", host, "]:", port);  // an IPv6 address
  } else {
    config.server = absl::StrCat("https://", host, ":", port);
  }
  absl::StatusOr<std::string> ca = ReadFile(root + "/ca.crt");
  if (!ca.ok()) {
    return absl::Status(ca.status().code(),
                        absl::StrCat("in-cluster config: ", ca.status().message()));
  }
  config.ca_pem = *std::move(ca);
  config.token_file = root + "/token";
  absl::StatusOr<std::string> token = ReadFile(config.token_file);
  if (!token.ok()) {
    return absl::Status(token.status().code(),
                        absl::StrCat("in-cluster config: ", token.status().message()));
  }
  if (absl::StatusOr<std::string> ns = ReadFile(root + "/namespace"); ns.ok()) {
    config.default_namespace = std::string(TrimSpace(*ns));
  }
  return config;
}

// ---------------------------------------------------------------------------------------------
// TokenSource.

TokenSource::TokenSource(std::string path, std::string token, NowFn now)
    : path_(std::move(path)), now_(now ? std::move(now) : NowFn(&absl::Now)) {
  token_ = std::move(token);
}

TokenSource::TokenSource(TokenSource&& other) noexcept : path_(other.path_), now_(other.now_) {
  absl::MutexLock lock(&other.mu_);
  token_ = std::move(other.token_);
  read_once_ = other.read_once_;
  state_ = other.state_;
  read_at_ = other.read_at_;
}

TokenSource TokenSource::Static(std::string token) {
  return TokenSource("", std::string(TrimSpace(token)), nullptr);
}

TokenSource TokenSource::File(std::string path, std::string fallback, NowFn now) {
  return TokenSource(std::move(path), std::string(TrimSpace(fallback)), std::move(now));
}

absl::StatusOr<std::string> TokenSource::Token() {
  if (path_.empty()) {
    absl::MutexLock lock(&mu_);
    return token_;
  }
  FileState state;
  struct stat st;
  if (::stat(path_.c_str(), &st) == 0) {
    state.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                     static_cast<int64_t>(st.st_mtim.tv_nsec);
    state.size = static_cast<int64_t>(st.st_size);
    state.inode = static_cast<uint64_t>(st.st_ino);
  }
  const absl::Time now = now_();
  absl::MutexLock lock(&mu_);
  if (read_once_ && state == state_ && now - read_at_ < kMaxAge) {
    return token_;
  }
  absl::StatusOr<std::string> text = ReadFile(path_);
  std::string_view token = text.ok() ? TrimSpace(*text) : std::string_view();
  // Retry a failed read at the next change of the file or after kMaxAge, not on every call.
  state_ = state;
  read_at_ = now;
  if (!token.empty()) {
    token_ = std::string(token);
    read_once_ = true;
    return token_;
  }
  if (read_once_ || !token_.empty()) {
    return token_;  // keep the last good token (or the fallback) while the file is rewritten
  }
  if (!text.ok()) {
    return absl::Status(text.status().code(), absl::StrCat("token file ", text.status().message()));
  }
  return absl::UnauthenticatedError(absl::StrCat("token file ", path_, " is empty"));
}

}  // namespace bursar::kube
