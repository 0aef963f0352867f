#include "controllers/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/pool_sizing.h"
#include "controllers/values/ledger.h"
#include "controllers/values/strings.h"

namespace bursar::sim {
namespace {

using api::LadderAction;
using values::Money;

constexpr int kNoBudget = -1;

// Where field `dotted` of a manifest object was written: "<file>:<line>: <dotted>" from the
// manifests' origins (the line of the field, else of the nearest enclosing field written, as for
// a defaulted one), else "<kind>/<name>: <dotted>" for objects built in code.
std::string Where(const api::Manifests& m, const std::string& kind, const std::string& name,
                  std::string_view dotted) {
  auto origin = m.origins.find({kind, name});
  if (origin != m.origins.end()) {
    const json::Value* at = nullptr;
    for (std::string_view path = dotted; at == nullptr && !path.empty();) {
      at = origin->second.document.FindPath(path);
      size_t dot = path.rfind('.');
      path = dot == std::string_view::npos ? std::string_view() : path.substr(0, dot);
    }
    if (at != nullptr && at->line() > 0) {
      return absl::StrCat(origin->second.file, ":", at->line(), ": ", values::AbslView(dotted));
    }
  }
  std::string lower = kind;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return absl::StrCat(lower, "/", name, ": ", values::AbslView(dotted));
}

enum class JobState { kFuture, kPending, kRunning, kSuspended, kCompleted };

struct Job {
  const TraceJob* trace = nullptr;
  int budget = kNoBudget;
  JobState state = JobState::kFuture;
  int pool = -1;
  int64_t remaining_s = 0;  // work left
  int64_t run_since_s = 0;  // start of the current pod segment
  int segment = 0;          // pods are new on every resume: uid = id/segment
  bool retrain = false;     // purpose retrain with a model
  bool on_reserve = false;  // this run draws on the retraining reserve
  bool ever_suspended = false;
  bool ever_held = false;
  std::optional<int64_t> first_start_s;
  Money rate;
  std::string uid;
};

struct Pool {
  const api::GPUNodePool* spec = nullptr;
  int ready_nodes = 0;
  std::vector<int64_t> provisioning_ready_at;  // launch queue
  int64_t used_gpus = 0;
  absl::Time low_since = absl::InfiniteFuture();
  // Nodes by the budget whose demand launched them (kNoBudget: minNodes and unbudgeted work).
  // A budget pays for the idle part of the nodes it asked for (docs/concepts.md, "Cost model").
  std::map<int, int> owned_nodes;
  std::map<int, int64_t> used_by;  // GPUs in use, by budget
  Money gpu_rate;                  // cost of a 1-GPU pod on this pool
  Money node_rate;                 // cost of one node per hour
  engine::UnitPrices prices;
  int peak_nodes = 0;
  double node_hours = 0;

  int gpus_per_node() const { return spec->spec.gpus_per_node; }
  int total_nodes() const { return ready_nodes + static_cast<int>(provisioning_ready_at.size()); }
  int64_t free_gpus() const { return int64_t{ready_nodes} * gpus_per_node() - used_gpus; }
  int64_t capacity_gpus() const { return int64_t{spec->spec.max_nodes} * gpus_per_node(); }
};

struct Charge {
  std::string uid;
  absl::Time from;
  absl::Time to;
  Money rate;
  int64_t gpus = 0;
  bool ended = false;
  bool reserve = false;
};

struct Budget {
  const api::ComputeBudget* spec = nullptr;
  std::optional<values::PeriodCalendar> calendar;
  std::optional<values::BudgetLedger> ledger;          // everything charged
  std::optional<values::BudgetLedger> reserve_ledger;  // the part on the retraining reserve
  engine::RetrainingGate gate;
  std::vector<int> pools;
  Money gpu_hour_price;
  std::vector<Charge> step_charges;
  std::vector<std::string> step_ended;
  std::set<std::tuple<int, int64_t, size_t>> pending;  // (-priority, submit, job index)
  std::vector<Money> pool_gpu_hour_prices;             // of its pools, for engine::GpuHourPrice
  Money default_gpu_hour;                              // its price book's, when it has one
  engine::BudgetDecision decision;
  std::unique_ptr<EnforcementPolicy> enforcement;
  BudgetResult result;
  int64_t wait_sum_s = 0;
  int64_t started_jobs = 0;
  LadderAction last_rung = LadderAction::kNone;
  bool gpu_hours_only = false;
};

double MoneyValue(Money m) {
  return m.ToDouble();
}

class Simulation {
 public:
  Simulation(const Scenario& scenario, const SimOptions& options)
      : scenario_(scenario), options_(options) {}

  absl::StatusOr<SimReport> Run();

 private:
  absl::Status Setup();
  absl::Time At(int64_t s) const { return scenario_.start + absl::Seconds(s); }
  const api::PriceBook* FindPriceBook(const std::string& name) const;
  int BudgetFor(const TraceJob& job) const;

  void Advance(int64_t from_s, int64_t to_s);
  void ChargeIdle(int64_t from_s, int64_t to_s);
  void Meter(int64_t now_s);
  void RollPeriod(Budget& b, int64_t now_s);
  void DeliverDrift(int64_t now_s);
  void Arrive(int64_t now_s);
  void Decide(int64_t now_s);
  void Admit(int64_t now_s);
  void SizePools(int64_t now_s);
  void Sample(int64_t now_s);
  // Launched nodes whose provisioning delay has passed become usable (before admission).
  void BringUpNodes(int64_t now_s);

