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
//     billingLag: 24h
//     cpuPerGpu: "12"
//     memoryPerGpu: 144Gi
//     unbudgetedPools: [a100-pool]
//
// Every error names the file, line and field.

#include <string>

#include "absl/status/statusor.h"
#include "controllers/sim/simulator.h"

namespace bursar::sim {

absl::StatusOr<Scenario> LoadScenario(const std::string& path);

}  // namespace bursar::sim
