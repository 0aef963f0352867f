#pragma once

// The workload kinds people run for ML that Bursar can hold before they cost anything: where
// each says "suspended" (the field its controller watches to create no pods, and to delete the
// ones it made) and where its pod templates are. The admission webhook creates such a workload
// suspended while its budget cannot pay for it, and the planner's Release resumes it when the
// budget allows (docs/concepts.md, "Suspend paths of ML workload kinds"). An integration test
// checks each suspend path against the kind's real CRD schema. Kinds not listed fall back to
// pod-level admission.

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "operator/json/json.h"
#include "operator/kube/resource.h"

namespace bursar::reconcilers {

struct SuspendPath {
  std::string_view group;
  std::string_view version;  // the version whose schema the path is checked against
  std::string_view kind;
  std::string_view plural;
  std::string_view path;  // dotted, under the object root

  kube::ResourceType Type() const { return {group, version, plural, kind, true}; }
  bool IsBatchJob() const { return group == "batch" && kind == "Job"; }
};

// batch/v1 Job spec.suspend, JobSet spec.suspend, Kubeflow PyTorchJob and TFJob
// spec.runPolicy.suspend, KubeRay RayJob spec.suspend.
std::span<const SuspendPath> SuspendPaths();

// The entry for a kind, nullptr when it has none.
const SuspendPath* SuspendPathOf(std::string_view group, std::string_view kind);

// The batch/v1 Job entry.
const SuspendPath& BatchJobKind();

// One set of identical pods a workload makes when all of it runs.
struct PodSet {
  int64_t count = 0;                          // pods (>= 0, saturating)
  const json::Value* pod_template = nullptr;  // a PodTemplateSpec: metadata and spec
};

// The pod sets of `object`, a workload of `kind`, in the object's order:
//   Job         spec.template x spec.parallelism (default 1)
//   JobSet      per spec.replicatedJobs[]: template.spec.template x replicas (1) x
//               template.spec.parallelism (1)
//   PyTorchJob  per spec.pytorchReplicaSpecs.<role>: template x replicas (1)
//   TFJob       per spec.tfReplicaSpecs.<role>: template x replicas (1)
//   RayJob      spec.rayClusterSpec.headGroupSpec.template x 1, and per
//               spec.rayClusterSpec.workerGroupSpecs[]: template x replicas (else minReplicas, 0)
// Sets without a template are left out.
std::vector<PodSet> PodSetsOf(const SuspendPath& kind, const json::Value& object);

// Counts of objects the API server accepts but no cluster runs (10^20 GPUs a container,
// parallelism 2^31) saturate at INT64_MAX instead of wrapping around. Both are non-negative.
inline int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum = 0;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}
inline int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product = 0;
  return __builtin_mul_overflow(a, b, &product) ? INT64_MAX : product;
}

}  // namespace bursar::reconcilers
