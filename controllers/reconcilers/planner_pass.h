#pragma once

// The shared context of one BudgetPlanner pass (budget_planner.h): the snapshot, its indexes
// built once, the budgets being planned and the plan being written. Internal to
// controllers/reconcilers: budget_planner.cc runs the budget steps, planner_actuation.cc plans
// quotas, Jobs and pools from their decisions.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/job_caps.h"
#include "controllers/reconcilers/budget_planner.h"

namespace bursar::reconcilers {

inline std::string JobKey(std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(ns.size() + 1 + name.size());
  return key.append(ns).append("/").append(name);
}

inline bool Active(const PodView& pod) {
  return pod.state != PodState::kEnded;
}

// A pod as a budget's work lists it: the pod, and its index in the snapshot's pods (the pass's
// per-pod tables are by that index; the pods themselves live in the pod cache).
struct PodAt {
  const PodView* pod = nullptr;
  uint32_t index = 0;
};

// What the active pods among `pods` request of cpu and of memory.
inline engine::CpuMemory ActiveRequests(const std::vector<PodAt>& pods) {
  engine::CpuMemory out;
  for (const auto& [pod, index] : pods) {
    if (Active(*pod)) {
      for (const engine::ContainerRequests& c : pod->containers) {
        out.cpu = out.cpu + c.cpu();
        out.memory = out.memory + c.memory();
      }
    }
  }
  return out;
}

inline engine::JobCap CapOf(const JobView& job) {
  return {.max_cost = job.max_cost, .max_gpu_hours = job.max_gpu_hours};
}

// One budget within a pass.
struct BudgetPlanner::BudgetWork {
  const api::ComputeBudget* budget = nullptr;
  std::optional<values::PeriodCalendar> calendar;
  const api::PriceBook* book = nullptr;
  std::vector<const api::GPUNodePool*> pools;
  std::string invalid_reason;  // CamelCase
  std::string invalid_message;
  std::vector<PodAt> pods;            // in snapshot order
  std::vector<std::string> overlaps;  // other budgets that also matched some of its pods
  bool enforced = true;
  int64_t total_quota = -1;  // -1: unconstrained
  engine::BudgetDecision decision;
  int64_t regular_active_gpus = 0;
  int64_t reserve_active_gpus = 0;
  int64_t reserve_headroom = 0;
  absl::flat_hash_set<values::Uid> reserve_pods;  // pods that run on the retraining reserve
  // What a Job's expected cost is priced at, and what the budget can still commit in its period
  // (money budgets), as status.admission publishes them.
  values::Money gpu_hour_price;
  std::optional<values::Money> money_left;
  engine::UnitPrices cpu_memory_prices;  // what its cpu and memory allowances convert at
  size_t outcome = 0;                    // index in plan.budgets

  bool valid() const { return invalid_reason.empty(); }
  const std::string& name() const { return budget->metadata.name; }
};

struct BudgetPlanner::JobCandidate {
  const JobView* job;
  int32_t priority;
  bool reserve;
};

// One pass's shared context: the snapshot, its indexes (built once), the budgets being planned
// and the plan being written. Indexes by node or namespace name are hash maps whose keys view
// the snapshot's strings (valid for the pass): a pass does per-pod work, and ordered string
// maps cost a string comparison per tree level.
struct BudgetPlanner::Pass {
  explicit Pass(const Snapshot& snapshot);

  const Snapshot& snap;
  const absl::Time now;
  Plan plan;
  std::map<std::string, const api::GPUNodePool*> pools_by_name;
  std::map<std::string, const api::PriceBook*> books;
  absl::flat_hash_map<std::string_view, const NodeView*> nodes;
  absl::flat_hash_map<std::string_view, const api::GPUNodePool*> pool_of_node;
  // Nodes by the budget that grew them (kGrownForAnnotation), in snapshot order.
  absl::flat_hash_map<std::string_view, std::vector<const NodeView*>> grown_for;
  // By budget: the longest stop grace of the Jobs it holds (what Release would resume).
  absl::flat_hash_map<std::string_view, absl::Duration> held_stop_grace;
  std::map<const api::GPUNodePool*, std::vector<const NodeView*>> members_of_pool;
  absl::flat_hash_map<std::string_view, int64_t> active_pods_on_node;
  absl::flat_hash_map<std::string_view, int64_t> active_gpus_on_node;
  // Per namespace (of the snapshot's namespaces and its pods'): labels, GPUs of its active pods,
  // and its budget candidates (engine::Attributor, found at first use). A node map: pods keep
  // pointers to their namespace's slot (pod_namespace).
  struct NamespaceSlot {
    const values::Labels* labels = nullptr;
    int64_t active_gpus = 0;
    const std::vector<int>* candidates = nullptr;
  };
  absl::node_hash_map<std::string_view, NamespaceSlot> namespaces;
  // By snapshot pod index (PodAt::index): the pod's GPUs (engine::PodGpus, computed once), node
  // and namespace, and what it costs per hour as metering charged it this pass (0 when not
  // charged as running).
  std::vector<int64_t> pod_gpus;
  std::vector<const NodeView*> pod_node;  // nullptr: not scheduled, or on a node not listed
  std::vector<NamespaceSlot*> pod_namespace;
  std::vector<values::Money> pod_rate;
  // What each Job's active pods hold, by (namespace, Job name) viewing the pods' strings:
  // summed once by PlanJobs (the rate as metering charged it, from pod_rate).
  struct JobPods {
    int64_t gpus = 0;
    values::Money rate;    // per hour, of its running pods
    int32_t priority = 0;  // the highest of its pods' priorities (at least 0)
    absl::Time started = absl::InfiniteFuture();  // its earliest active pod's start
    engine::StopLag stop_lag;                     // of its started pods
    // The nodes its GPU pods run on, each once (Drain's engine::OwnedBins).
    absl::InlinedVector<const NodeView*, 1> nodes;
  };
  absl::flat_hash_map<std::pair<std::string_view, std::string_view>, JobPods> job_pods;
  std::map<std::string, engine::PriceResolver> resolvers;  // by price book, filled on demand
  // Prices by price book and node index (the last slot: no node), computed once a pass: every
  // pod on a node has the same. PricesOn keeps the last book's table at hand, as budgets mostly
  // share a book.
  struct BookPrices {
    std::vector<std::optional<engine::UnitPrices>> by_node;
  };
  absl::node_hash_map<const api::PriceBook*, BookPrices> prices;
  const api::PriceBook* last_book = nullptr;
  BookPrices* last_prices = nullptr;
  // Unfinished Jobs with their own cap, by "ns/job".
  std::map<std::string, const JobView*> capped_jobs;
  std::vector<BudgetWork> work;                  // sorted by name
  std::vector<const api::ComputeBudget*> valid;  // the budgets attribution considers
  std::vector<size_t> valid_index;               // valid[i] is work[valid_index[i]]
  std::optional<engine::Attributor> attributor;  // over `valid`, made on first use