  void Start(size_t index, int pool, int64_t now_s, bool on_reserve);
  void Suspend(size_t index, int64_t now_s);
  void Release(Job& job);
  void TransferHeldNodes(Pool& pool);
  // Idle GPUs of `pool` by the budget that pays for them (kNoBudget: nobody's).
  std::vector<std::pair<int, int64_t>> IdleByOwner(const Pool& pool) const;
  void Finish(size_t index, int64_t end_s);
  void EndSegment(Job& job, int64_t end_s, bool ended);
  Money JobRate(const Pool& pool, int64_t gpus) const;
  std::optional<int64_t> QuotaFor(const Budget& b) const;
  bool HoldsNewWork(const Budget& b) const;
  bool MayUseReserve(const Budget& b, const Job& job) const;
  int64_t RunningGpus(int budget, bool reserve) const;
  Money RunningRate(int budget, bool reserve) const;
  std::pair<Money, int64_t> IdleOf(int budget) const;
  engine::BudgetStep StepOf(const Budget& b, int budget, int64_t now_s) const;
  DecisionTrace TraceOf(const Budget& b, int budget, const engine::BudgetStep& step) const;
  void DrainTo(int budget, int64_t keep_gpus, bool reserve, int64_t now_s);

  const Scenario& scenario_;
  const SimOptions& options_;
  std::vector<Job> jobs_;
  std::vector<Budget> budgets_;
  std::vector<Pool> pools_;
  std::vector<int> unbudgeted_pools_;
  std::set<std::tuple<int, int64_t, size_t>> unbudgeted_pending_;
  std::vector<size_t> running_;  // indices of running jobs
  size_t next_arrival_ = 0;
  size_t next_drift_ = 0;
  std::vector<size_t> arrival_order_;
  Money unbudgeted_spent_;
  int64_t unschedulable_ = 0;
  int64_t step_s_ = 60;
  int64_t end_s_ = 0;
  int64_t chart_every_s_ = 60;
  int64_t next_chart_s_ = 0;
};

const api::PriceBook* Simulation::FindPriceBook(const std::string& name) const {
  for (const api::PriceBook& pb : scenario_.manifests.price_books) {
    if (pb.metadata.name == name) {
      return &pb;
    }
  }
  return nullptr;
}

Money Simulation::JobRate(const Pool& pool, int64_t gpus) const {
  engine::ContainerResources c;
  int64_t share = std::max<int64_t>(gpus, 1);
  c.cpu_request = values::Quantity::FromMilli(scenario_.cluster.cpu_millis_per_gpu * share);
  c.memory_request = values::Quantity::FromUnits(scenario_.cluster.memory_bytes_per_gpu * share);
  c.gpus = gpus;
  return engine::PodRatePerHour({c}, pool.prices);
}

absl::Status Simulation::Setup() {
  step_s_ = std::max<int64_t>(1, absl::ToInt64Seconds(scenario_.step));
  end_s_ = absl::ToInt64Seconds(scenario_.duration);
  chart_every_s_ = std::max(step_s_, end_s_ / static_cast<int64_t>(kMaxChartPoints));
  const api::Manifests& m = scenario_.manifests;

  for (const api::GPUNodePool& p : m.pools) {
    Pool pool;
    pool.spec = &p;
    pool.ready_nodes = p.spec.min_nodes;
    pool.owned_nodes[kNoBudget] = p.spec.min_nodes;
    const api::PriceBook* book = FindPriceBook(p.spec.price_book_ref);
    if (book == nullptr && !p.spec.price_per_node_hour.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          Where(m, "GPUNodePool", p.metadata.name, "spec.priceBookRef"), ": PriceBook \"",
          p.spec.price_book_ref, "\" not found and no spec.pricePerNodeHour"));
    }
    engine::PriceResolver resolver(book != nullptr ? book->spec : api::PriceBookSpec{});
    engine::NodeInfo node;
    node.name = p.metadata.name;
    node.labels = p.spec.node_selector;
    node.labels[resolver.book().node_labels.gpu_model] = p.spec.gpu_type;
    node.labels[resolver.book().node_labels.capacity_type] =
        p.spec.capacity_type == api::CapacityType::kSpot ? "spot" : "on-demand";
    node.gpu_capacity = p.spec.gpus_per_node;
    node.cpu_capacity =
        values::Quantity::FromMilli(scenario_.cluster.cpu_millis_per_gpu * p.spec.gpus_per_node);
    node.memory_capacity =
        values::Quantity::FromUnits(scenario_.cluster.memory_bytes_per_gpu * p.spec.gpus_per_node);
    pool.prices = resolver.PricesFor(node, p.spec.price_per_node_hour);
    pools_.push_back(std::move(pool));
    pools_.back().gpu_rate = JobRate(pools_.back(), 1);
    pools_.back().node_rate = JobRate(pools_.back(), p.spec.gpus_per_node);
  }
  auto pool_index = [&](const std::string& name) -> int {
    for (size_t i = 0; i < pools_.size(); ++i) {
      if (pools_[i].spec->metadata.name == name) {
        return static_cast<int>(i);
      }
    }
    return -1;
  };
  for (const std::string& name : scenario_.cluster.unbudgeted_pools) {
    int i = pool_index(name);
    if (i < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          scenario_.source, ": cluster.unbudgetedPools: no GPUNodePool \"", name, "\""));
    }
    unbudgeted_pools_.push_back(i);
  }
  if (scenario_.cluster.unbudgeted_pools.empty()) {
    for (size_t i = 0; i < pools_.size(); ++i) {
      unbudgeted_pools_.push_back(static_cast<int>(i));
    }
  }

  for (const api::ComputeBudget& cb : m.budgets) {
    Budget b;
    b.spec = &cb;
    absl::StatusOr<values::PeriodCalendar> calendar =
        values::PeriodCalendar::Create(cb.spec.period);
    if (!calendar.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("computebudget/", cb.metadata.name, ": ", calendar.status().message()));
    }
    b.calendar = *calendar;
    values::Period period = b.calendar->Containing(scenario_.start);
    b.ledger.emplace(period);
    b.reserve_ledger.emplace(period);
    for (const std::string& name : cb.spec.node_pools) {
      int i = pool_index(name);
      if (i < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(m, "ComputeBudget", cb.metadata.name, "spec.nodePools"),
                         ": no GPUNodePool \"", name, "\""));
      }
      b.pools.push_back(i);
    }
    if (b.pools.empty()) {
      b.pools = unbudgeted_pools_;
    }
    if (b.pools.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("computebudget/", cb.metadata.name, ": no GPUNodePool to run on"));
    }
    if (cb.spec.limit.amount.has_value()) {
      const api::PriceBook* book = FindPriceBook(cb.spec.price_book_ref);
      if (book == nullptr) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(m, "ComputeBudget", cb.metadata.name, "spec.priceBookRef"),
                         ": PriceBook \"", cb.spec.price_book_ref, "\" not found"));
      }
      if (book->spec.currency != cb.spec.limit.currency) {
        return absl::InvalidArgumentError(
            absl::StrCat(Where(m, "ComputeBudget", cb.metadata.name, "spec.limit.currency"), ": ",
                         cb.spec.limit.currency, " does not match PriceBook \"",
                         book->metadata.name, "\" (", book->spec.currency, ")"));
      }
    }
    for (int i : b.pools) {
      b.pool_gpu_hour_prices.push_back(pools_[static_cast<size_t>(i)].gpu_rate);
    }
    if (const api::PriceBook* book = FindPriceBook(cb.spec.price_book_ref); book != nullptr) {
      b.default_gpu_hour = book->spec.defaults.gpu_hour;
    }
    b.gpu_hours_only = !cb.spec.limit.amount.has_value();
    b.result.name = cb.metadata.name;
    b.result.unit = b.gpu_hours_only ? "GPU-h" : cb.spec.limit.currency;
    b.result.enforced = cb.spec.enforcement == api::EnforcementMode::kEnforce;
    b.result.chart.budget = cb.metadata.name;
    b.result.chart.unit = b.result.unit;
    b.enforcement = MakeEnforcementPolicy(
        options_.policy,
        {.spec = &cb.spec,
         .gpu_hours_only = b.gpu_hours_only,
         .gpu_hour_price = engine::GpuHourPrice(b.pool_gpu_hour_prices, {}, b.default_gpu_hour),
         .first_period = period.length(),
         .billing_lag = scenario_.cluster.billing_lag,
         .step_s = step_s_});
    budgets_.push_back(std::move(b));
  }

  jobs_.resize(scenario_.jobs.size());
  for (size_t i = 0; i < scenario_.jobs.size(); ++i) {
    Job& job = jobs_[i];
    job.trace = &scenario_.jobs[i];
    job.budget = BudgetFor(*job.trace);
    job.remaining_s = job.trace->duration_s;
    job.retrain = job.trace->purpose == "retrain" && !job.trace->model.empty();
    arrival_order_.push_back(i);
  }
  std::stable_sort(arrival_order_.begin(), arrival_order_.end(), [&](size_t a, size_t b) {
    return jobs_[a].trace->submit_time_s < jobs_[b].trace->submit_time_s;
  });
  return absl::OkStatus();
}

