#include "controllers/signals/signals_service.h"

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace bursar::signals {

SignalsService::SignalsService(DriftInbox* inbox, std::function<absl::Time()> now)
    : SignalsService(inbox, std::move(now), nullptr) {}

SignalsService::SignalsService(DriftInbox* inbox, std::function<absl::Time()> now,
                               std::function<bool()> accepting, CallerGate* gate)
    : inbox_(inbox), now_(std::move(now)), accepting_(std::move(accepting)), gate_(gate) {}

grpc::Status SignalsService::ReportModelDrift(grpc::ServerContext* context,
                                              const bursar::v1::ReportModelDriftRequest* request,
                                              bursar::v1::ReportModelDriftResponse* response) {
  // Authenticate before looking at the report: a stranger learns nothing from validation.
  Caller caller;
  if (gate_ != nullptr) {
    if (grpc::Status authenticated = gate_->AuthenticateCall(*context, &caller);
        !authenticated.ok()) {
      return authenticated;
    }
  }
  ModelDriftReport report;
  report.model = request->model();
  report.score = request->score();
  report.metric = request->metric();
  if (request->has_time()) {
    report.time = absl::FromUnixSeconds(request->time().seconds()) +
                  absl::Nanoseconds(request->time().nanos());
  }
  report.source = request->source();

  absl::StatusOr<engine::ModelDriftSignal> signal = ValidateModelDriftReport(report, now_());
  if (!signal.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(signal.status().message()));
  }
  if (gate_ != nullptr) {
    if (absl::Status allowed = gate_->Authorize(caller, ReportDriftPermission(signal->model));
        !allowed.ok()) {
      return ToGrpcStatus(allowed);
    }
    // The source is the caller's word; the username is the API server's.
    signal->source = absl::StrCat(signal->source, " as ", caller.username);
  }
  if (accepting_ && !accepting_()) {
    return grpc::Status(
        grpc::StatusCode::UNAVAILABLE,
        "this replica is not the leader; retry (reports are applied by the leader)");
  }
  inbox_->Push(*std::move(signal));
  response->set_accepted(true);
  response->set_message("queued");
  return grpc::Status::OK;
}

}  // namespace bursar::signals
