#include "controllers/signals/caller_auth.h"

#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bursar/v1/budgets.grpc.pb.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/signals/budgets_service.h"
#include "controllers/signals/signals_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "operator/kube/access_reviews.h"
#include "tests/unit/json_or_fail.h"
#include "tests/unit/loopback_grpc_server.h"

namespace bursar::signals {
namespace {

using ::testing::HasSubstr;

constexpr char kReporter[] = "system:serviceaccount:ml:drift-reporter";
constexpr char kStranger[] = "system:serviceaccount:ml:stranger";

// Tokens by value; counts the reviews it answers.
class FakeTokenReviewer final : public TokenReviewer {
 public:
  absl::StatusOr<Caller> Review(std::string_view token) override {
    absl::MutexLock lock(&mu_);
    ++reviews_;
    if (!reachable_) {
      return absl::UnavailableError("cannot verify the token: TokenReview failed: refused");
    }
    auto it = users_.find(std::string(token));
    if (it == users_.end()) {
      return absl::UnauthenticatedError("the API server does not accept the bearer token");
    }
    return Caller{.username = it->second, .uid = "uid-" + it->second, .groups = {"g"}};
  }
  void Add(std::string token, std::string user) {
    absl::MutexLock lock(&mu_);
    users_[std::move(token)] = std::move(user);
  }
  void SetReachable(bool reachable) {
    absl::MutexLock lock(&mu_);
    reachable_ = reachable;
  }
  int reviews() const {
    absl::MutexLock lock(&mu_);
    return reviews_;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> users_ ABSL_GUARDED_BY(mu_);
  bool reachable_ ABSL_GUARDED_BY(mu_) = true;
  int reviews_ ABSL_GUARDED_BY(mu_) = 0;
};

// Grants (user, Permission::Describe()) pairs; counts the reviews it answers.
class FakeAccessReviewer final : public AccessReviewer {
 public:
  absl::StatusOr<AccessDecision> Review(const Caller& caller,
                                        const Permission& permission) override {
    absl::MutexLock lock(&mu_);
    ++reviews_;
    bool allowed = grants_.count({caller.username, permission.Describe()}) > 0;
    return AccessDecision{.allowed = allowed, .reason = allowed ? "granted" : ""};
  }
  void Grant(std::string user, const Permission& permission) {
    absl::MutexLock lock(&mu_);
    grants_.insert({std::move(user), permission.Describe()});
  }
  void Revoke(std::string user, const Permission& permission) {
    absl::MutexLock lock(&mu_);
    grants_.erase({std::move(user), permission.Describe()});
  }
  int reviews() const {
    absl::MutexLock lock(&mu_);
    return reviews_;
  }

 private:
  mutable absl::Mutex mu_;
  std::set<std::pair<std::string, std::string>> grants_ ABSL_GUARDED_BY(mu_);
  int reviews_ ABSL_GUARDED_BY(mu_) = 0;
};

// A clock the test moves; read from gRPC threads.
class TestClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'800'000'000);
};

class CallerGateTest : public ::testing::Test {
 protected:
  CallerGateTest() {
    tokens_.Add("good", kReporter);
    tokens_.Add("other", kStranger);
  }

  static std::string Bearer(const std::string& token) { return "Bearer " + token; }

