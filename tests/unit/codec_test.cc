#include "controllers/api/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "operator/yaml/yaml.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::Time At(const char* rfc3339) {
  absl::StatusOr<absl::Time> t = ParseTime(rfc3339);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.value_or(absl::UnixEpoch());
}

values::Money M(const char* decimal) {
  absl::StatusOr<values::Money> m = values::Money::Parse(decimal);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.value_or(values::Money());
}

std::vector<std::string> Lines(const absl::Status& status) {
  return absl::StrSplit(std::string(status.message()), '\n');
}

// ---------------------------------------------------------------------------------------------
// Manifest text builder: each section is a list of `key: <flow YAML>` lines, so a test names
// only what it changes, and line numbers stay predictable (see Build()).

class Manifest {
 public:
  static Manifest Budget() {
    Manifest m("ComputeBudget");
    m.Set("spec.scope", "{namespaces: [vision]}");
    m.Set("spec.limit", "{amount: \"5000\"}");
    m.Set("spec.period", "{}");
    return m;
  }
  static Manifest Pool() {
    Manifest m("GPUNodePool");
    m.Set("spec.provider", "{type: Kwok}");
    m.Set("spec.gpusPerNode", "8");
    m.Set("spec.maxNodes", "4");
    return m;
  }
  static Manifest Book() {
    Manifest m("PriceBook");
    m.Set("spec.currency", "USD");
    return m;
  }

  // `path` is "<section>.<key>" with section one of top, metadata, spec, status; replaces the
  // key if present, else appends it.
  Manifest& Set(const std::string& path, const std::string& flow) {
    auto [section, key] = Split(path);
    for (auto& [k, v] : sections_[section]) {
      if (k == key) {
        v = flow;
        return *this;
      }
    }
    sections_[section].emplace_back(key, flow);
    return *this;
  }
  Manifest& Remove(const std::string& path) {
    auto [section, key] = Split(path);
    std::vector<std::pair<std::string, std::string>>& entries = sections_[section];
    std::erase_if(entries, [&key = key](const auto& e) { return e.first == key; });
    return *this;
  }

  // Line 1 apiVersion, 2 kind, 3 "metadata:", 4 name, then further metadata, "spec:", its
  // entries (so with only the name in metadata, spec entry i is on line 6 + i), "status:"...
  std::string Build() const {
    std::string out;
    for (const auto& [k, v] : sections_.at("top")) {
      out += k + ": " + v + "\n";
    }
    for (const char* section : {"metadata", "spec", "status"}) {
      auto it = sections_.find(section);
      if (it == sections_.end() || (it->second.empty() && std::string(section) == "status")) {
        continue;
      }
      out += std::string(section) + ":\n";
      for (const auto& [k, v] : it->second) {
        out += "  " + k + ": " + v + "\n";
      }
    }
    return out;
  }

  json::Value Doc() const {
    absl::StatusOr<std::vector<json::Value>> docs = yaml::ParseYamlDocuments(Build(), "t.yaml");
    EXPECT_TRUE(docs.ok()) << docs.status() << "\n" << Build();
    if (!docs.ok() || docs->size() != 1) {
      return json::Value();
    }
    return (*docs)[0];
  }

  const std::string& kind() const { return kind_; }

 private:
  explicit Manifest(std::string kind) : kind_(std::move(kind)) {
    sections_["top"] = {{"apiVersion", "bursar.dev/v1alpha1"}, {"kind", kind_}};
    sections_["metadata"] = {{"name", "team-a"}};
    sections_["spec"] = {};
    sections_["status"] = {};
  }
  static std::pair<std::string, std::string> Split(const std::string& path) {
    size_t dot = path.find('.');
    return {path.substr(0, dot), path.substr(dot + 1)};
  }

  std::string kind_;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> sections_;
};

const DecodeOptions kStrict{.source = "t.yaml", .reject_unknown_fields = true};

absl::Status DecodeStatus(const Manifest& m, const DecodeOptions& o = kStrict) {
  json::Value doc = m.Doc();
  if (m.kind() == "ComputeBudget") {
    return DecodeComputeBudget(doc, o).status();
  }
  if (m.kind() == "GPUNodePool") {
    return DecodeGPUNodePool(doc, o).status();
  }
  return DecodePriceBook(doc, o).status();
}

// ---------------------------------------------------------------------------------------------
// Fluent builders of rich structs for the round trips.

class BudgetBuilder {
 public:
  BudgetBuilder() {
    b_.metadata.name = "team-vision";
    b_.spec.scope.namespaces = {"vision"};
    b_.spec.limit.amount = M("5000");
  }
  BudgetBuilder& Meta(std::string uid, std::string rv, int64_t generation, absl::Time created) {
    b_.metadata.uid = std::move(uid);
    b_.metadata.resource_version = std::move(rv);
    b_.metadata.generation = generation;
    b_.metadata.creation_timestamp = created;
    return *this;
  }
  BudgetBuilder& Label(std::string k, std::string v) {
    b_.metadata.labels[std::move(k)] = std::move(v);
    return *this;
  }
  BudgetBuilder& Annotation(std::string k, std::string v) {
    b_.metadata.annotations[std::move(k)] = std::move(v);
    return *this;
  }
  BudgetBuilder& NamespaceSelector(values::LabelSelector s) {
    b_.spec.scope.namespace_selector = std::move(s);
    return *this;
  }
  BudgetBuilder& PodSelector(values::LabelSelector s) {
    b_.spec.scope.pod_selector = std::move(s);
    return *this;
  }
  BudgetBuilder& Limit(std::optional<values::Money> amount, std::string currency,
                       std::optional<values::Money> gpu_hours) {
    b_.spec.limit = {amount, std::move(currency), gpu_hours};
    return *this;
  }
  BudgetBuilder& Period(values::PeriodSpec p) {
    b_.spec.period = std::move(p);
    return *this;
  }
  BudgetBuilder& Pacing(PacingMode mode, int burst) {
    b_.spec.pacing = {mode, burst};
    return *this;
  }
  BudgetBuilder& Thresholds(std::vector<Threshold> t) {
    b_.spec.thresholds = std::move(t);
    return *this;
  }
  BudgetBuilder& DryRun() {
    b_.spec.enforcement = EnforcementMode::kDryRun;
    return *this;
  }
  BudgetBuilder& Quota(QuotaSpec q) {
    b_.spec.quota = std::move(q);
    return *this;
  }
  BudgetBuilder& NodePools(std::vector<std::string> pools) {
    b_.spec.node_pools = std::move(pools);
    return *this;
  }
  BudgetBuilder& Retraining(RetrainingSpec r) {
    b_.spec.retraining = std::move(r);
    return *this;
  }
  BudgetBuilder& PriceBookRef(std::string name) {
    b_.spec.price_book_ref = std::move(name);
    return *this;
  }
  BudgetBuilder& Status(ComputeBudgetStatus s) {
    b_.status = std::move(s);
    return *this;
  }
  ComputeBudget Build() const { return b_; }

 private:
  ComputeBudget b_;
};

values::LabelSelector Selector(values::Labels labels,
                               std::vector<values::SelectorRequirement> expressions) {
  return {std::move(labels), std::move(expressions)};
}

ComputeBudgetStatus RichBudgetStatus() {
  ComputeBudgetStatus s;
  s.observed_generation = 7;
  s.period = values::Period{At("2026-11-01T00:00:00Z"), At("2026-12-01T00:00:00Z")};
  s.spent = M("1250.5");
  s.gpu_hours = M("310.25");
  s.burn_rate = M("4.123456");
  s.forecast = M("5100");
  s.remaining = M("-100.01");
  s.exhausts_at = At("2026-11-28T13:00:00Z");
  s.allowed_gpus = 12;
  s.phase = BudgetPhase::kAtRisk;
  s.conditions = {{"Ready", "True", "Reconciled", "", At("2026-11-02T08:00:00Z"), 7},
                  {"bursar.dev/Overlapping", "False", "NoOverlap", "no other budget overlaps",
                   At("2026-11-02T08:00:01Z"), 6}};
  values::LedgerState ledger;
  ledger.period = *s.period;
  ledger.accrued = static_cast<values::Accrual>(1) << 80;  // beyond int64
  ledger.gpu_seconds = 1116900;
  ledger.watermark = At("2026-11-27T08:00:00.25Z");
  ledger.start_horizon = At("2026-11-27T07:59:00Z");
  ledger.end_horizon = At("2026-11-27T07:59:10Z");
  ledger.pods = {{"0a1b-uid", At("2026-11-27T08:00:00Z")},
                 {"0a1c-uid", At("2026-11-27T07:59:59.5Z")}};
  s.ledger = ledger;
  s.recent_actions = {{At("2026-11-20T10:00:00Z"), "Notify", "ForecastOverLimit",
                       "forecast 5100 > 5000", "computebudget/team-vision", false},
                      {At("2026-11-21T10:00:00Z"), "Throttle", "PacingAhead", "quota 16 -> 12",
                       "namespace/vision", true},
                      {absl::InfinitePast(), "ScaleUp", "", "", "", false}};
  return s;
}

ComputeBudget RichBudget() {
  values::PeriodSpec period;
  period.type = values::PeriodType::kCustom;
  period.duration = absl::Minutes(2);
  period.anchor = At("2025-01-01T00:00:00Z");
  return BudgetBuilder()
      .Meta("6f1c2d3e-uid", "12345", 7, At("2026-10-01T12:00:00Z"))
      .Label("team", "vision")
      .Annotation("bursar.dev/owner", "ml-platform@example.com")
      .NamespaceSelector(Selector(
          {{"bursar.dev/billing", "vision"}},
          {{"kubernetes.io/metadata.name", values::SelectorOperator::kNotIn, {"kube-system"}},
           {"tier", values::SelectorOperator::kExists, {}}}))
      .PodSelector(Selector({{"workload-class", "training"}}, {}))
      .Limit(M("5000.5"), "EUR", M("2000.125"))
      .Period(period)
      .Pacing(PacingMode::kNone, 0)
      .Thresholds({{60, LadderAction::kThrottle}, {150, LadderAction::kDrain}})
      .DryRun()
      .Quota({QuotaMode::kKueueClusterQueue, {"nvidia.com/gpu", "cpu"}, "vision-cq"})
      .NodePools({"a100-pool", "h100-pool"})
      .Retraining({15, 250000, "example.com/model", "example.com/purpose", absl::Minutes(90), 0,
                   "max by (model) (drift_score{team=\"vision\"})"})
      .PriceBookRef("spot-prices")
      .Status(RichBudgetStatus())
      .Build();
}

