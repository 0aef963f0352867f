#include "controllers/reconcilers/budget_loop.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/gather.h"

namespace bursar::reconcilers {

struct BudgetLoop::Metrics {
  runtime::GaugeFamily* limit = nullptr;
  runtime::GaugeFamily* spent = nullptr;
  runtime::GaugeFamily* remaining = nullptr;
  runtime::GaugeFamily* burn_rate = nullptr;
  runtime::GaugeFamily* forecast = nullptr;
  runtime::GaugeFamily* exhausts_at = nullptr;
  runtime::GaugeFamily* gpu_hours = nullptr;
  runtime::GaugeFamily* allowed_gpus = nullptr;
  runtime::GaugeFamily* running_gpus = nullptr;
  runtime::GaugeFamily* utilization = nullptr;
  runtime::GaugeFamily* phase = nullptr;
  runtime::CounterFamily* actions = nullptr;
  runtime::GaugeFamily* pool_nodes = nullptr;
  runtime::HistogramFamily* reconcile = nullptr;
  runtime::CounterFamily* errors = nullptr;
  runtime::CounterFamily* status_write_failures = nullptr;
  runtime::CounterFamily* status_write_conflicts = nullptr;
  runtime::GaugeFamily* leader = nullptr;
  runtime::GaugeFamily* last_pass = nullptr;
};

namespace {

// `pod`'s containers with what metrics.k8s.io reports they use, matched by container name.
engine::Containers WithUsage(const PodView& pod, const signals::PodUsage& usage) {
  engine::Containers out;
  for (const engine::ContainerRequests& c : pod.containers) {
    out.push_back(c.Resources());
  }
  for (size_t i = 0; i < out.size() && i < pod.container_names.size(); ++i) {
    for (const signals::ContainerUsage& c : usage.containers) {
      if (c.name == pod.container_names[i].view()) {
        out[i].cpu_usage = c.cpu;
        out[i].memory_usage = c.memory;
      }
    }
  }
  return out;
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> made, T* out) {
  if (!made.ok()) {
    return made.status();
  }
  *out = *made;
  return absl::OkStatus();
}

constexpr api::BudgetPhase kPhases[] = {api::BudgetPhase::kWithinBudget, api::BudgetPhase::kAtRisk,
                                        api::BudgetPhase::kThrottled, api::BudgetPhase::kHeld,
                                        api::BudgetPhase::kExhausted};

}  // namespace

absl::Duration StallTimeout(absl::Duration tick) {
  return std::max(kStallTicks * tick, kMinStallTimeout);
}

absl::StatusOr<std::unique_ptr<BudgetLoop>> BudgetLoop::Create(
    BudgetLoopCaches caches, PlanApplier* applier, std::function<bool()> is_leader,
    signals::DriftInbox* drift, signals::BudgetBoard* board, UsageSources usage,
    runtime::Registry* registry, runtime::Logger* log, const runtime::Clock& clock,
    BudgetLoopOptions options) {
  auto m = std::make_unique<Metrics>();
  const std::vector<std::string> budget{"budget"};
  absl::Status s = absl::OkStatus();
  auto gauge = [&](const char* name, const char* help, std::vector<std::string> labels,
                   runtime::GaugeFamily** out) {
    if (s.ok()) {
      s = Assign(registry->AddGauge(name, help, std::move(labels)), out);
    }
  };
  gauge("bursar_budget_limit",
        "The budget's limit for the current period (unit: currency or GPU-h).", {"budget", "unit"},
        &m->limit);
  gauge("bursar_budget_spent", "Money spent in the current period.", {"budget", "currency"},
        &m->spent);
  gauge("bursar_budget_remaining", "Money left in the current period (limit minus spent).",
        {"budget", "currency"}, &m->remaining);
  gauge("bursar_budget_burn_rate",
        "Current spend per hour, idle capacity the budget grew included.", {"budget", "currency"},
        &m->burn_rate);
  gauge("bursar_budget_forecast", "Spend forecast at the end of the period at the current burn.",
        {"budget", "currency"}, &m->forecast);
  gauge("bursar_budget_exhausts_at_timestamp",
        "Unix time at which the limit is forecast to be reached; 0 when not in this period.",
        budget, &m->exhausts_at);
  gauge("bursar_budget_gpu_hours", "GPU-hours used in the current period.", budget, &m->gpu_hours);
  gauge("bursar_budget_allowed_gpus", "GPUs the budget's work may hold now (the quota allowance).",
        budget, &m->allowed_gpus);
  gauge("bursar_budget_running_gpus", "GPUs held by the budget's running pods.", budget,
        &m->running_gpus);
  gauge("bursar_budget_gpu_utilization_percent",
        "GPU-weighted mean DCGM utilisation of the budget's running pods (needs Prometheus).",
        budget, &m->utilization);
  gauge("bursar_budget_phase", "1 for the budget's current phase, 0 for the others.",
        {"budget", "phase"}, &m->phase);
  gauge("bursar_pool_nodes", "Nodes of a GPUNodePool by state (current, desired, ready, idle).",
        {"pool", "state"}, &m->pool_nodes);
  gauge("bursar_leader", "1 while this replica is the leader and actuates.", {}, &m->leader);
  gauge("bursar_last_pass_timestamp_seconds",
        "Unix time at which the last metering and enforcement pass completed (leader or "
        "follower); 0 before the first.",
        {}, &m->last_pass);
  if (s.ok()) {
    s = Assign(registry->AddCounter("bursar_actions_total",
                                    "Enforcement actions decided, by action (DryRun* when only "
                                    "recorded), and writes such as SetQuota or ScaleUp.",
                                    {"action"}),
               &m->actions);
  }
  if (s.ok()) {
    s = Assign(registry->AddCounter("bursar_reconcile_errors_total",
                                    "Writes of a reconcile pass that failed, by kind of object.",
                                    {"kind"}),
               &m->errors);
  }
  if (s.ok()) {
    s = Assign(registry->AddCounter("bursar_status_write_failures_total",
                                    "ComputeBudget status writes that failed, by budget: its "
                                    "status (spent, phase, ledger) is stale until one succeeds.",
                                    budget),
               &m->status_write_failures);
  }
  if (s.ok()) {
    s = Assign(registry->AddCounter("bursar_status_write_conflicts_total",
                                    "ComputeBudget status writes refused because the stored "
                                    "status had moved on since this process last wrote it "
                                    "(another replica wrote, or the spec was edited): written "
                                    "again at the next pass.",
                                    {}),
               &m->status_write_conflicts);
  }
  if (s.ok()) {
    s = Assign(registry->AddHistogram("bursar_reconcile_duration_seconds",
                                      "Duration of one metering and enforcement pass.", {"role"},
                                      {0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}),
               &m->reconcile);
  }
  if (!s.ok()) {
    return s;
  }
  return std::unique_ptr<BudgetLoop>(new BudgetLoop(caches, applier, std::move(is_leader), drift,
                                                    board, std::move(usage), std::move(m), log,
                                                    clock, options));
}

BudgetLoop::BudgetLoop(BudgetLoopCaches caches, PlanApplier* applier,
                       std::function<bool()> is_leader, signals::DriftInbox* drift,
                       signals::BudgetBoard* board, UsageSources usage,
                       std::unique_ptr<Metrics> metrics, runtime::Logger* log,
                       const runtime::Clock& clock, BudgetLoopOptions options)
    : caches_(caches),
      applier_(applier),
      is_leader_(std::move(is_leader)),
      drift_(drift),
      board_(board),
      usage_(std::move(usage)),
      metrics_(std::move(metrics)),
      log_(log),
      clock_(clock),
      options_(options),
      planner_(std::make_unique<BudgetPlanner>(PlannerOptions{.lookahead = options.lookahead})) {
  runtime::ControllerOptions co;
  co.name = kBudgetLoopKey;
  co.workers = 1;  // one pass at a time; the queue never hands the key out twice anyway
  // A pass reports its failed writes itself and retries them next pass; only a throwing pass
  // reaches the controller, and it is retried at the next tick, as any pass.
  co.error_policy = [tick = options.tick](std::string_view, const absl::Status&) {
    return runtime::RetryDecision::After(tick);
  };
  co.log_error = [log](std::string_view, const absl::Status& error) {
    log->Error("pass failed; retried at the next tick", {{"error", std::string(error.message())}});
  };
  controller_ = std::make_unique<runtime::Controller>(
      clock, [this](const std::string& key) { return Reconcile(key); }, std::move(co));
  for (const runtime::SyncedCache* cache : std::initializer_list<const runtime::SyncedCache*>{
           caches.pods, caches.nodes, caches.jobs, caches.namespaces, caches.budgets, caches.pools,
           caches.price_books, caches.owned_quotas}) {
    if (cache != nullptr) {
      controller_->WaitForCache(*cache);
    }
  }
  for (const auto& [kind, store] : caches.workloads) {
    controller_->WaitForCache(*store);
  }
}

BudgetLoop::~BudgetLoop() = default;

Snapshot BudgetLoop::Gather(absl::Time now) {
  Snapshot snap;
  snap.now = now;
  api::DecodeOptions decode{.source = "apiserver", .reject_unknown_fields = false};
  auto decode_all = [&](const runtime::ObjectStore* store, auto decoder, auto& out,
                        const char* kind) {
    if (store == nullptr) {
      return;
    }
    for (const auto& object : store->List()) {
      auto decoded = decoder(*object, decode);
      if (!decoded.ok()) {
        // Its status says why (Ready=False and one Warning Event), not a log line every pass.
        log_->Debug("cannot decode object; skipped",
                    {{"kind", kind},
                     {"name", std::string(runtime::ObjectKeyOf(*object))},
                     {"error", std::string(decoded.status().message())}});
        snap.rejected.push_back(
            RejectedObjectOf(kind, *object, std::string(decoded.status().message())));
        continue;
      }
      out.push_back(*std::move(decoded));
    }
  };
  decode_all(caches_.budgets, api::DecodeComputeBudget, snap.budgets, "ComputeBudget");
  decode_all(caches_.pools, api::DecodeGPUNodePool, snap.pools, "GPUNodePool");
  decode_all(caches_.price_books, api::DecodePriceBook, snap.price_books, "PriceBook");
  std::sort(snap.rejected.begin(), snap.rejected.end(),
            [](const RejectedObject& a, const RejectedObject& b) {
              return std::tie(a.kind, a.name) < std::tie(b.kind, b.name);
            });

  // By (namespace, name), viewing the usage's strings: a pod is looked up without building a key.
  absl::flat_hash_map<std::pair<std::string_view, std::string_view>, const signals::PodUsage*>
      usage_by_pod;
  std::vector<signals::PodUsage> usage;
  if (usage_.pod_usage) {
    absl::StatusOr<std::vector<signals::PodUsage>> got = usage_.pod_usage();
    if (got.ok()) {
      usage = *std::move(got);
      for (const signals::PodUsage& u : usage) {
        usage_by_pod[{u.namespace_name, u.name}] = &u;
      }
    } else {
      log_->Warn("metrics.k8s.io unavailable; charging requests only",
                 {{"error", std::string(got.status().message())}});
    }
  }
  if (caches_.pods != nullptr) {
    std::vector<PodList::Ptr> pods = caches_.pods->List();
    snap.pods.reserve(pods.size());
    for (PodList::Ptr& pod : pods) {
      if (!usage_by_pod.empty()) {
        auto u = usage_by_pod.find(
            std::pair<std::string_view, std::string_view>(pod->namespace_name, pod->name));
        if (u != usage_by_pod.end()) {
          snap.pod_usage.emplace(pod->uid, WithUsage(*pod, *u->second));
        }
      }
      snap.pods.push_back(std::move(pod));
    }
  }
  if (caches_.nodes != nullptr) {
    for (const auto& node : caches_.nodes->List()) {
      snap.nodes.push_back(*node);
    }
  }
  if (caches_.jobs != nullptr) {
    for (const auto& job : caches_.jobs->List()) {
      snap.jobs.push_back(*job);
    }
  }
  for (const auto& [kind, store] : caches_.workloads) {
    for (const auto& workload : store->List()) {
      snap.jobs.push_back(*workload);
    }
  }
  if (caches_.namespaces != nullptr) {
    for (const auto& ns : caches_.namespaces->List()) {
      const json::Value* name = ns->FindPath("metadata.name");
      if (name != nullptr && name->is_string()) {
        snap.namespaces[name->string_value()] = LabelsAt(*ns, "metadata.labels");
      }
    }
  }
  // Deterministic order (stores are hash maps).
  snap.pods.SortByUid();
  std::sort(snap.nodes.begin(), snap.nodes.end(),
            [](const NodeView& a, const NodeView& b) { return a.info.name < b.info.name; });
  std::sort(snap.jobs.begin(), snap.jobs.end(), [](const JobView& a, const JobView& b) {
    auto key = [](const JobView& j) {  // views, not copies: this runs every pass
      return std::tuple<std::string_view, std::string_view, std::string_view>(
          j.namespace_name, j.name, j.kind == nullptr ? "" : j.kind->kind);
    };
    return key(a) < key(b);
  });
  // Budgets' own modelDrift queries: one signal per sample with a `model` label and a score.
  for (const api::ComputeBudget& b : snap.budgets) {
    const std::string& query = b.spec.retraining.drift_query;
    if (query.empty()) {
      continue;
    }
    if (!usage_.prometheus_query) {
      log_->Warn("spec.retraining.driftQuery needs --prometheus-url; ignored",
                 {{"budget", b.metadata.name}});
      continue;
    }
    absl::StatusOr<std::vector<signals::PromSample>> samples = usage_.prometheus_query(query, now);
    if (!samples.ok()) {
      log_->Warn("spec.retraining.driftQuery failed",
                 {{"budget", b.metadata.name}, {"error", std::string(samples.status().message())}});
      continue;
    }
    for (const signals::PromSample& sample : *samples) {
      auto model = sample.labels.find("model");
      if (model == sample.labels.end() || !(sample.value >= 0 && sample.value <= 1)) {
        continue;
      }
      snap.budget_drift[b.metadata.name].push_back(
          {.model = model->second,
           .score_micros = static_cast<int64_t>(sample.value * 1e6 + 0.5),
           .metric = "driftQuery",
           .time = now,
           .source = "prometheus"});
    }
  }
  if (usage_.gpu_utilization) {
    absl::StatusOr<absl::flat_hash_map<std::string, double>> util = usage_.gpu_utilization(now);
    if (util.ok()) {
      snap.gpu_utilization = *std::move(util);
    } else {
      log_->Warn("Prometheus query for GPU utilisation failed",
                 {{"error", std::string(util.status().message())}});
    }
  }
  return snap;
}

Plan BudgetLoop::RunOnce() {
  absl::Time started = clock_.MonotonicNow();
  bool leader = is_leader_ ? is_leader_() : true;
  metrics_->leader->WithLabels({}).Set(leader ? 1 : 0);
  Snapshot snap = Gather(clock_.Now());
  if (!leader) {
    was_leader_ = false;
    // Followers serve what the leader wrote: publish the cached budgets as they are.
    Publish(nullptr, snap);
    metrics_->reconcile->WithLabels({"follower"})
        .Observe(absl::ToDoubleSeconds(clock_.MonotonicNow() - started));
    MarkCompleted();
    return {};
  }
  if (!was_leader_) {
    planner_ = std::make_unique<BudgetPlanner>(PlannerOptions{.lookahead = options_.lookahead});
    if (applier_ != nullptr) {
      applier_->Reset();
    }
    was_leader_ = true;
    log_->Info("leading: metering and enforcement start", {{"budgets", snap.budgets.size()}});
  }
  if (drift_ != nullptr) {
    snap.drift = drift_->Drain();
  }
  Plan plan = planner_->Reconcile(snap);
  {
    absl::MutexLock lock(&mu_);
    last_compute_ = clock_.MonotonicNow() - started;
  }
  if (plan.uncharged_starts) {
    Trigger();  // the next pass at min_interval charges them (Plan::uncharged_starts)
  }
  ApplyReport report;
  if (applier_ != nullptr) {
    std::vector<json::Value> owned;
    if (caches_.owned_quotas != nullptr) {
      for (const auto& q : caches_.owned_quotas->List()) {
        owned.push_back(*q);
      }
    }
    report = applier_->Apply(plan, snap, owned);
    for (const std::string& error : report.errors) {
      log_->Warn("write failed; retried next pass", {{"error", error}});
      metrics_->errors->WithLabels({error.substr(0, error.find('/'))}).Increment();
    }
    if (report.conflicts > 0) {
      log_->Info("status writes refused: the stored status moved on; written again next pass",
                 {{"budgets", absl::StrCat(report.conflicts)}});
      metrics_->status_write_conflicts->WithLabels({}).Increment(report.conflicts);
    }
    for (const auto& [budget, what] : report.status_failures) {
      metrics_->status_write_failures->WithLabels({budget}).Increment();
    }
    planner_->NoteStatusWriteFailures(report.status_failures, snap.now);
  }
  for (const BudgetOutcome& b : plan.budgets) {
    for (const api::ActionRecord& a : b.new_actions) {
      log_->Info("action", {{"budget", b.name},
                            {"action", a.action},
                            {"reason", a.reason},
                            {"target", a.target},
                            {"dryRun", a.dry_run},
                            {"message", a.message}});
    }
  }
  Export(plan, snap, &report);
  Publish(&plan, snap);
  double seconds = absl::ToDoubleSeconds(clock_.MonotonicNow() - started);
  metrics_->reconcile->WithLabels({"leader"}).Observe(seconds);
  MarkCompleted();
  log_->Debug("pass done", {{"seconds", seconds},
                            {"budgets", plan.budgets.size()},
                            {"pods", snap.pods.size()},
                            {"writes", report.writes}});
  return plan;
}

void BudgetLoop::Export(const Plan& plan, const Snapshot& snap, const ApplyReport* report) {
  std::vector<std::string> names;
  for (const BudgetOutcome& b : plan.budgets) {
    auto spec =
        std::find_if(snap.budgets.begin(), snap.budgets.end(),
                     [&](const api::ComputeBudget& c) { return c.metadata.name == b.name; });
    if (spec == snap.budgets.end()) {
      continue;
    }
    names.push_back(b.name);
    const std::string& currency = spec->spec.limit.currency;
    const api::ComputeBudgetStatus& s = b.status;
    if (spec->spec.limit.amount.has_value()) {
      metrics_->limit->WithLabels({b.name, currency}).Set(spec->spec.limit.amount->ToDouble());
      metrics_->remaining->WithLabels({b.name, currency}).Set(s.remaining.ToDouble());
    }
    if (spec->spec.limit.gpu_hours.has_value()) {
      metrics_->limit->WithLabels({b.name, "GPU-h"}).Set(spec->spec.limit.gpu_hours->ToDouble());
    }
    metrics_->spent->WithLabels({b.name, currency}).Set(s.spent.ToDouble());
    metrics_->burn_rate->WithLabels({b.name, currency}).Set(s.burn_rate.ToDouble());
    metrics_->forecast->WithLabels({b.name, currency}).Set(s.forecast.ToDouble());
    metrics_->exhausts_at->WithLabels({b.name}).Set(
        s.exhausts_at.has_value() ? absl::ToDoubleSeconds(*s.exhausts_at - absl::UnixEpoch()) : 0);
    metrics_->gpu_hours->WithLabels({b.name}).Set(s.gpu_hours.ToDouble());
    metrics_->allowed_gpus->WithLabels({b.name}).Set(static_cast<double>(s.allowed_gpus));
    metrics_->running_gpus->WithLabels({b.name}).Set(static_cast<double>(b.running_gpus));
    if (b.gpu_utilization >= 0) {
      metrics_->utilization->WithLabels({b.name}).Set(b.gpu_utilization);
    } else {
      metrics_->utilization->Remove({b.name});  // unknown is absent, not a stale or a zero value
    }
    for (api::BudgetPhase phase : kPhases) {
      metrics_->phase->WithLabels({b.name, api::Name(phase)}).Set(phase == s.phase ? 1 : 0);
    }
  }
  for (const std::string& gone : exported_) {
    if (std::find(names.begin(), names.end(), gone) == names.end()) {
      for (runtime::GaugeFamily* family :
           {metrics_->exhausts_at, metrics_->gpu_hours, metrics_->allowed_gpus,
            metrics_->running_gpus, metrics_->utilization}) {
        family->Remove({gone});
      }
      for (api::BudgetPhase phase : kPhases) {
        metrics_->phase->Remove({gone, api::Name(phase)});
      }
    }
  }
  exported_ = std::move(names);
  for (const PoolOutcome& p : plan.pools) {
    metrics_->pool_nodes->WithLabels({p.name, "current"}).Set(p.status.current_nodes);
    metrics_->pool_nodes->WithLabels({p.name, "desired"}).Set(p.status.desired_nodes);
    metrics_->pool_nodes->WithLabels({p.name, "ready"}).Set(p.status.ready_nodes);
    metrics_->pool_nodes->WithLabels({p.name, "idle"}).Set(p.status.idle_nodes);
  }
  if (report != nullptr) {
    for (const auto& [action, count] : report->actions) {
      metrics_->actions->WithLabels({action}).Increment(count);
    }
  }
}

void BudgetLoop::Publish(const Plan* plan, const Snapshot& snap) {
  if (board_ == nullptr) {
    return;
  }
  std::vector<std::string> names;
  for (const api::ComputeBudget& b : snap.budgets) {
    api::ComputeBudget copy = b;
    if (plan != nullptr) {
      for (const BudgetOutcome& o : plan->budgets) {
        if (o.name == b.metadata.name) {
          copy.status = o.status;
        }
      }
    }
    board_->Put(copy);
    names.push_back(b.metadata.name);
  }
  for (const std::string& gone : published_) {
    if (std::find(names.begin(), names.end(), gone) == names.end()) {
      board_->Delete(gone);
    }
  }
  published_ = std::move(names);
}

void BudgetLoop::MarkCompleted() {
  metrics_->last_pass->WithLabels({}).Set(absl::ToDoubleSeconds(clock_.Now() - absl::UnixEpoch()));
  absl::MutexLock lock(&mu_);
  last_completed_ = clock_.MonotonicNow();
}

std::string BudgetLoop::LivenessProblem() const {
  const absl::Duration limit = options_.stall_timeout > absl::ZeroDuration()
                                   ? options_.stall_timeout
                                   : StallTimeout(options_.tick);
  absl::Time since;
  {
    absl::MutexLock lock(&mu_);
    since = std::max(synced_at_, last_completed_);
  }
  if (since == absl::InfinitePast()) {
    return "";  // the caches have not synced yet: /readyz says so
  }
  const absl::Duration idle = clock_.MonotonicNow() - since;
  if (idle < limit) {
    return "";
  }
  return absl::StrCat("no reconcile pass completed for ",
                      absl::FormatDuration(absl::Trunc(idle, absl::Seconds(1))), " (tick ",
                      absl::FormatDuration(options_.tick), ")");
}

absl::Time BudgetLoop::TriggeredDue() const {
  return last_start_ + std::max(options_.min_interval, 2 * last_compute_);
}

void BudgetLoop::Trigger() {
  const absl::Time now = clock_.MonotonicNow();
  absl::Duration wait;
  {
    absl::MutexLock lock(&mu_);
    triggered_ = true;
    wait = TriggeredDue() - now;  // <= 0: at once
  }
  controller_->EnqueueAfter(kBudgetLoopKey, wait);
}

void BudgetLoop::WatchForChanges(PodViewStore& pods, runtime::ObjectStore& budgets,
                                 runtime::ObjectStore& pools, runtime::ObjectStore& price_books,
                                 JobStore& jobs) {
  pods.OnChange([this](const PodViewStore::Change& change) {
    const PodView* before = change.old_value.get();
    const PodView* after = change.new_value.get();
    if (before == nullptr || after == nullptr || before->state != after->state ||
        before->start != after->start || before->node_name != after->node_name) {
      Trigger();
    }
  });
  auto any = [this](const runtime::ObjectStore::Change& change) {
    // Our own status writes come back as changes too: react to spec (generation) changes only.
    auto generation = [](const json::Value* v) -> int64_t {
      const json::Value* g = v != nullptr ? v->FindPath("metadata.generation") : nullptr;
      return g != nullptr && g->is_integer() ? g->int_value() : -1;
    };
    if (generation(change.old_value.get()) != generation(change.new_value.get())) {
      Trigger();
    }
  };
  budgets.OnChange(any);
  pools.OnChange(any);
  price_books.OnChange(any);
  jobs.OnChange([this](const JobStore::Change& change) {
    if (change.old_value == nullptr || change.new_value == nullptr) {
      Trigger();
    }
  });
}

absl::StatusOr<runtime::ReconcileResult> BudgetLoop::Reconcile(const std::string& /*key*/) {
  const absl::Time started = clock_.MonotonicNow();
  absl::Time next_tick;
  {
    absl::MutexLock lock(&mu_);
    // Due at the tick, or soon after the last pass when a change asked for one. Too early
    // means a requeue that a later pass overtook (the queue keeps the earliest one).
    const absl::Time due = triggered_ ? TriggeredDue() : next_tick_;
    if (started < due) {
      return runtime::ReconcileResult::RequeueAfter(due - started);
    }
    triggered_ = false;  // before the pass reads the caches: a change during it asks again
    last_start_ = started;
    next_tick_ = started + options_.tick;
    next_tick = next_tick_;
  }
  if (!caches_synced_logged_) {
    {
      absl::MutexLock lock(&mu_);
      synced_at_ = started;  // the controller calls once every cache has synced
    }
    log_->Info("caches synced",
               {{"pods", caches_.pods != nullptr ? caches_.pods->size() : 0},
                {"budgets", caches_.budgets != nullptr ? caches_.budgets->size() : 0}});
    caches_synced_logged_ = true;
  }
  RunOnce();
  return runtime::ReconcileResult::RequeueAfter(next_tick - clock_.MonotonicNow());
}

void BudgetLoop::Run(runtime::Wakeup* stop) {
  controller_->Enqueue(kBudgetLoopKey);  // the first pass, once the caches have synced
  controller_->Run(stop);
}

}  // namespace bursar::reconcilers
