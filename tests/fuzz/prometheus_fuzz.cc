// Prometheus instant-query answers (controllers/signals/prometheus.cc), and the reduction of
// DCGM samples to a utilisation per pod.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "controllers/signals/prometheus.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<std::vector<bursar::signals::PromSample>> samples =
      bursar::signals::ParsePrometheusVector(bursar::fuzz::AsText(data, size));
  if (samples.ok()) {
    (void)bursar::signals::GpuUtilizationByPod(*samples);
  }
  return 0;
}
