// The gRPC services' TLS, authentication and authorisation against the real kube-apiserver:
// ServiceAccounts get tokens from the TokenRequest API, RBAC grants or withholds the virtual
// permissions, and the services run over TLS on loopback with a CA made for the test.

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bursar/v1/budgets.grpc.pb.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/signals/budgets_service.h"
#include "controllers/signals/caller_auth.h"
#include "controllers/signals/grpc_tls.h"
#include "controllers/signals/signals_service.h"
#include "gmock/gmock.h"
#include "tests/integration/cluster_test_base.h"

namespace bursar::testing {
namespace {

using ::testing::HasSubstr;

inline constexpr kube::ResourceType kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount",
                                                     true};
inline constexpr kube::ResourceType kClusterRoles{"rbac.authorization.k8s.io", "v1", "clusterroles",
                                                  "ClusterRole", false};
inline constexpr kube::ResourceType kClusterRoleBindings{
    "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false};

// Runs a shell command; true when it exits 0.
bool Shell(const std::string& command) {
  return std::system(absl::StrCat("(", command, ") >/dev/null 2>&1").c_str()) == 0;
}

// A CA and a server certificate for 127.0.0.1 signed by it, in `dir` (ca.crt, tls.crt, tls.key).
bool MakeCertificates(const std::string& dir, const std::string& subject) {
  return Shell(absl::StrCat(
      "cd ", dir, " && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj '/CN=", subject,
      "-ca' -keyout ca.key -out ca.crt && openssl req -newkey rsa:2048 -nodes -subj '/CN=", subject,
      "' -keyout tls.key.new -out tls.csr && printf "
      "'subjectAltName=IP:127.0.0.1,DNS:bursar-grpc.bursar-system.svc\\n' > ext.cnf && "
      "openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
      "-extfile ext.cnf -out tls.crt.new"));
}

// Moves the freshly made pair into place, key first (the order a Secret update cannot promise,
// so the provider must cope with a moment of mismatch).
bool Install(const std::string& dir) {
  return Shell(absl::StrCat("cd ", dir, " && mv tls.key.new tls.key && mv tls.crt.new tls.crt"));
}

class GrpcAuthTest : public ClusterTest {
 protected:
  void SetUp() override {
    ns_ = Namespace();
    dir_ = absl::StrCat(::testing::TempDir(), "/grpc-auth-", Id());
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(MakeCertificates(dir_, "first")) << "openssl failed in " << dir_;
    ASSERT_TRUE(Install(dir_));
    reporter_token_ = ServiceAccountToken("reporter", {});
    stranger_token_ = ServiceAccountToken("stranger", {});

    // reporter may report drift for model fraud and read budget fraud-team; stranger nothing.
    role_ = absl::StrCat(Id(), "-reporter");
    Create(kClusterRoles, absl::StrCat(R"({"apiVersion":"rbac.authorization.k8s.io/v1",
        "kind":"ClusterRole","metadata":{"name":")",
                                       role_, R"("},"rules":[
        {"apiGroups":["bursar.dev"],"resources":["models/drift"],"verbs":["create"],
         "resourceNames":["fraud"]},
        {"apiGroups":["bursar.dev"],"resources":["computebudgets"],"verbs":["get"],
         "resourceNames":["fraud-team"]}]})"));
    Create(kClusterRoleBindings, absl::StrCat(R"({"apiVersion":"rbac.authorization.k8s.io/v1",
        "kind":"ClusterRoleBinding","metadata":{"name":")",
                                              role_, R"("},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":")",
                                              role_, R"("},
        "subjects":[{"kind":"ServiceAccount","name":"reporter","namespace":")",
                                              ns_, R"("}]})"));

    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> tls =
        signals::ServerTlsCredentials(dir_ + "/tls.crt", dir_ + "/tls.key", absl::Seconds(1));
    ASSERT_TRUE(tls.ok()) << tls.status();
    api::ComputeBudget budget;
    budget.metadata.name = "fraud-team";
    board_.Put(budget);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", *tls, &port_);
    builder.RegisterService(&signals_service_);
    builder.RegisterService(&budgets_service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr && port_ > 0);
    address_ = absl::StrCat("127.0.0.1:", port_);
    absl::StatusOr<std::string> ca = signals::ReadPemFile(dir_ + "/ca.crt");
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_pem_ = *ca;
  }

