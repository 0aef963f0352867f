#pragma once

// Plain structs for Bursar's custom resources (group bursar.dev, version v1alpha1), mirroring
// crds/*.yaml field for field. Defaults here equal the CRD defaults, so a manifest decoded by
// `bursar simulate` means the same as the object the API server stores. Header-only: the engine
// reads these structs without linking the codecs (controllers/api/codec.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "controllers/values/labels.h"
#include "controllers/values/ledger.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"
#include "controllers/values/quantity.h"
#include "controllers/values/resources.h"

namespace bursar::api {

inline constexpr char kGroup[] = "bursar.dev";
inline constexpr char kVersion[] = "v1alpha1";
inline constexpr char kApiVersion[] = "bursar.dev/v1alpha1";

struct ObjectMeta {
  std::string name;
  std::string namespace_name;  // empty for our cluster-scoped kinds
  std::string uid;
  std::string resource_version;
  int64_t generation = 0;
  absl::Time creation_timestamp = absl::InfinitePast();
  values::Labels labels;
  values::Labels annotations;
};

// metav1.Condition.
struct Condition {
  std::string type;
  std::string status;  // "True", "False", "Unknown"
  std::string reason;  // CamelCase
  std::string message;
  absl::Time last_transition_time = absl::InfinitePast();
  int64_t observed_generation = 0;
  bool operator==(const Condition&) const = default;
};

// ---------------------------------------------------------------------------------------------
// ComputeBudget

enum class PacingMode { kEven, kNone };
// Ordered: a higher rung includes the lower ones.
enum class LadderAction { kNone = 0, kNotify = 1, kThrottle = 2, kHold = 3, kDrain = 4 };
enum class EnforcementMode { kEnforce, kDryRun };
enum class QuotaMode { kResourceQuota, kKueueClusterQueue, kNone, kWebhook };
enum class BudgetPhase { kWithinBudget, kAtRisk, kThrottled, kHeld, kExhausted };

struct BudgetScope {
  std::vector<std::string> namespaces;
  std::optional<values::LabelSelector> namespace_selector;
  std::optional<values::LabelSelector> pod_selector;
};

struct BudgetLimit {
  std::optional<values::Money> amount;
  std::string currency = "USD";
  // GPU-hours as a fixed-point decimal (micro GPU-hours), e.g. "2000.5".
  std::optional<values::Money> gpu_hours;
};

struct Pacing {
  PacingMode mode = PacingMode::kEven;
  int burst_percent = 10;
};

struct Threshold {
  int percent = 0;
  LadderAction action = LadderAction::kNotify;
  bool operator==(const Threshold&) const = default;
};

inline std::vector<Threshold> DefaultThresholds() {
  return {{50, LadderAction::kNotify},
          {80, LadderAction::kThrottle},
          {95, LadderAction::kHold},
          {100, LadderAction::kDrain}};
}

struct QuotaSpec {
  QuotaMode mode = QuotaMode::kResourceQuota;
  std::vector<std::string> resources = {values::kGpuResource};
  std::string cluster_queue;  // required for kKueueClusterQueue
};

struct RetrainingSpec {
  int reserve_percent = 0;
  // modelDrift score in [0, 1], in millionths (0.3 -> 300000), so comparisons are exact.
  int64_t drift_threshold_micros = 300000;
  std::string model_label = "bursar.dev/model";
  std::string purpose_label = "bursar.dev/purpose";
  absl::Duration cooldown = absl::Hours(6);
  int max_per_period = 3;
  // PromQL giving modelDrift scores by `model` label; empty when unused.
  std::string drift_query;
  // From this percent of the period on, the reserve not yet drawn on is released to regular
  // work, linearly, all of it by the period's end (100: never released).
  int release_unused_from_percent = 75;
};

struct ComputeBudgetSpec {
  BudgetScope scope;
  BudgetLimit limit;
  values::PeriodSpec period;
  Pacing pacing;
  std::vector<Threshold> thresholds = DefaultThresholds();
  EnforcementMode enforcement = EnforcementMode::kEnforce;
  QuotaSpec quota;
  std::vector<std::string> node_pools;
  RetrainingSpec retraining;
  std::string price_book_ref = "default";
};

struct ActionRecord {
  absl::Time time = absl::InfinitePast();
  std::string action;  // "Notify", "Throttle", "Hold", "Drain", "Release", "ScaleUp", ...
  std::string reason;
  std::string message;
  std::string target;  // e.g. "namespace/vision", "job/vision/train-42", "gpunodepool/a100"
  bool dry_run = false;
  bool operator==(const ActionRecord&) const = default;
};

inline constexpr size_t kMaxRecentActions = 20;

// The retraining gate's state (engine::RetrainingGate), kept in status so that a new leader
// continues open unlocks, cooldowns and the period's unlock count (docs/concepts.md).
struct ModelUnlock {
  std::string model;
  absl::Time last_unlock = absl::InfinitePast();
  bool open = false;  // unlocked in the status's period
  bool operator==(const ModelUnlock&) const = default;
};

struct RetrainingStatus {
  std::optional<values::Period> period;  // the period the unlocks belong to
  int unlocks_this_period = 0;
  std::vector<ModelUnlock> models;  // open, or still cooling down; at most kMaxModelUnlocks
  bool operator==(const RetrainingStatus&) const = default;
};

inline constexpr size_t kMaxModelUnlocks = 64;

// A Job asked to drain whose drain grace is running: since when (a new leader keeps the deadline).
struct DrainRequest {
  std::string namespace_name;
  std::string name;
  absl::Time since = absl::InfinitePast();
  bool operator==(const DrainRequest&) const = default;
};

inline constexpr size_t kMaxDrainRequests = 256;

// What a Job with its own cap (bursar.dev/max-cost, bursar.dev/max-gpu-hours) has cost over its
// whole life, restarts and suspensions included (status.jobs, beside the ledger it is metered
// with, so that a new leader continues both from the same instant). Exact: accrual units as in
// the ledger. `rate` and `gpus` are what it burnt when it last ran, so a Job stopped at its cap is
// resumed only when a raised cap leaves room for it.
struct JobSpend {
  std::string namespace_name;
  std::string name;
  std::string uid;
  values::Accrual accrued = 0;
  int64_t gpu_seconds = 0;
  values::Money rate;  // per hour
  int64_t gpus = 0;
  std::string cap;  // for people: "max-cost 2000.00", "max-gpu-hours 96.00" or both
  bool operator==(const JobSpend&) const = default;
};

inline constexpr size_t kMaxJobSpends = 500;

// What the admission webhook needs to decide on every replica, as the leader published it
// (status.admission): whether new work is held, and how much of each quota resource the
// budget's pods may hold in total right now (an absent resource is not limited). Bounded by
// spec.quota.resources (at most 16 entries).
struct AdmissionAllowance {
  bool hold_new_work = false;
  std::map<std::string, values::Quantity> allowed;
  // For a Job's expected cost (its declared length x GPUs x this price), and the money the
  // budget can still commit in its period beyond what its running work will spend (money
  // budgets only): a Job expected to cost more is created suspended.
  std::optional<values::Money> gpu_hour_price;
  std::optional<values::Money> money_left;
  // While a modelDrift signal has the retraining reserve unlocked: the GPUs retraining work of
  // the unlocked models (OpenUnlocks of the same status) may hold together, the engine's reserve
  // allowance. Such work draws on the reserve, not on the regular allowance or holdNewWork
  // (engine::DrawsOnReserve): the webhook starts it only where the reserve has room, as the
  // planner does.
  std::optional<int64_t> reserve_gpus;
  bool operator==(const AdmissionAllowance&) const = default;
};

struct ComputeBudgetStatus {
  int64_t observed_generation = 0;
  std::optional<values::Period> period;
  values::Money spent;
  values::Money gpu_hours;  // micro GPU-hours
  values::Money burn_rate;  // currency per hour
  values::Money forecast;   // spend expected at the end of the period
  values::Money remaining;
  std::optional<absl::Time> exhausts_at;
  int64_t allowed_gpus = 0;
  std::optional<AdmissionAllowance> admission;
  BudgetPhase phase = BudgetPhase::kWithinBudget;
  std::vector<Condition> conditions;
  std::optional<values::LedgerState> ledger;
  // The part of the ledger charged to the retraining reserve (same shape).
  std::optional<values::LedgerState> reserve_ledger;
  std::vector<ActionRecord> recent_actions;
  std::optional<RetrainingStatus> retraining;
  std::vector<DrainRequest> drain_requests;  // oldest first, at most kMaxDrainRequests
  std::vector<JobSpend> jobs;  // capped Jobs, by namespace/name; at most kMaxJobSpends
  // What the budget learned about its Jobs' lengths (engine::JobLengths::Encode; at most 6 KB),
  // so that a new leader orders and commits work as the last one did. Kept as text here: a
  // corrupt value is the engine's to refuse (and ignore), not a reason to reject the budget.
  std::string job_lengths;
};

// The models a modelDrift signal has unlocked the reserve for in the status's period (the open
// unlocks of status.retraining, when it is of that period), in status order.
inline std::vector<std::string> OpenUnlocks(const ComputeBudgetStatus& s) {
  std::vector<std::string> out;
  if (s.retraining.has_value() && s.period.has_value() && s.retraining->period == s.period) {
    for (const ModelUnlock& m : s.retraining->models) {
      if (m.open) {
        out.push_back(m.model);
      }
    }
  }
  return out;
}

struct ComputeBudget {
  ObjectMeta metadata;
  ComputeBudgetSpec spec;
  ComputeBudgetStatus status;
};

// ---------------------------------------------------------------------------------------------
// GPUNodePool

enum class ProviderType { kClusterAPI, kKarpenter, kExternalGRPC, kKwok };
enum class CapacityType { kOnDemand, kSpot };

struct ProviderSpec {
  ProviderType type = ProviderType::kKwok;
  // ClusterAPI: the MachineDeployment.
  std::string cluster_api_namespace;
  std::string cluster_api_name;
  // Karpenter: the NodePool.
  std::string karpenter_node_pool;
  // ExternalGRPC: the externalgrpc CloudProvider endpoint and node group.
  std::string grpc_address;
  std::string grpc_node_group;
  std::string grpc_tls_secret_ref;
  // Kwok: prefix of the simulated Node names.
  std::string kwok_node_name_prefix;
};

struct GPUNodePoolSpec {
  ProviderSpec provider;
  values::Labels node_selector;
  std::string gpu_type;
  int gpus_per_node = 1;
  CapacityType capacity_type = CapacityType::kOnDemand;
  std::optional<values::Money> price_per_node_hour;
  std::string price_book_ref = "default";
  int min_nodes = 0;
  int max_nodes = 0;
  int max_scale_step = 2;
  absl::Duration scale_down_delay = absl::Minutes(10);
};

struct GPUNodePoolStatus {
  int64_t observed_generation = 0;
  int current_nodes = 0;
  int desired_nodes = 0;
  int ready_nodes = 0;
  int idle_nodes = 0;
  std::optional<absl::Time> last_scale_time;
  std::string last_scale_reason;
  std::vector<Condition> conditions;
  // Sizing state a new leader continues: since when the pool has been larger than its demand
  // (the scale-down delay runs from here), and the budget whose demand it is growing for.
  std::optional<absl::Time> scale_down_pending_since;
  std::string growing_for;
};

struct GPUNodePool {
  ObjectMeta metadata;
  GPUNodePoolSpec spec;
  GPUNodePoolStatus status;
};

// ---------------------------------------------------------------------------------------------
// PriceBook

struct GpuPrice {
  std::string model;
  CapacityType capacity_type = CapacityType::kOnDemand;
  values::Money price_per_hour;  // per GPU-hour
};

struct InstancePrice {
  std::string name;
  CapacityType capacity_type = CapacityType::kOnDemand;
  values::Money price_per_hour;  // per node-hour
};

// OpenCost's defaults (per core-hour, GiB-hour, GPU-hour).
struct PriceDefaults {
  values::Money cpu_core_hour = values::Money::FromMicros(31611);
  values::Money memory_gib_hour = values::Money::FromMicros(4237);
  values::Money gpu_hour = values::Money::FromMicros(950000);
};

struct NodeLabelKeys {
  std::string instance_type = "node.kubernetes.io/instance-type";
  std::string gpu_model = "nvidia.com/gpu.product";
  std::string capacity_type = "karpenter.sh/capacity-type";
};

struct PriceBookSpec {
  std::string currency = "USD";
  PriceDefaults defaults;
  std::vector<GpuPrice> gpus;
  std::vector<InstancePrice> instance_types;
  NodeLabelKeys node_labels;
  std::vector<std::string> spot_values = {"spot", "Spot", "SPOT", "true"};
};

struct PriceBook {
  ObjectMeta metadata;
  PriceBookSpec spec;
  std::vector<Condition> conditions;
  int64_t observed_generation = 0;
};

// Names as spelled in the CRDs (inline so the engine can use them without linking the codecs).
inline const char* Name(PacingMode v) {
  return v == PacingMode::kEven ? "Even" : "None";
}
inline const char* Name(LadderAction v) {
  constexpr const char* kNames[] = {"None", "Notify", "Throttle", "Hold", "Drain"};
  return kNames[static_cast<int>(v)];
}
inline const char* Name(EnforcementMode v) {
  return v == EnforcementMode::kEnforce ? "Enforce" : "DryRun";
}
inline const char* Name(QuotaMode v) {
  constexpr const char* kNames[] = {"ResourceQuota", "KueueClusterQueue", "None", "Webhook"};
  return kNames[static_cast<int>(v)];
}
inline const char* Name(BudgetPhase v) {
  constexpr const char* kNames[] = {"WithinBudget", "AtRisk", "Throttled", "Held", "Exhausted"};
  return kNames[static_cast<int>(v)];
}
inline const char* Name(ProviderType v) {
  constexpr const char* kNames[] = {"ClusterAPI", "Karpenter", "ExternalGRPC", "Kwok"};
  return kNames[static_cast<int>(v)];
}
inline const char* Name(CapacityType v) {
  return v == CapacityType::kOnDemand ? "OnDemand" : "Spot";
}

}  // namespace bursar::api
