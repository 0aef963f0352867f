#pragma once

// SignalsService: the gRPC endpoint for modelDrift reports (proto/bursar/v1/signals.proto).
// Each report is validated (ValidateModelDriftReport) and queued in a DriftInbox that the budget
// reconciler drains; an invalid report fails with INVALID_ARGUMENT naming the field and is not
// queued. "Accepted" means queued: whether a signal unlocks a retraining reserve is decided at
// the next reconcile and shown in the budget's status and Events.
// With a CallerGate, a call must carry a ServiceAccount token whose user may `create` bursar.dev
// models/drift named for the model (caller_auth.h): UNAUTHENTICATED or PERMISSION_DENIED
// otherwise, checked before anything is queued. An accepted report's source becomes
// "<source> as <username>", which the budget's Event and recentActions entry show, so every
// unlock names who asked for it. Without a gate (the explicit --grpc-client-auth=none) anyone
// who reaches the port is trusted.
// Thread-safe (gRPC calls handlers concurrently); the inbox and the clock must outlive it.

#include <functional>

#include "absl/time/time.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/signals/caller_auth.h"
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
  // `gate` (optional, must outlive the service) authenticates and authorises every call.
  SignalsService(DriftInbox* inbox, std::function<absl::Time()> now,
                 std::function<bool()> accepting, CallerGate* gate = nullptr);

  grpc::Status ReportModelDrift(grpc::ServerContext* context,
                                const bursar::v1::ReportModelDriftRequest* request,
                                bursar::v1::ReportModelDriftResponse* response) override;

 private:
  DriftInbox* const inbox_;
  const std::function<absl::Time()> now_;
  const std::function<bool()> accepting_;
  CallerGate* const gate_;
};

}  // namespace bursar::signals
