#include "controllers/engine/budget_step.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace bursar::engine {
namespace {
constexpr char kRetrainPurpose[] = "retrain";
}  // namespace

values::Money GpuHourPrice(std::span<const PoolPrice> pools, const BudgetBurn& burn,
                           values::Money default_gpu_hour) {
  std::optional<values::Money> cheapest_with_room;
  values::Money dearest;
  for (const PoolPrice& pool : pools) {
    dearest = values::Max(dearest, pool.gpu_hour);
    if (pool.has_room && !pool.gpu_hour.IsZero()) {
      cheapest_with_room = cheapest_with_room.has_value()
                               ? values::Min(*cheapest_with_room, pool.gpu_hour)
                               : pool.gpu_hour;
    }
  }
  values::Money price = cheapest_with_room.value_or(dearest);
  if (!price.IsZero()) {
    return price;
  }
  // No pool price: what runs now, but never below the price book's default. The mix of what
  // runs changes with every Job that starts or ends (spot and on-demand GPUs 2.5x apart), and an
  // allowance priced at the cheap end of it admits work that lands on the dear end; a default
  // set to the dearest GPU keeps the allowance steady and on the safe side.
  if (burn.regular_gpus > 0) {
    return values::Max(default_gpu_hour, burn.regular_rate.MulDiv(1, burn.regular_gpus));
  }
  return default_gpu_hour;
}

namespace {

// One resource's allowance: `in_use` plus what `headroom_per_hour` buys of it at `unit_price`.
values::Quantity AllowanceOf(const values::Quantity& in_use, values::Money headroom_per_hour,
                             values::Money unit_price, bool memory) {
  double units =
      static_cast<double>(headroom_per_hour.micros()) / static_cast<double>(unit_price.micros());
  constexpr double kMaxUnits = 1e12;  // far beyond any cluster; keeps the conversions exact
  units = std::min(units, kMaxUnits);
  if (memory) {
    // Whole MiB, written in binary units ("392Mi").
    int64_t mib = (in_use.Value() >> 20) + static_cast<int64_t>(units * 1024);
    return values::Quantity::FromUnits(mib << 20, values::Quantity::Format::kBinarySI);
  }
  return in_use + values::Quantity::FromMilli(static_cast<int64_t>(units * 1000));
}

}  // namespace

UnitPrices CpuMemoryPrices(std::span<const UnitPrices> pools, const api::PriceDefaults& defaults) {
  UnitPrices out;
  out.cpu_core_hour = defaults.cpu_core_hour;
  out.memory_gib_hour = defaults.memory_gib_hour;
  for (const UnitPrices& pool : pools) {
    out.cpu_core_hour = values::Max(out.cpu_core_hour, pool.cpu_core_hour);
    out.memory_gib_hour = values::Max(out.memory_gib_hour, pool.memory_gib_hour);
  }
  return out;
}

StartRoom::StartRoom(const BudgetDecision& decision, values::Money gpu_hour_price,
                     const UnitPrices& cpu_memory_prices)
    : gpus_(decision.start_gpus), rate_(decision.start_rate), prices_(cpu_memory_prices) {
  prices_.gpu_hour = gpu_hour_price;
}

values::Money StartRoom::RateOf(int64_t gpus, const CpuMemory& requests) const {
  const ContainerResources work{.cpu_request = requests.cpu,
                                .memory_request = requests.memory,
                                .gpus = gpus,
                                .cpu_usage = std::nullopt,
                                .memory_usage = std::nullopt};
  return PodRatePerHour({&work, 1}, prices_);
}

bool StartRoom::Fits(int64_t gpus, values::Money rate) const {
  if (gpus_.has_value() && gpus > *gpus_) {
    return false;
  }
  // Strictly below: work that reaches the Drain line would be drained at once.
  return !rate_.has_value() || rate == values::Money() || rate < *rate_;
}

void StartRoom::Take(int64_t gpus, values::Money rate) {
  if (gpus_.has_value()) {
    *gpus_ -= gpus;
  }
  if (rate_.has_value()) {
    *rate_ -= rate;
  }
}

bool LimitsCpuOrMemory(const api::ComputeBudgetSpec& spec) {
  const std::vector<std::string>& resources = spec.quota.resources;
  return spec.limit.amount.has_value() &&
         std::any_of(resources.begin(), resources.end(),
                     [](const std::string& r) { return r == "cpu" || r == "memory"; });
}

std::map<std::string, values::Quantity> CpuMemoryAllowances(const api::ComputeBudgetSpec& spec,
                                                            const BudgetDecision& decision,
                                                            const BudgetBurn& burn,
                                                            const CpuMemory& in_use,
                                                            const UnitPrices& prices) {
  std::map<std::string, values::Quantity> out;
  if (!LimitsCpuOrMemory(spec)) {
    return out;
  }
  const bool hold = decision.hold_new_work || decision.keep_running_gpus.has_value();
  const values::Money headroom =
      hold ? values::Money()
           : values::Max(values::Money(), decision.carry_rate - burn.regular_rate - burn.idle_rate);
  // A resource the price book gives away costs the budget nothing: it is not limited.
  for (const std::string& resource : spec.quota.resources) {
    if (resource == "cpu" && prices.cpu_core_hour.micros() > 0) {
      out[resource] = AllowanceOf(in_use.cpu, headroom, prices.cpu_core_hour, false);
    } else if (resource == "memory" && prices.memory_gib_hour.micros() > 0) {
      out[resource] = AllowanceOf(in_use.memory, headroom, prices.memory_gib_hour, true);
    }
  }
  return out;
}