// A pod is charged to exactly one budget (engine/attribution.h). The simulator's Jobs carry the
// model and purpose labels under every budget's configured label keys.
int Simulation::BudgetFor(const TraceJob& job) const {
  std::vector<const api::ComputeBudget*> candidates;
  values::Labels pod_labels;
  for (const Budget& b : budgets_) {
    candidates.push_back(b.spec);
    pod_labels[b.spec->spec.retraining.model_label] = job.model;
    pod_labels[b.spec->spec.retraining.purpose_label] = job.purpose;
  }
  engine::Attribution attribution =
      engine::AttributePod(candidates, {.namespace_name = job.ns, .pod_labels = &pod_labels});
  return attribution.budget < 0 ? kNoBudget : attribution.budget;
}

void Simulation::EndSegment(Job& job, int64_t end_s, bool ended) {
  Charge c{job.uid, At(job.run_since_s), At(end_s), job.rate, job.trace->gpus,
           ended,   job.on_reserve};
  if (job.budget == kNoBudget) {
    // Unbudgeted spend is still metered, for the report: rate x seconds since the last tick.
    return;
  }
  Budget& b = budgets_[static_cast<size_t>(job.budget)];
  b.step_charges.push_back(std::move(c));
  if (ended) {
    b.step_ended.push_back(job.uid);
  }
}

void Simulation::Start(size_t index, int pool, int64_t now_s, bool on_reserve) {
  Job& job = jobs_[index];
  Pool& p = pools_[static_cast<size_t>(pool)];
  job.state = JobState::kRunning;
  job.pool = pool;
  job.on_reserve = on_reserve;
  job.run_since_s = now_s;
  job.uid = absl::StrCat(index, "/", job.segment++);
  job.rate = JobRate(p, job.trace->gpus);
  p.used_gpus += job.trace->gpus;
  p.used_by[job.budget] += job.trace->gpus;
  if (!job.first_start_s.has_value()) {
    job.first_start_s = now_s;
    if (job.budget != kNoBudget) {
      Budget& b = budgets_[static_cast<size_t>(job.budget)];
      b.wait_sum_s += now_s - job.trace->submit_time_s;
      ++b.started_jobs;
    }
  } else {
    job.remaining_s += absl::ToInt64Seconds(scenario_.cluster.restart_penalty);
  }
  running_.push_back(index);
}

