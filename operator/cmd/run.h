#pragma once

// `bursar run`: the operator. Wires the watch caches, leader election, the budget loop, the
// health/metrics listener, the gRPC services and signal handling, then runs until SIGTERM or
// SIGINT. Returns the process exit code.

#include "operator/cmd/run_options.h"

namespace bursar::cmd {

int RunOperator(const RunOptions& options);

}  // namespace bursar::cmd
