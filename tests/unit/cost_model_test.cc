// Tests for the OpenCost-compatible cost model: price resolution per node (pool price, instance
// type split by appendix A, GPU model by capacity type, defaults) and pod rates
// (max(request, usage) for cpu and memory, GPUs by request).

#include "controllers/engine/cost_model.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "controllers/api/types.h"
#include "controllers/values/money.h"
#include "controllers/values/quantity.h"
#include "gtest/gtest.h"

namespace bursar::engine {
namespace {

using api::CapacityType;

constexpr char kA100[] = "NVIDIA-A100-SXM4-80GB";
constexpr char kH100[] = "NVIDIA-H100-80GB-HBM3";

values::Quantity Q(std::string_view text) {
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  return q.ok() ? *q : values::Quantity();
}

// Micro-units of a decimal amount, for readable expectations: Micros("0.5") == 500000.
int64_t Micros(std::string_view text) {
  absl::StatusOr<values::Money> m = values::Money::Parse(text);
  EXPECT_TRUE(m.ok()) << text << ": " << m.status();
  return m.ok() ? m->micros() : 0;
}

values::Money M(std::string_view text) {
  return values::Money::FromMicros(Micros(text));
}

class PriceBookBuilder {
 public:
  PriceBookBuilder& Defaults(std::string_view cpu, std::string_view mem, std::string_view gpu) {
    book_.defaults.cpu_core_hour = M(cpu);
    book_.defaults.memory_gib_hour = M(mem);
    book_.defaults.gpu_hour = M(gpu);
    return *this;
  }
  PriceBookBuilder& Gpu(std::string model, CapacityType capacity, std::string_view price) {
    book_.gpus.push_back({std::move(model), capacity, M(price)});
    return *this;
  }
  PriceBookBuilder& Instance(std::string name, CapacityType capacity, std::string_view price) {
    book_.instance_types.push_back({std::move(name), capacity, M(price)});
    return *this;
  }
  PriceBookBuilder& CapacityLabel(std::string key) {
    book_.node_labels.capacity_type = std::move(key);
    return *this;
  }
  PriceBookBuilder& SpotValues(std::vector<std::string> values) {
    book_.spot_values = std::move(values);
    return *this;
  }
  api::PriceBookSpec Build() const { return book_; }
  PriceResolver Resolver() const { return PriceResolver(book_); }

 private:
  api::PriceBookSpec book_;
};

class NodeBuilder {
 public:
  NodeBuilder() { node_.name = "node-1"; }
  NodeBuilder& Capacity(std::string_view cpu, std::string_view memory, int64_t gpus) {
    node_.cpu_capacity = Q(cpu);
    node_.memory_capacity = Q(memory);
    node_.gpu_capacity = gpus;
    return *this;
  }
  NodeBuilder& Label(std::string key, std::string value) {
    node_.labels[std::move(key)] = std::move(value);
    return *this;
  }
  NodeBuilder& InstanceType(std::string name) {
    return Label("node.kubernetes.io/instance-type", std::move(name));
  }
  NodeBuilder& GpuModel(std::string model) {
    return Label("nvidia.com/gpu.product", std::move(model));
  }
  NodeBuilder& Spot() { return Label("karpenter.sh/capacity-type", "spot"); }
  NodeBuilder& OnDemand() { return Label("karpenter.sh/capacity-type", "on-demand"); }
  NodeInfo Build() const { return node_; }

 private:
  NodeInfo node_;
};

class ContainerBuilder {
 public:
  ContainerBuilder& Cpu(std::string_view request) {
    c_.cpu_request = Q(request);
    return *this;
  }
  ContainerBuilder& Memory(std::string_view request) {
    c_.memory_request = Q(request);
    return *this;
  }
  ContainerBuilder& Gpus(int64_t n) {
    c_.gpus = n;
    return *this;
  }
  ContainerBuilder& CpuUsage(std::string_view usage) {
    c_.cpu_usage = Q(usage);
    return *this;
  }
  ContainerBuilder& MemoryUsage(std::string_view usage) {
    c_.memory_usage = Q(usage);
    return *this;
  }
  ContainerResources Build() const { return c_; }
  operator ContainerResources() const { return c_; }  // NOLINT(google-explicit-constructor)

