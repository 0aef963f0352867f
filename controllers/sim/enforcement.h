#pragma once

// How each policy `bursar simulate` compares enforces one budget. The simulated cluster meters
// every budget and runs the engine's decision step under every policy (so reports can show what
// Bursar would have decided); an EnforcementPolicy says what the cluster then does with it:
// the GPU quota admission must respect, whether new work is held, what running work to stop,
// and whether retraining work may draw on the reserve.
//
//   bursar        the engine's ladder: quota, Hold, Drain, the retraining reserve.
//   none          no enforcement.
//   static-quota  a fixed GPU quota per period: the most GPUs whose full use, idle remainders
//                 of the nodes it makes the pool grow included, spends at most the regular
//                 limit (L - reserve) over that period, in money and in GPU-hours where the
//                 budget limits both. Sized from each period's own length (a 31-day month
//                 gets a smaller quota than a 28-day one). Running work is never stopped, so
//                 a period that follows a longer one may start above its quota.
//                 With BudgetTerms::quota_scale set (the spend-matched baseline,
//                 spend_match.h) the allowance is scaled, and the quota is the next whole-node
//                 step up for the first part of every period, sized so that the paid GPUs
//                 average the allowance: spend then grows smoothly with the scale instead of
//                 jumping by a node's worth.
//   shutoff       run freely; when billed spend, seen `billingLag` late, reaches the limit,
//                 stop every Job until the next period (cloud budget alerts wired to a kill
//                 switch).
// One object per budget (policies keep per-budget state). DryRun budgets are never enforced:
// the simulation does not consult the policy for them. Not thread-safe.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/budget_policy.h"
#include "controllers/values/money.h"

namespace bursar::sim {

enum class Policy { kBursar, kNone, kStaticQuota, kShutoff };

const char* PolicyName(Policy policy);
absl::StatusOr<Policy> ParsePolicy(std::string_view name);
inline constexpr Policy kAllPolicies[] = {Policy::kBursar, Policy::kNone, Policy::kStaticQuota,
                                          Policy::kShutoff};

// What a policy knows of its budget for the whole run.
struct BudgetTerms {
  const api::ComputeBudgetSpec* spec = nullptr;
  bool gpu_hours_only = false;   // the limit is in GPU-hours only
  values::Money gpu_hour_price;  // of the budget's pools (engine::GpuHourPrice)
  absl::Duration first_period;   // length of the first period
  // static-quota: the pool the budget's growth lands on (its first) — GPUs per node, and the
  // GPUs of its minNodes, which the cluster pays for.
  int64_t node_gpus = 1;
  int64_t free_gpus = 0;
  std::optional<double> quota_scale;  // static-quota: the spend-matched scale, else nullopt
  absl::Duration billing_lag;         // shutoff: how late billing shows usage
  int64_t step_s = 60;                // the metering tick
};

// Where the budget stands at a decision point.
struct DecisionPoint {
  int64_t now_s = 0;
  absl::Duration period_length;  // of the period now_s is in
  // Spent so far this period, in the budget's unit (money, or micro GPU-hours for gpuHours-only
  // budgets) — what a bill would show.
  values::Money billable;
  const engine::BudgetDecision* decision = nullptr;
};

// Running work to stop now: keep at most this many GPUs running (nullopt: stop nothing).
struct StopOrder {
  std::optional<int64_t> keep_regular_gpus;
  std::optional<int64_t> keep_reserve_gpus;
};

class EnforcementPolicy {
 public:
  virtual ~EnforcementPolicy() = default;
  // Called after the engine decided, every tick; returns the running work to stop.
  virtual StopOrder Act(const DecisionPoint& point) = 0;
  // GPUs regular work may use; nullopt: unconstrained.
  virtual std::optional<int64_t> Quota(const engine::BudgetDecision& decision) const = 0;
  // Whether new work waits (and the pool does not grow for it).
  virtual bool HoldsNewWork(const engine::BudgetDecision& decision) const = 0;
  // Whether retraining work may draw on a reserve unlocked by modelDrift.
  virtual bool UsesRetrainingReserve() const { return false; }
  // Whether the ladder's rungs are what this policy does (counted in the report's actions).
  virtual bool FollowsLadder() const { return false; }
  // A new period started.
  virtual void NewPeriod() {}
};

std::unique_ptr<EnforcementPolicy> MakeEnforcementPolicy(Policy policy, const BudgetTerms& terms);

// The admission order a policy uses: Bursar ranks waiting Jobs by priority, then expected length
// with aging (engine/admission_order.h); the baselines by priority, then submission, which is
// what a ResourceQuota or a Kueue ClusterQueue (BestEffortFIFO) gives.
inline bool OrdersByLength(Policy policy) {
  return policy == Policy::kBursar;
}

// The static quota's allowance for a period of `period`: the GPUs whose full use spends the
// regular limit, the smaller of the money and GPU-hours ones, times quota_scale, in micro-GPUs
// (exact integer arithmetic: a limit of exactly N GPUs' worth gives N x 10^6).
int64_t StaticQuotaMicroGpus(const BudgetTerms& terms, absl::Duration period);

// What a budget running q GPUs pays for at full use: q itself, or the whole nodes it grows
// beyond the pool's free (minNodes) GPUs, whichever is more — the simulator counts a budget's
// use against the nodes it owns first (simulation_time.cc, IdleByOwner).
int64_t PaidGpus(int64_t q, int64_t node_gpus, int64_t free_gpus);
// The baseline's quota for an allowance of `micro_gpus`: the most GPUs whose PaidGpus fits it.
int64_t WholeNodeQuota(int64_t micro_gpus, int64_t node_gpus, int64_t free_gpus);

}  // namespace bursar::sim
