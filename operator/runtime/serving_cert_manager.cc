#include "operator/runtime/serving_cert_manager.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "operator/kube/kube_status.h"
#include "operator/runtime/backoff.h"

namespace bursar::runtime {

std::optional<WebhookConfigurationRef> ParseWebhookConfigurationRef(std::string_view text) {
  size_t slash = text.find('/');
  if (slash == std::string_view::npos || slash + 1 == text.size()) {
    return std::nullopt;
  }
  std::string_view kind = text.substr(0, slash);
  if (kind != "mutating" && kind != "validating") {
    return std::nullopt;
  }
  return WebhookConfigurationRef{.mutating = kind == "mutating",
                                 .name = std::string(text.substr(slash + 1))};
}

std::string FormatWebhookConfigurationRef(const WebhookConfigurationRef& ref) {
  return absl::StrCat(ref.mutating ? "mutating/" : "validating/", ref.name);
}

namespace {

namespace fs = std::filesystem;

const std::pair<const char*, std::string ServingCertBundle::*> kSecretKeys[] = {
    {kCaCertKey, &ServingCertBundle::ca_crt},
    {kCaKeyKey, &ServingCertBundle::ca_key},
    {kTlsCertKey, &ServingCertBundle::tls_crt},
    {kTlsKeyKey, &ServingCertBundle::tls_key}};

ServingCertBundle BundleOf(const json::Value& secret) {
  ServingCertBundle bundle;
  for (const auto& [key, field] : kSecretKeys) {
    std::string encoded = json::MemberStringAt(secret, "data", key);
    if (!absl::Base64Unescape(encoded, &(bundle.*field))) {
      (bundle.*field).clear();  // unreadable: InspectServingCert says what is missing
    }
  }
  return bundle;
}

json::Value SecretData(const ServingCertBundle& bundle) {
  std::vector<json::Value::Member> data;
  for (const auto& [key, field] : kSecretKeys) {
    data.emplace_back(key, json::Value::String(absl::Base64Escape(bundle.*field)));
  }
  return json::Value::Object(std::move(data));
}

// A Secret's type is immutable: an update keeps the one it was created with.
json::Value NewSecret(const ServingCertManagerOptions& options, const ServingCertBundle& bundle,
                      const std::string& type = "kubernetes.io/tls") {
  json::Value labels = json::Value::Object({
      {"app.kubernetes.io/managed-by", json::Value::String("bursar")},
      {"app.kubernetes.io/component", json::Value::String("webhook-certificate")},
  });
  json::Value metadata =
      json::Value::Object({{"name", json::Value::String(options.secret_name)},
                           {"namespace", json::Value::String(options.secret_namespace)},
                           {"labels", std::move(labels)}});
  return json::Value::Object({{"apiVersion", json::Value::String("v1")},
                              {"kind", json::Value::String("Secret")},
                              {"metadata", std::move(metadata)},
                              {"type", json::Value::String(type)},
                              {"data", SecretData(bundle)}});
}

absl::StatusOr<std::string> ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) {
    return absl::NotFoundError(absl::StrCat(path.string(), ": ", std::strerror(errno)));
  }
  return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

absl::Status WriteFile(const fs::path& path, const std::string& content, fs::perms perms) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out.good()) {
      return absl::InternalError(absl::StrCat("cannot write ", path.string()));
    }
  }
  std::error_code ec;
  fs::permissions(path, perms, ec);
  return ec ? absl::InternalError(absl::StrCat(path.string(), ": ", ec.message()))
            : absl::OkStatus();
}

// A symlink at `link` pointing to `target`, replacing whatever is there in one rename.
absl::Status SwapSymlink(const fs::path& dir, const std::string& link, const std::string& target) {
  const fs::path tmp = dir / absl::StrCat(link, ".tmp");
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_symlink(target, tmp, ec);
  if (!ec) {
    fs::rename(tmp, dir / link, ec);
  }
  return ec ? absl::InternalError(absl::StrCat((dir / link).string(), ": ", ec.message()))
            : absl::OkStatus();
}

}  // namespace

absl::Status WriteAtomicDir(const std::string& dir,
                            const std::vector<std::pair<std::string, std::string>>& files) {
  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) {
    return absl::InternalError(absl::StrCat("--webhook-cert-dir ", dir, ": ", ec.message()));
  }
  // The previous version, removed once ..data points elsewhere.
  fs::path previous;
  if (fs::is_symlink(root / "..data", ec)) {
    previous = root / fs::read_symlink(root / "..data", ec);
  }
  const std::string version =
      absl::StrCat("..", absl::ToUnixNanos(absl::Now()), "_", static_cast<long>(getpid()));
  fs::create_directory(root / version, ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("--webhook-cert-dir ", dir, ": cannot create ", version, ": ", ec.message()));
  }
  for (const auto& [name, content] : files) {
    if (absl::Status written = WriteFile(root / version / name, content,
                                         fs::perms::owner_read | fs::perms::owner_write);
        !written.ok()) {
      return written;
    }
  }
  if (absl::Status swapped = SwapSymlink(root, "..data", version); !swapped.ok()) {
    return swapped;
  }
  for (const auto& [name, content] : files) {
    if (!fs::is_symlink(root / name, ec)) {
      if (absl::Status linked = SwapSymlink(root, name, absl::StrCat("..data/", name));
          !linked.ok()) {
        return linked;
      }
    }
  }
  if (!previous.empty() && previous.filename() != version) {
    fs::remove_all(previous, ec);  // best effort: a leftover folder is harmless
  }
  return absl::OkStatus();
}

