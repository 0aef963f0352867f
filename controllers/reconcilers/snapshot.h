#pragma once

// Snapshot: everything one reconcile pass of the budget planner reads, gathered from the
// operator's caches into plain structs (cert-manager's and Kueue's habit: gather, decide with
// pure functions, then write only the difference). Nothing here refers to Kubernetes I/O, so
// the planner is tested with small hand-built snapshots.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/values/labels.h"
#include "controllers/values/money.h"
#include "controllers/values/quantity.h"

namespace bursar::reconcilers {

struct SuspendPath;  // workload_kinds.h

// Annotations and labels Bursar reads and writes on objects it does not own.
inline constexpr char kHeldByAnnotation[] = "bursar.dev/held-by";  // Job: budget that suspended it
inline constexpr char kHeldRungAnnotation[] = "bursar.dev/held-for";  // Job: "Hold" or "Drain"
// Job: why the admission webhook created it suspended (removed on resume, with the two above).
inline constexpr char kHeldReasonAnnotation[] = "bursar.dev/held-reason";
inline constexpr char kDrainGraceAnnotation[] = "bursar.dev/drain-grace";  // Job: Go duration
inline constexpr char kPriorityAnnotation[] = "bursar.dev/priority";       // Job: drain order
// Job: how long it is declared to run (Go duration), for admission and ordering.
inline constexpr char kExpectedDurationAnnotation[] = "bursar.dev/expected-duration";
// Job: its own cap, over its whole life (restarts and suspensions included): money in its
// budget's currency, and GPU-hours.
inline constexpr char kMaxCostAnnotation[] = "bursar.dev/max-cost";
inline constexpr char kMaxGpuHoursAnnotation[] = "bursar.dev/max-gpu-hours";
inline constexpr char kGrownForAnnotation[] =
    "bursar.dev/grown-for";                                  // Node: budget that paid for it
inline constexpr char kBudgetLabel[] = "bursar.dev/budget";  // owned ResourceQuotas
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "bursar";

enum class PodState { kPending, kRunning, kEnded };

struct PodView {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::string node_name;  // "" until scheduled
  values::Labels labels;
  PodState state = PodState::kPending;
  std::optional<absl::Time> start;     // status.startTime
  std::optional<absl::Time> end;       // ended pods: when the last container finished
  std::optional<absl::Time> deleting;  // metadata.deletionTimestamp
  // spec.terminationGracePeriodSeconds: how long it may run on once told to stop (a Drain counts
  // it; zero here, 30 s when the API server defaults it).
  absl::Duration stop_grace = absl::ZeroDuration();
  engine::Containers containers;
  std::string job;  // name of the controlling Job (same namespace); "" when none
  int32_t priority = 0;
};

// How long `pod` may still run once told to stop: its grace; while it is being deleted, what is
// left until its deletionTimestamp.
inline absl::Duration StopLagOf(const PodView& pod, absl::Time now) {
  return pod.deleting.has_value() ? std::max(absl::ZeroDuration(), *pod.deleting - now)
                                  : pod.stop_grace;
}

struct NodeView {
  engine::NodeInfo info;
  absl::Time created = absl::InfinitePast();
  bool ready = false;
  std::string grown_for;  // kGrownForAnnotation
};

struct JobView {
  // What it is: nullptr for a batch/v1 Job, else another kind of the suspend-path table
  // (workload_kinds.h), which Bursar only resumes once it holds it (created suspended by the
  // webhook): its pods are not tied to it, so Hold, Drain and caps act on batch Jobs only.
  const SuspendPath* kind = nullptr;
  std::string namespace_name;
  std::string name;
  values::Labels labels;  // the pod template's labels (what its pods will carry)
  bool suspended = false;
  bool finished = false;  // Complete or Failed
  int64_t gpus = 0;       // GPUs its pods request together when all run (x parallelism)
  values::Quantity cpu;   // the same of cpu and of memory (a request, else its limit)
  values::Quantity memory;
  std::optional<int32_t> priority;  // kPriorityAnnotation; else its pods' priority
  absl::Time created = absl::InfinitePast();
  std::string held_by;  // kHeldByAnnotation
  std::string held_for;
  absl::Duration drain_grace = absl::ZeroDuration();
  std::string uid;
  std::optional<absl::Duration> expected_duration;  // kExpectedDurationAnnotation
  std::optional<absl::Duration> active_deadline;    // spec.activeDeadlineSeconds (> 0)
  std::optional<values::Money> max_cost;            // kMaxCostAnnotation
  std::optional<double> max_gpu_hours;              // kMaxGpuHoursAnnotation
  // The first Bursar annotation that did not parse, as "<annotation>: <why>"; "" when all did.
  std::string annotation_error;
};

// A pool's size as its provider reports it (target includes nodes still provisioning).
struct PoolObservation {
  int target_size = 0;
  bool known = false;  // false: the provider could not be asked; count matching Nodes instead
  std::string error;
};

// An object of ours that the API server accepted but Bursar cannot use: its decoder's error.
// It takes no part in the pass; its status says why (object_status.h).
struct RejectedObject {
  std::string kind;  // "ComputeBudget", "GPUNodePool" or "PriceBook"
  std::string name;
  std::string uid;
  int64_t generation = 0;
  std::string why;                         // the decoder's message
  std::vector<api::Condition> conditions;  // status.conditions as stored (well-formed ones)
};

// The pool `node` belongs to when it carries every label of the pool's nodeSelector (and, for
// a Kwok pool, its name has the pool's node-name prefix). An empty nodeSelector matches every
// node: such a pool is not Ready (object_status.h).
inline bool NodeInPool(const api::GPUNodePool& pool, const NodeView& node) {
  for (const auto& [key, value] : pool.spec.node_selector) {
    auto it = node.info.labels.find(key);
    if (it == node.info.labels.end() || it->second != value) {
      return false;
    }
  }
  if (pool.spec.provider.type == api::ProviderType::kKwok) {
    std::string prefix = pool.spec.provider.kwok_node_name_prefix.empty()
                             ? pool.metadata.name + "-"
                             : pool.spec.provider.kwok_node_name_prefix;
    return node.info.name.starts_with(prefix);
  }
  return true;
}

struct Snapshot {
  absl::Time now;
  std::vector<api::ComputeBudget> budgets;
  std::vector<api::GPUNodePool> pools;
  std::vector<api::PriceBook> price_books;
  std::vector<RejectedObject> rejected;  // objects of our kinds that did not decode
  std::vector<PodView> pods;
  std::vector<NodeView> nodes;
  std::vector<JobView> jobs;
  std::map<std::string, values::Labels> namespaces;
  std::map<std::string, PoolObservation> pool_observations;  // by pool name
  // modelDrift signals received since the previous pass (for every budget with a reserve).
  std::vector<engine::ModelDriftSignal> drift;
  // Scores from each budget's own spec.retraining.driftQuery, for that budget only; evaluated
  // every pass, so only an unlock is announced.
  std::map<std::string, std::vector<engine::ModelDriftSignal>> budget_drift;
  // Mean GPU utilisation (percent) by "namespace/pod", from DCGM through Prometheus.
  absl::flat_hash_map<std::string, double> gpu_utilization;
};

}  // namespace bursar::reconcilers