GPUNodePool RichPool() {
  GPUNodePool p;
  p.metadata.name = "t4-pool";
  p.metadata.generation = 3;
  p.spec.provider.type = ProviderType::kExternalGRPC;
  p.spec.provider.grpc_address = "[fd00::1]:8086";
  p.spec.provider.grpc_node_group = "t4-spot";
  p.spec.provider.grpc_tls_secret_ref = "bursar-grpc-tls";
  p.spec.node_selector = {{"node-group", "t4-spot"}, {"nvidia.com/gpu.product", "Tesla-T4"}};
  p.spec.gpu_type = "Tesla-T4";
  p.spec.gpus_per_node = 4;
  p.spec.capacity_type = CapacityType::kSpot;
  p.spec.price_per_node_hour = M("0.2104");
  p.spec.price_book_ref = "spot";
  p.spec.min_nodes = 1;
  p.spec.max_nodes = 20;
  p.spec.max_scale_step = 4;
  p.spec.scale_down_delay = absl::Seconds(90);
  p.status.observed_generation = 3;
  p.status.current_nodes = 5;
  p.status.desired_nodes = 6;
  p.status.ready_nodes = 4;
  p.status.idle_nodes = 1;
  p.status.last_scale_time = At("2026-11-27T08:00:00Z");
  p.status.last_scale_reason = "budget team-vision asked for 2 more GPUs";
  p.status.conditions = {
      {"Ready", "True", "ProviderReachable", "ok", At("2026-11-27T08:00:00Z"), 3}};
  return p;
}

PriceBook RichBook() {
  PriceBook b;
  b.metadata.name = "default";
  b.spec.currency = "EUR";
  b.spec.defaults = {M("0.03"), M("0.004"), M("1.1")};
  b.spec.gpus = {{"NVIDIA-A100-SXM4-80GB", CapacityType::kOnDemand, M("5.12")},
                 {"NVIDIA-A100-SXM4-80GB", CapacityType::kSpot, M("2.05")}};
  b.spec.instance_types = {{"p4d.24xlarge", CapacityType::kOnDemand, M("32.7726")}};
  b.spec.node_labels = {"example.com/instance", "example.com/gpu", "example.com/capacity"};
  b.spec.spot_values = {"preemptible"};
  b.observed_generation = 2;
  b.conditions = {{"Ready", "True", "Valid", "", At("2026-11-27T08:00:00Z"), 2}};
  return b;
}

// ---------------------------------------------------------------------------------------------
// Equality helpers: the structs have no operator== of their own (PeriodSpec has none).

void ExpectMetaEq(const ObjectMeta& a, const ObjectMeta& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.namespace_name, b.namespace_name);
  EXPECT_EQ(a.uid, b.uid);
  EXPECT_EQ(a.resource_version, b.resource_version);
  EXPECT_EQ(a.generation, b.generation);
  EXPECT_EQ(a.creation_timestamp, b.creation_timestamp);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.annotations, b.annotations);
}

void ExpectBudgetEq(const ComputeBudget& a, const ComputeBudget& b) {
  ExpectMetaEq(a.metadata, b.metadata);
  const ComputeBudgetSpec& x = a.spec;
  const ComputeBudgetSpec& y = b.spec;
  EXPECT_EQ(x.scope.namespaces, y.scope.namespaces);
  EXPECT_EQ(x.scope.namespace_selector, y.scope.namespace_selector);
  EXPECT_EQ(x.scope.pod_selector, y.scope.pod_selector);
  EXPECT_EQ(x.limit.amount, y.limit.amount);
  EXPECT_EQ(x.limit.currency, y.limit.currency);
  EXPECT_EQ(x.limit.gpu_hours, y.limit.gpu_hours);
  EXPECT_EQ(x.period.type, y.period.type);
  EXPECT_EQ(x.period.time_zone, y.period.time_zone);
  EXPECT_EQ(x.period.start_day, y.period.start_day);
  EXPECT_EQ(x.period.duration, y.period.duration);
  EXPECT_EQ(x.period.anchor, y.period.anchor);
  EXPECT_EQ(x.pacing.mode, y.pacing.mode);
  EXPECT_EQ(x.pacing.burst_percent, y.pacing.burst_percent);
  EXPECT_EQ(x.thresholds, y.thresholds);
  EXPECT_EQ(x.enforcement, y.enforcement);
  EXPECT_EQ(x.quota.mode, y.quota.mode);
  EXPECT_EQ(x.quota.resources, y.quota.resources);
  EXPECT_EQ(x.quota.cluster_queue, y.quota.cluster_queue);
  EXPECT_EQ(x.node_pools, y.node_pools);
  EXPECT_EQ(x.retraining.reserve_percent, y.retraining.reserve_percent);
  EXPECT_EQ(x.retraining.drift_threshold_micros, y.retraining.drift_threshold_micros);
  EXPECT_EQ(x.retraining.model_label, y.retraining.model_label);
  EXPECT_EQ(x.retraining.purpose_label, y.retraining.purpose_label);
  EXPECT_EQ(x.retraining.cooldown, y.retraining.cooldown);
  EXPECT_EQ(x.retraining.max_per_period, y.retraining.max_per_period);
  EXPECT_EQ(x.price_book_ref, y.price_book_ref);
  const ComputeBudgetStatus& s = a.status;
  const ComputeBudgetStatus& t = b.status;
  EXPECT_EQ(s.observed_generation, t.observed_generation);
  EXPECT_EQ(s.period, t.period);
  EXPECT_EQ(s.spent, t.spent);
  EXPECT_EQ(s.gpu_hours, t.gpu_hours);
  EXPECT_EQ(s.burn_rate, t.burn_rate);
  EXPECT_EQ(s.forecast, t.forecast);
  EXPECT_EQ(s.remaining, t.remaining);
  EXPECT_EQ(s.exhausts_at, t.exhausts_at);
  EXPECT_EQ(s.allowed_gpus, t.allowed_gpus);
  EXPECT_EQ(s.phase, t.phase);
  EXPECT_EQ(s.conditions, t.conditions);
  EXPECT_EQ(s.ledger, t.ledger);
  EXPECT_EQ(s.recent_actions, t.recent_actions);
}

void ExpectPoolEq(const GPUNodePool& a, const GPUNodePool& b) {
  ExpectMetaEq(a.metadata, b.metadata);
  const ProviderSpec& p = a.spec.provider;
  const ProviderSpec& q = b.spec.provider;
  EXPECT_EQ(p.type, q.type);
  EXPECT_EQ(p.cluster_api_namespace, q.cluster_api_namespace);
  EXPECT_EQ(p.cluster_api_name, q.cluster_api_name);
  EXPECT_EQ(p.karpenter_node_pool, q.karpenter_node_pool);
  EXPECT_EQ(p.grpc_address, q.grpc_address);
  EXPECT_EQ(p.grpc_node_group, q.grpc_node_group);
  EXPECT_EQ(p.grpc_tls_secret_ref, q.grpc_tls_secret_ref);
  EXPECT_EQ(p.kwok_node_name_prefix, q.kwok_node_name_prefix);
  EXPECT_EQ(a.spec.node_selector, b.spec.node_selector);
  EXPECT_EQ(a.spec.gpu_type, b.spec.gpu_type);
  EXPECT_EQ(a.spec.gpus_per_node, b.spec.gpus_per_node);
  EXPECT_EQ(a.spec.capacity_type, b.spec.capacity_type);
  EXPECT_EQ(a.spec.price_per_node_hour, b.spec.price_per_node_hour);
  EXPECT_EQ(a.spec.price_book_ref, b.spec.price_book_ref);
  EXPECT_EQ(a.spec.min_nodes, b.spec.min_nodes);
  EXPECT_EQ(a.spec.max_nodes, b.spec.max_nodes);
  EXPECT_EQ(a.spec.max_scale_step, b.spec.max_scale_step);
  EXPECT_EQ(a.spec.scale_down_delay, b.spec.scale_down_delay);
  EXPECT_EQ(a.status.observed_generation, b.status.observed_generation);
  EXPECT_EQ(a.status.current_nodes, b.status.current_nodes);
  EXPECT_EQ(a.status.desired_nodes, b.status.desired_nodes);
  EXPECT_EQ(a.status.ready_nodes, b.status.ready_nodes);
  EXPECT_EQ(a.status.idle_nodes, b.status.idle_nodes);
  EXPECT_EQ(a.status.last_scale_time, b.status.last_scale_time);
  EXPECT_EQ(a.status.last_scale_reason, b.status.last_scale_reason);
  EXPECT_EQ(a.status.conditions, b.status.conditions);
}

void ExpectPriceEq(const std::vector<GpuPrice>& a, const std::vector<GpuPrice>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].model, b[i].model);
    EXPECT_EQ(a[i].capacity_type, b[i].capacity_type);
    EXPECT_EQ(a[i].price_per_hour, b[i].price_per_hour);
  }
}

void ExpectPriceEq(const std::vector<InstancePrice>& a, const std::vector<InstancePrice>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].capacity_type, b[i].capacity_type);
    EXPECT_EQ(a[i].price_per_hour, b[i].price_per_hour);
  }
}

void ExpectBookEq(const PriceBook& a, const PriceBook& b) {
  ExpectMetaEq(a.metadata, b.metadata);
  EXPECT_EQ(a.spec.currency, b.spec.currency);
  EXPECT_EQ(a.spec.defaults.cpu_core_hour, b.spec.defaults.cpu_core_hour);
  EXPECT_EQ(a.spec.defaults.memory_gib_hour, b.spec.defaults.memory_gib_hour);
  EXPECT_EQ(a.spec.defaults.gpu_hour, b.spec.defaults.gpu_hour);
  ExpectPriceEq(a.spec.gpus, b.spec.gpus);
  ExpectPriceEq(a.spec.instance_types, b.spec.instance_types);
  EXPECT_EQ(a.spec.node_labels.instance_type, b.spec.node_labels.instance_type);
  EXPECT_EQ(a.spec.node_labels.gpu_model, b.spec.node_labels.gpu_model);
  EXPECT_EQ(a.spec.node_labels.capacity_type, b.spec.node_labels.capacity_type);
  EXPECT_EQ(a.spec.spot_values, b.spec.spot_values);
  EXPECT_EQ(a.observed_generation, b.observed_generation);
  EXPECT_EQ(a.conditions, b.conditions);
}

