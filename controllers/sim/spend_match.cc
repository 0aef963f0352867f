#include "controllers/sim/spend_match.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <utility>
#include <vector>

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
  std::vector<std::string> enforced;
  for (const BudgetResult& b : reference.budgets) {
    if (b.enforced) {
      enforced.push_back(b.name);
    }
  }
  // The last run below the target and the first at or above it, with each budget's spend.
  struct Side {
    bool seen = false;
    std::map<std::string, double> cost;
  };
  Side below;
  Side above;
  // Runs the baseline with each enforced budget's quota scaled by `scale`, times `others` for
  // every budget but `held` (stage 2); keeps the run closest to the target.
  auto run = [&](double scale, double others, const std::string& held) -> absl::StatusOr<double> {
    SimOptions o = options;
    o.policy = Policy::kStaticQuota;
    o.on_decision = nullptr;
    o.static_quota_scales.clear();
    for (const std::string& name : enforced) {
      o.static_quota_scales[name] = name == held ? scale : scale * others;
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
    Side& side = spent < best.target ? below : above;
    side.seen = true;
    side.cost.clear();
    for (const BudgetResult& b : r->budgets) {
      side.cost[b.name] = b.cost;
    }
    if (!have_best || RelativeError(spent, best.target) < best.error) {
      have_best = true;
      best.scale = scale;
      best.scales = o.static_quota_scales;
      best.spent = spent;
      best.error = RelativeError(spent, best.target);
      best.report = *std::move(r);
    }
    return spent;
  };
  auto done = [&] { return best.error <= kSpendMatchTolerance; };
  // Stage 2 needs two budgets; with one, stage 1 has every run.
  const int first_stage_runs =
      enforced.size() > 1 ? kSpendMatchMaxRuns - kSpendMatchSecondStageRuns : kSpendMatchMaxRuns;

  // Stage 1: one scale for every budget.
  double lo = 0;
  double hi = 1;
  absl::StatusOr<double> spent = run(hi, 1, "");
  // Grow until the spend reaches the target, or the largest scale.
  while (spent.ok() && *spent < best.target && !done() && hi < kSpendMatchMaxScale &&
         best.runs < first_stage_runs) {
    lo = hi;
    hi = std::min(hi * 2, kSpendMatchMaxScale);
    spent = run(hi, 1, "");
  }
  if (!spent.ok()) {
    return spent.status();
  }
  // Bisect while spend(lo) < target <= spend(hi).
  const bool bracketed = *spent >= best.target;
  while (bracketed && !done() && best.runs < first_stage_runs) {
    double mid = (lo + hi) / 2;
    absl::StatusOr<double> s = run(mid, 1, "");
    if (!s.ok()) {
      return s.status();
    }
    (*s < best.target ? lo : hi) = mid;
  }

  // Stage 2: the bracket closed on a jump. Hold the budget that jumps most at the lower scale
  // and bisect a factor on the others' scale, from 1 (below the target) up to hi / lo.
  if (!done() && bracketed && below.seen && above.seen && lo > 0 && enforced.size() > 1) {
    std::string held;
    double jump = -1;
    for (const std::string& name : enforced) {
      double d = above.cost[name] - below.cost[name];
      if (d > jump) {
        jump = d;
        held = name;
      }
    }
    double m_lo = 1;
    double m_hi = std::max(hi / lo, 1.0);
    while (!done() && best.runs < kSpendMatchMaxRuns) {
      absl::StatusOr<double> s = run(lo, m_hi, held);
      if (!s.ok()) {
        return s.status();
      }
      if (*s >= best.target || m_hi >= kSpendMatchMaxScale) {
        break;
      }
      m_lo = m_hi;
      m_hi = std::min(m_hi * 2, kSpendMatchMaxScale);
    }
    while (!done() && best.runs < kSpendMatchMaxRuns) {
      double mid = (m_lo + m_hi) / 2;
      absl::StatusOr<double> s = run(lo, mid, held);
      if (!s.ok()) {
        return s.status();
      }
      (*s < best.target ? m_lo : m_hi) = mid;
    }
  }
  best.matched = done();
  return best;
}

}  // namespace bursar::sim