ServingCertManager::ServingCertManager(const kube::ApiClient& client, const Clock& clock,
                                       ServingCertManagerOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {
  if (options_.metrics != nullptr) {
    absl::StatusOr<GaugeFamily*> expiry = options_.metrics->AddGauge(
        "bursar_webhook_certificate_expiry_timestamp_seconds",
        "notAfter (Unix seconds) of the admission webhook certificate this replica serves.");
    if (expiry.ok()) {
      expiry_ = &(*expiry)->WithLabels({});
    }
  }
}

void ServingCertManager::Log(bool warn, std::string_view message,
                             std::initializer_list<LogField> fields) const {
  if (options_.log != nullptr) {
    options_.log->Log(warn ? LogLevel::kWarn : LogLevel::kInfo, message, fields);
  }
}

absl::StatusOr<ServingCertManager::Stored> ServingCertManager::ReadOrCreateSecret() {
  const std::string& ns = options_.secret_namespace;
  absl::StatusOr<json::Value> got = client_.Get(kube::kSecrets, ns, options_.secret_name);
  if (!got.ok() && kube::IsNotFound(got.status())) {
    absl::StatusOr<ServingCertBundle> fresh =
        ApplyCertAction({}, CertAction::kCreate, options_.policy, clock_.Now());
    if (!fresh.ok()) {
      return fresh.status();
    }
    got = client_.Create(kube::kSecrets, ns, NewSecret(options_, *fresh));
    if (got.ok()) {
      Log(false, "created the webhook certificate Secret",
          {{"secret", absl::StrCat(ns, "/", options_.secret_name)}});
    } else if (kube::IsAlreadyExists(got.status())) {
      // Another replica was first: serve its certificate.
      got = client_.Get(kube::kSecrets, ns, options_.secret_name);
    }
  }
  if (!got.ok()) {
    return absl::Status(got.status().code(), absl::StrCat("Secret ", ns, "/", options_.secret_name,
                                                          ": ", got.status().message()));
  }
  return Stored{.bundle = BundleOf(*got),
                .resource_version = json::StringAt(*got, "metadata.resourceVersion"),
                .type = json::StringAt(*got, "type")};
}

absl::StatusOr<ServingCertManager::Stored> ServingCertManager::UpdateSecret(
    const Stored& stored, const ServingCertBundle& bundle) {
  json::Value secret = NewSecret(options_, bundle, stored.type);
  secret.FindMutable("metadata")
      ->Set("resourceVersion", json::Value::String(stored.resource_version));
  absl::StatusOr<json::Value> updated =
      client_.Update(kube::kSecrets, options_.secret_namespace, secret);
  if (!updated.ok()) {
    return updated.status();
  }
  return Stored{.bundle = bundle,
                .resource_version = json::StringAt(*updated, "metadata.resourceVersion"),
                .type = stored.type};
}

bool ServingCertManager::WriteCaBundles(const std::string& ca_crt) {
  const std::string encoded = absl::Base64Escape(ca_crt);
  bool all_current = true;
  for (const WebhookConfigurationRef& ref : options_.configurations) {
    const kube::ResourceType& type =
        ref.mutating ? kMutatingWebhookConfigurations : kValidatingWebhookConfigurations;
    absl::StatusOr<json::Value> config = client_.Get(type, "", ref.name);
    bool changed = false;
    json::Value* webhooks = config.ok() ? config->FindMutable("webhooks") : nullptr;
    if (webhooks != nullptr && webhooks->is_array()) {
      std::vector<json::Value> items = std::move(*webhooks).TakeElements();
      for (json::Value& webhook : items) {
        json::Value* client_config = webhook.FindMutable("clientConfig");
        if (client_config != nullptr && json::StringAt(*client_config, "caBundle") != encoded) {
          client_config->Set("caBundle", json::Value::String(encoded));
          changed = true;
        }
      }
      *webhooks = json::Value::Array(std::move(items));
    }
    if (config.ok() && changed) {
      config = client_.Update(type, "", *config);
    }
    if (!config.ok() && kube::IsNotFound(config.status())) {
      // Nothing there trusts an old CA: not a reason to hold the leaf back. Said each pass.
      Log(true, "webhook configuration not found; its caBundle is written once it exists",
          {{"configuration", FormatWebhookConfigurationRef(ref)}});
    } else if (!config.ok()) {
      all_current = false;
      Log(true, "cannot write caBundle; retrying",
          {{"configuration", FormatWebhookConfigurationRef(ref)},
           {"error", std::string(config.status().message())}});
    } else if (changed) {
      // Written just now: the API server may not use it yet. Current from the next pass on.
      all_current = false;
      Log(false, "wrote caBundle", {{"configuration", FormatWebhookConfigurationRef(ref)}});
    }
  }
  return all_current;
}

absl::Status ServingCertManager::WriteCertDir(const ServingCertBundle& bundle) {
  const fs::path crt = fs::path(options_.cert_dir) / kTlsCertKey;
  if (written_crt_ == bundle.tls_crt) {
    absl::StatusOr<std::string> on_disk = ReadFile(crt);
    if (on_disk.ok() && *on_disk == bundle.tls_crt) {
      return absl::OkStatus();
    }
  }
  absl::Status written = WriteAtomicDir(
      options_.cert_dir, {{kTlsCertKey, bundle.tls_crt}, {kTlsKeyKey, bundle.tls_key}});
  if (!written.ok()) {
    return written;
  }
  written_crt_ = bundle.tls_crt;
  written_.store(true);
  Log(false, "wrote the webhook serving certificate", {{"dir", options_.cert_dir}});
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> ServingCertManager::Sync() {
  absl::StatusOr<Stored> stored = ReadOrCreateSecret();
  if (!stored.ok()) {
    return stored.status();
  }
  const bool leader = !options_.is_leader || options_.is_leader();
  synced_as_leader_ = leader;
  const absl::Time now = clock_.Now();
  bool bundles_current = leader && WriteCaBundles(stored->bundle.ca_crt);
  ServingCertState state = InspectServingCert(stored->bundle);
  CertDecision decision = DecideServingCert(state, options_.policy, now, bundles_current);
  if (leader && decision.action != CertAction::kKeep) {
    absl::StatusOr<ServingCertBundle> next =
        ApplyCertAction(stored->bundle, decision.action, options_.policy, now);
    if (!next.ok()) {
      return next.status();
    }
    absl::StatusOr<Stored> updated = UpdateSecret(*stored, *next);
    if (!updated.ok()) {
      if (kube::IsConflict(updated.status())) {
        return now + absl::Seconds(1);  // changed meanwhile: decide again on the new one
      }
      return updated.status();
    }
    Log(false, "rotated the webhook certificate",
        {{"action", std::string(CertActionName(decision.action))}, {"reason", decision.reason}});
    if (updated->bundle.ca_crt != stored->bundle.ca_crt) {
      WriteCaBundles(updated->bundle.ca_crt);
    }
    stored = std::move(updated);
    state = InspectServingCert(stored->bundle);
    decision = DecideServingCert(state, options_.policy, now, false);
  }
  if (state.has_leaf && state.leaf_key_matches) {
    if (absl::Status written = WriteCertDir(stored->bundle); !written.ok()) {
      return written;
    }
    if (expiry_ != nullptr) {
      expiry_->Set(static_cast<double>(absl::ToUnixSeconds(state.leaf.not_after)));
    }
  } else {
    Log(true, "the webhook certificate Secret holds no usable certificate; waiting for the leader",
        {{"problem", state.problem.empty() ? std::string("tls.crt/tls.key") : state.problem}});
  }
  // A follower that sees work for the leader looks again soon, to pick up its result.
  absl::Time next = decision.action == CertAction::kKeep ? decision.next_check : now;
  return std::clamp(next, now + absl::Seconds(1), now + options_.resync);
}

void ServingCertManager::Run(Wakeup* stop) {
  Backoff backoff;
  while (!stop->HasBeenNotified()) {
    absl::StatusOr<absl::Time> next = Sync();
    absl::Duration pause;
    if (next.ok()) {
      backoff.Reset();
      pause = *next - clock_.Now();
    } else {
      pause = std::min(backoff.NextDelay(clock_.MonotonicNow()), options_.resync);
      Log(true, "webhook certificate pass failed; retrying",
          {{"error", std::string(next.status().message())},
           {"retryIn", absl::FormatDuration(pause)}});
    }
    SleepUnlessPromoted(pause, stop);
  }
}

void ServingCertManager::SleepUnlessPromoted(absl::Duration pause, Wakeup* stop) {
  // A replica that becomes the leader fills caBundle at once rather than at its next pass:
  // leadership is looked at every second (no API call), the Secret only when the pause ends.
  // Compared with what the last pass saw: leadership won between that pass and this pause
  // counts as a promotion too.
  const bool was_leader = synced_as_leader_;
  const absl::Time until = clock_.MonotonicNow() + pause;
  while (clock_.MonotonicNow() < until) {
    if (!clock_.SleepFor(std::min(absl::Seconds(1), until - clock_.MonotonicNow()), stop)) {
      return;  // stopping
    }
    if (!was_leader && options_.is_leader()) {
      return;
    }
  }
}

std::string ServingCertManager::NotReadyReason() const {
  return written_.load() ? "" : "the webhook serving certificate is not written yet";
}

}  // namespace bursar::runtime