// Encodes, writes JSON text, parses it back (as the API server's reply would be) and decodes.
template <typename T>
T ThroughJson(const json::Value& encoded,
              absl::StatusOr<T> (*decode)(const json::Value&, const DecodeOptions&)) {
  absl::StatusOr<json::Value> parsed = json::Parse(encoded.ToJson());
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<T> decoded = decode(parsed.value_or(json::Value()), kStrict);
  EXPECT_TRUE(decoded.ok()) << decoded.status() << "\n" << encoded.ToJson();
  return decoded.value_or(T{});
}

// The same through the YAML reader (JSON is YAML), as `bursar simulate` would read a dump.
template <typename T>
T ThroughYaml(const json::Value& encoded,
              absl::StatusOr<T> (*decode)(const json::Value&, const DecodeOptions&)) {
  absl::StatusOr<std::vector<json::Value>> docs =
      yaml::ParseYamlDocuments(encoded.ToJson(), "dump");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) {
    return T{};
  }
  absl::StatusOr<T> decoded = decode((*docs)[0], kStrict);
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.value_or(T{});
}

// ---------------------------------------------------------------------------------------------
// Round trips.

TEST(CodecRoundTripTest, RichComputeBudget) {
  ComputeBudget budget = RichBudget();
  ExpectBudgetEq(ThroughJson(EncodeComputeBudget(budget), DecodeComputeBudget), budget);
  ExpectBudgetEq(ThroughYaml(EncodeComputeBudget(budget), DecodeComputeBudget), budget);
}

TEST(CodecRoundTripTest, DefaultComputeBudget) {
  ComputeBudget budget = BudgetBuilder().Build();
  ExpectBudgetEq(ThroughJson(EncodeComputeBudget(budget), DecodeComputeBudget), budget);
}

TEST(CodecRoundTripTest, EmptyListsStayEmpty) {
  // An empty ladder and an empty resource list must not come back as the defaults.
  ComputeBudget budget = BudgetBuilder()
                             .Thresholds({})
                             .Quota({QuotaMode::kNone, {}, ""})
                             .Limit(std::nullopt, "USD", M("12.5"))
                             .Build();
  ComputeBudget back = ThroughJson(EncodeComputeBudget(budget), DecodeComputeBudget);
  EXPECT_TRUE(back.spec.thresholds.empty());
  EXPECT_TRUE(back.spec.quota.resources.empty());
  EXPECT_FALSE(back.spec.limit.amount.has_value());
  ExpectBudgetEq(back, budget);
}

TEST(CodecRoundTripTest, EveryPeriodType) {
  for (values::PeriodType type : {values::PeriodType::kHourly, values::PeriodType::kDaily,
                                  values::PeriodType::kWeekly, values::PeriodType::kMonthly}) {
    values::PeriodSpec period;
    period.type = type;
    period.time_zone = "Europe/Berlin";
    period.start_day = 7;
    ComputeBudget budget = BudgetBuilder().Period(period).Build();
    ExpectBudgetEq(ThroughJson(EncodeComputeBudget(budget), DecodeComputeBudget), budget);
  }
}

TEST(CodecRoundTripTest, RichGPUNodePool) {
  GPUNodePool pool = RichPool();
  ExpectPoolEq(ThroughJson(EncodeGPUNodePool(pool), DecodeGPUNodePool), pool);
  ExpectPoolEq(ThroughYaml(EncodeGPUNodePool(pool), DecodeGPUNodePool), pool);
}

TEST(CodecRoundTripTest, EveryProvider) {
  GPUNodePool pool = RichPool();
  pool.spec.provider = {};
  pool.spec.provider.type = ProviderType::kClusterAPI;
  pool.spec.provider.cluster_api_namespace = "capi-ml";
  pool.spec.provider.cluster_api_name = "md-a10";
  ExpectPoolEq(ThroughJson(EncodeGPUNodePool(pool), DecodeGPUNodePool), pool);
  pool.spec.provider = {};
  pool.spec.provider.type = ProviderType::kKarpenter;
  pool.spec.provider.karpenter_node_pool = "gpu-h100";
  ExpectPoolEq(ThroughJson(EncodeGPUNodePool(pool), DecodeGPUNodePool), pool);
  pool.spec.provider = {};
  pool.spec.provider.type = ProviderType::kKwok;
  pool.spec.provider.kwok_node_name_prefix = "kwok-t4-";
  ExpectPoolEq(ThroughJson(EncodeGPUNodePool(pool), DecodeGPUNodePool), pool);
}

TEST(CodecRoundTripTest, RichPriceBook) {
  PriceBook book = RichBook();
  ExpectBookEq(ThroughJson(EncodePriceBook(book), DecodePriceBook), book);
  ExpectBookEq(ThroughYaml(EncodePriceBook(book), DecodePriceBook), book);
}

TEST(CodecRoundTripTest, SubMillisecondDurationsUseUs) {
  ComputeBudget budget = BudgetBuilder().Build();
  budget.spec.retraining.cooldown = absl::Microseconds(1500);
  json::Value encoded = EncodeComputeBudget(budget);
  EXPECT_EQ(PathOrFail(encoded, "spec.retraining.cooldown").string_value(), "1.5ms");
  budget.spec.retraining.cooldown = absl::Microseconds(250);
  encoded = EncodeComputeBudget(budget);
  EXPECT_EQ(PathOrFail(encoded, "spec.retraining.cooldown").string_value(), "250us");
  ExpectBudgetEq(ThroughJson(encoded, DecodeComputeBudget), budget);
}

// ---------------------------------------------------------------------------------------------
// Encoding: the status shape the CRD declares, exactly.

TEST(CodecEncodeTest, BudgetStatusShape) {
  ComputeBudgetStatus s;
  s.observed_generation = 3;
  s.period = values::Period{At("2026-11-01T00:00:00Z"), At("2026-12-01T00:00:00Z")};
  s.spent = M("1250.5");
  s.gpu_hours = M("10");
  s.burn_rate = M("2.25");
  s.forecast = M("4000");
  s.remaining = M("3749.5");
  s.exhausts_at = At("2026-11-27T08:00:00Z");
  s.allowed_gpus = 8;
  s.phase = BudgetPhase::kThrottled;
  s.conditions = {{"Ready", "True", "Reconciled", "", At("2026-11-02T08:00:00Z"), 3}};
  values::LedgerState ledger;
  ledger.period = *s.period;
  ledger.accrued = 4501800000000;
  ledger.gpu_seconds = 36000;
  ledger.watermark = At("2026-11-27T07:59:00Z");
  ledger.start_horizon = At("2026-11-27T07:58:00Z");
  ledger.end_horizon = At("2026-11-27T07:58:00Z");
  ledger.pods = {{"uid-1", At("2026-11-27T07:59:30.5Z")}};
  s.ledger = ledger;
  s.recent_actions = {{At("2026-11-20T10:00:00Z"), "Throttle", "PacingAhead", "quota 16 -> 8",
                       "namespace/vision", true}};
  EXPECT_EQ(
      EncodeComputeBudgetStatus(s).ToJson(),
      R"({"observedGeneration":3,"period":{"start":"2026-11-01T00:00:00Z","end":"2026-12-01T00:00:00Z"},)"
      R"("spent":"1250.50","gpuHours":"10.00","burnRate":"2.25","forecast":"4000.00","remaining":"3749.50",)"
      R"("exhaustsAt":"2026-11-27T08:00:00Z","allowedGPUs":8,"phase":"Throttled",)"
      R"("conditions":[{"type":"Ready","status":"True","reason":"Reconciled","message":"",)"
      R"("lastTransitionTime":"2026-11-02T08:00:00Z","observedGeneration":3}],)"
      R"("ledger":{"periodStart":"2026-11-01T00:00:00Z","periodEnd":"2026-12-01T00:00:00Z",)"
      R"("accrued":"4501800000000","gpuSeconds":"36000","watermark":"2026-11-27T07:59:00Z",)"
      R"("startHorizon":"2026-11-27T07:58:00Z","endHorizon":"2026-11-27T07:58:00Z",)"
      R"("pods":[{"uid":"uid-1","accountedUntil":"2026-11-27T07:59:30.5Z"}]},)"
      R"("recentActions":[{"time":"2026-11-20T10:00:00Z","action":"Throttle","reason":"PacingAhead",)"
      R"("message":"quota 16 -> 8","target":"namespace/vision","dryRun":true}]})");
}

TEST(CodecEncodeTest, EmptyBudgetStatusOmitsOptionalFields) {
  EXPECT_EQ(EncodeComputeBudgetStatus({}).ToJson(),
            R"({"observedGeneration":0,"spent":"0.00","gpuHours":"0.00","burnRate":"0.00",)"
            R"("forecast":"0.00","remaining":"0.00","allowedGPUs":0,"phase":"WithinBudget"})");
}

TEST(CodecEncodeTest, PoolStatusShape) {
  GPUNodePoolStatus s;
  EXPECT_EQ(EncodeGPUNodePoolStatus(s).ToJson(),
            R"({"observedGeneration":0,"currentNodes":0,"desiredNodes":0,"readyNodes":0,)"
            R"("idleNodes":0})");
  s = RichPool().status;
  EXPECT_EQ(
      EncodeGPUNodePoolStatus(s).ToJson(),
      R"({"observedGeneration":3,"currentNodes":5,"desiredNodes":6,"readyNodes":4,)"
      R"("idleNodes":1,"lastScaleTime":"2026-11-27T08:00:00Z",)"
      R"("lastScaleReason":"budget team-vision asked for 2 more GPUs",)"
      R"("conditions":[{"type":"Ready","status":"True","reason":"ProviderReachable",)"
      R"("message":"ok","lastTransitionTime":"2026-11-27T08:00:00Z","observedGeneration":3}]})");
}

