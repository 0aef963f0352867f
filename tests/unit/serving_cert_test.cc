#include "operator/runtime/serving_cert.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "operator/runtime/serving_cert_manager.h"
#include "tests/unit/temp_dir.h"

namespace bursar::runtime {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

ServingCertPolicy Policy(absl::Duration leaf = absl::Hours(24 * 90),
                         absl::Duration ca = absl::Hours(24 * 365)) {
  return {.dns_names = ServiceDnsNames("bursar-webhook", "bursar-system"),
          .leaf_validity = leaf,
          .ca_validity = ca,
          .ca_propagation = absl::Minutes(2)};
}

// A certificate as NewValidity would make it at `issued`.
CertInfo Cert(absl::Time issued, absl::Duration validity, std::vector<std::string> names = {}) {
  ValidityWindow w = NewValidity(issued, validity);
  return {.common_name = "x",
          .not_before = w.not_before,
          .not_after = w.not_after,
          .dns_names = std::move(names),
          .is_ca = names.empty()};
}

// A healthy Secret: one CA issued at `ca_at`, a leaf from it issued at `leaf_at`.
ServingCertState Healthy(absl::Time ca_at, absl::Time leaf_at, const ServingCertPolicy& policy) {
  ServingCertState s;
  s.cas = {Cert(ca_at, policy.ca_validity)};
  s.ca_key_matches = true;
  s.has_leaf = true;
  s.leaf = Cert(leaf_at, policy.leaf_validity, policy.dns_names);
  s.leaf_signer = 0;
  s.leaf_key_matches = true;
  return s;
}

// --- Pure ---

TEST(ServingCertTest, ServiceDnsNamesAreTheNamesTheApiServerMayDial) {
  EXPECT_EQ(ServiceDnsNames("wh", "ops"),
            (std::vector<std::string>{"wh", "wh.ops", "wh.ops.svc", "wh.ops.svc.cluster.local"}));
}

TEST(ServingCertTest, ValidityIsBackdatedAndIssuedAtUndoesIt) {
  for (absl::Duration v :
       {absl::Seconds(30), absl::Hours(5), absl::Hours(24 * 90), absl::Hours(24 * 3650)}) {
    ValidityWindow w = NewValidity(kNow, v);
    EXPECT_EQ(w.not_after, kNow + v);
    EXPECT_EQ(kNow - w.not_before, std::min(absl::Hours(1), v / 10)) << v;
    CertInfo c;
    c.not_before = w.not_before;
    c.not_after = w.not_after;
    // Whole seconds, as X.509 stores them.
    EXPECT_LE(absl::AbsDuration(IssuedAt(c) - kNow), absl::Seconds(1)) << v;
    EXPECT_LE(absl::AbsDuration(Validity(c) - v), absl::Seconds(1)) << v;
  }
}

TEST(ServingCertTest, DefaultCaPropagationIsATenthOfTheLeafWithinOneSecondAndTwoMinutes) {
  EXPECT_EQ(DefaultCaPropagation(absl::Seconds(30)), absl::Seconds(3));
  EXPECT_EQ(DefaultCaPropagation(absl::Seconds(5)), absl::Seconds(1));
  EXPECT_EQ(DefaultCaPropagation(absl::Hours(24 * 90)), absl::Minutes(2));
}

TEST(ServingCertTest, AnEmptyOrBrokenSecretIsCreatedAfresh) {
  ServingCertPolicy p = Policy();
  EXPECT_EQ(DecideServingCert({}, p, kNow, true).action, CertAction::kCreate);
  ServingCertState broken;
  broken.problem = "ca.crt: no PEM certificate";
  CertDecision d = DecideServingCert(broken, p, kNow, true);
  EXPECT_EQ(d.action, CertAction::kCreate);
  EXPECT_EQ(d.reason, "ca.crt: no PEM certificate");
  ServingCertState wrong_key = Healthy(kNow, kNow, p);
  wrong_key.ca_key_matches = false;
  EXPECT_EQ(DecideServingCert(wrong_key, p, kNow, true).action, CertAction::kCreate);
  ServingCertState expired = Healthy(kNow - p.ca_validity - absl::Seconds(1), kNow, p);
  EXPECT_EQ(DecideServingCert(expired, p, kNow, true).reason, "the CA has expired");
}

TEST(ServingCertTest, AFreshSecretIsKeptUntilAThirdOfTheLeafIsLeft) {
  ServingCertPolicy p = Policy();
  ServingCertState s = Healthy(kNow, kNow, p);
  CertDecision d = DecideServingCert(s, p, kNow, true);
  EXPECT_EQ(d.action, CertAction::kKeep);
  EXPECT_EQ(d.next_check, s.leaf.not_after - p.leaf_validity / 3);
  EXPECT_EQ(DecideServingCert(s, p, d.next_check - absl::Seconds(1), true).action,
            CertAction::kKeep);
  CertDecision due = DecideServingCert(s, p, d.next_check, true);
  EXPECT_EQ(due.action, CertAction::kReissueLeaf);
  EXPECT_EQ(due.reason, "tls.crt expires in 720h (less than 1/3 of 2160h left)");
}

TEST(ServingCertTest, AWrongLeafIsReissuedAtOnce) {
  ServingCertPolicy p = Policy();
  struct Case {
    std::string name;
    std::function<void(ServingCertState&)> spoil;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"no leaf", [](ServingCertState& s) { s.has_leaf = false; }, "no serving certificate"},
           {"key", [](ServingCertState& s) { s.leaf_key_matches = false; },
            "tls.key is not the key of tls.crt"},
           {"signer", [](ServingCertState& s) { s.leaf_signer = -1; },
            "tls.crt is not signed by a CA in ca.crt"},
           {"names", [](ServingCertState& s) { s.leaf.dns_names = {"old"}; },
            "tls.crt names old, not bursar-webhook,bursar-webhook.bursar-system,"
            "bursar-webhook.bursar-system.svc,bursar-webhook.bursar-system.svc.cluster.local"},
       }) {
    ServingCertState s = Healthy(kNow, kNow, p);
    c.spoil(s);
    CertDecision d = DecideServingCert(s, p, kNow, true);
    EXPECT_EQ(d.action, CertAction::kReissueLeaf) << c.name;
    EXPECT_EQ(d.reason, c.reason) << c.name;
  }
}

