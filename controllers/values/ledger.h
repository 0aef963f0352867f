#pragma once

// BudgetLedger: the idempotent, interval-based meter of one budget for one period.
//
// Spend is kept exactly, in accrual units of 1/3600 micro-unit: a rate in micro-units per hour
// charged for whole seconds is an integer, so [t0,t1) + [t1,t2) sums to exactly [t0,t2) and no
// rounding drifts across restarts. Money is rounded (half-even) only when read.
//
// Idempotence: each pod (keyed by UID) has `accounted_until`; charging [from, to) charges only
// the part after it and inside the period, so replayed or overlapping intervals count once.
// A pod is tracked from the first pass that sees it started, even when nothing is due yet (it
// started in the same second as the pass), so the next pass charges it from its start.
// A pod seen ended stays tracked (as ended) while it is still seen, and is dropped only once a
// pass no longer sees it (deleted): so a pod that started and ended unseen (the watch stalled or
// was cut while the passes went on, the informer relisted later) is charged from its start when
// it shows up, whatever the watermark has reached. The watermark W is not proof that a pod was
// seen: passes advance it on whatever the cache holds, fresh or not.
//
// The checkpoint (Snapshot, persisted in status.ledger) does not list every running pod: a pass
// charges every running pod it sees up to W, so the checkpoint says so once. Its start horizon
// H (W minus kStartGrace, or later when too many pods started since) means: "a running pod that
// started at or before H and is not listed has been charged up to W". Listed are only the
// exceptions: pods that started after H, up to where they were charged (ended ones at their
// end; one charged nothing yet at its start, so status shows a start at the first pass), running
// pods charged up to an instant other than W, and pods that ended within kStartGrace before W
// (charged to their end, which another process's stale cache may still show running: it must not
// take back what it never charged); at most kMaxCheckpointPods of them, so the checkpoint's size is
// bounded whatever the number of pods. Its end horizon E (W minus kStartGrace, or later when the
// bound left out ended pods) says every pod charged to an end after E is listed. A restored ledger
// applies the rules to every pod it does not track: one that started at or before H is charged
// from W; when it ended at or before E, it is skipped; when it ended after E but at or before W,
// the writer charged it as running up to W (its cache had not shown the end: a deposed leader's
// stale view) and the excess is taken back. Any other pod is charged from its start. Pitfalls: a
// pod created and deleted entirely while the operator was down (or its watch was stalled) cannot be
// seen, so it cannot be charged; keep the down time shorter than your Jobs'
// ttlSecondsAfterFinished. A pod that started at or before H and ended at or before W but was never
// seen by the process that wrote the checkpoint (its cache was stale for more than kStartGrace) is
// taken as charged. A pod whose start reaches the operator more than kStartGrace after it happened
// (and after a pass), when the operator restarts before its next checkpoint, is charged from W, not
// from its start. Thread-compatible.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/values/int128.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"
#include "controllers/values/uid.h"

namespace bursar::values {

using Accrual = Int128;  // 1 unit = 1/3600 micro-unit of the currency

inline constexpr int64_t kAccrualPerMicro = 3600;

// The persisted form (ComputeBudget status.ledger).
struct PodAccount {
  std::string uid;
  absl::Time accounted_until;
  bool operator==(const PodAccount&) const = default;
};

// How long after a pod's start the checkpoint still lists it when charged (so that a pod whose
// start reached the operator late is still charged from its start after a restart).
inline constexpr absl::Duration kStartGrace = absl::Minutes(1);
// The most pods a checkpoint lists; beyond it the start horizon moves closer to the watermark.
inline constexpr size_t kMaxCheckpointPods = 50;

struct LedgerState {
  Period period;
  Accrual accrued = 0;
  int64_t gpu_seconds = 0;
  absl::Time watermark = absl::InfinitePast();
  // A running pod that started at or before this instant and is not in `pods` has been charged
  // up to the watermark. InfinitePast (a checkpoint written before horizons existed): a pod not
  // in `pods` has not been charged yet.
  absl::Time start_horizon = absl::InfinitePast();
  // Every pod charged to an end after this instant (and at or before the watermark) is listed:
  // an unlisted pod that started at or before start_horizon and ended after it was charged as
  // running, up to the watermark (the writer's cache did not show its end yet). InfinitePast (a
  // checkpoint written before end horizons existed): such a pod was charged to its end.
  absl::Time end_horizon = absl::InfinitePast();
  std::vector<PodAccount> pods;  // the exceptions, sorted by uid
  bool operator==(const LedgerState&) const = default;
};

class BudgetLedger {
 public:
  explicit BudgetLedger(Period period) : period_(period), watermark_(period.start) {}
  // Fails when the state is inconsistent (negative totals, accounted_until outside the period,
  // a start horizon after the watermark).
  static absl::StatusOr<BudgetLedger> Restore(const LedgerState& state);