  void TearDown() override {
    board_.Close();
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
    }
    (void)client().Delete(kClusterRoleBindings, "", role_);
    (void)client().Delete(kClusterRoles, "", role_);
    std::filesystem::remove_all(dir_);
    ClusterTest::TearDown();
  }

  void Create(const kube::ResourceType& type, const std::string& object) {
    absl::StatusOr<json::Value> created = client().Create(type, "", JsonOrFail(object));
    ASSERT_TRUE(created.ok()) << created.status();
  }

  // A ServiceAccount in the test namespace and a 10-minute token for it from the TokenRequest
  // API (audiences empty: the API server's own).
  std::string ServiceAccountToken(const std::string& name,
                                  const std::vector<std::string>& audiences) {
    (void)client().Create(
        kServiceAccounts, ns_,
        JsonOrFail(absl::StrCat(
            R"({"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":")", name, R"("}})")));
    std::string spec = R"("expirationSeconds":600)";
    if (!audiences.empty()) {
      absl::StrAppend(&spec, R"(,"audiences":[")", audiences.front(), R"("])");
    }
    kube::HttpRequest request{
        .method = "POST",
        .path = absl::StrCat("/api/v1/namespaces/", ns_, "/serviceaccounts/", name, "/token"),
        .headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}},
        .body = absl::StrCat(
            R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{)", spec,
            "}}")};
    absl::StatusOr<kube::HttpResponse> got = transport_->Send(request, absl::Seconds(10));
    EXPECT_TRUE(got.ok()) << got.status();
    if (!got.ok()) {
      return "";
    }
    EXPECT_EQ(got->status / 100, 2) << got->body;
    absl::StatusOr<json::Value> body = json::Parse(got->body);
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? json::StringAt(*body, "status.token") : "";
  }

  std::shared_ptr<grpc::Channel> Channel(const std::string& ca_pem) {
    // A fresh channel (and so a fresh handshake) per call: reload tests need new connections.
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ca_pem;
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(address_, grpc::SslCredentials(ssl), args);
  }

  grpc::Status Report(const std::string& token, const std::string& model,
                      const std::string& ca_pem) {
    auto stub = bursar::v1::Signals::NewStub(Channel(ca_pem));
    bursar::v1::ReportModelDriftRequest request;
    request.set_model(model);
    request.set_score(0.7);
    request.set_metric("psi");
    request.set_source("integration");
    request.mutable_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) {
      context.AddMetadata("authorization", "Bearer " + token);
    }
    bursar::v1::ReportModelDriftResponse response;
    return stub->ReportModelDrift(&context, request, &response);
  }

  // RBAC's authorizer reads bindings from an informer: a fresh binding may take a moment.
  grpc::Status ReportUntil(grpc::StatusCode want, const std::string& token,
                           const std::string& model) {
    grpc::Status status;
    for (int i = 0; i < 50; ++i) {
      status = Report(token, model, ca_pem_);
      if (status.error_code() == want) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return status;
  }

  std::string ns_, dir_, role_, reporter_token_, stranger_token_, address_, ca_pem_;
  signals::KubeTokenReviewer tokens_{client(), {}};
  signals::KubeAccessReviewer access_{client()};
  // No caching: every call reaches the API server, which is what these tests check.
  signals::CallerGate gate_{&tokens_,
                            &access_,
                            [] { return absl::Now(); },
                            {.max_entries = 16,
                             .token_ttl = absl::ZeroDuration(),
                             .rejected_token_ttl = absl::ZeroDuration(),
                             .decision_ttl = absl::ZeroDuration(),
                             .observe = nullptr}};
  signals::DriftInbox inbox_{16};
  signals::BudgetBoard board_;
  signals::SignalsService signals_service_{&inbox_, [] { return absl::Now(); }, nullptr, &gate_};
  signals::BudgetsService budgets_service_{&board_, absl::Milliseconds(50), &gate_};
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(GrpcAuthTest, AServiceAccountBoundToTheModelsDriftRoleIsAcceptedAndNamedInTheSignal) {
  ASSERT_FALSE(reporter_token_.empty());
  grpc::Status status = ReportUntil(grpc::StatusCode::OK, reporter_token_, "fraud");
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  std::vector<engine::ModelDriftSignal> queued = inbox_.Drain();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].source,
            absl::StrCat("integration as system:serviceaccount:", ns_, ":reporter"));
}