TEST(CodecEncodeTest, EnvelopeAndMetadata) {
  json::Value v = EncodeComputeBudget(RichBudget());
  EXPECT_EQ(FieldOrFail(v, "apiVersion").string_value(), "bursar.dev/v1alpha1");
  EXPECT_EQ(FieldOrFail(v, "kind").string_value(), "ComputeBudget");
  EXPECT_EQ(
      FieldOrFail(v, "metadata").ToJson(),
      R"({"name":"team-vision","uid":"6f1c2d3e-uid","resourceVersion":"12345",)"
      R"("generation":7,"creationTimestamp":"2026-10-01T12:00:00Z",)"
      R"("labels":{"team":"vision"},"annotations":{"bursar.dev/owner":"ml-platform@example.com"}})");
  EXPECT_EQ(PathOrFail(v, "spec.limit").ToJson(),
            R"({"amount":"5000.50","currency":"EUR","gpuHours":"2000.125"})");
  EXPECT_EQ(PathOrFail(v, "spec.period").ToJson(),
            R"({"type":"Custom","timeZone":"UTC","startDay":1,"duration":"2m",)"
            R"("anchor":"2025-01-01T00:00:00Z"})");
  EXPECT_EQ(PathOrFail(v, "spec.retraining.driftThreshold").string_value(), "0.25");
  EXPECT_EQ(PathOrFail(EncodeGPUNodePool(RichPool()), "spec.provider").ToJson(),
            R"({"type":"ExternalGRPC","externalGRPC":{"address":"[fd00::1]:8086",)"
            R"("nodeGroup":"t4-spot","tlsSecretRef":"bursar-grpc-tls"}})");
}

// ---------------------------------------------------------------------------------------------
// Defaults.

TEST(CodecDefaultsTest, MinimalBudgetGetsEveryCrdDefault) {
  absl::StatusOr<ComputeBudget> b = DecodeComputeBudget(Manifest::Budget().Doc(), kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  const ComputeBudgetSpec& s = b->spec;
  EXPECT_EQ(s.limit.currency, "USD");
  EXPECT_FALSE(s.limit.gpu_hours.has_value());
  EXPECT_EQ(s.period.type, values::PeriodType::kMonthly);
  EXPECT_EQ(s.period.time_zone, "UTC");
  EXPECT_EQ(s.period.start_day, 1);
  EXPECT_EQ(s.period.anchor, absl::UnixEpoch());
  EXPECT_EQ(s.pacing.mode, PacingMode::kEven);
  EXPECT_EQ(s.pacing.burst_percent, 10);
  EXPECT_EQ(s.thresholds, DefaultThresholds());
  EXPECT_EQ(s.enforcement, EnforcementMode::kEnforce);
  EXPECT_EQ(s.quota.mode, QuotaMode::kResourceQuota);
  EXPECT_THAT(s.quota.resources, ElementsAre("nvidia.com/gpu"));
  EXPECT_TRUE(s.node_pools.empty());
  EXPECT_EQ(s.retraining.reserve_percent, 0);
  EXPECT_EQ(s.retraining.drift_threshold_micros, 300000);
  EXPECT_EQ(s.retraining.model_label, "bursar.dev/model");
  EXPECT_EQ(s.retraining.purpose_label, "bursar.dev/purpose");
  EXPECT_EQ(s.retraining.cooldown, absl::Hours(6));
  EXPECT_EQ(s.retraining.max_per_period, 3);
  EXPECT_EQ(s.price_book_ref, "default");
  EXPECT_FALSE(s.scope.namespace_selector.has_value());
  EXPECT_FALSE(s.scope.pod_selector.has_value());
  EXPECT_EQ(b->status.phase, BudgetPhase::kWithinBudget);
  EXPECT_FALSE(b->status.ledger.has_value());
}

TEST(CodecDefaultsTest, NullMeansDefault) {
  absl::StatusOr<ComputeBudget> b = DecodeComputeBudget(Manifest::Budget()
                                                            .Set("spec.pacing", "null")
                                                            .Set("spec.thresholds", "~")
                                                            .Set("spec.quota", "{mode: null}")
                                                            .Set("spec.retraining", "")
                                                            .Doc(),
                                                        kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->spec.pacing.burst_percent, 10);
  EXPECT_EQ(b->spec.thresholds, DefaultThresholds());
  EXPECT_EQ(b->spec.quota.mode, QuotaMode::kResourceQuota);
  EXPECT_EQ(b->spec.retraining.max_per_period, 3);
}

TEST(CodecDefaultsTest, ExplicitEmptyListsOverrideDefaults) {
  absl::StatusOr<ComputeBudget> b =
      DecodeComputeBudget(Manifest::Budget()
                              .Set("spec.thresholds", "[]")
                              .Set("spec.quota", "{mode: None, resources: []}")
                              .Doc(),
                          kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->spec.thresholds.empty());
  EXPECT_TRUE(b->spec.quota.resources.empty());
}

TEST(CodecDefaultsTest, MinimalPool) {
  absl::StatusOr<GPUNodePool> p = DecodeGPUNodePool(Manifest::Pool().Doc(), kStrict);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->spec.provider.type, ProviderType::kKwok);
  // The CRD's documented default: the pool's name and "-".
  EXPECT_EQ(p->spec.provider.kwok_node_name_prefix, "team-a-");
  EXPECT_EQ(p->spec.gpus_per_node, 8);
  EXPECT_EQ(p->spec.max_nodes, 4);
  EXPECT_EQ(p->spec.min_nodes, 0);
  EXPECT_EQ(p->spec.capacity_type, CapacityType::kOnDemand);
  EXPECT_FALSE(p->spec.price_per_node_hour.has_value());
  EXPECT_EQ(p->spec.price_book_ref, "default");
  EXPECT_EQ(p->spec.max_scale_step, 2);
  EXPECT_EQ(p->spec.scale_down_delay, absl::Minutes(10));
  EXPECT_TRUE(p->spec.node_selector.empty());
  EXPECT_TRUE(p->spec.gpu_type.empty());
}

