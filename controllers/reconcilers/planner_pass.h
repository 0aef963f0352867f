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

#include "absl/strings/str_cat.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/cost_model.h"
#include "controllers/engine/job_caps.h"
#include "controllers/reconcilers/budget_planner.h"

namespace bursar::reconcilers {

inline std::string JobKey(const std::string& ns, const std::string& name) {
  return absl::StrCat(ns, "/", name);
}

inline bool Active(const PodView& pod) {
  return pod.state != PodState::kEnded;
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
  std::vector<const PodView*> pods;
  std::vector<std::string> overlaps;  // other budgets that also matched some of its pods
  bool enforced = true;
  int64_t total_quota = -1;  // -1: unconstrained
  engine::BudgetDecision decision;
  int64_t regular_active_gpus = 0;
  int64_t reserve_active_gpus = 0;
  int64_t reserve_headroom = 0;
  std::set<std::string> reserve_pods;  // uids of pods that run on the retraining reserve
  // What a Job's expected cost is priced at, and what the budget can still commit in its period
  // (money budgets), as status.admission publishes them.
  values::Money gpu_hour_price;
  std::optional<values::Money> money_left;
  size_t outcome = 0;  // index in plan.budgets

  bool valid() const { return invalid_reason.empty(); }
  const std::string& name() const { return budget->metadata.name; }
};

struct BudgetPlanner::JobCandidate {
  const JobView* job;
  int32_t priority;
  bool reserve;
};

// One pass's shared context: the snapshot, its indexes (built once), the budgets being planned
// and the plan being written.
struct BudgetPlanner::Pass {
  explicit Pass(const Snapshot& snapshot);

  const Snapshot& snap;
  const absl::Time now;
  Plan plan;
  std::map<std::string, const api::GPUNodePool*> pools_by_name;
  std::map<std::string, const api::PriceBook*> books;
  std::map<std::string, const NodeView*> nodes;
  std::map<std::string, const api::GPUNodePool*> pool_of_node;
  std::map<const api::GPUNodePool*, std::vector<const NodeView*>> members_of_pool;
  std::map<std::string, int64_t> active_pods_on_node;
  std::map<std::string, int64_t> active_gpus_on_node;
  std::map<std::string, int64_t> active_gpus_in_ns;
  std::map<std::string, int64_t> job_active_gpus;  // by "ns/job" (PlanJobs)
  // What each Job's running pods cost per hour, as metering charges them (MeterBudget).
  std::map<std::string, values::Money> job_active_rate;    // by "ns/job"
  std::map<std::string, engine::PriceResolver> resolvers;  // by price book, filled on demand
  // Unfinished Jobs with their own cap, by "ns/job".
  std::map<std::string, const JobView*> capped_jobs;
  std::vector<BudgetWork> work;                  // sorted by name
  std::vector<const api::ComputeBudget*> valid;  // the budgets attribution considers
  std::vector<size_t> valid_index;               // valid[i] is work[valid_index[i]]
  std::optional<engine::Attributor> attributor;  // over `valid`, made on first use

  bool Idle(const std::string& node) const {
    auto it = active_pods_on_node.find(node);
    return it == active_pods_on_node.end() || it->second == 0;
  }
  const values::Labels* NamespaceLabels(const std::string& ns) const {
    static const values::Labels kNoLabels;
    auto it = snap.namespaces.find(ns);
    return it == snap.namespaces.end() ? &kNoLabels : &it->second;
  }
  // Which valid budget a pod (or Job) of `ns` with `labels` is charged to. Only after
  // ValidateBudgets, which fills `valid`.
  engine::Attribution Attribute(const std::string& ns, const values::Labels& labels) {
    return Attributor().Attribute(
        {.namespace_name = ns, .namespace_labels = NamespaceLabels(ns), .pod_labels = &labels});
  }
  engine::Attributor& Attributor() {
    if (!attributor.has_value()) {
      attributor.emplace(valid);
    }
    return *attributor;
  }
  BudgetWork& Winner(int attributed) { return work[valid_index[static_cast<size_t>(attributed)]]; }
  // Prices of a node for a budget's price book (a pool's pricePerNodeHour wins).
  engine::UnitPrices PricesOn(const api::PriceBook* book, const NodeView* node);
  // What a whole node costs per hour.
  values::Money NodeRate(const api::PriceBook* book, const NodeView& node);
};

}  // namespace bursar::reconcilers
