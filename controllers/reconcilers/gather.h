#pragma once

// Gather: the pure conversions from what the operator's caches hold (Pod summaries, Node, Job
// and Namespace objects as JSON) into the Snapshot structs the planner reads. No I/O; every
// function is total: a field that is missing or malformed reads as its zero value, because a
// cache entry the API server accepted is never rejected here.
// Thread-compatible.

#include <string>
#include <vector>

#include "controllers/api/types.h"
#include "controllers/reconcilers/snapshot.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "controllers/values/labels.h"
#include "operator/json/json.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/store.h"

namespace bursar::reconcilers {

// metadata.labels (or `path`'s labels object) as a label set.
values::Labels LabelsAt(const json::Value& object, std::string_view dotted_path);

// A Pod: its end is when the last container terminated (Succeeded / Failed pods). Every label
// is kept (PodLabels: interned keys), so the view can be cached once and shared by every pass.
// Takes the summary by value: the cache hands over each decoded summary, whose strings move.
PodView PodViewOf(kube::PodSummary pod);

// A PodView holds its namespace and name: the pod cache keeps no second copy of its key.
inline runtime::ObjectName StoreKeyOf(const PodView& pod) {
  return {pod.namespace_name.view(), pod.name.view()};
}

// The Pod cache: each Pod as the PodView a pass reads, made by PodViewOf when the watch delivers
// it. Passes and the admission webhook share its immutable objects instead of copying them: a
// copy was a second ~1 KB a pod, which the allocator kept between passes.
using PodViewStore = runtime::Store<PodView, kube::PodSummary>;
static_assert(runtime::HoldsItsKey<PodView>);

// A Node: capacity (cpu, memory, nvidia.com/gpu), Ready, creation time, Bursar's owner mark.
NodeView NodeViewOf(const json::Value& node);

// A batch/v1 Job: suspend, Complete/Failed, GPUs of its pod template x parallelism, and
// Bursar's annotations.
JobView JobViewOf(const json::Value& job);
// The same of a workload of any kind in the suspend-path table (workload_kinds.h): suspended
// at its suspend path, its pods' requests summed over its pod sets, the labels of its first
// pod template, ended by its status (a Complete, Completed, Succeeded or Failed condition, or a
// RayJob's jobDeploymentStatus). JobViewOf(job) is WorkloadViewOf(BatchJobKind(), job).
JobView WorkloadViewOf(const SuspendPath& kind, const json::Value& object);

// An object of one of our kinds that did not decode: name, generation, the decoder's message
// and the well-formed entries of status.conditions (so its Ready condition is written only
// when it changes).
RejectedObject RejectedObjectOf(std::string_view kind, const json::Value& object, std::string why);

}  // namespace bursar::reconcilers
