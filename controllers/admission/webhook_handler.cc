#include "controllers/admission/webhook_handler.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "controllers/admission/admission_review.h"
#include "controllers/api/codec.h"
#include "controllers/engine/attribution.h"
#include "controllers/reconcilers/gather.h"
#include "controllers/reconcilers/workload_kinds.h"

namespace bursar::admission {
namespace {

constexpr char kJsonContentType[] = "application/json";

std::vector<api::ComputeBudget> DecodeBudgets(runtime::ObjectStore* budgets) {
  std::vector<api::ComputeBudget> out;
  if (budgets == nullptr) {
    return out;
  }
  api::DecodeOptions decode{.source = "apiserver", .reject_unknown_fields = false};
  for (const auto& object : budgets->List()) {
    // A budget that does not decode takes no part, as in the planner.
    if (absl::StatusOr<api::ComputeBudget> b = api::DecodeComputeBudget(*object, decode); b.ok()) {
      out.push_back(*std::move(b));
    }
  }
  return out;
}

NamespaceLabelMap NamespaceLabels(runtime::ObjectStore* namespaces) {
  NamespaceLabelMap out;
  if (namespaces == nullptr) {
    return out;
  }
  for (const auto& ns : namespaces->List()) {
    std::string name = json::StringAt(*ns, "metadata.name");
    if (!name.empty()) {
      out[name] = reconcilers::LabelsAt(*ns, "metadata.labels");
    }
  }
  return out;
}

// What decides which budget a pod is charged to: the budgets present and their specs
// (metadata.generation moves with every spec change; status writes leave it alone).
std::vector<std::tuple<std::string, std::string, int64_t>> ScopeKeyOf(
    const std::vector<api::ComputeBudget>& budgets) {
  std::vector<std::tuple<std::string, std::string, int64_t>> out;
  out.reserve(budgets.size());
  for (const api::ComputeBudget& b : budgets) {
    out.emplace_back(b.metadata.name, b.metadata.uid, b.metadata.generation);
  }
  std::sort(out.begin(), out.end());
  return out;
}

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

AdmissionView BuildAdmissionView(const WebhookCaches& caches) {
  AdmissionView view;
  view.budgets = DecodeBudgets(caches.budgets);
  if (view.budgets.empty()) {
    return view;  // nothing to charge: skip the pods
  }
  view.namespaces = NamespaceLabels(caches.namespaces);
  reconcilers::PodList pods;
  if (caches.pods != nullptr) {
    for (reconcilers::PodList::Ptr& pod : caches.pods->List()) {
      pods.push_back(std::move(pod));
    }
  }
  view.usage = UsageByBudget(view.budgets, view.namespaces, pods);
  return view;
}

// The index behind AdmissionViewCache. Every member is guarded by mu; the budgets the attributor
// points into are owned here (the views served hold their own copies).
struct AdmissionViewCache::State {
  struct Charge {
    std::string budget;
    BudgetUsage usage;
  };
  struct Total {
    BudgetUsage usage;
    int64_t pods = 0;
  };

  explicit State(const WebhookCaches& c) : caches(c) {}

  // Where `pod` is charged now; nullopt when nowhere (no budget, or it ended).
  std::optional<Charge> ChargeOf(const reconcilers::PodView& pv) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (pv.state == reconcilers::PodState::kEnded || attributor == nullptr) {
      return std::nullopt;
    }
    static const values::Labels kNoLabels;
    auto ns = namespaces.find(pv.namespace_name.view());
    engine::Attribution a = attributor->Attribute(
        {.namespace_name = pv.namespace_name,
         .namespace_labels = ns == namespaces.end() ? &kNoLabels : &ns->second,
         .pod_labels = pv.labels});
    if (a.budget < 0) {
      return std::nullopt;
    }
    const api::ComputeBudget& budget = *candidates[static_cast<size_t>(a.budget)];
    return Charge{budget.metadata.name, UsageOf(pv, budget)};
  }

  // Replaces what the pod under `key` is charged with `pod`'s charge (nullptr: deleted).
  void Recharge(const std::string& key, const reconcilers::PodView* pod)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (auto old = charges.find(key); old != charges.end()) {
      auto total = totals.find(old->second.budget);
      Subtract(total->second.usage, old->second.usage);
      if (--total->second.pods == 0) {
        totals.erase(total);  // as UsageByBudget: only budgets some live pod is charged to
      }
      charges.erase(old);
    }
    std::optional<Charge> charge = pod == nullptr ? std::nullopt : ChargeOf(*pod);
    if (charge.has_value()) {
      Total& total = totals[charge->budget];
      Add(total.usage, charge->usage);
      ++total.pods;
      charges.emplace(key, *std::move(charge));
    }
    usage_changed = true;
  }

