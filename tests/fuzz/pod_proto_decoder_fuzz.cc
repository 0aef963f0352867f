// The protobuf Pod decoder (operator/kube/pod_proto_decoder.cc), which reads Pod and PodList
// bodies and watch frames from the API server's protobuf wire format into PodSummary. The first
// byte picks the entry point; one decoder is reused across inputs, as a watch reuses it. Seeds
// are written by run.sh from tests/testdata/gpu-pod.server.pb.hex (no binaries in the repo).

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "operator/kube/pod_proto_decoder.h"
#include "tests/fuzz/fuzz_files.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using bursar::kube::PodProtoDecoder;
  using bursar::kube::PodSummaryDecoder;
  static PodProtoDecoder* const all_labels = new PodProtoDecoder({PodSummaryDecoder::kAllLabels});
  static PodProtoDecoder* const some_labels = new PodProtoDecoder({"team", "app"});
  if (size == 0) {
    return 0;
  }
  const std::string_view bytes = bursar::fuzz::AsText(data + 1, size - 1);
  PodProtoDecoder& decoder = (data[0] & 4) != 0 ? *all_labels : *some_labels;
  switch (data[0] % 3) {
    case 0: {
      absl::StatusOr<bursar::kube::PodSummary> pod = decoder.DecodePod(bytes);
      if (pod.ok()) {
        (void)pod->ApproximateBytes();
        (void)pod->TotalGpus();
      }
      break;
    }
    case 1: {
      absl::StatusOr<bursar::kube::PodListPage> page = decoder.DecodePodList(bytes);
      if (page.ok()) {
        for (const bursar::kube::PodSummary& pod : page->items) {
          (void)pod.TotalGpus();
        }
      }
      break;
    }
    default: {
      absl::StatusOr<bursar::kube::PodWatchEvent> event = decoder.DecodeWatchFrame(bytes);
      if (event.ok()) {
        (void)event->pod.TotalGpus();
      }
      break;
    }
  }
  return 0;
}
