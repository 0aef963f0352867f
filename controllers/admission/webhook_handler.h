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

#include "absl/status/statusor.h"
#include "operator/kube/http_server.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"

namespace bursar::admission {

inline constexpr char kMutatePath[] = "/mutate";
inline constexpr char kValidatePath[] = "/validate";

// Not const: the handler registers change callbacks on them, and rebuilds the decisions' view
// (budgets decoded, usage summed over every pod) only after one of them changed, not for every
// request.
struct WebhookCaches {
  runtime::PodStore* pods = nullptr;
  runtime::ObjectStore* namespaces = nullptr;
  runtime::ObjectStore* budgets = nullptr;
};

// Fails only when the metrics cannot be registered.
absl::StatusOr<kube::HttpPostHandler> MakeWebhookHandler(WebhookCaches caches,
                                                         runtime::Registry* registry,
                                                         const runtime::Clock* clock);

}  // namespace bursar::admission
