// The JSON facade (operator/json): every body the API server, Prometheus or metrics.k8s.io
// sends goes through json::Parse. Property: what parses, serialises to JSON that parses again
// to an equal tree.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/status/statusor.h"
#include "operator/json/json.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<bursar::json::Value> value = bursar::json::Parse(bursar::fuzz::AsText(data, size));
  if (!value.ok()) {
    return 0;
  }
  absl::StatusOr<bursar::json::Value> again = bursar::json::Parse(value->ToJson());
  if (!again.ok() || !(*again == *value)) {
    std::abort();
  }
  return 0;
}
