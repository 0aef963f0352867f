#pragma once

// JobLengths: what a budget has learned about how long its work runs, from the Jobs that
// finished, to judge how much of the work admitted now will still run when the period ends
// (engine::BudgetInputs::carry_fraction, docs/concepts.md "Commitments"). Bounded: the last
// kCapacity finished Jobs, each weighted by its GPUs (a CPU-only Job weighs one). Pure,
// deterministic and thread-compatible.

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/time/time.h"

namespace bursar::engine {

class JobLengths {
 public:
  static constexpr size_t kCapacity = 256;

  // A Job that finished after running `length` (its pods' run time, restarts excluded).
  void Add(absl::Duration length, int64_t gpus);

  // The GPU-weighted share of the learned Jobs that ran longer than `left`, in [0, 1]; 1 when
  // nothing is known yet (assume all work outlives the period: the safe side).
  double FractionLongerThan(absl::Duration left) const;

  size_t size() const { return size_; }

 private:
  struct Sample {
    int64_t seconds = 0;
    int64_t weight = 0;
  };
  std::array<Sample, kCapacity> samples_{};
  size_t next_ = 0;
  size_t size_ = 0;
};

}  // namespace bursar::engine
