#pragma once

// Scenario files for `bursar simulate`: YAML naming the manifests users apply (ComputeBudget,
// GPUNodePool, PriceBook), a workload trace (CSV), modelDrift events and the simulated
// cluster. Paths are relative to the scenario file. Example:
//
//   name: three-teams-month
//   description: A month of three ML teams sharing A100 and H100 pools.
//   start: "2026-11-01T00:00:00Z"
//   duration: 720h
//   step: 1m                       # metering tick
//   manifests: [../budgets/three-teams.yaml, ../pools/shared.yaml, ../pricebooks/default.yaml]
//   trace: ../traces/three-teams-month.csv
//   modelDrift:
//     - after: 240h
//       model: resnet50
//       score: "0.42"
//       metric: psi
//   cluster:
//     provisioningDelay: 3m
//     restartPenalty: 5m
//     terminationGrace: 30s
//     billingLag: 24h
//     cpuPerGpu: "12"
//     memoryPerGpu: 144Gi
//     unbudgetedPools: [a100-pool]
//
// Every error names the file, line and field, and holds no raw control byte (they are written
// as \xHH). A manifest passed where the scenario belongs (apiVersion/kind at the top) is named as
// such in one line, not as a list of unknown fields.
//
// Bounds, so that a typo fails at once instead of running for days or overflowing money (int64
// micro-units, about 9.2e12 currency units):
// - duration > 0; step a whole number of seconds (the simulator meters in seconds), 1s or more
//   and no longer than duration.
// - duration / step at most kMaxTicks = 10,000,000 ticks. A run's time grows with its ticks
//   (three-teams-month, 43,200 ticks, takes ~1.3 s a policy: 10M ticks of it ~5 minutes); a
//   year at 1-minute ticks (525,600) and a month at 1s (2,592,000) stay allowed, while
//   `2000000h` at `1s` (7.2e9 ticks, more than two days of CPU) does not.
// - modelDrift[].after within the duration (a later event would never fire).
// - cluster durations (provisioningDelay, restartPenalty, terminationGrace, billingLag) at most
//   kMaxClusterDelay
//   (a year): longer is a typo, and it keeps the seconds arithmetic far from overflow.
// - cpuPerGpu in [0, 1024] cores and memoryPerGpu in [0, 16Ti]. With at most 64 GPUs per node
//   (the GPUNodePool CRD), a node has at most 65,536 cores and 1Pi of memory, so its hourly
//   cost stays within int64 micro-units for any price up to 140 million per core-hour and 8.8
//   million per GiB-hour, where `memoryPerGpu: 7Ei` went negative at once.
// - every name in a budget's spec.nodePools and in cluster.unbudgetedPools is a GPUNodePool of
//   the scenario's manifests; the error names the manifest's file and line.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/sim/simulator.h"

namespace bursar::sim {

inline constexpr int64_t kMaxTicks = 10'000'000;
inline constexpr absl::Duration kMaxClusterDelay = absl::Hours(24 * 365);
inline constexpr int64_t kMaxCpuCoresPerGpu = 1024;
inline constexpr int64_t kMaxMemoryBytesPerGpu = int64_t{16} << 40;  // 16Ti

absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace bursar::sim