 private:
  ContainerResources c_;
};

// A p4d.24xlarge-like node: 96 cores, 1152 GiB, 8 A100s.
NodeBuilder P4d() {
  NodeBuilder b;
  b.Capacity("96", "1152Gi", 8).InstanceType("p4d.24xlarge").GpuModel(kA100);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Capacity type

struct CapacityCase {
  std::string name;
  PriceBookBuilder book;
  values::Labels labels;
  CapacityType want;
};

void PrintTo(const CapacityCase& c, std::ostream* os) {
  *os << c.name;
}

class CostModelCapacityTest : public testing::TestWithParam<CapacityCase> {};

TEST_P(CostModelCapacityTest, CapacityOf) {
  const CapacityCase& c = GetParam();
  EXPECT_EQ(c.book.Resolver().CapacityOf(c.labels), c.want) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    CostModel, CostModelCapacityTest,
    testing::Values(
        CapacityCase{"NoLabelIsOnDemand", PriceBookBuilder(), {}, CapacityType::kOnDemand},
        CapacityCase{"KarpenterSpot",
                     PriceBookBuilder(),
                     {{"karpenter.sh/capacity-type", "spot"}},
                     CapacityType::kSpot},
        CapacityCase{"KarpenterOnDemand",
                     PriceBookBuilder(),
                     {{"karpenter.sh/capacity-type", "on-demand"}},
                     CapacityType::kOnDemand},
        CapacityCase{"DefaultSpotValueTrue",
                     PriceBookBuilder(),
                     {{"karpenter.sh/capacity-type", "true"}},
                     CapacityType::kSpot},
        CapacityCase{"SpotValueOnOtherKeyIgnored",
                     PriceBookBuilder(),
                     {{"cloud.google.com/gke-spot", "true"}},
                     CapacityType::kOnDemand},
        CapacityCase{"CustomLabelKey",
                     PriceBookBuilder().CapacityLabel("cloud.google.com/gke-spot"),
                     {{"cloud.google.com/gke-spot", "true"}},
                     CapacityType::kSpot},
        CapacityCase{"CustomSpotValues",
                     PriceBookBuilder().SpotValues({"preemptible"}),
                     {{"karpenter.sh/capacity-type", "preemptible"}},
                     CapacityType::kSpot},
        CapacityCase{"CustomSpotValuesReplaceDefaults",
                     PriceBookBuilder().SpotValues({"preemptible"}),
                     {{"karpenter.sh/capacity-type", "spot"}},
                     CapacityType::kOnDemand}),
    [](const testing::TestParamInfo<CapacityCase>& p) { return p.param.name; });

// ---------------------------------------------------------------------------------------------
// GPU model prices

TEST(CostModelGpuPriceTest, LooksUpModelAndCapacityType) {
  PriceResolver r = PriceBookBuilder()
                        .Gpu(kA100, CapacityType::kOnDemand, "4.10")
                        .Gpu(kA100, CapacityType::kSpot, "1.23")
                        .Gpu(kH100, CapacityType::kOnDemand, "6.98")
                        .Resolver();
  ASSERT_TRUE(r.GpuPrice(kA100, CapacityType::kOnDemand).has_value());
  EXPECT_EQ(r.GpuPrice(kA100, CapacityType::kOnDemand)->micros(), Micros("4.10"));
  ASSERT_TRUE(r.GpuPrice(kA100, CapacityType::kSpot).has_value());
  EXPECT_EQ(r.GpuPrice(kA100, CapacityType::kSpot)->micros(), Micros("1.23"));
  ASSERT_TRUE(r.GpuPrice(kH100, CapacityType::kOnDemand).has_value());
  EXPECT_EQ(r.GpuPrice(kH100, CapacityType::kOnDemand)->micros(), Micros("6.98"));
  // No Spot price listed for the H100, and no fallback to the on-demand one.
  EXPECT_FALSE(r.GpuPrice(kH100, CapacityType::kSpot).has_value());
  EXPECT_FALSE(r.GpuPrice("Tesla-T4", CapacityType::kOnDemand).has_value());
}

struct PricesCase {
  std::string name;
  PriceBookBuilder book;
  NodeBuilder node;
  std::optional<values::Money> pool_price;
  int64_t want_cpu;
  int64_t want_mem;
  int64_t want_gpu;
  CapacityType want_capacity;
  std::string want_source;
};

void PrintTo(const PricesCase& c, std::ostream* os) {
  *os << c.name;
}

class CostModelPricesTest : public testing::TestWithParam<PricesCase> {};

TEST_P(CostModelPricesTest, PricesFor) {
  const PricesCase& c = GetParam();
  UnitPrices p = c.book.Resolver().PricesFor(c.node.Build(), c.pool_price);
  EXPECT_EQ(p.cpu_core_hour.micros(), c.want_cpu);
  EXPECT_EQ(p.memory_gib_hour.micros(), c.want_mem);
  EXPECT_EQ(p.gpu_hour.micros(), c.want_gpu);
  EXPECT_EQ(p.capacity_type, c.want_capacity);
  EXPECT_EQ(p.source, c.want_source);
}

// Defaults 1 / core-hour, 1 / GiB-hour, 10 / GPU-hour; a 4-core, 4 GiB, 1-GPU node weighs
// 4 + 4 + 10 = 18, so a node price of 36 splits exactly into 2, 2 and 20.
PriceBookBuilder SimpleBook() {
  return PriceBookBuilder()
      .Defaults("1", "1", "10")
      .Gpu(kA100, CapacityType::kOnDemand, "4")
      .Gpu(kA100, CapacityType::kSpot, "1.5")
      .Instance("small.gpu", CapacityType::kOnDemand, "36")
      .Instance("small.gpu", CapacityType::kSpot, "18");
}

NodeBuilder SmallGpuNode() {
  NodeBuilder b;
  b.Capacity("4", "4Gi", 1).InstanceType("small.gpu").GpuModel(kA100);
  return b;
}

INSTANTIATE_TEST_SUITE_P(
    CostModel, CostModelPricesTest,
    testing::Values(
        PricesCase{"NoLabelsUseDefaults", SimpleBook(), NodeBuilder().Capacity("4", "4Gi", 1),
                   std::nullopt, Micros("1"), Micros("1"), Micros("10"), CapacityType::kOnDemand,
                   "defaults"},
        PricesCase{"OpenCostDefaults", PriceBookBuilder(), NodeBuilder().Capacity("4", "4Gi", 1),
                   std::nullopt, 31611, 4237, 950000, CapacityType::kOnDemand, "defaults"},
        PricesCase{"GpuModelOnDemand", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kA100), std::nullopt, Micros("1"),
                   Micros("1"), Micros("4"), CapacityType::kOnDemand,
                   std::string("gpu ") + kA100 + " (OnDemand)"},
        PricesCase{"GpuModelSpot", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kA100).Spot(), std::nullopt,
                   Micros("1"), Micros("1"), Micros("1.5"), CapacityType::kSpot,
                   std::string("gpu ") + kA100 + " (Spot)"},
        PricesCase{"GpuModelExplicitOnDemandLabel", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kA100).OnDemand(), std::nullopt,
                   Micros("1"), Micros("1"), Micros("4"), CapacityType::kOnDemand,
                   std::string("gpu ") + kA100 + " (OnDemand)"},
        PricesCase{"UnknownGpuModelUsesDefault", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kH100), std::nullopt, Micros("1"),
                   Micros("1"), Micros("10"), CapacityType::kOnDemand, "defaults"},
        PricesCase{
            "SpotWithoutSpotGpuPriceUsesDefault",
            PriceBookBuilder().Defaults("1", "1", "10").Gpu(kH100, CapacityType::kOnDemand, "7"),
            NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kH100).Spot(), std::nullopt, Micros("1"),
            Micros("1"), Micros("10"), CapacityType::kSpot, "defaults"},
        PricesCase{"InstanceTypeSplitByDefaultRatio", SimpleBook(), SmallGpuNode(), std::nullopt,
                   Micros("2"), Micros("2"), Micros("20"), CapacityType::kOnDemand,
                   "instanceType small.gpu (OnDemand)"},
        PricesCase{"InstanceTypeSpot", SimpleBook(), SmallGpuNode().Spot(), std::nullopt,
                   Micros("1"), Micros("1"), Micros("10"), CapacityType::kSpot,
                   "instanceType small.gpu (Spot)"},
        PricesCase{"InstanceTypeWithoutPriceForCapacityFallsBackToGpuModel",
                   PriceBookBuilder()
                       .Defaults("1", "1", "10")
                       .Gpu(kA100, CapacityType::kSpot, "1.5")
                       .Instance("small.gpu", CapacityType::kOnDemand, "36"),
                   SmallGpuNode().Spot(), std::nullopt, Micros("1"), Micros("1"), Micros("1.5"),
                   CapacityType::kSpot, std::string("gpu ") + kA100 + " (Spot)"},
        PricesCase{"UnknownInstanceTypeFallsBackToGpuModel", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).InstanceType("big.gpu").GpuModel(kA100),
                   std::nullopt, Micros("1"), Micros("1"), Micros("4"), CapacityType::kOnDemand,
                   std::string("gpu ") + kA100 + " (OnDemand)"},
        PricesCase{"PoolPriceBeatsInstanceType", SimpleBook(), SmallGpuNode(), M("72"), Micros("4"),
                   Micros("4"), Micros("40"), CapacityType::kOnDemand, "pool price (OnDemand)"},
        PricesCase{"PoolPriceOnSpotNode", SimpleBook(), SmallGpuNode().Spot(), M("9"),
                   Micros("0.5"), Micros("0.5"), Micros("5"), CapacityType::kSpot,
                   "pool price (Spot)"},
        PricesCase{"PoolPriceBeatsGpuModel", SimpleBook(),
                   NodeBuilder().Capacity("4", "4Gi", 1).GpuModel(kA100), M("18"), Micros("1"),
                   Micros("1"), Micros("10"), CapacityType::kOnDemand, "pool price (OnDemand)"},
        PricesCase{"CpuOnlyNodeSplitsOverCpuAndMemory", SimpleBook(),
                   NodeBuilder().Capacity("6", "2Gi", 0), M("16"), Micros("2"), Micros("2"),
                   Micros("20"), CapacityType::kOnDemand, "pool price (OnDemand)"},
        PricesCase{"MilliCpuAndMebibytesCapacity", SimpleBook(),
                   NodeBuilder().Capacity("3500m", "512Mi", 0), M("8"), Micros("2"), Micros("2"),
                   Micros("20"), CapacityType::kOnDemand, "pool price (OnDemand)"},
        PricesCase{"ZeroCapacityNodeCannotBeSplit", SimpleBook(),
                   NodeBuilder().Capacity("0", "0", 0).GpuModel(kA100), M("36"), Micros("1"),
                   Micros("1"), Micros("4"), CapacityType::kOnDemand,
                   std::string("gpu ") + kA100 + " (OnDemand)"}),
    [](const testing::TestParamInfo<PricesCase>& p) { return p.param.name; });

