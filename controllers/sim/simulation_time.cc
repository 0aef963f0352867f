// Time passing in the simulated cluster (simulation.h): Jobs run, finish and are suspended, their
// spend and idle capacity are charged, the ledgers are metered and roll over at period ends, and
// modelDrift reports and Job arrivals are delivered.

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/pool_sizing.h"
#include "controllers/sim/simulation.h"
#include "controllers/values/ledger.h"
#include "controllers/values/strings.h"

namespace bursar::sim::internal {

namespace {

// `worked` seconds of `job` pass: the first of them redo work a resume lost.
void WorkOff(Job& job, int64_t worked) {
  int64_t redo = std::min(worked, job.redo_s);
  job.redo_s -= redo;
  job.lost_gpu_s += redo * job.trace->gpus;
}

}  // namespace

void Simulation::EndSegment(Job& job, int64_t end_s, bool ended) {
  if (ended) {
    job.paid_s += end_s - job.run_since_s;
    job.cost += job.rate.MulDiv(end_s - job.run_since_s, 3600);
  }
  if (job.budget == kNoBudget) {
    // Unbudgeted spend is still metered, for the report: rate x seconds since the last tick.
    return;
  }
  Charge c{job.uid, At(job.run_since_s), At(end_s), job.rate, job.trace->gpus,
           ended,   job.on_reserve};
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
  } else {
    job.remaining_s += absl::ToInt64Seconds(scenario_.cluster.restart_penalty);
    job.redo_s += absl::ToInt64Seconds(scenario_.cluster.restart_penalty);
  }
  running_.push_back(index);
}

void Simulation::Release(Job& job) {
  Pool& pool = pools_[static_cast<size_t>(job.pool)];
  pool.used_gpus -= job.trace->gpus;
  pool.used_by[job.budget] -= job.trace->gpus;
  job.pool = -1;
}

void Simulation::Suspend(size_t index, int64_t now_s, bool boundary) {
  Job& job = jobs_[index];
  job.ever_suspended = true;
  ++job.suspensions;
  if (job.budget != kNoBudget) {
    Budget& b = budgets_[static_cast<size_t>(job.budget)];
    ++b.result.suspensions;
    // Decide runs after Meter, so the ledger is already in the period of now_s.
    if (boundary && At(job.run_since_s) < b.ledger->period().start) {
      ++b.result.boundary_drains;
    }
  }
  const int64_t grace = absl::ToInt64Seconds(scenario_.cluster.termination_grace);
  if (grace > 0) {
    job.stopping_until_s = now_s + grace;
    return;
  }
  CompleteStop(index, now_s);
}

void Simulation::CompleteStop(size_t index, int64_t at_s) {
  Job& job = jobs_[index];
  EndSegment(job, at_s, true);
  Release(job);
  job.state = JobState::kSuspended;
  job.stopping_until_s.reset();
  running_.erase(std::find(running_.begin(), running_.end(), index));
  if (!job.capped && job.budget != kNoBudget) {
    AddPending(budgets_[static_cast<size_t>(job.budget)], index);
  }
}

void Simulation::Finish(size_t index, int64_t end_s) {
  Job& job = jobs_[index];
  EndSegment(job, end_s, true);
  Release(job);
  job.state = JobState::kCompleted;
  job.finish_s = end_s;
  if (job.budget != kNoBudget) {
    Budget& b = budgets_[static_cast<size_t>(job.budget)];
    ++b.result.jobs_completed;
    b.result.completed_gpu_hours +=
        static_cast<double>(job.trace->gpus) * static_cast<double>(job.trace->duration_s) / 3600.0;
    b.lengths.Add(absl::Seconds(end_s - job.run_since_s), job.trace->gpus, job.trace->model,
                  At(end_s));
    b.finished.push_back({.uid = job.uid,
                          .gpus = job.trace->gpus,
                          .model = job.trace->model,
                          .since = At(job.run_since_s),
                          .end = At(end_s)});
    if (b.finished.size() > engine::JobLengths::kCapacity) {
      b.finished.pop_front();
    }
  }
}

