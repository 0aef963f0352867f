// Decisions in the simulated cluster (simulation.h): each budget's decision step, through the
// operator's own engine::Decide, and what the cluster does with it under the policy being
// simulated (enforcement.h) — draining, admission under quota and hold, and pool sizes.

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/job_caps.h"
#include "controllers/engine/pool_sizing.h"
#include "controllers/sim/simulation.h"
#include "controllers/values/ledger.h"
#include "controllers/values/strings.h"

namespace bursar::sim::internal {

int64_t Simulation::RunningGpus(int budget, bool reserve) const {
  int64_t gpus = 0;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget && jobs_[i].on_reserve == reserve) {
      gpus += jobs_[i].trace->gpus;
    }
  }
  return gpus;
}

engine::CpuMemory Simulation::RunningRequests(int budget) const {
  engine::CpuMemory total;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget) {
      engine::CpuMemory r = RequestsOf(jobs_[i]);
      total.cpu = total.cpu + r.cpu;
      total.memory = total.memory + r.memory;
    }
  }
  return total;
}

void Simulation::AddIdleOf(int budget, engine::BudgetBurn& burn) const {
  for (const Pool& p : pools_) {
    for (const auto& [owner, idle] : IdleByOwner(p)) {
      if (owner == budget) {
        burn.idle_rate += p.node_rate.MulDiv(idle, p.gpus_per_node());
        burn.idle_gpus += idle;
        // The pool's nodes are counted, not placed: its idle GPUs fill whole nodes first. A pass
        // removes at most maxScaleStep of them, and none below minNodes.
        const int64_t nodes =
            std::min<int64_t>({idle / p.gpus_per_node(), std::max(p.spec->spec.max_scale_step, 1),
                               std::max(0, p.total_nodes() - p.spec->spec.min_nodes)});
        burn.idle_node_rate += p.node_rate.MulDiv(nodes, 1);
        burn.idle_node_gpus += nodes * p.gpus_per_node();
      }
    }
  }
}

std::vector<int> Simulation::OwnedBins(int budget, std::vector<engine::OwnedBin>& bins) const {
  std::vector<int> bin_of_pool(pools_.size(), -1);
  std::vector<int64_t> stopping(pools_.size(), 0);
  for (size_t i : running_) {
    const Job& job = jobs_[i];
    if (job.budget == budget && job.stopping_until_s.has_value() && job.pool >= 0) {
      stopping[static_cast<size_t>(job.pool)] += job.trace->gpus;
    }
  }
  for (size_t p = 0; p < pools_.size(); ++p) {
    const Pool& pool = pools_[p];
    auto owned = pool.owned_nodes.find(budget);
    if (owned == pool.owned_nodes.end() || owned->second <= 0) {
      continue;
    }
    auto used = pool.used_by.find(budget);
    // The pool's nodes are counted, not placed: any gpusPerNode GPUs the budget frees free a node.
    // What already stops frees its GPUs too.
    bin_of_pool[p] = static_cast<int>(bins.size());
    bins.push_back({.gpus_per_node = pool.gpus_per_node(),
                    .idle_gpus = int64_t{owned->second} * pool.gpus_per_node() -
                                 (used == pool.used_by.end() ? 0 : used->second) + stopping[p],
                    .idle_gpu_rate = pool.node_rate.MulDiv(1, pool.gpus_per_node())});
  }
  return bin_of_pool;
}

