#pragma once

// `bursar run`: the operator. Wires the watch caches, leader election, the budget loop (the
// reconciler of a runtime Controller), the health/metrics listener, the gRPC services and signal
// handling; a runtime::ThreadGroup runs the long-running threads and stops them in order. Runs
// until SIGTERM or SIGINT, or until one of its threads ends on its own. Returns the process exit
// code: 0 after a clean stop, 1 when a thread ended early or threw, 2 when start-up failed.

#include "operator/cmd/run_options.h"

namespace bursar::cmd {

int RunOperator(const RunOptions& options);

}  // namespace bursar::cmd
