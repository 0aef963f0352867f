#pragma once

// `bursar report-drift`: sends one modelDrift observation to a running operator's
// bursar.v1.Signals service, for model-monitoring hooks and scripts that have no gRPC client.

#include <string>
#include <vector>

namespace bursar::cmd {

// `args` follow "report-drift". Returns the process exit code (0 accepted, 1 rejected or
// unreachable, 2 bad flags).
int ReportDrift(const std::vector<std::string>& args);

inline constexpr char kReportDriftUsage[] =
    "  bursar report-drift --address HOST:PORT --model NAME --score 0..1 [--metric psi]\n"
    "                  [--source NAME] [--timeout 10s]\n";

}  // namespace bursar::cmd