void Simulation::DrainTo(int budget, const engine::KeepRunning& keep, bool reserve, int64_t now_s) {
  std::vector<size_t> candidates;
  for (size_t i : running_) {
    if (jobs_[i].budget == budget && jobs_[i].on_reserve == reserve &&
        !jobs_[i].stopping_until_s.has_value()) {  // already stopping: not work to drain
      candidates.push_back(i);
    }
  }
  // The latest submitted first among equals (engine::ChooseDrained keeps the caller's order).
  std::sort(candidates.begin(), candidates.end(), std::greater<>());
  std::vector<engine::OwnedBin> bins;
  const std::vector<int> bin_of_pool = OwnedBins(budget, bins);
  std::vector<engine::DrainCandidate> ranked;
  ranked.reserve(candidates.size());
  for (size_t i : candidates) {
    const Job& job = jobs_[i];
    ranked.push_back({.priority = job.trace->priority,
                      .started = At(job.run_since_s),
                      .gpus = job.trace->gpus,
                      .rate = job.rate,
                      .bin = job.trace->gpus > 0 && job.pool >= 0
                                 ? bin_of_pool[static_cast<size_t>(job.pool)]
                                 : -1});
  }
  for (size_t i : engine::ChooseDrained(ranked, keep, bins)) {
    Suspend(candidates[i], now_s);
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
  engine::BudgetStep step{
      .now = At(now_s),
      .ledger = &*b.ledger,
      .reserve_ledger = &*b.reserve_ledger,
      .burn = {},
      .gpu_hour_price = Money(),
      .reserve_unlocked = b.gate.AnyUnlocked(b.ledger->period()),
      .lookahead = engine::LookaheadFor(scenario_.step),
      .next_period_length = b.calendar->Next(b.ledger->period()).length(),
      .carry_fraction = b.lengths.FractionLongerThan(b.ledger->period().end - At(now_s)),
      .start_stop_lag = scenario_.cluster.termination_grace};
  AddIdleOf(budget, step.burn);
  step.burn.pays_for_nodes = std::any_of(pools_.begin(), pools_.end(), [&](const Pool& p) {
    auto owned = p.owned_nodes.find(budget);
    return owned != p.owned_nodes.end() && owned->second > 0;
  });
  // The budget's running Jobs in one pass: what they burn, regular and on the reserve, the part
  // already told to stop, and how long running work takes to stop, as the operator counts its
  // pods (budget_planner.cc, MeterBudget).
  engine::StopLag stop_lag;
  for (size_t i : running_) {
    const Job& job = jobs_[i];
    if (job.budget != budget) {
      continue;
    }
    (job.on_reserve ? step.burn.reserve_rate : step.burn.regular_rate) += job.rate;
    (job.on_reserve ? step.burn.reserve_gpus : step.burn.regular_gpus) += job.trace->gpus;
    const bool stopping = job.stopping_until_s.has_value();
    if (stopping) {
      (job.on_reserve ? step.burn.reserve_stopping_rate : step.burn.stopping_rate) += job.rate;
      (job.on_reserve ? step.burn.reserve_stopping_gpus : step.burn.stopping_gpus) +=
          job.trace->gpus;
    }
    stop_lag.Add(job.rate,
                 stopping ? absl::Seconds(*job.stopping_until_s - now_s)
                          : scenario_.cluster.termination_grace,
                 stopping);
  }
  step.burn.stop_lag = stop_lag.Lag();
  step.gpu_hour_price = engine::GpuHourPrice(PoolPricesOf(b), step.burn, b.default_gpu_hour);
  return step;
}

std::vector<engine::PoolPrice> Simulation::PoolPricesOf(const Budget& b) const {
  std::vector<engine::PoolPrice> prices;
  for (int p : b.pools) {
    const Pool& pool = pools_[static_cast<size_t>(p)];
    prices.push_back(
        {.gpu_hour = pool.gpu_rate, .has_room = pool.free_gpus() > 0 || pool.can_grow()});
  }
  return prices;
}

DecisionTrace Simulation::TraceOf(Budget& b, int budget, const engine::BudgetStep& step) {
  DecisionTrace trace{.budget = b.spec->metadata.name,
                      .step = step,
                      .decision = b.decision,
                      .running = {},
                      .finished = {b.finished.begin(), b.finished.end()},
                      .waiting = b.pending.Front(b.lengths, DecisionTrace::kTracedWaiting)};
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
    b.gpu_hour_price = step.gpu_hour_price;
    if (options_.on_decision) {
      options_.on_decision(TraceOf(b, budget, step));
    }

    // Rungs entered: what Bursar did (or, for DryRun budgets, would have done).
    if (b.enforcement->FollowsLadder() && b.decision.rung > b.last_rung) {
      ++b.result.actions[api::Name(b.decision.rung)];
    }
    b.last_rung = b.decision.rung;

    b.cpu_memory_allowed.clear();
    if (!b.result.enforced) {
      continue;
    }
    // Enforced where the operator enforces them: its ResourceQuotas and its webhook (Kueue mode
    // writes GPUs only; mode None, nothing).
    const api::QuotaMode mode = b.spec->spec.quota.mode;
    if (b.enforcement->FollowsLadder() && engine::LimitsCpuOrMemory(b.spec->spec) &&
        (mode == api::QuotaMode::kResourceQuota || mode == api::QuotaMode::kWebhook)) {
      b.cpu_memory_allowed = engine::CpuMemoryAllowances(
          b.spec->spec, b.decision, step.burn, RunningRequests(budget), b.cpu_memory_prices);
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
      // Bursar's Drain counts money too, so CPU-only work is drained like GPU work.
      engine::KeepRunning keep{.gpus = *stop.keep_regular_gpus, .rate = std::nullopt};
      if (b.enforcement->FollowsLadder()) {
        keep.rate = b.decision.keep_running_rate;
      }
      DrainTo(budget, keep, false, now_s);
    }
    if (stop.keep_reserve_gpus.has_value()) {
      DrainTo(budget, {*stop.keep_reserve_gpus, std::nullopt}, true, now_s);
    }
    if (any_max_cost_ && b.enforcement->FollowsLadder()) {
      StopAtCaps(budget, step.lookahead, now_s);
    }
  }
}