TEST(ServingCertTest, TheCaIsRenewedWithOverlapAndTheLeafMovesOnlyOnceCaBundleTrustsIt) {
  ServingCertPolicy p = Policy(absl::Hours(24 * 30), absl::Hours(24 * 360));
  const absl::Time ca_at = kNow - absl::Hours(24 * 241);  // 119 days left, < 1/3 of 360
  ServingCertState s = Healthy(ca_at, kNow - absl::Hours(1), p);
  EXPECT_EQ(DecideServingCert(s, p, kNow, true).action, CertAction::kRenewCa);

  // After the renewal: the new CA first, the leaf still on the old one (index 1).
  s.cas.insert(s.cas.begin(), Cert(kNow, p.ca_validity));
  s.leaf_signer = 1;
  // Within the propagation time, or while a caBundle lacks the new CA: wait.
  CertDecision wait = DecideServingCert(s, p, kNow + absl::Minutes(1), true);
  EXPECT_EQ(wait.action, CertAction::kKeep);
  EXPECT_EQ(wait.next_check, kNow + p.ca_propagation);
  EXPECT_EQ(DecideServingCert(s, p, kNow + absl::Minutes(3), false).action, CertAction::kKeep);
  // Then the leaf moves to the new CA.
  CertDecision move = DecideServingCert(s, p, kNow + absl::Minutes(3), true);
  EXPECT_EQ(move.action, CertAction::kReissueLeaf);
  EXPECT_EQ(move.reason, "tls.crt moves to the new CA, which caBundle now holds");
  // A due leaf on the old CA also waits for the new CA to be trusted, while it is still valid.
  s.leaf = Cert(kNow - absl::Hours(24 * 25), p.leaf_validity, p.dns_names);
  EXPECT_EQ(DecideServingCert(s, p, kNow + absl::Minutes(1), true).action, CertAction::kKeep);

  // Leaf moved: the old CA stays in ca.crt until it expires, then goes.
  const absl::Time old_expiry = s.cas[1].not_after;
  s.leaf = Cert(old_expiry - absl::Hours(1), p.leaf_validity, p.dns_names);
  s.leaf_signer = 0;
  CertDecision keep = DecideServingCert(s, p, old_expiry - absl::Minutes(1), true);
  EXPECT_EQ(keep.action, CertAction::kKeep);
  EXPECT_EQ(keep.next_check, old_expiry);
  EXPECT_EQ(DecideServingCert(s, p, old_expiry, true).action, CertAction::kDropOldCa);
}

