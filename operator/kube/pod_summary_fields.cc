#include "operator/kube/pod_summary_fields.h"

namespace bursar::kube::pod_fields {

PodPhase ParsePodPhase(std::string_view phase) {
  return phase == "Pending"     ? PodPhase::kPending
         : phase == "Running"   ? PodPhase::kRunning
         : phase == "Succeeded" ? PodPhase::kSucceeded
         : phase == "Failed"    ? PodPhase::kFailed
                                : PodPhase::kUnknown;
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