void Simulation::StopAtCaps(int budget, absl::Duration lookahead, int64_t now_s) {
  std::vector<size_t> stop;
  for (size_t i : running_) {
    const Job& job = jobs_[i];
    if (job.budget != budget || !job.trace->max_cost.has_value() ||
        job.stopping_until_s.has_value()) {
      continue;
    }
    // Its charges so far: ended segments, and the running one up to now.
    const engine::JobUse used{
        .accrued = static_cast<values::Accrual>(job.cost.micros()) * values::kAccrualPerMicro +
                   static_cast<values::Accrual>(job.rate.micros()) * (now_s - job.run_since_s),
        .gpu_seconds = 0};
    if (engine::CapStop({.max_cost = job.trace->max_cost, .max_gpu_hours = std::nullopt}, used,
                        job.rate, job.trace->gpus, lookahead)
            .has_value()) {
      stop.push_back(i);
    }
  }
  for (size_t i : stop) {
    jobs_[i].capped = true;  // never queued again
    Suspend(i, now_s, false);
    ++budgets_[static_cast<size_t>(budget)].result.jobs_capped;
  }
}

bool Simulation::RefusedOverCap(const Budget& b, const Job& job) const {
  if (!b.result.enforced || !b.enforcement->FollowsLadder() || !job.trace->max_cost.has_value() ||
      !job.trace->expected_duration_s.has_value()) {
    return false;
  }
  std::optional<engine::Unaffordable> u = engine::CheckAffordable(
      {.max_cost = job.trace->max_cost, .max_gpu_hours = std::nullopt}, job.trace->gpus,
      absl::Seconds(*job.trace->expected_duration_s),
      engine::GpuHourPrice(PoolPricesOf(b), engine::BudgetBurn(), b.default_gpu_hour), std::nullopt,
      absl::InfiniteDuration());
  return u.has_value() && u->kind == engine::Unaffordable::Kind::kOverCap;
}

bool Simulation::Schedulable(const Job& job, const std::vector<int>& pools) const {
  for (int p : pools) {
    if (pools_[static_cast<size_t>(p)].capacity_gpus() >= job.trace->gpus) {
      return true;
    }
  }
  return job.trace->gpus == 0;
}

void Simulation::AddPending(Budget& b, size_t index) {
  const Job& job = jobs_[index];
  b.pending.Insert(index, *job.trace, b.lengths);
  b.pending_cpu_jobs += job.trace->gpus == 0 ? 1 : 0;
}

bool Simulation::HeldDuring(const Budget& b, int64_t from_s, int64_t to_s) const {
  // The first run that ends at or after from_s; held if it starts before to_s.
  auto it = std::lower_bound(b.holds.begin(), b.holds.end(), from_s,
                             [](const auto& run, int64_t t) { return run.second < t; });
  return it != b.holds.end() && it->first < to_s;
}

