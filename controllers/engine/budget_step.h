#pragma once

// BudgetStep: one budget's decision step, from where it stands to what the ladder decides. The
// operator (reconcilers/budget_planner) and `bursar simulate` (sim/simulation) both assemble a
// budget's state into a BudgetStep and call Decide here, so the two cannot drift apart: the
// inputs the engine sees are built by one function, the GPU-hour price comes from one rule, the
// lookahead from one default, and a job's membership of the retraining reserve from one test.
// Pure and deterministic. Thread-compatible.

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/values/labels.h"
#include "controllers/values/ledger.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"
#include "controllers/values/quantity.h"

namespace bursar::engine {

// How far ahead the current burn is projected, in metering ticks: one tick for the next meter
// reading, one for the time a suspension takes to stop the meter.
inline constexpr int kLookaheadTicks = 2;
inline absl::Duration LookaheadFor(absl::Duration tick) {
  return kLookaheadTicks * tick;
}

// The longest stop a projection allows for: a pod whose termination grace is longer is counted
// as stopping within it (a grace of days is a bound, not a plan, and would close the budget).
inline constexpr absl::Duration kMaxStopLag = absl::Hours(1);

// The projection horizon when a budget's running work may take `stop_lag` to stop once told
// (its pods' terminationGracePeriodSeconds): one tick for the next meter reading (a
// kLookaheadTicks-th of `lookahead`), and the longer of one tick and the stop lag (at most
// kMaxStopLag) for a suspension to stop the meter. `lookahead` itself when the stop lag is at
// most a tick.
absl::Duration LookaheadWithStop(absl::Duration lookahead, absl::Duration stop_lag);

// The stop lag of a set of running pods (each lag at most kMaxStopLag): of pods not yet told to
// stop, the mean of their termination graces weighted by what they cost, so that burn x the lag
// is what they would cost while they stop (one pod's long grace weighs by its own price, not by
// the whole budget's burn); but at least the longest time left to a pod already stopping, whose
// cost until then is owed whatever is decided (Drain keeps only what fits beside it).
class StopLag {
 public:
  void Add(values::Money rate, absl::Duration lag, bool stopping);
  absl::Duration Lag() const;

