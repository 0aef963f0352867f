#pragma once

// BudgetPolicy: given where a budget stands now, decide the rung of the enforcement ladder,
// the GPU quota, what to hold and what to drain. Pure: the same inputs give the same decision
// in the operator, in `bursar simulate` and in tests.
//
// Terms (per limit dimension: money, and GPU-hours when the budget sets gpuHours):
//   L        the period's limit; R = reservePercent x L the retraining reserve. From
//            releaseUnusedFromPercent of the period on, the part of R no retraining drew on is
//            released to regular work, linearly, all of it by the period's end.
//   Le       L - R, what regular work may spend. The reserve is a separate pot that only
//            retraining jobs of a model with a fresh modelDrift unlock may draw from.
//   ceiling  what regular work may have spent by time t: Le for pacing None; for Even,
//            min(Le, Le x elapsedFraction(t) + burstPercent x Le).
//   usage    (spent + burn x lookahead) / ceiling(now + lookahead), in percent. Projecting the
//            current burn one lookahead (>= one metering tick) ahead is what makes Bursar act
//            before a line is crossed, not after. The lookahead covers the time a suspension
//            takes to stop the meter: at least a tick, or the running pods' termination grace
//            when longer (StopLag and LookaheadWithStop, budget_step.h).
//   rung     the highest threshold whose percent <= usage.
//   start    (drainLine x ceiling(now + 2 lookaheads) - spent - burn x 2 lookaheads) /
//            (2 lookaheads), the burn that work Bursar holds may add when it is resumed and still
//            run a whole lookahead before its own projection reaches the Drain line (the lowest
//            Drain percent). Release resumes held work only within it: resumed beyond it, the
//            next passes would drain it again. The lookahead here is the one the resumed work
//            brings (start_lookahead: its pods' termination grace), so that a Job that takes
//            10 minutes to stop is not resumed into a Drain it would cost 10 minutes of.
// Actions per rung: Throttle sets the quota so that the forecast lands on the limit
// (allowedGPUs = (Le - spent) / (gpuHourPrice x time left)); with Even pacing that quota holds
// on every rung below Hold too, so spend is paced from the start and the burst allowance is a
// tolerance band for price and idle-capacity surprises rather than extra quota; Hold pins the quota
// to the GPUs in use and holds new work; Drain keeps only as many running GPUs as fit under the
// ceiling over the lookahead, after idle capacity and work already stopping, and after what the
// work it suspends costs until it has stopped (stop_lag): kept GPUs cost the whole lookahead,
// suspended ones stop_lag of it (the rest are suspended, lowest priority first, by the caller).
// When two dimensions apply, the stricter decision wins.
//
// Commitments across the boundary (Even pacing): work admitted now may still run when the next
// period starts, whose pacing line restarts at zero. The next period can carry, without draining
// anything, regular work burning at most its even pace plus its burst allowance:
//   carryRate = Le / nextPeriodLength x (1 + burstPercent / 100).
// Of the work admitted now, the share carry_fraction is expected to outlive the period (learned
// from how long the budget's Jobs ran: early in a period almost none, in its last hours almost
// all). So the quota is at most carryRate / carry_fraction: however much money is left late in a
// period, it does not start work the next period must drain (docs/concepts.md, "Commitments").

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"