bool Simulation::HeldByBursar(const Budget& b, const Job& job, int64_t now_s) const {
  if (!b.enforcement->FollowsLadder()) {
    return false;
  }
  return job.state == JobState::kSuspended ||
         (!job.first_start_s.has_value() && HeldDuring(b, job.trace->submit_time_s, now_s));
}

void Simulation::Admit(int64_t now_s) {
  auto place = [&](const Job& job, const std::vector<int>& pools) -> int {
    for (int p : pools) {
      if (pools_[static_cast<size_t>(p)].free_gpus() >= job.trace->gpus) {
        return p;
      }
    }
    return -1;
  };
  for (size_t bi = 0; bi < budgets_.size(); ++bi) {
    Budget& b = budgets_[bi];
    int budget = static_cast<int>(bi);
    std::optional<int64_t> quota = QuotaFor(b);
    bool hold = HoldsNewWork(b);
    if (hold) {
      if (!b.holds.empty() && b.holds.back().second >= now_s - step_s_) {
        b.holds.back().second = now_s;
      } else {
        b.holds.emplace_back(now_s, now_s);
      }
    }
    int64_t used = RunningGpus(budget, false);
    int64_t reserve_used = RunningGpus(budget, true);
    int64_t free_gpus = 0;
    for (int p : b.pools) {
      free_gpus += std::max<int64_t>(0, pools_[static_cast<size_t>(p)].free_gpus());
    }
    const bool reserve_open =
        b.enforcement->UsesRetrainingReserve() && b.decision.reserve_allowed_gpus > 0;
    // Every pending Job is considered, in admission order (no head-of-line stop), until nothing
    // more can start: no free GPU or no quota left for GPU Jobs, and no CPU-only Job waiting
    // that could start.
    auto may_start = [&] {
      const bool gpu_jobs_may_start =
          free_gpus > 0 && ((!hold && (!quota.has_value() || used < *quota)) ||
                            (reserve_open && reserve_used < b.decision.reserve_allowed_gpus));
      const bool cpu_jobs_may_start = b.pending_cpu_jobs > 0 && (!hold || reserve_open);
      return gpu_jobs_may_start || cpu_jobs_may_start;
    };
    if (b.pending.empty() || !may_start()) {
      continue;
    }
    // cpu and memory the budget's quota allows (bursar policy, when listed): what its running
    // Jobs request leaves room for.
    engine::CpuMemory requested =
        b.cpu_memory_allowed.empty() ? engine::CpuMemory() : RunningRequests(budget);
    auto fits_cpu_memory = [&](const engine::CpuMemory& more) {
      auto within = [&](const char* resource, const values::Quantity& held,
                        const values::Quantity& want) {
        auto it = b.cpu_memory_allowed.find(resource);
        return it == b.cpu_memory_allowed.end() || held + want <= it->second;
      };
      return within("cpu", requested.cpu, more.cpu) &&
             within("memory", requested.memory, more.memory);
    };
    // Jobs Bursar holds (drained, or waiting while the budget held new work) are resumed only
    // within the start room, as the operator's Release resumes them.
    engine::StartRoom start_room(b.decision, b.gpu_hour_price, b.cpu_memory_prices);
    b.pending.Scan(b.lengths, [&](size_t index) {
      if (!may_start()) {
        return AdmissionQueue::Visit::kStop;
      }
      Job& job = jobs_[index];
      // A Job of a model the reserve is unlocked for draws on the reserve once it runs (the
      // operator meters it so): it starts only where the reserve has room for it.
      const bool draws_on_reserve = MayUseReserve(b, job);
      bool reserve = draws_on_reserve && b.decision.reserve_allowed_gpus > 0 &&
                     reserve_used + job.trace->gpus <= b.decision.reserve_allowed_gpus;
      bool fits_quota = !quota.has_value() || used + job.trace->gpus <= *quota;
      if (draws_on_reserve ? !reserve : (hold || !fits_quota)) {
        return AdmissionQueue::Visit::kSkip;
      }
      const engine::CpuMemory more = RequestsOf(job);
      if (!fits_cpu_memory(more)) {
        return AdmissionQueue::Visit::kSkip;
      }
      const bool resumed = !draws_on_reserve && HeldByBursar(b, job, now_s);
      const Money resumed_rate = resumed ? start_room.RateOf(job.trace->gpus, more) : Money();
      if (resumed && !start_room.Fits(job.trace->gpus, resumed_rate)) {
        return AdmissionQueue::Visit::kSkip;
      }
      int pool = job.trace->gpus == 0 ? b.pools.front() : place(job, b.pools);
      if (pool < 0) {
        return AdmissionQueue::Visit::kSkip;
      }
      Start(index, pool, now_s, reserve);
      if (resumed) {
        start_room.Take(job.trace->gpus, resumed_rate);
      }
      requested.cpu = requested.cpu + more.cpu;
      requested.memory = requested.memory + more.memory;
      (reserve ? reserve_used : used) += job.trace->gpus;
      free_gpus -= job.trace->gpus;
      b.pending_cpu_jobs -= job.trace->gpus == 0 ? 1 : 0;
      return AdmissionQueue::Visit::kTake;
    });
  }
  unbudgeted_pending_.Scan(unbudgeted_lengths_, [&](size_t index) {
    Job& job = jobs_[index];
    int pool = job.trace->gpus == 0 && !unbudgeted_pools_.empty() ? unbudgeted_pools_.front()
                                                                  : place(job, unbudgeted_pools_);
    if (pool < 0) {
      return AdmissionQueue::Visit::kSkip;
    }
    Start(index, pool, now_s, false);
    return AdmissionQueue::Visit::kTake;
  });
}

