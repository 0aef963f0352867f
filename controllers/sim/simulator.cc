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
    // Work lands on the cheapest pool with room first (engine::GpuHourPrice).
    std::stable_sort(b.pools.begin(), b.pools.end(), [&](int x, int y) {
      return pools_[static_cast<size_t>(x)].gpu_rate < pools_[static_cast<size_t>(y)].gpu_rate;
    });
    for (int i : b.pools) {
      b.pool_gpu_hour_prices.push_back(
          {.gpu_hour = pools_[static_cast<size_t>(i)].gpu_rate, .has_room = true});
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

}  // namespace internal

absl::StatusOr<SimReport> Simulate(const Scenario& scenario, const SimOptions& options) {
  internal::Simulation sim(scenario, options);
  return sim.Run();
}

}  // namespace bursar::sim