 private:
  double weighted_ = 0;  // sum of rate (micros per hour) x lag (seconds), pods not stopping
  double rate_ = 0;      // sum of rate (micros per hour), pods not stopping
  absl::Duration longest_stopping_;
};

// What a budget's work burns right now, per hour.
struct BudgetBurn {
  values::Money regular_rate;  // running regular work
  int64_t regular_gpus = 0;
  values::Money reserve_rate;  // running retraining work drawing on the reserve
  int64_t reserve_gpus = 0;
  values::Money idle_rate;  // idle capacity the budget pays for (nodes it grew)
  int64_t idle_gpus = 0;
  // The part of idle_rate and idle_gpus on nodes wholly idle (a Hold or Drain removes them).
  values::Money idle_node_rate;
  int64_t idle_node_gpus = 0;
  // The part of regular_rate and regular_gpus already told to stop (pods being deleted, within
  // their grace): like idle capacity, suspending more Jobs does not stop it sooner.
  values::Money stopping_rate;
  int64_t stopping_gpus = 0;
  // The same of reserve_rate and reserve_gpus.
  values::Money reserve_stopping_rate;
  int64_t reserve_stopping_gpus = 0;
  // How long running work may still run once told to stop (StopLag, LookaheadWithStop).
  absl::Duration stop_lag;
  // Whether the budget pays for nodes whole (it grew some). A node its suspensions free goes on
  // being billed after its pods have stopped, until a pass removes it: the stop lag is counted
  // to the metering tick that first sees the node free (StopLagToRelease).
  bool pays_for_nodes = false;
};

// The stop lag a budget's Drain allows for: `stop_lag` (at most kMaxStopLag), or, when the
// budget pays for nodes whole and its work does not stop at once, that rounded up to a whole
// metering tick (a kLookaheadTicks-th of `lookahead`), when the pass that first sees the freed
// node removes it.
absl::Duration StopLagToRelease(absl::Duration lookahead, absl::Duration stop_lag,
                                bool pays_for_nodes);

// One of a budget's pools, as the price of new work sees it: its per-GPU-hour price, and whether
// new work can land on it (free GPUs, or it may still grow).
struct PoolPrice {
  values::Money gpu_hour;
  bool has_room = true;
};

// The price of one more GPU-hour of a budget's work, which converts money into GPUs: the price
// of the pool the next work lands on, the cheapest of its pools with room (work is placed
// cheapest first, so at mixed prices the money buys what it really buys); the dearest pool when
// none has room; when no pool price is known, what its running regular GPUs cost now but never
// less than the price book's default GPU-hour price (the mix of what runs moves with every Job;
// a default set to the dearest GPU keeps the allowance steady); that default when nothing runs.
// Under-estimating is guarded: admission and Drain check money (allowed_rate, keep_running_rate),
// not only GPUs.
values::Money GpuHourPrice(std::span<const PoolPrice> pools, const BudgetBurn& burn,
                           values::Money default_gpu_hour);

// What a budget's running pods request of cpu and of memory.
struct CpuMemory {
  values::Quantity cpu;
  values::Quantity memory;
};

// The cpu and memory entries of a money budget's spec.quota.resources, as allowances: what its
// running pods request plus what the money its pacing still carries per hour (carry_rate beyond
// its regular and idle burn) buys now at `prices` (CpuMemoryPrices; memory in whole MiB, binary
// units). While it holds new work (or keeps only what runs), what runs. No entry for a budget
// limited in GPU-hours only, for resources it does not list, and for a resource priced at zero
// (it costs nothing, so it is not limited). The operator publishes these in status.admission and
// writes them into its ResourceQuotas; `bursar simulate` admits against them.
std::map<std::string, values::Quantity> CpuMemoryAllowances(const api::ComputeBudgetSpec& spec,
                                                            const BudgetDecision& decision,
                                                            const BudgetBurn& burn,
                                                            const CpuMemory& in_use,
                                                            const UnitPrices& prices);

// What cpu and memory allowances are converted at: the dearest core-hour and GiB-hour of the
// price book's defaults (nodes outside any pool) and of the budget's pools' nodes (a node price
// split by the defaults' ratio), since cpu work may land on any of them. Cheaper would admit
// work that spends past the pace where it lands on a dear node.
UnitPrices CpuMemoryPrices(std::span<const UnitPrices> pools, const api::PriceDefaults& defaults);

// The start room of a decision (BudgetDecision::start_gpus, start_rate), used up by the held
// work one pass resumes: Release in the operator, the re-admission of held Jobs in `bursar
// simulate`. A held Job is expected to burn its GPUs at the budget's GPU-hour price and its cpu
// and memory at its cpu and memory prices (CpuMemoryPrices), wherever it lands.
class StartRoom {
 public:
  StartRoom(const BudgetDecision& decision, values::Money gpu_hour_price,
            const UnitPrices& cpu_memory_prices);
  // What held work of `gpus` and `requests` is expected to burn per hour.
  values::Money RateOf(int64_t gpus, const CpuMemory& requests) const;
  // Whether held work of `gpus` burning `rate` fits what is left (its burn stays below it).
  bool Fits(int64_t gpus, values::Money rate) const;
  // Uses up what it takes.
  void Take(int64_t gpus, values::Money rate);

 private:
  std::optional<int64_t> gpus_;
  std::optional<values::Money> rate_;
  UnitPrices prices_;
};

// Whether spec.quota.resources lists cpu or memory on a money budget (CpuMemoryAllowances has
// something to say).
bool LimitsCpuOrMemory(const api::ComputeBudgetSpec& spec);

// Whether work labelled as retraining for `model` draws on the budget's retraining reserve in
// `period`: the budget keeps a reserve and a modelDrift signal unlocked it for that model in
// that period. A running job's membership follows the period it is charged in.
bool DrawsOnReserve(const api::RetrainingSpec& retraining, const RetrainingGate& gate,
                    bool retraining_work, const std::string& model, const values::Period& period);

// The retraining label test: purpose label = "retrain" and a model label; sets *model.
bool IsRetrainingWork(values::LabelsRef labels, const api::RetrainingSpec& retraining,
                      std::string* model);

struct BudgetStep {
  absl::Time now;
  // The ledgers after this pass's metering: everything charged, and the reserve's part.
  const values::BudgetLedger* ledger = nullptr;
  const values::BudgetLedger* reserve_ledger = nullptr;
  BudgetBurn burn;
  values::Money gpu_hour_price;
  bool reserve_unlocked = false;
  absl::Duration lookahead = LookaheadFor(absl::Seconds(15));
  absl::Duration next_period_length;  // zero: as long as this one
  double carry_fraction = 1.0;        // JobLengths::FractionLongerThan(time left)
  // How long the held work Release may resume takes to stop once told (its pods' termination
  // grace): the start room is measured over the lookahead that work brings.
  absl::Duration start_stop_lag;
};

// The engine's inputs for a step (exposed for tests and for status views).
BudgetInputs InputsFor(const BudgetStep& step);

// The decision for a step: DecideBudget(spec, InputsFor(step)).
BudgetDecision Decide(const api::ComputeBudgetSpec& spec, const BudgetStep& step);

}  // namespace bursar::engine
