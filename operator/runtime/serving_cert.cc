#include "operator/runtime/serving_cert.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace bursar::runtime {
namespace {

// Debian's Abseil has its own string_view: StrCat takes std::string_view through this.
absl::string_view A(std::string_view s) {
  return {s.data(), s.size()};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Pure

std::vector<std::string> ServiceDnsNames(std::string_view service, std::string_view ns) {
  std::string s(service);
  std::string n(ns);
  return {s, absl::StrCat(s, ".", n), absl::StrCat(s, ".", n, ".svc"),
          absl::StrCat(s, ".", n, ".svc.cluster.local")};
}

absl::Duration DefaultCaPropagation(absl::Duration leaf_validity) {
  return std::clamp(leaf_validity / 10, absl::Seconds(1), absl::Minutes(2));
}

namespace {

// min(1h, validity/10) before `now`, so that total = validity + backdate and the backdate is
// min(1h, total/11): IssuedAt recovers it from the certificate alone.
absl::Duration BackdateFor(absl::Duration validity) {
  return std::min(absl::Hours(1), validity / 10);
}

absl::Duration BackdateOfTotal(absl::Duration total) {
  return std::min(absl::Hours(1), total / 11);
}

std::string Human(absl::Duration d) {
  return absl::FormatDuration(absl::Trunc(d, absl::Seconds(1)));
}

}  // namespace

ValidityWindow NewValidity(absl::Time now, absl::Duration validity) {
  return {.not_before = now - BackdateFor(validity), .not_after = now + validity};
}

absl::Time IssuedAt(const CertInfo& cert) {
  return cert.not_before + BackdateOfTotal(cert.not_after - cert.not_before);
}

absl::Duration Validity(const CertInfo& cert) {
  return cert.not_after - IssuedAt(cert);
}

std::string_view CertActionName(CertAction action) {
  switch (action) {
    case CertAction::kKeep:
      return "Keep";
    case CertAction::kCreate:
      return "Create";
    case CertAction::kRenewCa:
      return "RenewCA";
    case CertAction::kReissueLeaf:
      return "ReissueLeaf";
    case CertAction::kDropOldCa:
      return "DropOldCA";
  }
  return "Unknown";
}

namespace {

// When less than a third of `cert`'s validity is left.
absl::Time RenewAt(const CertInfo& cert) {
  return cert.not_after - Validity(cert) / 3;
}

CertDecision Act(CertAction action, std::string reason, absl::Time now) {
  return {.action = action, .reason = std::move(reason), .next_check = now};
}

bool SameNames(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

// Why the CA itself is unusable, or "".
std::string CaProblem(const ServingCertState& state, absl::Time now) {
  if (!state.problem.empty()) {
    return state.problem;
  }
  if (state.cas.empty()) {
    return "no CA certificate";
  }
  if (!state.ca_key_matches) {
    return "ca.key is not the key of the newest CA in ca.crt";
  }
  if (now >= state.cas.front().not_after) {
    return "the CA has expired";
  }
  return "";
}

// Why the leaf must be replaced whatever its age, or "".
std::string LeafProblem(const ServingCertState& state, const ServingCertPolicy& policy,
                        absl::Time now) {
  if (!state.has_leaf) {
    return "no serving certificate";
  }
  if (!state.leaf_key_matches) {
    return "tls.key is not the key of tls.crt";
  }
  if (state.leaf_signer < 0) {
    return "tls.crt is not signed by a CA in ca.crt";
  }
  if (!SameNames(state.leaf.dns_names, policy.dns_names)) {
    return absl::StrCat("tls.crt names ", absl::StrJoin(state.leaf.dns_names, ","), ", not ",
                        absl::StrJoin(policy.dns_names, ","));
  }
  if (now >= state.leaf.not_after) {
    return "tls.crt has expired";
  }
  return "";
}

}  // namespace

CertDecision DecideServingCert(const ServingCertState& state, const ServingCertPolicy& policy,
                               absl::Time now, bool ca_bundles_current) {
  if (std::string why = CaProblem(state, now); !why.empty()) {
    return Act(CertAction::kCreate, why, now);
  }
  if (std::string why = LeafProblem(state, policy, now); !why.empty()) {
    return Act(CertAction::kReissueLeaf, why, now);
  }
  const CertInfo& ca = state.cas.front();
  const CertInfo& leaf = state.leaf;
  // A leaf still on an older CA moves to the newest once every caBundle trusts it.
  const bool on_old_ca = state.leaf_signer != 0;
  const absl::Time move_at = IssuedAt(ca) + policy.ca_propagation;
  const bool may_move = !on_old_ca || (now >= move_at && ca_bundles_current);
  if (now >= RenewAt(leaf) && may_move) {
    return Act(CertAction::kReissueLeaf,
               absl::StrCat("tls.crt expires in ", Human(leaf.not_after - now),
                            " (less than 1/3 of ", Human(Validity(leaf)), " left)"),
               now);
  }
  if (on_old_ca && may_move) {
    return Act(CertAction::kReissueLeaf, "tls.crt moves to the new CA, which caBundle now holds",
               now);
  }
  if (!on_old_ca && now >= RenewAt(ca)) {
    return Act(CertAction::kRenewCa,
               absl::StrCat("the CA expires in ", Human(ca.not_after - now), " (less than 1/3 of ",
                            Human(Validity(ca)), " left); the old one stays in ca.crt until then"),
               now);
  }
  absl::Time old_expiry = absl::InfinitePast();
  for (size_t i = 1; i < state.cas.size(); ++i) {
    old_expiry = std::max(old_expiry, state.cas[i].not_after);
  }
  if (state.cas.size() > 1 && !on_old_ca && now >= old_expiry) {
    return Act(CertAction::kDropOldCa, "the previous CA has expired", now);
  }
  absl::Time next = std::min(RenewAt(leaf), RenewAt(ca));
  if (on_old_ca) {
    // Waiting for the propagation time, or for the caBundles: look again soon.
    next = std::min(next, std::max(move_at, now + absl::Seconds(1)));
  }
  if (state.cas.size() > 1) {
    next = std::min(next, std::max(old_expiry, now + absl::Seconds(1)));
  }
  return {.action = CertAction::kKeep, .reason = "", .next_check = next};
}

// ---------------------------------------------------------------------------------------------
// OpenSSL

namespace {

struct FreeX509 {
  void operator()(X509* x) const { X509_free(x); }
};
struct FreeKey {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct FreeBio {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct FreeStore {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct FreeStoreCtx {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, FreeX509>;
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeKey>;
using BioPtr = std::unique_ptr<BIO, FreeBio>;

// The OpenSSL error queue as text (emptied), after `what`.
absl::Status SslError(std::string_view what) {
  std::string detail;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    absl::StrAppend(&detail, detail.empty() ? "" : "; ", buf);
  }
  return absl::InternalError(absl::StrCat(A(what), detail.empty() ? "" : ": ", detail));
}

BioPtr ReadBio(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<std::vector<X509Ptr>> ReadCerts(std::string_view pem, std::string_view what) {
  BioPtr bio = ReadBio(pem);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    certs.emplace_back(x);
  }
  ERR_clear_error();  // the read that ends the loop always fails
  size_t markers = 0;
  for (size_t at = pem.find("-----BEGIN CERTIFICATE-----"); at != std::string_view::npos;
       at = pem.find("-----BEGIN CERTIFICATE-----", at + 1)) {
    ++markers;
  }
  if (certs.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(A(what), ": no PEM certificate"));
  }
  if (markers != certs.size()) {
    return absl::InvalidArgumentError(absl::StrCat(A(what), ": certificate ", certs.size() + 1,
                                                   " of ", markers, " does not parse"));
  }
  return certs;
}

absl::StatusOr<KeyPtr> ReadKey(std::string_view pem, std::string_view what) {
  BioPtr bio = ReadBio(pem);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(A(what), ": no PEM private key"));
  }
  return key;
}

std::string CertPem(X509* x) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), x);
  return BioText(bio.get());
}

std::string KeyPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return BioText(bio.get());
}