bool DrawsOnReserve(const api::RetrainingSpec& retraining, const RetrainingGate& gate,
                    bool retraining_work, const std::string& model, const values::Period& period) {
  return retraining.reserve_percent > 0 && retraining_work && gate.IsUnlocked(model, period);
}

bool IsRetrainingWork(values::LabelsRef labels, const api::RetrainingSpec& retraining,
                      std::string* model) {
  std::optional<std::string_view> purpose = labels.Find(retraining.purpose_label);
  std::optional<std::string_view> m = labels.Find(retraining.model_label);
  if (!purpose.has_value() || *purpose != kRetrainPurpose || !m.has_value()) {
    return false;
  }
  *model = std::string(*m);
  return true;
}

absl::Duration LookaheadWithStop(absl::Duration lookahead, absl::Duration stop_lag) {
  const absl::Duration tick = lookahead / kLookaheadTicks;
  const absl::Duration stop = std::min(stop_lag, kMaxStopLag);
  return stop > tick ? lookahead - tick + stop : lookahead;
}

absl::Duration StopLagToRelease(absl::Duration lookahead, absl::Duration stop_lag,
                                bool pays_for_nodes) {
  const absl::Duration stop = std::min(stop_lag, kMaxStopLag);
  const absl::Duration tick = lookahead / kLookaheadTicks;
  if (!pays_for_nodes || stop <= absl::ZeroDuration() || tick <= absl::ZeroDuration()) {
    return stop;
  }
  return absl::Ceil(stop, tick);
}

void StopLag::Add(values::Money rate, absl::Duration lag, bool stopping) {
  lag = std::clamp(lag, absl::ZeroDuration(), kMaxStopLag);
  if (stopping) {
    longest_stopping_ = std::max(longest_stopping_, lag);
    return;
  }
  const double r = static_cast<double>(std::max<int64_t>(rate.micros(), 0));
  weighted_ += r * absl::ToDoubleSeconds(lag);
  rate_ += r;
}

absl::Duration StopLag::Lag() const {
  absl::Duration mean = rate_ > 0 ? absl::Seconds(weighted_ / rate_) : absl::ZeroDuration();
  return std::max(mean, longest_stopping_);
}

BudgetInputs InputsFor(const BudgetStep& step) {
  BudgetInputs in;
  in.now = step.now;
  in.period = step.ledger->period();
  in.spent = step.ledger->spent();
  in.reserve_spent = step.reserve_ledger->spent();
  in.gpu_seconds = step.ledger->gpu_seconds();
  in.reserve_gpu_seconds = step.reserve_ledger->gpu_seconds();
  in.rate_per_hour = step.burn.regular_rate + step.burn.idle_rate;
  in.reserve_rate_per_hour = step.burn.reserve_rate;
  in.idle_rate_per_hour = step.burn.idle_rate;
  in.idle_gpus = step.burn.idle_gpus;
  in.idle_node_rate_per_hour = std::min(step.burn.idle_node_rate, step.burn.idle_rate);
  in.idle_node_gpus = std::min(step.burn.idle_node_gpus, step.burn.idle_gpus);
  in.tick = step.lookahead / kLookaheadTicks;
  in.stopping_rate_per_hour = step.burn.stopping_rate;
  in.stopping_gpus = step.burn.stopping_gpus;
  in.reserve_stopping_rate_per_hour = step.burn.reserve_stopping_rate;
  in.reserve_stopping_gpus = step.burn.reserve_stopping_gpus;
  in.running_gpus = step.burn.regular_gpus;
  in.reserve_running_gpus = step.burn.reserve_gpus;
  in.gpu_hour_price = step.gpu_hour_price;
  in.reserve_unlocked = step.reserve_unlocked;
  in.stop_lag = StopLagToRelease(step.lookahead, step.burn.stop_lag, step.burn.pays_for_nodes);
  in.lookahead = LookaheadWithStop(step.lookahead, in.stop_lag);
  // Held work, once resumed, stops as slowly as the slower of it and what runs now.
  in.start_lookahead = LookaheadWithStop(
      step.lookahead,
      StopLagToRelease(step.lookahead, std::max(step.burn.stop_lag, step.start_stop_lag),
                       step.burn.pays_for_nodes));
  in.next_period_length = step.next_period_length;
  in.carry_fraction = step.carry_fraction;
  return in;
}

BudgetDecision Decide(const api::ComputeBudgetSpec& spec, const BudgetStep& step) {
  return DecideBudget(spec, InputsFor(step));
}

}  // namespace bursar::engine