  FakeTokenReviewer tokens_;
  FakeAccessReviewer access_;
  TestClock clock_;
  std::vector<std::string> outcomes_;  // written from gRPC threads, read after the calls
  absl::Mutex outcomes_mu_;
  CallerGateOptions options_{.max_entries = 8,
                             .token_ttl = absl::Minutes(1),
                             .rejected_token_ttl = absl::Seconds(10),
                             .decision_ttl = absl::Seconds(10),
                             .observe = [this](std::string_view outcome) {
                               absl::MutexLock lock(&outcomes_mu_);
                               outcomes_.emplace_back(outcome);
                             }};
  CallerGate gate_{&tokens_, &access_, [this] { return clock_.Now(); }, options_};
};

TEST_F(CallerGateTest, NoAuthorizationMetadataIsUnauthenticatedAndSaysWhatToSend) {
  absl::StatusOr<Caller> caller = gate_.Authenticate(nullptr);
  ASSERT_TRUE(absl::IsUnauthenticated(caller.status())) << caller.status();
  EXPECT_THAT(caller.status().message(), HasSubstr("authorization: Bearer <token>"));
  EXPECT_EQ(tokens_.reviews(), 0);
}

TEST_F(CallerGateTest, NonBearerOrMalformedCredentialsAreRejectedWithoutAskingTheApiServer) {
  for (const std::string& value :
       {std::string("Basic dXNlcjpwdw=="), std::string("Bearer "), std::string("Bearer a b"),
        std::string("bearer good"), std::string(20000, 'x')}) {
    absl::StatusOr<Caller> caller = gate_.Authenticate(&value);
    EXPECT_TRUE(absl::IsUnauthenticated(caller.status())) << value.substr(0, 20);
  }
  EXPECT_EQ(tokens_.reviews(), 0);
}

TEST_F(CallerGateTest, AValidTokenIsReviewedOnceWithinItsTtlAndAgainAfter) {
  const std::string header = Bearer("good");
  ASSERT_EQ(gate_.Authenticate(&header)->username, kReporter);
  ASSERT_EQ(gate_.Authenticate(&header)->username, kReporter);
  EXPECT_EQ(tokens_.reviews(), 1);
  clock_.Advance(absl::Minutes(1));
  ASSERT_TRUE(gate_.Authenticate(&header).ok());
  EXPECT_EQ(tokens_.reviews(), 2);
}

TEST_F(CallerGateTest, ARejectedTokenIsCachedForTheShorterTtl) {
  const std::string header = Bearer("forged");
  EXPECT_TRUE(absl::IsUnauthenticated(gate_.Authenticate(&header).status()));
  EXPECT_TRUE(absl::IsUnauthenticated(gate_.Authenticate(&header).status()));
  EXPECT_EQ(tokens_.reviews(), 1);
  clock_.Advance(absl::Seconds(10));
  tokens_.Add("forged", kStranger);  // e.g. a token that had not propagated yet
  EXPECT_EQ(gate_.Authenticate(&header)->username, kStranger);
  EXPECT_EQ(tokens_.reviews(), 2);
}

TEST_F(CallerGateTest, AnUnreachableApiServerIsUnavailableAndNeverCached) {
  tokens_.SetReachable(false);
  const std::string header = Bearer("good");
  EXPECT_TRUE(absl::IsUnavailable(gate_.Authenticate(&header).status()));
  tokens_.SetReachable(true);
  EXPECT_TRUE(gate_.Authenticate(&header).ok());
  EXPECT_EQ(tokens_.reviews(), 2);
  absl::MutexLock lock(&outcomes_mu_);
  EXPECT_THAT(outcomes_, ::testing::ElementsAre("error", "authenticated"));
}

TEST_F(CallerGateTest, TheTokenCacheIsBoundedAndKeepsNoTokenInClear) {
  for (int i = 0; i < 20; ++i) {
    const std::string header = Bearer(absl::StrCat("token-", i));
    (void)gate_.Authenticate(&header);
    clock_.Advance(absl::Milliseconds(1));
  }
  EXPECT_LE(gate_.cached_tokens(), 8u);
  EXPECT_EQ(tokens_.reviews(), 20);
  // The newest entries stay: the last token is still cached.
  const std::string last = Bearer("token-19");
  (void)gate_.Authenticate(&last);
  EXPECT_EQ(tokens_.reviews(), 20);
}

TEST_F(CallerGateTest, PermissionDeniedNamesTheCallerAndTheRuleThatIsMissing) {
  Caller caller{.username = kStranger, .uid = "u", .groups = {}};
  absl::Status denied = gate_.Authorize(caller, ReportDriftPermission("fraud"));
  ASSERT_TRUE(absl::IsPermissionDenied(denied)) << denied;
  EXPECT_THAT(denied.message(), HasSubstr(kStranger));
  EXPECT_THAT(denied.message(), HasSubstr("may not create bursar.dev models/drift \"fraud\""));
  EXPECT_THAT(denied.message(), HasSubstr("resources: [models/drift]"));
  EXPECT_THAT(denied.message(), HasSubstr("resourceNames: [fraud]"));
}

TEST_F(CallerGateTest, DecisionsAreCachedForTheirTtlSoARevocationTakesEffectAfterIt) {
  Caller caller{.username = kReporter, .uid = "u", .groups = {}};
  access_.Grant(kReporter, ReportDriftPermission("fraud"));
  EXPECT_TRUE(gate_.Authorize(caller, ReportDriftPermission("fraud")).ok());
  access_.Revoke(kReporter, ReportDriftPermission("fraud"));
  EXPECT_TRUE(gate_.Authorize(caller, ReportDriftPermission("fraud")).ok());  // cached
  EXPECT_EQ(access_.reviews(), 1);
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(absl::IsPermissionDenied(gate_.Authorize(caller, ReportDriftPermission("fraud"))));
  EXPECT_EQ(access_.reviews(), 2);
  // Another model is another question.
  EXPECT_TRUE(absl::IsPermissionDenied(gate_.Authorize(caller, ReportDriftPermission("churn"))));
  EXPECT_EQ(access_.reviews(), 3);
  // Cached answers count too: the metric says what callers got, not what was asked.
  absl::MutexLock lock(&outcomes_mu_);
  EXPECT_THAT(outcomes_, ::testing::ElementsAre("allowed", "allowed", "denied", "denied"));
}

TEST(CallerGateStatus, AbslCodesMapToTheGrpcCodesClientsExpect) {
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("x")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("x")).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::InternalError("x")).error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(ToGrpcStatus(absl::PermissionDeniedError("why")).error_message(), "why");
}

