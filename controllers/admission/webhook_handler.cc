#include "controllers/admission/webhook_handler.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/admission/admission_review.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/gather.h"

namespace bursar::admission {
namespace {

constexpr char kJsonContentType[] = "application/json";

AdmissionView ViewOf(const WebhookCaches& caches) {
  AdmissionView view;
  api::DecodeOptions decode{.source = "apiserver", .reject_unknown_fields = false};
  if (caches.budgets != nullptr) {
    for (const auto& object : caches.budgets->List()) {
      // A budget that does not decode takes no part, as in the planner.
      if (absl::StatusOr<api::ComputeBudget> b = api::DecodeComputeBudget(*object, decode);
          b.ok()) {
        view.budgets.push_back(*std::move(b));
      }
    }
  }
  if (view.budgets.empty()) {
    return view;  // nothing to charge: skip the pods
  }
  if (caches.namespaces != nullptr) {
    for (const auto& ns : caches.namespaces->List()) {
      std::string name = json::StringAt(*ns, "metadata.name");
      if (!name.empty()) {
        view.namespaces[name] = reconcilers::LabelsAt(*ns, "metadata.labels");
      }
    }
  }
  std::vector<reconcilers::PodView> pods;
  if (caches.pods != nullptr) {
    caches.pods->ForEach([&](std::string_view, const kube::PodSummary& pod) {
      pods.push_back(reconcilers::PodViewOf(pod));
    });
  }
  view.usage = UsageByBudget(view.budgets, view.namespaces, pods);
  return view;
}

// The view the decisions read, rebuilt only when a cache changed since it was built: the
// stores' change callbacks bump a generation counter (shared, so a callback that fires after the
// handler is gone touches nothing freed). Concurrent requests wait for one rebuild. Thread-safe.
class ViewCache {
 public:
  explicit ViewCache(const WebhookCaches& caches)
      : caches_(caches), generation_(std::make_shared<std::atomic<uint64_t>>(1)) {
    auto bump = [generation = generation_](const auto&) { generation->fetch_add(1); };
    if (caches.pods != nullptr) {
      caches.pods->OnChange(bump);
    }
    if (caches.namespaces != nullptr) {
      caches.namespaces->OnChange(bump);
    }
    if (caches.budgets != nullptr) {
      caches.budgets->OnChange(bump);
    }
  }

  std::shared_ptr<const AdmissionView> Get() {
    const uint64_t wanted = generation_->load();
    absl::MutexLock lock(&mu_);
    if (view_ == nullptr || built_ != wanted) {
      view_ = std::make_shared<const AdmissionView>(ViewOf(caches_));
      built_ = wanted;
    }
    return view_;
  }

 private:
  const WebhookCaches caches_;
  const std::shared_ptr<std::atomic<uint64_t>> generation_;
  absl::Mutex mu_;
  std::shared_ptr<const AdmissionView> view_ ABSL_GUARDED_BY(mu_);
  uint64_t built_ ABSL_GUARDED_BY(mu_) = 0;
};

const char* ResultOf(const AdmissionResponse& r) {
  if (!r.allowed) {
    return "denied";
  }
  if (!r.json_patch.empty()) {
    return "patched";
  }
  return r.warnings.empty() ? "allowed" : "warned";
}

}  // namespace

absl::StatusOr<kube::HttpPostHandler> MakeWebhookHandler(WebhookCaches caches,
                                                         runtime::Registry* registry,
                                                         const runtime::Clock* clock) {
  absl::StatusOr<runtime::CounterFamily*> requests = registry->AddCounter(
      "bursar_admission_requests_total",
      "Admission requests answered by the webhook, by kind and result (allowed, patched, denied, "
      "warned, invalid).",
      {"kind", "result"});
  if (!requests.ok()) {
    return requests.status();
  }
  absl::StatusOr<runtime::HistogramFamily*> latency =
      registry->AddHistogram("bursar_admission_duration_seconds",
                             "Time to decide one admission request, reading the caches included.",
                             {}, runtime::ExponentialBuckets(0.0005, 2, 14));
  if (!latency.ok()) {
    return latency.status();
  }
  runtime::CounterFamily* counted = *requests;
  runtime::Histogram* timed = &(*latency)->WithLabels({});
  auto views = std::make_shared<ViewCache>(caches);
  return [views, counted, timed, clock](std::string_view path,
                                        std::string_view body) -> kube::HttpServerResponse {
    const bool mutate = path == kMutatePath;
    if (!mutate && path != kValidatePath) {
      return {404, "", absl::StrCat("no webhook at ", std::string(path), "\n")};
    }
    const absl::Time start = clock->MonotonicNow();
    absl::StatusOr<AdmissionRequest> request = DecodeAdmissionReview(body);
    if (!request.ok()) {
      counted->WithLabels({"unknown", "invalid"}).Increment();
      return {400, "", absl::StrCat(request.status().message(), "\n")};
    }
    const bool job = request->group == "batch" && request->kind == "Job";
    AdmissionResponse response;
    if (mutate != job) {
      response.uid = request->uid;  // sent to the other webhook: nothing to decide here
    } else {
      response = Decide(*request, *views->Get(), clock->Now());
    }
    if (!mutate) {
      response.json_patch.clear();
    }
    counted->WithLabels({request->kind, ResultOf(response)}).Increment();
    timed->Observe(absl::ToDoubleSeconds(clock->MonotonicNow() - start));
    return {200, kJsonContentType, EncodeAdmissionReview(response)};
  };
}

}  // namespace bursar::admission
