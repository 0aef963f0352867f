#include "controllers/values/ledger.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "controllers/values/int128.h"
#include "controllers/values/strings.h"

namespace bursar::values {
namespace {

// Whole seconds since the epoch; ledger intervals are whole seconds, as are Kubernetes
// status timestamps.
int64_t Seconds(absl::Time t) {
  return absl::ToUnixSeconds(t);
}

}  // namespace

Money AccrualToMoney(Accrual a) {
  // Round half-even to whole micros.
  Accrual q = a / kAccrualPerMicro;
  Accrual r = a % kAccrualPerMicro;
  if (r < 0) {
    r += kAccrualPerMicro;
    q -= 1;
  }
  if (2 * r > kAccrualPerMicro || (2 * r == kAccrualPerMicro && (q % 2) != 0)) {
    q += 1;
  }
  return Money::FromMicros(static_cast<int64_t>(q));
}

std::string AccrualToString(Accrual a) {
  if (a == 0) {
    return "0";
  }
  bool negative = a < 0;
  UInt128 u = negative ? static_cast<UInt128>(-(a + 1)) + 1 : static_cast<UInt128>(a);
  std::string digits;
  while (u != 0) {
    digits.push_back(static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  if (negative) {
    digits.push_back('-');
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

absl::StatusOr<Accrual> ParseAccrual(std::string_view text) {
  if (text.empty() || text.size() > 38) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(text), "\" is not an accrual integer"));
  }
  bool negative = text.front() == '-';
  std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(text), "\" is not an accrual integer"));
  }
  Accrual value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", std::string(text), "\" is not an accrual integer"));
    }
    value = value * 10 + (c - '0');
  }
  return negative ? -value : value;
}

absl::StatusOr<BudgetLedger> BudgetLedger::Restore(const LedgerState& state) {
  if (state.period.end <= state.period.start) {
    return absl::InvalidArgumentError("ledger: period end is not after its start");
  }
  if (state.accrued < 0 || state.gpu_seconds < 0) {
    return absl::InvalidArgumentError("ledger: negative totals");
  }
  BudgetLedger ledger(state.period);
  ledger.accrued_ = state.accrued;
  ledger.gpu_seconds_ = state.gpu_seconds;
  ledger.watermark_ = std::clamp(state.watermark, state.period.start, state.period.end);
  for (const PodAccount& pod : state.pods) {
    if (pod.uid.empty()) {
      return absl::InvalidArgumentError("ledger.pods: an entry has no uid");
    }
    if (pod.accounted_until < state.period.start || pod.accounted_until > state.period.end) {
      return absl::InvalidArgumentError(
          absl::StrCat("ledger.pods[", pod.uid, "].accountedUntil lies outside the period"));
    }
    ledger.accounted_until_[pod.uid] = pod.accounted_until;
  }
  return ledger;
}

BudgetLedger::Charge BudgetLedger::ChargePod(std::string_view uid, absl::Time from, absl::Time to,
                                             Money rate_per_hour, int64_t gpus, bool ended) {
  auto it = accounted_until_.find(AbslView(uid));
  if (it == accounted_until_.end() && ended && to <= watermark_) {
    return {};  // ended before the last complete pass and no longer tracked: charged already
  }
  int64_t start = std::max(Seconds(from), Seconds(period_.start));
  if (it != accounted_until_.end()) {
    start = std::max(start, Seconds(it->second));
  }
  int64_t stop = std::min(Seconds(to), Seconds(period_.end));
  if (stop <= start) {
    return {};
  }
  int64_t seconds = stop - start;
  accrued_ += static_cast<Accrual>(rate_per_hour.micros()) * seconds;
  gpu_seconds_ += gpus * seconds;
  absl::Time until = absl::FromUnixSeconds(stop);
  if (it == accounted_until_.end()) {
    accounted_until_.emplace(std::string(uid), until);
  } else {
    it->second = until;
  }
  return {AccrualToMoney(static_cast<Accrual>(rate_per_hour.micros()) * seconds), seconds};
}

void BudgetLedger::CompletePass(absl::Time now, const std::vector<std::string>& ended_uids) {
  for (const std::string& uid : ended_uids) {
    accounted_until_.erase(uid);
  }
  watermark_ = std::clamp(std::max(watermark_, now), period_.start, period_.end);
}

Money BudgetLedger::spent() const {
  return AccrualToMoney(accrued_);
}

absl::Time BudgetLedger::AccountedUntil(std::string_view uid) const {
  auto it = accounted_until_.find(AbslView(uid));
  return it == accounted_until_.end() ? absl::InfinitePast() : it->second;
}

LedgerState BudgetLedger::Snapshot() const {
  LedgerState state;
  state.period = period_;
  state.accrued = accrued_;
  state.gpu_seconds = gpu_seconds_;
  state.watermark = watermark_;
  state.pods.reserve(accounted_until_.size());
  for (const auto& [uid, until] : accounted_until_) {
    state.pods.push_back({uid, until});
  }
  std::sort(state.pods.begin(), state.pods.end(),
            [](const PodAccount& a, const PodAccount& b) { return a.uid < b.uid; });
  return state;
}

}  // namespace bursar::values
