#include "controllers/signals/budgets_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bursar/v1/budgets.grpc.pb.h"
#include "controllers/values/money.h"
#include "gtest/gtest.h"
#include "tests/unit/loopback_grpc_server.h"

namespace bursar::signals {
namespace {

using values::Money;

const absl::Time kPeriodStart = absl::FromUnixSeconds(1'800'000'000);

api::ComputeBudget Budget(const std::string& name, int64_t spent_units) {
  api::ComputeBudget b;
  b.metadata.name = name;
  b.spec.limit.amount = Money::FromUnits(5000);
  b.spec.limit.currency = "EUR";
  b.status.observed_generation = 3;
  b.status.period = values::Period{kPeriodStart, kPeriodStart + absl::Hours(24)};
  b.status.spent = Money::FromUnits(spent_units);
  b.status.gpu_hours = Money::FromMicros(12'500'000);
  b.status.burn_rate = Money::FromMicros(101'250'000);
  b.status.forecast = Money::FromUnits(4800);
  b.status.remaining = Money::FromUnits(5000 - spent_units);
  b.status.allowed_gpus = 8;
  b.status.phase = api::BudgetPhase::kAtRisk;
  return b;
}

// Waits (bounded) for a condition another thread brings about.
template <typename Predicate>
bool EventuallyTrue(Predicate predicate) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!predicate()) {
    if (absl::Now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

TEST(ToProtoTest, CarriesStatusAsDecimalStringsAndTimestamps) {
  api::ComputeBudget b = Budget("vision", 1234);
  b.status.exhausts_at = kPeriodStart + absl::Hours(20) + absl::Milliseconds(500);
  bursar::v1::Budget p = ToProto(b);
  EXPECT_EQ(p.name(), "vision");
  EXPECT_EQ(p.phase(), "AtRisk");
  EXPECT_EQ(p.spent(), "1234.00");
  EXPECT_EQ(p.limit(), "5000.00");
  EXPECT_EQ(p.currency(), "EUR");
  EXPECT_EQ(p.gpu_hours(), "12.50");
  EXPECT_EQ(p.burn_rate(), "101.25");
  EXPECT_EQ(p.forecast(), "4800.00");
  EXPECT_EQ(p.remaining(), "3766.00");
  EXPECT_EQ(p.allowed_gpus(), 8);
  EXPECT_EQ(p.observed_generation(), 3);
  EXPECT_EQ(p.period_start().seconds(), 1'800'000'000);
  EXPECT_EQ(p.period_end().seconds(), 1'800'000'000 + 86400);
  ASSERT_TRUE(p.has_exhausts_at());
  EXPECT_EQ(p.exhausts_at().seconds(), 1'800'000'000 + 20 * 3600);
  EXPECT_EQ(p.exhausts_at().nanos(), 500'000'000);
}

TEST(ToProtoTest, LeavesUnsetOptionalsUnset) {
  api::ComputeBudget b;
  b.metadata.name = "fresh";
  bursar::v1::Budget p = ToProto(b);
  EXPECT_EQ(p.limit(), "");
  EXPECT_FALSE(p.has_exhausts_at());
  EXPECT_FALSE(p.has_period_start());
  EXPECT_FALSE(p.has_period_end());
  EXPECT_EQ(p.phase(), "WithinBudget");
}

TEST(BudgetBoardTest, SubscriptionStartsWithCurrentBudgetsThenCoalescesChanges) {
  BudgetBoard board;
  board.Put(Budget("a", 1));
  std::unique_ptr<BudgetSubscription> sub = board.Subscribe();
  board.Put(Budget("b", 1));  // before the first Next: still part of the initial ADDEDs

  std::vector<BudgetChange> changes = sub->Next(absl::ZeroDuration());
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].type, BudgetChange::Type::kAdded);
  EXPECT_EQ(changes[0].budget.metadata.name, "a");
  EXPECT_EQ(changes[1].type, BudgetChange::Type::kAdded);
  EXPECT_EQ(changes[1].budget.metadata.name, "b");
  EXPECT_TRUE(sub->Next(absl::ZeroDuration()).empty());

  board.Put(Budget("a", 2));
  board.Put(Budget("a", 3));  // only the latest state is delivered
  board.Put(Budget("c", 1));
  board.Delete("c");  // came and went unseen: nothing to deliver
  board.Delete("b");
  board.Delete("unknown");
  changes = sub->Next(absl::ZeroDuration());
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].type, BudgetChange::Type::kModified);
  EXPECT_EQ(changes[0].budget.status.spent, Money::FromUnits(3));
  EXPECT_EQ(changes[1].type, BudgetChange::Type::kDeleted);
  EXPECT_EQ(changes[1].budget.metadata.name, "b");

  EXPECT_EQ(board.subscriber_count(), 1u);
  sub.reset();
  EXPECT_EQ(board.subscriber_count(), 0u);
}

TEST(BudgetBoardTest, CloseEndsSubscriptionsAfterPendingChanges) {
  BudgetBoard board;
  board.Put(Budget("a", 1));
  std::unique_ptr<BudgetSubscription> sub = board.Subscribe();
  board.Close();
  EXPECT_TRUE(sub->Closed());
  EXPECT_EQ(sub->Next(absl::InfiniteDuration()).size(), 1u);
  EXPECT_TRUE(sub->Next(absl::InfiniteDuration()).empty());  // returns at once: closed
  EXPECT_TRUE(board.Subscribe()->Closed());
}

class BudgetsServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.ok());
    stub_ = bursar::v1::Budgets::NewStub(server_.Channel());
  }