void Simulation::Release(Job& job) {
  Pool& pool = pools_[static_cast<size_t>(job.pool)];
  pool.used_gpus -= job.trace->gpus;
  pool.used_by[job.budget] -= job.trace->gpus;
  job.pool = -1;
}

void Simulation::Suspend(size_t index, int64_t now_s) {
  Job& job = jobs_[index];
  EndSegment(job, now_s, true);
  Release(job);
  job.state = JobState::kSuspended;
  job.ever_suspended = true;
  running_.erase(std::find(running_.begin(), running_.end(), index));
}

void Simulation::Finish(size_t index, int64_t end_s) {
  Job& job = jobs_[index];
  EndSegment(job, end_s, true);
  Release(job);
  job.state = JobState::kCompleted;
  if (job.budget != kNoBudget) {
    Budget& b = budgets_[static_cast<size_t>(job.budget)];
    ++b.result.jobs_completed;
    b.result.completed_gpu_hours +=
        static_cast<double>(job.trace->gpus) * static_cast<double>(job.trace->duration_s) / 3600.0;
  }
}

void Simulation::Advance(int64_t from_s, int64_t to_s) {
  std::vector<size_t> finished;
  for (size_t index : running_) {
    Job& job = jobs_[index];
    if (job.on_reserve) {
      // A Job admitted onto the reserve draws on it only while its model is unlocked in the
      // period it is charged in: a new period locks the reserve again, and the Job becomes
      // regular work, paced as such.
      const Budget& b = budgets_[static_cast<size_t>(job.budget)];
      job.on_reserve = engine::DrawsOnReserve(b.spec->spec.retraining, b.gate, job.retrain,
                                              job.trace->model, b.calendar->Containing(At(to_s)));
    }
    int64_t worked = to_s - from_s;
    if (job.remaining_s <= worked) {
      finished.push_back(index);
      continue;
    }
    job.remaining_s -= worked;
    if (job.budget == kNoBudget) {
      unbudgeted_spent_ += job.rate.MulDiv(worked, 3600);
    } else {
      EndSegment(job, to_s, false);
    }
  }
  // A Job that ends inside the step frees its GPUs at its end: idle capacity is charged piece
  // by piece between those ends, so no GPU-second is charged both to a Job and as idle.
  std::stable_sort(finished.begin(), finished.end(),
                   [&](size_t a, size_t b) { return jobs_[a].remaining_s < jobs_[b].remaining_s; });
  int64_t idle_from = from_s;
  for (size_t index : finished) {
    Job& job = jobs_[index];
    int64_t end = from_s + job.remaining_s;
    if (end > idle_from) {
      ChargeIdle(idle_from, end);
      idle_from = end;
    }
    if (job.budget == kNoBudget) {
      unbudgeted_spent_ += job.rate.MulDiv(job.remaining_s, 3600);
    }
    job.remaining_s = 0;
    Finish(index, end);
  }
  std::erase_if(running_, [&](size_t i) { return jobs_[i].state != JobState::kRunning; });
  if (to_s > idle_from) {
    ChargeIdle(idle_from, to_s);
  }
  for (Pool& p : pools_) {
    p.node_hours +=
        static_cast<double>(p.total_nodes()) * static_cast<double>(to_s - from_s) / 3600.0;
  }
}

std::vector<std::pair<int, int64_t>> Simulation::IdleByOwner(const Pool& pool) const {
  std::vector<std::pair<int, int64_t>> out;
  int64_t remaining = int64_t{pool.total_nodes()} * pool.gpus_per_node() - pool.used_gpus;
  for (const auto& [owner, nodes] : pool.owned_nodes) {
    if (owner == kNoBudget || remaining <= 0) {
      continue;
    }
    auto used = pool.used_by.find(owner);
    int64_t idle =
        int64_t{nodes} * pool.gpus_per_node() - (used == pool.used_by.end() ? 0 : used->second);
    idle = std::clamp<int64_t>(idle, 0, remaining);
    if (idle > 0) {
      out.emplace_back(owner, idle);
      remaining -= idle;
    }
  }
  if (remaining > 0) {
    out.emplace_back(kNoBudget, remaining);
  }
  return out;
}

void Simulation::ChargeIdle(int64_t from_s, int64_t to_s) {
  for (size_t i = 0; i < pools_.size(); ++i) {
    Pool& p = pools_[i];
    for (const auto& [owner, idle_gpus] : IdleByOwner(p)) {
      // Idle devices cost their share of the node price.
      Money rate = p.node_rate.MulDiv(idle_gpus, p.gpus_per_node());
      if (owner == kNoBudget) {
        unbudgeted_spent_ += rate.MulDiv(to_s - from_s, 3600);
        continue;
      }
      budgets_[static_cast<size_t>(owner)].step_charges.push_back(
          {absl::StrCat("idle/", i), At(from_s), At(to_s), rate, idle_gpus, false, false});
    }
  }
}

