// Workload traces (controllers/sim/trace.cc): RFC 4180 CSV with a header. Property: the jobs a
// trace parses to are written by FormatTraceCsv as a trace that parses to the same jobs.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "absl/status/statusor.h"
#include "controllers/sim/trace.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using bursar::sim::TraceJob;
  absl::StatusOr<std::vector<TraceJob>> jobs =
      bursar::sim::ParseTraceCsv(bursar::fuzz::AsText(data, size), "fuzz.csv");
  if (!jobs.ok()) {
    return 0;
  }
  for (TraceJob& job : *jobs) {
    job.line = 0;  // not written
  }
  absl::StatusOr<std::vector<TraceJob>> again =
      bursar::sim::ParseTraceCsv(bursar::sim::FormatTraceCsv(*jobs), "formatted.csv");
  if (!again.ok()) {
    std::abort();
  }
  for (TraceJob& job : *again) {
    job.line = 0;
  }
  if (*again != *jobs) {
    std::abort();
  }
  return 0;
}
