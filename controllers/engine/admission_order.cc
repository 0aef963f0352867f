#include "controllers/engine/admission_order.h"

#include <algorithm>

namespace bursar::engine {
namespace {

std::strong_ordering CompareTimes(absl::Time a, absl::Time b) {
  return a < b ? std::strong_ordering::less
               : (b < a ? std::strong_ordering::greater : std::strong_ordering::equal);
}

}  // namespace

std::optional<absl::Duration> ExpectedLength(const DeclaredLength& declared,
                                             const JobLengths& learned, std::string_view model) {
  if (declared.expected.has_value() && declared.active_deadline.has_value()) {
    return std::min(*declared.expected, *declared.active_deadline);
  }
  if (declared.expected.has_value()) {
    return declared.expected;
  }
  if (declared.active_deadline.has_value()) {
    return declared.active_deadline;
  }
  return LearnedLength(learned, model);
}

std::optional<absl::Duration> LearnedLength(const JobLengths& learned, std::string_view model) {
  std::optional<absl::Duration> typical = learned.Typical(model);
  if (!typical.has_value()) {
    return std::nullopt;
  }
  absl::Duration rounded = absl::Minutes(1);
  while (rounded * 2 <= *typical) {
    rounded *= 2;
  }
  return rounded;
}

std::strong_ordering operator<=>(const AdmissionRank& a, const AdmissionRank& b) {
  if (a.priority != b.priority) {
    return b.priority <=> a.priority;  // higher priority first
  }
  if (std::strong_ordering due = CompareTimes(a.due, b.due); due != 0) {
    return due;
  }
  return CompareTimes(a.queued, b.queued);
}

AdmissionRank AdmissionRankOf(int64_t priority, absl::Time queued,
                              std::optional<absl::Duration> expected, int64_t gpus) {
  const int64_t width = std::clamp<int64_t>(gpus, 1, 1 << 20);
  const absl::Duration work = expected.has_value() && *expected < kLongestRanked / width
                                  ? *expected * width
                                  : kLongestRanked;
  return {.priority = priority,
          .due = queued + kLengthWeight * std::max(work, absl::ZeroDuration()),
          .queued = queued};
}

}  // namespace bursar::engine
