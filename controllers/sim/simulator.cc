#include "controllers/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/pool_sizing.h"
#include "controllers/sim/simulation.h"
#include "controllers/values/ledger.h"
#include "controllers/values/strings.h"

namespace bursar::sim {
namespace internal {
namespace {

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
  return absl::StrCat(absl::AsciiStrToLower(kind), "/", name, ": ", values::AbslView(dotted));
}

}  // namespace

const api::PriceBook* Simulation::FindPriceBook(const std::string& name) const {
  for (const api::PriceBook& pb : scenario_.manifests.price_books) {
    if (pb.metadata.name == name) {
      return &pb;
    }
  }
  return nullptr;
}

namespace {

engine::CpuMemory RequestsFor(const ClusterModel& cluster, int64_t gpus) {
  int64_t share = std::max<int64_t>(gpus, 1);
  return {.cpu = values::Quantity::FromMilli(cluster.cpu_millis_per_gpu * share),
          .memory = values::Quantity::FromUnits(cluster.memory_bytes_per_gpu * share)};
}

}  // namespace

Money Simulation::JobRate(const Pool& pool, int64_t gpus) const {
  engine::CpuMemory requests = RequestsFor(scenario_.cluster, gpus);
  engine::ContainerResources c;
  c.cpu_request = requests.cpu;
  c.memory_request = requests.memory;
  c.gpus = gpus;
  return engine::PodRatePerHour({c}, pool.prices);
}

engine::CpuMemory Simulation::RequestsOf(const Job& job) const {
  return RequestsFor(scenario_.cluster, job.trace->gpus);
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

  unbudgeted_pending_ = AdmissionQueue(scenario_.start, false);
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
    // Work lands on the cheapest pool with room first (engine::GpuHourPrice).
    std::stable_sort(b.pools.begin(), b.pools.end(), [&](int x, int y) {
      return pools_[static_cast<size_t>(x)].gpu_rate < pools_[static_cast<size_t>(y)].gpu_rate;
    });
    const api::PriceBook* book = FindPriceBook(cb.spec.price_book_ref);
    if (book != nullptr) {
      b.default_gpu_hour = book->spec.defaults.gpu_hour;
    }
    std::vector<engine::UnitPrices> pool_units;
    for (int p : b.pools) {
      pool_units.push_back(pools_[static_cast<size_t>(p)].prices);
    }
    b.cpu_memory_prices = engine::CpuMemoryPrices(
        pool_units, book != nullptr ? book->spec.defaults : api::PriceDefaults());
    b.gpu_hours_only = !cb.spec.limit.amount.has_value();
    b.result.name = cb.metadata.name;
    b.result.unit = b.gpu_hours_only ? "GPU-h" : cb.spec.limit.currency;
    b.result.enforced = cb.spec.enforcement == api::EnforcementMode::kEnforce;
    b.result.chart.budget = cb.metadata.name;
    b.result.chart.unit = b.result.unit;
    const Pool& growth = pools_[static_cast<size_t>(b.pools.front())];  // SizePools grows it
    std::optional<double> scale;
    if (!options_.static_quota_scales.empty()) {
      auto it = options_.static_quota_scales.find(cb.metadata.name);
      scale = it == options_.static_quota_scales.end() ? 1.0 : it->second;
      b.result.static_quota_scale = scale;
    }
    // DryRun budgets change nothing, so their Jobs wait in submission order.
    b.pending = AdmissionQueue(
        scenario_.start,
        b.result.enforced && options_.order_by_length.value_or(OrdersByLength(options_.policy)));
    b.enforcement = MakeEnforcementPolicy(
        options_.policy,
        {.spec = &cb.spec,
         .gpu_hours_only = b.gpu_hours_only,
         .gpu_hour_price = engine::GpuHourPrice(PoolPricesOf(b), {}, b.default_gpu_hour),
         .first_period = period.length(),
         .node_gpus = growth.gpus_per_node(),
         .free_gpus = int64_t{growth.spec->spec.min_nodes} * growth.gpus_per_node(),
         .quota_scale = scale,
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
    any_max_cost_ = any_max_cost_ || job.trace->max_cost.has_value();
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

namespace {

// Per-budget sums over its Jobs, for the report's time metrics.
struct JobTimes {
  int64_t counted = 0;  // submitted Jobs that can fit a pool
  int64_t wait_sum_s = 0;
  int64_t flow_sum_s = 0;
  std::vector<int64_t> jct_s;
  int64_t lost_gpu_s = 0;
};

const char* StateName(const Job& job) {
  switch (job.state) {
    case JobState::kRunning:
      return "running";
    case JobState::kSuspended:
      return job.capped ? "capped" : "suspended";
    case JobState::kPending:
      return "pending";
    case JobState::kCompleted:
      if (job.finish_s.has_value()) {
        return "finished";
      }
      return job.capped ? "refused" : "unschedulable";
    case JobState::kFuture:
      break;
  }
  return "future";
}

}  // namespace

void Simulation::ReportJobs(SimReport& report) {
  std::vector<JobTimes> times(budgets_.size());
  report.jobs.reserve(jobs_.size());
  for (size_t i = 0; i < jobs_.size(); ++i) {
    const Job& job = jobs_[i];
    if (job.state == JobState::kFuture) {
      continue;  // submitted after the scenario's end
    }
    const TraceJob& t = *job.trace;
    int64_t paid_s = job.paid_s;
    Money cost = job.cost;
    if (job.state == JobState::kRunning) {  // its open segment, to the end
      paid_s += end_s_ - job.run_since_s;
      cost += job.rate.MulDiv(end_s_ - job.run_since_s, 3600);
    }
    JobResult row{.index = i,
                  .budget = job.budget == kNoBudget
                                ? std::string()
                                : budgets_[static_cast<size_t>(job.budget)].spec->metadata.name,
                  .namespace_name = t.ns,
                  .priority = t.priority,
                  .gpus = t.gpus,
                  .duration_s = t.duration_s,
                  .submit_s = t.submit_time_s,
                  .first_start_s = job.first_start_s,
                  .finish_s = job.finish_s,
                  .suspensions = job.suspensions,
                  .gpu_hours = static_cast<double>(paid_s * t.gpus) / 3600.0,
                  .cost = MoneyValue(cost),
                  .state = StateName(job)};
    report.jobs.push_back(std::move(row));
    if (job.budget == kNoBudget) {
      continue;
    }
    JobTimes& jt = times[static_cast<size_t>(job.budget)];
    const Budget& b = budgets_[static_cast<size_t>(job.budget)];
    BudgetResult& r = budgets_[static_cast<size_t>(job.budget)].result;
    r.jobs_suspended += job.ever_suspended ? 1 : 0;
    // Held: the budget held new work at a tick while the Job waited for its first start.
    r.jobs_held +=
        HeldDuring(b, job.trace->submit_time_s, job.first_start_s.value_or(end_s_ + 1)) ? 1 : 0;
    jt.lost_gpu_s += job.lost_gpu_s;
    if (job.state == JobState::kCompleted && !job.finish_s.has_value()) {
      // Dropped: no policy could ever run it, or refused at admission past its own cap
      // (counted in jobs_refused_over_cap).
      r.jobs_unschedulable += job.capped ? 0 : 1;
      continue;
    }
    ++jt.counted;
    jt.wait_sum_s += job.first_start_s.value_or(end_s_) - t.submit_time_s;
    jt.flow_sum_s += job.finish_s.value_or(end_s_) - t.submit_time_s;
    if (job.finish_s.has_value()) {
      jt.jct_s.push_back(*job.finish_s - t.submit_time_s);
    } else {
      ++r.jobs_unfinished;
    }
  }
  for (size_t bi = 0; bi < budgets_.size(); ++bi) {
    JobTimes& jt = times[bi];
    BudgetResult& r = budgets_[bi].result;
    r.lost_gpu_hours = static_cast<double>(jt.lost_gpu_s) / 3600.0;
    if (jt.counted > 0) {
      r.mean_wait_seconds = static_cast<double>(jt.wait_sum_s) / static_cast<double>(jt.counted);
      r.mean_flow_seconds = static_cast<double>(jt.flow_sum_s) / static_cast<double>(jt.counted);
    }
    if (!jt.jct_s.empty()) {
      int64_t sum = 0;
      for (int64_t v : jt.jct_s) {
        sum += v;
      }
      r.mean_jct_seconds = static_cast<double>(sum) / static_cast<double>(jt.jct_s.size());
      // Nearest rank: the smallest value with at least 95 % of the values at or below it.
      size_t rank = (jt.jct_s.size() * 95 + 99) / 100;
      std::nth_element(jt.jct_s.begin(), jt.jct_s.begin() + static_cast<ptrdiff_t>(rank - 1),
                       jt.jct_s.end());
      r.p95_jct_seconds = static_cast<double>(jt.jct_s[rank - 1]);
    }
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
  report.spend_matched =
      options_.policy == Policy::kStaticQuota && !options_.static_quota_scales.empty();
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
      r.gpu_hours_overspend += p.gpu_hours_overspend;
      r.overspent_periods += p.over_limit ? 1 : 0;
    }
    r.cost = MoneyValue(b.cost);
  }
  ReportJobs(report);
  for (Budget& b : budgets_) {
    report.budgets.push_back(std::move(b.result));
  }
  for (const Pool& p : pools_) {
    report.pools.push_back({p.spec->metadata.name, p.peak_nodes, p.node_hours});
  }
  return report;
}

}  // namespace internal

std::string PolicyLabel(const SimReport& report) {
  if (report.spend_matched) {
    return "static-quota (same spend)";
  }
  return PolicyName(report.policy);
}

absl::StatusOr<SimReport> Simulate(const Scenario& scenario, const SimOptions& options) {
  internal::Simulation sim(scenario, options);
  return sim.Run();
}

}  // namespace bursar::sim