void Simulation::SizePools(int64_t now_s) {
  // Demand per pool: running work plus pending work each budget would admit now.
  std::vector<int64_t> demand(pools_.size(), 0);
  std::vector<std::vector<std::pair<int64_t, int>>> growers(pools_.size());
  for (size_t p = 0; p < pools_.size(); ++p) {
    demand[p] = pools_[p].used_gpus;
  }
  auto add_pending = [&](AdmissionQueue& pending, const engine::JobLengths& lengths,
                         const std::vector<int>& pools, int64_t allowance, int budget) {
    if (pools.empty()) {
      return;
    }
    int64_t headroom = 0;  // what the pools could still hold
    for (int p : pools) {
      const Pool& pool = pools_[static_cast<size_t>(p)];
      headroom += std::max<int64_t>(0, pool.capacity_gpus() - pool.used_gpus);
    }
    allowance = std::min(allowance, headroom);
    if (allowance <= 0 || pending.empty()) {
      return;
    }
    int64_t wanted = 0;
    pending.Scan(lengths, [&](size_t index) {
      if (wanted >= allowance) {
        return AdmissionQueue::Visit::kStop;
      }
      const Job& job = jobs_[index];
      if (wanted + job.trace->gpus <= allowance) {
        wanted += job.trace->gpus;  // wider jobs wait; narrower ones behind them still count
      }
      return AdmissionQueue::Visit::kSkip;
    });
    if (wanted == 0) {
      return;
    }
    // The first pool the budget may use (cheapest first) that may still grow takes the growth.
    size_t p = static_cast<size_t>(pools.front());
    for (int candidate : pools) {
      const Pool& pool = pools_[static_cast<size_t>(candidate)];
      if (pool.can_grow()) {
        p = static_cast<size_t>(candidate);
        break;
      }
    }
    if (budget != kNoBudget) {
      const Pool& pool = pools_[p];
      auto owned = pool.owned_nodes.find(budget);
      wanted = engine::GrowableDemandGpus(
          wanted, QuotaFor(budgets_[static_cast<size_t>(budget)]),
          owned == pool.owned_nodes.end() ? 0 : owned->second, pool.gpus_per_node(),
          int64_t{pool.total_nodes()} * pool.gpus_per_node() - pool.used_gpus);
    }
    if (wanted == 0) {
      return;
    }
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
    add_pending(b.pending, b.lengths, b.pools, allowance, static_cast<int>(bi));
  }
  add_pending(unbudgeted_pending_, unbudgeted_lengths_, unbudgeted_pools_,
              std::numeric_limits<int64_t>::max() / 4, kNoBudget);

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

}  // namespace bursar::sim::internal
