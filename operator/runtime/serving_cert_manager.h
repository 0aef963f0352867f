#pragma once

// ServingCertManager: the I/O around serving_cert.h. Every replica runs one when
// `bursar run --webhook-certs=self`; each pass (Sync):
//
// 1. Reads the Secret (ca.crt, ca.key, tls.crt, tls.key). When there is none, this replica
//    makes a CA and leaf and creates it; a create that loses the race (409 AlreadyExists) reads
//    the winner's instead, so all replicas serve one certificate.
// 2. Leader only: writes the Secret's ca.crt (one or two CAs) into caBundle of every webhook of
//    the named Mutating/ValidatingWebhookConfigurations — and into nothing else — then carries
//    out DecideServingCert (renew the CA with overlap, re-issue the leaf, drop an expired CA) with
//    an update that carries the Secret's resourceVersion (a conflict is retried next pass), and
//    writes caBundle again when ca.crt changed. Followers never change the Secret once it exists.
//    A named configuration that does not exist is logged each pass and filled once it does.
// 3. Writes tls.crt and tls.key into the cert dir when they differ from what is there, the way
//    the kubelet writes a mounted Secret: a new hidden folder, then one atomic rename of the
//    `..data` symlink, with tls.crt -> ..data/tls.crt. A reader that follows the names never sees
//    a certificate with another certificate's key. A bundle whose leaf is unusable (tls.key not
//    its key) is never written: the old files keep serving until the leader repairs the Secret.
// 4. Returns when to pass again: the decision's next check, within [1 s, resync]. Run() passes
//    again at once when this replica becomes the leader.
//
// Thread-safety: Sync and Run belong to one thread; NotReadyReason may be called from any.

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/kube/client.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/log.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/serving_cert.h"

namespace bursar::runtime {

inline constexpr kube::ResourceType kMutatingWebhookConfigurations{
    "admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
    "MutatingWebhookConfiguration", false};
inline constexpr kube::ResourceType kValidatingWebhookConfigurations{
    "admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
    "ValidatingWebhookConfiguration", false};

// One webhook configuration whose caBundle Bursar fills.
struct WebhookConfigurationRef {
  bool mutating = false;  // Mutating..., else Validating...
  std::string name;
  bool operator==(const WebhookConfigurationRef&) const = default;
};
// "mutating/NAME" or "validating/NAME"; nullopt for anything else.
std::optional<WebhookConfigurationRef> ParseWebhookConfigurationRef(std::string_view text);
std::string FormatWebhookConfigurationRef(const WebhookConfigurationRef& ref);

struct ServingCertManagerOptions {
  std::string secret_namespace;
  std::string secret_name;
  std::string cert_dir;
  std::vector<WebhookConfigurationRef> configurations;
  ServingCertPolicy policy;
  absl::Duration resync = absl::Minutes(1);  // the longest pause between passes
  std::function<bool()> is_leader;           // unset: always the leader
  Logger* log = nullptr;                     // optional
  // Optional: bursar_webhook_certificate_expiry_timestamp_seconds, the notAfter of the
  // certificate this replica serves (alert when it comes near: rotation is failing).
  Registry* metrics = nullptr;
};

class ServingCertManager {
 public:
  ServingCertManager(const kube::ApiClient& client, const Clock& clock,
                     ServingCertManagerOptions options);

  // One pass; the time of the next, or an error (the caller backs off).
  absl::StatusOr<absl::Time> Sync();
  // Sync until `stop` is notified; errors are logged and retried with backoff.
  void Run(Wakeup* stop);
  // "" once the cert dir holds a certificate from the Secret; why not, before.
  std::string NotReadyReason() const;

 private:
  struct Stored {
    ServingCertBundle bundle;
    std::string resource_version;
    std::string type;  // the Secret's type, immutable
  };
  absl::StatusOr<Stored> ReadOrCreateSecret();
  absl::StatusOr<Stored> UpdateSecret(const Stored& stored, const ServingCertBundle& bundle);
  // Every named configuration's caBundle set to `ca_crt`; true when all that exist held it
  // already (none had to be written now).
  bool WriteCaBundles(const std::string& ca_crt);
  absl::Status WriteCertDir(const ServingCertBundle& bundle);
  // Sleeps `pause`, or less when this replica becomes the leader or `stop` is notified.
  void SleepUnlessPromoted(absl::Duration pause, Wakeup* stop);
  void Log(bool warn, std::string_view message, std::initializer_list<LogField> fields) const;

  const kube::ApiClient& client_;
  const Clock& clock_;
  ServingCertManagerOptions options_;
  std::string written_crt_;  // what the cert dir holds, as this manager last wrote it
  std::atomic<bool> written_{false};
  bool synced_as_leader_ = false;  // whether the last Sync ran as the leader (Run's thread)
  Gauge* expiry_ = nullptr;
};

// Writes `files` (name -> content) into `dir` as the kubelet writes a mounted Secret (see the
// file comment). Creates `dir` when missing.
absl::Status WriteAtomicDir(const std::string& dir,
                            const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace bursar::runtime