void Simulation::RollPeriod(Budget& b, int64_t now_s) {
  const values::Period& period = b.ledger->period();
  PeriodResult r;
  r.start = period.start;
  r.end = period.end;
  r.complete = At(now_s) >= period.end;
  if (!r.complete && At(now_s) <= period.start) {
    return;  // the scenario ended exactly where this period begins
  }
  r.gpu_hours = b.ledger->gpu_hours();
  const api::BudgetLimit& limit = b.spec->spec.limit;
  r.limit = b.gpu_hours_only ? limit.gpu_hours->ToDouble() : limit.amount->ToDouble();
  r.spent = b.gpu_hours_only ? b.ledger->gpu_hours() : MoneyValue(b.ledger->spent());
  // Overspend against every limit the budget sets, in the report's unit.
  double over = std::max(0.0, r.spent - r.limit);
  if (!b.gpu_hours_only && limit.gpu_hours.has_value() &&
      b.ledger->gpu_hours() > limit.gpu_hours->ToDouble() + 1e-9) {
    over = std::max(over, 1e-6);  // over in GPU-hours: count the period as overspent
  }
  r.overspend = over;
  b.result.periods.push_back(r);
  if (!r.complete) {
    return;
  }
  values::Period next = b.calendar->Next(period);
  b.ledger.emplace(next);
  b.reserve_ledger.emplace(next);
  b.enforcement->NewPeriod();
  b.result.chart.period_starts_h.push_back(absl::ToDoubleHours(next.start - scenario_.start));
}

void Simulation::Meter(int64_t now_s) {
  for (Budget& b : budgets_) {
    auto apply = [&](values::BudgetLedger& ledger, values::BudgetLedger& reserve) {
      for (const Charge& c : b.step_charges) {
        ledger.ChargePod(c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
        if (c.reserve) {
          reserve.ChargePod(c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
        }
      }
    };
    apply(*b.ledger, *b.reserve_ledger);
    while (At(now_s) >= b.ledger->period().end) {
      RollPeriod(b, now_s);
      // The part of this step's intervals inside the new period: the ledger clips for us.
      apply(*b.ledger, *b.reserve_ledger);
    }
    b.ledger->CompletePass(At(now_s), b.step_ended);
    b.reserve_ledger->CompletePass(At(now_s), b.step_ended);
    b.step_charges.clear();
    b.step_ended.clear();
  }
}

void Simulation::DeliverDrift(int64_t now_s) {
  while (next_drift_ < scenario_.drift.size() &&
         absl::ToInt64Seconds(scenario_.drift[next_drift_].at) <= now_s) {
    engine::ModelDriftSignal signal = scenario_.drift[next_drift_].signal;
    signal.time = At(now_s);
    for (Budget& b : budgets_) {
      engine::DriftOutcome outcome =
          b.gate.Observe(b.spec->spec.retraining, signal, b.ledger->period());
      if (outcome == engine::DriftOutcome::kUnlocked) {
        ++b.result.model_drift_unlocks;
      }
    }
    ++next_drift_;
  }
}

void Simulation::Arrive(int64_t now_s) {
  while (next_arrival_ < arrival_order_.size() &&
         jobs_[arrival_order_[next_arrival_]].trace->submit_time_s <= now_s) {
    size_t index = arrival_order_[next_arrival_++];
    Job& job = jobs_[index];
    job.state = JobState::kPending;
    auto key = std::make_tuple(-job.trace->priority, job.trace->submit_time_s, index);
    if (job.budget == kNoBudget) {
      unbudgeted_pending_.insert(key);
    } else {
      Budget& b = budgets_[static_cast<size_t>(job.budget)];
      ++b.result.jobs_submitted;
      b.pending.insert(key);
    }
  }
}

int64_t Simulation::RunningGpus(int budget, bool reserve) const {
  int64_t gpus = 0;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget && jobs_[i].on_reserve == reserve) {
      gpus += jobs_[i].trace->gpus;
    }
  }
  return gpus;
}

Money Simulation::RunningRate(int budget, bool reserve) const {
  Money rate;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget && jobs_[i].on_reserve == reserve) {
      rate += jobs_[i].rate;
    }
  }
  return rate;
}

std::pair<Money, int64_t> Simulation::IdleOf(int budget) const {
  Money rate;
  int64_t gpus = 0;
  for (const Pool& p : pools_) {
    for (const auto& [owner, idle] : IdleByOwner(p)) {
      if (owner == budget) {
        rate += p.node_rate.MulDiv(idle, p.gpus_per_node());
        gpus += idle;
      }
    }
  }
  return {rate, gpus};
}

void Simulation::DrainTo(int budget, int64_t keep_gpus, bool reserve, int64_t now_s) {
  std::vector<size_t> candidates;
  int64_t running = 0;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget && jobs_[i].on_reserve == reserve) {
      candidates.push_back(i);
      running += jobs_[i].trace->gpus;
    }
  }
  // Lowest priority first; among equals the most recently started (least work lost).
  std::sort(candidates.begin(), candidates.end(), [&](size_t a, size_t b) {
    const Job& ja = jobs_[a];
    const Job& jb = jobs_[b];
    if (ja.trace->priority != jb.trace->priority) {
      return ja.trace->priority < jb.trace->priority;
    }
    return std::tie(ja.run_since_s, a) > std::tie(jb.run_since_s, b);
  });
  Budget& b = budgets_[static_cast<size_t>(budget)];
  for (size_t i : candidates) {
    if (running <= keep_gpus) {
      break;
    }
    running -= jobs_[i].trace->gpus;
    Suspend(i, now_s);
    const Job& job = jobs_[i];
    b.pending.insert(std::make_tuple(-job.trace->priority, job.trace->submit_time_s, i));
  }
}

