#pragma once

// SignalsService: the gRPC endpoint for modelDrift reports (proto/bursar/v1/signals.proto).
// Each report is validated (ValidateModelDriftReport) and queued in a DriftInbox that the budget
// reconciler drains; an invalid report fails with INVALID_ARGUMENT naming the field and is not
// queued. "Accepted" means queued: whether a signal unlocks a retraining reserve is decided at
// the next reconcile and shown in the budget's status and Events.
// Thread-safe (gRPC calls handlers concurrently); the inbox and the clock must outlive it.

#include <functional>

#include "absl/time/time.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/signals/drift_inbox.h"

namespace bursar::signals {

class SignalsService final : public bursar::v1::Signals::Service {
 public:
  // `now` returns wall-clock time (the reference for the future-skew check); it is called from
  // gRPC threads and must be thread-safe.
  SignalsService(DriftInbox* inbox, std::function<absl::Time()> now);
  // `accepting` (optional, thread-safe) says whether this replica applies signals now: only the
  // leader drains its inbox, so a follower answers UNAVAILABLE ("retry") instead of queueing a
  // report nobody would read. Clients retry and reach the leader through the Service.
  SignalsService(DriftInbox* inbox, std::function<absl::Time()> now,
                 std::function<bool()> accepting);

  grpc::Status ReportModelDrift(grpc::ServerContext* context,
                                const bursar::v1::ReportModelDriftRequest* request,
                                bursar::v1::ReportModelDriftResponse* response) override;

 private:
  DriftInbox* const inbox_;
  const std::function<absl::Time()> now_;
  const std::function<bool()> accepting_;
};

}  // namespace bursar::signals
