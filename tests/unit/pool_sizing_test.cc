// Tests for engine::SizePool: target = ceil(demand / gpusPerNode) clamped to [minNodes,
// maxNodes], at most maxScaleStep nodes per decision, scale-down only after scaleDownDelay of low
// demand (low_since carried by the caller) and never below the busy nodes.

#include "controllers/engine/pool_sizing.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "gtest/gtest.h"

namespace bursar::engine {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);
const absl::Time kNever = absl::InfiniteFuture();

// Defaults: 8 GPUs per node, 0..10 nodes, 2 nodes per step, 10 minutes' scale-down delay.
class PoolSpecBuilder {
 public:
  PoolSpecBuilder() {
    spec_.gpus_per_node = 8;
    spec_.min_nodes = 0;
    spec_.max_nodes = 10;
    spec_.max_scale_step = 2;
    spec_.scale_down_delay = absl::Minutes(10);
  }
  PoolSpecBuilder& GpusPerNode(int n) {
    spec_.gpus_per_node = n;
    return *this;
  }
  PoolSpecBuilder& Nodes(int min, int max) {
    spec_.min_nodes = min;
    spec_.max_nodes = max;
    return *this;
  }
  PoolSpecBuilder& Step(int step) {
    spec_.max_scale_step = step;
    return *this;
  }
  PoolSpecBuilder& Delay(absl::Duration d) {
    spec_.scale_down_delay = d;
    return *this;
  }
  api::GPUNodePoolSpec Build() const { return spec_; }

 private:
  api::GPUNodePoolSpec spec_;
};

class PoolInputsBuilder {
 public:
  PoolInputsBuilder() { in_.now = kNow; }
  PoolInputsBuilder& Current(int nodes) {
    in_.current_nodes = nodes;
    return *this;
  }
  PoolInputsBuilder& Busy(int nodes) {
    in_.busy_nodes = nodes;
    return *this;
  }
  PoolInputsBuilder& Demand(int64_t gpus) {
    in_.allowed_demand_gpus = gpus;
    return *this;
  }
  PoolInputsBuilder& LowFor(absl::Duration d) {
    in_.low_since = in_.now - d;
    return *this;
  }
  PoolInputsBuilder& LowSince(absl::Time t) {
    in_.low_since = t;
    return *this;
  }
  PoolInputsBuilder& ScaleDownNow() {
    in_.scale_down_now = true;
    return *this;
  }
  PoolSizingInputs Build() const { return in_; }

 private:
  PoolSizingInputs in_;
};

struct SizeCase {
  std::string name;
  PoolSpecBuilder spec;
  PoolInputsBuilder in;
  int want_nodes;
  absl::Time want_low_since;
};

void PrintTo(const SizeCase& c, std::ostream* os) {
  *os << c.name;
}

class PoolSizingTest : public testing::TestWithParam<SizeCase> {};

TEST_P(PoolSizingTest, Decide) {
  const SizeCase& c = GetParam();
  PoolSizingDecision d = SizePool(c.spec.Build(), c.in.Build());
  EXPECT_EQ(d.desired_nodes, c.want_nodes) << d.reason;
  EXPECT_EQ(d.low_since, c.want_low_since) << d.reason;
  EXPECT_FALSE(d.reason.empty());
}

