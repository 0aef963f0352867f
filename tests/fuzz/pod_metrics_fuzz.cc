// metrics.k8s.io PodMetricsList answers (controllers/signals/pod_metrics.cc).

#include <cstddef>
#include <cstdint>

#include "controllers/signals/pod_metrics.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)bursar::signals::ParsePodMetricsList(bursar::fuzz::AsText(data, size));
  return 0;
}
