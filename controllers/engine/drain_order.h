#pragma once

// Drain order within a budget: which running Jobs are suspended when the decision keeps fewer
// GPUs (or less money per hour) running than run now (engine::BudgetDecision's
// keep_running_gpus and keep_running_rate). The operator's Drain
// (reconcilers/planner_actuation.cc) and the simulator's (sim/simulation_decisions.cc) both
// choose with ChooseDrained, so they agree.
//
// The rule: lowest priority first, then the most recently started run (the least work lost),
// then the caller's order; suspend in that order until what still runs fits `keep` — GPUs, and
// money per hour when given (CPU-only Jobs cost money but no GPUs). Pure and deterministic.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "controllers/values/money.h"

namespace bursar::engine {

struct DrainCandidate {
  int64_t priority = 0;
  absl::Time started;  // its current run began (a Job with no pod started yet: now)
  int64_t gpus = 0;
  values::Money rate;  // per hour, of its running pods
};

// What may keep running: GPUs, and money per hour (nullopt: not bounded).
struct KeepRunning {
  int64_t gpus = 0;
  std::optional<values::Money> rate;
};

// Indices into `candidates` of the Jobs to suspend, in the order they are chosen.
std::vector<size_t> ChooseDrained(absl::Span<const DrainCandidate> candidates,
                                  const KeepRunning& keep);

}  // namespace bursar::engine
