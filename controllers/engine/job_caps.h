#pragma once

// Job caps: a Job's own limit over its whole life ("this fine-tuning run may cost at most
// $2,000": the annotations bursar.dev/max-cost, in its budget's currency, and
// bursar.dev/max-gpu-hours), and whether work of a declared length fits what its budget can
// still pay. The planner stops a Job before its cap, the admission webhook refuses or suspends
// a Job that cannot fit, and `bursar simulate` does both, through these functions. Pure and
// deterministic.

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "controllers/values/ledger.h"
#include "controllers/values/money.h"

namespace bursar::engine {

struct JobCap {
  std::optional<values::Money> max_cost;
  std::optional<double> max_gpu_hours;
  bool any() const { return max_cost.has_value() || max_gpu_hours.has_value(); }
};

// What a Job has used so far, exactly (accrual units, as the ledger charges them).
struct JobUse {
  values::Accrual accrued = 0;
  int64_t gpu_seconds = 0;
};

// Why a Job burning `rate` per hour on `gpus` GPUs must stop now so that it does not pass its cap
// within `horizon` (the metering projection, plus its drain grace when it has one); nullopt while
// it may run on. The sentence says what it has cost and which cap binds.
std::optional<std::string> CapStop(const JobCap& cap, const JobUse& used, values::Money rate,
                                   int64_t gpus, absl::Duration horizon);

// `gpus` GPUs for `length` at `gpu_hour_price` (saturating; never negative).
values::Money ExpectedCost(int64_t gpus, values::Money gpu_hour_price, absl::Duration length);

// Why a Job of `gpus` GPUs declared to run `length` must not start now.
struct Unaffordable {
  enum class Kind {
    kOverCap,     // its expected cost passes its own cap: it never fits; refuse it
    kOverBudget,  // its cost within the period passes what the budget can still commit: wait
  };
  Kind kind;
  std::string why;
};
// `money_left` is what the budget can still commit in its period (nullopt: not a money budget,
// not checked); `time_left` is what is left of the period: only that part of the run is paid
// from this period's money (the rest is the next period's, which pacing plans for).
std::optional<Unaffordable> CheckAffordable(const JobCap& cap, int64_t gpus, absl::Duration length,
                                            values::Money gpu_hour_price,
                                            std::optional<values::Money> money_left,
                                            absl::Duration time_left);

}  // namespace bursar::engine
