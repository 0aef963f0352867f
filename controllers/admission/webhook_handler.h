#pragma once

// The admission webhook's HTTP edge: reads an AdmissionReview body, gathers the decision's inputs
// from the operator's caches (budgets with their published status, namespaces, pods), decides
// (admission_decider.h) and encodes the answer; counts and times every admission.
//
// Paths: kMutatePath (the MutatingWebhookConfiguration: batch/v1 Jobs) and kValidatePath (the
// ValidatingWebhookConfiguration: Pods). A kind sent to the other path is allowed unchanged, and
// the validating path never returns a patch.
// A body that is not a v1 AdmissionReview gets HTTP 400 with the reason (the API server then
// applies the configuration's failurePolicy); an unknown path 404.
//
// Every replica serves it: it reads only caches and the leader's published status.
// Thread-safe: the caches are, and the metric families are.
//
// Metrics: bursar_admission_requests_total{kind, result} (result: allowed, patched, denied,
// warned, invalid) and bursar_admission_duration_seconds (decision latency, including the
// gathering from caches).

#include <memory>

#include "absl/status/statusor.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/reconcilers/gather.h"
#include "operator/kube/http_server.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"

namespace bursar::admission {

inline constexpr char kMutatePath[] = "/mutate";
inline constexpr char kValidatePath[] = "/validate";

// Not const: the handler registers change callbacks on them (AdmissionViewCache).
struct WebhookCaches {
  reconcilers::PodViewStore* pods = nullptr;
  runtime::ObjectStore* namespaces = nullptr;
  runtime::ObjectStore* budgets = nullptr;
};

// The decisions' view built from scratch: budgets decoded, namespace labels, every pod's requests
// summed into its budget. O(pods + budgets).
AdmissionView BuildAdmissionView(const WebhookCaches& caches);

// The decisions' view, kept current from the caches' change events so that a request never pays
// for every pod (at 10,000 pods a rebuild took tens of milliseconds, and under pod churn every
// request rebuilt: docs/operations.md, Admission latency).
// - A pod event moves that one pod's requests between budgets' usage (an index by pod key), on
//   the watcher's thread: O(log budgets).
// - A budget event re-decodes the budgets at the next Get() (O(budgets)); the usage index is
//   kept unless a budget's scope may have changed (a budget added or removed, or a new
//   metadata.generation), which re-attributes every pod once, as does a namespace event.
// The view served is exact as of the last event each cache delivered: the same as
// BuildAdmissionView on the caches' content (tests/unit/webhook_handler_test.cc).
// Thread-safe. Callbacks registered on the caches keep the index alive; the caches must outlive
// every Get().
class AdmissionViewCache {
 public:
  explicit AdmissionViewCache(const WebhookCaches& caches);
  std::shared_ptr<const AdmissionView> Get();

  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Fails only when the metrics cannot be registered.
absl::StatusOr<kube::HttpPostHandler> MakeWebhookHandler(WebhookCaches caches,
                                                         runtime::Registry* registry,
                                                         const runtime::Clock* clock);

}  // namespace bursar::admission