namespace bursar::engine {

struct BudgetInputs {
  absl::Time now;
  values::Period period;
  // Spend in the period so far: everything, and the part charged to the retraining reserve.
  values::Money spent;
  values::Money reserve_spent;
  int64_t gpu_seconds = 0;
  int64_t reserve_gpu_seconds = 0;
  // Current burn per hour: regular work (including idle capacity charged to the budget), and
  // retraining work drawing on the reserve.
  values::Money rate_per_hour;
  values::Money reserve_rate_per_hour;
  // The part of rate_per_hour that is idle capacity this budget pays for (a pool it grew), and
  // its devices. Suspending Jobs cannot stop it; only removing the nodes can.
  values::Money idle_rate_per_hour;
  int64_t idle_gpus = 0;
  // The part of idle_rate_per_hour and idle_gpus on nodes wholly idle, which a Hold or Drain
  // removes at once (the same pass sizes the pools): Drain counts them for a tick, not the
  // whole lookahead.
  values::Money idle_node_rate_per_hour;
  int64_t idle_node_gpus = 0;
  // The part of rate_per_hour and running_gpus already told to stop (pods being deleted, within
  // their grace): suspending more Jobs does not stop it sooner either.
  values::Money stopping_rate_per_hour;
  int64_t stopping_gpus = 0;
  // The same of reserve_rate_per_hour and reserve_running_gpus: retraining work already stopping
  // still draws on the reserve until it has stopped.
  values::Money reserve_stopping_rate_per_hour;
  int64_t reserve_stopping_gpus = 0;
  int64_t running_gpus = 0;          // regular work
  int64_t reserve_running_gpus = 0;  // retraining work on the reserve
  // Price of one more GPU-hour of this budget's work (converts money into GPUs). Must be > 0.
  values::Money gpu_hour_price;
  // Whether a modelDrift signal has unlocked the reserve (see RetrainingGate).
  bool reserve_unlocked = false;
  absl::Duration lookahead = absl::Minutes(2);
  // How long work told to stop now runs on, and costs, before it has stopped (StopLag: its pods'
  // termination grace, at most kMaxStopLag); at most the lookahead counts. Zero: at once.
  absl::Duration stop_lag;
  // The next period's length (Even pacing's carry rate); zero means as long as this one.
  absl::Duration next_period_length;
  // The share of work admitted now expected to still run when this period ends (JobLengths);
  // 1 when unknown. The quota may be as large as carryRate / carry_fraction.
  double carry_fraction = 1.0;
  // The lookahead of the start room: the one work Release resumes would bring (its pods'
  // termination grace, LookaheadWithStop), at least `lookahead`. Zero: `lookahead`.
  absl::Duration start_lookahead;
  // One metering tick (a kLookaheadTicks-th of the lookahead before the stop lag): how long a
  // wholly idle node a Hold or Drain removes is still billed, at most.
  absl::Duration tick;
};

struct BudgetDecision {
  api::LadderAction rung = api::LadderAction::kNone;
  api::BudgetPhase phase = api::BudgetPhase::kWithinBudget;
  double usage_percent = 0;  // of the binding dimension
  // Quota for regular work in GPUs; nullopt when nothing constrains it (pacing None below
  // Throttle). With Even pacing it is always set.
  std::optional<int64_t> quota_gpus;
  // The forecast-lands-on-limit allowance, always computed (status.allowedGPUs).
  int64_t allowed_gpus = 0;
  // The same allowance as money per hour for regular work (idle capacity included), for work
  // whose cost is not GPUs (CPU-only and mixed pods), and the part of it that work running on
  // into the next period may hold (Even pacing; the whole allowance otherwise). Money budgets
  // only; zero for GPU-hours-only budgets.
  values::Money allowed_rate;
  values::Money carry_rate;
  // carry_rate in GPUs (Even pacing), the cap on quota_gpus.
  std::optional<int64_t> carry_gpus;
  bool hold_new_work = false;
  // Drain: how many running regular GPUs may keep running (the rest are suspended), and the same
  // as money per hour (money budgets), which CPU-only work counts against too.
  std::optional<int64_t> keep_running_gpus;
  std::optional<values::Money> keep_running_rate;
  // Retraining on the reserve: GPUs it may use (sized so the remaining reserve lasts at least
  // an hour, or the rest of the period if shorter), and how many may keep running (beside
  // retraining work already stopping, which draws on the reserve until it has stopped).
  int64_t reserve_allowed_gpus = 0;
  std::optional<int64_t> reserve_keep_running_gpus;
  // The start room: the GPUs, and (money budgets) the money per hour, that work Bursar holds may
  // add when it is resumed and still run a whole lookahead before its projection reaches the
  // Drain line (the lowest Drain threshold), so that what Release resumes is not drained again
  // at the next pass. Zero at or above the line; nullopt when the ladder never drains.
  std::optional<int64_t> start_gpus;
  std::optional<values::Money> start_rate;
  // Money view for status (the money dimension when set, else GPU-hours in micro units).
  values::Money forecast;
  values::Money remaining;
  values::Money burn_rate;
  std::optional<absl::Time> exhausts_at;
  bool forecast_over_limit = false;
  std::string reason;  // one human sentence: which dimension bound, and why this rung
};

BudgetDecision DecideBudget(const api::ComputeBudgetSpec& spec, const BudgetInputs& in);

// The reserve: L x reservePercent / 100 (for the money limit; GPU-hours likewise).
values::Money ReserveOf(values::Money limit, int reserve_percent);

}  // namespace bursar::engine