// Appendix A with OpenCost's default prices on a realistic node: the split keeps the ratio of
// the default prices, and the unit prices times the node's capacity add back up to the node price
// (each unit price is truncated to a micro, so the sum may fall short by at most one micro per
// unit of capacity).
struct SplitCase {
  std::string name;
  NodeBuilder node;
  std::string node_price;
};

void PrintTo(const SplitCase& c, std::ostream* os) {
  *os << c.name;
}

class CostModelSplitTest : public testing::TestWithParam<SplitCase> {};

TEST_P(CostModelSplitTest, SplitAddsUpToNodePrice) {
  const SplitCase& c = GetParam();
  const api::PriceBookSpec book = PriceBookBuilder().Build();
  const NodeInfo node = c.node.Build();
  UnitPrices p = PriceResolver(book).PricesFor(node, M(c.node_price));

  const double cores = node.cpu_capacity.ToDouble();
  const double gib = node.memory_capacity.ToDouble() / (1 << 30);
  const double gpus = static_cast<double>(node.gpu_capacity);
  const double sum = static_cast<double>(p.cpu_core_hour.micros()) * cores +
                     static_cast<double>(p.memory_gib_hour.micros()) * gib +
                     static_cast<double>(p.gpu_hour.micros()) * gpus;
  const double price = static_cast<double>(Micros(c.node_price));
  EXPECT_LE(sum, price + 1e-6);
  EXPECT_GE(sum, price - (cores + gib + gpus) - 1e-6);

  // Same ratio as the defaults: unit / default is one factor for all three resources.
  const double k_cpu = static_cast<double>(p.cpu_core_hour.micros()) /
                       static_cast<double>(book.defaults.cpu_core_hour.micros());
  const double k_mem = static_cast<double>(p.memory_gib_hour.micros()) /
                       static_cast<double>(book.defaults.memory_gib_hour.micros());
  const double k_gpu = static_cast<double>(p.gpu_hour.micros()) /
                       static_cast<double>(book.defaults.gpu_hour.micros());
  EXPECT_NEAR(k_cpu, k_gpu, 1.0 / static_cast<double>(book.defaults.cpu_core_hour.micros()));
  EXPECT_NEAR(k_mem, k_gpu, 1.0 / static_cast<double>(book.defaults.memory_gib_hour.micros()));
  EXPECT_GT(k_gpu, 0);
}