TEST(CodecDefaultsTest, MinimalPriceBook) {
  absl::StatusOr<PriceBook> b = DecodePriceBook(
      Manifest::Book().Remove("spec.currency").Set("spec.gpus", "[]").Doc(), kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  PriceBookSpec want;
  EXPECT_EQ(b->spec.currency, "USD");
  EXPECT_EQ(b->spec.defaults.cpu_core_hour, M("0.031611"));
  EXPECT_EQ(b->spec.defaults.memory_gib_hour, M("0.004237"));
  EXPECT_EQ(b->spec.defaults.gpu_hour, M("0.95"));
  EXPECT_TRUE(b->spec.gpus.empty());
  EXPECT_TRUE(b->spec.instance_types.empty());
  EXPECT_EQ(b->spec.node_labels.instance_type, "node.kubernetes.io/instance-type");
  EXPECT_EQ(b->spec.node_labels.gpu_model, "nvidia.com/gpu.product");
  EXPECT_EQ(b->spec.node_labels.capacity_type, "karpenter.sh/capacity-type");
  EXPECT_EQ(b->spec.spot_values, want.spot_values);
}

TEST(CodecDefaultsTest, PriceEntryCapacityTypeDefaultsToOnDemand) {
  absl::StatusOr<PriceBook> b = DecodePriceBook(
      Manifest::Book().Set("spec.gpus", "[{model: L4, pricePerHour: \"0.80\"}]").Doc(), kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_EQ(b->spec.gpus.size(), 1u);
  EXPECT_EQ(b->spec.gpus[0].capacity_type, CapacityType::kOnDemand);
  EXPECT_EQ(b->spec.gpus[0].price_per_hour, M("0.8"));
}

// ---------------------------------------------------------------------------------------------
// Validation: one table per kind of {change, expected error}.

struct InvalidCase {
  std::string path;  // "<section>.<key>" set to `flow`
  std::string flow;
  std::string want;  // a substring of the error message
};

std::string CaseName(const ::testing::TestParamInfo<InvalidCase>& info) {
  return "Case" + std::to_string(info.index);
}

class CodecBudgetValidationTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(CodecBudgetValidationTest, Rejects) {
  const InvalidCase& c = GetParam();
  Manifest m = Manifest::Budget();
  m.Set(c.path, c.flow);
  absl::Status status = DecodeStatus(m);
  ASSERT_FALSE(status.ok()) << m.Build();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr(c.want)) << m.Build();
}

const std::string kNineThresholds = [] {
  std::string s = "[";
  for (int i = 0; i < 9; ++i) {
    s += (i ? ", " : "") + std::string("{percent: ") + std::to_string(10 + i) + ", action: Notify}";
  }
  return s + "]";
}();

INSTANTIATE_TEST_SUITE_P(
    Spec, CodecBudgetValidationTest,
    ::testing::Values(
        // limit
        InvalidCase{"spec.limit", "{amount: \"12.x\"}",
                    "spec.limit.amount: \"12.x\" is not a decimal number (want e.g. \"5000\" or "
                    "\"12.50\")"},
        InvalidCase{"spec.limit", "{amount: 5000}",
                    "spec.limit.amount: must be a string; quote it: \"5000\""},
        InvalidCase{"spec.limit", "{amount: 12.50}",
                    "spec.limit.amount: must be a string; quote it: \"12.50\""},
        InvalidCase{"spec.limit", "{amount: \"-5\"}",
                    "spec.limit.amount: \"-5\" must not be negative"},
        InvalidCase{"spec.limit", "{amount: \"1.1234567\"}",
                    "spec.limit.amount: \"1.1234567\" has more than 6 fractional digits"},
        InvalidCase{"spec.limit", "{amount: \"1e3\"}", "\"1e3\" is not a decimal number"},
        InvalidCase{"spec.limit", "{amount: \"1,000\"}", "\"1,000\" is not a decimal number"},
        InvalidCase{"spec.limit", "{amount: \"99999999999999\"}", "out of range"},
        // Bounds that keep the 64-bit micro-unit ledger exact (crd_patterns.h).
        InvalidCase{"spec.limit", "{amount: \"1000000000000\"}",
                    "spec.limit.amount: \"1000000000000.00\" is too large: a limit must be below "
                    "1000000000000"},
        InvalidCase{"spec.limit", "{gpuHours: \"5000000000000.5\"}",
                    "spec.limit.gpuHours: \"5000000000000.50\" is too large"},
        InvalidCase{"spec.limit", "{amount: \"1234567890123456789012345\"}",
                    "spec.limit.amount: must be at most 24 characters long"},
        InvalidCase{"spec.limit", "{amount: \"5\", currency: usd}",
                    "spec.limit.currency: \"usd\" is not an ISO 4217 currency code"},
        InvalidCase{"spec.limit", "{currency: USD}", "spec.limit: limit needs amount or gpuHours"},
        InvalidCase{"spec.limit", "{gpuHours: \"many\"}",
                    "spec.limit.gpuHours: \"many\" is not a decimal number"},
        InvalidCase{"spec.limit", "{gpuHours: 2000}",
                    "spec.limit.gpuHours: must be a string; quote it: \"2000\""},
        InvalidCase{"spec.limit", "5000", "spec.limit: must be an object, got number 5000"},
        // scope
        InvalidCase{"spec.scope", "{}", "spec.scope: scope needs namespaces or namespaceSelector"},
        InvalidCase{"spec.scope", "{namespaces: []}",
                    "spec.scope: scope needs namespaces or namespaceSelector"},
        InvalidCase{"spec.scope", "{podSelector: {}}",
                    "spec.scope: scope needs namespaces or namespaceSelector"},
        InvalidCase{"spec.scope", "{namespaces: [Vision]}",
                    "spec.scope.namespaces[0]: \"Vision\" is not a DNS-1123 label"},
        InvalidCase{"spec.scope", "{namespaces: [a, b, a]}",
                    "spec.scope.namespaces[2]: duplicate value \"a\""},
        InvalidCase{"spec.scope", "{namespaces: vision}",
                    "spec.scope.namespaces: must be a list, got string \"vision\""},
        InvalidCase{"spec.scope",
                    "{namespaceSelector: {matchExpressions: [{key: team, operator: In}]}}",
                    "spec.scope.namespaceSelector.matchExpressions[0].values: values must be "
                    "non-empty for In and NotIn, and empty for Exists and DoesNotExist"},
        InvalidCase{"spec.scope",
                    "{namespaceSelector: {matchExpressions: [{key: t, operator: Exists, values: "
                    "[a]}]}}",
                    "values must be non-empty for In and NotIn, and empty for Exists"},
        InvalidCase{"spec.scope",
                    "{namespaceSelector: {matchExpressions: [{key: t, operator: Like}]}}",
                    "matchExpressions[0].operator: \"Like\" is not one of In, NotIn, Exists, "
                    "DoesNotExist"},
        InvalidCase{"spec.scope", "{namespaceSelector: {matchExpressions: [{operator: Exists}]}}",
                    "spec.scope.namespaceSelector.matchExpressions[0].key: missing required field"},
        InvalidCase{"spec.scope", "{namespaces: [a], podSelector: {matchLabels: {team: 5}}}",
                    "spec.scope.podSelector.matchLabels[team]: must be a string; quote it: \"5\""},
        // A selector Kubernetes would refuse can never match: invalid, not "selects nothing".
        InvalidCase{
            "spec.scope", "{namespaces: [a], podSelector: {matchLabels: {a/b/c: x}}}",
            "spec.scope.podSelector.matchLabels[a/b/c]: \"a/b/c\" is not a valid label key"},
        InvalidCase{"spec.scope", "{namespaces: [a], podSelector: {matchLabels: {team: a b}}}",
                    "spec.scope.podSelector.matchLabels[team]: \"a b\" is not a valid label value"},
        InvalidCase{"spec.scope",
                    "{namespaceSelector: {matchExpressions: [{key: \"bad key\", operator: "
                    "Exists}]}}",
                    "spec.scope.namespaceSelector.matchExpressions[0].key: \"bad key\" is not a "
                    "valid label key"},
        InvalidCase{"spec.scope",
                    "{namespaceSelector: {matchExpressions: [{key: team, operator: In, values: "
                    "[\"a b\"]}]}}",
                    "spec.scope.namespaceSelector.matchExpressions[0].values[0]: \"a b\" is not a "
                    "valid label value"},
        InvalidCase{"spec.scope", "{namespaces: [a], podSelector: {matchLables: {team: a}}}",
                    "spec.scope.podSelector.matchLables: unknown field (did you mean "
                    "\"matchLabels\"?)"},
        // period
        InvalidCase{"spec.period", "{type: Montly}",
                    "spec.period.type: \"Montly\" is not one of Hourly, Daily, Weekly, Monthly, "
                    "Custom"},
        InvalidCase{"spec.period", "{type: Custom}", "spec.period: a Custom period needs duration"},
        InvalidCase{"spec.period", "{type: Daily, duration: 2m}",
                    "spec.period.duration: duration is only allowed with a Custom period"},
        InvalidCase{"spec.period", "{duration: 2m}",
                    "spec.period.duration: duration is only allowed with a Custom period"},
        InvalidCase{"spec.period", "{type: Daily, anchor: \"2026-01-01T00:00:00Z\"}",
                    "spec.period.anchor: anchor is only allowed with a Custom period"},
        InvalidCase{"spec.period", "{type: Weekly, startDay: 8}",
                    "spec.period.startDay: a Weekly period needs startDay between 1 (Monday) and "
                    "7 (Sunday)"},
        InvalidCase{"spec.period", "{startDay: 29}",
                    "spec.period.startDay: must be between 1 and 28 (got 29)"},
        InvalidCase{"spec.period", "{startDay: 0}",
                    "spec.period.startDay: must be between 1 and 28 (got 0)"},
        InvalidCase{"spec.period", "{startDay: \"1\"}",
                    "spec.period.startDay: must be an integer, not a string; remove the quotes: 1"},
        InvalidCase{"spec.period", "{type: Custom, duration: 0s}",
                    "spec.period.duration: duration must be greater than zero"},
        InvalidCase{"spec.period", "{type: Custom, duration: 2 minutes}",
                    "spec.period.duration: \"2 minutes\" is not a duration (want e.g. \"90s\", "
                    "\"6h\" or \"1h30m\")"},
        InvalidCase{"spec.period", "{type: Custom, duration: \"0\"}",
                    "spec.period.duration: \"0\" is not a duration"},
        InvalidCase{"spec.period", "{type: Custom, duration: 2m, anchor: yesterday}",
                    "spec.period.anchor: \"yesterday\" is not an RFC 3339 date-time"},
        InvalidCase{"spec.period", "{timeZone: Mars/Olympus_Mons}",
                    "spec.period.timeZone: \"Mars/Olympus_Mons\" is not a known IANA time zone"},
        InvalidCase{"spec.period", "{timeZone: \"Europe Berlin\"}",
                    "spec.period.timeZone: \"Europe Berlin\" is not an IANA time zone name"},
        InvalidCase{"spec.period", "{timeZone: \"\"}", "spec.period.timeZone: must not be empty"},
        // pacing
        InvalidCase{"spec.pacing", "{mode: Fast}",
                    "spec.pacing.mode: \"Fast\" is not one of Even, None"},
        InvalidCase{"spec.pacing", "{burstPercent: 101}",
                    "spec.pacing.burstPercent: must be between 0 and 100 (got 101)"},
        InvalidCase{"spec.pacing", "{burstPercent: 2.5}",
                    "spec.pacing.burstPercent: must be an integer, got number 2.5"},
        InvalidCase{"spec.pacing", "{burstPercent: ten}",
                    "spec.pacing.burstPercent: must be an integer, got string \"ten\""},
        // thresholds
        InvalidCase{"spec.thresholds",
                    "[{percent: 50, action: Notify}, {percent: 80, action: Throttle}, {percent: "
                    "80, action: Hold}]",
                    "spec.thresholds[2].percent: must be greater than spec.thresholds[1].percent "
                    "(80)"},
        InvalidCase{"spec.thresholds",
                    "[{percent: 90, action: Notify}, {percent: 80, action: Throttle}]",
                    "spec.thresholds[1].percent: must be greater than spec.thresholds[0].percent "
                    "(90)"},
        InvalidCase{"spec.thresholds", "[{percent: 0, action: Notify}]",
                    "spec.thresholds[0].percent: must be between 1 and 200 (got 0)"},
        InvalidCase{"spec.thresholds", "[{percent: 201, action: Drain}]",
                    "spec.thresholds[0].percent: must be between 1 and 200 (got 201)"},
        InvalidCase{"spec.thresholds", "[{percent: 50, action: Panic}]",
                    "spec.thresholds[0].action: \"Panic\" is not one of Notify, Throttle, Hold, "
                    "Drain"},
        InvalidCase{"spec.thresholds", "[{percent: 50, action: None}]",
                    "\"None\" is not one of Notify, Throttle, Hold, Drain"},
        InvalidCase{"spec.thresholds", "[{percent: 50}]",
                    "spec.thresholds[0].action: missing required field"},
        InvalidCase{"spec.thresholds", kNineThresholds,
                    "spec.thresholds: must have at most 8 items (got 9)"},
        InvalidCase{"spec.thresholds", "[50]",
                    "spec.thresholds[0]: must be an object, got number 50"},
        // enforcement, quota, node pools
        InvalidCase{"spec.enforcement", "Enforcing",
                    "spec.enforcement: \"Enforcing\" is not one of Enforce, DryRun"},
        InvalidCase{"spec.quota", "{mode: KueueClusterQueue}",
                    "spec.quota: quota.clusterQueue is required when mode is KueueClusterQueue"},
        InvalidCase{"spec.quota", "{mode: ResourceQuota, resources: []}",
                    "spec.quota.resources: quota.resources must name at least one resource unless "
                    "mode is None"},
        InvalidCase{"spec.quota", "{mode: Kueue}",
                    "spec.quota.mode: \"Kueue\" is not one of ResourceQuota, KueueClusterQueue, "
                    "None"},
        InvalidCase{"spec.quota", "{resources: [cpu, cpu]}",
                    "spec.quota.resources[1]: duplicate value \"cpu\""},
        InvalidCase{"spec.nodePools", "[a100, a100]",
                    "spec.nodePools[1]: duplicate value \"a100\""},
        InvalidCase{"spec.nodePools", "[\"\"]", "spec.nodePools[0]: must not be empty"},
        // retraining
        InvalidCase{"spec.retraining", "{reservePercent: 51}",
                    "spec.retraining.reservePercent: must be between 0 and 50 (got 51)"},
        InvalidCase{"spec.retraining", "{driftThreshold: \"1.5\"}",
                    "spec.retraining.driftThreshold: \"1.5\" is not a decimal from 0 to 1"},
        InvalidCase{"spec.retraining", "{driftThreshold: 0.3}",
                    "spec.retraining.driftThreshold: must be a string; quote it: \"0.3\""},
        InvalidCase{"spec.retraining", "{cooldown: 6 hours}",
                    "spec.retraining.cooldown: \"6 hours\" is not a duration"},
        InvalidCase{"spec.retraining", "{cooldown: 8785h}",
                    "spec.retraining.cooldown: must be at most 8784h (366 days), got 8785h"},
        InvalidCase{"spec.retraining", "{cooldown: 99999999999h}", "spec.retraining.cooldown: "},
        InvalidCase{"spec.retraining", "{maxPerPeriod: 1001}",
                    "spec.retraining.maxPerPeriod: must be between 0 and 1000 (got 1001)"},
        InvalidCase{"spec.retraining", "{maxPerPeriod: -1}",
                    "spec.retraining.maxPerPeriod: must be between 0 and 1000 (got -1)"},
        InvalidCase{"spec.retraining", "{modelLabel: \"\"}",
                    "spec.retraining.modelLabel: must not be empty"},
        InvalidCase{"spec.retraining", "{modelLabel: \"not a label!\"}",
                    "spec.retraining.modelLabel: \"not a label!\" is not a valid label key"},
        InvalidCase{"spec.priceBookRef", "\"\"", "spec.priceBookRef: must not be empty"},
        // unknown fields
        InvalidCase{"spec.limitt", "{amount: \"5\"}",
                    "spec.limitt: unknown field (did you mean \"limit\"?)"},
        InvalidCase{"spec.color", "blue", "spec.color: unknown field"},
        // status
        InvalidCase{"status.phase", "Broke",
                    "status.phase: \"Broke\" is not one of WithinBudget, AtRisk, Throttled, Held, "
                    "Exhausted"},
        InvalidCase{"status.spent", "abc", "status.spent: \"abc\" is not a decimal number"},
        InvalidCase{"status.spent", "12.5", "status.spent: must be a string; quote it: \"12.5\""},
        InvalidCase{"status.allowedGPUs", "-1", "status.allowedGPUs: must be at least 0 (got -1)"},
        InvalidCase{"status.exhaustsAt", "soon", "status.exhaustsAt: \"soon\" is not an RFC 3339"},
        InvalidCase{"status.period", "{start: \"2026-11-01T00:00:00Z\"}",
                    "status.period.end: missing required field"},
        InvalidCase{"status.conditions",
                    "[{type: Ready, status: \"True\", reason: Ok, message: \"\", "
                    "lastTransitionTime: \"2026-11-01T00:00:00Z\"}, {type: Ready, status: "
                    "\"False\", reason: Bad, message: x, lastTransitionTime: "
                    "\"2026-11-01T00:00:00Z\"}]",
                    "status.conditions[1].type: duplicate condition type \"Ready\""},
        InvalidCase{"status.conditions",
                    "[{type: Ready, status: Maybe, reason: Ok, message: \"\", lastTransitionTime: "
                    "\"2026-11-01T00:00:00Z\"}]",
                    "status.conditions[0].status: \"Maybe\" is not one of True, False, Unknown"},
        InvalidCase{"status.conditions",
                    "[{type: Ready, status: \"True\", reason: Ok, message: \"\"}]",
                    "status.conditions[0].lastTransitionTime: missing required field"},
        InvalidCase{"status.conditions",
                    "[{type: Ready, status: \"True\", reason: \"not ok\", message: \"\", "
                    "lastTransitionTime: \"2026-11-01T00:00:00Z\"}]",
                    "status.conditions[0].reason: \"not ok\" is not a CamelCase reason"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "accrued: \"12x\"}",
                    "status.ledger.accrued: \"12x\" is not an accrual integer"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "gpuSeconds: \"-1\"}",
                    "status.ledger.gpuSeconds: \"-1\" is not a whole number of seconds"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "pods: [{uid: a}]}",
                    "status.ledger.pods[0].accountedUntil: missing required field"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "watermark: \"2026-11-02T00:00:00Z\", startHorizon: \"2026-11-02T00:00:01Z\"}",
                    "status.ledger.startHorizon: must not be after the watermark"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "watermark: \"2026-11-02T00:00:00Z\", startHorizon: \"2026-11-01T23:59:00Z\", "
                    "endHorizon: \"2026-11-02T00:00:01Z\"}",
                    "status.ledger.endHorizon: must not be after the watermark, nor set without "
                    "startHorizon"},
        InvalidCase{"status.ledger",
                    "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\", "
                    "watermark: \"2026-11-02T00:00:00Z\", endHorizon: \"2026-11-01T23:59:00Z\"}",
                    "status.ledger.endHorizon: must not be after the watermark, nor set without "
                    "startHorizon"},
        InvalidCase{"status.ledger", "{gpuSeconds: \"1\"}",
                    "status.ledger.periodStart: missing required field"},
        InvalidCase{"status.recentActions", "[{action: Notify, dryRun: yes}]",
                    "status.recentActions[0].dryRun: must be true or false, got string \"yes\""},
        // identity
        InvalidCase{"top.apiVersion", "bursar.dev/v1",
                    "t.yaml:1: apiVersion: must be bursar.dev/v1alpha1, got \"bursar.dev/v1\""},
        InvalidCase{"top.kind", "GPUNodePool",
                    "t.yaml:2: kind: must be ComputeBudget, got \"GPUNodePool\""},
        InvalidCase{"top.specs", "{}", "specs: unknown field (did you mean \"spec\"?)"},
        InvalidCase{"metadata.name", "Team_A",
                    "t.yaml:4: metadata.name: \"Team_A\" is not a DNS-1123 subdomain"},
        InvalidCase{"metadata.name", std::string(64, 'a'),
                    "metadata.name: must be at most 63 characters long (got 64)"},
        InvalidCase{"metadata.name", "\"\"", "metadata.name: must not be empty"},
        InvalidCase{"metadata.labels", "{\"bad key!\": x}",
                    "metadata.labels[bad key!]: \"bad key!\" is not a valid label key"},
        InvalidCase{"metadata.labels", "{team: \"a b\"}",
                    "metadata.labels[team]: \"a b\" is not a valid label value"},
        InvalidCase{"metadata.generation", "-1", "metadata.generation: must be at least 0"},
        InvalidCase{"metadata.nmae", "x", "metadata.nmae: unknown field (did you mean \"name\"?)"}),
    CaseName);

TEST(CodecBudgetValidationTest, MissingRequiredFields) {
  for (const char* field : {"spec.scope", "spec.limit", "spec.period"}) {
    absl::Status status = DecodeStatus(Manifest::Budget().Remove(field));
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(std::string("t.yaml:5: ") + field + ": missing required field"));
  }
  absl::Status status =
      DecodeStatus(Manifest::Budget().Set("metadata.labels", "{a: b}").Remove("metadata.name"));
  EXPECT_THAT(std::string(status.message()),
              StartsWith("t.yaml:3: metadata.name: missing required field"));
  status = DecodeStatus(Manifest::Budget().Remove("metadata.name"));
  EXPECT_THAT(std::string(status.message()),
              StartsWith("t.yaml:3: metadata: missing required field"));
}

