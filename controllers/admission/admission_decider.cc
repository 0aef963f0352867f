#include "controllers/admission/admission_decider.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/job_caps.h"
#include "controllers/reconcilers/gather.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "controllers/values/strings.h"
#include "operator/kube/watch_decoder.h"

namespace bursar::admission {
namespace {

using reconcilers::PodList;
using reconcilers::PodView;

struct Charged {
  const api::ComputeBudget* budget = nullptr;
  BudgetUsage usage;
};

std::vector<const api::ComputeBudget*> PointersTo(const std::vector<api::ComputeBudget>& budgets) {
  std::vector<const api::ComputeBudget*> out;
  out.reserve(budgets.size());
  for (const api::ComputeBudget& b : budgets) {
    out.push_back(&b);
  }
  return out;
}

const values::Labels* LabelsOf(const NamespaceLabelMap& namespaces, std::string_view ns) {
  static const values::Labels kNoLabels;
  auto found = namespaces.find(ns);
  return found == namespaces.end() ? &kNoLabels : &found->second;
}

// The budget `ns` + `labels` is charged to, by the planner's rule; nullptr when none.
const api::ComputeBudget* BudgetOf(const std::vector<api::ComputeBudget>& budgets,
                                   const NamespaceLabelMap& namespaces, std::string_view ns,
                                   values::LabelsRef labels) {
  std::vector<const api::ComputeBudget*> candidates = PointersTo(budgets);
  engine::Attribution a = engine::AttributePod(
      candidates,
      {.namespace_name = ns, .namespace_labels = LabelsOf(namespaces, ns), .pod_labels = labels});
  return a.budget < 0 ? nullptr : candidates[static_cast<size_t>(a.budget)];
}

Charged ChargedTo(const AdmissionView& view, std::string_view ns, values::LabelsRef labels) {
  Charged out;
  out.budget = BudgetOf(view.budgets, view.namespaces, ns, labels);
  if (out.budget == nullptr) {
    return out;
  }
  if (auto u = view.usage.find(out.budget->metadata.name); u != view.usage.end()) {
    out.usage = u->second;
  }
  return out;
}

std::string Describe(const api::ComputeBudget& b) {
  return absl::StrCat("budget \"", b.metadata.name, "\" (phase ", Name(b.status.phase), ")");
}

AdmissionResponse Allow(const AdmissionRequest& request) {
  AdmissionResponse out;
  out.uid = request.uid;
  return out;
}

AdmissionResponse AllowWithWarning(const AdmissionRequest& request, std::string warning) {
  AdmissionResponse out = Allow(request);
  out.warnings.push_back(std::move(warning));
  return out;
}

// "~" and "/" escaped for a JSON Pointer (RFC 6901).
std::string PointerToken(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// The JSON Patch that suspends a workload of `kind` and records why, with the annotations of
// the Hold path. The suspend path's missing parents are added with it ("spec.runPolicy.suspend"
// on a PyTorchJob without spec.runPolicy adds {"suspend": true} at /spec/runPolicy).
std::string SuspendPatch(const reconcilers::SuspendPath& kind, const json::Value& object,
                         const std::string& budget, const std::string& reason) {
  const std::pair<const char*, std::string> annotations[] = {
      {reconcilers::kHeldByAnnotation, budget},
      {reconcilers::kHeldRungAnnotation, "Hold"},
      {reconcilers::kHeldReasonAnnotation, reason}};
  json::Writer w;
  w.BeginArray();
  const std::vector<std::string> keys = absl::StrSplit(values::AbslView(kind.path), '.');
  std::string pointer;
  const json::Value* at = &object;
  size_t i = 0;
  for (; i + 1 < keys.size(); ++i) {  // the parents that exist
    const json::Value* next = at->is_object() ? at->Find(keys[i]) : nullptr;
    if (next == nullptr || !next->is_object()) {
      break;
    }
    absl::StrAppend(&pointer, "/", PointerToken(keys[i]));
    at = next;
  }
  absl::StrAppend(&pointer, "/", PointerToken(keys[i]));
  w.BeginObject().Key("op").String("add").Key("path").String(pointer).Key("value");
  for (size_t k = i + 1; k < keys.size(); ++k) {
    w.BeginObject().Key(keys[k]);
  }
  w.Bool(true);
  for (size_t k = i + 1; k < keys.size(); ++k) {
    w.EndObject();
  }
  w.EndObject();
  const json::Value* existing = object.FindPath("metadata.annotations");
  if (existing == nullptr || !existing->is_object()) {
    w.BeginObject().Key("op").String("add").Key("path").String("/metadata/annotations");
    w.Key("value").BeginObject();
    for (const auto& [key, value] : annotations) {
      w.Key(key).String(value);
    }
    w.EndObject().EndObject();
  } else {
    for (const auto& [key, value] : annotations) {
      w.BeginObject().Key("op").String("add");
      w.Key("path").String(absl::StrCat("/metadata/annotations/", PointerToken(key)));
      w.Key("value").String(value).EndObject();
    }
  }
  w.EndArray();
  return w.Take();
}

// The model whose unlocked retraining reserve work labelled `labels` draws on; nullopt for
// regular work (the reserve is locked, or it is not retraining of an unlocked model).
std::optional<std::string> ReserveModelOf(const api::ComputeBudget& b, values::LabelsRef labels) {
  std::string model;
  if (!b.status.admission->reserve_gpus.has_value() ||
      !engine::IsRetrainingWork(labels, b.spec.retraining, &model)) {
    return std::nullopt;
  }
  const std::vector<std::string> open = api::OpenUnlocks(b.status);
  if (std::find(open.begin(), open.end(), model) == open.end()) {
    return std::nullopt;
  }
  return model;
}

// Why `gpus` GPUs of retraining work of `model` do not fit the budget's unlocked reserve beside
// the retraining pods of its unlocked models; nullopt when they fit.
std::optional<std::string> OverReserve(const Charged& c, const std::string& model, int64_t gpus) {
  const api::AdmissionAllowance& a = *c.budget->status.admission;
  int64_t held = 0;
  for (const std::string& m : api::OpenUnlocks(c.budget->status)) {
    if (auto it = c.usage.retraining_gpus.find(m); it != c.usage.retraining_gpus.end()) {
      held = reconcilers::SaturatingAdd(held, it->second);
    }
  }
  if (gpus <= 0 || reconcilers::SaturatingAdd(held, gpus) <= *a.reserve_gpus) {
    return std::nullopt;
  }
  return absl::StrCat(gpus, " GPUs do not fit the retraining reserve of ", Describe(*c.budget),
                      ", unlocked for model \"", model, "\", which allows ", *a.reserve_gpus,
                      " GPUs now and holds ", held);
}

// Why a workload (a Job, a PyTorchJob...) must be created suspended; nullopt when it may start.
// Retraining work of an unlocked model (`reserve_model`) waits only for the reserve.
std::optional<std::string> JobHoldReason(const Charged& c, int64_t job_gpus,
                                         const std::string& kind,
                                         const std::optional<std::string>& reserve_model) {
  const api::AdmissionAllowance& a = *c.budget->status.admission;
  if (reserve_model.has_value()) {
    std::optional<std::string> over = OverReserve(c, *reserve_model, job_gpus);
    if (!over.has_value()) {
      return std::nullopt;
    }
    return absl::StrCat("its ", *over, "; Bursar resumes this ", kind,
                        " when the reserve has room");
  }
  if (a.hold_new_work) {
    return absl::StrCat(Describe(*c.budget), " holds new work; Bursar resumes this ", kind,
                        " when the budget allows it");
  }
  auto gpus = a.allowed.find(values::kGpuResource);
  if (job_gpus > 0 && gpus != a.allowed.end() &&
      reconcilers::SaturatingAdd(c.usage.gpus, job_gpus) > gpus->second.Value()) {
    return absl::StrCat("its ", job_gpus, " GPUs do not fit ", Describe(*c.budget),
                        ", which allows ", gpus->second.Value(), " GPUs now and holds ",
                        c.usage.gpus, "; Bursar resumes this ", kind, " when the budget has room");
  }
  return std::nullopt;
}

AdmissionResponse Deny(const AdmissionRequest& request, std::string message);

// Why a Job that declares its length cannot start now, from the budget's published prices.
std::optional<engine::Unaffordable> JobUnaffordable(const Charged& c,
                                                    const reconcilers::JobView& job,
                                                    absl::Time now) {
  const api::AdmissionAllowance& a = *c.budget->status.admission;
  if (!job.expected_duration.has_value() || !a.gpu_hour_price.has_value()) {
    return std::nullopt;
  }
  absl::Duration time_left = absl::InfiniteDuration();
  if (c.budget->status.period.has_value() && now != absl::InfinitePast()) {
    time_left = c.budget->status.period->end - now;
  }
  return engine::CheckAffordable({.max_cost = job.max_cost, .max_gpu_hours = job.max_gpu_hours},
                                 job.gpus, *job.expected_duration, *a.gpu_hour_price, a.money_left,
                                 time_left);
}

// A workload of the suspend-path table (batch Job, JobSet, Kubeflow, RayJob).
AdmissionResponse DecideJob(const reconcilers::SuspendPath& kind, const AdmissionRequest& request,
                            const AdmissionView& view, absl::Time now) {
  if (!request.object.is_object()) {
    return AllowWithWarning(request, absl::StrCat("bursar: the ", values::AbslView(kind.kind),
                                                  " in the request has no object to check"));
  }
  reconcilers::JobView job = reconcilers::WorkloadViewOf(kind, request.object);
  const std::string kind_name(kind.kind);
  if (job.suspended || job.labels.contains(kKueueQueueLabel) ||
      !json::MemberStringAt(request.object, "metadata.labels", kKueueQueueLabel).empty()) {
    return Allow(request);  // suspended by its author or by Kueue: nothing to add
  }
  const std::string& ns =
      request.namespace_name.empty() ? job.namespace_name : request.namespace_name;
  Charged c = ChargedTo(view, ns, job.labels);
  if (c.budget == nullptr || !c.budget->status.admission.has_value()) {
    return Allow(request);
  }
  const bool dry_run = c.budget->spec.enforcement == api::EnforcementMode::kDryRun;
  std::optional<std::string> refuse;
  if (!job.annotation_error.empty()) {
    refuse = absl::StrCat("bursar: ", job.annotation_error, "; fix the annotation");
  }
  std::optional<engine::Unaffordable> unaffordable = JobUnaffordable(c, job, now);
  if (!refuse.has_value() && unaffordable.has_value() &&
      unaffordable->kind == engine::Unaffordable::Kind::kOverCap) {
    refuse = absl::StrCat("bursar: ", unaffordable->why,
                          "; raise the cap or shorten bursar.dev/expected-duration");
  }
  if (refuse.has_value()) {
    return dry_run
               ? AllowWithWarning(request, absl::StrCat("bursar (DryRun): would refuse: ", *refuse))
               : Deny(request, *refuse);
  }
  std::optional<std::string> why =
      JobHoldReason(c, job.gpus, kind_name, ReserveModelOf(*c.budget, job.labels));
  if (!why.has_value() && unaffordable.has_value()) {
    why = absl::StrCat(unaffordable->why, " (", Describe(*c.budget), "); Bursar resumes this ",
                       kind_name, " when the budget can pay for it");
  }
  if (!why.has_value()) {
    return Allow(request);
  }
  if (dry_run) {
    return AllowWithWarning(request, absl::StrCat("bursar (DryRun): would create this ", kind_name,
                                                  " suspended: ", *why));
  }
  AdmissionResponse out = Allow(request);
  out.json_patch = SuspendPatch(kind, request.object, c.budget->metadata.name, *why);
  out.warnings.push_back(absl::StrCat("bursar: created suspended: ", *why));
  return out;
}

struct PodRequest {
  int64_t gpus = 0;
  values::Quantity cpu;
  values::Quantity memory;
};

PodRequest RequestOf(const PodView& pod) {
  PodRequest r;
  for (const engine::ContainerRequests& c : pod.containers) {
    r.gpus = reconcilers::SaturatingAdd(r.gpus, c.gpus);
    r.cpu = r.cpu + c.cpu();
    r.memory = r.memory + c.memory();
  }
  return r;
}

// Memory in binary units ("8Gi", not "8589934592"), as people write it; the rest as it is.
std::string Readable(const std::string& resource, const values::Quantity& q) {
  if (resource != "memory") {
    return q.ToString();
  }
  return values::Quantity::FromUnits(q.Value(), values::Quantity::Format::kBinarySI).ToString();
}

// The first quota resource whose allowance the pod would exceed, as a sentence; nullopt if none.
std::optional<std::string> PodOverAllowance(const Charged& c, const PodRequest& pod) {
  const api::AdmissionAllowance& a = *c.budget->status.admission;
  for (const auto& [resource, allowed] : a.allowed) {
    values::Quantity in_use, wanted;
    if (resource == values::kGpuResource) {
      in_use = values::Quantity::FromUnits(c.usage.gpus);
      wanted = values::Quantity::FromUnits(pod.gpus);
    } else if (resource == "cpu") {
      in_use = c.usage.cpu;
      wanted = pod.cpu;
    } else if (resource == "memory") {
      in_use = c.usage.memory;
      wanted = pod.memory;
    } else {
      continue;
    }
    if (wanted.IsZero() || in_use + wanted <= allowed) {
      continue;
    }
    return absl::StrCat("the pod requests ", resource, " ", Readable(resource, wanted), ", but ",
                        Describe(*c.budget), " allows ", Readable(resource, allowed),
                        " in total now and its pods hold ", Readable(resource, in_use));
  }
  return std::nullopt;
}

bool RequestsQuotaResource(const api::AdmissionAllowance& a, const PodRequest& pod) {
  return pod.gpus > 0 || (a.allowed.contains("cpu") && !pod.cpu.IsZero()) ||
         (a.allowed.contains("memory") && !pod.memory.IsZero());
}

AdmissionResponse Deny(const AdmissionRequest& request, std::string message) {
  AdmissionResponse out = Allow(request);
  out.allowed = false;
  out.code = 403;
  out.reason = "Forbidden";
  out.message = std::move(message);
  return out;
}

AdmissionResponse DecidePod(const AdmissionRequest& request, const AdmissionView& view) {
  if (!request.object.is_object()) {
    return AllowWithWarning(request, "bursar: the Pod in the request has no object to check");
  }
  kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  absl::StatusOr<kube::PodSummary> summary = decoder.DecodePod(request.object.ToJson());
  if (!summary.ok()) {
    return AllowWithWarning(request, absl::StrCat("bursar: the Pod could not be read (",
                                                  summary.status().message(), "); not checked"));
  }
  if (summary->owner_kind.view() == "Job") {
    return Allow(request);  // gated with its Job
  }
  PodView pod = reconcilers::PodViewOf(*summary);
  const std::string_view ns =
      request.namespace_name.empty() ? pod.namespace_name.view() : request.namespace_name;
  Charged c = ChargedTo(view, ns, pod.labels);
  if (c.budget == nullptr || !c.budget->status.admission.has_value()) {
    return Allow(request);
  }
  api::QuotaMode mode = c.budget->spec.quota.mode;
  if (mode != api::QuotaMode::kWebhook && mode != api::QuotaMode::kResourceQuota) {
    return Allow(request);  // Kueue admits its own workloads; None enforces through Jobs only
  }
  const api::AdmissionAllowance& a = *c.budget->status.admission;
  PodRequest wanted = RequestOf(pod);
  std::optional<std::string> why;
  if (std::optional<std::string> model = ReserveModelOf(*c.budget, pod.labels); model.has_value()) {
    std::optional<std::string> over = OverReserve(c, *model, wanted.gpus);
    if (over.has_value()) {
      why = absl::StrCat("the pod's ", *over);
    }
  } else if (a.hold_new_work && RequestsQuotaResource(a, wanted)) {
    why = absl::StrCat(Describe(*c.budget), " holds new work");
  } else {
    why = PodOverAllowance(c, wanted);
  }
  if (!why.has_value()) {
    return Allow(request);
  }
  std::string todo = absl::StrCat("; wait until the budget allows more (kubectl bursar why ",
                                  c.budget->metadata.name,
                                  "), lower the pod's requests, or raise the budget's spec.limit");
  if (c.budget->spec.enforcement == api::EnforcementMode::kDryRun) {
    return AllowWithWarning(request,
                            absl::StrCat("bursar (DryRun): would refuse this pod: ", *why));
  }
  return Deny(request, absl::StrCat("bursar: ", *why, todo));
}

}  // namespace

void Add(BudgetUsage& total, const BudgetUsage& u) {
  total.gpus = reconcilers::SaturatingAdd(total.gpus, u.gpus);
  total.cpu = total.cpu + u.cpu;
  total.memory = total.memory + u.memory;
  for (const auto& [model, gpus] : u.retraining_gpus) {
    int64_t& sum = total.retraining_gpus[model];
    sum = reconcilers::SaturatingAdd(sum, gpus);
  }
}

void Subtract(BudgetUsage& total, const BudgetUsage& u) {
  total.gpus -= u.gpus;
  total.cpu = total.cpu - u.cpu;
  total.memory = total.memory - u.memory;
  for (const auto& [model, gpus] : u.retraining_gpus) {
    auto it = total.retraining_gpus.find(model);
    if (it != total.retraining_gpus.end() && (it->second -= gpus) <= 0) {
      total.retraining_gpus.erase(it);
    }
  }
}

BudgetUsage UsageOf(const PodView& pod, const api::ComputeBudget& budget) {
  PodRequest r = RequestOf(pod);
  BudgetUsage out;
  out.gpus = r.gpus;
  out.cpu = r.cpu;
  out.memory = r.memory;
  std::string model;
  // Only a budget with a reserve has retraining work apart: the others skip the labels (this
  // runs for every pod the webhook's cache sees change).
  if (r.gpus > 0 && budget.spec.retraining.reserve_percent > 0 &&
      engine::IsRetrainingWork(pod.labels, budget.spec.retraining, &model)) {
    out.retraining_gpus.emplace(std::move(model), r.gpus);
  }
  return out;
}

std::map<std::string, BudgetUsage> UsageByBudget(const std::vector<api::ComputeBudget>& budgets,
                                                 const NamespaceLabelMap& namespaces,
                                                 const PodList& pods) {
  std::map<std::string, BudgetUsage> out;
  // Indexed by namespace once (engine::Attributor), as the planner does: a pod is matched only
  // against the budgets that select its namespace.
  const std::vector<const api::ComputeBudget*> candidates = PointersTo(budgets);
  engine::Attributor attributor(candidates);
  for (const PodView& pod : pods) {
    if (pod.state == reconcilers::PodState::kEnded) {
      continue;
    }
    engine::Attribution a =
        attributor.Attribute({.namespace_name = pod.namespace_name,
                              .namespace_labels = LabelsOf(namespaces, pod.namespace_name),
                              .pod_labels = pod.labels});
    if (a.budget < 0) {
      continue;
    }
    const api::ComputeBudget& budget = *candidates[static_cast<size_t>(a.budget)];
    Add(out[budget.metadata.name], UsageOf(pod, budget));
  }
  return out;
}

AdmissionResponse Decide(const AdmissionRequest& request, const AdmissionView& view,
                         absl::Time now) {
  if (request.operation != "CREATE") {
    return Allow(request);
  }
  if (const reconcilers::SuspendPath* kind =
          reconcilers::SuspendPathOf(request.group, request.kind);
      kind != nullptr) {
    return DecideJob(*kind, request, view, now);
  }
  if (request.group.empty() && request.kind == "Pod") {
    return DecidePod(request, view);
  }
  return Allow(request);
}

}  // namespace bursar::admission