absl::Time AsnTime(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return absl::InfinitePast();
  }
  return absl::FromTimeT(timegm(&tm));
}

CertInfo InfoOf(X509* x) {
  CertInfo info;
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn) > 0) {
    info.common_name = cn;
  }
  info.not_before = AsnTime(X509_get0_notBefore(x));
  info.not_after = AsnTime(X509_get0_notAfter(x));
  info.is_ca = X509_check_ca(x) > 0;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type == GEN_DNS) {
      const ASN1_STRING* s = name->d.dNSName;
      info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                  static_cast<size_t>(ASN1_STRING_length(s)));
    }
  }
  GENERAL_NAMES_free(names);
  return info;
}

struct Issued {
  X509Ptr cert;
  KeyPtr key;
};

absl::Status AddExtension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) {
    return SslError(absl::StrCat("extension ", OBJ_nid2sn(nid), "=", value));
  }
  int added = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return added == 1 ? absl::OkStatus() : SslError("X509_add_ext");
}

// A certificate for a new P-256 key, signed by `signer` (self-signed when null).
absl::StatusOr<Issued> Issue(const std::string& common_name, ValidityWindow window, bool is_ca,
                             const std::vector<std::string>& dns_names, const Issued* signer) {
  KeyPtr key(EVP_EC_gen("P-256"));
  X509Ptr cert(X509_new());
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), &BN_free);
  if (key == nullptr || cert == nullptr || serial == nullptr ||
      BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr ||
      X509_set_version(cert.get(), 2) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(window.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(window.not_after)) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    return SslError("cannot make a certificate");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), signer != nullptr ? X509_get_subject_name(signer->cert.get())
                                                         : subject) != 1) {
    return SslError("cannot name a certificate");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer != nullptr ? signer->cert.get() : cert.get(), cert.get(), nullptr,
                 nullptr, 0);
  std::vector<std::pair<int, std::string>> extensions = {{NID_subject_key_identifier, "hash"}};
  if (is_ca) {
    extensions.push_back({NID_basic_constraints, "critical,CA:TRUE,pathlen:0"});
    extensions.push_back({NID_key_usage, "critical,keyCertSign,cRLSign"});
  } else {
    std::vector<std::string> sans;
    for (const std::string& name : dns_names) {
      sans.push_back(absl::StrCat("DNS:", name));
    }
    extensions.push_back({NID_basic_constraints, "critical,CA:FALSE"});
    extensions.push_back({NID_key_usage, "critical,digitalSignature"});
    extensions.push_back({NID_ext_key_usage, "serverAuth"});
    extensions.push_back({NID_subject_alt_name, absl::StrJoin(sans, ",")});
    extensions.push_back({NID_authority_key_identifier, "keyid:always"});
  }
  for (const auto& [nid, value] : extensions) {
    if (absl::Status added = AddExtension(cert.get(), &ctx, nid, value); !added.ok()) {
      return added;
    }
  }
  EVP_PKEY* signing_key = signer != nullptr ? signer->key.get() : key.get();
  if (X509_sign(cert.get(), signing_key, EVP_sha256()) == 0) {
    return SslError("cannot sign a certificate");
  }
  return Issued{std::move(cert), std::move(key)};
}