INSTANTIATE_TEST_SUITE_P(
    PoolSizingScaleUp, PoolSizingTest,
    testing::Values(
        SizeCase{"NoDemandEmptyPool", PoolSpecBuilder(), PoolInputsBuilder(), 0, kNever},
        SizeCase{"OneGpuNeedsOneNode", PoolSpecBuilder(), PoolInputsBuilder().Demand(1), 1, kNever},
        SizeCase{"ExactlyOneNode", PoolSpecBuilder(), PoolInputsBuilder().Demand(8), 1, kNever},
        SizeCase{"RoundsUpToWholeNodes", PoolSpecBuilder(), PoolInputsBuilder().Demand(9), 2,
                 kNever},
        SizeCase{"RoundsUpFromPartlyFull", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(2).Demand(17), 3, kNever},
        SizeCase{"BoundedByStep", PoolSpecBuilder(), PoolInputsBuilder().Demand(80), 2, kNever},
        SizeCase{"BoundedByStepMidway", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(5).Demand(80), 7, kNever},
        SizeCase{"StepOfOne", PoolSpecBuilder().Step(1), PoolInputsBuilder().Current(3).Demand(80),
                 4, kNever},
        SizeCase{"BigStepReachesTarget", PoolSpecBuilder().Step(10),
                 PoolInputsBuilder().Current(1).Demand(33), 5, kNever},
        SizeCase{"BoundedByMaxNodes", PoolSpecBuilder(), PoolInputsBuilder().Current(9).Demand(800),
                 10, kNever},
        SizeCase{"AtMaxNodes", PoolSpecBuilder(), PoolInputsBuilder().Current(10).Demand(800), 10,
                 kNever},
        SizeCase{"OneGpuPerNode", PoolSpecBuilder().GpusPerNode(1).Step(10),
                 PoolInputsBuilder().Demand(5), 5, kNever},
        SizeCase{"MinNodesWithoutDemand", PoolSpecBuilder().Nodes(3, 10), PoolInputsBuilder(), 2,
                 kNever},
        SizeCase{"MinNodesReached", PoolSpecBuilder().Nodes(3, 10), PoolInputsBuilder().Current(2),
                 3, kNever},
        SizeCase{"AtMinNodes", PoolSpecBuilder().Nodes(3, 10), PoolInputsBuilder().Current(3), 3,
                 kNever},
        SizeCase{"ScaleUpForgetsLowSince", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(2).Demand(24).LowFor(absl::Hours(1)), 3, kNever},
        SizeCase{"AtTargetForgetsLowSince", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(2).Demand(16).LowFor(absl::Hours(1)), 2, kNever}),
    [](const testing::TestParamInfo<SizeCase>& p) { return p.param.name; });

INSTANTIATE_TEST_SUITE_P(
    PoolSizingScaleDown, PoolSizingTest,
    testing::Values(
        SizeCase{"StartsWaiting", PoolSpecBuilder(), PoolInputsBuilder().Current(4).Demand(8), 4,
                 kNow},
        SizeCase{
            "KeepsWaiting", PoolSpecBuilder(),
            PoolInputsBuilder().Current(4).Demand(8).LowFor(absl::Minutes(10) - absl::Seconds(1)),
            4, kNow - absl::Minutes(10) + absl::Seconds(1)},
        SizeCase{"DelayElapsedStepsDown", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(4).Demand(8).LowFor(absl::Minutes(10)), 2,
                 kNow - absl::Minutes(10)},
        SizeCase{"ReachesTarget", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(3).Demand(8).LowFor(absl::Minutes(20)), 1, kNever},
        SizeCase{"ToZero", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(1).LowFor(absl::Minutes(20)), 0, kNever},
        SizeCase{"BoundedByStep", PoolSpecBuilder().Step(3),
                 PoolInputsBuilder().Current(10).LowFor(absl::Hours(1)), 7, kNow - absl::Hours(1)},
        SizeCase{"NeverBelowBusyNodes", PoolSpecBuilder().Step(5),
                 PoolInputsBuilder().Current(4).Busy(3).Demand(8).LowFor(absl::Hours(1)), 3,
                 kNow - absl::Hours(1)},
        SizeCase{"AllNodesBusy", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(4).Busy(4).LowFor(absl::Hours(1)), 4,
                 kNow - absl::Hours(1)},
        SizeCase{"BusyCountAboveCurrent", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(4).Busy(6).LowFor(absl::Hours(1)), 4,
                 kNow - absl::Hours(1)},
        SizeCase{"NeverBelowMinNodes", PoolSpecBuilder().Nodes(2, 10).Step(5),
                 PoolInputsBuilder().Current(6).LowFor(absl::Hours(1)), 2, kNever},
        SizeCase{"ZeroDelayShrinksAtOnce", PoolSpecBuilder().Delay(absl::ZeroDuration()),
                 PoolInputsBuilder().Current(4), 2, kNow},
        SizeCase{"AboveMaxNodesShrinksAfterDelay", PoolSpecBuilder().Nodes(0, 3),
                 PoolInputsBuilder().Current(5).Demand(800).LowFor(absl::Minutes(10)), 3, kNever},
        // A held or drained budget pays for idle nodes: no waiting, but still the step, the
        // busy nodes and minNodes.
        SizeCase{"ScaleDownNowSkipsDelay", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(4).ScaleDownNow(), 2, kNow},
        SizeCase{"ScaleDownNowKeepsBusyNodes", PoolSpecBuilder().Step(4),
                 PoolInputsBuilder().Current(4).Busy(3).ScaleDownNow(), 3, kNow},
        SizeCase{"ScaleDownNowKeepsMinNodes", PoolSpecBuilder().Nodes(1, 10).Step(4),
                 PoolInputsBuilder().Current(4).ScaleDownNow(), 1, kNever},
        SizeCase{"ScaleDownNowDoesNotBlockScaleUp", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(1).Demand(24).ScaleDownNow(), 3, kNever},
        SizeCase{"LowSinceInTheFutureIsNow", PoolSpecBuilder(),
                 PoolInputsBuilder().Current(4).LowSince(kNow + absl::Hours(1)), 4, kNow}),
    [](const testing::TestParamInfo<SizeCase>& p) { return p.param.name; });