TEST(CodecBudgetValidationTest, FirstErrorNamesLineAndPath) {
  // Line 7 is the second spec entry (see Manifest::Build).
  absl::Status status = DecodeStatus(Manifest::Budget().Set("spec.limit", "{amount: \"12.x\"}"));
  EXPECT_EQ(Lines(status)[0],
            "t.yaml:7: spec.limit.amount: \"12.x\" is not a decimal number (want e.g. \"5000\" or "
            "\"12.50\")");
}

TEST(CodecBudgetValidationTest, BlockYamlPointsAtTheRightLines) {
  const char* text =
      "apiVersion: bursar.dev/v1alpha1\n"  // 1
      "kind: ComputeBudget\n"              // 2
      "metadata:\n"                        // 3
      "  name: team-a\n"                   // 4
      "spec:\n"                            // 5
      "  scope:\n"                         // 6
      "    namespaces: [vision]\n"         // 7
      "  limitt:\n"                        // 8
      "    amount: \"5000\"\n"             // 9
      "  period:\n"                        // 10
      "    type: Weekly\n"                 // 11
      "    startDay: 9\n"                  // 12
      "  thresholds:\n"                    // 13
      "    - percent: 80\n"                // 14
      "      action: Notify\n"             // 15
      "    - percent: 50\n"                // 16
      "      action: Hold\n";              // 17
  absl::StatusOr<std::vector<json::Value>> docs = yaml::ParseYamlDocuments(text, "budgets.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  absl::StatusOr<ComputeBudget> b =
      DecodeComputeBudget((*docs)[0], {.source = "budgets.yaml", .reject_unknown_fields = true});
  ASSERT_FALSE(b.ok());
  // Unknown fields first (a typo explains the missing field), then source order.
  EXPECT_THAT(
      Lines(b.status()),
      ElementsAre("budgets.yaml:8: spec.limitt: unknown field (did you mean \"limit\"?)",
                  "budgets.yaml:5: spec.limit: missing required field",
                  "budgets.yaml:12: spec.period.startDay: a Weekly period needs startDay between "
                  "1 (Monday) and 7 (Sunday), got 9",
                  "budgets.yaml:16: spec.thresholds[1].percent: must be greater than "
                  "spec.thresholds[0].percent (80)"));
}

TEST(CodecBudgetValidationTest, IdentityErrorsComeFirst) {
  absl::Status status = DecodeStatus(Manifest::Budget()
                                         .Set("spec.pacing", "{mode: Fast}")
                                         .Set("top.kind", "Budget")
                                         .Set("metadata.name", "A"));
  std::vector<std::string> lines = Lines(status);
  ASSERT_EQ(lines.size(), 3u) << status;
  EXPECT_THAT(lines[0], StartsWith("t.yaml:2: kind:"));
  EXPECT_THAT(lines[1], StartsWith("t.yaml:4: metadata.name:"));
  EXPECT_THAT(lines[2], StartsWith("t.yaml:9: spec.pacing.mode:"));
}

TEST(CodecBudgetValidationTest, CollectsAtMostTwentyErrors) {
  std::string pools = "[";
  for (int i = 0; i < 25; ++i) {
    pools += i ? ", \"\"" : "\"\"";
  }
  pools += "]";
  absl::Status status = DecodeStatus(Manifest::Budget().Set("spec.nodePools", pools));
  std::vector<std::string> lines = Lines(status);
  ASSERT_EQ(lines.size(), 21u);
  EXPECT_EQ(lines[0], "t.yaml:9: spec.nodePools[0]: must not be empty");
  EXPECT_EQ(lines[19], "t.yaml:9: spec.nodePools[19]: must not be empty");
  EXPECT_EQ(lines[20], "... and 5 more errors");
}

TEST(CodecBudgetValidationTest, ApiServerObjectsHaveNoLinesAndMayHaveUnknownFields) {
  absl::StatusOr<json::Value> v = json::Parse(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget",)"
      R"("metadata":{"name":"a","uid":"u-1","generation":2,"managedFields":[{"manager":"kubectl"}],)"
      R"("creationTimestamp":"2026-11-01T10:00:00Z","futureField":1},)"
      R"("spec":{"scope":{"namespaces":["a"]},"limit":{"amount":"5"},"period":{},"newThing":true},)"
      R"("status":{"spent":"1.5"}})");
  ASSERT_TRUE(v.ok()) << v.status();
  DecodeOptions api{.source = "apiserver", .reject_unknown_fields = false};
  absl::StatusOr<ComputeBudget> b = DecodeComputeBudget(*v, api);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->metadata.uid, "u-1");
  EXPECT_EQ(b->metadata.generation, 2);
  EXPECT_EQ(b->metadata.creation_timestamp, At("2026-11-01T10:00:00Z"));
  EXPECT_EQ(b->status.spent, M("1.5"));

  absl::StatusOr<json::Value> bad = json::Parse(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","metadata":{"name":"a"},)"
      R"("spec":{"scope":{"namespaces":["a"]},"limit":{"amount":"x"},"period":{}}})");
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(DecodeComputeBudget(*bad, api).status().message(),
            "apiserver: spec.limit.amount: \"x\" is not a decimal number (want e.g. \"5000\" or "
            "\"12.50\")");
}

