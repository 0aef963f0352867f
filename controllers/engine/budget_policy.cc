#include "controllers/engine/budget_policy.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/numeric/int128.h"
#include "absl/strings/str_format.h"

namespace bursar::engine {
namespace {

using api::BudgetPhase;
using api::LadderAction;

// One limit dimension, in micro-units of its own measure (money, or micro GPU-hours).
struct Dimension {
  const char* name;   // "amount" or "gpuHours"
  int64_t limit = 0;  // L
  int64_t spent = 0;  // regular + reserve
  int64_t reserve_spent = 0;
  int64_t rate = 0;  // regular, per hour, idle capacity included
  // The part of `rate` suspending Jobs cannot stop: idle capacity on nodes that also run work,
  // and work already stopping.
  int64_t unstoppable_rate = 0;
  // The part of `rate` on nodes wholly idle: Hold and Drain remove them at once (a tick at most).
  int64_t removable_rate = 0;
  int64_t reserve_rate = 0;
  int64_t reserve_unstoppable_rate = 0;  // the part of reserve_rate already stopping
  int64_t unit_price = 0;                // per GPU-hour
};

struct DimensionDecision {
  LadderAction rung = LadderAction::kNone;
  double usage_percent = 0;
  int64_t allowed_gpus = 0;
  double allowed_rate = 0;  // micro units per hour
  double carry_rate = 0;
  std::optional<int64_t> carry_gpus;
  std::optional<int64_t> keep_running;
  std::optional<double> keep_rate;
  int64_t reserve_allowed = 0;
  std::optional<int64_t> reserve_keep;
  // What more may start (micro units per hour, and in GPUs); nullopt: no Drain line.
  std::optional<double> start_room;
  std::optional<int64_t> start_gpus;
  bool exhausted = false;
  int64_t forecast = 0;
  bool forecast_over_limit = false;  // forecast > L of this dimension
  std::string reason;
};

double Hours(absl::Duration d) {
  return absl::ToDoubleHours(d);
}

// A whole number of GPUs held within what an int64 and any cluster can hold.
int64_t GpuCount(double gpus) {
  return gpus >= 1e12 ? int64_t{1'000'000'000'000} : static_cast<int64_t>(std::max(0.0, gpus));
}

int64_t FloorGpus(double micro_amount, double unit_price, double hours) {
  if (micro_amount <= 0 || unit_price <= 0 || hours <= 0) {
    return 0;
  }
  return GpuCount(std::floor(micro_amount / (unit_price * hours)));
}

// The lowest percent at which the ladder drains (a Drain threshold), if any.
std::optional<double> DrainLine(const std::vector<api::Threshold>& thresholds) {
  std::optional<double> line;
  for (const api::Threshold& t : thresholds) {
    if (t.action == LadderAction::kDrain && (!line.has_value() || t.percent < *line)) {
      line = t.percent;
    }
  }
  return line;
}

// The most whole GPUs whose cost over an hour stays below `micro_amount` (0 when none does).
int64_t GpusBelow(double micro_amount, double unit_price) {
  if (micro_amount <= 0 || unit_price <= 0) {
    return 0;
  }
  return GpuCount(std::ceil(micro_amount / unit_price) - 1);
}

LadderAction RungFor(const std::vector<api::Threshold>& thresholds, double usage_percent) {
  LadderAction rung = LadderAction::kNone;
  for (const api::Threshold& t : thresholds) {
    if (usage_percent >= t.percent) {
      rung = std::max(rung, t.action);
    }
  }
  return rung;
}

// The retraining reserve still kept from regular work at `in.now`: reservePercent of the limit,
// less what is released from releaseUnusedFromPercent of the period on (linearly, of the part no
// retraining has drawn on, all of it by the period's end).
int64_t ReservePot(const api::RetrainingSpec& retraining, const BudgetInputs& in,
                   const Dimension& d) {
  const int64_t reserve =
      static_cast<int64_t>(static_cast<absl::int128>(d.limit) * retraining.reserve_percent / 100);
  const double from = retraining.release_unused_from_percent / 100.0;
  const double elapsed = in.period.ElapsedFraction(in.now);
  if (reserve <= d.reserve_spent || from >= 1.0 || elapsed <= from) {
    return reserve;
  }
  const double unused = static_cast<double>(reserve - d.reserve_spent);
  const double released = unused * std::min(1.0, (elapsed - from) / (1.0 - from));
  return reserve - static_cast<int64_t>(released);
}

DimensionDecision Decide(const api::ComputeBudgetSpec& spec, const BudgetInputs& in,
                         const Dimension& d) {
  DimensionDecision out;
  const double lookahead_h = Hours(in.lookahead);
  const double left_h = std::max(Hours(in.period.end - in.now), 1.0 / 3600);
  const int64_t reserve = ReservePot(spec.retraining, in, d);
  const int64_t regular_limit = d.limit - reserve;
  const int64_t regular_spent = d.spent - d.reserve_spent;

  // What regular work may have spent by `t` (the paced line plus its burst, or the whole of it).
  auto ceiling_at = [&](absl::Time t) {
    double ceiling = static_cast<double>(regular_limit);
    if (spec.pacing.mode == api::PacingMode::kEven) {
      double burst = ceiling * spec.pacing.burst_percent / 100.0;
      ceiling = std::min(ceiling, ceiling * in.period.ElapsedFraction(t) + burst);
    }
    return ceiling;
  };
  const double ceiling_next = ceiling_at(in.now + in.lookahead);
  const double projected =
      static_cast<double>(regular_spent) + static_cast<double>(d.rate) * lookahead_h;
  out.usage_percent = ceiling_next > 0
                          ? 100.0 * projected / ceiling_next
                          : (projected > 0 ? std::numeric_limits<double>::infinity() : 0);
  out.rung = RungFor(spec.thresholds, out.usage_percent);
  // The start room: what more may start, per hour, and still run a whole lookahead before its
  // own projection reaches the Drain line, so that work Bursar resumes is not drained again at
  // the next pass: spent + burn x 2 lookaheads stays below the line at now + 2 lookaheads.
  if (std::optional<double> line = DrainLine(spec.thresholds); line.has_value()) {
    const absl::Duration start_lookahead = std::max(in.lookahead, in.start_lookahead);
    const double runway_h = 2 * std::max(Hours(start_lookahead), 1.0 / 3600);
    const double room = *line / 100.0 * ceiling_at(in.now + 2 * start_lookahead) -
                        static_cast<double>(regular_spent) - static_cast<double>(d.rate) * runway_h;
    out.start_room = std::max(0.0, room / runway_h);
    out.start_gpus = GpusBelow(*out.start_room, static_cast<double>(d.unit_price));
  }

  // Forecast-lands-on-limit allowance for the rest of the period.
  out.allowed_gpus = FloorGpus(static_cast<double>(regular_limit - regular_spent),
                               static_cast<double>(d.unit_price), left_h);
  out.allowed_rate = std::max(0.0, static_cast<double>(regular_limit - regular_spent) / left_h);
  out.carry_rate = out.allowed_rate;
  if (spec.pacing.mode == api::PacingMode::kEven) {
    // What the next period carries without draining: its even pace plus its burst allowance.
    absl::Duration next =
        in.next_period_length > absl::ZeroDuration() ? in.next_period_length : in.period.length();
    double pace = static_cast<double>(regular_limit) / std::max(Hours(next), 1.0 / 3600);
    constexpr double kLeastFraction = 1e-3;  // a quota at most 1000x what the next period carries
    out.carry_rate = std::min(out.allowed_rate, pace * (1 + spec.pacing.burst_percent / 100.0) /
                                                    std::max(in.carry_fraction, kLeastFraction));
    out.carry_gpus = FloorGpus(out.carry_rate, static_cast<double>(d.unit_price), 1.0);
  }
  // Work Drain suspends runs on, and costs, until it has stopped (stop_h, its pods' termination
  // grace); work it keeps costs the whole lookahead. So what may keep running is what `room`
  // pays for after the unstoppable burn and the suspended work's last stretch, over the part of
  // the lookahead the kept work costs more than suspended work: in money per hour, for a pot
  // burning `rate` of which `unstoppable` is idle or already stopping.
  // Nodes wholly idle go at once when the budget holds or drains (the same pass sizes its pools),
  // so they cost at most a metering tick, whatever the lookahead.
  // (The operator's lookahead is a tick longer than the stop lag: LookaheadWithStop.)
  const double stop_h = std::min(Hours(in.stop_lag), lookahead_h);
  const double kept_h = std::max(lookahead_h - stop_h, 1.0 / 3600);
  const double removed_h = std::min(Hours(in.tick), lookahead_h);
  auto keep_rate = [&](double room, int64_t rate, int64_t unstoppable, int64_t removable) {
    return (room - static_cast<double>(unstoppable) * lookahead_h -
            static_cast<double>(removable) * removed_h -
            static_cast<double>(rate - unstoppable - removable) * stop_h) /
           kept_h;
  };
  if (out.rung >= LadderAction::kDrain) {
    const double keep = keep_rate(ceiling_next - static_cast<double>(regular_spent), d.rate,
                                  d.unstoppable_rate, d.removable_rate);
    out.keep_running = FloorGpus(keep, static_cast<double>(d.unit_price), 1.0);
    out.keep_rate = std::max(0.0, keep);
  }
  // Out of regular budget: not even one GPU fits for one lookahead.
  out.exhausted = static_cast<double>(regular_limit - regular_spent) <
                  static_cast<double>(d.unit_price) * lookahead_h;

  // The reserve pot, paced None, guarded by the same lookahead projection.
  if (in.reserve_unlocked && reserve > 0) {
    double reserve_left = static_cast<double>(reserve - d.reserve_spent);
    out.reserve_allowed =
        FloorGpus(reserve_left, static_cast<double>(d.unit_price), std::min(left_h, 1.0));
    if (static_cast<double>(d.reserve_spent) + static_cast<double>(d.reserve_rate) * lookahead_h >=
        static_cast<double>(reserve)) {
      // What fits beside retraining work already stopping and what the retraining it suspends
      // draws while it stops, as Drain keeps regular work.
      out.reserve_keep =
          FloorGpus(keep_rate(reserve_left, d.reserve_rate, d.reserve_unstoppable_rate, 0),
                    static_cast<double>(d.unit_price), 1.0);
      out.reserve_allowed = 0;
    }
  }
  out.forecast =
      d.spent + static_cast<int64_t>(static_cast<double>(d.rate + d.reserve_rate) * left_h);
  out.forecast_over_limit = out.forecast > d.limit;
  out.reason =
      absl::StrFormat("%s: %.1f%% of the %s ceiling projected %s ahead", d.name, out.usage_percent,
                      spec.pacing.mode == api::PacingMode::kEven ? "paced" : "period",
                      absl::FormatDuration(in.lookahead));
  return out;
}

// A non-negative amount in micro units, held within what Money can hold.
values::Money MoneyOfMicros(double micros) {
  constexpr double kMost = 9e18;
  return values::Money::FromMicros(static_cast<int64_t>(std::clamp(micros, 0.0, kMost)));
}

int64_t MicroGpuHours(int64_t gpu_seconds) {
  return static_cast<int64_t>(static_cast<absl::int128>(gpu_seconds) * 1'000'000 / 3600);
}

std::optional<int64_t> MinOpt(std::optional<int64_t> a, std::optional<int64_t> b) {
  if (!a.has_value()) {
    return b;
  }
  if (!b.has_value()) {
    return a;
  }
  return std::min(*a, *b);
}

}  // namespace

values::Money ReserveOf(values::Money limit, int reserve_percent) {
  return limit.MulDiv(reserve_percent, 100, values::Rounding::kDown);
}

BudgetDecision DecideBudget(const api::ComputeBudgetSpec& spec, const BudgetInputs& in) {
  std::vector<DimensionDecision> decisions;
  std::optional<size_t> money_index;
  if (spec.limit.amount.has_value()) {
    Dimension d{.name = "amount",
                .limit = spec.limit.amount->micros(),
                .spent = in.spent.micros(),
                .reserve_spent = in.reserve_spent.micros(),
                .rate = in.rate_per_hour.micros(),
                .unstoppable_rate =
                    (in.idle_rate_per_hour - in.idle_node_rate_per_hour + in.stopping_rate_per_hour)
                        .micros(),
                .removable_rate = in.idle_node_rate_per_hour.micros(),
                .reserve_rate = in.reserve_rate_per_hour.micros(),
                .reserve_unstoppable_rate = in.reserve_stopping_rate_per_hour.micros(),
                .unit_price = std::max<int64_t>(in.gpu_hour_price.micros(), 1)};
    money_index = decisions.size();
    decisions.push_back(Decide(spec, in, d));
  }
  if (spec.limit.gpu_hours.has_value()) {
    // In GPU-hours one GPU-hour costs exactly one unit; rates are the running GPUs.
    Dimension d{
        .name = "gpuHours",
        .limit = spec.limit.gpu_hours->micros(),
        .spent = MicroGpuHours(in.gpu_seconds),
        .reserve_spent = MicroGpuHours(in.reserve_gpu_seconds),
        .rate = (in.running_gpus + in.idle_gpus) * 1'000'000,
        .unstoppable_rate = (in.idle_gpus - in.idle_node_gpus + in.stopping_gpus) * 1'000'000,
        .removable_rate = in.idle_node_gpus * 1'000'000,
        .reserve_rate = in.reserve_running_gpus * 1'000'000,
        .reserve_unstoppable_rate = in.reserve_stopping_gpus * 1'000'000,
        .unit_price = 1'000'000};
    decisions.push_back(Decide(spec, in, d));
  }

  BudgetDecision out;
  out.burn_rate = in.rate_per_hour + in.reserve_rate_per_hour;
  if (decisions.empty()) {
    out.reason = "no limit set";
    return out;
  }
  // The stricter dimension binds: the higher rung, then the smaller allowances.
  size_t binding = 0;
  for (size_t i = 0; i < decisions.size(); ++i) {
    const DimensionDecision& d = decisions[i];
    if (d.rung > decisions[binding].rung ||
        (d.rung == decisions[binding].rung && d.usage_percent > decisions[binding].usage_percent)) {
      binding = i;
    }
  }
  out.rung = decisions[binding].rung;
  out.usage_percent = decisions[binding].usage_percent;
  out.reason = decisions[binding].reason;
  out.allowed_gpus = decisions[0].allowed_gpus;
  out.reserve_allowed_gpus = decisions[0].reserve_allowed;
  if (money_index.has_value()) {
    const DimensionDecision& money = decisions[*money_index];
    out.allowed_rate = MoneyOfMicros(money.allowed_rate);
    out.carry_rate = MoneyOfMicros(money.carry_rate);
    if (money.start_room.has_value()) {
      out.start_rate = MoneyOfMicros(*money.start_room);
    }
    if (money.keep_rate.has_value()) {
      out.keep_running_rate = MoneyOfMicros(*money.keep_rate);
    }
  }
  bool exhausted = false;
  bool any_forecast_over_limit = false;  // the stricter dimension decides AtRisk too
  for (const DimensionDecision& d : decisions) {
    out.allowed_gpus = std::min(out.allowed_gpus, d.allowed_gpus);
    out.reserve_allowed_gpus = std::min(out.reserve_allowed_gpus, d.reserve_allowed);
    out.keep_running_gpus = MinOpt(out.keep_running_gpus, d.keep_running);
    out.carry_gpus = MinOpt(out.carry_gpus, d.carry_gpus);
    out.reserve_keep_running_gpus = MinOpt(out.reserve_keep_running_gpus, d.reserve_keep);
    out.start_gpus = MinOpt(out.start_gpus, d.start_gpus);
    exhausted = exhausted || d.exhausted;
    any_forecast_over_limit = any_forecast_over_limit || d.forecast_over_limit;
  }
  if (out.keep_running_gpus.has_value()) {
    out.keep_running_gpus = std::clamp<int64_t>(*out.keep_running_gpus, 0, in.running_gpus);
  }
  if (out.reserve_keep_running_gpus.has_value()) {
    out.reserve_keep_running_gpus =
        std::clamp<int64_t>(*out.reserve_keep_running_gpus, 0, in.reserve_running_gpus);
  }

  switch (out.rung) {
    case LadderAction::kDrain:
    case LadderAction::kHold:
      out.hold_new_work = true;
      out.quota_gpus = std::min(in.running_gpus, out.keep_running_gpus.value_or(in.running_gpus));
      break;
    case LadderAction::kThrottle:
      out.quota_gpus = std::min(out.allowed_gpus, out.carry_gpus.value_or(out.allowed_gpus));
      break;
    case LadderAction::kNotify:
    case LadderAction::kNone:
      // Even pacing paces from the first minute: the quota always lands the forecast on the
      // limit, capped by what the next period carries; the rungs above only act when spend
      // still runs ahead of the paced ceiling.
      if (spec.pacing.mode == api::PacingMode::kEven) {
        out.quota_gpus = std::min(out.allowed_gpus, out.carry_gpus.value_or(out.allowed_gpus));
      }
      break;
  }

  // The money view for status: money when the budget has an amount, else GPU-hours.
  const DimensionDecision& view = decisions[money_index.value_or(0)];
  int64_t limit =
      money_index.has_value() ? spec.limit.amount->micros() : spec.limit.gpu_hours->micros();
  int64_t spent = money_index.has_value() ? in.spent.micros() : MicroGpuHours(in.gpu_seconds);
  int64_t rate = money_index.has_value()
                     ? out.burn_rate.micros()
                     : (in.running_gpus + in.idle_gpus + in.reserve_running_gpus) * 1'000'000;
  out.burn_rate =
      values::Money::FromMicros(rate);  // in the view's unit, like forecast and remaining
  out.forecast = values::Money::FromMicros(view.forecast);
  out.remaining = values::Money::FromMicros(limit - spent);
  out.forecast_over_limit = view.forecast > limit;
  if (rate > 0 && spent < limit) {
    absl::Duration to_exhaustion =
        absl::Seconds(static_cast<double>(limit - spent) / static_cast<double>(rate) * 3600.0);
    if (in.now + to_exhaustion < in.period.end) {
      out.exhausts_at = in.now + to_exhaustion;
    }
  } else if (spent >= limit) {
    out.exhausts_at = in.now;
  }

  if (exhausted && out.rung >= LadderAction::kHold) {
    out.phase = BudgetPhase::kExhausted;
  } else if (out.rung >= LadderAction::kHold) {
    out.phase = BudgetPhase::kHeld;
  } else if (out.rung == LadderAction::kThrottle) {
    out.phase = BudgetPhase::kThrottled;
  } else if (out.rung == LadderAction::kNotify || any_forecast_over_limit) {
    out.phase = BudgetPhase::kAtRisk;
  } else {
    out.phase = BudgetPhase::kWithinBudget;
  }
  return out;
}

}  // namespace bursar::engine