  void TearDown() override {
    board_.Close();
    server_.Stop();
  }

  static void SetDeadline(grpc::ClientContext* context) {
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  }

  BudgetBoard board_;
  BudgetsService service_{&board_, absl::Milliseconds(10)};
  LoopbackGrpcServer server_{&service_};
  std::unique_ptr<bursar::v1::Budgets::Stub> stub_;
};

TEST_F(BudgetsServiceTest, GetReturnsTheBoardsBudget) {
  board_.Put(Budget("vision", 100));
  grpc::ClientContext context;
  SetDeadline(&context);
  bursar::v1::GetBudgetRequest request;
  request.set_name("vision");
  bursar::v1::Budget response;
  grpc::Status status = stub_->Get(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.name(), "vision");
  EXPECT_EQ(response.spent(), "100.00");
  EXPECT_EQ(response.remaining(), "4900.00");
}

TEST_F(BudgetsServiceTest, GetUnknownIsNotFound) {
  board_.Put(Budget("vision", 100));
  grpc::ClientContext context;
  SetDeadline(&context);
  bursar::v1::GetBudgetRequest request;
  request.set_name("nlp");
  bursar::v1::Budget response;
  grpc::Status status = stub_->Get(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("nlp"), std::string::npos);
}

TEST_F(BudgetsServiceTest, ListReturnsEveryBudgetByName) {
  board_.Put(Budget("vision", 1));
  board_.Put(Budget("nlp", 2));
  board_.Put(Budget("asr", 3));
  board_.Delete("nlp");
  grpc::ClientContext context;
  SetDeadline(&context);
  bursar::v1::ListBudgetsResponse response;
  ASSERT_TRUE(stub_->List(&context, bursar::v1::ListBudgetsRequest(), &response).ok());
  ASSERT_EQ(response.budgets_size(), 2);
  EXPECT_EQ(response.budgets(0).name(), "asr");
  EXPECT_EQ(response.budgets(0).spent(), "3.00");
  EXPECT_EQ(response.budgets(1).name(), "vision");
}

TEST_F(BudgetsServiceTest, WatchStreamsInitialStateThenChangesUntilCancelled) {
  board_.Put(Budget("vision", 1));
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<bursar::v1::BudgetEvent>> reader =
      stub_->Watch(&context, bursar::v1::WatchBudgetsRequest());

  bursar::v1::BudgetEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), bursar::v1::BudgetEvent::ADDED);
  EXPECT_EQ(event.budget().name(), "vision");
  EXPECT_EQ(event.budget().spent(), "1.00");

  board_.Put(Budget("nlp", 2));
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), bursar::v1::BudgetEvent::ADDED);
  EXPECT_EQ(event.budget().name(), "nlp");

  board_.Put(Budget("vision", 7));
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), bursar::v1::BudgetEvent::MODIFIED);
  EXPECT_EQ(event.budget().name(), "vision");
  EXPECT_EQ(event.budget().spent(), "7.00");

  board_.Delete("nlp");
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.type(), bursar::v1::BudgetEvent::DELETED);
  EXPECT_EQ(event.budget().name(), "nlp");

  EXPECT_EQ(board_.subscriber_count(), 1u);
  context.TryCancel();
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // The handler noticed and let go of its subscription.
  EXPECT_TRUE(EventuallyTrue([&] { return board_.subscriber_count() == 0; }));
}

TEST_F(BudgetsServiceTest, WatchEndsUnavailableWhenTheBoardCloses) {
  grpc::ClientContext context;
  SetDeadline(&context);
  std::unique_ptr<grpc::ClientReader<bursar::v1::BudgetEvent>> reader =
      stub_->Watch(&context, bursar::v1::WatchBudgetsRequest());
  ASSERT_TRUE(EventuallyTrue([&] { return board_.subscriber_count() == 1; }));
  board_.Close();
  bursar::v1::BudgetEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
}

}  // namespace
}  // namespace bursar::signals