std::optional<int64_t> Simulation::QuotaFor(const Budget& b) const {
  if (!b.result.enforced) {
    return std::nullopt;  // DryRun: decide and report, change nothing (under every policy)
  }
  return b.enforcement->Quota(b.decision);
}

bool Simulation::HoldsNewWork(const Budget& b) const {
  return b.result.enforced && b.enforcement->HoldsNewWork(b.decision);
}

bool Simulation::MayUseReserve(const Budget& b, const Job& job) const {
  return b.enforcement->UsesRetrainingReserve() &&
         engine::DrawsOnReserve(b.spec->spec.retraining, b.gate, job.retrain, job.trace->model,
                                b.ledger->period());
}

engine::BudgetStep Simulation::StepOf(const Budget& b, int budget, int64_t now_s) const {
  engine::BudgetStep step{.now = At(now_s),
                          .ledger = &*b.ledger,
                          .reserve_ledger = &*b.reserve_ledger,
                          .burn = {},
                          .gpu_hour_price = Money(),
                          .reserve_unlocked = b.gate.AnyUnlocked(b.ledger->period()),
                          .lookahead = engine::LookaheadFor(scenario_.step)};
  step.burn.regular_rate = RunningRate(budget, false);
  step.burn.regular_gpus = RunningGpus(budget, false);
  step.burn.reserve_rate = RunningRate(budget, true);
  step.burn.reserve_gpus = RunningGpus(budget, true);
  std::tie(step.burn.idle_rate, step.burn.idle_gpus) = IdleOf(budget);
  step.gpu_hour_price = engine::GpuHourPrice(b.pool_gpu_hour_prices, step.burn, b.default_gpu_hour);
  return step;
}

DecisionTrace Simulation::TraceOf(const Budget& b, int budget,
                                  const engine::BudgetStep& step) const {
  DecisionTrace trace{
      .budget = b.spec->metadata.name, .step = step, .decision = b.decision, .running = {}};
  for (size_t i : running_) {
    const Job& job = jobs_[i];
    if (job.budget == budget) {
      trace.running.push_back({.uid = job.uid,
                               .namespace_name = job.trace->ns,
                               .gpus = job.trace->gpus,
                               .pool = pools_[static_cast<size_t>(job.pool)].spec->metadata.name,
                               .since = At(job.run_since_s),
                               .on_reserve = job.on_reserve});
    }
  }
  return trace;
}

void Simulation::Decide(int64_t now_s) {
  for (size_t bi = 0; bi < budgets_.size(); ++bi) {
    Budget& b = budgets_[bi];
    int budget = static_cast<int>(bi);
    const engine::BudgetStep step = StepOf(b, budget, now_s);
    b.decision = engine::Decide(b.spec->spec, step);
    if (options_.on_decision) {
      options_.on_decision(TraceOf(b, budget, step));
    }

    // Rungs entered: what Bursar did (or, for DryRun budgets, would have done).
    if (b.enforcement->FollowsLadder() && b.decision.rung > b.last_rung) {
      ++b.result.actions[api::Name(b.decision.rung)];
    }
    b.last_rung = b.decision.rung;

    if (!b.result.enforced) {
      continue;
    }
    // What a bill would show, in the budget's unit (micro GPU-hours for gpuHours-only budgets).
    Money billable =
        b.gpu_hours_only
            ? Money::FromUnits(b.ledger->gpu_seconds()).MulDiv(1, 3600, values::Rounding::kDown)
            : b.ledger->spent();
    StopOrder stop = b.enforcement->Act({.now_s = now_s,
                                         .period_length = b.ledger->period().length(),
                                         .billable = billable,
                                         .decision = &b.decision});
    if (stop.keep_regular_gpus.has_value()) {
      DrainTo(budget, *stop.keep_regular_gpus, false, now_s);
    }
    if (stop.keep_reserve_gpus.has_value()) {
      DrainTo(budget, *stop.keep_reserve_gpus, true, now_s);
    }
  }
}

void Simulation::Admit(int64_t now_s) {
  constexpr int kBackfillScan = 64;
  auto place = [&](const Job& job, const std::vector<int>& pools) -> int {
    for (int p : pools) {
      if (pools_[static_cast<size_t>(p)].free_gpus() >= job.trace->gpus) {
        return p;
      }
    }
    return -1;
  };
  auto schedulable = [&](const Job& job, const std::vector<int>& pools) {
    for (int p : pools) {
      if (pools_[static_cast<size_t>(p)].capacity_gpus() >= job.trace->gpus) {
        return true;
      }
    }
    return job.trace->gpus == 0;
  };
  for (size_t bi = 0; bi < budgets_.size(); ++bi) {
    Budget& b = budgets_[bi];
    int budget = static_cast<int>(bi);
    std::optional<int64_t> quota = QuotaFor(b);
    bool hold = HoldsNewWork(b);
    int64_t used = RunningGpus(budget, false);
    int64_t reserve_used = RunningGpus(budget, true);
    int scanned = 0;
    for (auto it = b.pending.begin(); it != b.pending.end() && scanned < kBackfillScan;) {
      size_t index = std::get<2>(*it);
      Job& job = jobs_[index];
      if (!schedulable(job, b.pools)) {
        ++unschedulable_;
        job.state = JobState::kCompleted;  // can never run: drop it
        it = b.pending.erase(it);
        continue;
      }
      bool reserve = MayUseReserve(b, job) && b.decision.reserve_allowed_gpus > 0 &&
                     reserve_used + job.trace->gpus <= b.decision.reserve_allowed_gpus;
      bool fits_quota = !quota.has_value() || used + job.trace->gpus <= *quota;
      if (!reserve && (hold || !fits_quota)) {
        if (hold && !job.first_start_s.has_value()) {
          job.ever_held = true;
        }
        ++it;
        ++scanned;
        continue;
      }
      int pool = job.trace->gpus == 0 ? b.pools.front() : place(job, b.pools);
      if (pool < 0) {
        ++it;
        ++scanned;
        continue;
      }
      Start(index, pool, now_s, reserve);
      (reserve ? reserve_used : used) += job.trace->gpus;
      it = b.pending.erase(it);
    }
  }
  int scanned = 0;
  for (auto it = unbudgeted_pending_.begin();
       it != unbudgeted_pending_.end() && scanned < kBackfillScan;) {
    size_t index = std::get<2>(*it);
    Job& job = jobs_[index];
    if (!schedulable(job, unbudgeted_pools_)) {
      ++unschedulable_;
      job.state = JobState::kCompleted;
      it = unbudgeted_pending_.erase(it);
      continue;
    }
    int pool = job.trace->gpus == 0 && !unbudgeted_pools_.empty() ? unbudgeted_pools_.front()
                                                                  : place(job, unbudgeted_pools_);
    if (pool < 0) {
      ++it;
      ++scanned;
      continue;
    }
    Start(index, pool, now_s, false);
    it = unbudgeted_pending_.erase(it);
  }
}

