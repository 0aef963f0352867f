#pragma once

// The spend-matched static quota: the static-quota baseline (enforcement.h) with each enforced
// budget's quota scaled so that the budget spends what a reference run (Bursar's) spent on it,
// within a tolerance. Comparing waits and completion times means something only at equal
// spend: a baseline that spends less looks slower for that reason alone.
//
// Method: one scale for every enforced budget (SimOptions::static_quota_scales), so the
// baseline keeps the static quota's split between budgets; the quantity matched is their total
// spend in money (EnforcedSpend). Spend is a non-decreasing step function of the scale, give or
// take scheduling noise. The search runs scale 1, doubles it (up to kSpendMatchMaxScale) until
// the spend reaches the target, then bisects between the last scale below and the first above;
// it stops at the first run within kSpendMatchTolerance of the target, or after
// kSpendMatchMaxRuns simulations, and returns the closest run (SpendMatch::matched says whether
// it is within). Budgets are not matched one by one: a budget's spend jumps by a node's worth
// where its quota crosses a node boundary, so per-budget spends differ from the reference's
// (the report shows each). Deterministic.
// Not thread-safe (the simulation is not).

#include "absl/status/statusor.h"
#include "controllers/sim/simulator.h"

namespace bursar::sim {

inline constexpr int kSpendMatchMaxRuns = 24;
inline constexpr double kSpendMatchMaxScale = 64;
inline constexpr double kSpendMatchTolerance = 0.01;  // relative

struct SpendMatch {
  SimReport report;      // of the closest run (spend_matched set)
  double scale = 1;      // its quota scale, for every enforced budget
  double target = 0;     // the reference's spend over enforced budgets
  double spent = 0;      // the closest run's
  double error = 0;      // |spent - target| / target
  int runs = 0;          // simulations run
  bool matched = false;  // error <= kSpendMatchTolerance
};

// Money charged to enforced budgets, summed (BudgetResult::cost: the price book's currency,
// for gpuHours-only budgets too).
double EnforcedSpend(const SimReport& report);

absl::StatusOr<SpendMatch> SimulateSpendMatchedStaticQuota(const Scenario& scenario,
                                                           const SimReport& reference,
                                                           const SimOptions& options);

}  // namespace bursar::sim
