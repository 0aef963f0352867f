#include "controllers/engine/cost_model.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "controllers/values/int128.h"

namespace bursar::engine {
namespace {

using values::Int128;

constexpr Int128 kNanosPerUnit = 1'000'000'000;
constexpr Int128 kNanosPerMilli = 1'000'000;
constexpr Int128 kBytesPerGiB = Int128{1} << 30;

values::Quantity MaxOf(const values::Quantity& request,
                       const std::optional<values::Quantity>& usage) {
  return usage.has_value() && *usage > request ? *usage : request;
}

// price (micros per unit-hour) x amount (nanos of the unit) / divisor, rounded half up.
int64_t Charge(values::Money price, Int128 amount_nanos, Int128 divisor) {
  Int128 num = static_cast<Int128>(price.micros()) * amount_nanos;
  Int128 den = kNanosPerUnit * divisor;
  return static_cast<int64_t>((num + den / 2) / den);
}

// What one container costs per hour, in micros: cpu and memory by their amounts in nano-units.
int64_t ContainerMicros(const UnitPrices& prices, Int128 cpu_nanos, Int128 memory_nanos,
                        int64_t gpus) {
  return Charge(prices.cpu_core_hour, cpu_nanos, 1) +
         Charge(prices.memory_gib_hour, memory_nanos, kBytesPerGiB) +
         gpus * prices.gpu_hour.micros();
}

}  // namespace

api::CapacityType PriceResolver::CapacityOf(const values::Labels& node_labels) const {
  auto it = node_labels.find(book_.node_labels.capacity_type);
  if (it != node_labels.end() && std::find(book_.spot_values.begin(), book_.spot_values.end(),
                                           it->second) != book_.spot_values.end()) {
    return api::CapacityType::kSpot;
  }
  return api::CapacityType::kOnDemand;
}

std::optional<values::Money> PriceResolver::GpuPrice(std::string_view gpu_model,
                                                     api::CapacityType capacity) const {
  for (const api::GpuPrice& p : book_.gpus) {
    if (p.model == gpu_model && p.capacity_type == capacity) {
      return p.price_per_hour;
    }
  }
  return std::nullopt;
}

UnitPrices PriceResolver::PricesFor(const NodeInfo& node,
                                    std::optional<values::Money> node_price_per_hour) const {
  const api::PriceDefaults& d = book_.defaults;
  UnitPrices prices{d.cpu_core_hour, d.memory_gib_hour, d.gpu_hour, CapacityOf(node.labels),
                    "defaults"};
  std::string capacity = api::Name(prices.capacity_type);

  std::optional<values::Money> node_price = node_price_per_hour;
  std::string node_source = "pool price";
  if (!node_price.has_value()) {
    auto it = node.labels.find(book_.node_labels.instance_type);
    if (it != node.labels.end()) {
      for (const api::InstancePrice& p : book_.instance_types) {
        if (p.name == it->second && p.capacity_type == prices.capacity_type) {
          node_price = p.price_per_hour;
          node_source = absl::StrCat("instanceType ", p.name);
          break;
        }
      }
    }
  }
  if (node_price.has_value()) {
    // Appendix A: split the node price by the ratio of the default unit prices.
    Int128 cores = node.cpu_capacity.nanos();
    Int128 gib = node.memory_capacity.nanos();
    Int128 gpus = static_cast<Int128>(node.gpu_capacity) * kNanosPerUnit;
    Int128 weight = cores * d.cpu_core_hour.micros() +
                    gib / kBytesPerGiB * d.memory_gib_hour.micros() + gpus * d.gpu_hour.micros();
    if (weight > 0) {
      auto scale = [&](values::Money unit) {
        return values::Money::FromMicros(static_cast<int64_t>(
            static_cast<Int128>(node_price->micros()) * unit.micros() * kNanosPerUnit / weight));
      };
      prices.cpu_core_hour = scale(d.cpu_core_hour);
      prices.memory_gib_hour = scale(d.memory_gib_hour);
      prices.gpu_hour = scale(d.gpu_hour);
      prices.source = absl::StrCat(node_source, " (", capacity, ")");
      return prices;
    }
  }
  auto model = node.labels.find(book_.node_labels.gpu_model);
  if (model != node.labels.end()) {
    if (std::optional<values::Money> gpu = GpuPrice(model->second, prices.capacity_type)) {
      prices.gpu_hour = *gpu;
      prices.source = absl::StrCat("gpu ", model->second, " (", capacity, ")");
    }
  }
  return prices;
}

values::Money PodRatePerHour(absl::Span<const ContainerResources> containers,
                             const UnitPrices& prices) {
  int64_t micros = 0;
  for (const ContainerResources& c : containers) {
    micros += ContainerMicros(prices, MaxOf(c.cpu_request, c.cpu_usage).nanos(),
                              MaxOf(c.memory_request, c.memory_usage).nanos(), c.gpus);
  }
  return values::Money::FromMicros(micros);
}

values::Money PodRatePerHour(absl::Span<const ContainerRequests> containers,
                             const UnitPrices& prices) {
  int64_t micros = 0;
  for (const ContainerRequests& c : containers) {
    // The nanos of c.cpu() and c.memory(), without making the quantities (a pass prices every pod).
    micros += ContainerMicros(prices, static_cast<Int128>(c.cpu_milli) * kNanosPerMilli,
                              static_cast<Int128>(c.memory_bytes) * kNanosPerUnit, c.gpus);
  }
  return values::Money::FromMicros(micros);
}

namespace {

template <typename Container>
int64_t SumGpus(absl::Span<const Container> containers) {
  int64_t gpus = 0;
  for (const Container& c : containers) {
    // Saturating: the API server accepts a pod asking for 2^63-1 GPUs in two containers.
    if (__builtin_add_overflow(gpus, std::max<int64_t>(0, c.gpus), &gpus)) {
      return INT64_MAX;
    }
  }
  return gpus;
}

}  // namespace

int64_t PodGpus(absl::Span<const ContainerResources> containers) {
  return SumGpus(containers);
}

int64_t PodGpus(absl::Span<const ContainerRequests> containers) {
  return SumGpus(containers);
}

}  // namespace bursar::engine
