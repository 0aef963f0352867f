#include "controllers/engine/drain_order.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace bursar::engine {

int64_t IdleLeftBehind(const OwnedBin& bin, int64_t drained) {
  const int64_t per_node = std::max<int64_t>(1, bin.gpus_per_node);
  const int64_t before = std::max<int64_t>(0, bin.idle_gpus);
  const int64_t after = std::max<int64_t>(0, bin.idle_gpus + drained);
  return (after - before) - per_node * (after / per_node - before / per_node);
}

namespace {

// What still runs while ChooseDrained suspends: the candidates' GPUs and money per hour, with
// the idle GPUs the suspensions leave behind on the bins' nodes that stay.
class Running {
 public:
  Running(absl::Span<const DrainCandidate> candidates, absl::Span<const OwnedBin> bins)
      : candidates_(candidates), bins_(bins), drained_(bins.size(), 0) {
    for (const DrainCandidate& c : candidates) {
      gpus_ += c.gpus;
      rate_ += c.rate;
    }
  }

  // The candidate's bin; -1 when it names none of `bins`.
  int BinOf(size_t i) const {
    const int bin = candidates_[i].bin;
    return bin >= 0 && static_cast<size_t>(bin) < bins_.size() ? bin : -1;
  }

  bool Fits(const KeepRunning& keep) const {
    return gpus_ <= keep.gpus && (!keep.rate.has_value() || rate_ <= *keep.rate);
  }

  void Suspend(size_t i) {
    const DrainCandidate& c = candidates_[i];
    gpus_ -= c.gpus;
    rate_ -= c.rate;
    if (BinOf(i) >= 0) {
      const auto b = static_cast<size_t>(BinOf(i));
      const int64_t before = IdleLeftBehind(bins_[b], drained_[b]);
      drained_[b] += c.gpus;
      const int64_t left = IdleLeftBehind(bins_[b], drained_[b]) - before;
      gpus_ += left;
      rate_ += bins_[b].idle_gpu_rate.MulDiv(left, 1);
    }
  }

  // Whether the bin's suspensions so far leave idle GPUs behind (no whole node freed for them).
  bool LeavesIdle(int bin) const {
    const auto b = static_cast<size_t>(bin);
    return IdleLeftBehind(bins_[b], drained_[b]) > 0;
  }

  // Whether every GPU suspended in the bin stays paid for: it freed nothing.
  bool FreedNothing(int bin) const {
    const auto b = static_cast<size_t>(bin);
    return drained_[b] > 0 && IdleLeftBehind(bins_[b], drained_[b]) >= drained_[b];
  }

 private:
  absl::Span<const DrainCandidate> candidates_;
  absl::Span<const OwnedBin> bins_;
  std::vector<int64_t> drained_;  // GPUs suspended, by bin
  int64_t gpus_ = 0;
  values::Money rate_;
};

}  // namespace

std::vector<size_t> ChooseDrained(absl::Span<const DrainCandidate> candidates,
                                  const KeepRunning& keep, absl::Span<const OwnedBin> bins) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::make_tuple(candidates[a].priority, -absl::ToUnixNanos(candidates[a].started)) <
           std::make_tuple(candidates[b].priority, -absl::ToUnixNanos(candidates[b].started));
  });
  Running running(candidates, bins);
  // Each bin's candidates in the same order, and how far Drain has taken them.
  std::vector<std::vector<size_t>> by_bin(bins.size());
  for (size_t i : order) {
    if (running.BinOf(i) >= 0) {
      by_bin[static_cast<size_t>(running.BinOf(i))].push_back(i);
    }
  }
  std::vector<size_t> next_in_bin(bins.size(), 0);
  std::vector<bool> taken(candidates.size(), false);
  std::vector<size_t> drained;
  auto suspend = [&](size_t i) {
    running.Suspend(i);
    taken[i] = true;
    drained.push_back(i);
  };
  for (size_t i : order) {
    if (running.Fits(keep)) {
      break;
    }
    if (taken[i]) {
      continue;
    }
    suspend(i);
    const int bin = running.BinOf(i);
    if (bin < 0) {
      continue;
    }
    // A node that still runs work saves nothing: the rest of its bin follows until one is free.
    const std::vector<size_t>& members = by_bin[static_cast<size_t>(bin)];
    size_t& next = next_in_bin[static_cast<size_t>(bin)];
    while (running.LeavesIdle(bin) && !running.Fits(keep) && next < members.size()) {
      if (!taken[members[next]]) {
        suspend(members[next]);
      }
      ++next;
    }
  }
  // Suspensions that freed nothing are not made, when what runs fits without them. When nothing
  // fits, all that was chosen goes: a budget that cannot keep what runs stops it all, whatever
  // the node bookkeeping says (it may be wrong: a node another budget's pods keep busy passes to
  // that budget once this one holds).
  if (running.Fits(keep)) {
    std::erase_if(drained, [&](size_t i) {
      return running.BinOf(i) >= 0 && running.FreedNothing(running.BinOf(i));
    });
  }
  return drained;
}

}  // namespace bursar::engine
