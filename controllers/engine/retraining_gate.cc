#include "controllers/engine/retraining_gate.h"

#include <algorithm>
#include <tuple>

namespace bursar::engine {

const char* DriftOutcomeName(DriftOutcome outcome) {
  switch (outcome) {
    case DriftOutcome::kUnlocked:
      return "Unlocked";
    case DriftOutcome::kBelowThreshold:
      return "BelowThreshold";
    case DriftOutcome::kCoolingDown:
      return "CoolingDown";
    case DriftOutcome::kCapReached:
      return "CapReached";
    case DriftOutcome::kNoReserve:
      return "NoReserve";
  }
  return "?";
}

void RetrainingGate::Roll(const values::Period& period) {
  if (period_ == period) {
    return;
  }
  period_ = period;
  unlocked_.clear();
  unlocks_this_period_ = 0;
}

DriftOutcome RetrainingGate::Observe(const api::RetrainingSpec& spec,
                                     const ModelDriftSignal& signal, const values::Period& period) {
  Roll(period);
  if (spec.reserve_percent <= 0) {
    return DriftOutcome::kNoReserve;
  }
  if (signal.score_micros < spec.drift_threshold_micros) {
    return DriftOutcome::kBelowThreshold;
  }
  auto last = last_unlock_.find(signal.model);
  if (last != last_unlock_.end() && signal.time - last->second < spec.cooldown) {
    return DriftOutcome::kCoolingDown;
  }
  if (unlocks_this_period_ >= spec.max_per_period) {
    return DriftOutcome::kCapReached;
  }
  last_unlock_[signal.model] = signal.time;
  unlocked_[signal.model] = true;
  ++unlocks_this_period_;
  return DriftOutcome::kUnlocked;
}

bool RetrainingGate::IsUnlocked(const std::string& model, const values::Period& period) const {
  return period_ == period && unlocked_.contains(model);
}

bool RetrainingGate::AnyUnlocked(const values::Period& period) const {
  return period_ == period && !unlocked_.empty();
}

int RetrainingGate::UnlocksIn(const values::Period& period) const {
  return period_ == period ? unlocks_this_period_ : 0;
}

api::RetrainingStatus RetrainingGate::Export(absl::Time now, absl::Duration cooldown) const {
  api::RetrainingStatus out;
  if (period_.end != absl::InfinitePast()) {
    out.period = period_;
  }
  out.unlocks_this_period = unlocks_this_period_;
  for (const auto& [model, last] : last_unlock_) {
    bool open = unlocked_.contains(model);
    if (open || now - last < cooldown) {
      out.models.push_back({.model = model, .last_unlock = last, .open = open});
    }
  }
  std::sort(out.models.begin(), out.models.end(),
            [](const api::ModelUnlock& a, const api::ModelUnlock& b) {
              return std::make_tuple(!a.open, -absl::ToUnixNanos(a.last_unlock), a.model) <
                     std::make_tuple(!b.open, -absl::ToUnixNanos(b.last_unlock), b.model);
            });
  if (out.models.size() > api::kMaxModelUnlocks) {
    out.models.resize(api::kMaxModelUnlocks);
  }
  return out;
}

void RetrainingGate::Restore(const api::RetrainingStatus& status) {
  *this = RetrainingGate();
  if (status.period.has_value()) {
    period_ = *status.period;
    unlocks_this_period_ = status.unlocks_this_period;
  }
  for (const api::ModelUnlock& m : status.models) {
    last_unlock_[m.model] = m.last_unlock;
    if (m.open && status.period.has_value()) {
      unlocked_[m.model] = true;
    }
  }
}

}  // namespace bursar::engine
