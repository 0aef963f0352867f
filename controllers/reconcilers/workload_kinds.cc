#include "controllers/admission/suspend_paths.h"

namespace bursar::admission {
namespace {

constexpr SuspendPath kSuspendPaths[] = {
    {"batch", "v1", "Job", "jobs", "spec.suspend"},
    {"jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets", "spec.suspend"},
    {"kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", "spec.runPolicy.suspend"},
    {"kubeflow.org", "v1", "TFJob", "tfjobs", "spec.runPolicy.suspend"},
    {"ray.io", "v1", "RayJob", "rayjobs", "spec.suspend"},
};

}  // namespace

std::span<const SuspendPath> SuspendPaths() {
  return kSuspendPaths;
}

const SuspendPath* SuspendPathOf(std::string_view group, std::string_view kind) {
  for (const SuspendPath& p : kSuspendPaths) {
    if (p.group == group && p.kind == kind) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace bursar::admission