INSTANTIATE_TEST_SUITE_P(
    CostModel, CostModelSplitTest,
    testing::Values(SplitCase{"P4d", P4d(), "32.77"}, SplitCase{"P4dSpot", P4d().Spot(), "9.83"},
                    SplitCase{"G5xlarge", NodeBuilder().Capacity("4", "16Gi", 1), "1.006"},
                    SplitCase{"CpuOnly", NodeBuilder().Capacity("64", "256Gi", 0), "2.176"},
                    SplitCase{"OddSizes", NodeBuilder().Capacity("7500m", "61850Mi", 3),
                              "7.123457"},
                    SplitCase{"DecimalMemory", NodeBuilder().Capacity("16", "64G", 2), "3.06"}),
    [](const testing::TestParamInfo<SplitCase>& p) { return p.param.name; });

TEST(CostModelPricesForTest, P4dInstanceTypeFromBook) {
  PriceResolver r = PriceBookBuilder()
                        .Instance("p4d.24xlarge", CapacityType::kOnDemand, "32.77")
                        .Gpu(kA100, CapacityType::kOnDemand, "4.10")
                        .Resolver();
  UnitPrices p = r.PricesFor(P4d().Build());
  EXPECT_EQ(p.source, "instanceType p4d.24xlarge (OnDemand)");
  // The node price is split; the GPU-model price is not used when the node price is known.
  EXPECT_NE(p.gpu_hour.micros(), Micros("4.10"));
  const int64_t sum =
      p.cpu_core_hour.micros() * 96 + p.memory_gib_hour.micros() * 1152 + p.gpu_hour.micros() * 8;
  EXPECT_LE(sum, Micros("32.77"));
  EXPECT_GE(sum, Micros("32.77") - (96 + 1152 + 8));
}