absl::StatusOr<Issued> NewCa(const ServingCertPolicy& policy, absl::Time now) {
  return Issue(absl::StrCat("bursar-webhook-ca@", absl::ToUnixSeconds(now)),
               NewValidity(now, policy.ca_validity), true, {}, nullptr);
}

// A leaf from `ca`, never valid beyond it.
absl::StatusOr<Issued> NewLeaf(const ServingCertPolicy& policy, const Issued& ca, absl::Time now) {
  if (policy.dns_names.empty()) {
    return absl::InvalidArgumentError("a serving certificate needs at least one DNS name");
  }
  ValidityWindow window = NewValidity(now, policy.leaf_validity);
  window.not_after = std::min(window.not_after, AsnTime(X509_get0_notAfter(ca.cert.get())));
  const std::string& cn = policy.dns_names.size() > 2 ? policy.dns_names[2] : policy.dns_names[0];
  return Issue(cn, window, false, policy.dns_names, &ca);
}

// The newest CA of the bundle with its key.
absl::StatusOr<Issued> LoadCa(const ServingCertBundle& bundle) {
  absl::StatusOr<std::vector<X509Ptr>> cas = ReadCerts(bundle.ca_crt, kCaCertKey);
  if (!cas.ok()) {
    return cas.status();
  }
  absl::StatusOr<KeyPtr> key = ReadKey(bundle.ca_key, kCaKeyKey);
  if (!key.ok()) {
    return key.status();
  }
  return Issued{std::move(cas->front()), *std::move(key)};
}

bool KeyMatches(X509* cert, std::string_view key_pem) {
  absl::StatusOr<KeyPtr> key = ReadKey(key_pem, "");
  bool matches = key.ok() && X509_check_private_key(cert, key->get()) == 1;
  ERR_clear_error();
  return matches;
}

bool Signed(X509* ca, X509* leaf) {
  bool signed_by =
      X509_check_issued(ca, leaf) == X509_V_OK && X509_verify(leaf, X509_get0_pubkey(ca)) == 1;
  ERR_clear_error();
  return signed_by;
}

}  // namespace

absl::StatusOr<std::vector<CertInfo>> ParseCertificates(std::string_view pem) {
  absl::StatusOr<std::vector<X509Ptr>> certs = ReadCerts(pem, "PEM");
  if (!certs.ok()) {
    return certs.status();
  }
  std::vector<CertInfo> infos;
  for (const X509Ptr& x : *certs) {
    infos.push_back(InfoOf(x.get()));
  }
  return infos;
}