// A caller loop: desired becomes current, low_since is carried from one decision to the next.
TEST(PoolSizingSequenceTest, ScaleDownWaitsThenStepsToTarget) {
  const api::GPUNodePoolSpec spec = PoolSpecBuilder().Build();
  struct Step {
    absl::Duration at;
    int64_t demand;
    int busy;
    int want_nodes;
  };
  const std::vector<Step> steps = {
      {absl::ZeroDuration(), 48, 6, 6},  // at target
      {absl::Minutes(1), 8, 1, 6},       // demand drops: start waiting
      {absl::Minutes(6), 8, 1, 6},       // still waiting
      {absl::Minutes(11), 8, 1, 4},      // 10 minutes low: one step down
      {absl::Minutes(12), 8, 1, 2},      // keeps going without a second wait
      {absl::Minutes(13), 8, 1, 1},      // target reached
      {absl::Minutes(14), 8, 1, 1},      // stays
      {absl::Minutes(15), 8, 0, 1},      // demand still wants one node
      {absl::Minutes(16), 40, 1, 3},     // demand is back: scale up at once, by step
      {absl::Minutes(17), 40, 3, 5},
      {absl::Minutes(18), 16, 3, 5},  // low again: a fresh wait starts
      {absl::Minutes(27), 16, 3, 5},
      {absl::Minutes(28), 16, 3, 3},  // busy nodes floor the shrink
      {absl::Minutes(29), 16, 2, 2},  // freed nodes go without another wait
  };
  int current = 6;
  absl::Time low_since = kNever;
  for (const Step& s : steps) {
    PoolSizingInputs in;
    in.now = kNow + s.at;
    in.current_nodes = current;
    in.busy_nodes = s.busy;
    in.allowed_demand_gpus = s.demand;
    in.low_since = low_since;
    PoolSizingDecision d = SizePool(spec, in);
    EXPECT_EQ(d.desired_nodes, s.want_nodes) << "at " << s.at << ": " << d.reason;
    current = d.desired_nodes;
    low_since = d.low_since;
  }
  EXPECT_EQ(low_since, kNever);
}

// A quota of 10 GPUs on 8-GPU nodes pays for one whole node: with nothing spare, 20 pending GPUs
// may grow the pool by 8; with 3 spare GPUs, by 3 + 8; once the budget owns its node, only the
// spare GPUs. A quota under one node still gets one node; without a quota nothing is capped.
TEST(GrowableDemandGpus, ABudgetAsksOnlyForWholeNodesItsQuotaPaysFor) {
  EXPECT_EQ(GrowableDemandGpus(20, 10, 0, 8, 0), 8);
  EXPECT_EQ(GrowableDemandGpus(20, 10, 0, 8, 3), 11);
  EXPECT_EQ(GrowableDemandGpus(20, 10, 1, 8, 3), 3);
  EXPECT_EQ(GrowableDemandGpus(5, 10, 0, 8, 0), 5);  // less than a node's worth pending
  EXPECT_EQ(GrowableDemandGpus(20, 3, 0, 8, 0), 8);  // one node even for a small quota
  EXPECT_EQ(GrowableDemandGpus(20, 17, 0, 8, 0), 16);
  EXPECT_EQ(GrowableDemandGpus(20, std::nullopt, 5, 8, 0), 20);
  EXPECT_EQ(GrowableDemandGpus(20, 10, 0, 8, -4), 8);  // over-committed pools have no spare
}

}  // namespace
}  // namespace bursar::engine