TEST(CodecBudgetValidationTest, NotAnObject) {
  absl::StatusOr<ComputeBudget> b = DecodeComputeBudget(json::Value::String("x", 3), kStrict);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), "t.yaml:3: a ComputeBudget must be an object, got string \"x\"");
}

TEST(CodecBudgetValidationTest, ValidVariantsAreAccepted) {
  const std::vector<std::pair<std::string, std::string>> valid = {
      {"spec.limit", "{gpuHours: \"2000.5\"}"},
      {"spec.limit", "{amount: \"0.000001\", currency: EUR, gpuHours: \"0\"}"},
      {"spec.scope", "{namespaceSelector: {}}"},
      {"spec.scope",
       "{namespaces: [a], namespaceSelector: {matchExpressions: [{key: k, operator: "
       "DoesNotExist, values: []}]}}"},
      {"spec.period", "{type: Weekly, startDay: 7, timeZone: America/New_York}"},
      {"spec.period", "{type: Custom, duration: 1h30m, anchor: \"2026-01-01T01:00:00+01:00\"}"},
      {"spec.period", "{type: Hourly, timeZone: Etc/GMT+5}"},
      {"spec.thresholds", "[{percent: 100, action: Notify}, {percent: 200, action: Drain}]"},
      {"spec.retraining", "{driftThreshold: \"1.000000\"}"},
      {"spec.retraining", "{driftThreshold: \"0\", cooldown: 90m, maxPerPeriod: 0}"},
      {"spec.quota", "{mode: KueueClusterQueue, clusterQueue: cq}"},
      {"metadata.namespace", "ignored"},
      {"metadata.finalizers", "[bursar.dev/cleanup]"},
      {"metadata.labels", "{app.kubernetes.io/name: bursar, empty: \"\"}"},
      {"status.ledger",
       "{periodStart: \"2026-11-01T00:00:00Z\", periodEnd: \"2026-12-01T00:00:00Z\"}"},
  };
  for (const auto& [path, flow] : valid) {
    absl::Status status = DecodeStatus(Manifest::Budget().Set(path, flow));
    EXPECT_TRUE(status.ok()) << path << ": " << flow << "\n" << status;
  }
}

TEST(CodecBudgetValidationTest, ValuesAreRead) {
  absl::StatusOr<ComputeBudget> b = DecodeComputeBudget(
      Manifest::Budget()
          .Set("spec.period",
               "{type: Custom, duration: 1h30m, anchor: \"2026-01-01T01:00:00+01:00\"}")
          .Set("spec.retraining", "{driftThreshold: \"0.000001\"}")
          .Set("metadata.namespace", "dropped")
          .Doc(),
      kStrict);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->spec.period.duration, absl::Minutes(90));
  EXPECT_EQ(b->spec.period.anchor, At("2026-01-01T00:00:00Z"));
  EXPECT_EQ(b->spec.retraining.drift_threshold_micros, 1);
  EXPECT_EQ(b->metadata.namespace_name, "");  // cluster-scoped, as the API server does
}

class CodecPoolValidationTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(CodecPoolValidationTest, Rejects) {
  const InvalidCase& c = GetParam();
  Manifest m = Manifest::Pool();
  m.Set(c.path, c.flow);
  absl::Status status = DecodeStatus(m);
  ASSERT_FALSE(status.ok()) << m.Build();
  EXPECT_THAT(std::string(status.message()), HasSubstr(c.want)) << m.Build();
}

INSTANTIATE_TEST_SUITE_P(
    Spec, CodecPoolValidationTest,
    ::testing::Values(
        InvalidCase{"spec.provider", "{type: Karpenter}",
                    "spec.provider: provider.karpenter is required when provider.type is "
                    "Karpenter"},
        InvalidCase{"spec.provider", "{type: ClusterAPI}",
                    "spec.provider: provider.clusterAPI is required when provider.type is "
                    "ClusterAPI"},
        InvalidCase{"spec.provider", "{type: ExternalGRPC}",
                    "spec.provider: provider.externalGRPC is required when provider.type is "
                    "ExternalGRPC"},
        InvalidCase{"spec.provider", "{type: Kwok, karpenter: {nodePool: x}}",
                    "spec.provider.karpenter: only the provider block matching provider.type "
                    "(Kwok) may be set"},
        InvalidCase{"spec.provider", "{type: Fargate}",
                    "spec.provider.type: \"Fargate\" is not one of ClusterAPI, Karpenter, "
                    "ExternalGRPC, Kwok"},
        InvalidCase{"spec.provider", "{}", "spec.provider.type: missing required field"},
        InvalidCase{"spec.provider", "{type: ClusterAPI, clusterAPI: {name: md}}",
                    "spec.provider.clusterAPI.namespace: missing required field"},
        InvalidCase{"spec.provider", "{type: ClusterAPI, clusterAPI: {namespace: Capi, name: md}}",
                    "spec.provider.clusterAPI.namespace: \"Capi\" is not a DNS-1123 label"},
        InvalidCase{"spec.provider", "{type: Karpenter, karpenter: {}}",
                    "spec.provider.karpenter.nodePool: missing required field"},
        InvalidCase{"spec.provider",
                    "{type: ExternalGRPC, externalGRPC: {address: no-port, nodeGroup: g}}",
                    "spec.provider.externalGRPC.address: \"no-port\" is not a host:port address"},
        InvalidCase{"spec.provider",
                    "{type: ExternalGRPC, externalGRPC: {address: \"h:123456\", nodeGroup: g}}",
                    "is not a host:port address"},
        InvalidCase{"spec.provider", "{type: ExternalGRPC, externalGRPC: {address: \"h:1\"}}",
                    "spec.provider.externalGRPC.nodeGroup: missing required field"},
        InvalidCase{"spec.provider", "{type: Kwok, kwok: {nodeNamePrefix: \"-bad\"}}",
                    "spec.provider.kwok.nodeNamePrefix: \"-bad\" is not a node name prefix"},
        InvalidCase{"spec.gpusPerNode", "0", "spec.gpusPerNode: must be between 1 and 64 (got 0)"},
        InvalidCase{"spec.gpusPerNode", "65",
                    "spec.gpusPerNode: must be between 1 and 64 (got 65)"},
        InvalidCase{"spec.minNodes", "5",
                    "spec.minNodes: minNodes must not exceed maxNodes (5 > 4)"},
        InvalidCase{"spec.minNodes", "-1", "spec.minNodes: must be between 0 and 5000 (got -1)"},
        InvalidCase{"spec.maxNodes", "-1", "spec.maxNodes: must be between 0 and 5000 (got -1)"},
        InvalidCase{"spec.maxNodes", "2147483648",
                    "spec.maxNodes: must be between 0 and 5000 (got 2147483648)"},
        InvalidCase{"spec.maxNodes", "5001",
                    "spec.maxNodes: must be between 0 and 5000 (got 5001)"},
        InvalidCase{"spec.maxScaleStep", "0",
                    "spec.maxScaleStep: must be between 1 and 5000 (got 0)"},
        InvalidCase{"spec.capacityType", "spot",
                    "spec.capacityType: \"spot\" is not one of OnDemand, Spot"},
        InvalidCase{"spec.pricePerNodeHour", "32.77",
                    "spec.pricePerNodeHour: must be a string; quote it: \"32.77\""},
        InvalidCase{"spec.pricePerNodeHour", "\"$32\"", "\"$32\" is not a decimal number"},
        InvalidCase{"spec.pricePerNodeHour", "\"1000000\"",
                    "spec.pricePerNodeHour: \"1000000.00\" is too large: a price must be below "
                    "1000000"},
        InvalidCase{"spec.scaleDownDelay", "\"9000h\"",
                    "spec.scaleDownDelay: must be at most 8784h (366 days), got 9000h"},
        InvalidCase{"spec.scaleDownDelay", "10",
                    "spec.scaleDownDelay: must be a string; quote it: \"10\""},
        InvalidCase{"spec.scaleDownDelay", "\"10\"",
                    "spec.scaleDownDelay: \"10\" is not a duration"},
        InvalidCase{"spec.nodeSelector", "[a]",
                    "spec.nodeSelector: must be a map of strings, got a list"},
        InvalidCase{"spec.nodeSelector", "{a/b/c: x}",
                    "spec.nodeSelector[a/b/c]: \"a/b/c\" is not a valid label key"},
        InvalidCase{"spec.nodeSelector", "{pool: \"-a100\"}",
                    "spec.nodeSelector[pool]: \"-a100\" is not a valid label value"},
        InvalidCase{"spec.gpuType", "{a: b}", "spec.gpuType: must be a string, got an object"},
        InvalidCase{"spec.maxnodes", "4",
                    "spec.maxnodes: unknown field (did you mean \"maxNodes\"?)"},
        InvalidCase{"status.currentNodes", "-1",
                    "status.currentNodes: must be at least 0 (got -1)"},
        InvalidCase{"status.lastScaleTime", "\"2026-13-01T00:00:00Z\"",
                    "status.lastScaleTime: \"2026-13-01T00:00:00Z\" is not an RFC 3339 date-time"},
        InvalidCase{"top.kind", "ComputeBudget",
                    "kind: must be GPUNodePool, got \"ComputeBudget\""}),
    CaseName);