// ---------------------------------------------------------------------------------------------
// Pod rates

UnitPrices EasyPrices() {
  UnitPrices p;
  p.cpu_core_hour = M("1");
  p.memory_gib_hour = M("0.5");
  p.gpu_hour = M("2");
  return p;
}

struct RateCase {
  std::string name;
  std::vector<ContainerResources> containers;
  int64_t want_micros;
  int64_t want_gpus;
};

void PrintTo(const RateCase& c, std::ostream* os) {
  *os << c.name;
}

class CostModelPodRateTest : public testing::TestWithParam<RateCase> {};

TEST_P(CostModelPodRateTest, PodRatePerHour) {
  const RateCase& c = GetParam();
  EXPECT_EQ(PodRatePerHour(c.containers, EasyPrices()).micros(), c.want_micros);
  EXPECT_EQ(PodGpus(c.containers), c.want_gpus);
}

// The pod cache's form (integer requests, no usage) prices every case as the engine prices the
// same requests (RequestsOf drops usage and rounds cpu up to a milli-core), and exactly as the
// case says where it has no usage and whole milli-cores and bytes.
TEST_P(CostModelPodRateTest, ContainerRequestsPriceAsTheirResources) {
  const RateCase& c = GetParam();
  std::vector<ContainerRequests> requests;
  std::vector<ContainerResources> as_resources;
  bool exact = true;
  for (const ContainerResources& r : c.containers) {
    requests.push_back(RequestsOf(r));
    as_resources.push_back(requests.back().Resources());
    exact = exact && !r.cpu_usage.has_value() && !r.memory_usage.has_value() &&
            as_resources.back().cpu_request == r.cpu_request &&
            as_resources.back().memory_request == r.memory_request;
  }
  EXPECT_EQ(PodRatePerHour(requests, EasyPrices()).micros(),
            PodRatePerHour(as_resources, EasyPrices()).micros());
  EXPECT_EQ(PodGpus(requests), c.want_gpus);
  if (exact) {
    EXPECT_EQ(PodRatePerHour(requests, EasyPrices()).micros(), c.want_micros);
  }
}

