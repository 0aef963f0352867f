#include "controllers/sim/enforcement.h"

#include <algorithm>
#include <cmath>
#include <deque>
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

class StaticQuota final : public EnforcementPolicy {
 public:
  explicit StaticQuota(const BudgetTerms& terms) : terms_(terms) { Resize(terms.first_period); }
  StopOrder Act(const DecisionPoint& point) override {
    if (point.period_length != period_) {
      Resize(point.period_length);
    }
    if (!period_start_s_.has_value()) {
      period_start_s_ = point.now_s;
    }
    now_s_ = point.now_s;
    return {};
  }
  std::optional<int64_t> Quota(const engine::BudgetDecision&) const override {
    return now_s_ - period_start_s_.value_or(now_s_) < high_s_ ? high_ : low_;
  }
  bool HoldsNewWork(const engine::BudgetDecision&) const override { return false; }
  void NewPeriod() override { period_start_s_.reset(); }

 private:
  void Resize(absl::Duration period) {
    constexpr int64_t kMicro = 1'000'000;
    period_ = period;
    const int64_t micro = StaticQuotaMicroGpus(terms_, period);
    const int64_t node = terms_.node_gpus;
    const int64_t free = terms_.free_gpus;
    low_ = high_ = WholeNodeQuota(micro, node, free);
    high_s_ = 0;
    if (!terms_.quota_scale.has_value()) {
      return;
    }
    // Spend-matched: the next quota up for a share of the period, so that the paid GPUs average
    // the allowance.
    const int64_t paid_low = PaidGpus(low_, node, free);
    const int64_t paid_next = PaidGpus(low_ + 1, node, free);
    high_ = WholeNodeQuota(paid_next * kMicro, node, free);
    const int64_t step = PaidGpus(high_, node, free) - paid_low;
    if (step <= 0) {
      return;
    }
    const double share = std::clamp(
        static_cast<double>(micro - paid_low * kMicro) / static_cast<double>(step * kMicro), 0.0,
        1.0);
    high_s_ = static_cast<int64_t>(share * static_cast<double>(absl::ToInt64Seconds(period)));
  }

  BudgetTerms terms_;
  absl::Duration period_;
  int64_t low_ = 0;
  int64_t high_ = 0;
  int64_t high_s_ = 0;  // the first seconds of each period that use high_
  std::optional<int64_t> period_start_s_;
  int64_t now_s_ = 0;
};

class Shutoff final : public EnforcementPolicy {
 public:
  explicit Shutoff(const BudgetTerms& terms) : terms_(terms) {}

  StopOrder Act(const DecisionPoint& point) override {
    billed_.emplace_back(point.now_s, point.billable);
    // The lag never exceeds a tenth of the period.
    int64_t lag = std::min(absl::ToInt64Seconds(terms_.billing_lag),
                           absl::ToInt64Seconds(point.period_length) / 10);
    // What the bill shows: the last sample at least `lag` old. Older ones are never needed again
    // (constant time per tick; a day's lag at a 1-minute tick kept 1,440 samples to scan).
    const int64_t seen_until = point.now_s - lag;
    while (billed_.size() >= 2 && billed_[1].first <= seen_until) {
      billed_.pop_front();
    }
    Money billed = billed_.front().first <= seen_until ? billed_.front().second : Money();
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
  bool shut_off_ = false;                         // stopped until the next period
  std::deque<std::pair<int64_t, Money>> billed_;  // (time, spent) samples for the billing lag
};

}  // namespace

int64_t StaticQuotaMicroGpus(const BudgetTerms& terms, absl::Duration period) {
  constexpr int64_t kMicro = 1'000'000;
  const api::BudgetLimit& limit = terms.spec->limit;
  int64_t period_s = absl::ToInt64Seconds(period);
  if (period_s <= 0) {
    return 0;
  }
  const int reserve = terms.spec->retraining.reserve_percent;
  // regular x 3600 / (per GPU-hour x period) GPUs, in micro-GPUs.
  auto gpus = [&](Money total, int64_t per_gpu_hour_micros) -> absl::int128 {
    Money regular = total - engine::ReserveOf(total, reserve);
    if (per_gpu_hour_micros <= 0 || regular.micros() <= 0) {
      return 0;
    }
    return absl::int128(regular.micros()) * 3600 * kMicro /
           (absl::int128(per_gpu_hour_micros) * period_s);
  };
  std::optional<absl::int128> micro;
  if (limit.amount.has_value() && !terms.gpu_hours_only) {
    micro = gpus(*limit.amount, terms.gpu_hour_price.micros());
  }
  if (limit.gpu_hours.has_value()) {
    absl::int128 by_hours = gpus(*limit.gpu_hours, Money::kMicrosPerUnit);
    micro = micro.has_value() ? std::min(*micro, by_hours) : by_hours;
  }
  if (!micro.has_value()) {
    return 0;
  }
  double scale = terms.quota_scale.value_or(1.0);
  if (scale != 1.0) {
    return static_cast<int64_t>(std::floor(static_cast<double>(*micro) * std::max(0.0, scale)));
  }
  return static_cast<int64_t>(std::min(*micro, absl::int128(int64_t{1} << 62)));
}

int64_t PaidGpus(int64_t q, int64_t node_gpus, int64_t free_gpus) {
  if (q <= free_gpus) {
    return q;
  }
  node_gpus = std::max<int64_t>(node_gpus, 1);
  int64_t nodes = (q - free_gpus + node_gpus - 1) / node_gpus;
  return std::max(q, nodes * node_gpus);
}

int64_t WholeNodeQuota(int64_t micro_gpus, int64_t node_gpus, int64_t free_gpus) {
  constexpr int64_t kMicro = 1'000'000;
  int64_t q = micro_gpus / kMicro;
  while (q > 0 && absl::int128(PaidGpus(q, node_gpus, free_gpus)) * kMicro > micro_gpus) {
    --q;
  }
  return q;
}

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