  struct Charge {
    Money money;          // newly charged, rounded for display only
    int64_t seconds = 0;  // newly charged seconds
  };

  // Charges pod `uid` at `rate_per_hour` (and `gpus` whole devices) over [from, to) clipped
  // to the period and to what is already accounted. `from` is the pod's start. `ended` says
  // `to` is the pod's end: a pod that ended at or before the watermark and is not tracked was
  // charged before; skip it. Every caller charges each running pod at every pass. A tracked pod
  // whose end arrives after it was charged past it (a cut watch) gets the excess taken back: the
  // Charge is then negative.
  Charge ChargePod(const UidKey& uid, absl::Time from, absl::Time to, Money rate_per_hour,
                   int64_t gpus, bool ended);

  // Ends one metering pass at `now` and moves the watermark. Drops the accounts listed in
  // `ended_uids` that this pass did not charge as ended: pods no longer seen (deleted), or idle
  // nodes no longer idle. A pod this pass charged as ended stays tracked, so that it is not
  // charged again while it is still seen; listing it is harmless.
  void CompletePass(absl::Time now, const std::vector<std::string>& ended_uids);

  const Period& period() const { return period_; }
  Money spent() const;
  Accrual accrued() const { return accrued_; }
  int64_t gpu_seconds() const { return gpu_seconds_; }
  double gpu_hours() const { return static_cast<double>(gpu_seconds_) / 3600.0; }
  absl::Time watermark() const { return watermark_; }
  size_t tracked_pods() const { return accounts_.size(); }
  // InfinitePast when the pod is not tracked.
  absl::Time AccountedUntil(const UidKey& uid) const;
  std::vector<std::string> TrackedUids() const;

  // The checkpoint: at most kMaxCheckpointPods pods listed whatever the number tracked (one
  // scan of the tracked pods to find them).
  LedgerState Snapshot() const;

 private:
  // 24 bytes (a ledger holds one per running pod): instants in whole seconds since the epoch,
  // as everything the ledger charges is.
  struct Account {
    int64_t from = 0;  // the second of the earliest start the pod was charged from
    int64_t accounted_until = 0;
    uint32_t pass = 0;   // the pass that last charged it (pass_ then, modulo 2^32)
    bool ended = false;  // charged as ended: accounted_until is its end
  };
  static_assert(sizeof(Account) == 24);
  Charge TakeBack(Account& account, int64_t end, Money rate_per_hour, int64_t gpus);
  uint32_t PassMark() const { return static_cast<uint32_t>(pass_); }

  Period period_;
  Accrual accrued_ = 0;
  int64_t gpu_seconds_ = 0;
  absl::Time watermark_;
  // From the checkpoint restored: an untracked pod started at or before `restored_horizon_` was
  // charged up to `restored_until_`. InfinitePast in a ledger that was not restored.
  absl::Time restored_horizon_ = absl::InfinitePast();
  absl::Time restored_until_ = absl::InfinitePast();
  // From the checkpoint restored: an untracked pod that ended at or before `ended_until_` and
  // started at or before `ended_horizon_` was charged in full, if it ended at or before
  // `end_horizon_`, else up to `ended_until_` as running (LedgerState::end_horizon). InfinitePast
  // when not restored: every ended pod this ledger charged is tracked while it is seen.
  absl::Time ended_horizon_ = absl::InfinitePast();
  absl::Time ended_until_ = absl::InfinitePast();
  absl::Time end_horizon_ = absl::InfiniteFuture();
  uint64_t pass_ = 0;         // passes completed
  UidMap<Account> accounts_;  // by pod uid (or "node:<name>" for an idle node)
};

// Exact conversions between accrual units and money.
Money AccrualToMoney(Accrual a);
std::string AccrualToString(Accrual a);
absl::StatusOr<Accrual> ParseAccrual(std::string_view text);

}  // namespace bursar::values