  // Budgets re-decoded; every pod re-attributed when their scopes may have moved.
  void Refresh() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const bool first = !indexed;
    if (budgets_changed || first) {
      budgets = DecodeBudgets(caches.budgets);
    }
    auto scope = ScopeKeyOf(budgets);
    const bool reattribute = first || namespaces_changed || scope != scope_key;
    if (namespaces_changed || first) {
      namespaces = NamespaceLabels(caches.namespaces);
    }
    candidates.clear();
    for (const api::ComputeBudget& b : budgets) {
      candidates.push_back(&b);
    }
    attributor = std::make_unique<engine::Attributor>(candidates);
    if (reattribute) {
      charges.clear();
      totals.clear();
      if (caches.pods != nullptr && !budgets.empty()) {
        caches.pods->ForEach([&](std::string_view key, const reconcilers::PodView& pod) {
          Recharge(std::string(key), &pod);
        });
      }
    }
    scope_key = std::move(scope);
    budgets_changed = namespaces_changed = false;
    indexed = true;
    auto next = std::make_shared<AdmissionView>();
    next->budgets = budgets;
    if (!budgets.empty()) {
      next->namespaces = namespaces;
      next->usage = UsageNow();
    }
    view = std::move(next);
    usage_changed = false;
  }

  std::map<std::string, BudgetUsage> UsageNow() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<std::string, BudgetUsage> out;
    for (const auto& [name, total] : totals) {
      out.emplace_hint(out.end(), name, total.usage);
    }
    return out;
  }

  const WebhookCaches caches;
  absl::Mutex mu;
  bool indexed ABSL_GUARDED_BY(mu) = false;
  bool budgets_changed ABSL_GUARDED_BY(mu) = false;
  bool namespaces_changed ABSL_GUARDED_BY(mu) = false;
  bool usage_changed ABSL_GUARDED_BY(mu) = false;
  std::vector<api::ComputeBudget> budgets ABSL_GUARDED_BY(mu);
  std::vector<std::tuple<std::string, std::string, int64_t>> scope_key ABSL_GUARDED_BY(mu);
  NamespaceLabelMap namespaces ABSL_GUARDED_BY(mu);
  std::vector<const api::ComputeBudget*> candidates ABSL_GUARDED_BY(mu);
  std::unique_ptr<engine::Attributor> attributor ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, Charge> charges ABSL_GUARDED_BY(mu);  // by pod key
  std::map<std::string, Total> totals ABSL_GUARDED_BY(mu);               // by budget name
  std::shared_ptr<AdmissionView> view ABSL_GUARDED_BY(mu);
};

AdmissionViewCache::AdmissionViewCache(const WebhookCaches& caches)
    : state_(std::make_shared<State>(caches)) {
  // The callbacks hold the state: one that fires after the cache is gone touches nothing freed.
  if (caches.pods != nullptr) {
    caches.pods->OnChange([state = state_](const reconcilers::PodViewStore::Change& change) {
      absl::MutexLock lock(&state->mu);
      if (state->indexed && !state->namespaces_changed) {
        state->Recharge(change.key, change.new_value.get());
      }  // else the next Get() re-attributes every pod from the cache
    });
  }
  if (caches.namespaces != nullptr) {
    caches.namespaces->OnChange([state = state_](const runtime::ObjectStore::Change&) {
      absl::MutexLock lock(&state->mu);
      state->namespaces_changed = true;
    });
  }
  if (caches.budgets != nullptr) {
    caches.budgets->OnChange([state = state_](const runtime::ObjectStore::Change&) {
      absl::MutexLock lock(&state->mu);
      state->budgets_changed = true;
    });
  }
}

std::shared_ptr<const AdmissionView> AdmissionViewCache::Get() {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  if (!s.indexed || s.budgets_changed || s.namespaces_changed) {
    s.Refresh();
  } else if (s.usage_changed) {
    // In place when no request holds the view (every copy is handed out under mu), else a copy.
    if (s.view.use_count() > 1) {
      s.view = std::make_shared<AdmissionView>(*s.view);
    }
    s.view->usage = s.budgets.empty() ? std::map<std::string, BudgetUsage>() : s.UsageNow();
    s.usage_changed = false;
  }
  return s.view;
}

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
  auto views = std::make_shared<AdmissionViewCache>(caches);
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
    // Workloads of the suspend-path table go to /mutate, everything else to /validate.
    const bool workload = reconcilers::SuspendPathOf(request->group, request->kind) != nullptr;
    AdmissionResponse response;
    if (mutate != workload) {
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
