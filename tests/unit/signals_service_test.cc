#include "controllers/signals/signals_service.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/loopback_grpc_server.h"

namespace bursar::signals {
namespace {

using ::testing::StartsWith;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);

class SignalsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    stub_ = bursar::v1::Signals::NewStub(server_.Channel());
  }

  static bursar::v1::ReportModelDriftRequest ValidRequest() {
    bursar::v1::ReportModelDriftRequest request;
    request.set_model("churn");
    request.set_score(0.35);
    request.set_metric("psi");
    request.mutable_time()->set_seconds(absl::ToUnixSeconds(kNow) - 60);
    request.mutable_time()->set_nanos(250'000'000);
    request.set_source("evidently/prod");
    return request;
  }

  grpc::Status Report(const bursar::v1::ReportModelDriftRequest& request,
                      bursar::v1::ReportModelDriftResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->ReportModelDrift(&context, request, response);
  }

  DriftInbox inbox_{16};
  std::atomic<bool> leader_{true};
  SignalsService service_{&inbox_, [] { return kNow; }, [this] { return leader_.load(); }};
  LoopbackGrpcServer server_{&service_};
  std::unique_ptr<bursar::v1::Signals::Stub> stub_;
};

TEST_F(SignalsServiceTest, AcceptedReportLandsInTheInbox) {
  bursar::v1::ReportModelDriftResponse response;
  grpc::Status status = Report(ValidRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.accepted());

  std::vector<engine::ModelDriftSignal> signals = inbox_.Drain();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].model, "churn");
  EXPECT_EQ(signals[0].score_micros, 350000);
  EXPECT_EQ(signals[0].metric, "psi");
  EXPECT_EQ(signals[0].time, kNow - absl::Seconds(60) + absl::Milliseconds(250));
  EXPECT_EQ(signals[0].source, "evidently/prod");
}

TEST_F(SignalsServiceTest, AFollowerAsksTheClientToRetryInsteadOfQueueing) {
  leader_ = false;
  bursar::v1::ReportModelDriftResponse response;
  grpc::Status status = Report(ValidRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_NE(status.error_message().find("not the leader"), std::string::npos);
  EXPECT_TRUE(inbox_.Drain().empty());
  leader_ = true;
  ASSERT_TRUE(Report(ValidRequest(), &response).ok());
  EXPECT_EQ(inbox_.Drain().size(), 1u);
}

TEST_F(SignalsServiceTest, EmptySourceIsRecordedAsGrpc) {
  bursar::v1::ReportModelDriftRequest request = ValidRequest();
  request.clear_source();
  bursar::v1::ReportModelDriftResponse response;
  ASSERT_TRUE(Report(request, &response).ok());
  std::vector<engine::ModelDriftSignal> signals = inbox_.Drain();
  ASSERT_EQ(signals.size(), 1u);
  EXPECT_EQ(signals[0].source, "grpc");
}

TEST_F(SignalsServiceTest, InvalidReportsAreRejectedNamingTheField) {
  struct Case {
    std::string name;
    void (*mutate)(bursar::v1::ReportModelDriftRequest&);
    std::string field;
  };
  const std::vector<Case> cases = {
      {"no model", [](bursar::v1::ReportModelDriftRequest& r) { r.clear_model(); }, "model: "},
      {"model not a label value",
       [](bursar::v1::ReportModelDriftRequest& r) { r.set_model("churn model"); }, "model: "},
      {"score above one", [](bursar::v1::ReportModelDriftRequest& r) { r.set_score(1.5); },
       "score: "},
      {"negative score", [](bursar::v1::ReportModelDriftRequest& r) { r.set_score(-0.1); },
       "score: "},
      {"no time", [](bursar::v1::ReportModelDriftRequest& r) { r.clear_time(); }, "time: "},
      {"time ten minutes ahead",
       [](bursar::v1::ReportModelDriftRequest& r) {
         r.mutable_time()->set_seconds(absl::ToUnixSeconds(kNow) + 600);
       },
       "time: "},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    bursar::v1::ReportModelDriftRequest request = ValidRequest();
    c.mutate(request);
    bursar::v1::ReportModelDriftResponse response;
    grpc::Status status = Report(request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), StartsWith(c.field));
    EXPECT_FALSE(response.accepted());
  }
  EXPECT_EQ(inbox_.size(), 0u);
}

}  // namespace
}  // namespace bursar::signals
