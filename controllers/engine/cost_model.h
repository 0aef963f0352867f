#pragma once

// The OpenCost-compatible cost model: what one pod costs per hour on the node it runs on.
//
// - A container's rate is the sum over resources of max(request, usage) x unit price; GPUs are
//   charged by request (whole devices) at the price of the node's GPU model and capacity type.
// - Unit prices come, most specific first, from: a node price given for the node's pool or
//   instance type, split into cpu / memory / GPU by the ratio of the default prices (OpenCost
//   spec, appendix A); a GPU-model price for the GPU part; the PriceBook defaults.
// Init containers are not charged (they run before the others; OpenCost ignores them too).
// Pure and thread-compatible.

#include <optional>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/types/span.h"
#include "controllers/api/types.h"
#include "controllers/values/labels.h"
#include "controllers/values/money.h"
#include "controllers/values/quantity.h"

namespace bursar::engine {

struct NodeInfo {
  std::string name;
  values::Labels labels;
  values::Quantity cpu_capacity;     // cores
  values::Quantity memory_capacity;  // bytes
  int64_t gpu_capacity = 0;          // whole devices
};

struct ContainerResources {
  values::Quantity cpu_request;
  values::Quantity memory_request;
  int64_t gpus = 0;  // nvidia.com/gpu request (equal to the limit for extended resources)
  std::optional<values::Quantity> cpu_usage;
  std::optional<values::Quantity> memory_usage;
};

// A pod's containers. Most pods have one or two, kept inside the pod's view: a pass reads every
// pod's containers, and one heap block per pod was a cache miss per pod (BM_PlannerPass).
using Containers = absl::InlinedVector<ContainerResources, 1>;

// A container's requests as the pod cache keeps them: 24 bytes where a ContainerResources is 176
// (two 128-bit quantities and two optional usages). cpu in milli-cores and memory in bytes, as
// the pod decoders already round them (kube::ContainerSummary), and whole GPUs. Usage is not
// here: metrics.k8s.io's goes into a pass's own table (reconcilers::Snapshot::pod_usage).
struct ContainerRequests {
  int64_t cpu_milli = 0;
  int64_t memory_bytes = 0;
  int64_t gpus = 0;

  values::Quantity cpu() const { return values::Quantity::FromMilli(cpu_milli); }
  values::Quantity memory() const { return values::Quantity::FromUnits(memory_bytes); }
  // As the cost model prices a container: these requests, no usage.
  ContainerResources Resources() const {
    return {.cpu_request = cpu(),
            .memory_request = memory(),
            .gpus = gpus,
            .cpu_usage = std::nullopt,
            .memory_usage = std::nullopt};
  }
  bool operator==(const ContainerRequests&) const = default;
};
// The requests of `c` (its usage, if any, is dropped).
inline ContainerRequests RequestsOf(const ContainerResources& c) {
  return {.cpu_milli = c.cpu_request.MilliValue(),
          .memory_bytes = c.memory_request.Value(),
          .gpus = c.gpus};
}
// A pod's containers as the pod cache keeps them; two inline (a worker and a sidecar).
using PodRequests = absl::InlinedVector<ContainerRequests, 2>;

// Per-unit hourly prices that apply on one node, and where they came from (for `why`).
struct UnitPrices {
  values::Money cpu_core_hour;
  values::Money memory_gib_hour;
  values::Money gpu_hour;
  api::CapacityType capacity_type = api::CapacityType::kOnDemand;
  std::string source;  // e.g. "instanceType p4d.24xlarge (Spot)", "gpu NVIDIA-A100 (OnDemand)"
};

class PriceResolver {
 public:
  explicit PriceResolver(api::PriceBookSpec book) : book_(std::move(book)) {}

  // Prices on `node`. `node_price_per_hour` (e.g. a GPUNodePool's pricePerNodeHour) takes
  // precedence over the PriceBook's instance-type prices.
  UnitPrices PricesFor(const NodeInfo& node,
                       std::optional<values::Money> node_price_per_hour = std::nullopt) const;

  api::CapacityType CapacityOf(const values::Labels& node_labels) const;
  // Price of one GPU-hour of `gpu_model` at `capacity`, if the book lists it.
  std::optional<values::Money> GpuPrice(std::string_view gpu_model,
                                        api::CapacityType capacity) const;
  const api::PriceBookSpec& book() const { return book_; }

 private:
  api::PriceBookSpec book_;
};

// Cost per hour of a pod's containers at `prices`.
values::Money PodRatePerHour(absl::Span<const ContainerResources> containers,
                             const UnitPrices& prices);

// The same for containers known by their requests only: each priced as its Resources().
values::Money PodRatePerHour(absl::Span<const ContainerRequests> containers,
                             const UnitPrices& prices);

// Total nvidia.com/gpu requested by the containers.
int64_t PodGpus(absl::Span<const ContainerResources> containers);
int64_t PodGpus(absl::Span<const ContainerRequests> containers);

}  // namespace bursar::engine