TEST(CodecPoolValidationTest, RequiredFields) {
  for (const char* field : {"spec.provider", "spec.gpusPerNode", "spec.maxNodes"}) {
    absl::Status status = DecodeStatus(Manifest::Pool().Remove(field));
    EXPECT_THAT(std::string(status.message()),
                HasSubstr(std::string(field) + ": missing required field"));
  }
}

TEST(CodecPoolValidationTest, NodeSelectorLimit) {
  std::string selector = "{";
  for (int i = 0; i < 33; ++i) {
    selector += (i ? ", k" : "k") + std::to_string(i) + ": v";
  }
  selector += "}";
  absl::Status status = DecodeStatus(Manifest::Pool().Set("spec.nodeSelector", selector));
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("spec.nodeSelector: must have at most 32 entries (got 33)"));
}

class CodecPriceBookValidationTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(CodecPriceBookValidationTest, Rejects) {
  const InvalidCase& c = GetParam();
  Manifest m = Manifest::Book();
  m.Set(c.path, c.flow);
  absl::Status status = DecodeStatus(m);
  ASSERT_FALSE(status.ok()) << m.Build();
  EXPECT_THAT(std::string(status.message()), HasSubstr(c.want)) << m.Build();
}

INSTANTIATE_TEST_SUITE_P(
    Spec, CodecPriceBookValidationTest,
    ::testing::Values(
        InvalidCase{"spec.currency", "eur", "spec.currency: \"eur\" is not an ISO 4217"},
        InvalidCase{"spec.defaults", "{gpuHour: x}",
                    "spec.defaults.gpuHour: \"x\" is not a decimal"},
        InvalidCase{"spec.defaults", "{memoryGiBHour: \"1000000\"}",
                    "spec.defaults.memoryGiBHour: \"1000000.00\" is too large: a price must be "
                    "below 1000000"},
        InvalidCase{"spec.gpus", "[{model: A, pricePerHour: \"100000000000000000\"}]",
                    "spec.gpus[0].pricePerHour: "},
        InvalidCase{"spec.instanceTypes", "[{name: p5, pricePerHour: \"2500000\"}]",
                    "spec.instanceTypes[0].pricePerHour: \"2500000.00\" is too large"},
        InvalidCase{"spec.defaults", "{cpuCoreHour: 0.03}",
                    "spec.defaults.cpuCoreHour: must be a string; quote it: \"0.03\""},
        InvalidCase{"spec.gpus",
                    "[{model: A, pricePerHour: \"1\"}, {model: A, capacityType: OnDemand, "
                    "pricePerHour: \"2\"}]",
                    "spec.gpus[1].model: duplicate entry for \"A\" and OnDemand"},
        InvalidCase{"spec.gpus", "[{model: A}]",
                    "spec.gpus[0].pricePerHour: missing required field"},
        // A null element said nothing and was kept as an empty entry (found by fuzz_manifests:
        // it encoded to an object that did not decode).
        InvalidCase{"spec.gpus", "[{model: A, pricePerHour: \"1\"}, null]",
                    "spec.gpus[1]: must be an object, got null"},
        InvalidCase{"spec.gpus", "[{model: A, pricePerHour: \"1\", capacityType: Reserved}]",
                    "spec.gpus[0].capacityType: \"Reserved\" is not one of OnDemand, Spot"},
        InvalidCase{"spec.instanceTypes", "[{pricePerHour: \"1\"}]",
                    "spec.instanceTypes[0].name: missing required field"},
        InvalidCase{"spec.instanceTypes",
                    "[{name: p5, pricePerHour: \"1\"}, {name: p5, capacityType: Spot, "
                    "pricePerHour: \"1\"}, {name: p5, capacityType: Spot, pricePerHour: \"2\"}]",
                    "spec.instanceTypes[2].name: duplicate entry for \"p5\" and Spot"},
        InvalidCase{"spec.spotValues", "[spot, spot]",
                    "spec.spotValues[1]: duplicate value \"spot\""},
        InvalidCase{"spec.nodeLabels", "{gpuModel: \"\"}",
                    "spec.nodeLabels.gpuModel: must not be empty"},
        InvalidCase{"spec.nodeLabels", "{gpuModel: \"bad label key!\"}",
                    "spec.nodeLabels.gpuModel: \"bad label key!\" is not a valid label key"},
        InvalidCase{"spec.nodeLabel", "{}",
                    "spec.nodeLabel: unknown field (did you mean \"nodeLabels\"?)"},
        InvalidCase{"status.observedGeneration", "x",
                    "status.observedGeneration: must be an integer, got string \"x\""}),
    CaseName);

TEST(CodecPriceBookValidationTest, SpecIsRequired) {
  absl::Status status = DecodeStatus(Manifest::Book().Remove("spec.currency"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("t.yaml:5: spec: missing required field"));
}

// ---------------------------------------------------------------------------------------------
// Metadata and times.

TEST(CodecMetaTest, DecodeObjectMetaOfAnyKind) {
  absl::StatusOr<json::Value> v = json::Parse(
      R"({"name":"kube-system.x","namespace":"ns","uid":"u","resourceVersion":"9","generation":4,)"
      R"("creationTimestamp":"2026-01-02T03:04:05Z","labels":{"a":"b"},"annotations":{"x/y":"any text"},)"
      R"("ownerReferences":[],"finalizers":["f"],"managedFields":[]})");
  ASSERT_TRUE(v.ok());
  absl::StatusOr<ObjectMeta> m = DecodeObjectMeta(*v, kStrict);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->name, "kube-system.x");
  EXPECT_EQ(m->namespace_name, "ns");
  EXPECT_EQ(m->uid, "u");
  EXPECT_EQ(m->resource_version, "9");
  EXPECT_EQ(m->generation, 4);
  EXPECT_EQ(m->creation_timestamp, At("2026-01-02T03:04:05Z"));
  EXPECT_EQ(m->labels, (values::Labels{{"a", "b"}}));
  EXPECT_EQ(m->annotations, (values::Labels{{"x/y", "any text"}}));
  ExpectMetaEq(DecodeObjectMeta(EncodeObjectMeta(*m), kStrict).value_or(ObjectMeta{}), *m);
}

TEST(CodecMetaTest, DecodeObjectMetaErrors) {
  EXPECT_EQ(DecodeObjectMeta(json::Value::Object({}), kStrict).status().message(),
            "t.yaml: metadata.name: missing required field");
  EXPECT_EQ(DecodeObjectMeta(json::Value::Null(), kStrict).status().message(),
            "t.yaml: metadata: missing required field");
  EXPECT_EQ(DecodeObjectMeta(json::Value::Array({}, 2), kStrict).status().message(),
            "t.yaml:2: metadata: must be an object, got a list");
}

TEST(CodecTimeTest, FormatIsUtcSeconds) {
  EXPECT_EQ(api::FormatTime(absl::FromUnixSeconds(1795766400)), "2026-11-27T08:00:00Z");
  EXPECT_EQ(api::FormatTime(absl::FromUnixSeconds(1795766400) + absl::Milliseconds(999)),
            "2026-11-27T08:00:00Z");
}

TEST(CodecTimeTest, ParseAcceptsOffsetsAndFractions) {
  absl::Time want = absl::FromUnixSeconds(1795766400);
  EXPECT_EQ(ParseTime("2026-11-27T08:00:00Z").value_or(absl::InfinitePast()), want);
  EXPECT_EQ(ParseTime("2026-11-27T09:30:00+01:30").value_or(absl::InfinitePast()), want);
  EXPECT_EQ(ParseTime("2026-11-27T03:00:00-05:00").value_or(absl::InfinitePast()), want);
  EXPECT_EQ(ParseTime("2026-11-27T08:00:00.250Z").value_or(absl::InfinitePast()),
            want + absl::Milliseconds(250));
  EXPECT_EQ(ParseTime("2026-11-27t08:00:00z").value_or(absl::InfinitePast()), want);
  for (const char* bad :
       {"2026-11-27", "2026-11-27T08:00:00", "27/11/2026 08:00", "", "2026-11-27T25:00:00Z",
        "2026-02-30T00:00:00Z", " 2026-11-27T08:00:00Z", "2026-11-27T08:00:00Z ",
        "2026-11-27T08:00:00+0100", "2026-11-27T08:00:00.Z", "12026-11-27T08:00:00Z"}) {
    EXPECT_FALSE(ParseTime(bad).ok()) << bad;
  }
}

// Found by tests/fuzz/values_fuzz.cc (corpus/values/finding-year-0226): years below 1000 were
// written without their leading zeros, which no RFC 3339 parser (ours, the API server's) reads.
TEST(CodecTimeTest, FormatWritesFourDigitYears) {
  absl::StatusOr<absl::Time> t = ParseTime("0226-11-27T08:00:00.12345679+05:30");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(api::FormatTime(*t), "0226-11-27T02:30:00Z");
  EXPECT_EQ(ParseTime(api::FormatTime(*t)).value_or(absl::InfinitePast()),
            absl::FromCivil(absl::CivilSecond(226, 11, 27, 2, 30, 0), absl::UTCTimeZone()));
}

// An offset can move a time out of the years RFC 3339 can write; Go's metav1.Time refuses those.
TEST(CodecTimeTest, ParseKeepsTimesWithinTheFourDigitYears) {
  EXPECT_TRUE(ParseTime("0000-01-01T00:00:00Z").ok());
  EXPECT_TRUE(ParseTime("9999-12-31T23:59:59Z").ok());
  for (const char* outside : {"0000-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"}) {
    absl::StatusOr<absl::Time> t = ParseTime(outside);
    ASSERT_FALSE(t.ok()) << outside;
    EXPECT_EQ(t.status().message(),
              absl::StrCat("\"", outside, "\" is outside the years 0000 to 9999 in UTC"));
  }
}

}  // namespace
}  // namespace bursar::api
