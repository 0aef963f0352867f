#pragma once

// A workload trace: the GPU jobs a `bursar simulate` scenario submits, one CSV row per job.
//
//   submit_time_s,duration_s,gpus,namespace,priority,model,purpose
//   0,900,1,vision,0,resnet50,train
//
// The header names all seven columns (in any order; unknown or duplicate columns are errors),
// and may add an eighth, `expected_duration_s`: the length a Job declares (what its
// bursar.dev/expected-duration annotation or activeDeadlineSeconds would say), empty when it
// declares none, and a ninth, `max_cost`: the Job's own cap (bursar.dev/max-cost) in its
// budget's currency, empty when it has none. Traces without them stay valid.
// Blank lines and lines whose first non-blank character is '#' are skipped, CRLF is accepted,
// and fields may be double-quoted RFC 4180 style ("a,b", "say ""hi""", even across lines).
// Spaces and tabs around a field are trimmed, so hand-aligned traces read as expected.
// Every error is one line naming source, line and column, e.g.
//   trace.csv:17: duration_s: "abc" is not a whole number
// Pitfalls: `duration_s` is the run time a job *needs*, not wall time — the simulator decides
// when it runs. The trace has no outcome column: whether a generated job would have failed is
// known only to the generator (see trace_generator.h).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "controllers/values/money.h"

namespace bursar::sim {

// Upper bounds that keep later arithmetic (seconds -> nanoseconds, submit + duration) far from
// int64 overflow; no real trace comes close.
inline constexpr int64_t kMaxTraceSeconds = int64_t{100} * 366 * 86400;  // about 100 years
inline constexpr int kMaxTraceGpus = 100000;

struct TraceJob {
  int64_t submit_time_s = 0;  // seconds from the scenario start, >= 0
  int64_t duration_s = 0;     // > 0: GPU run time needed to finish
  int gpus = 0;               // >= 0 (0 = CPU-only job)
  std::string ns;             // Kubernetes namespace (DNS-1123 label)
  int priority = 0;
  std::string model;    // may be empty
  std::string purpose;  // may be empty; "retrain" marks retraining jobs
  // The length the Job declares (> 0), which may differ from duration_s; nullopt: none.
  std::optional<int64_t> expected_duration_s;
  // Optional column `max_cost`: the Job's own cap (bursar.dev/max-cost), in its budget's
  // currency; empty or absent: none.
  std::optional<values::Money> max_cost;
  int line = 0;  // 1-based line in the source file (0 when generated)

  friend bool operator==(const TraceJob&, const TraceJob&) = default;
};

// Parses a whole trace. `source_name` prefixes every error message (usually the file path).
// The returned jobs are sorted by submit_time_s; jobs submitted at the same second keep their
// file order. An input with a header and no rows is a valid, empty trace.
absl::StatusOr<std::vector<TraceJob>> ParseTraceCsv(std::string_view text,
                                                    std::string_view source_name);

// Reads and parses a trace file. NotFound: "<path>: cannot open: <reason>".
absl::StatusOr<std::vector<TraceJob>> ReadTraceFile(const std::string& path);

// Writes the canonical header and one row per job, in the given order, quoting fields only
// when needed, and the eighth column only when some job declares a length. Valid jobs
// round-trip through ParseTraceCsv (except `line`, which is not written).
std::string FormatTraceCsv(const std::vector<TraceJob>& jobs);

}  // namespace bursar::sim
