#pragma once

// Where each workload kind people run for ML says "suspended": the field a controller of that
// kind watches to create no pods (and to delete the ones it made). The admission webhook uses
// it for Jobs; for the other kinds it is the documented table (docs/concepts.md, "Admission")
// that an integration test checks against each kind's real CRD schema. Kinds not listed fall
// back to pod-level admission.
//
// Only batch/v1 Jobs are created suspended today: Bursar's resume path (the planner's Release)
// knows Jobs only, so suspending another kind at birth would leave it suspended for good.

#include <span>
#include <string_view>

namespace bursar::admission {

struct SuspendPath {
  std::string_view group;
  std::string_view version;  // the version whose schema the path is checked against
  std::string_view kind;
  std::string_view plural;
  std::string_view path;  // dotted, under the object root
};

// batch/v1 Job spec.suspend, JobSet spec.suspend, Kubeflow PyTorchJob and TFJob
// spec.runPolicy.suspend, KubeRay RayJob spec.suspend.
std::span<const SuspendPath> SuspendPaths();

// The entry for a kind, nullptr when it has none.
const SuspendPath* SuspendPathOf(std::string_view group, std::string_view kind);

}  // namespace bursar::admission