TEST_F(GrpcAuthTest, AnotherModelOrAnUnboundServiceAccountIsPermissionDenied) {
  ASSERT_TRUE(ReportUntil(grpc::StatusCode::OK, reporter_token_, "fraud").ok());
  grpc::Status other_model = Report(reporter_token_, "churn", ca_pem_);
  EXPECT_EQ(other_model.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(
      other_model.error_message(),
      HasSubstr(absl::StrCat("system:serviceaccount:", ns_,
                             ":reporter may not create bursar.dev models/drift \"churn\"")));
  grpc::Status stranger = Report(stranger_token_, "fraud", ca_pem_);
  EXPECT_EQ(stranger.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(stranger.error_message(), HasSubstr(":stranger may not"));
  inbox_.Drain();
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GrpcAuthTest, NoTokenOrAForgedOneIsUnauthenticated) {
  grpc::Status none = Report("", "fraud", ca_pem_);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(none.error_message(), HasSubstr("no credentials"));
  // A well-formed JWT signed by nobody the API server trusts.
  grpc::Status forged = Report(
      "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06YWRtaW4ifQ."
      "c2ln",
      "fraud", ca_pem_);
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(forged.error_message(), HasSubstr("does not accept the bearer token"));
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GrpcAuthTest, ATokenForAnotherAudienceIsRejectedWhenTheGateWantsBursars) {
  signals::KubeTokenReviewer bursar_only(client(), {"bursar"});
  std::string for_bursar = ServiceAccountToken("reporter", {"bursar"});
  ASSERT_FALSE(for_bursar.empty());
  absl::StatusOr<signals::Caller> ok = bursar_only.Review(for_bursar);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->username, absl::StrCat("system:serviceaccount:", ns_, ":reporter"));
  absl::StatusOr<signals::Caller> wrong_audience = bursar_only.Review(reporter_token_);
  EXPECT_TRUE(absl::IsUnauthenticated(wrong_audience.status())) << wrong_audience.status();
  EXPECT_THAT(wrong_audience.status().message(), HasSubstr("audience bursar"));
}

TEST_F(GrpcAuthTest, BudgetReadsFollowRbacOnTheComputeBudget) {
  ASSERT_TRUE(ReportUntil(grpc::StatusCode::OK, reporter_token_, "fraud").ok());
  auto stub = bursar::v1::Budgets::NewStub(Channel(ca_pem_));
  auto get = [&](const std::string& token, const std::string& name) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    context.AddMetadata("authorization", "Bearer " + token);
    bursar::v1::GetBudgetRequest request;
    request.set_name(name);
    bursar::v1::Budget budget;
    return stub->Get(&context, request, &budget);
  };
  EXPECT_TRUE(get(reporter_token_, "fraud-team").ok());
  grpc::Status other = get(reporter_token_, "other-team");
  EXPECT_EQ(other.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(other.error_message(), HasSubstr("get bursar.dev computebudgets \"other-team\""));
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer " + reporter_token_);
  bursar::v1::ListBudgetsResponse list;
  EXPECT_EQ(stub->List(&context, {}, &list).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(GrpcAuthTest, AClientThatDoesNotTrustTheServersCaCannotConnect) {
  // The system roots do not hold the test CA: the handshake fails before any token is sent.
  grpc::Status status = Report(reporter_token_, "fraud", "");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GrpcAuthTest, ARenewedCertificateIsServedWithoutARestart) {
  ASSERT_TRUE(ReportUntil(grpc::StatusCode::OK, reporter_token_, "fraud").ok());
  const std::string first_ca = ca_pem_;
  ASSERT_TRUE(MakeCertificates(dir_, "second"));
  ASSERT_TRUE(Install(dir_));
  absl::StatusOr<std::string> second_ca = signals::ReadPemFile(dir_ + "/ca.crt");
  ASSERT_TRUE(second_ca.ok());
  // The provider re-reads the files every second here; new handshakes then use the new pair.
  grpc::Status status;
  for (int i = 0; i < 50; ++i) {
    status = Report(reporter_token_, "fraud", *second_ca);
    if (status.ok()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Report(reporter_token_, "fraud", first_ca).error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace bursar::testing