// The services behind the gate, over a loopback channel.
class GatedServicesTest : public CallerGateTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    signals_ = bursar::v1::Signals::NewStub(server_.Channel());
    budgets_ = bursar::v1::Budgets::NewStub(server_.Channel());
    api::ComputeBudget budget;
    budget.metadata.name = "fraud-team";
    board_.Put(budget);
  }

  bursar::v1::ReportModelDriftRequest Report(const std::string& model) {
    bursar::v1::ReportModelDriftRequest request;
    request.set_model(model);
    request.set_score(0.6);
    request.set_metric("psi");
    request.mutable_time()->set_seconds(absl::ToUnixSeconds(clock_.Now()) - 60);
    request.set_source("evidently");
    return request;
  }

  static void WithToken(grpc::ClientContext& context, const std::string& token) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) {
      context.AddMetadata("authorization", "Bearer " + token);
    }
  }

  grpc::Status SendReport(const std::string& token, const std::string& model) {
    grpc::ClientContext context;
    WithToken(context, token);
    bursar::v1::ReportModelDriftResponse response;
    return signals_->ReportModelDrift(&context, Report(model), &response);
  }

  grpc::Status GetBudget(const std::string& token, const std::string& name) {
    grpc::ClientContext context;
    WithToken(context, token);
    bursar::v1::GetBudgetRequest request;
    request.set_name(name);
    bursar::v1::Budget response;
    return budgets_->Get(&context, request, &response);
  }

  DriftInbox inbox_{16};
  BudgetBoard board_;
  SignalsService signals_service_{&inbox_, [this] { return clock_.Now(); }, nullptr, &gate_};
  BudgetsService budgets_service_{&board_, absl::Milliseconds(20), &gate_};
  LoopbackGrpcServer server_{&signals_service_, &budgets_service_};
  std::unique_ptr<bursar::v1::Signals::Stub> signals_;
  std::unique_ptr<bursar::v1::Budgets::Stub> budgets_;
};

