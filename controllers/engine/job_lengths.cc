#include "controllers/engine/job_lengths.h"

#include <algorithm>

namespace bursar::engine {

void JobLengths::Add(absl::Duration length, int64_t gpus) {
  samples_[next_] = {.seconds = std::max<int64_t>(0, absl::ToInt64Seconds(length)),
                     .weight = std::max<int64_t>(1, gpus)};
  next_ = (next_ + 1) % kCapacity;
  size_ = std::min(size_ + 1, kCapacity);
}

double JobLengths::FractionLongerThan(absl::Duration left) const {
  if (size_ == 0) {
    return 1.0;
  }
  const int64_t left_s = absl::ToInt64Seconds(left);
  int64_t longer = 0;
  int64_t total = 0;
  for (size_t i = 0; i < size_; ++i) {
    total += samples_[i].weight;
    if (samples_[i].seconds > left_s) {
      longer += samples_[i].weight;
    }
  }
  return static_cast<double>(longer) / static_cast<double>(total);
}

}  // namespace bursar::engine
