#pragma once

// How each policy `bursar simulate` compares enforces one budget. The simulated cluster meters
// every budget and runs the engine's decision step under every policy (so reports can show what
// Bursar would have decided); an EnforcementPolicy says what the cluster then does with it:
// the GPU quota admission must respect, whether new work is held, what running work to stop,
// and whether retraining work may draw on the reserve.
//
//   bursar        the engine's ladder: quota, Hold, Drain, the retraining reserve.
//   none          no enforcement.
//   static-quota  a fixed GPU quota that spends exactly the regular limit (L - reserve) over a
//                 period at full use.
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
  absl::Duration billing_lag;    // shutoff: how late billing shows usage
  int64_t step_s = 60;           // the metering tick
};

// Where the budget stands at a decision point.
struct DecisionPoint {
  int64_t now_s = 0;
  absl::Duration period_length;
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

}  // namespace bursar::sim
