#pragma once

// Snapshot: everything one reconcile pass of the budget planner reads, gathered from the
// operator's caches into plain structs (cert-manager's and Kueue's habit: gather, decide with
// pure functions, then write only the difference). Nothing here refers to Kubernetes I/O, so
// the planner is tested with small hand-built snapshots.

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/retraining_gate.h"
#include "controllers/reconcilers/pod_labels.h"
#include "controllers/values/compact_string.h"
#include "controllers/values/labels.h"
#include "controllers/values/money.h"
#include "controllers/values/packed_time.h"
#include "controllers/values/quantity.h"
#include "controllers/values/uid.h"
#include "operator/kube/watch_decoder.h"

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

enum class PodState : uint8_t { kPending, kRunning, kEnded };

// One pod as the cache keeps it and a pass reads it. Its text is held in 8 bytes a string
// (values::CompactString; a std::string is 32 and a heap block besides): the cache holds one
// per pod of the cluster.
struct PodView {
  values::Uid uid;                      // 16 bytes: packed, as the API server's canonical UUIDs are
  kube::InternedString namespace_name;  // shared by the pods of a namespace (8 bytes)
  values::CompactString name;
  values::CompactString node_name;  // "" until scheduled
  PodLabels labels;
  // 8 bytes each (values::PackedTime), read as std::optional<absl::Time>.
  values::PackedTime start;        // status.startTime
  values::PackedTime end;          // ended pods: when the last container finished
  values::PackedTime deleting;     // metadata.deletionTimestamp
  engine::PodRequests containers;  // requests only: usage is Snapshot::pod_usage
  // The containers' names, in the same order (metrics.k8s.io reports usage by name).
  absl::InlinedVector<kube::InternedString, 2> container_names;
  values::CompactString job;  // name of the controlling Job (same namespace); "" when none
  // The small fields together (no padding between them).
  PodState state = PodState::kPending;
  int32_t priority = 0;
  // spec.terminationGracePeriodSeconds: how long it may run on once told to stop (a Drain counts
  // it; zero here, 30 s when the API server defaults it).
  int32_t stop_grace_seconds = 0;
};

// How long `pod` may still run once told to stop: its grace; while it is being deleted, what is
// left until its deletionTimestamp.
inline absl::Duration StopLagOf(const PodView& pod, absl::Time now) {
  return pod.deleting.has_value() ? std::max(absl::ZeroDuration(), *pod.deleting - now)
                                  : absl::Seconds(pod.stop_grace_seconds);
}

// A snapshot's pods, shared with the pod cache: the cache holds each pod once as an immutable
// PodView, and a pass takes pointers to them instead of copies (at 50,000 pods a copy was a
// second ~1 KB a pod, kept by the allocator between passes). Reads as a vector of PodView.
class PodList {
 public:
  using Ptr = std::shared_ptr<const PodView>;
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = PodView;
    using difference_type = std::ptrdiff_t;
    using pointer = const PodView*;
    using reference = const PodView&;

    const_iterator() = default;
    explicit const_iterator(std::vector<Ptr>::const_iterator it) : it_(it) {}
    const PodView& operator*() const { return **it_; }
    const PodView* operator->() const { return it_->get(); }
    const_iterator& operator++() { return ++it_, *this; }
    const_iterator operator++(int) { return const_iterator(it_++); }
    bool operator==(const const_iterator&) const = default;

   private:
    std::vector<Ptr>::const_iterator it_;
  };

  PodList() = default;
  PodList(std::initializer_list<PodView> pods) {
    for (const PodView& pod : pods) {
      push_back(pod);
    }
  }

  void push_back(Ptr pod) { pods_.push_back(std::move(pod)); }
  void push_back(PodView pod) { pods_.push_back(std::make_shared<const PodView>(std::move(pod))); }
  void reserve(size_t n) { pods_.reserve(n); }
  void clear() { pods_.clear(); }
  void EraseAt(size_t i) { pods_.erase(pods_.begin() + static_cast<std::ptrdiff_t>(i)); }

  size_t size() const { return pods_.size(); }
  bool empty() const { return pods_.empty(); }
  const PodView& operator[](size_t i) const { return *pods_[i]; }
  const_iterator begin() const { return const_iterator(pods_.begin()); }
  const_iterator end() const { return const_iterator(pods_.end()); }

  // Pod `i` to change: a copy of it takes its place (the cache's object is never changed). The
  // reference is valid until the list changes.
  PodView& Mutable(size_t i) {
    auto copy = std::make_shared<PodView>(*pods_[i]);
    PodView& pod = *copy;
    pods_[i] = std::move(copy);
    return pod;
  }
  // Orders the pods by uid (the snapshot's deterministic order).
  void SortByUid() {
    std::sort(pods_.begin(), pods_.end(),
              [](const Ptr& a, const Ptr& b) { return a->uid < b->uid; });
  }

 private:
  std::vector<Ptr> pods_;
};

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
  // How long its pods take to stop once told: the longest spec.terminationGracePeriodSeconds
  // of its pod templates, each Kubernetes' 30 s when it sets none.
  absl::Duration stop_grace = absl::Seconds(kube::kDefaultTerminationGraceSeconds);
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
  PodList pods;
  std::vector<NodeView> nodes;
  std::vector<JobView> jobs;
  std::map<std::string, values::Labels> namespaces;
  std::map<std::string, PoolObservation> pool_observations;  // by pool name
  // modelDrift signals received since the previous pass (for every budget with a reserve).
  std::vector<engine::ModelDriftSignal> drift;
  // Scores from each budget's own spec.retraining.driftQuery, for that budget only; evaluated
  // every pass, so only an unlock is announced.
  std::map<std::string, std::vector<engine::ModelDriftSignal>> budget_drift;
  // What metrics.k8s.io reports pods use, by pod uid: the pod's containers with their usage set
  // (the cached PodView holds requests only). Empty without metrics.
  absl::flat_hash_map<values::Uid, engine::Containers> pod_usage;
  // Mean GPU utilisation (percent) by "namespace/pod", from DCGM through Prometheus.
  absl::flat_hash_map<std::string, double> gpu_utilization;
};

}  // namespace bursar::reconcilers
