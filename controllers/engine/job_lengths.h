#pragma once

// JobLengths: what a budget has learned about how long its work runs, from the Jobs that
// finished: the share that outlives a period (engine::BudgetInputs::carry_fraction,
// docs/concepts.md "Commitments"), and a typical length per model for Jobs that declare none
// (engine/admission_order.h). Bounded: the last kCapacity finished Jobs, each weighted by its
// GPUs (a CPU-only Job weighs one) and tagged with one of at most kMaxModels model names.
//
// Kept across restarts in the budget's status as one compact string (Encode / Decode):
//   v1;until=<unix s>;models=<m0>,<m1>,...;samples=<seconds>x<gpus>/<model index> ...
// oldest sample first; a sample of no known model has no "/<index>". At most
// kMaxEncodedBytes (about 6 KB; 2-3 KB typical). Decode refuses anything else with a reason,
// so a corrupt status value is ignored, never trusted. Pure, deterministic, thread-compatible.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bursar::engine {

class JobLengths {
 public:
  static constexpr size_t kCapacity = 256;
  static constexpr size_t kMaxModels = 16;
  static constexpr size_t kMaxModelName = 63;  // a label value
  // A model's own mean is used once this many of its Jobs are known; else every Job's.
  static constexpr size_t kLeastSamples = 3;
  // 256 samples of at most "31622400x100000/15 " and 16 names of 63 characters, with the keys.
  static constexpr size_t kMaxEncodedBytes = 6144;

  // A Job of `model` ("" when unknown) that finished after running `length` (its pods' run time,
  // restarts excluded). `ended` is when it ended (the restore watermark, see learned_until).
  void Add(absl::Duration length, int64_t gpus, std::string_view model = "",
           absl::Time ended = absl::InfinitePast());

  // The GPU-weighted share of the learned Jobs that ran longer than `left`, in [0, 1]; 1 when
  // nothing is known yet (assume all work outlives the period: the safe side).
  double FractionLongerThan(absl::Duration left) const;

  // How long a Job of `model` typically runs: the mean of the model's learned Jobs when at
  // least kLeastSamples are known, else the mean of all learned Jobs when that many are known,
  // else nullopt.
  std::optional<absl::Duration> Typical(std::string_view model) const;

  // The latest end of a Job learned (InfinitePast when none): after a restart, pods that ended
  // at or before it were already learned.
  absl::Time learned_until() const { return learned_until_; }

  size_t size() const { return size_; }
  // Changes whenever what was learned changes (callers cache what they derive from it).
  uint64_t version() const { return version_; }

  std::string Encode() const;
  static absl::StatusOr<JobLengths> Decode(std::string_view text);

  friend bool operator==(const JobLengths& a, const JobLengths& b) {
    return a.Encode() == b.Encode();
  }

 private:
  static constexpr uint8_t kNoModel = 0xff;
  struct Sample {
    int64_t seconds = 0;
    int64_t weight = 0;
    uint8_t model = kNoModel;
  };
  // The index of `model` in models_, adding it (or reusing a name no sample refers to any
  // more) when there is room; kNoModel otherwise.
  uint8_t ModelIndex(std::string_view model);
  std::optional<uint8_t> FindModel(std::string_view model) const;
  // Oldest first.
  const Sample& At(size_t i) const { return samples_[(next_ + kCapacity - size_ + i) % kCapacity]; }
  // Forgets the oldest sample when the ring is full, then writes `s` into the next slot,
  // keeping the running sums (Typical is asked on every admission scan: it must not walk the
  // samples).
  void EvictOldest();
  void Push(const Sample& s);

  std::array<Sample, kCapacity> samples_{};
  size_t next_ = 0;
  size_t size_ = 0;
  std::vector<std::string> models_;
  absl::Time learned_until_ = absl::InfinitePast();
  uint64_t version_ = 0;
  // Sums of the samples' seconds and their counts: all of them, and per model index.
  int64_t all_seconds_ = 0;
  std::array<int64_t, kMaxModels> model_seconds_{};
  std::array<int64_t, kMaxModels> model_count_{};
};

}  // namespace bursar::engine