TEST_F(GatedServicesTest, AReportWithoutATokenIsUnauthenticatedAndNotQueued) {
  grpc::Status status = SendReport("", "fraud");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("no credentials"));
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GatedServicesTest, AnInvalidReportFromAStrangerSaysUnauthenticatedNotWhatIsWrong) {
  auto request = Report("");
  grpc::ClientContext context;
  WithToken(context, "forged");
  bursar::v1::ReportModelDriftResponse response;
  EXPECT_EQ(signals_->ReportModelDrift(&context, request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GatedServicesTest, AReportForAModelTheCallerMayNotReportIsPermissionDenied) {
  access_.Grant(kReporter, ReportDriftPermission("churn"));
  grpc::Status status = SendReport("good", "fraud");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("models/drift \"fraud\""));
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GatedServicesTest, AnAcceptedReportCarriesTheCallersIdentityInItsSource) {
  access_.Grant(kReporter, ReportDriftPermission("fraud"));
  grpc::Status status = SendReport("good", "fraud");
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<engine::ModelDriftSignal> queued = inbox_.Drain();
  ASSERT_EQ(queued.size(), 1u);
  EXPECT_EQ(queued[0].source, absl::StrCat("evidently as ", kReporter));
}

TEST_F(GatedServicesTest, ASourceThatCouldImpersonateAnotherCallerIsRejected) {
  access_.Grant(kReporter, ReportDriftPermission("fraud"));
  auto request = Report("fraud");
  request.set_source("x as system:serviceaccount:kube-system:admin");
  grpc::ClientContext context;
  WithToken(context, "good");
  bursar::v1::ReportModelDriftResponse response;
  grpc::Status status = signals_->ReportModelDrift(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("source:"));
  EXPECT_EQ(inbox_.size(), 0u);
}

TEST_F(GatedServicesTest, BudgetReadsNeedGetOnThatBudgetAndListOnAll) {
  EXPECT_EQ(GetBudget("", "fraud-team").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::Status denied = GetBudget("good", "fraud-team");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied.error_message(), HasSubstr("get bursar.dev computebudgets \"fraud-team\""));
  // Denied before the lookup: an unknown name is not told apart from a known one.
  EXPECT_EQ(GetBudget("good", "no-such").error_code(), grpc::StatusCode::PERMISSION_DENIED);

  // A grant takes effect once the cached denial expires.
  access_.Grant(kReporter, BudgetPermission("get", "fraud-team"));
  EXPECT_EQ(GetBudget("good", "fraud-team").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  clock_.Advance(options_.decision_ttl);
  EXPECT_TRUE(GetBudget("good", "fraud-team").ok());

  grpc::ClientContext context;
  WithToken(context, "good");
  bursar::v1::ListBudgetsResponse list;
  EXPECT_EQ(budgets_->List(&context, {}, &list).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  access_.Grant(kReporter, BudgetPermission("list", ""));
  clock_.Advance(options_.decision_ttl);
  grpc::ClientContext again;
  WithToken(again, "good");
  ASSERT_TRUE(budgets_->List(&again, {}, &list).ok());
  EXPECT_EQ(list.budgets_size(), 1);
}

TEST_F(GatedServicesTest, AWatchNeedsWatchPermission) {
  grpc::ClientContext context;
  WithToken(context, "good");
  auto reader = budgets_->Watch(&context, {});
  bursar::v1::BudgetEvent event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("watch bursar.dev computebudgets"));
}

// The TokenReview and SubjectAccessReview objects, as the API server expects them.
TEST(AccessReviews, TokenReviewCarriesTheTokenAndOnlyTheAudiencesGiven) {
  EXPECT_EQ(kube::BuildTokenReview("t0k", {}),
            JsonOrFail(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",
                           "spec":{"token":"t0k"}})"));
  EXPECT_EQ(kube::BuildTokenReview("t0k", {"bursar"}),
            JsonOrFail(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",
                           "spec":{"token":"t0k","audiences":["bursar"]}})"));
}

TEST(AccessReviews, TokenReviewStatusIsParsedAndAnEmptyUsernameIsAnError) {
  absl::StatusOr<kube::TokenReviewStatus> ok = kube::ParseTokenReview(JsonOrFail(
      R"({"status":{"authenticated":true,"user":{"username":"system:serviceaccount:a:b",
          "uid":"1","groups":["system:serviceaccounts","system:authenticated"]},
          "audiences":["https://kubernetes.default.svc"]}})"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(ok->authenticated);
  EXPECT_EQ(ok->username, "system:serviceaccount:a:b");
  EXPECT_THAT(ok->groups, ::testing::ElementsAre("system:serviceaccounts", "system:authenticated"));
  absl::StatusOr<kube::TokenReviewStatus> rejected = kube::ParseTokenReview(
      JsonOrFail(R"({"status":{"authenticated":false,"error":"token expired"}})"));
  ASSERT_TRUE(rejected.ok());
  EXPECT_FALSE(rejected->authenticated);
  EXPECT_EQ(rejected->error, "token expired");
  EXPECT_FALSE(kube::ParseTokenReview(JsonOrFail(R"({"status":{"authenticated":true}})")).ok());
  EXPECT_FALSE(kube::ParseTokenReview(JsonOrFail(R"({"spec":{}})")).ok());
}

TEST(AccessReviews, SubjectAccessReviewAsksAboutTheVirtualResourceClusterWide) {
  kube::AccessRequest request{.user = "system:serviceaccount:ml:r",
                              .uid = "u1",
                              .groups = {"system:serviceaccounts"},
                              .verb = "create",
                              .group = "bursar.dev",
                              .resource = "models",
                              .subresource = "drift",
                              .name = "fraud",
                              .namespace_name = ""};
  EXPECT_EQ(kube::BuildSubjectAccessReview(request), JsonOrFail(R"({
      "apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview",
      "spec":{"user":"system:serviceaccount:ml:r","groups":["system:serviceaccounts"],
              "resourceAttributes":{"verb":"create","group":"bursar.dev","resource":"models",
                                    "subresource":"drift","name":"fraud"},
              "uid":"u1"}})"));
}

TEST(AccessReviews, AnExplicitDenyWinsOverAllowed) {
  absl::StatusOr<kube::AccessReviewStatus> both = kube::ParseSubjectAccessReview(
      JsonOrFail(R"({"status":{"allowed":true,"denied":true,"reason":"webhook says no"}})"));
  ASSERT_TRUE(both.ok());
  EXPECT_FALSE(both->allowed);
  EXPECT_EQ(both->reason, "webhook says no");
  EXPECT_FALSE(kube::ParseSubjectAccessReview(JsonOrFail("{}")).ok());
}

}  // namespace
}  // namespace bursar::signals
