// gRPC requests as a client sends them (controllers/signals/*_service.cc): the first byte picks
// the method, the rest is the serialised request message, parsed by protobuf and handed to the
// service handler, which validates it (ValidateModelDriftReport for modelDrift reports).
// Property: a report is accepted exactly when the handler says so, and nothing crashes.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/time/time.h"
#include "bursar/v1/budgets.pb.h"
#include "bursar/v1/signals.pb.h"
#include "controllers/api/types.h"
#include "controllers/signals/budgets_service.h"
#include "controllers/signals/drift_inbox.h"
#include "controllers/signals/signals_service.h"

namespace {

using namespace bursar;  // NOLINT(google-build-using-namespace): a fuzz target's one function

const absl::Time kNow = absl::FromUnixSeconds(1'796'000'000);

void ReportModelDrift(const uint8_t* data, size_t size) {
  bursar::v1::ReportModelDriftRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) {
    return;
  }
  signals::DriftInbox inbox(/*capacity=*/4);
  signals::SignalsService service(&inbox, [] { return kNow; });
  bursar::v1::ReportModelDriftResponse response;
  const grpc::Status status = service.ReportModelDrift(nullptr, &request, &response);
  if (status.ok() != response.accepted() || inbox.size() != (status.ok() ? 1U : 0U)) {
    std::abort();
  }
}

void GetBudget(const uint8_t* data, size_t size) {
  static signals::BudgetBoard* const board = [] {
    auto* b = new signals::BudgetBoard();
    api::ComputeBudget budget;
    budget.metadata.name = "vision";
    b->Put(budget);
    return b;
  }();
  bursar::v1::GetBudgetRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) {
    return;
  }
  signals::BudgetsService service(board);
  bursar::v1::Budget response;
  (void)service.Get(nullptr, &request, &response);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  if (data[0] % 2 == 0) {
    ReportModelDrift(data + 1, size - 1);
  } else {
    GetBudget(data + 1, size - 1);
  }
  return 0;
}