void Simulation::SizePools(int64_t now_s) {
  // Demand per pool: running work plus pending work each budget would admit now.
  std::vector<int64_t> demand(pools_.size(), 0);
  std::vector<std::vector<std::pair<int64_t, int>>> growers(pools_.size());
  for (size_t p = 0; p < pools_.size(); ++p) {
    demand[p] = pools_[p].used_gpus;
  }
  auto add_pending = [&](const std::set<std::tuple<int, int64_t, size_t>>& pending,
                         const std::vector<int>& pools, int64_t allowance, int budget) {
    if (pools.empty()) {
      return;
    }
    int64_t wanted = 0;
    for (const auto& key : pending) {
      const Job& job = jobs_[std::get<2>(key)];
      if (wanted + job.trace->gpus > allowance) {
        break;
      }
      wanted += job.trace->gpus;
    }
    if (wanted == 0) {
      return;
    }
    // The first pool the budget may use takes the growth.
    size_t p = static_cast<size_t>(pools.front());
    demand[p] += wanted;
    growers[p].emplace_back(wanted, budget);
  };
  for (size_t bi = 0; bi < budgets_.size(); ++bi) {
    Budget& b = budgets_[bi];
    int64_t allowance = std::numeric_limits<int64_t>::max() / 4;
    if (HoldsNewWork(b)) {
      allowance = 0;
    }
    if (std::optional<int64_t> q = QuotaFor(b)) {
      allowance =
          std::min(allowance, std::max<int64_t>(0, *q - RunningGpus(static_cast<int>(bi), false)));
    }
    add_pending(b.pending, b.pools, allowance, static_cast<int>(bi));
  }
  add_pending(unbudgeted_pending_, unbudgeted_pools_, std::numeric_limits<int64_t>::max() / 4,
              kNoBudget);

  for (size_t p = 0; p < pools_.size(); ++p) {
    Pool& pool = pools_[p];
    engine::PoolSizingInputs in;
    in.now = At(now_s);
    in.current_nodes = pool.total_nodes();
    in.busy_nodes =
        static_cast<int>((pool.used_gpus + pool.gpus_per_node() - 1) / pool.gpus_per_node());
    in.allowed_demand_gpus = demand[p];
    in.low_since = pool.low_since;
    // Idle whole nodes by owner; a held owner's idle nodes go without waiting.
    std::vector<std::pair<int, int>> idle_nodes;  // (owner, nodes)
    for (const auto& [owner, gpus] : IdleByOwner(pool)) {
      int nodes = static_cast<int>(gpus / pool.gpus_per_node());
      if (nodes > 0) {
        idle_nodes.emplace_back(owner, nodes);
        in.scale_down_now =
            in.scale_down_now ||
            (owner != kNoBudget && HoldsNewWork(budgets_[static_cast<size_t>(owner)]));
      }
    }
    engine::PoolSizingDecision d = engine::SizePool(pool.spec->spec, in);
    pool.low_since = d.low_since;
    if (d.desired_nodes > in.current_nodes) {
      for (int i = in.current_nodes; i < d.desired_nodes; ++i) {
        pool.provisioning_ready_at.push_back(
            now_s + absl::ToInt64Seconds(scenario_.cluster.provisioning_delay));
      }
      int grower = growers[p].empty()
                       ? kNoBudget
                       : std::max_element(growers[p].begin(), growers[p].end())->second;
      pool.owned_nodes[grower] += d.desired_nodes - in.current_nodes;
    } else if (d.desired_nodes < in.current_nodes) {
      int remove = in.current_nodes - d.desired_nodes;
      // Held owners' idle nodes first, then the owner with the most idle nodes.
      std::stable_sort(idle_nodes.begin(), idle_nodes.end(), [&](const auto& a, const auto& b) {
        auto held = [&](int owner) {
          return owner != kNoBudget && HoldsNewWork(budgets_[static_cast<size_t>(owner)]);
        };
        return std::make_pair(held(a.first), a.second) > std::make_pair(held(b.first), b.second);
      });
      for (auto& [owner, nodes] : idle_nodes) {
        int n = std::min(remove, nodes);
        if (n <= 0) {
          continue;
        }
        pool.owned_nodes[owner] -= n;
        remove -= n;
        // Cancel launches first (no work can be on them), then ready nodes.
        for (int i = 0; i < n; ++i) {
          if (!pool.provisioning_ready_at.empty()) {
            pool.provisioning_ready_at.pop_back();
          } else {
            --pool.ready_nodes;
          }
        }
      }
    }
    TransferHeldNodes(pool);
    pool.peak_nodes = std::max(pool.peak_nodes, pool.total_nodes());
  }
}