  int64_t Gpus(uint32_t index) const { return pod_gpus[index]; }
  // What the pod costs per hour at `units`: its containers with their usage when
  // metrics.k8s.io reported it (Snapshot::pod_usage), else their requests.
  values::Money RateOf(const PodView& pod, const engine::UnitPrices& units) const {
    if (!snap.pod_usage.empty()) {
      auto it = snap.pod_usage.find(pod.uid);
      if (it != snap.pod_usage.end()) {
        return engine::PodRatePerHour(it->second, units);
      }
    }
    return engine::PodRatePerHour(pod.containers, units);
  }
  const std::vector<const NodeView*>& GrownFor(std::string_view budget) const {
    static const std::vector<const NodeView*> kNone;
    auto it = grown_for.find(budget);
    return it == grown_for.end() ? kNone : it->second;
  }
  const JobPods& PodsOf(const JobView& job) const {
    static const JobPods kNone;
    auto it =
        job_pods.find(std::pair<std::string_view, std::string_view>(job.namespace_name, job.name));
    return it == job_pods.end() ? kNone : it->second;
  }
  int64_t ActiveGpusOn(const std::string& node) const {
    auto it = active_gpus_on_node.find(node);
    return it == active_gpus_on_node.end() ? 0 : it->second;
  }
  bool Idle(const std::string& node) const {
    auto it = active_pods_on_node.find(node);
    return it == active_pods_on_node.end() || it->second == 0;
  }
  NamespaceSlot& Namespace(std::string_view ns) {
    static const values::Labels kNoLabels;
    NamespaceSlot& slot = namespaces[ns];
    if (slot.labels == nullptr) {
      slot.labels = &kNoLabels;  // not in the snapshot's namespaces
    }
    return slot;
  }
  int64_t ActiveGpusIn(std::string_view ns) const {
    auto it = namespaces.find(ns);
    return it == namespaces.end() ? 0 : it->second.active_gpus;
  }
  // The valid budget the snapshot's pod `index` is charged to (as Attribute, its namespace
  // looked up once).
  engine::Attribution AttributePod(uint32_t index) {
    const PodView& pod = snap.pods[index];
    NamespaceSlot& ns = *pod_namespace[index];
    if (ns.candidates == nullptr) {
      ns.candidates = &Attributor().Candidates(pod.namespace_name, ns.labels);
    }
    return Attributor().Choose(*ns.candidates, pod.labels);
  }
  // Which valid budget a pod (or Job) of `ns` with `labels` is charged to. Only after
  // ValidateBudgets, which fills `valid`.
  engine::Attribution Attribute(const std::string& ns, const values::Labels& labels) {
    return Attributor().Attribute(
        {.namespace_name = ns, .namespace_labels = Namespace(ns).labels, .pod_labels = &labels});
  }
  engine::Attributor& Attributor() {
    if (!attributor.has_value()) {
      attributor.emplace(valid);
    }
    return *attributor;
  }
  BudgetWork& Winner(int attributed) { return work[valid_index[static_cast<size_t>(attributed)]]; }
  // Prices of a node for a budget's price book (a pool's pricePerNodeHour wins).
  const engine::UnitPrices& PricesOn(const api::PriceBook* book, const NodeView* node);
  // What a whole node costs per hour.
  values::Money NodeRate(const api::PriceBook* book, const NodeView& node);
};

}  // namespace bursar::reconcilers
