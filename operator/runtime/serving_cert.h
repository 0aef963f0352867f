#pragma once

// The admission webhook's serving certificate when Bursar manages it itself (no cert-manager):
// a private CA and a leaf for the webhook Service, kept in one Secret
// (ca.crt, ca.key, tls.crt, tls.key — the layout of open-policy-agent/cert-controller, which
// Kueue uses), rotated before expiry. Two halves:
//
// - Pure: the Service's DNS names, the validity window of a new certificate, and
//   DecideServingCert(), which looks at what the Secret holds (a ServingCertState) and says what
//   to change and when to look again. Tested without I/O or OpenSSL.
// - OpenSSL (EVP/X509, the library cpprestsdk already links): make a CA or a leaf (ECDSA P-256:
//   small keys, fast to generate, accepted by every TLS stack the API server uses), parse a PEM
//   bundle, check which CA signed a leaf and that a key belongs to a certificate
//   (InspectServingCert), and carry out a decision (ApplyCertAction).
//
// Rotation with overlap, so that no admission request fails while certificates change:
// - The leaf is re-issued when less than a third of its validity is left, or when its names,
//   key or signature are wrong. The new leaf is trusted at once: its CA is already in caBundle.
// - The CA is renewed when less than a third of its validity is left: the new CA goes into
//   ca.crt *in front of* the old one (both are in caBundle), and the leaf stays as it is. Only
//   once the new CA has been in the Secret for `ca_propagation` (and the caller says every
//   caBundle holds it) is the leaf re-issued from it. The old CA leaves ca.crt when it expires.
// - ca.key is the newest CA's key only; an old CA is never used to sign again.
// - Certificates are backdated by min(1h, validity/10) against clock skew between Bursar and
//   the API server. IssuedAt() undoes that from the certificate alone: no other state is kept.
//
// Thread-compatible: free functions and plain data.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bursar::runtime {

// The four keys of the Secret (PEM text, as the Secret's data holds them once base64-decoded).
struct ServingCertBundle {
  std::string ca_crt;  // one or two CA certificates, newest first: what caBundle carries
  std::string ca_key;  // the newest CA's private key (PKCS#8 PEM)
  std::string tls_crt;
  std::string tls_key;

  bool operator==(const ServingCertBundle&) const = default;
};

inline constexpr char kCaCertKey[] = "ca.crt";
inline constexpr char kCaKeyKey[] = "ca.key";
inline constexpr char kTlsCertKey[] = "tls.crt";
inline constexpr char kTlsKeyKey[] = "tls.key";

struct ServingCertPolicy {
  std::vector<std::string> dns_names;  // the leaf's SANs: ServiceDnsNames()
  absl::Duration leaf_validity = absl::Hours(24 * 90);
  absl::Duration ca_validity = absl::Hours(24 * 365 * 10);
  // How long a new CA sits in ca.crt (and caBundle) before a leaf is signed by it.
  absl::Duration ca_propagation = absl::Minutes(2);
};

// "svc", "svc.ns", "svc.ns.svc", "svc.ns.svc.cluster.local": the names the API server may dial.
std::vector<std::string> ServiceDnsNames(std::string_view service, std::string_view ns);

// The shortest of the default ca_propagation and a tenth of the leaf's validity (at least 1 s),
// so that a test's 30 s leaf switches CAs within seconds.
absl::Duration DefaultCaPropagation(absl::Duration leaf_validity);

// A new certificate valid for `validity` from `now`: not_before is backdated (see above).
struct ValidityWindow {
  absl::Time not_before;
  absl::Time not_after;
};
ValidityWindow NewValidity(absl::Time now, absl::Duration validity);

// What one certificate says about itself.
struct CertInfo {
  std::string common_name;
  absl::Time not_before;
  absl::Time not_after;
  std::vector<std::string> dns_names;
  bool is_ca = false;
};
// When the certificate was made: not_before without the backdating of NewValidity.
absl::Time IssuedAt(const CertInfo& cert);
// The validity it was made with: not_after - IssuedAt.
absl::Duration Validity(const CertInfo& cert);

// What the Secret holds, as DecideServingCert needs it. Empty `cas` or a missing leaf mean the
// Secret is absent or unusable.
struct ServingCertState {
  std::vector<CertInfo> cas;    // from ca.crt, in its order (newest first)
  bool ca_key_matches = false;  // ca.key is the private key of cas[0]
  bool has_leaf = false;
  CertInfo leaf;
  int leaf_signer = -1;           // index in `cas` of the CA that signed the leaf; -1 none
  bool leaf_key_matches = false;  // tls.key is the private key of tls.crt
  std::string problem;            // why the bundle could not be read ("" when it could)
};

enum class CertAction {
  kKeep,         // nothing to change
  kCreate,       // a new CA and leaf, replacing whatever is there
  kRenewCa,      // a new CA in front of the old one; the leaf stays
  kReissueLeaf,  // a new leaf from the newest CA
  kDropOldCa,    // remove the CAs after the first from ca.crt (expired)
};
std::string_view CertActionName(CertAction action);

struct CertDecision {
  CertAction action = CertAction::kKeep;
  std::string reason;     // for logs and Events: "leaf expires in 9m (<1/3 of 30m left)"
  absl::Time next_check;  // when the state next needs a decision, if nothing else changes
};

// What to do with `state` at `now`. `ca_bundles_current`: every webhook configuration's caBundle
// holds the newest CA (a leaf is never moved to a CA the API server may not trust yet).
CertDecision DecideServingCert(const ServingCertState& state, const ServingCertPolicy& policy,
                               absl::Time now, bool ca_bundles_current);

// --- OpenSSL ---

// Every certificate of a PEM bundle, in order; an error names what failed to parse.
absl::StatusOr<std::vector<CertInfo>> ParseCertificates(std::string_view pem);

// Reads the bundle: parses ca.crt and tls.crt, checks ca.key against the newest CA, which CA
// signed tls.crt, and tls.key against tls.crt. Never fails: what is wrong lands in `problem`.
ServingCertState InspectServingCert(const ServingCertBundle& bundle);

// The bundle after `action` (kKeep returns it unchanged). Generates keys: not deterministic.
absl::StatusOr<ServingCertBundle> ApplyCertAction(const ServingCertBundle& bundle,
                                                  CertAction action,
                                                  const ServingCertPolicy& policy, absl::Time now);

// Whether `leaf_pem` chains to a certificate of `ca_bundle_pem` and is valid at `at` with
// `dns_name` among its names, as a TLS client would check it. OK or an error saying why.
absl::Status VerifyServingCert(std::string_view leaf_pem, std::string_view ca_bundle_pem,
                               std::string_view dns_name, absl::Time at);

}  // namespace bursar::runtime
