// ServingCertManager over a scripted transport: who writes what, in which case. The real API
// server is in tests/integration/serving_cert_test.cc.

#include "operator/runtime/serving_cert_manager.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "operator/kube/client.h"
#include "operator/runtime/clock.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/temp_dir.h"

namespace bursar::runtime {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

ServingCertPolicy Policy() {
  return {.dns_names = ServiceDnsNames("wh", "ops"),
          .leaf_validity = absl::Hours(30),
          .ca_validity = absl::Hours(300),
          .ca_propagation = absl::Minutes(2)};
}

std::string SecretJson(const ServingCertBundle& b) {
  auto b64 = [](const std::string& s) { return absl::Base64Escape(s); };
  return absl::StrCat(R"({"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/tls",)",
                      R"("metadata":{"name":"wh-tls","namespace":"ops","resourceVersion":"7"},)",
                      R"("data":{"ca.crt":")", b64(b.ca_crt), R"(","ca.key":")", b64(b.ca_key),
                      R"(","tls.crt":")", b64(b.tls_crt), R"(","tls.key":")", b64(b.tls_key),
                      R"("}})");
}

std::string Status(int code, const char* reason) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":")", reason,
                      R"(","code":)", code, "}");
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class ServingCertManagerTest : public ::testing::Test {
 protected:
  ServingCertManagerOptions Options(bool leader) {
    ServingCertManagerOptions o;
    o.secret_namespace = "ops";
    o.secret_name = "wh-tls";
    o.cert_dir = dir_.Path("certs");
    o.policy = Policy();
    o.is_leader = [leader] { return leader; };
    return o;
  }
  // A bundle made `age` ago: with a 30 h leaf, 25 h old means due.
  ServingCertBundle Made(absl::Duration age) {
    absl::StatusOr<ServingCertBundle> b =
        ApplyCertAction({}, CertAction::kCreate, Policy(), kNow - age);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : ServingCertBundle{};
  }

  TempDir dir_;
  SimulatedClock clock_{kNow};
  kube::FakeTransport transport_;
  kube::ApiClient client_{transport_};
};

TEST_F(ServingCertManagerTest, AFollowerWithADueLeafServesItChangesNothingAndLooksAgainSoon) {
  const ServingCertBundle due = Made(absl::Hours(25));
  transport_.Reply(200, SecretJson(due));
  ServingCertManagerOptions o = Options(false);
  o.configurations = {{.mutating = false, .name = "wh"}};
  ServingCertManager follower(client_, clock_, o);
  absl::StatusOr<absl::Time> next = follower.Sync();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, kNow + absl::Seconds(1));  // to pick up the leader's new leaf
  ASSERT_EQ(transport_.requests().size(), 1u) << "a follower only reads the Secret";
  EXPECT_EQ(transport_.requests()[0].method, "GET");
  EXPECT_EQ(Slurp(dir_.Path("certs/tls.crt")), due.tls_crt);
  EXPECT_EQ(follower.NotReadyReason(), "");
}

TEST_F(ServingCertManagerTest, ALeaderReissuesADueLeafWithTheSecretsResourceVersion) {
  const ServingCertBundle due = Made(absl::Hours(25));
  transport_.Reply(200, SecretJson(due));
  transport_.Reply(200, SecretJson(due));  // the PUT's answer (its content is not read back)
  ServingCertManager leader(client_, clock_, Options(true));
  absl::StatusOr<absl::Time> next = leader.Sync();
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_EQ(transport_.requests().size(), 2u);
  const kube::HttpRequest put = transport_.requests()[1];  // requests() is a copy
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.path, "/api/v1/namespaces/ops/secrets/wh-tls");
  EXPECT_NE(put.body.find(R"("resourceVersion":"7")"), std::string::npos) << put.body;
  // The files hold the new leaf, from the same CA, not the one that was due.
  const std::string served = Slurp(dir_.Path("certs/tls.crt"));
  EXPECT_NE(served, due.tls_crt);
  EXPECT_TRUE(VerifyServingCert(served, due.ca_crt, "wh.ops.svc", kNow).ok());
  EXPECT_EQ(*next, kNow + absl::Minutes(1));  // resync: the new leaf is due in 20 h
}

TEST_F(ServingCertManagerTest, ALeaderWhoseUpdateConflictsTriesAgainInASecond) {
  transport_.Reply(200, SecretJson(Made(absl::Hours(25))));
  transport_.Reply(409, Status(409, "Conflict"));
  ServingCertManager leader(client_, clock_, Options(true));
  absl::StatusOr<absl::Time> next = leader.Sync();
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(*next, kNow + absl::Seconds(1));
}

TEST_F(ServingCertManagerTest, TheLoserOfTheCreateRaceServesTheWinnersCertificate) {
  const ServingCertBundle winner = Made(absl::Hours(1));
  transport_.Reply(404, Status(404, "NotFound"));
  transport_.Reply(409, Status(409, "AlreadyExists"));
  transport_.Reply(200, SecretJson(winner));
  ServingCertManager follower(client_, clock_, Options(false));
  ASSERT_TRUE(follower.Sync().ok());
  ASSERT_EQ(transport_.requests().size(), 3u);
  EXPECT_EQ(transport_.requests()[1].method, "POST");
  EXPECT_EQ(Slurp(dir_.Path("certs/tls.crt")), winner.tls_crt);
  EXPECT_EQ(Slurp(dir_.Path("certs/tls.key")), winner.tls_key);
}

TEST_F(ServingCertManagerTest, AnUnusableSecretIsNeverWrittenToTheCertDir) {
  ServingCertBundle broken = Made(absl::Hours(1));
  broken.tls_key = Made(absl::Hours(1)).tls_key;  // another certificate's key
  transport_.Reply(200, SecretJson(broken));
  ServingCertManager follower(client_, clock_, Options(false));
  ASSERT_TRUE(follower.Sync().ok());
  EXPECT_FALSE(std::filesystem::exists(dir_.Path("certs/tls.crt")));
  EXPECT_EQ(follower.NotReadyReason(), "the webhook serving certificate is not written yet");
}

TEST_F(ServingCertManagerTest, AnApiErrorNamesTheSecret) {
  transport_.Reply(403, Status(403, "Forbidden"));
  ServingCertManager follower(client_, clock_, Options(false));
  absl::StatusOr<absl::Time> next = follower.Sync();
  ASSERT_FALSE(next.ok());
  EXPECT_TRUE(absl::StartsWith(next.status().message(), "Secret ops/wh-tls: ")) << next.status();
}

}  // namespace
}  // namespace bursar::runtime