TEST(CostModelTest, PodGpusSaturatesAndIgnoresNegativeCounts) {
  // The API server accepts a pod asking for 2^63-1 GPUs in each of two containers.
  ContainerResources huge;
  huge.gpus = INT64_MAX;
  ContainerResources negative;
  negative.gpus = -3;
  ContainerResources two;
  two.gpus = 2;
  EXPECT_EQ(PodGpus({huge, huge}), INT64_MAX);
  EXPECT_EQ(PodGpus({negative, two}), 2);
}

INSTANTIATE_TEST_SUITE_P(
    CostModel, CostModelPodRateTest,
    testing::Values(
        RateCase{"NoContainers", {}, 0, 0}, RateCase{"EmptyContainer", {ContainerBuilder()}, 0, 0},
        RateCase{"OneCore", {ContainerBuilder().Cpu("1")}, Micros("1"), 0},
        RateCase{"MilliCpu", {ContainerBuilder().Cpu("500m")}, Micros("0.5"), 0},
        RateCase{"TinyCpuRoundsToMicro", {ContainerBuilder().Cpu("1u")}, 1, 0},
        RateCase{"Gibibytes", {ContainerBuilder().Memory("2Gi")}, Micros("1"), 0},
        RateCase{"Mebibytes", {ContainerBuilder().Memory("1536Mi")}, Micros("0.75"), 0},
        // 1e9 bytes = 0.931322574615 GiB; x 0.5 = 0.465661287 -> 465661 micros.
        RateCase{"DecimalGigabytes", {ContainerBuilder().Memory("1G")}, 465661, 0},
        RateCase{"CpuUsageAboveRequest",
                 {ContainerBuilder().Cpu("500m").CpuUsage("750m")},
                 Micros("0.75"),
                 0},
        RateCase{
            "CpuUsageBelowRequest", {ContainerBuilder().Cpu("2").CpuUsage("250m")}, Micros("2"), 0},
        RateCase{"CpuUsageWithoutRequest", {ContainerBuilder().CpuUsage("3")}, Micros("3"), 0},
        RateCase{"MemoryUsageAboveRequest",
                 {ContainerBuilder().Memory("1Gi").MemoryUsage("3Gi")},
                 Micros("1.5"),
                 0},
        RateCase{"MemoryUsageBelowRequest",
                 {ContainerBuilder().Memory("4Gi").MemoryUsage("1Gi")},
                 Micros("2"),
                 0},
        RateCase{"MaxIsPerResource",
                 {ContainerBuilder().Cpu("1").CpuUsage("2").Memory("4Gi").MemoryUsage("2Gi")},
                 Micros("2") + Micros("2"),
                 0},
        RateCase{"GpusByRequest", {ContainerBuilder().Gpus(4)}, Micros("8"), 4},
        RateCase{"GpuIgnoresCpuUsage",
                 {ContainerBuilder().Gpus(1).Cpu("0").CpuUsage("0")},
                 Micros("2"),
                 1},
        RateCase{"AllResources",
                 {ContainerBuilder().Cpu("8").Memory("64Gi").Gpus(1)},
                 Micros("8") + Micros("32") + Micros("2"),
                 1},
        RateCase{"MultipleContainersAddUp",
                 {ContainerBuilder().Cpu("500m").Memory("1Gi").Gpus(2),
                  ContainerBuilder().Cpu("250m").CpuUsage("1500m").Memory("512Mi"),
                  ContainerBuilder().Gpus(1)},
                 Micros("0.5") + Micros("0.5") + Micros("4") + Micros("1.5") + Micros("0.25") +
                     Micros("2"),
                 3}),
    [](const testing::TestParamInfo<RateCase>& p) { return p.param.name; });

