#include "controllers/values/ledger.h"

#include <algorithm>
#include <charconv>
#include <limits>

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

// The instant of Seconds(t): the start of t's second, infinite instants as they are.
absl::Time TimeOfSeconds(int64_t s) {
  if (s == std::numeric_limits<int64_t>::min()) {
    return absl::InfinitePast();
  }
  if (s == std::numeric_limits<int64_t>::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromUnixSeconds(s);
}

// The start of t's second (infinite instants stay as they are).
absl::Time FloorSecond(absl::Time t) {
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) {
    return t;
  }
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t));
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
  if (state.start_horizon != absl::InfinitePast() &&
      (state.start_horizon == absl::InfiniteFuture() || state.start_horizon > state.watermark)) {
    return absl::InvalidArgumentError("ledger: startHorizon lies after the watermark");
  }
  BudgetLedger ledger(state.period);
  ledger.accrued_ = state.accrued;
  ledger.gpu_seconds_ = state.gpu_seconds;
  ledger.watermark_ = std::clamp(state.watermark, state.period.start, state.period.end);
  ledger.ended_until_ = ledger.watermark_;
  ledger.ended_horizon_ = absl::InfiniteFuture();  // before horizons: every ended pod unlisted
  if (state.start_horizon != absl::InfinitePast()) {
    ledger.restored_horizon_ = FloorSecond(state.start_horizon);
    ledger.restored_until_ = FloorSecond(ledger.watermark_);
    ledger.ended_horizon_ = ledger.restored_horizon_;
  }
  if (state.end_horizon != absl::InfinitePast()) {
    if (state.start_horizon == absl::InfinitePast() || state.end_horizon > state.watermark) {
      return absl::InvalidArgumentError(
          "ledger: endHorizon without a startHorizon, or after the watermark");
    }
    ledger.end_horizon_ = FloorSecond(state.end_horizon);
  }
  for (const PodAccount& pod : state.pods) {
    if (pod.uid.empty()) {
      return absl::InvalidArgumentError("ledger.pods: an entry has no uid");
    }
    if (pod.accounted_until < state.period.start || pod.accounted_until > state.period.end) {
      return absl::InvalidArgumentError(
          absl::StrCat("ledger.pods[", pod.uid, "].accountedUntil lies outside the period"));
    }
    // The pod's start is not persisted; it is at or before accountedUntil, and the first charge
    // after the restore lowers it to the pod's own start.
    ledger.accounts_.Emplace(pod.uid, {}) = {.from = Seconds(pod.accounted_until),
                                             .accounted_until = Seconds(pod.accounted_until)};
  }
  return ledger;
}

BudgetLedger::Charge BudgetLedger::ChargePod(const UidKey& uid, absl::Time from, absl::Time to,
                                             Money rate_per_hour, int64_t gpus, bool ended) {
  Account* account = accounts_.Find(uid);
  if (account == nullptr && ended && to <= ended_until_ && FloorSecond(from) <= ended_horizon_) {
    if (FloorSecond(to) <= end_horizon_) {
      return {};  // the restored checkpoint says it was charged in full
    }
    // Charged as running up to the restored watermark: what ran after its end is taken back.
    account = &accounts_.Emplace(uid, {.from = Seconds(from),
                                       .accounted_until = Seconds(restored_until_),
                                       .pass = PassMark(),
                                       .ended = true});
    return TakeBack(*account, std::min(Seconds(to), Seconds(period_.end)), rate_per_hour, gpus);
  }
  int64_t start = std::max(Seconds(from), Seconds(period_.start));
  if (account != nullptr) {
    start = std::max(start, account->accounted_until);
    account->from = std::min(account->from, Seconds(from));
  } else if (FloorSecond(from) <= restored_horizon_) {
    start = std::max(start, Seconds(restored_until_));  // charged up to the checkpoint's watermark
  }
  int64_t stop = std::min(Seconds(to), Seconds(period_.end));
  if (account != nullptr) {
    account->pass = PassMark();
    account->ended = ended;
    if (ended && stop < account->accounted_until) {
      return TakeBack(*account, stop, rate_per_hour, gpus);
    }
  } else {
    // Tracked from the first pass that sees it, even when nothing is due yet (it started in the
    // second of this pass): the next pass charges it from here, and the checkpoint knows it.
    account = &accounts_.Emplace(uid, {.from = Seconds(from),
                                       .accounted_until = std::min(start, Seconds(period_.end)),
                                       .pass = PassMark(),
                                       .ended = ended});
  }
  if (stop <= start) {
    return {};
  }
  int64_t seconds = stop - start;
  accrued_ += static_cast<Accrual>(rate_per_hour.micros()) * seconds;
  gpu_seconds_ += gpus * seconds;
  account->accounted_until = stop;
  return {AccrualToMoney(static_cast<Accrual>(rate_per_hour.micros()) * seconds), seconds};
}

// A pod charged past its end: its end became known only after passes had charged it as running
// (the watch was cut, the API server was down). What was charged after the end is taken back.
BudgetLedger::Charge BudgetLedger::TakeBack(Account& account, int64_t end, Money rate_per_hour,
                                            int64_t gpus) {
  int64_t seconds = account.accounted_until - std::max(end, Seconds(period_.start));
  if (seconds <= 0) {
    return {};
  }
  const Accrual back = static_cast<Accrual>(rate_per_hour.micros()) * seconds;
  accrued_ -= back;
  gpu_seconds_ -= gpus * seconds;
  account.accounted_until = std::max(end, Seconds(period_.start));
  return {Money() - AccrualToMoney(back), -seconds};
}