TEST(ServingCertTest, WebhookConfigurationRefsParseAndFormat) {
  EXPECT_EQ(ParseWebhookConfigurationRef("mutating/bursar"),
            (WebhookConfigurationRef{.mutating = true, .name = "bursar"}));
  EXPECT_EQ(ParseWebhookConfigurationRef("validating/x"),
            (WebhookConfigurationRef{.mutating = false, .name = "x"}));
  for (std::string_view bad : {"bursar", "mutating/", "Mutating/x", "/x", ""}) {
    EXPECT_EQ(ParseWebhookConfigurationRef(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(FormatWebhookConfigurationRef({.mutating = false, .name = "x"}), "validating/x");
}

// --- OpenSSL ---

TEST(ServingCertTest, ACreatedBundleVerifiesForEveryServiceNameWithinItsValidity) {
  ServingCertPolicy p = Policy(absl::Seconds(90), absl::Seconds(600));
  absl::StatusOr<ServingCertBundle> b = ApplyCertAction({}, CertAction::kCreate, p, kNow);
  ASSERT_TRUE(b.ok()) << b.status();
  for (const std::string& name : p.dns_names) {
    EXPECT_TRUE(VerifyServingCert(b->tls_crt, b->ca_crt, name, kNow).ok()) << name;
  }
  absl::Status other = VerifyServingCert(b->tls_crt, b->ca_crt, "evil.example", kNow);
  EXPECT_EQ(other.message(), "the certificate does not verify for evil.example: hostname mismatch");
  EXPECT_FALSE(
      VerifyServingCert(b->tls_crt, b->ca_crt, p.dns_names[2], kNow + absl::Seconds(91)).ok());

  ServingCertState s = InspectServingCert(*b);
  EXPECT_EQ(s.problem, "");
  ASSERT_EQ(s.cas.size(), 1u);
  EXPECT_TRUE(s.cas[0].is_ca);
  EXPECT_EQ(s.cas[0].not_after, kNow + absl::Seconds(600));
  EXPECT_TRUE(s.ca_key_matches);
  EXPECT_TRUE(s.has_leaf && s.leaf_key_matches);
  EXPECT_FALSE(s.leaf.is_ca);
  EXPECT_EQ(s.leaf_signer, 0);
  EXPECT_EQ(s.leaf.dns_names, p.dns_names);
  EXPECT_EQ(s.leaf.common_name, "bursar-webhook.bursar-system.svc");
  EXPECT_EQ(s.leaf.not_before, kNow - absl::Seconds(9));
  EXPECT_EQ(s.leaf.not_after, kNow + absl::Seconds(90));
  EXPECT_EQ(DecideServingCert(s, p, kNow, true).action, CertAction::kKeep);
}

TEST(ServingCertTest, ALeafNeverOutlivesItsCa) {
  ServingCertPolicy p = Policy(absl::Hours(10), absl::Hours(3));
  absl::StatusOr<ServingCertBundle> b = ApplyCertAction({}, CertAction::kCreate, p, kNow);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(InspectServingCert(*b).leaf.not_after, kNow + absl::Hours(3));
}

TEST(ServingCertTest, RenewingTheCaKeepsTheOldOneAndTheLeafThenReissueMovesTheLeaf) {
  ServingCertPolicy p = Policy(absl::Seconds(60), absl::Seconds(300));
  absl::StatusOr<ServingCertBundle> b = ApplyCertAction({}, CertAction::kCreate, p, kNow);
  ASSERT_TRUE(b.ok()) << b.status();
  const absl::Time later = kNow + absl::Seconds(30);  // the leaf (60 s) is still valid
  absl::StatusOr<ServingCertBundle> renewed = ApplyCertAction(*b, CertAction::kRenewCa, p, later);
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_EQ(renewed->tls_crt, b->tls_crt);
  EXPECT_NE(renewed->ca_key, b->ca_key);
  ServingCertState s = InspectServingCert(*renewed);
  ASSERT_EQ(s.cas.size(), 2u);
  EXPECT_EQ(s.cas[0].not_after, later + absl::Seconds(300));
  EXPECT_EQ(s.cas[1].not_after, kNow + absl::Seconds(300));
  EXPECT_TRUE(s.ca_key_matches);
  EXPECT_EQ(s.leaf_signer, 1);
  // The old leaf still verifies against the two-CA bundle (no request fails meanwhile).
  EXPECT_TRUE(VerifyServingCert(renewed->tls_crt, renewed->ca_crt, p.dns_names[0], later).ok());

  absl::StatusOr<ServingCertBundle> moved =
      ApplyCertAction(*renewed, CertAction::kReissueLeaf, p, later + absl::Seconds(5));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(InspectServingCert(*moved).leaf_signer, 0);
  EXPECT_TRUE(VerifyServingCert(moved->tls_crt, moved->ca_crt, p.dns_names[0], later).ok());
  // The new leaf does not verify against the old CA alone: the overlap is needed.
  EXPECT_FALSE(VerifyServingCert(moved->tls_crt, b->ca_crt, p.dns_names[0], later).ok());

  absl::StatusOr<ServingCertBundle> dropped =
      ApplyCertAction(*moved, CertAction::kDropOldCa, p, kNow + absl::Seconds(301));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(InspectServingCert(*dropped).cas.size(), 1u);
}

TEST(ServingCertTest, InspectSaysWhatIsWrongWithABrokenBundle) {
  ServingCertPolicy p = Policy();
  absl::StatusOr<ServingCertBundle> a = ApplyCertAction({}, CertAction::kCreate, p, kNow);
  absl::StatusOr<ServingCertBundle> b = ApplyCertAction({}, CertAction::kCreate, p, kNow);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(InspectServingCert({}).problem, "ca.crt: no PEM certificate");
  ServingCertBundle garbled = *a;
  garbled.ca_crt += "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(InspectServingCert(garbled).problem, "ca.crt: certificate 2 of 2 does not parse");
  ServingCertBundle mixed = *a;
  mixed.tls_key = b->tls_key;
  mixed.ca_key = b->ca_key;
  ServingCertState s = InspectServingCert(mixed);
  EXPECT_FALSE(s.ca_key_matches);
  EXPECT_FALSE(s.leaf_key_matches);
  ServingCertBundle foreign = *a;
  foreign.tls_crt = b->tls_crt;
  foreign.tls_key = b->tls_key;
  EXPECT_EQ(InspectServingCert(foreign).leaf_signer, -1);
  EXPECT_EQ(ParseCertificates("junk").status().message(), "PEM: no PEM certificate");
}

// --- The cert dir ---

std::string Slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(ServingCertTest, TheCertDirIsSwappedAtomicallyThroughDataSymlink) {
  TempDir tmp;
  const std::string dir = tmp.Path("certs");
  ASSERT_TRUE(WriteAtomicDir(dir, {{"tls.crt", "one"}, {"tls.key", "k1"}}).ok());
  const std::filesystem::path first = std::filesystem::read_symlink(dir + "/..data");
  EXPECT_EQ(Slurp(dir + "/tls.crt"), "one");
  EXPECT_EQ(std::filesystem::read_symlink(dir + "/tls.key"), "..data/tls.key");
  ASSERT_TRUE(WriteAtomicDir(dir, {{"tls.crt", "two"}, {"tls.key", "k2"}}).ok());
  EXPECT_EQ(Slurp(dir + "/tls.crt"), "two");
  EXPECT_EQ(Slurp(dir + "/tls.key"), "k2");
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path(dir) / first))
      << "the previous version is removed";
  EXPECT_EQ(std::filesystem::status(dir + "/tls.key").permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

}  // namespace
}  // namespace bursar::runtime