void Simulation::Advance(int64_t from_s, int64_t to_s) {
  // Jobs whose pods end inside the step: finished, or stopped at the end of their grace.
  struct Ending {
    int64_t at;
    size_t index;
    bool stop;
  };
  std::vector<Ending> endings;
  for (size_t index : running_) {
    Job& job = jobs_[index];
    if (job.retrain && job.budget != kNoBudget) {
      // A retraining Job draws on the reserve exactly while its model is unlocked in the period
      // it is charged in, as the operator meters it: one that started as regular work draws on
      // the reserve from its model's unlock on, and a new period locks the reserve again and
      // makes it regular work, paced as such.
      const Budget& b = budgets_[static_cast<size_t>(job.budget)];
      job.on_reserve = b.enforcement->UsesRetrainingReserve() &&
                       engine::DrawsOnReserve(b.spec->spec.retraining, b.gate, job.retrain,
                                              job.trace->model, b.calendar->Containing(At(to_s)));
    }
    if (job.stopping_until_s.has_value()) {
      // Told to stop: it runs on, and costs, doing no more work, until its grace ends.
      if (*job.stopping_until_s <= to_s) {
        endings.push_back({std::max(from_s, *job.stopping_until_s), index, true});
      } else {
        EndSegment(job, to_s, false);
      }
      continue;
    }
    int64_t worked = to_s - from_s;
    if (job.remaining_s <= worked) {
      endings.push_back({from_s + job.remaining_s, index, false});
      continue;
    }
    job.remaining_s -= worked;
    WorkOff(job, worked);
    if (job.budget == kNoBudget) {
      unbudgeted_spent_ += job.rate.MulDiv(worked, 3600);
    } else {
      EndSegment(job, to_s, false);
    }
  }
  // A Job that ends inside the step frees its GPUs at its end: idle capacity is charged piece
  // by piece between those ends, so no GPU-second is charged both to a Job and as idle.
  std::stable_sort(endings.begin(), endings.end(),
                   [](const Ending& a, const Ending& b) { return a.at < b.at; });
  int64_t idle_from = from_s;
  for (const Ending& e : endings) {
    Job& job = jobs_[e.index];
    if (e.at > idle_from) {
      ChargeIdle(idle_from, e.at);
      idle_from = e.at;
    }
    if (e.stop) {
      CompleteStop(e.index, e.at);
      continue;
    }
    if (job.budget == kNoBudget) {
      unbudgeted_spent_ += job.rate.MulDiv(job.remaining_s, 3600);
    }
    WorkOff(job, job.remaining_s);
    job.remaining_s = 0;
    Finish(e.index, e.at);
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
  r.overspend = std::max(0.0, r.spent - r.limit);
  // Over either limit, compared exactly: micro-units of money, GPU-seconds against micro
  // GPU-hours x 3600 / 10^6.
  bool over_money = limit.amount.has_value() && b.ledger->spent() > *limit.amount;
  bool over_gpu_hours = false;
  if (limit.gpu_hours.has_value()) {
    r.gpu_hours_limit = limit.gpu_hours->ToDouble();
    r.gpu_hours_overspend = std::max(0.0, r.gpu_hours - *r.gpu_hours_limit);
    over_gpu_hours = absl::int128(b.ledger->gpu_seconds()) * Money::kMicrosPerUnit >
                     absl::int128(limit.gpu_hours->micros()) * 3600;
  }
  r.over_limit = over_money || over_gpu_hours;
  b.cost += b.ledger->spent();
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
    Budget* b = job.budget == kNoBudget ? nullptr : &budgets_[static_cast<size_t>(job.budget)];
    if (b != nullptr) {
      ++b->result.jobs_submitted;
    }
    if (!Schedulable(job, b != nullptr ? b->pools : unbudgeted_pools_)) {
      ++unschedulable_;
      job.state = JobState::kCompleted;  // can never run: dropped
    } else if (b == nullptr) {
      unbudgeted_pending_.Insert(index, *job.trace, unbudgeted_lengths_);
    } else if (RefusedOverCap(*b, job)) {
      job.capped = true;  // the webhook refuses it: it never runs
      job.state = JobState::kCompleted;
      ++b->result.jobs_refused_over_cap;
    } else {
      AddPending(*b, index);
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

}  // namespace bursar::sim::internal
