#include "controllers/sim/spend_match.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace bursar::sim {
namespace {

double RelativeError(double spent, double target) {
  if (target <= 0) {
    return spent <= 0 ? 0 : 1;
  }
  return std::abs(spent - target) / target;
}

}  // namespace

double EnforcedSpend(const SimReport& report) {
  double total = 0;
  for (const BudgetResult& b : report.budgets) {
    if (b.enforced) {
      total += b.cost;
    }
  }
  return total;
}

absl::StatusOr<SpendMatch> SimulateSpendMatchedStaticQuota(const Scenario& scenario,
                                                           const SimReport& reference,
                                                           const SimOptions& options) {
  SpendMatch best;
  best.target = EnforcedSpend(reference);
  bool have_best = false;
  // Runs the baseline with every enforced budget's quota scaled by `scale`; keeps the run
  // closest to the target.
  auto run = [&](double scale) -> absl::StatusOr<double> {
    SimOptions o = options;
    o.policy = Policy::kStaticQuota;
    o.on_decision = nullptr;
    o.static_quota_scales.clear();
    for (const BudgetResult& b : reference.budgets) {
      if (b.enforced) {
        o.static_quota_scales[b.name] = scale;
      }
    }
    if (o.static_quota_scales.empty()) {
      o.static_quota_scales[""] = scale;  // nothing enforced: still the spend-matched variant
    }
    absl::StatusOr<SimReport> r = Simulate(scenario, o);
    if (!r.ok()) {
      return r.status();
    }
    ++best.runs;
    double spent = EnforcedSpend(*r);
    if (!have_best || RelativeError(spent, best.target) < best.error) {
      have_best = true;
      best.scale = scale;
      best.spent = spent;
      best.error = RelativeError(spent, best.target);
      best.report = *std::move(r);
    }
    return spent;
  };

  double lo = 0;
  double hi = 1;
  absl::StatusOr<double> spent = run(hi);
  // Grow until the spend reaches the target, or the largest scale.
  while (spent.ok() && *spent < best.target && best.error > kSpendMatchTolerance &&
         hi < kSpendMatchMaxScale && best.runs < kSpendMatchMaxRuns) {
    lo = hi;
    hi = std::min(hi * 2, kSpendMatchMaxScale);
    spent = run(hi);
  }
  if (!spent.ok()) {
    return spent.status();
  }
  // Bisect while spend(lo) < target <= spend(hi).
  bool bracketed = *spent >= best.target;
  while (bracketed && best.error > kSpendMatchTolerance && best.runs < kSpendMatchMaxRuns) {
    double mid = (lo + hi) / 2;
    absl::StatusOr<double> s = run(mid);
    if (!s.ok()) {
      return s.status();
    }
    (*s < best.target ? lo : hi) = mid;
  }
  best.matched = best.error <= kSpendMatchTolerance;
  return best;
}

}  // namespace bursar::sim
