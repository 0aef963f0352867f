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
//
// Capacity the budget pays for by the node (nodes grown for it: engine::OwnedBin) changes what a
// suspension saves. The budget pays for such a node's GPUs no pod holds, so a Job suspended on a
// node that still runs other work frees GPUs it goes on paying for as idle: nothing is saved
// until the whole node is free and removed. So what still runs is counted with the idle GPUs
// the suspensions leave on nodes that stay (they cost as much as running ones), a Job on such
// a node is followed by the rest of its bin (in the same order) until a node is free, and
// suspensions that free no node at all are not made (they would throw work away for nothing)
// while what runs fits without them; when nothing fits, all that was chosen goes (the limit
// comes before the node bookkeeping, which cannot see every way a node changes hands).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "controllers/values/money.h"

namespace bursar::engine {

// Nodes a budget pays for whole (grown for it), as one bin: the operator makes one per node
// (nodes that share a Job merge into one bin of their summed GPUs), the simulator one per pool,
// whose nodes it counts rather than places pods on.
struct OwnedBin {
  int64_t gpus_per_node = 1;
  // GPUs of the bin the budget pays for that no pod holds. Negative: the budget's work in the bin
  // exceeds what it pays for (it runs on capacity others pay for), so suspending that much first
  // frees GPUs at once.
  int64_t idle_gpus = 0;
  values::Money idle_gpu_rate;  // per hour, of one idle GPU of the bin
};

struct DrainCandidate {
  int64_t priority = 0;
  absl::Time started;  // its current run began (a Job with no pod started yet: now)
  int64_t gpus = 0;
  values::Money rate;  // per hour, of its running pods
  int bin = -1;        // index of the OwnedBin holding its GPUs; -1: none
};

// What may keep running: GPUs, and money per hour (nullopt: not bounded).
struct KeepRunning {
  int64_t gpus = 0;
  std::optional<values::Money> rate;
};

// Indices into `candidates` of the Jobs to suspend, in the order they are chosen.
std::vector<size_t> ChooseDrained(absl::Span<const DrainCandidate> candidates,
                                  const KeepRunning& keep, absl::Span<const OwnedBin> bins = {});

// GPUs a bin goes on paying for as idle once `drained` of its pods' GPUs are suspended, beyond
// the GPUs it paid for idle before: what lands on the bin's paid capacity, less whole nodes freed.
int64_t IdleLeftBehind(const OwnedBin& bin, int64_t drained);

}  // namespace bursar::engine
