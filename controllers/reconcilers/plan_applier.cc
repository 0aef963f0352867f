#include "controllers/reconcilers/plan_applier.h"

#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/cluster_queue_quota.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "controllers/values/strings.h"
#include "operator/kube/kube_status.h"

namespace bursar::reconcilers {
namespace {

using json::Value;

std::string QuotaName(const std::string& budget) {
  return absl::StrCat("bursar-", budget);
}

runtime::ObjectReference BudgetRef(const api::ComputeBudget& budget) {
  return {.api_version = api::kApiVersion,
          .kind = "ComputeBudget",
          .namespace_name = "",
          .name = budget.metadata.name,
          .uid = budget.metadata.uid};
}

Value ManagedLabels(const std::string& budget) {
  return Value::Object(
      {{kManagedByLabel, Value::String(kManagedByValue)}, {kBudgetLabel, Value::String(budget)}});
}

kube::DeleteOptions DeleteIfUid(std::string uid) {
  kube::DeleteOptions options;
  options.precondition_uid = std::move(uid);
  return options;
}

}  // namespace

json::Value QuotaObject(const QuotaTarget& target, const std::string& budget_uid) {
  Value metadata = Value::Object({{"name", Value::String(QuotaName(target.budget))},
                                  {"namespace", Value::String(target.namespace_name)},
                                  {"labels", ManagedLabels(target.budget)}});
  if (!budget_uid.empty()) {
    // A cluster-scoped owner may own namespaced objects: deleting the budget deletes its quotas.
    metadata.Set("ownerReferences",
                 Value::Array({Value::Object({{"apiVersion", Value::String(api::kApiVersion)},
                                              {"kind", Value::String("ComputeBudget")},
                                              {"name", Value::String(target.budget)},
                                              {"uid", Value::String(budget_uid)}})}));
  }
  Value hard = Value::Object({{kQuotaGpuResource, Value::String(absl::StrCat(target.gpus))}});
  if (target.cpu.has_value()) {
    hard.Set(kQuotaCpuResource, Value::String(target.cpu->ToString()));
  }
  if (target.memory.has_value()) {
    hard.Set(kQuotaMemoryResource, Value::String(target.memory->ToString()));
  }
  return Value::Object({{"apiVersion", Value::String("v1")},
                        {"kind", Value::String("ResourceQuota")},
                        {"metadata", std::move(metadata)},
                        {"spec", Value::Object({{"hard", std::move(hard)}})}});
}

namespace {

// A merge patch that sets the boolean at `dotted` ("spec.runPolicy.suspend"), creating the
// objects on the way.
Value SuspendMergePatch(std::string_view dotted, bool suspend) {
  std::vector<std::string> keys = absl::StrSplit(values::AbslView(dotted), '.');
  Value v = Value::Bool(suspend);
  for (size_t i = keys.size(); i-- > 0;) {
    v = Value::Object({{std::move(keys[i]), std::move(v)}});
  }
  return v;
}

// Whether a stored quota's spec.hard already says what `target` wants. Compared as quantities:
// the API server writes them in canonical form ("1500m" stays, "2000m" comes back as "2").
bool QuotaUpToDate(const Value& quota, const QuotaTarget& target) {
  const Value* hard = quota.FindPath("spec.hard");
  auto holds = [&](const char* key, const std::optional<values::Quantity>& want) {
    const Value* value = hard != nullptr ? hard->Find(key) : nullptr;
    if (!want.has_value()) {
      return value == nullptr;
    }
    if (value == nullptr || !value->is_string()) {
      return false;
    }
    absl::StatusOr<values::Quantity> have = values::Quantity::Parse(value->text());
    return have.ok() && *have == *want;
  };
  return holds(kQuotaGpuResource, values::Quantity::FromUnits(target.gpus)) &&
         holds(kQuotaCpuResource, target.cpu) && holds(kQuotaMemoryResource, target.memory);
}

}  // namespace

absl::Status PlanApplier::ApplyStatus(const kube::ResourceType& type, const std::string& name,
                                      Value status, ApplyReport& report,
                                      const std::string& precondition,
                                      std::string* written_version) {
  std::string key = std::string(type.plural) + "/" + name;
  std::string text = status.ToJson();
  auto it = written_.find(key);
  if (it != written_.end() && it->second == text) {
    return absl::OkStatus();
  }
  Value metadata = Value::Object({{"name", Value::String(name)}});
  if (!precondition.empty()) {
    metadata.Set("resourceVersion", Value::String(precondition));
  }
  Value object = Value::Object({{"apiVersion", Value::String(type.ApiVersion())},
                                {"kind", Value::String(std::string(type.kind))},
                                {"metadata", std::move(metadata)},
                                {"status", std::move(status)}});
  absl::StatusOr<Value> applied = client_.ApplyStatus(type, "", object, kFieldManager, true);
  if (!applied.ok()) {
    written_.erase(key);
    if (kube::IsNotFound(applied.status())) {
      return absl::OkStatus();  // deleted meanwhile: nothing to report on
    }
    if (!precondition.empty() && kube::IsConflict(applied.status())) {
      return applied.status();  // the caller decides whether to report it
    }
    report.errors.push_back(
        absl::StrCat(std::string(type.kind), "/", name, ": status: ", applied.status().message()));
    return applied.status();
  }
  ++report.writes;
  written_[key] = std::move(text);
  if (written_version != nullptr) {
    *written_version = json::StringAt(*applied, "metadata.resourceVersion");
  }
  return absl::OkStatus();
}

std::string PlanApplier::DecisionPart(const api::ComputeBudgetStatus& status) {
  api::ComputeBudgetStatus part = status;
  part.spent = part.gpu_hours = part.burn_rate = part.forecast = part.remaining = values::Money();
  part.exhausts_at.reset();
  // status.allowedGPUs (money left over time left) moves with time and spend like the forecast;
  // what enforces is written at once elsewhere (quotas, status.admission.allowed). At $100M a
  // month it changed every pass: 64 status writes a pass at 100 budgets (make bench-scale).
  part.allowed_gpus = 0;
  if (part.admission.has_value()) {
    // Money left moves with spend: the webhook reads it up to one interval old (operations.md).
    part.admission->money_left.reset();
  }
  for (api::JobSpend& job : part.jobs) {  // capped Jobs' running totals: which Jobs is kept
    job.accrued = 0;
    job.gpu_seconds = 0;
    job.rate = values::Money();
    job.gpus = 0;
  }
  // Of the checkpoints, only which pods they list: a pod listed or dropped (one started or
  // ended) is written at once, so the status counts a new pod within a pass.
  for (std::optional<values::LedgerState>* ledger : {&part.ledger, &part.reserve_ledger}) {
    if (ledger->has_value()) {
      values::LedgerState& l = **ledger;
      l.accrued = 0;
      l.gpu_seconds = 0;
      l.watermark = l.start_horizon = l.end_horizon = l.period.start;
      for (values::PodAccount& pod : l.pods) {
        pod.accounted_until = l.period.start;
      }
    }
  }
  for (api::Condition& c : part.conditions) {
    c.message.clear();  // Ready's message quotes the usage percent
  }
  return api::EncodeComputeBudgetStatus(part).ToJson();
}

bool PlanApplier::StatusDue(const BudgetOutcome& outcome, const api::ComputeBudgetStatus& status,
                            absl::Time now) const {
  auto last = budget_writes_.find(outcome.name);
  return options_.status_interval <= absl::ZeroDuration() || last == budget_writes_.end() ||
         outcome.accounts_closed || now < last->second.at ||
         now - last->second.at >= options_.status_interval ||
         last->second.decision_part != DecisionPart(status);
}

void PlanApplier::ApplyBudgetStatus(const BudgetOutcome& outcome,
                                    const api::ComputeBudgetStatus& status,
                                    const api::ComputeBudget& budget, absl::Time now,
                                    ApplyReport& report) {
  if (!StatusDue(outcome, status, now)) {
    ++report.coalesced;
    return;
  }
  // Fenced (see the file comment): as we last wrote it, else as the cache has it.
  StatusVersion& version = status_versions_[outcome.name];
  const std::string precondition =
      version.written.empty() ? budget.metadata.resource_version : version.written;
  std::string written_version;
  absl::Status written =
      ApplyStatus(kube::kComputeBudgets, outcome.name, api::EncodeComputeBudgetStatus(status),
                  report, precondition, &written_version);
  if (!written.ok()) {
    budget_writes_.erase(outcome.name);  // the next pass writes again
    version.written.clear();
    if (kube::IsConflict(written) && ++version.conflicts < kMaxQuietConflicts) {
      ++report.conflicts;
      return;
    }
    ReportBudgetStatusFailure(budget, status, written, now, report);
    return;
  }
  if (!written_version.empty()) {
    version.written = std::move(written_version);
  }
  version.conflicts = 0;
  budget_writes_[outcome.name] = {.decision_part = DecisionPart(status), .at = now};
}

void PlanApplier::ReportBudgetStatusFailure(const api::ComputeBudget& budget,
                                            const api::ComputeBudgetStatus& status,
                                            const absl::Status& error, absl::Time now,
                                            ApplyReport& report) {
  std::optional<kube::KubeStatus> server = kube::KubeStatusOf(error);
  std::string what = server.has_value()
                         ? absl::StrCat(server->code, " ", server->reason, ": ", server->message)
                         : std::string(error.message());
  // A 422 may list every invalid field: keep the condition's message well inside its bounds.
  constexpr size_t kMaxWhat = 512;
  if (what.size() > kMaxWhat) {
    what.resize(kMaxWhat);
    what += "...";
  }
  report.status_failures[budget.metadata.name] = what;
  std::string message = absl::StrCat("status not written (", what,
                                     "); spent, phase and the ledger checkpoint are stale until a "
                                     "write succeeds");
  events_.Record(BudgetRef(budget), runtime::EventType::kWarning, kStatusWriteFailedReason,
                 message);
  // The Ready condition alone, owned by another field manager: accepted when only the full
  // status is refused, so the stale status reads as not Ready at once.
  Value ready = Value::Object({{"type", Value::String("Ready")},
                               {"status", Value::String("False")},
                               {"reason", Value::String(kStatusWriteFailedReason)},
                               {"message", Value::String(message)},
                               {"lastTransitionTime", Value::String(api::FormatTime(now))},
                               {"observedGeneration", Value::Int(status.observed_generation)}});
  Value object = Value::Object(
      {{"apiVersion", Value::String(kube::kComputeBudgets.ApiVersion())},
       {"kind", Value::String(std::string(kube::kComputeBudgets.kind))},
       {"metadata", Value::Object({{"name", Value::String(budget.metadata.name)}})},
       {"status", Value::Object({{"conditions", Value::Array({std::move(ready)})}})}});
  absl::StatusOr<Value> marked =
      client_.ApplyStatus(kube::kComputeBudgets, "", object, kStatusFallbackFieldManager, true);
  if (marked.ok()) {
    ++report.writes;
    // Our own write: the next full write is fenced by the version it left.
    status_versions_[budget.metadata.name].written =
        json::StringAt(*marked, "metadata.resourceVersion");
  }
}

void PlanApplier::ApplyQuotas(const Plan& plan, const Snapshot& snapshot,
                              const std::vector<Value>& owned, ApplyReport& report) {
  std::map<std::string, std::string> uid_of;
  for (const api::ComputeBudget& b : snapshot.budgets) {
    uid_of[b.metadata.name] = b.metadata.uid;
  }
  std::map<std::string, const Value*> existing;  // "ns/name"
  for (const Value& q : owned) {
    existing[absl::StrCat(json::StringAt(q, "metadata.namespace"), "/",
                          json::StringAt(q, "metadata.name"))] = &q;
  }
  std::set<std::string> wanted;
  for (const QuotaTarget& target : plan.quotas) {
    std::string key = absl::StrCat(target.namespace_name, "/", QuotaName(target.budget));
    wanted.insert(key);
    auto it = existing.find(key);
    if (it != existing.end() && QuotaUpToDate(*it->second, target)) {
      continue;
    }
    absl::StatusOr<Value> applied =
        client_.Apply(kube::kResourceQuotas, target.namespace_name,
                      QuotaObject(target, uid_of[target.budget]), kFieldManager, true);
    if (!applied.ok()) {
      report.errors.push_back(
          absl::StrCat("ResourceQuota/", key, ": ", applied.status().message()));
      continue;
    }
    ++report.writes;
    ++report.actions["SetQuota"];
  }
  std::set<std::string> frozen(plan.frozen_budgets.begin(), plan.frozen_budgets.end());
  for (const auto& [key, quota] : existing) {
    std::string budget = json::MemberStringAt(*quota, "metadata.labels", kBudgetLabel);
    if (wanted.contains(key) || frozen.contains(budget)) {
      continue;
    }
    absl::Status deleted =
        client_
            .Delete(kube::kResourceQuotas, json::StringAt(*quota, "metadata.namespace"),
                    json::StringAt(*quota, "metadata.name"),
                    DeleteIfUid(json::StringAt(*quota, "metadata.uid")))
            .status();
    if (!deleted.ok() && !kube::IsNotFound(deleted)) {
      report.errors.push_back(absl::StrCat("ResourceQuota/", key, ": delete: ", deleted.message()));
      continue;
    }
    ++report.writes;
    ++report.actions["RemoveQuota"];
  }
}

// Writes the flavors' nominalQuota (and borrowingLimit) so that the queue admits no more than
// the allowance (cluster_queue_quota.h).
bool PlanApplier::ApplyClusterQueue(const ClusterQueueTarget& target, ApplyReport& report) {
  std::string where = absl::StrCat("ClusterQueue/", target.cluster_queue);
  absl::StatusOr<Value> cq = client_.Get(kube::kKueueClusterQueues, "", target.cluster_queue);
  if (kube::IsNotFound(cq.status())) {
    return false;  // not an error to log every pass: the budget's Ready and an Event say it
  }
  if (!cq.ok()) {
    report.errors.push_back(absl::StrCat(where, ": ", cq.status().message()));
    return true;
  }
  absl::StatusOr<std::optional<Value>> patch = ClusterQueueQuotaPatch(*cq, target);
  if (!patch.ok()) {
    report.errors.push_back(absl::StrCat(where, ": ", patch.status().message()));
    return true;
  }
  if (!patch->has_value()) {
    return true;
  }
  absl::StatusOr<Value> patched =
      client_.Patch(kube::kKueueClusterQueues, "", target.cluster_queue, kube::PatchType::kJson,
                    std::move(**patch), {.field_manager = kFieldManager});
  if (!patched.ok() && !kube::IsNotFound(patched.status())) {
    report.errors.push_back(absl::StrCat(where, ": ", patched.status().message()));
    return true;
  }
  if (!patched.ok()) {
    return false;  // deleted since the read
  }
  ++report.writes;
  ++report.actions["SetQuota"];
  return true;
}

ApplyReport PlanApplier::Apply(const Plan& plan, const Snapshot& snapshot,
                               const std::vector<Value>& owned_quotas) {
  ApplyReport report;
  std::map<std::string, const api::ComputeBudget*> budgets;
  for (const api::ComputeBudget& b : snapshot.budgets) {
    budgets[b.metadata.name] = &b;
  }
  std::map<std::string, const api::GPUNodePool*> pools;
  for (const api::GPUNodePool& p : snapshot.pools) {
    pools[p.metadata.name] = &p;
  }

  // Actuation first, so that status reports what was done.
  ApplyQuotas(plan, snapshot, owned_quotas, report);
  std::map<std::string, std::string> missing_queues;  // budget -> the ClusterQueue it names
  for (const ClusterQueueTarget& target : plan.cluster_queues) {
    if (!ApplyClusterQueue(target, report)) {
      missing_queues[target.budget] = target.cluster_queue;
    }
  }
  for (const JobChange& change : plan.jobs) {
    Value annotations =
        change.suspend ? Value::Object({{kHeldByAnnotation, Value::String(change.budget)},
                                        {kHeldRungAnnotation, Value::String(Name(change.rung))}})
                       : Value::Object({{kHeldByAnnotation, Value::Null()},
                                        {kHeldRungAnnotation, Value::Null()},
                                        {kHeldReasonAnnotation, Value::Null()}});
    const SuspendPath& kind = change.kind != nullptr ? *change.kind : BatchJobKind();
    Value patch = SuspendMergePatch(kind.path, change.suspend);
    patch.Set("metadata", Value::Object({{"annotations", std::move(annotations)}}));
    const kube::ResourceType type = kind.Type();
    std::string where =
        absl::StrCat(values::AbslView(kind.kind), "/", change.namespace_name, "/", change.name);
    absl::StatusOr<Value> patched =
        client_.Patch(type, change.namespace_name, change.name, kube::PatchType::kMerge, patch,
                      {.field_manager = kFieldManager});
    if (!patched.ok()) {
      if (!kube::IsNotFound(patched.status())) {
        report.errors.push_back(absl::StrCat(where, ": ", patched.status().message()));
      }
      continue;
    }
    ++report.writes;
    events_.Record(runtime::ObjectReference::Of(type, *patched),
                   change.suspend ? runtime::EventType::kWarning : runtime::EventType::kNormal,
                   change.suspend ? absl::StrCat("Bursar", Name(change.rung)) : "BursarRelease",
                   change.message);
  }
  std::map<std::string, ProviderHealth> resize_results;  // by pool: what each resize learnt
  for (const PoolChange& change : plan.pool_changes) {
    auto pool = pools.find(change.pool);
    if (pool == pools.end()) {
      continue;
    }
    std::string why;
    providers::NodePoolProvider* provider = providers_(*pool->second, &why);
    std::string where = absl::StrCat("GPUNodePool/", change.pool);
    if (provider == nullptr) {
      report.errors.push_back(absl::StrCat(where, ": ", why));
      resize_results[change.pool] = {.reason = "ProviderUnavailable", .message = why};
      continue;
    }
    absl::Status resized = provider->Resize(*pool->second, change.desired, change.remove);
    if (!resized.ok()) {
      report.errors.push_back(
          absl::StrCat(where, ": resize to ", change.desired, ": ", resized.message()));
      resize_results[change.pool] = {
          .reason = absl::IsNotFound(resized) ? "ProviderTargetNotFound" : "ProviderUnavailable",
          .message = absl::StrCat("resize from ", change.current, " to ", change.desired,
                                  " nodes failed: ", resized.message())};
      continue;
    }
    resize_results[change.pool] = {};
    ++report.writes;
    ++report.actions[change.desired > change.current ? "ScaleUp" : "ScaleDown"];
    auto budget = budgets.find(change.grown_for);
    if (budget != budgets.end()) {
      events_.Record(BudgetRef(*budget->second), runtime::EventType::kNormal, "ScaleUp",
                     absl::StrCat("GPUNodePool ", change.pool, ": ", change.current, " -> ",
                                  change.desired, " nodes (", change.reason, ")"));
    }
  }
  for (const NodeOwnership& owner : plan.node_owners) {
    Value patch = Value::Object(
        {{"metadata",
          Value::Object({{"annotations",
                          Value::Object({{kGrownForAnnotation, Value::String(owner.budget)}})}})}});
    absl::StatusOr<Value> patched =
        client_.Patch(kube::kNodes, "", owner.node, kube::PatchType::kMerge, patch,
                      {.field_manager = kFieldManager});
    if (!patched.ok() && !kube::IsNotFound(patched.status())) {
      report.errors.push_back(absl::StrCat("Node/", owner.node, ": ", patched.status().message()));
    } else if (patched.ok()) {
      ++report.writes;
    }
  }

  // Status and Events.
  for (const BudgetOutcome& outcome : plan.budgets) {
    auto budget = budgets.find(outcome.name);
    if (budget == budgets.end()) {
      continue;
    }
    auto missing = missing_queues.find(outcome.name);
    ConditionUpdate ready = BudgetReady(
        *budget->second, outcome.status.conditions,
        missing == missing_queues.end() ? std::string() : missing->second, snapshot.now);
    api::ComputeBudgetStatus status = outcome.status;
    status.conditions = std::move(ready.conditions);
    ApplyBudgetStatus(outcome, status, *budget->second, snapshot.now, report);
    if (ready.announce && missing != missing_queues.end()) {
      events_.Record(BudgetRef(*budget->second), runtime::EventType::kWarning, ready.ready.reason,
                     ready.ready.message);
    }
    for (const EventNote& note : outcome.events) {
      events_.Record(BudgetRef(*budget->second),
                     note.warning ? runtime::EventType::kWarning : runtime::EventType::kNormal,
                     note.reason, note.message);
    }
    for (const api::ActionRecord& action : outcome.new_actions) {
      ++report.actions[action.dry_run ? absl::StrCat("DryRun", action.action) : action.action];
    }
  }
  for (const PoolOutcome& outcome : plan.pools) {
    api::GPUNodePoolStatus status = outcome.status;
    auto pool = pools.find(outcome.name);
    if (pool != pools.end()) {
      ConditionUpdate ready =
          PoolReady(*pool->second, snapshot,
                    ProviderHealthOf(*pool->second, snapshot.now, resize_results), snapshot.now);
      status.conditions = ready.conditions;
      Announce(kube::kGPUNodePools, ready);
    }
    // A failure is in report.errors; the pool's Ready condition is its provider's and price's.
    (void)ApplyStatus(kube::kGPUNodePools, outcome.name, api::EncodeGPUNodePoolStatus(status),
                      report);
    for (const std::string& error : outcome.errors) {
      report.errors.push_back(absl::StrCat("GPUNodePool/", outcome.name, ": ", error));
    }
  }
  std::erase_if(providers_seen_, [&](const auto& seen) { return !pools.contains(seen.first); });
  std::erase_if(budget_writes_, [&](const auto& w) { return !budgets.contains(w.first); });
  std::erase_if(status_versions_, [&](const auto& v) { return !budgets.contains(v.first); });
  for (const api::PriceBook& book : snapshot.price_books) {
    ConditionUpdate ready = PriceBookReady(book, snapshot.now);
    if (!ready.changed && book.observed_generation == book.metadata.generation) {
      continue;  // nothing to say that the stored status does not say already
    }
    api::PriceBook with_status = book;
    with_status.conditions = ready.conditions;
    with_status.observed_generation = book.metadata.generation;
    (void)ApplyStatus(kube::kPriceBooks, book.metadata.name,
                      api::EncodePriceBookStatus(with_status), report);
    Announce(kube::kPriceBooks, ready);
  }
  ApplyRejected(snapshot, report);
  // Forget what was announced for objects that are gone or decode again (a budget's own Ready
  // is the planner's), so that breaking again is news again.
  std::set<std::string> voiced;
  for (const api::GPUNodePool& p : snapshot.pools) {
    voiced.insert(absl::StrCat("GPUNodePool/", p.metadata.name));
  }
  for (const api::PriceBook& b : snapshot.price_books) {
    voiced.insert(absl::StrCat("PriceBook/", b.metadata.name));
  }
  for (const RejectedObject& r : snapshot.rejected) {
    voiced.insert(absl::StrCat(r.kind, "/", r.name));
  }
  std::erase_if(announced_, [&](const auto& entry) { return !voiced.contains(entry.first); });
  return report;
}

// Providers wrap the API server's error and keep only its code (a missing CRD answers a plain
// "404 page not found", no metav1.Status), so a 404 is recognised by the code alone.
PlanApplier::PlanApplier(const kube::ApiClient& client, runtime::EventRecorder& events,
                         ProviderLookup providers, PlanApplierOptions options)
    : client_(client),
      events_(events),
      providers_(std::move(providers)),
      options_(options),
      probes_([this](const api::GPUNodePool& pool) { return Probe(pool); }) {}

// On the probes' thread.
ProviderHealth PlanApplier::Probe(const api::GPUNodePool& pool) const {
  std::string why;
  providers::NodePoolProvider* provider = providers_(pool, &why);
  if (provider == nullptr) {
    return {.reason = "ProviderUnavailable", .message = why};
  }
  absl::StatusOr<providers::PoolObservation> observed = provider->Observe(pool);
  if (observed.ok()) {
    return {};
  }
  return {.reason = absl::IsNotFound(observed.status()) ? "ProviderTargetNotFound"
                                                        : "ProviderUnavailable",
          .message = absl::StrCat("provider ", api::Name(pool.spec.provider.type), ": ",
                                  observed.status().message())};
}

std::optional<ProviderHealth> PlanApplier::ProviderHealthOf(
    const api::GPUNodePool& pool, absl::Time now,
    const std::map<std::string, ProviderHealth>& resized) {
  ProviderSeen& seen = providers_seen_[pool.metadata.name];
  auto result = resized.find(pool.metadata.name);
  if (result != resized.end()) {
    seen = {.generation = pool.metadata.generation, .asked = now, .health = result->second};
    return seen.health;
  }
  if (std::optional<ProviderHealth> answer =
          probes_.TakeAnswer(pool.metadata.name, seen.generation);
      answer.has_value()) {
    seen.health = *std::move(answer);
  }
  const bool failing = seen.health.has_value() && !seen.health->reason.empty();
  const bool due = seen.generation != pool.metadata.generation ||
                   (failing && now - seen.asked >= kProviderRecheck);
  if (due) {
    seen.generation = pool.metadata.generation;
    seen.asked = now;
    probes_.Ask(pool);  // answered on a later pass; until then the last answer stands
  }
  return seen.health;
}

void PlanApplier::ApplyRejected(const Snapshot& snapshot, ApplyReport& report) {
  for (const RejectedObject& object : snapshot.rejected) {
    const kube::ResourceType* type = object.kind == "ComputeBudget" ? &kube::kComputeBudgets
                                     : object.kind == "GPUNodePool" ? &kube::kGPUNodePools
                                     : object.kind == "PriceBook"   ? &kube::kPriceBooks
                                                                    : nullptr;
    if (type == nullptr) {
      continue;
    }
    ConditionUpdate ready = RejectedReady(object, snapshot.now);
    std::string key = absl::StrCat(std::string(type->plural), "/", object.name);
    Value conditions = api::EncodeConditions(ready.conditions);
    std::string text = conditions.ToJson();
    auto written = written_.find(key);
    if (!ready.changed || (written != written_.end() && written->second == text)) {
      continue;
    }
    Value patch =
        Value::Object({{"status", Value::Object({{"conditions", std::move(conditions)}})}});
    absl::StatusOr<Value> patched = client_.PatchStatus(
        *type, "", object.name, kube::PatchType::kMerge, patch, {.field_manager = kFieldManager});
    if (!patched.ok()) {
      if (!kube::IsNotFound(patched.status())) {
        report.errors.push_back(
            absl::StrCat(object.kind, "/", object.name, ": status: ", patched.status().message()));
      }
      continue;
    }
    ++report.writes;
    written_[key] = std::move(text);
    Announce(*type, ready);
  }
}

void PlanApplier::Announce(const kube::ResourceType& type, const ConditionUpdate& update) {
  std::string key = absl::StrCat(update.kind, "/", update.name);
  if (!update.announce) {
    if (update.ready.status == "True") {
      announced_.erase(key);  // a later failure is news again
    }
    return;
  }
  std::string said = absl::StrCat(update.ready.reason, ": ", update.ready.message);
  auto it = announced_.find(key);
  if (it != announced_.end() && it->second == said) {
    return;
  }
  announced_[key] = said;
  events_.Record({.api_version = std::string(type.ApiVersion()),
                  .kind = update.kind,
                  .namespace_name = "",
                  .name = update.name,
                  .uid = update.uid},
                 runtime::EventType::kWarning, update.ready.reason, update.ready.message);
}

}  // namespace bursar::reconcilers
