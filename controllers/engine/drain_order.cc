#include "controllers/engine/drain_order.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace bursar::engine {

std::vector<size_t> ChooseDrained(absl::Span<const DrainCandidate> candidates,
                                  const KeepRunning& keep) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_tuple(candidates[a].priority, -absl::ToUnixNanos(candidates[a].started)) <
           std::make_tuple(candidates[b].priority, -absl::ToUnixNanos(candidates[b].started));
  });
  int64_t gpus = 0;
  values::Money rate;
  for (const DrainCandidate& c : candidates) {
    gpus += c.gpus;
    rate += c.rate;
  }
  std::vector<size_t> drained;
  for (size_t i : order) {
    if (gpus <= keep.gpus && (!keep.rate.has_value() || rate <= *keep.rate)) {
      break;
    }
    gpus -= candidates[i].gpus;
    rate -= candidates[i].rate;
    drained.push_back(i);
  }
  return drained;
}

}  // namespace bursar::engine
