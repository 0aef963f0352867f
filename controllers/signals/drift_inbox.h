#pragma once

// DriftInbox: the hand-off of modelDrift signals from the gRPC handler (any thread) to the budget
// reconciler, which drains it at the start of each pass. Bounded: when full, the oldest signal
// is dropped and counted, because a newer score for the same model supersedes an older one and
// an unbounded queue would let a noisy reporter exhaust memory.
// Thread-safe: every method may be called from any thread.
//
// ValidateModelDriftReport is the pure check shared by every transport: it never reads the
// clock; the caller passes "now".

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controllers/engine/retraining_gate.h"

namespace bursar::signals {

// A report as it arrives, before validation.
struct ModelDriftReport {
  std::string model;
  double score = 0.0;
  std::string metric;
  absl::Time time = absl::InfinitePast();  // InfinitePast means "not given" and is rejected
  std::string source;
};

// How far ahead of the operator's clock a report's time may be (clock skew between systems).
inline constexpr absl::Duration kMaxFutureSkew = absl::Minutes(5);
// Source recorded when a report names none.
inline constexpr char kDefaultDriftSource[] = "grpc";

// Checks a report and converts it to the engine's signal. Rules: model is a valid label value
// (1-63 characters of [A-Za-z0-9._-], alphanumeric at both ends); score is finite and within
// [0, 1], stored as millionths rounded to nearest; time is given and at most kMaxFutureSkew
// after `now`; source is at most 63 characters of [A-Za-z0-9._/:@-] (no spaces: it is shown
// beside the caller's identity) and an empty one becomes kDefaultDriftSource. Errors are
// InvalidArgument and start with the field name ("model: ...").
absl::StatusOr<engine::ModelDriftSignal> ValidateModelDriftReport(const ModelDriftReport& report,
                                                                  absl::Time now);

class DriftInbox {
 public:
  static constexpr size_t kDefaultCapacity = 1024;

  // capacity must be > 0 (0 is treated as 1).
  explicit DriftInbox(size_t capacity = kDefaultCapacity);

  DriftInbox(const DriftInbox&) = delete;
  DriftInbox& operator=(const DriftInbox&) = delete;

  // Appends a signal; when full, drops the oldest first and counts it.
  void Push(engine::ModelDriftSignal signal);
  // Everything queued, oldest first; the inbox is empty afterwards.
  std::vector<engine::ModelDriftSignal> Drain();

  size_t size() const;
  size_t capacity() const { return capacity_; }
  // Signals dropped because the inbox was full, since construction (for a metric).
  uint64_t dropped() const;

 private:
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<engine::ModelDriftSignal> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace bursar::signals