TEST(CostModelPodRateTest, RoundsHalfUpPerResource) {
  UnitPrices p;
  p.cpu_core_hour = values::Money::FromMicros(3);  // 0.5 core -> 1.5 micros -> 2
  p.memory_gib_hour = values::Money::FromMicros(1);
  EXPECT_EQ(PodRatePerHour({ContainerBuilder().Cpu("500m")}, p).micros(), 2);
  EXPECT_EQ(PodRatePerHour({ContainerBuilder().Cpu("400m")}, p).micros(), 1);      // 1.2 -> 1
  EXPECT_EQ(PodRatePerHour({ContainerBuilder().Memory("512Mi")}, p).micros(), 1);  // 0.5 -> 1
}

TEST(CostModelPodRateTest, GpuPodOnSpotNodeUsesSpotGpuPrice) {
  PriceResolver r = PriceBookBuilder()
                        .Defaults("0.04", "0.005", "3")
                        .Gpu(kA100, CapacityType::kOnDemand, "4.10")
                        .Gpu(kA100, CapacityType::kSpot, "1.25")
                        .Resolver();
  const std::vector<ContainerResources> pod = {ContainerBuilder().Cpu("4").Memory("32Gi").Gpus(2)};
  const int64_t cpu_mem = Micros("0.16") + Micros("0.16");

  UnitPrices spot =
      r.PricesFor(NodeBuilder().Capacity("96", "1152Gi", 8).GpuModel(kA100).Spot().Build());
  EXPECT_EQ(PodRatePerHour(pod, spot).micros(), cpu_mem + Micros("2.50"));

  UnitPrices on_demand =
      r.PricesFor(NodeBuilder().Capacity("96", "1152Gi", 8).GpuModel(kA100).Build());
  EXPECT_EQ(PodRatePerHour(pod, on_demand).micros(), cpu_mem + Micros("8.20"));
}

// A pod that takes a whole node costs the node's price (within the split's truncation).
TEST(CostModelPodRateTest, WholeNodePodCostsNodePrice) {
  PriceResolver r =
      PriceBookBuilder().Instance("p4d.24xlarge", CapacityType::kOnDemand, "32.77").Resolver();
  UnitPrices p = r.PricesFor(P4d().Build());
  const values::Money rate =
      PodRatePerHour({ContainerBuilder().Cpu("96").Memory("1152Gi").Gpus(8)}, p);
  EXPECT_LE(rate.micros(), Micros("32.77"));
  EXPECT_GE(rate.micros(), Micros("32.77") - (96 + 1152 + 8));
}

}  // namespace
}  // namespace bursar::engine
