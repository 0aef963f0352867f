#pragma once

// RetrainingGate: turns modelDrift signals into access to a budget's retraining reserve.
//
// A signal for model M whose score reaches spec.driftThreshold unlocks the reserve for
// retraining jobs of M (jobs labelled modelLabel=M and purposeLabel=retrain) until the period
// ends, unless M was unlocked less than `cooldown` ago (any period) or the budget already had
// `maxPerPeriod` unlocks this period. A new period clears the unlocks, not the cooldowns.
// Every outcome is reported so that status and Events can say why a signal did or did not
// count. Its state round-trips through status (Export, Restore) so a failover forgets nothing.
// Pure and deterministic; thread-compatible.

#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/values/period.h"

namespace bursar::engine {

struct ModelDriftSignal {
  std::string model;
  int64_t score_micros = 0;  // modelDrift score in millionths of [0, 1]
  std::string metric;        // e.g. "psi", "kl_divergence"
  absl::Time time;
  std::string source;  // who reported it
};

enum class DriftOutcome { kUnlocked, kBelowThreshold, kCoolingDown, kCapReached, kNoReserve };

const char* DriftOutcomeName(DriftOutcome outcome);

class RetrainingGate {
 public:
  // Applies one signal observed during `period`.
  DriftOutcome Observe(const api::RetrainingSpec& spec, const ModelDriftSignal& signal,
                       const values::Period& period);

  bool IsUnlocked(const std::string& model, const values::Period& period) const;
  bool AnyUnlocked(const values::Period& period) const;
  int UnlocksIn(const values::Period& period) const;

  // The state to keep in status: open unlocks, the period's count and the models still cooling
  // down at `now` (older unlocks no longer matter), at most api::kMaxModelUnlocks, open ones and
  // then the newest kept first.
  api::RetrainingStatus Export(absl::Time now, absl::Duration cooldown) const;
  // Continues from a status a previous leader wrote.
  void Restore(const api::RetrainingStatus& status);

 private:
  void Roll(const values::Period& period);
  values::Period period_{absl::InfinitePast(), absl::InfinitePast()};
  std::map<std::string, absl::Time> last_unlock_;  // by model, across periods
  std::map<std::string, bool> unlocked_;           // by model, this period
  int unlocks_this_period_ = 0;
};

}  // namespace bursar::engine
