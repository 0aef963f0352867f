#include "controllers/sim/enforcement.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/numeric/int128.h"
#include "absl/strings/str_cat.h"

namespace bursar::sim {
namespace {

using values::Money;

class BursarPolicy final : public EnforcementPolicy {
 public:
  StopOrder Act(const DecisionPoint& point) override {
    return {point.decision->keep_running_gpus, point.decision->reserve_keep_running_gpus};
  }
  std::optional<int64_t> Quota(const engine::BudgetDecision& decision) const override {
    return decision.quota_gpus;
  }
  bool HoldsNewWork(const engine::BudgetDecision& decision) const override {
    return decision.hold_new_work;
  }
  bool UsesRetrainingReserve() const override { return true; }
  bool FollowsLadder() const override { return true; }
};

class NoEnforcement final : public EnforcementPolicy {
 public:
  StopOrder Act(const DecisionPoint&) override { return {}; }
  std::optional<int64_t> Quota(const engine::BudgetDecision&) const override {
    return std::nullopt;
  }
  bool HoldsNewWork(const engine::BudgetDecision&) const override { return false; }
};

// The GPUs that spend exactly the regular limit (L - reserve, as the engine counts it) over a
// full period. Exact integer arithmetic: a limit of exactly N GPUs' worth must give N, not N - 1
// from a binary rounding.
int64_t StaticQuotaGpus(const BudgetTerms& terms) {
  const api::BudgetLimit& limit = terms.spec->limit;
  Money total = terms.gpu_hours_only ? *limit.gpu_hours : *limit.amount;
  Money regular = total - engine::ReserveOf(total, terms.spec->retraining.reserve_percent);
  int64_t per_gpu_hour =
      terms.gpu_hours_only ? Money::kMicrosPerUnit : terms.gpu_hour_price.micros();
  int64_t period_s = absl::ToInt64Seconds(terms.first_period);
  if (per_gpu_hour <= 0 || period_s <= 0 || regular.micros() <= 0) {
    return 0;
  }
  return static_cast<int64_t>(absl::int128(regular.micros()) * 3600 /
                              (absl::int128(per_gpu_hour) * period_s));
}

class StaticQuota final : public EnforcementPolicy {
 public:
  explicit StaticQuota(const BudgetTerms& terms) : gpus_(StaticQuotaGpus(terms)) {}
  StopOrder Act(const DecisionPoint&) override { return {}; }
  std::optional<int64_t> Quota(const engine::BudgetDecision&) const override { return gpus_; }
  bool HoldsNewWork(const engine::BudgetDecision&) const override { return false; }

 private:
  int64_t gpus_;
};

class Shutoff final : public EnforcementPolicy {
 public:
  explicit Shutoff(const BudgetTerms& terms) : terms_(terms) {}

  StopOrder Act(const DecisionPoint& point) override {
    billed_.emplace_back(point.now_s, point.billable);
    // The lag never exceeds a tenth of the period.
    int64_t lag = std::min(absl::ToInt64Seconds(terms_.billing_lag),
                           absl::ToInt64Seconds(point.period_length) / 10);
    Money billed;
    for (const auto& [t, spent] : billed_) {
      if (t <= point.now_s - lag) {
        billed = spent;
      }
    }
    std::erase_if(billed_,
                  [&](const auto& s) { return s.first < point.now_s - lag - terms_.step_s; });
    const api::BudgetLimit& limit = terms_.spec->limit;
    bool over = billed >= (terms_.gpu_hours_only ? *limit.gpu_hours : *limit.amount);
    if (!over || shut_off_) {
      return {};
    }
    shut_off_ = true;
    return {0, 0};
  }
  std::optional<int64_t> Quota(const engine::BudgetDecision&) const override {
    return shut_off_ ? std::optional<int64_t>(0) : std::nullopt;
  }
  bool HoldsNewWork(const engine::BudgetDecision&) const override { return shut_off_; }
  void NewPeriod() override {
    shut_off_ = false;
    billed_.clear();
  }

 private:
  BudgetTerms terms_;
  bool shut_off_ = false;                          // stopped until the next period
  std::vector<std::pair<int64_t, Money>> billed_;  // (time, spent) samples for the billing lag
};

}  // namespace

const char* PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kBursar:
      return "bursar";
    case Policy::kNone:
      return "none";
    case Policy::kStaticQuota:
      return "static-quota";
    case Policy::kShutoff:
      return "shutoff";
  }
  return "?";
}

absl::StatusOr<Policy> ParsePolicy(std::string_view name) {
  for (Policy p : kAllPolicies) {
    if (name == PolicyName(p)) {
      return p;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "--policy: \"", std::string(name), "\" is not one of bursar, none, static-quota, shutoff"));
}

std::unique_ptr<EnforcementPolicy> MakeEnforcementPolicy(Policy policy, const BudgetTerms& terms) {
  switch (policy) {
    case Policy::kBursar:
      return std::make_unique<BursarPolicy>();
    case Policy::kNone:
      return std::make_unique<NoEnforcement>();
    case Policy::kStaticQuota:
      return std::make_unique<StaticQuota>(terms);
    case Policy::kShutoff:
      return std::make_unique<Shutoff>(terms);
  }
  return std::make_unique<NoEnforcement>();
}

}  // namespace bursar::sim