ServingCertState InspectServingCert(const ServingCertBundle& bundle) {
  ServingCertState state;
  absl::StatusOr<std::vector<X509Ptr>> cas = ReadCerts(bundle.ca_crt, kCaCertKey);
  if (!cas.ok()) {
    state.problem = std::string(cas.status().message());
    return state;
  }
  for (const X509Ptr& ca : *cas) {
    state.cas.push_back(InfoOf(ca.get()));
  }
  state.ca_key_matches = KeyMatches(cas->front().get(), bundle.ca_key);
  absl::StatusOr<std::vector<X509Ptr>> leaf = ReadCerts(bundle.tls_crt, kTlsCertKey);
  if (!leaf.ok()) {
    return state;  // has_leaf false: the leaf is re-issued
  }
  state.has_leaf = true;
  state.leaf = InfoOf(leaf->front().get());
  state.leaf_key_matches = KeyMatches(leaf->front().get(), bundle.tls_key);
  for (size_t i = 0; i < cas->size(); ++i) {
    if (Signed((*cas)[i].get(), leaf->front().get())) {
      state.leaf_signer = static_cast<int>(i);
      break;
    }
  }
  return state;
}

absl::StatusOr<ServingCertBundle> ApplyCertAction(const ServingCertBundle& bundle,
                                                  CertAction action,
                                                  const ServingCertPolicy& policy, absl::Time now) {
  ServingCertBundle out = bundle;
  switch (action) {
    case CertAction::kKeep:
      return out;
    case CertAction::kCreate: {
      absl::StatusOr<Issued> ca = NewCa(policy, now);
      if (!ca.ok()) {
        return ca.status();
      }
      absl::StatusOr<Issued> leaf = NewLeaf(policy, *ca, now);
      if (!leaf.ok()) {
        return leaf.status();
      }
      return ServingCertBundle{.ca_crt = CertPem(ca->cert.get()),
                               .ca_key = KeyPem(ca->key.get()),
                               .tls_crt = CertPem(leaf->cert.get()),
                               .tls_key = KeyPem(leaf->key.get())};
    }
    case CertAction::kRenewCa: {
      absl::StatusOr<std::vector<X509Ptr>> old = ReadCerts(bundle.ca_crt, kCaCertKey);
      absl::StatusOr<Issued> ca = NewCa(policy, now);
      if (!old.ok() || !ca.ok()) {
        return old.ok() ? ca.status() : old.status();
      }
      out.ca_crt = CertPem(ca->cert.get());
      for (const X509Ptr& x : *old) {
        if (AsnTime(X509_get0_notAfter(x.get())) > now) {
          out.ca_crt += CertPem(x.get());
        }
      }
      out.ca_key = KeyPem(ca->key.get());
      return out;
    }
    case CertAction::kReissueLeaf: {
      absl::StatusOr<Issued> ca = LoadCa(bundle);
      if (!ca.ok()) {
        return ca.status();
      }
      absl::StatusOr<Issued> leaf = NewLeaf(policy, *ca, now);
      if (!leaf.ok()) {
        return leaf.status();
      }
      out.tls_crt = CertPem(leaf->cert.get());
      out.tls_key = KeyPem(leaf->key.get());
      return out;
    }
    case CertAction::kDropOldCa: {
      absl::StatusOr<std::vector<X509Ptr>> cas = ReadCerts(bundle.ca_crt, kCaCertKey);
      if (!cas.ok()) {
        return cas.status();
      }
      out.ca_crt = CertPem(cas->front().get());
      return out;
    }
  }
  return absl::InternalError("unknown certificate action");
}

absl::Status VerifyServingCert(std::string_view leaf_pem, std::string_view ca_bundle_pem,
                               std::string_view dns_name, absl::Time at) {
  absl::StatusOr<std::vector<X509Ptr>> leaf = ReadCerts(leaf_pem, "leaf");
  absl::StatusOr<std::vector<X509Ptr>> cas = ReadCerts(ca_bundle_pem, "CA bundle");
  if (!leaf.ok() || !cas.ok()) {
    return leaf.ok() ? cas.status() : leaf.status();
  }
  std::unique_ptr<X509_STORE, FreeStore> store(X509_STORE_new());
  std::unique_ptr<X509_STORE_CTX, FreeStoreCtx> ctx(X509_STORE_CTX_new());
  for (const X509Ptr& ca : *cas) {
    X509_STORE_add_cert(store.get(), ca.get());
  }
  if (X509_STORE_CTX_init(ctx.get(), store.get(), leaf->front().get(), nullptr) != 1) {
    return SslError("X509_STORE_CTX_init");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_time(param, absl::ToTimeT(at));
  X509_VERIFY_PARAM_set_purpose(param, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM_set1_host(param, std::string(dns_name).c_str(), 0);
  if (X509_verify_cert(ctx.get()) != 1) {
    std::string why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat("the certificate does not verify for ", A(dns_name), ": ", why));
  }
  return absl::OkStatus();
}

}  // namespace bursar::runtime
