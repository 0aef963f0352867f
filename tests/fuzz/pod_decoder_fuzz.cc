// The hot-path Pod decoder (operator/kube/pod_summary_decoder.cc), which reads watch lines, Pods
// and PodList pages with simdjson's On-Demand API straight into PodSummary. The first byte picks
// the entry point; one decoder is reused across inputs, as a watch reuses it.

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "operator/kube/watch_decoder.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using bursar::kube::PodSummaryDecoder;
  static PodSummaryDecoder* const all_labels =
      new PodSummaryDecoder({PodSummaryDecoder::kAllLabels});
  static PodSummaryDecoder* const some_labels = new PodSummaryDecoder({"team", "app"});
  if (size == 0) {
    return 0;
  }
  const std::string_view text = bursar::fuzz::AsText(data + 1, size - 1);
  PodSummaryDecoder& decoder = (data[0] & 4) != 0 ? *all_labels : *some_labels;
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<bursar::kube::PodWatchEvent> event = decoder.DecodeWatchLine(text);
      if (event.ok()) {
        (void)event->pod.ApproximateBytes();
        (void)event->pod.TotalGpus();
      }
      break;
    }
    case 1: {
      absl::StatusOr<bursar::kube::PodSummary> pod = decoder.DecodePod(text);
      if (pod.ok()) {
        (void)pod->ApproximateBytes();
        (void)pod->TotalGpus();
      }
      break;
    }
    default:
      (void)decoder.DecodePodList(text);
      break;
  }
  return 0;
}
