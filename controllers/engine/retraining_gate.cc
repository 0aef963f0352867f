#include "controllers/engine/retraining_gate.h"

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

}  // namespace bursar::engine