// A held budget's nodes that other budgets' pods keep busy cannot be removed; they pass to the
// budgets that keep them alive (largest overflow first), so a held budget stops paying for
// capacity it no longer uses; the rest pass to the cluster (unbudgeted) until they are removed.
void Simulation::TransferHeldNodes(Pool& pool) {
  const int64_t gpn = pool.gpus_per_node();
  auto used = [&](int owner) {
    auto it = pool.used_by.find(owner);
    return it == pool.used_by.end() ? int64_t{0} : it->second;
  };
  for (auto& [owner, nodes] : pool.owned_nodes) {
    if (owner == kNoBudget || nodes <= 0 || !HoldsNewWork(budgets_[static_cast<size_t>(owner)])) {
      continue;
    }
    int excess = nodes - static_cast<int>((used(owner) + gpn - 1) / gpn);
    while (excess > 0) {
      int taker = kNoBudget - 1;
      int64_t most = 0;
      for (const auto& [other, gpus] : pool.used_by) {
        auto owned = pool.owned_nodes.find(other);
        int64_t overflow =
            gpus - (owned == pool.owned_nodes.end() ? 0 : int64_t{owned->second}) * gpn;
        if (other != owner && overflow > most) {
          most = overflow;
          taker = other;
        }
      }
      if (taker < kNoBudget) {
        // Kept for other budgets' pending work, or not yet removed: the cluster carries it.
        taker = kNoBudget;
      }
      --nodes;
      --excess;
      ++pool.owned_nodes[taker];
    }
  }
}

void Simulation::BringUpNodes(int64_t now_s) {
  for (Pool& pool : pools_) {
    std::erase_if(pool.provisioning_ready_at, [&](int64_t ready_at) {
      if (ready_at <= now_s) {
        ++pool.ready_nodes;
        return true;
      }
      return false;
    });
  }
}

void Simulation::Sample(int64_t now_s) {
  if (now_s < next_chart_s_) {
    return;
  }
  next_chart_s_ = now_s + chart_every_s_;
  for (Budget& b : budgets_) {
    const values::Period& period = b.ledger->period();
    const api::BudgetLimit& limit = b.spec->spec.limit;
    double l = b.gpu_hours_only ? limit.gpu_hours->ToDouble() : limit.amount->ToDouble();
    SpendSeries& s = b.result.chart;
    s.t_hours.push_back(static_cast<double>(now_s) / 3600.0);
    s.spent.push_back(b.gpu_hours_only ? b.ledger->gpu_hours() : MoneyValue(b.ledger->spent()));
    s.pacing.push_back(l * period.ElapsedFraction(At(now_s)));
    s.limit.push_back(l);
  }
}

absl::StatusOr<SimReport> Simulation::Run() {
  if (absl::Status s = Setup(); !s.ok()) {
    return s;
  }
  int64_t last_progress = 0;
  for (int64_t t = 0; t <= end_s_; t += step_s_) {
    if (t > 0) {
      Advance(t - step_s_, t);
    }
    Meter(t);
    DeliverDrift(t);
    Arrive(t);
    Decide(t);
    BringUpNodes(t);
    Admit(t);
    SizePools(t);
    Sample(t);
    if (options_.progress && t - last_progress >= end_s_ / 200 + 1) {
      options_.progress(static_cast<double>(t) / static_cast<double>(std::max<int64_t>(end_s_, 1)));
      last_progress = t;
    }
  }
  SimReport report;
  report.scenario = scenario_.name;
  report.policy = options_.policy;
  report.start = scenario_.start;
  report.end = At(end_s_);
  report.unbudgeted_spent = MoneyValue(unbudgeted_spent_);
  report.jobs_total = static_cast<int64_t>(jobs_.size());
  report.jobs_unschedulable = unschedulable_;
  for (Budget& b : budgets_) {
    RollPeriod(b, end_s_);  // the last, possibly partial, period
    BudgetResult& r = b.result;
    r.limit = r.periods.empty() ? 0 : r.periods.front().limit;
    for (const PeriodResult& p : r.periods) {
      r.spent += p.spent;
      r.gpu_hours += p.gpu_hours;
      r.overspend += p.overspend;
      r.overspent_periods += p.overspend > 0 ? 1 : 0;
    }
    for (const Job& job : jobs_) {
      if (job.budget == static_cast<int>(&b - budgets_.data())) {
        r.jobs_suspended += job.ever_suspended ? 1 : 0;
        r.jobs_held += job.ever_held ? 1 : 0;
      }
    }
    r.mean_wait_seconds =
        b.started_jobs > 0 ? static_cast<double>(b.wait_sum_s) / static_cast<double>(b.started_jobs)
                           : 0;
    report.budgets.push_back(std::move(r));
  }
  for (const Pool& p : pools_) {
    report.pools.push_back({p.spec->metadata.name, p.peak_nodes, p.node_hours});
  }
  return report;
}

}  // namespace

absl::StatusOr<SimReport> Simulate(const Scenario& scenario, const SimOptions& options) {
  Simulation sim(scenario, options);
  return sim.Run();
}

}  // namespace bursar::sim
