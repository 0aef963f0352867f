#pragma once

// BudgetLedger: the idempotent, interval-based meter of one budget for one period.
//
// Spend is kept exactly, in accrual units of 1/3600 micro-unit: a rate in micro-units per hour
// charged for whole seconds is an integer, so [t0,t1) + [t1,t2) sums to exactly [t0,t2) and no
// rounding drifts across restarts. Money is rounded (half-even) only when read.
//
// Idempotence: each pod (keyed by UID) has `accounted_until`; charging [from, to) charges only
// the part after it and inside the period, so replayed or overlapping intervals count once.
// The watermark W says "every pod that ended at or before W is fully accounted"; a pod seen
// ended at or before W that the ledger no longer tracks is therefore skipped, which keeps the
// persisted state bounded by the pods running (not every pod of the period) and makes a restart
// safe: pods that ran or ended while the operator was down are charged from their own status
// timestamps, the ones already charged are not charged again.
// Pitfall: a pod created and deleted entirely while the operator was down cannot be seen, so
// it cannot be charged; keep the down time shorter than your Jobs' ttlSecondsAfterFinished.
// Thread-compatible.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/values/int128.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"

namespace bursar::values {

using Accrual = Int128;  // 1 unit = 1/3600 micro-unit of the currency

inline constexpr int64_t kAccrualPerMicro = 3600;

// The persisted form (ComputeBudget status.ledger).
struct PodAccount {
  std::string uid;
  absl::Time accounted_until;
  bool operator==(const PodAccount&) const = default;
};

struct LedgerState {
  Period period;
  Accrual accrued = 0;
  int64_t gpu_seconds = 0;
  absl::Time watermark = absl::InfinitePast();
  std::vector<PodAccount> pods;  // sorted by uid
  bool operator==(const LedgerState&) const = default;
};

class BudgetLedger {
 public:
  explicit BudgetLedger(Period period) : period_(period), watermark_(period.start) {}
  // Fails when the state is inconsistent (negative totals, accounted_until outside the period).
  static absl::StatusOr<BudgetLedger> Restore(const LedgerState& state);

  struct Charge {
    Money money;          // newly charged, rounded for display only
    int64_t seconds = 0;  // newly charged seconds
  };

  // Charges pod `uid` at `rate_per_hour` (and `gpus` whole devices) over [from, to) clipped
  // to the period and to what is already accounted. `ended` says `to` is the pod's end: a pod
  // that ended at or before the watermark and is not tracked was charged before; skip it.
  Charge ChargePod(std::string_view uid, absl::Time from, absl::Time to, Money rate_per_hour,
                   int64_t gpus, bool ended);

  // Ends one metering pass at `now`: every pod that ended at or before `now` has been charged.
  // Drops the accounts of pods that ended (listed in `ended_uids`) and moves the watermark.
  void CompletePass(absl::Time now, const std::vector<std::string>& ended_uids);

  const Period& period() const { return period_; }
  Money spent() const;
  Accrual accrued() const { return accrued_; }
  int64_t gpu_seconds() const { return gpu_seconds_; }
  double gpu_hours() const { return static_cast<double>(gpu_seconds_) / 3600.0; }
  absl::Time watermark() const { return watermark_; }
  size_t tracked_pods() const { return accounted_until_.size(); }
  absl::Time AccountedUntil(std::string_view uid) const;

  LedgerState Snapshot() const;

 private:
  Period period_;
  Accrual accrued_ = 0;
  int64_t gpu_seconds_ = 0;
  absl::Time watermark_;
  absl::flat_hash_map<std::string, absl::Time> accounted_until_;
};

// Exact conversions between accrual units and money.
Money AccrualToMoney(Accrual a);
std::string AccrualToString(Accrual a);
absl::StatusOr<Accrual> ParseAccrual(std::string_view text);

}  // namespace bursar::values
