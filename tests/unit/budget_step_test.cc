// Tests for engine::LookaheadWithStop and engine::CpuMemoryAllowances: the cpu and memory entries
// of spec.quota.resources as allowances, which the operator writes into status.admission and its
// ResourceQuotas and `bursar simulate` admits against.

#include "controllers/engine/budget_step.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace bursar::engine {
namespace {

using values::Money;
using values::Quantity;

api::ComputeBudgetSpec Spec(std::vector<std::string> resources, bool money = true) {
  api::ComputeBudgetSpec spec;
  if (money) {
    spec.limit.amount = Money::FromUnits(100);
  } else {
    spec.limit.gpu_hours = Money::FromUnits(10);
  }
  spec.quota.resources = std::move(resources);
  return spec;
}

BudgetDecision Carrying(Money per_hour) {
  BudgetDecision d;
  d.carry_rate = per_hour;
  return d;
}

CpuMemory InUse(const char* cpu, const char* memory) {
  return {.cpu = *Quantity::Parse(cpu), .memory = *Quantity::Parse(memory)};
}

UnitPrices Prices() {
  UnitPrices p;
  p.cpu_core_hour = Money::FromMicros(50'000);    // $0.05 a core-hour
  p.memory_gib_hour = Money::FromMicros(10'000);  // $0.01 a GiB-hour
  return p;
}

TEST(CpuMemoryAllowances, WhatRunsPlusWhatTheCarriedMoneyBuysBeyondTheBurn) {
  BudgetBurn burn;
  burn.regular_rate = Money::FromMicros(600'000);
  burn.idle_rate = Money::FromMicros(400'000);
  // $2 an hour carried, $1 of it burning: $1 more an hour buys 20 cores and 100 GiB.
  std::map<std::string, Quantity> allowed =
      CpuMemoryAllowances(Spec({"nvidia.com/gpu", "cpu", "memory"}), Carrying(Money::FromUnits(2)),
                          burn, InUse("1500m", "2Gi"), Prices());
  ASSERT_EQ(allowed.size(), 2u);  // GPUs are the decision's quota, not converted here
  EXPECT_EQ(allowed.at("cpu"), *Quantity::Parse("21500m"));
  EXPECT_EQ(allowed.at("memory"), *Quantity::Parse("102Gi"));
  EXPECT_EQ(allowed.at("memory").ToString(), "102Gi");
}

TEST(CpuMemoryAllowances, AreWhatRunsWhileTheBudgetHoldsOrIsOverItsPace) {
  BudgetDecision hold = Carrying(Money::FromUnits(2));
  hold.hold_new_work = true;
  std::map<std::string, Quantity> held =
      CpuMemoryAllowances(Spec({"cpu", "memory"}), hold, {}, InUse("3", "1Gi"), Prices());
  EXPECT_EQ(held.at("cpu"), *Quantity::Parse("3"));
  EXPECT_EQ(held.at("memory"), *Quantity::Parse("1Gi"));

  BudgetBurn over;
  over.regular_rate = Money::FromUnits(5);  // burning more than the pace carries: no headroom
  std::map<std::string, Quantity> paced = CpuMemoryAllowances(
      Spec({"cpu"}), Carrying(Money::FromUnits(2)), over, InUse("3", "1Gi"), Prices());
  EXPECT_EQ(paced.at("cpu"), *Quantity::Parse("3"));
  EXPECT_FALSE(paced.contains("memory"));  // not listed
}

TEST(CpuMemoryAllowances, NoneForAGpuHoursBudgetOrOneThatListsOnlyGpus) {
  EXPECT_TRUE(CpuMemoryAllowances(Spec({"cpu", "memory"}, false), Carrying(Money::FromUnits(2)), {},
                                  InUse("1", "1Gi"), Prices())
                  .empty());
  EXPECT_FALSE(LimitsCpuOrMemory(Spec({"cpu"}, false)));
  EXPECT_TRUE(CpuMemoryAllowances(Spec({"nvidia.com/gpu"}), Carrying(Money::FromUnits(2)), {},
                                  InUse("1", "1Gi"), Prices())
                  .empty());
  EXPECT_FALSE(LimitsCpuOrMemory(Spec({"nvidia.com/gpu"})));
  EXPECT_TRUE(LimitsCpuOrMemory(Spec({"nvidia.com/gpu", "memory"})));
}

TEST(CpuMemoryAllowances, AResourceThePriceBookGivesAwayIsNotLimited) {
  UnitPrices free = Prices();
  free.cpu_core_hour = Money();
  std::map<std::string, Quantity> allowed = CpuMemoryAllowances(
      Spec({"cpu", "memory"}), Carrying(Money::FromUnits(2)), {}, InUse("2", "0"), free);
  EXPECT_FALSE(allowed.contains("cpu"));
  EXPECT_EQ(allowed.at("memory"), *Quantity::Parse("200Gi"));
}

TEST(CpuMemoryPrices, TheDearestOfTheDefaultsAndThePoolsNodes) {
  api::PriceDefaults defaults;  // OpenCost's: $0.031611 a core-hour, $0.004237 a GiB-hour
  UnitPrices dear_cpu, dear_memory;
  dear_cpu.cpu_core_hour = Money::FromMicros(56'000);
  dear_cpu.memory_gib_hour = Money::FromMicros(1'000);
  dear_memory.cpu_core_hour = Money::FromMicros(10'000);
  dear_memory.memory_gib_hour = Money::FromMicros(9'000);
  std::vector<UnitPrices> pools = {dear_cpu, dear_memory};
  UnitPrices p = CpuMemoryPrices(pools, defaults);
  EXPECT_EQ(p.cpu_core_hour, Money::FromMicros(56'000));
  EXPECT_EQ(p.memory_gib_hour, Money::FromMicros(9'000));
  UnitPrices none = CpuMemoryPrices({}, defaults);
  EXPECT_EQ(none.cpu_core_hour, defaults.cpu_core_hour);
  EXPECT_EQ(none.memory_gib_hour, defaults.memory_gib_hour);
}

// A tick for the meter reading, then the longer of a tick and the pods' termination grace for
// the suspension to stop the meter; a grace of days counts as kMaxStopLag.
TEST(LookaheadWithStop, OneTickThenTheLongerOfATickAndTheStopLag) {
  const absl::Duration lookahead = LookaheadFor(absl::Seconds(15));
  EXPECT_EQ(LookaheadWithStop(lookahead, absl::ZeroDuration()), absl::Seconds(30));
  EXPECT_EQ(LookaheadWithStop(lookahead, absl::Seconds(15)), absl::Seconds(30));
  EXPECT_EQ(LookaheadWithStop(lookahead, absl::Seconds(30)), absl::Seconds(45));
  EXPECT_EQ(LookaheadWithStop(lookahead, absl::Minutes(10)), absl::Seconds(615));
  EXPECT_EQ(LookaheadWithStop(lookahead, absl::Hours(24 * 365)), kMaxStopLag + absl::Seconds(15));
}

// A budget that pays for nodes whole keeps paying for a node its suspensions free until the pass
// that first sees it free removes it: its stop lag counts to the next whole metering tick. Work
// that stops at once needs no pass to wait for; a budget that grew no node pays only its pods.
TEST(StopLagToRelease, RoundsUpToAWholeTickWhenTheBudgetPaysForNodes) {
  const absl::Duration lookahead = LookaheadFor(absl::Minutes(1));
  BudgetBurn burn;
  burn.stop_lag = absl::Seconds(30);
  EXPECT_EQ(StopLagToRelease(lookahead, burn.stop_lag, burn.pays_for_nodes), absl::Seconds(30));
  burn.pays_for_nodes = true;
  EXPECT_EQ(StopLagToRelease(lookahead, burn.stop_lag, burn.pays_for_nodes), absl::Minutes(1));
  burn.stop_lag = absl::Seconds(61);
  EXPECT_EQ(StopLagToRelease(lookahead, burn.stop_lag, burn.pays_for_nodes), absl::Minutes(2));
  burn.stop_lag = absl::Minutes(2);
  EXPECT_EQ(StopLagToRelease(lookahead, burn.stop_lag, burn.pays_for_nodes), absl::Minutes(2));
  burn.stop_lag = absl::ZeroDuration();
  EXPECT_EQ(StopLagToRelease(lookahead, burn.stop_lag, burn.pays_for_nodes), absl::ZeroDuration());
}

// The engine's inputs for the start room and for wholly idle nodes: the lookahead held work
// would bring (its grace, and a whole tick on nodes the budget pays for), the tick, and the idle
// nodes (never more than the idle capacity they are part of).
TEST(InputsFor, StartLookaheadTickAndIdleNodes) {
  values::BudgetLedger ledger(
      values::Period{absl::FromUnixSeconds(0), absl::FromUnixSeconds(3600)});
  values::BudgetLedger reserve(
      values::Period{absl::FromUnixSeconds(0), absl::FromUnixSeconds(3600)});
  BudgetStep step;
  step.now = absl::FromUnixSeconds(60);
  step.ledger = &ledger;
  step.reserve_ledger = &reserve;
  step.lookahead = LookaheadFor(absl::Seconds(15));
  step.start_stop_lag = absl::Minutes(10);
  step.burn.idle_rate = Money::FromUnits(8);
  step.burn.idle_gpus = 2;
  step.burn.idle_node_rate = Money::FromUnits(16);  // more than the idle: clamped
  step.burn.idle_node_gpus = 4;
  BudgetInputs in = InputsFor(step);
  EXPECT_EQ(in.lookahead, absl::Seconds(30));
  EXPECT_EQ(in.start_lookahead, absl::Seconds(615));
  EXPECT_EQ(in.tick, absl::Seconds(15));
  EXPECT_EQ(in.idle_node_rate_per_hour, Money::FromUnits(8));
  EXPECT_EQ(in.idle_node_gpus, 2);
  step.burn.pays_for_nodes = true;
  step.start_stop_lag = absl::Seconds(20);
  EXPECT_EQ(InputsFor(step).start_lookahead, absl::Seconds(45));  // 20 s to the tick: 30 s
  step.start_stop_lag = absl::ZeroDuration();
  EXPECT_EQ(InputsFor(step).start_lookahead, absl::Seconds(30));
}

// Pods not yet stopping weigh by their price: one cheap pod with a long grace moves the lag of
// dear pods that stop at once by its share only. A pod already stopping sets a floor: what is
// left of its grace.
TEST(StopLag, PriceWeightedGraceOfRunningPodsButAtLeastWhatAStoppingPodHasLeft) {
  StopLag lag;
  EXPECT_EQ(lag.Lag(), absl::ZeroDuration());
  lag.Add(Money::FromUnits(9), absl::ZeroDuration(), false);
  lag.Add(Money::FromUnits(1), absl::Minutes(10), false);
  EXPECT_EQ(lag.Lag(), absl::Minutes(1));
  lag.Add(Money::FromUnits(1), absl::Hours(48), false);  // counted as kMaxStopLag
  EXPECT_NEAR(absl::ToDoubleSeconds(lag.Lag()), (600.0 + 3600.0) / 11, 1e-6);
  lag.Add(Money::FromUnits(1), absl::Minutes(20), true);
  EXPECT_EQ(lag.Lag(), absl::Minutes(20));
}

}  // namespace
}  // namespace bursar::engine
