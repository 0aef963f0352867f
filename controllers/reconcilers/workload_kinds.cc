#include "controllers/reconcilers/workload_kinds.h"

#include <algorithm>

namespace bursar::reconcilers {
namespace {

constexpr SuspendPath kSuspendPaths[] = {
    {"batch", "v1", "Job", "jobs", "spec.suspend"},
    {"jobset.x-k8s.io", "v1alpha2", "JobSet", "jobsets", "spec.suspend"},
    {"kubeflow.org", "v1", "PyTorchJob", "pytorchjobs", "spec.runPolicy.suspend"},
    {"kubeflow.org", "v1", "TFJob", "tfjobs", "spec.runPolicy.suspend"},
    {"ray.io", "v1", "RayJob", "rayjobs", "spec.suspend"},
};

// A non-negative integer at `path` under `object`, else `fallback`.
int64_t CountAt(const json::Value* object, std::string_view path, int64_t fallback) {
  const json::Value* v = object != nullptr ? object->FindPath(path) : nullptr;
  return v != nullptr && v->is_integer() ? std::max<int64_t>(0, v->int_value()) : fallback;
}

void Add(std::vector<PodSet>& sets, int64_t count, const json::Value* pod_template) {
  if (pod_template != nullptr && pod_template->is_object()) {
    sets.push_back({.count = count, .pod_template = pod_template});
  }
}

// Each element of an array (JobSet's replicatedJobs, Ray's worker groups) or each member of an
// object (Kubeflow's replica specs by role).
template <typename F>
void ForEachIn(const json::Value* container, F f) {
  if (container == nullptr) {
    return;
  }
  if (container->is_array()) {
    for (const json::Value& e : container->elements()) {
      f(e);
    }
  } else if (container->is_object()) {
    for (const auto& [name, e] : container->members()) {
      f(e);
    }
  }
}

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

const SuspendPath& BatchJobKind() {
  return kSuspendPaths[0];
}

std::vector<PodSet> PodSetsOf(const SuspendPath& kind, const json::Value& object) {
  std::vector<PodSet> sets;
  if (kind.kind == "JobSet") {
    ForEachIn(object.FindPath("spec.replicatedJobs"), [&](const json::Value& rj) {
      Add(sets,
          SaturatingMul(CountAt(&rj, "replicas", 1), CountAt(&rj, "template.spec.parallelism", 1)),
          rj.FindPath("template.spec.template"));
    });
  } else if (kind.kind == "PyTorchJob" || kind.kind == "TFJob") {
    ForEachIn(
        object.FindPath(kind.kind == "TFJob" ? "spec.tfReplicaSpecs" : "spec.pytorchReplicaSpecs"),
        [&](const json::Value& role) {
          Add(sets, CountAt(&role, "replicas", 1), role.Find("template"));
        });
  } else if (kind.kind == "RayJob") {
    Add(sets, 1, object.FindPath("spec.rayClusterSpec.headGroupSpec.template"));
    ForEachIn(object.FindPath("spec.rayClusterSpec.workerGroupSpecs"), [&](const json::Value& g) {
      Add(sets, CountAt(&g, "replicas", CountAt(&g, "minReplicas", 0)), g.Find("template"));
    });
  } else {
    Add(sets, CountAt(&object, "spec.parallelism", 1), object.FindPath("spec.template"));
  }
  return sets;
}

}  // namespace bursar::reconcilers