void BudgetLedger::CompletePass(absl::Time now, const std::vector<std::string>& ended_uids) {
  for (const std::string& uid : ended_uids) {
    const Account* account = accounts_.Find(uid);
    if (account != nullptr && !(account->ended && account->pass == PassMark())) {
      accounts_.Erase(uid);
    }
  }
  ++pass_;
  watermark_ = std::clamp(std::max(watermark_, now), period_.start, period_.end);
}

Money BudgetLedger::spent() const {
  return AccrualToMoney(accrued_);
}

absl::Time BudgetLedger::AccountedUntil(const UidKey& uid) const {
  const Account* account = accounts_.Find(uid);
  return account == nullptr ? absl::InfinitePast()
                            : absl::FromUnixSeconds(account->accounted_until);
}

std::vector<std::string> BudgetLedger::TrackedUids() const {
  std::vector<std::string> uids;
  uids.reserve(accounts_.size());
  accounts_.ForEach(
      [&](UidMap<Account>::Key uid, const Account&) { uids.push_back(uid.ToString()); });
  return uids;
}

LedgerState BudgetLedger::Snapshot() const {
  LedgerState state;
  state.period = period_;
  state.accrued = accrued_;
  state.gpu_seconds = gpu_seconds_;
  state.watermark = watermark_;
  // Pods are charged in whole seconds: "charged up to the watermark" means up to its second.
  const absl::Time w = FloorSecond(watermark_);
  // Never earlier than the restored horizon: pods it covers that no pass has seen since the
  // restore are charged up to the restored watermark, and must not be charged again from start.
  absl::Time horizon = std::min(std::max(w - kStartGrace, restored_horizon_), w);
  struct Entry {
    std::string uid;  // filled once the entry is kept
    absl::Time from;  // floored to the second
    absl::Time until;
    bool ended;  // charged to its end, at or before w: the rule covers it below the horizon
  };
  // An ended pod charged to its end is an exception to "charged up to w" while a stale cache
  // elsewhere may still show it running: a process restoring the checkpoint would charge it
  // from w and then take back from its end what it never charged. Pods that ended more than
  // kStartGrace before w are taken as seen ended everywhere (ledger.h, pitfalls).
  auto exception = [&](const Entry& e) {
    return e.until != w && (!e.ended || e.until > w - kStartGrace);
  };
  std::vector<Entry> off_watermark;  // started at or before the horizon, not charged up to w
  // Started after the horizon, listed as charged so far: a pod charged nothing yet (it started
  // in the second of the pass) is listed at its start, which a restore charges from as it would
  // an unlisted one; listing it shows the start in status at the first pass that sees it.
  std::vector<Entry> recent;
  accounts_.ForEach([&](UidMap<Account>::Key key, const Account& account) {
    Entry e{"", TimeOfSeconds(account.from), absl::FromUnixSeconds(account.accounted_until),
            account.ended};
    if (e.from <= horizon) {
      if (exception(e)) {
        e.uid = key.ToString();
        off_watermark.push_back(std::move(e));
      }
    } else {
      e.uid = key.ToString();
      recent.push_back(std::move(e));  // (restored and not charged since: listed as it was)
    }
  });
  // Too many recent starts: move the horizon forward until the newest ones fit. The pods it
  // passes are charged up to w, so the rule covers them; any other joins the exceptions.
  size_t room = kMaxCheckpointPods - std::min(kMaxCheckpointPods, off_watermark.size());
  if (recent.size() > room) {
    std::sort(recent.begin(), recent.end(),
              [](const Entry& a, const Entry& b) { return a.from > b.from; });
    horizon = recent[room].from;
    std::vector<Entry> kept;
    for (const Entry& e : recent) {
      if (e.from > horizon) {
        kept.push_back(e);
      } else if (exception(e)) {
        off_watermark.push_back(e);
      }
    }
    recent = std::move(kept);
  }
  std::vector<Entry> listed = std::move(recent);
  // Pods charged up to another instant than w: none in the planner's passes but for pods that
  // stopped drawing on the retraining reserve; past the bound, the rule charges them from w.
  // Ended ones left out move the end horizon past their ends, so the rule skips them.
  std::sort(off_watermark.begin(), off_watermark.end(),
            [](const Entry& a, const Entry& b) { return a.uid < b.uid; });
  absl::Time end_horizon = w - kStartGrace;
  for (const Entry& e : off_watermark) {
    if (listed.size() < kMaxCheckpointPods) {
      listed.push_back(e);
    } else if (e.ended) {
      end_horizon = std::max(end_horizon, e.until);
    }
  }
  state.start_horizon = horizon;
  state.end_horizon = std::min(end_horizon, w);
  state.pods.reserve(listed.size());
  for (const Entry& e : listed) {
    state.pods.push_back({e.uid, e.until});
  }
  std::sort(state.pods.begin(), state.pods.end(),
            [](const PodAccount& a, const PodAccount& b) { return a.uid < b.uid; });
  return state;
}

}  // namespace bursar::values
