#include "operator/kube/pod_summary_fields.h"

#include <algorithm>
#include <limits>

namespace bursar::kube::pod_fields {

PodPhase ParsePodPhase(std::string_view phase) {
  return phase == "Pending"     ? PodPhase::kPending
         : phase == "Running"   ? PodPhase::kRunning
         : phase == "Succeeded" ? PodPhase::kSucceeded
         : phase == "Failed"    ? PodPhase::kFailed
                                : PodPhase::kUnknown;
}

int32_t ClampGrace(int64_t seconds) {
  return static_cast<int32_t>(std::clamp<int64_t>(seconds, 0, std::numeric_limits<int32_t>::max()));
}

void SetRequests(const ResourcePair& cpu, const ResourcePair& memory, const ResourcePair& gpu,
                 ContainerSummary& container) {
  if (cpu.Effective().has_value()) {
    container.cpu_milli = cpu.Effective()->MilliValue();
  }
  if (memory.Effective().has_value()) {
    container.memory_bytes = memory.Effective()->Value();
  }
  if (gpu.Effective().has_value()) {
    container.gpus = gpu.Effective()->Value();
  }
}

}  // namespace bursar::kube::pod_fields
