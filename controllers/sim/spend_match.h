#pragma once

// The spend-matched static quota: the static-quota baseline (enforcement.h) with each enforced
// budget's quota scaled so that the budget spends what a reference run (Bursar's) spent on it,
// within a tolerance. Comparing waits and completion times means something only at equal
// spend: a baseline that spends less looks slower for that reason alone.
//
// Method, stage 1: one scale for every enforced budget (SimOptions::static_quota_scales), so the
// baseline keeps the static quota's split between budgets; the quantity matched is their total
// spend in money (EnforcedSpend). Spend is a non-decreasing step function of the scale, give or
// take scheduling noise. The search runs scale 1, doubles it (up to kSpendMatchMaxScale) until
// the spend reaches the target, then bisects between the last scale below and the first above.
// Stage 2, only when stage 1's bracket closed on a jump (a budget's spend jumps where its quota
// lets a wider Job in or grows a node): the budget that jumped most stays at the lower scale and
// a second factor on the other budgets' scale is bisected the same way. The search stops at the
// first run within kSpendMatchTolerance of the target, after kSpendMatchMaxRuns simulations in
// all (stage 1 gets all but kSpendMatchSecondStageRuns of them when there are two or more
// enforced budgets), and returns the closest run
// (SpendMatch::matched says whether it is within). Budgets are not matched one by one:
// per-budget spends differ from the reference's (the report shows each, with its scale).
// Deterministic.
// Not thread-safe (the simulation is not).

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "controllers/sim/simulator.h"

namespace bursar::sim {

inline constexpr int kSpendMatchMaxRuns = 24;
inline constexpr int kSpendMatchSecondStageRuns = 8;
inline constexpr double kSpendMatchMaxScale = 64;
inline constexpr double kSpendMatchTolerance = 0.01;  // relative

struct SpendMatch {
  SimReport report;                      // of the closest run (spend_matched set)
  double scale = 1;                      // its common quota scale (stage 1's; see scales)
  std::map<std::string, double> scales;  // each enforced budget's scale in that run
  double target = 0;                     // the reference's spend over enforced budgets
  double spent = 0;                      // the closest run's
  double error = 0;                      // |spent - target| / target
  int runs = 0;                          // simulations run
  bool matched = false;                  // error <= kSpendMatchTolerance
};

// Money charged to enforced budgets, summed (BudgetResult::cost: the price book's currency,
// for gpuHours-only budgets too).
double EnforcedSpend(const SimReport& report);

absl::StatusOr<SpendMatch> SimulateSpendMatchedStaticQuota(const Scenario& scenario,
                                                           const SimReport& reference,
                                                           const SimOptions& options);

}  // namespace bursar::sim
