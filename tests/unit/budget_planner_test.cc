// Tests for reconcilers::BudgetPlanner: snapshots built in code (budgets, pools and price books
// decoded from YAML exactly as the API server's objects are), asserting the plan's outcomes:
// metered spend against numbers computed by hand, restart safety through status, the ladder's
// Job actions, quotas, pool sizes and node ownership, invalid budgets, DryRun and modelDrift.
//
// Unless a test says otherwise: budget "vision" covers namespace vision, $100 per 10-hour Custom
// period starting at kStart, pacing None, default thresholds; pool "a100" has 2-GPU nodes at
// $8 per node-hour, so a 1-GPU pod that requests nothing else costs the GPU share of a node:
// a node of 2 GPUs, 2 cores and 2 GiB splits $8 by the default prices (GPU 0.95, core 0.031611,
// GiB 0.004237) — numbers are checked through the cost model's own split below.

#include "controllers/reconcilers/budget_planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "controllers/api/codec.h"
#include "controllers/engine/cost_model.h"
#include "controllers/reconcilers/plan_applier.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/yaml/yaml.h"
#include "tests/unit/fake_transport.h"

namespace bursar::values {
// Readable failures: quantities print as the API server writes them.
void PrintTo(const Quantity& q, std::ostream* os) {
  *os << q.ToString();
}
}  // namespace bursar::values

namespace bursar::reconcilers {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

template <typename T, typename Decoder>
T Decode(const std::string& yaml, Decoder decode) {
  auto docs = yaml::ParseYamlDocuments(yaml, "test.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto decoded = decode((*docs)[0], api::DecodeOptions{.source = "test.yaml"});
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return *decoded;
}

// The default spec, with any top-level key of `extra_spec` ("  key: value" lines) replacing the
// default of the same key.
std::string BudgetYaml(const std::string& extra_spec = "", const std::string& name = "vision") {
  std::string spec;
  for (const char* line :
       {"  scope: {namespaces: [vision]}\n", "  limit: {amount: \"100\", currency: USD}\n",
        "  period: {type: Custom, duration: 10h, anchor: \"2027-01-15T08:00:00Z\"}\n",
        "  pacing: {mode: None}\n", "  nodePools: [a100]\n"}) {
    std::string key(line, std::string_view(line).find(':') + 1);
    if (extra_spec.find(key) == std::string::npos) {
      spec += line;
    }
  }
  return absl::StrCat("apiVersion: bursar.dev/v1alpha1\nkind: ComputeBudget\nmetadata: {name: ",
                      name, ", uid: uid-", name, ", generation: 3}\nspec:\n", spec, extra_spec);
}

api::ComputeBudget Budget(const std::string& extra_spec = "", const std::string& name = "vision") {
  return Decode<api::ComputeBudget>(BudgetYaml(extra_spec, name), api::DecodeComputeBudget);
}

api::GPUNodePool Pool(int min_nodes = 0) {
  return Decode<api::GPUNodePool>(absl::StrCat(R"(apiVersion: bursar.dev/v1alpha1
kind: GPUNodePool
metadata: {name: a100, generation: 1}
spec:
  provider: {type: Kwok}
  nodeSelector: {pool: a100}
  gpuType: A100
  gpusPerNode: 2
  pricePerNodeHour: "8"
  minNodes: )",
                                               min_nodes, R"(
  maxNodes: 4
  maxScaleStep: 2
  scaleDownDelay: 10m
)"),
                                  api::DecodeGPUNodePool);
}

api::PriceBook Book() {
  return Decode<api::PriceBook>(R"(apiVersion: bursar.dev/v1alpha1
kind: PriceBook
metadata: {name: default}
spec: {currency: USD}
)",
                                api::DecodePriceBook);
}

NodeView Node(const std::string& name, const std::string& grown_for = "") {
  NodeView n;
  n.info.name = name;
  n.info.labels = {{"pool", "a100"}};
  n.info.cpu_capacity = values::Quantity::FromUnits(2);
  n.info.memory_capacity = values::Quantity::FromUnits(int64_t{2} << 30);
  n.info.gpu_capacity = 2;
  n.ready = true;
  n.created = kStart;
  n.grown_for = grown_for;
  return n;
}

PodView Pod(const std::string& uid, absl::Time start, const std::string& node = "a100-0",
            int64_t gpus = 1, const std::string& job = "") {
  PodView p;
  p.uid = uid;
  p.namespace_name = kube::InternedString("vision");
  p.name = absl::StrCat("pod-", uid);
  p.node_name = node;
  p.state = PodState::kRunning;
  p.start = start;
  p.containers = {{.cpu_milli = 0, .memory_bytes = 0, .gpus = gpus}};
  p.job = job;
  return p;
}

JobView Job(const std::string& name, int64_t gpus, absl::Time created = kStart) {
  JobView j;
  j.namespace_name = "vision";
  j.name = name;
  j.gpus = gpus;
  j.created = created;
  return j;
}

Snapshot Base(absl::Time now) {
  Snapshot s;
  s.now = now;
  s.budgets = {Budget()};
  s.pools = {Pool()};
  s.price_books = {Book()};
  s.nodes = {Node("a100-0")};
  s.namespaces = {{"vision", {}}, {"free", {}}};
  return s;
}

// Price of one GPU-hour on an a100 node, as the cost model splits the node price.
values::Money GpuShare() {
  engine::PriceResolver resolver(Book().spec);
  engine::UnitPrices prices = resolver.PricesFor(Node("x").info, values::Money::FromUnits(8));
  engine::ContainerResources c;
  c.gpus = 1;
  return engine::PodRatePerHour({c}, prices);
}

// Hour 8 of the default budget's period, with its limit set to `limit` and two a100 nodes (the
// Drain tests: what their pods spent by then is set against `limit`).
Snapshot AtHour8OnTwoNodes(const values::Money& limit) {
  Snapshot s = Base(kStart + absl::Hours(8));
  s.budgets = {
      Budget(absl::StrCat("  limit: {amount: \"", limit.ToString(), "\", currency: USD}\n"))};
  s.nodes = {Node("a100-0"), Node("a100-1")};
  return s;
}

const BudgetOutcome& Outcome(const Plan& plan, const std::string& name = "vision") {
  for (const BudgetOutcome& o : plan.budgets) {
    if (o.name == name) {
      return o;
    }
  }
  ADD_FAILURE() << "no outcome for " << name;
  static BudgetOutcome none;
  return none;
}

TEST(BudgetPlannerTest, MetersARunningPodExactlyOnceAcrossPasses) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.pods = {Pod("p1", kStart)};
  Plan first = planner.Reconcile(s);
  EXPECT_EQ(Outcome(first).status.spent, GpuShare());
  // The same instant again charges nothing more; an hour later, one more hour.
  EXPECT_EQ(Outcome(planner.Reconcile(s)).status.spent, GpuShare());
  s.now = kStart + absl::Hours(2);
  Plan later = planner.Reconcile(s);
  EXPECT_EQ(Outcome(later).status.spent, GpuShare().MulDiv(2, 1));
  EXPECT_EQ(Outcome(later).status.gpu_hours, values::Money::FromUnits(2));
  EXPECT_TRUE(Outcome(later).valid);
  EXPECT_EQ(Outcome(later).status.observed_generation, 3);
}

TEST(BudgetPlannerTest, ARestartedPlannerResumesFromStatusWithoutCountingTwice) {
  BudgetPlanner before;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.pods = {Pod("p1", kStart), Pod("p2", kStart + absl::Minutes(30))};
  Plan plan = before.Reconcile(s);

  // The operator dies; p2 ends while it is down; a new planner starts from the written status.
  BudgetPlanner after;
  s.budgets[0].status = Outcome(plan).status;
  s.now = kStart + absl::Hours(3);
  s.pods.Mutable(1).state = PodState::kEnded;
  s.pods.Mutable(1).end = kStart + absl::Hours(2);
  Plan resumed = after.Reconcile(s);
  // p1: 3 hours; p2: 1.5 hours (30 min to 2 h) — nothing lost, nothing twice.
  EXPECT_EQ(Outcome(resumed).status.spent, GpuShare().MulDiv(45, 10));
  // The checkpoint lists no pod: p2 ended, p1 started before the start horizon and is covered
  // by the watermark.
  ASSERT_TRUE(Outcome(resumed).status.ledger.has_value());
  EXPECT_TRUE(Outcome(resumed).status.ledger->pods.empty());
  EXPECT_EQ(Outcome(resumed).status.ledger->start_horizon, s.now - values::kStartGrace);
  EXPECT_EQ(Outcome(resumed).status.ledger->watermark, s.now);
}

// A budget with 50,000 running pods keeps a small status: the checkpoint lists at most
// kMaxCheckpointPods pods, so the whole status stays under 16 KiB even with both ledgers full
// and every recentActions entry used. A planner restarted from that status (through JSON)
// meters exactly as the one that kept running.
TEST(BudgetPlannerTest, FiftyThousandRunningPodsKeepTheStatusUnderSixteenKiB) {
  constexpr size_t kBound = 16 * 1024;
  constexpr int kPods = 50'000;
  BudgetPlanner running;
  Snapshot s = Base(kStart + absl::Minutes(50));
  s.pods.reserve(kPods + 1);
  for (int i = 0; i < kPods; ++i) {
    // Starts spread over the first 50 minutes; the last 300 within the last 30 seconds.
    absl::Time start =
        i < kPods - 300 ? kStart + absl::Seconds(i % 2990) : s.now - absl::Seconds(i % 30);
    s.pods.push_back(
        Pod(absl::StrFormat("%08x-9c1d-4e5f-8a7b-%012x", i, int64_t{i} * 7919), start));
  }
  Plan first = running.Reconcile(s);
  s.now += absl::Seconds(15);
  s.pods.push_back(Pod("started-in-this-second", s.now));
  Plan second = running.Reconcile(s);
  api::ComputeBudgetStatus status = Outcome(second).status;
  ASSERT_TRUE(status.ledger.has_value());
  EXPECT_LE(status.ledger->pods.size(), values::kMaxCheckpointPods);
  size_t size = api::EncodeComputeBudgetStatus(status).ToJson().size();
  EXPECT_LE(size, kBound / 2) << "as written";
  // The worst case: both ledgers list kMaxCheckpointPods pods, recentActions is full.
  api::ComputeBudgetStatus worst = status;
  while (worst.ledger->pods.size() < values::kMaxCheckpointPods) {
    worst.ledger->pods.push_back(
        {absl::StrFormat("ffffffff-9c1d-4e5f-8a7b-%012d", worst.ledger->pods.size()),
         worst.ledger->watermark});
  }
  worst.reserve_ledger = worst.ledger;
  worst.recent_actions.assign(
      api::kMaxRecentActions,
      {.time = s.now,
       .action = "Throttle",
       .reason = "ForecastOverLimit",
       .message = "forecast 1234567.89 USD at the end of the period is over the limit of "
                  "1000000.00 USD; the quota is lowered from 1024 to 768 GPUs",
       .target = "namespace/some-rather-long-team-namespace-name",
       .dry_run = false});
  EXPECT_LE(api::EncodeComputeBudgetStatus(worst).ToJson().size(), kBound);

  // Restarted from the written status, as decoded from the API server's JSON.
  api::ComputeBudget budget = s.budgets[0];
  budget.status = status;
  absl::StatusOr<json::Value> doc = json::Parse(api::EncodeComputeBudget(budget).ToJson());
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<api::ComputeBudget> decoded = api::DecodeComputeBudget(*doc, {});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  s.budgets[0] = *decoded;
  BudgetPlanner restarted;
  s.now += absl::Seconds(40);  // down for 40 s; one pod ended meanwhile
  s.pods.Mutable(7).state = PodState::kEnded;
  s.pods.Mutable(7).end = s.now - absl::Seconds(20);
  const values::Money after_restart = Outcome(restarted.Reconcile(s)).status.spent;
  s.budgets[0].status = Outcome(second).status;
  EXPECT_EQ(after_restart, Outcome(running.Reconcile(s)).status.spent);
  EXPECT_GT(after_restart, Outcome(first).status.spent);
}

// What metrics.k8s.io reports a pod uses is charged where it exceeds the requests. It comes in
// the snapshot's usage table (by uid), beside the cached pod, which holds requests only.
TEST(BudgetPlannerTest, UsageAboveTheRequestsIsChargedFromTheSnapshotsUsageTable) {
  Snapshot s = Base(kStart + absl::Hours(1));
  s.pods = {Pod("p1", kStart)};
  const values::Money requests_only = Outcome(BudgetPlanner().Reconcile(s)).status.burn_rate;
  EXPECT_EQ(requests_only, GpuShare());

  engine::Containers used = {s.pods[0].containers[0].Resources()};
  used[0].cpu_usage = values::Quantity::FromUnits(1);  // requested none
  s.pod_usage.emplace("p1", used);
  engine::PriceResolver resolver(Book().spec);
  const engine::UnitPrices prices = resolver.PricesFor(Node("x").info, values::Money::FromUnits(8));
  ASSERT_GT(prices.cpu_core_hour, values::Money());
  EXPECT_EQ(Outcome(BudgetPlanner().Reconcile(s)).status.burn_rate,
            requests_only + prices.cpu_core_hour);
  EXPECT_EQ(s.pods[0].containers[0].cpu_milli, 0);  // the cached pod is left as it was
}

// A pod whose start falls in the second of a pass (the pass its Running event triggered) is
// counted by that pass and charged from its start by the next, even across a restart.
TEST(BudgetPlannerTest, APodStartedInTheSecondOfAPassIsChargedFromItsStartByTheNext) {
  for (bool restart : {false, true}) {
    BudgetPlanner planner;
    Snapshot s = Base(kStart + absl::Hours(1) + absl::Milliseconds(400));
    s.pods = {Pod("p1", kStart + absl::Hours(1))};
    Plan first = planner.Reconcile(s);
    EXPECT_EQ(Outcome(first).status.spent, values::Money());
    EXPECT_EQ(Outcome(first).status.burn_rate, GpuShare()) << "counted in the burn rate";
    BudgetPlanner restarted;
    if (restart) {
      s.budgets[0].status = Outcome(first).status;
    }
    s.now = kStart + absl::Hours(1) + absl::Seconds(36);
    Plan next = (restart ? restarted : planner).Reconcile(s);
    EXPECT_EQ(Outcome(next).status.spent, GpuShare().MulDiv(36, 3600)) << "restart " << restart;
  }
}

// Records Events in memory: "<Warning|Normal> <reason>: <message>".
class MemoryEvents final : public runtime::EventRecorder {
 public:
  void Record(const runtime::ObjectReference&, runtime::EventType type, std::string_view reason,
              std::string_view message) override {
    events.push_back(absl::StrCat(type == runtime::EventType::kWarning ? "Warning " : "Normal ",
                                  std::string(reason), ": ", std::string(message)));
  }
  std::vector<std::string> events;
};

const api::Condition* ReadyOf(const api::ComputeBudgetStatus& status) {
  for (const api::Condition& c : status.conditions) {
    if (c.type == "Ready") {
      return &c;
    }
  }
  return nullptr;
}

// A status write the API server refuses (here 422, as a too-large ledger once was) shows within
// one tick: a Warning Event and a Ready=False write of its own at once, and Ready False with the
// reason in the next status that can be written; Ready again once writes succeed.
TEST(BudgetPlannerTest, AFailedStatusWriteShowsInAnEventAndTheReadyCondition) {
  kube::FakeTransport transport;
  kube::ApiClient client(transport);
  MemoryEvents events;
  PlanApplier applier(client, events, [](const api::GPUNodePool&, std::string* why) {
    *why = "no providers in this test";
    return static_cast<providers::NodePoolProvider*>(nullptr);
  });
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.pods = {Pod("p1", kStart)};
  // Only the budget's status, so that the scripted replies follow the writes one to one.
  auto statuses = [](Plan plan) {
    Plan only;
    only.budgets = std::move(plan.budgets);
    return only;
  };
  auto budgets_only = [](Snapshot snap) {
    snap.pools.clear();
    snap.price_books.clear();
    return snap;
  };
  Plan first = statuses(planner.Reconcile(s));
  ASSERT_EQ(ReadyOf(Outcome(first).status)->status, "True");
  transport.Reply(422, R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
                       R"("message":"ComputeBudget.bursar.dev \"vision\" is invalid: )"
                       R"(status.ledger.pods: Too many: 15120: must have at most 10000 items",)"
                       R"("reason":"Invalid","code":422})");
  transport.Reply(200, "{}");  // the Ready condition alone is accepted
  ApplyReport report = applier.Apply(first, budgets_only(s), {});
  ASSERT_EQ(report.status_failures.size(), 1u);
  EXPECT_THAT(report.status_failures["vision"], testing::HasSubstr("422 Invalid"));
  ASSERT_EQ(events.events.size(), 1u);
  EXPECT_THAT(events.events[0], testing::StartsWith("Warning StatusWriteFailed: status not "
                                                    "written (422 Invalid: "));
  std::vector<kube::HttpRequest> sent = transport.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_THAT(sent[1].path, testing::HasSubstr("fieldManager=bursar-status-fallback"));
  absl::StatusOr<json::Value> fallback = json::Parse(sent[1].body);
  ASSERT_TRUE(fallback.ok()) << fallback.status();
  const json::Value* written = fallback->FindPath("status.conditions");
  ASSERT_TRUE(written != nullptr && written->is_array() && written->elements().size() == 1u);
  EXPECT_EQ(json::StringAt(written->elements()[0], "type"), "Ready");
  EXPECT_EQ(json::StringAt(written->elements()[0], "status"), "False");
  EXPECT_EQ(json::StringAt(written->elements()[0], "reason"), "StatusWriteFailed");
  EXPECT_EQ(fallback->FindPath("status.spent"), nullptr) << "the condition only";

  // The next pass (one tick later) says so in the status it writes.
  planner.NoteStatusWriteFailures(report.status_failures, s.now);
  s.now += absl::Seconds(15);
  Plan second = statuses(planner.Reconcile(s));
  const api::Condition* ready = ReadyOf(Outcome(second).status);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, "False");
  EXPECT_EQ(ready->reason, "StatusWriteFailed");
  EXPECT_THAT(ready->message, testing::HasSubstr("Too many: 15120"));
  transport.Reply(200, "{}");
  report = applier.Apply(second, budgets_only(s), {});
  EXPECT_TRUE(report.status_failures.empty());
  planner.NoteStatusWriteFailures(report.status_failures, s.now);
  s.now += absl::Seconds(15);
  EXPECT_EQ(ReadyOf(Outcome(planner.Reconcile(s)).status)->status, "True");
}

// However many periods passed since the ledger in status (an outage, or the shortest Custom
// period over a year), one pass rolls it over in one step: the work of a pass never depends on
// a user's spec (a 1ns period once stalled every budget's metering).
TEST(BudgetPlannerTest, ALedgerManyPeriodsOldRollsOverInOneStep) {
  BudgetPlanner before;
  Snapshot s = Base(kStart + absl::Minutes(1));
  s.budgets = {
      Budget("  period: {type: Custom, duration: 30s, anchor: \"2027-01-15T08:00:00Z\"}\n")};
  s.pods = {Pod("p1", kStart)};
  s.budgets[0].status = Outcome(before.Reconcile(s)).status;

  BudgetPlanner after;
  s.now = kStart + absl::Hours(24 * 365) + absl::Seconds(10);  // ~1 million periods later
  Plan plan = after.Reconcile(s);
  const BudgetOutcome& out = Outcome(plan);
  ASSERT_TRUE(out.valid);
  ASSERT_TRUE(out.status.period.has_value());
  EXPECT_EQ(out.status.period->start, s.now - absl::Seconds(10));
  // Only the 10 s of p1 inside the current period are charged to it.
  EXPECT_EQ(out.status.spent, GpuShare().MulDiv(10, 3600));
  bool noted_gap = false;
  for (const api::ActionRecord& a : out.new_actions) {
    noted_gap |= a.reason == "NewPeriod" && a.message.find("no pass ran from") != std::string::npos;
  }
  EXPECT_TRUE(noted_gap);
}

TEST(BudgetPlannerTest, ABudgetShorterThanTheMinimumPeriodIsNotReadyAndTheOthersCarryOn) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  // The CRD and the decoder refuse such a period; a budget that reaches the planner anyway (an
  // older CRD without the rule) is marked, not obeyed.
  s.budgets = {Budget("", "tiny"), Budget()};
  s.budgets[0].spec.period = {.type = values::PeriodType::kCustom,
                              .time_zone = "UTC",
                              .start_day = 1,
                              .duration = absl::Nanoseconds(1),
                              .anchor = kStart};
  s.pods = {Pod("p1", kStart)};
  Plan plan = planner.Reconcile(s);
  const BudgetOutcome& tiny = Outcome(plan, "tiny");
  EXPECT_FALSE(tiny.valid);
  ASSERT_EQ(tiny.status.conditions.size(), 1u);
  EXPECT_EQ(tiny.status.conditions[0].reason, "InvalidPeriod");
  EXPECT_EQ(tiny.status.conditions[0].message,
            "spec.period: period.duration: a Custom period must last at least 30s (got 1ns)");
  EXPECT_EQ(Outcome(plan).status.spent, GpuShare());
}

TEST(BudgetPlannerTest, ABudgetThatCannotBeHonouredGetsAFalseConditionAndTheOthersCarryOn) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget("  priceBookRef: missing\n", "broken"), Budget()};
  s.pods = {Pod("p1", kStart)};
  Plan plan = planner.Reconcile(s);
  const BudgetOutcome& broken = Outcome(plan, "broken");
  EXPECT_FALSE(broken.valid);
  ASSERT_EQ(broken.status.conditions.size(), 1u);
  EXPECT_EQ(broken.status.conditions[0].status, "False");
  EXPECT_EQ(broken.status.conditions[0].reason, "PriceBookNotFound");
  EXPECT_NE(broken.status.conditions[0].message.find("spec.priceBookRef"), std::string::npos);
  EXPECT_EQ(plan.frozen_budgets, std::vector<std::string>{"broken"});
  ASSERT_EQ(broken.events.size(), 1u);
  EXPECT_TRUE(broken.events[0].warning);
  // The valid budget still meters the pod (the broken one cannot claim it).
  EXPECT_EQ(Outcome(plan).status.spent, GpuShare());

  // Announced once: the next pass sees its own condition in status and stays quiet, until the
  // problem changes.
  s.budgets[0].status = broken.status;
  EXPECT_TRUE(Outcome(planner.Reconcile(s), "broken").events.empty());
  s.budgets[0].spec.price_book_ref = "also-missing";
  EXPECT_EQ(Outcome(planner.Reconcile(s), "broken").events.size(), 1u);

  s.budgets = {Budget("  nodePools: [nope]\n", "nopool")};
  Plan again = planner.Reconcile(s);
  EXPECT_EQ(Outcome(again, "nopool").status.conditions[0].reason, "NodePoolNotFound");
}

TEST(BudgetPlannerTest, OverlappingScopesChargeTheNarrowestAndSaySo) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {
      Budget(),
      Budget("  scope: {namespaces: [vision], podSelector: {matchLabels: {team: cv}}}\n", "cv")};
  s.pods = {Pod("p1", kStart)};
  s.pods.Mutable(0).labels = {{"team", "cv"}};
  Plan plan = planner.Reconcile(s);
  EXPECT_EQ(Outcome(plan, "cv").status.spent, GpuShare());
  EXPECT_EQ(Outcome(plan, "vision").status.spent, values::Money());
  for (const char* name : {"cv", "vision"}) {
    bool overlapping = false;
    for (const api::Condition& c : Outcome(plan, name).status.conditions) {
      overlapping |= c.type == "Overlapping" && c.status == "True";
    }
    EXPECT_TRUE(overlapping) << name;
  }
}

TEST(BudgetPlannerTest, ABudgetThatLosesANamespaceToAnOverlapWritesNoQuotaThere) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  // "older" and "newer" select the same pods of vision; "everything" selects every namespace.
  // Without a podSelector, the oldest wins a namespace: "older" wins vision from both others,
  // "everything" keeps free, which no one else selects.
  s.budgets = {Budget("  pacing: {mode: Even}\n", "older"),
               Budget("  pacing: {mode: Even}\n", "newer"),
               Budget("  scope: {namespaceSelector: {}}\n  pacing: {mode: Even}\n", "everything")};
  s.budgets[0].metadata.creation_timestamp = kStart - absl::Hours(3);
  s.budgets[1].metadata.creation_timestamp = kStart - absl::Hours(1);
  s.budgets[2].metadata.creation_timestamp = kStart - absl::Hours(2);
  s.pods = {Pod("p1", kStart)};
  Plan plan = planner.Reconcile(s);
  EXPECT_EQ(Outcome(plan, "older").status.spent, GpuShare());
  std::vector<std::string> quotas;
  for (const QuotaTarget& q : plan.quotas) {
    quotas.push_back(absl::StrCat(q.budget, "@", q.namespace_name));
  }
  EXPECT_EQ(quotas, (std::vector<std::string>{"everything@free", "older@vision"}));
  for (const char* loser : {"newer", "everything"}) {
    bool overlapping = false;
    for (const api::Condition& c : Outcome(plan, loser).status.conditions) {
      overlapping |= c.type == "Overlapping" && c.status == "True";
    }
    EXPECT_TRUE(overlapping) << loser;
    EXPECT_TRUE(Outcome(plan, loser).valid) << loser;
  }
  // A loser is not frozen, so the applier deletes a quota it wrote before as unwanted.
  EXPECT_TRUE(plan.frozen_budgets.empty());

  // A podSelector makes a budget narrower, never a loser to a namespaces-only budget: both
  // keep their quota in the namespace.
  s.budgets[1] = Budget(
      "  scope: {namespaces: [vision], podSelector: {matchLabels: {team: cv}}}\n"
      "  pacing: {mode: Even}\n",
      "newer");
  Plan narrow = planner.Reconcile(s);
  quotas.clear();
  for (const QuotaTarget& q : narrow.quotas) {
    quotas.push_back(absl::StrCat(q.budget, "@", q.namespace_name));
  }
  EXPECT_EQ(quotas, (std::vector<std::string>{"everything@free", "newer@vision", "older@vision"}));
}

TEST(BudgetPlannerTest, ABudgetWhosePlanningThrowsIsFrozenAndTheOthersArePlanned) {
  int throws = 1;
  PlannerOptions options;
  options.before_planning_budget = [&throws](const api::ComputeBudget& b) {
    if (b.metadata.name == "broken" && throws-- > 0) {
      throw std::runtime_error("zone database unreadable");
    }
  };
  BudgetPlanner planner(options);
  Snapshot s = Base(kStart + absl::Hours(1));
  // "broken" sorts first, so "vision" is planned after the failure, not before it.
  s.budgets = {Budget("  scope: {namespaces: [free]}\n  pacing: {mode: Even}\n", "broken"),
               Budget("  pacing: {mode: Even}\n")};
  PodView other = Pod("p2", kStart);
  other.namespace_name = kube::InternedString("free");
  s.pods = {Pod("p1", kStart), other};
  Plan plan = planner.Reconcile(s);

  const BudgetOutcome& broken = Outcome(plan, "broken");
  EXPECT_FALSE(broken.valid);
  ASSERT_EQ(broken.status.conditions.size(), 1u);
  EXPECT_EQ(broken.status.conditions[0].type, "Ready");
  EXPECT_EQ(broken.status.conditions[0].status, "False");
  EXPECT_EQ(broken.status.conditions[0].reason, "PlanningFailed");
  EXPECT_EQ(broken.status.conditions[0].message, "zone database unreadable");
  EXPECT_EQ(broken.status.spent, values::Money());  // nothing half-metered reaches status
  ASSERT_EQ(broken.events.size(), 1u);
  EXPECT_TRUE(broken.events[0].warning);
  EXPECT_EQ(broken.events[0].reason, "PlanningFailed");
  // Frozen: no quota is planned for it, so the one it owns stays as it is.
  EXPECT_EQ(plan.frozen_budgets, std::vector<std::string>{"broken"});
  for (const QuotaTarget& q : plan.quotas) {
    EXPECT_NE(q.budget, "broken");
  }
  // The other budget is planned as if nothing happened.
  const BudgetOutcome& vision = Outcome(plan);
  EXPECT_TRUE(vision.valid);
  EXPECT_EQ(vision.status.spent, GpuShare());
  ASSERT_EQ(plan.quotas.size(), 1u);
  EXPECT_EQ(plan.quotas[0].budget, "vision");

  // Once planning works again, the budget is Ready and metered like the others.
  s.budgets[0].status = broken.status;
  Plan next = planner.Reconcile(s);
  const BudgetOutcome& recovered = Outcome(next, "broken");
  EXPECT_TRUE(recovered.valid);
  ASSERT_FALSE(recovered.status.conditions.empty());
  EXPECT_EQ(recovered.status.conditions[0].status, "True");
  EXPECT_EQ(recovered.status.spent, GpuShare());
  EXPECT_TRUE(next.frozen_budgets.empty());
  EXPECT_EQ(next.quotas.size(), 2u);
}

TEST(BudgetPlannerTest, EvenPacingSetsTheQuotaOfEveryScopedNamespace) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget("  pacing: {mode: Even}\n")};
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(plan.quotas.size(), 1u);
  EXPECT_EQ(plan.quotas[0].namespace_name, "vision");
  EXPECT_EQ(plan.quotas[0].budget, "vision");
  // $100 over the 9 hours left at the GPU-hour price of the pool's nodes (half a node).
  EXPECT_EQ(plan.quotas[0].gpus, Outcome(plan).status.allowed_gpus);
  EXPECT_EQ(plan.quotas[0].gpus, 100 * 1'000'000 / (4'000'000 * 9));
}

TEST(BudgetPlannerTest, StatusAdmissionPublishesWhatTheWebhookDecidesFrom) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {
      Budget("  pacing: {mode: Even}\n"
             "  quota: {mode: Webhook, resources: [nvidia.com/gpu, cpu, memory]}\n")};
  Plan plan = planner.Reconcile(s);
  EXPECT_TRUE(plan.quotas.empty());  // the webhook alone enforces: no ResourceQuota
  const api::ComputeBudgetStatus& st = Outcome(plan).status;
  ASSERT_TRUE(st.admission.has_value());
  EXPECT_FALSE(st.admission->hold_new_work);
  EXPECT_EQ(st.admission->allowed.at("nvidia.com/gpu"),
            values::Quantity::FromUnits(st.allowed_gpus));
  // Nothing runs: cpu and memory get what the paced money per hour buys at the prices of the
  // pool's nodes ($8 a node-hour split by the defaults' ratio), dearer than the defaults'
  // ($0.031611 per core-hour, $0.004237 per GiB-hour).
  double per_hour = Outcome(plan).decision.carry_rate.ToDouble();
  ASSERT_GT(per_hour, 0);
  engine::UnitPrices node =
      engine::PriceResolver(Book().spec).PricesFor(Node("x").info, values::Money::FromUnits(8));
  ASSERT_GT(node.cpu_core_hour, values::Money::FromMicros(31611));
  ASSERT_GT(node.memory_gib_hour, values::Money::FromMicros(4237));
  EXPECT_NEAR(st.admission->allowed.at("cpu").ToDouble(), per_hour / node.cpu_core_hour.ToDouble(),
              0.01);
  EXPECT_NEAR(st.admission->allowed.at("memory").ToDouble() / (1 << 30),
              per_hour / node.memory_gib_hour.ToDouble(), 1.0 / 1024);
}

// A ResourceQuota budget that lists cpu and memory: its quotas limit requests.cpu and
// requests.memory at the allowance it publishes, over what every active pod of the namespace
// requests (also pods no budget pays for), and its headroom goes first to the namespaces whose
// suspended Jobs wait for it, never twice.
TEST(BudgetPlannerTest, ResourceQuotasLimitCpuAndMemoryAtThePublishedAllowance) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {
      Budget("  scope: {namespaces: [vision, free]}\n"
             "  pacing: {mode: Even}\n"
             "  quota: {mode: ResourceQuota, resources: [nvidia.com/gpu, cpu, memory]}\n")};
  s.namespaces["other"] = {};
  auto with_requests = [](PodView p, const char* cpu, const char* memory) {
    p.containers[0].cpu_milli = values::Quantity::Parse(cpu)->MilliValue();
    p.containers[0].memory_bytes = values::Quantity::Parse(memory)->Value();
    return p;
  };
  s.pods = {with_requests(Pod("cpu-only", kStart, "a100-0", 0), "2", "3Gi"),
            with_requests(Pod("elsewhere", kStart, "a100-0", 0), "5", "1Gi")};
  s.pods.Mutable(0).namespace_name = kube::InternedString("free");
  s.pods.Mutable(1).namespace_name = kube::InternedString("other");
  JobView waiting = Job("waiting-in-vision", 0);
  waiting.suspended = true;
  waiting.cpu = *values::Quantity::Parse("1");
  waiting.memory = *values::Quantity::Parse("1Gi");
  s.jobs = {waiting};
  Plan plan = planner.Reconcile(s);
  const api::ComputeBudgetStatus& st = Outcome(plan).status;
  ASSERT_TRUE(st.admission.has_value());
  const values::Quantity cpu = st.admission->allowed.at("cpu");
  const values::Quantity memory = st.admission->allowed.at("memory");
  ASSERT_GT(cpu, *values::Quantity::Parse("3"));  // room for the waiting Job and more
  ASSERT_EQ(plan.quotas.size(), 2u);
  std::map<std::string, QuotaTarget> by_ns;
  for (const QuotaTarget& q : plan.quotas) {
    ASSERT_TRUE(q.cpu.has_value() && q.memory.has_value()) << q.namespace_name;
    by_ns[q.namespace_name] = q;
  }
  // vision: what its waiting Job asks for; free (the first namespace): its running pod and the
  // rest of the headroom. Together: the allowance.
  EXPECT_EQ(by_ns["vision"].cpu->ToString(), "1");
  EXPECT_EQ(by_ns["vision"].memory->ToString(), "1Gi");
  EXPECT_EQ(*by_ns["free"].cpu, cpu - *values::Quantity::Parse("1"));
  EXPECT_EQ(*by_ns["free"].memory, memory - *values::Quantity::Parse("1Gi"));
  EXPECT_EQ(by_ns["free"].gpus + by_ns["vision"].gpus, Outcome(plan).status.allowed_gpus);

  // Held: each quota allows what already runs there, nothing more.
  s.budgets[0].spec.limit.amount = values::Money::FromMicros(1);
  Plan held = BudgetPlanner().Reconcile(s);
  ASSERT_TRUE(Outcome(held).status.admission->hold_new_work);
  for (const QuotaTarget& q : held.quotas) {
    EXPECT_EQ(q.cpu->ToString(), q.namespace_name == "free" ? "2" : "0") << q.namespace_name;
    EXPECT_EQ(q.memory->ToString(), q.namespace_name == "free" ? "3Gi" : "0") << q.namespace_name;
  }
}

// Workloads of the other kinds (JobSet, Kubeflow, RayJob) are created suspended by the webhook;
// the planner resumes those it holds when the budget has room, through their own suspend path,
// and leaves the others alone: their pods are not tied to them, so Hold and Drain act on batch
// Jobs only.
TEST(BudgetPlannerTest, OtherWorkloadKindsAreResumedOnceHeldAndOtherwiseLeftAlone) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget("  pacing: {mode: Even}\n")};
  const SuspendPath* pytorch = SuspendPathOf("kubeflow.org", "PyTorchJob");
  JobView held = Job("held-ft", 1);
  held.kind = pytorch;
  held.suspended = true;
  held.held_by = "vision";
  held.held_for = "Hold";
  JobView running = Job("users-ft", 1);
  running.kind = pytorch;
  JobView others = Job("someone-elses", 1);
  others.kind = pytorch;
  others.suspended = true;
  s.jobs = {held, running, others};
  Plan plan = planner.Reconcile(s);
  ASSERT_GE(Outcome(plan).status.allowed_gpus, 1);
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "held-ft");
  EXPECT_FALSE(plan.jobs[0].suspend);
  EXPECT_EQ(plan.jobs[0].kind, pytorch);

  // Held by the budget (spent): the unsuspended one is not suspended after the fact.
  s.budgets[0].spec.limit.amount = values::Money::FromMicros(1);
  s.pods = {Pod("spender", kStart)};
  s.jobs = {running};
  Plan over = BudgetPlanner().Reconcile(s);
  ASSERT_TRUE(Outcome(over).status.admission->hold_new_work);
  EXPECT_TRUE(over.jobs.empty());
}

TEST(BudgetPlannerTest, HoldSuspendsJobsWithoutPodsAndDrainTheLowestPriorityFirst) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(8));
  // Four GPUs for 8 hours at ~$3.85 an hour each is past the $100 limit: Drain.
  s.nodes = {Node("a100-0"), Node("a100-1")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "important"), Pod("b", kStart, "a100-1", 2, "cheap")};
  s.pods.Mutable(0).priority = 100;
  s.jobs = {Job("important", 2), Job("cheap", 2), Job("waiting", 1)};
  Plan plan = planner.Reconcile(s);
  EXPECT_EQ(Outcome(plan).decision.rung, api::LadderAction::kDrain);
  ASSERT_TRUE(Outcome(plan).status.admission.has_value());
  EXPECT_TRUE(Outcome(plan).status.admission->hold_new_work);  // the webhook suspends new Jobs
  std::vector<std::string> suspended;
  for (const JobChange& j : plan.jobs) {
    EXPECT_TRUE(j.suspend);
    suspended.push_back(absl::StrCat(j.name, ":", Name(j.rung)));
  }
  std::sort(suspended.begin(), suspended.end());
  // Drain keeps what fits under the ceiling (nothing is left): both running Jobs go, and the
  // Job without pods is held.
  EXPECT_EQ(suspended,
            (std::vector<std::string>{"cheap:Drain", "important:Drain", "waiting:Hold"}));

  // A new period releases the Jobs Bursar held (and only those).
  Snapshot next = Base(kStart + absl::Hours(10) + absl::Minutes(1));
  next.jobs = {Job("important", 2), Job("cheap", 2), Job("users-own", 1)};
  for (JobView& j : next.jobs) {
    j.suspended = true;
    if (j.name != "users-own") {
      j.held_by = "vision";
    }
  }
  Plan released = planner.Reconcile(next);
  std::vector<std::string> resumed;
  for (const JobChange& j : released.jobs) {
    EXPECT_FALSE(j.suspend);
    resumed.push_back(j.name);
  }
  std::sort(resumed.begin(), resumed.end());
  EXPECT_EQ(resumed, (std::vector<std::string>{"cheap", "important"}));
  bool new_period = false;
  for (const api::ActionRecord& a : Outcome(released).new_actions) {
    new_period |= a.action == "Release" && a.reason == "NewPeriod";
  }
  EXPECT_TRUE(new_period);
}

// Drain ranks a Job by when its current run started, as the simulator does (engine::
// ChooseDrained): "resumed" was created first but resumed an hour ago, so it loses less work
// than "steady", created later but running for 7 hours, and goes first. (The operator ranked by
// creation time before, and drained "steady".)
TEST(BudgetPlannerTest, DrainSuspendsTheMostRecentlyStartedRunFirst) {
  BudgetPlanner planner;
  // 16 GPU-hours spent and 4 GPUs burning over the first pass's 30 s lookahead: a limit of
  // 16 + 2.5 / 120 GPU-hours' worth keeps 2 GPUs running.
  Snapshot s = AtHour8OnTwoNodes(GpuShare().MulDiv(16 * 240 + 5, 240));
  s.pods = {Pod("r", kStart + absl::Hours(7), "a100-0", 2, "resumed"),
            Pod("s", kStart + absl::Hours(1), "a100-1", 2, "steady")};
  s.jobs = {Job("resumed", 2, kStart), Job("steady", 2, kStart + absl::Minutes(30))};
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(Outcome(plan).decision.rung, api::LadderAction::kDrain);
  ASSERT_EQ(Outcome(plan).decision.keep_running_gpus, 2);
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "resumed");
  EXPECT_EQ(plan.jobs[0].rung, JobRung::kDrain);
}

// On nodes the budget grew, a Job suspended beside others saves nothing: the budget goes on paying
// for its GPUs, idle, until the whole node is free and removed. Drain frees whole nodes instead
// (engine::OwnedBin), as the simulator does: of four 1-GPU Jobs on two grown 2-GPU nodes, the
// newest ("b", on a100-1) goes with the Job beside it ("d"), not with the next newest ("c", on
// a100-0), which would have left one idle GPU on each node and saved nothing.
TEST(BudgetPlannerTest, DrainFreesWholeNodesTheBudgetGrew) {
  for (bool grown : {false, true}) {
    BudgetPlanner planner;
    Snapshot s = AtHour8OnTwoNodes(GpuShare().MulDiv(16 * 240 + 5, 240));
    if (grown) {
      s.nodes = {Node("a100-0", "vision"), Node("a100-1", "vision")};
    }
    s.pods = {Pod("a", kStart + absl::Hours(1), "a100-0", 1, "a"),
              Pod("b", kStart + absl::Hours(7), "a100-1", 1, "b"),
              Pod("c", kStart + absl::Hours(6), "a100-0", 1, "c"),
              Pod("d", kStart + absl::Hours(2), "a100-1", 1, "d")};
    s.jobs = {Job("a", 1), Job("b", 1), Job("c", 1), Job("d", 1)};
    Plan plan = planner.Reconcile(s);
    ASSERT_EQ(Outcome(plan).decision.rung, api::LadderAction::kDrain) << grown;
    ASSERT_EQ(Outcome(plan).decision.keep_running_gpus, 2) << grown;
    std::vector<std::string> drained;
    for (const JobChange& j : plan.jobs) {
      EXPECT_EQ(j.rung, JobRung::kDrain);
      drained.push_back(j.name);
    }
    std::sort(drained.begin(), drained.end());
    EXPECT_EQ(drained,
              grown ? (std::vector<std::string>{"b", "d"}) : (std::vector<std::string>{"b", "c"}));
  }
}

// A node the budget grew that runs nothing goes at the pass that drains (the pool gives a held
// budget's idle nodes back at once), so Drain counts it for a tick, not the lookahead, and keeps
// both Jobs here; but not a node the pool's minNodes keeps: that one costs the whole lookahead,
// and one Job goes.
TEST(BudgetPlannerTest, DrainCountsAGrownIdleNodeForATickUnlessMinNodesKeepsIt) {
  for (int min_nodes : {0, 2}) {
    BudgetPlanner planner;
    Snapshot s = AtHour8OnTwoNodes(GpuShare().MulDiv(15 * 240 + 7, 240));
    s.pools = {Pool(min_nodes)};
    s.nodes = {Node("a100-0"), Node("a100-1", "vision")};
    s.pods = {Pod("a", kStart, "a100-0", 1, "a"),
              Pod("b", kStart + absl::Hours(1), "a100-0", 1, "b")};
    s.jobs = {Job("a", 1), Job("b", 1)};
    Plan plan = planner.Reconcile(s);
    const engine::BudgetDecision& d = Outcome(plan).decision;
    ASSERT_EQ(d.rung, api::LadderAction::kDrain) << d.reason;
    EXPECT_EQ(d.keep_running_gpus, min_nodes == 0 ? 2 : 1) << min_nodes;
    EXPECT_EQ(plan.jobs.size(), min_nodes == 0 ? 0u : 1u) << min_nodes;
  }
}

// Running pods that take ten minutes to stop once suspended (terminationGracePeriodSeconds) are
// projected ten minutes ahead: the budget drains while the money left still covers their stop,
// where pods that stop at once would run on.
TEST(BudgetPlannerTest, DrainAllowsForTheTimeRunningPodsTakeToStop) {
  // 16 GPU-hours spent; 4 GPUs burning; 5 GPU-minutes of money left.
  const values::Money limit = GpuShare().MulDiv(16 * 12 + 1, 12);
  for (absl::Duration grace : {absl::ZeroDuration(), absl::Minutes(10)}) {
    BudgetPlanner planner;
    Snapshot s = AtHour8OnTwoNodes(limit);
    s.pods = {Pod("r", kStart + absl::Hours(7), "a100-0", 2, "resumed"),
              Pod("s", kStart + absl::Hours(1), "a100-1", 2, "steady")};
    for (size_t i = 0; i < s.pods.size(); ++i) {
      s.pods.Mutable(i).stop_grace_seconds = static_cast<int32_t>(absl::ToInt64Seconds(grace));
    }
    s.jobs = {Job("resumed", 2, kStart), Job("steady", 2, kStart + absl::Minutes(30))};
    Plan plan = planner.Reconcile(s);
    const engine::BudgetDecision& d = Outcome(plan).decision;
    if (grace == absl::ZeroDuration()) {
      // 2 GPU-minutes burn over the 30 s lookahead: under the limit, nothing is drained.
      EXPECT_LT(d.rung, api::LadderAction::kDrain) << d.reason;
      EXPECT_TRUE(plan.jobs.empty());
      continue;
    }
    // 41 GPU-minutes over 10 min 15 s: Drain, and not one GPU fits until the pods stop.
    EXPECT_EQ(d.rung, api::LadderAction::kDrain) << d.reason;
    EXPECT_THAT(d.reason, testing::HasSubstr("10m15s ahead"));
    EXPECT_EQ(d.keep_running_gpus, 0);
    EXPECT_EQ(plan.jobs.size(), 2u);
  }
}

// Pods already told to stop (a drained Job's, until their deletionTimestamp) keep costing; Drain
// keeps only what fits beside them, as it does beside idle capacity.
TEST(BudgetPlannerTest, DrainKeepsOnlyWhatFitsBesidePodsStillStopping) {
  BudgetPlanner planner;
  // 16 GPU-hours spent; 0.2 GPU-hours of money left; the lookahead is 5 min 15 s (the stopping
  // pod's 5 min left). The stopping Job's 2 GPUs take 0.175 GPU-hours of it, which leaves 0.025
  // for the other Job: not one GPU over the lookahead. Counted as stoppable, 2 would be kept.
  Snapshot s = AtHour8OnTwoNodes(GpuShare().MulDiv(16 * 5 + 1, 5));
  const absl::Time now = s.now;
  s.pods = {Pod("stopping", kStart + absl::Hours(1), "a100-0", 2, "drained"),
            Pod("r", kStart + absl::Hours(7), "a100-1", 2, "running")};
  s.pods.Mutable(0).deleting = now + absl::Minutes(5);
  s.jobs = {Job("drained", 2), Job("running", 2)};
  s.jobs[0].suspended = true;
  s.jobs[0].held_by = "vision";
  s.jobs[0].held_for = "Drain";
  Plan plan = planner.Reconcile(s);
  const engine::BudgetDecision& d = Outcome(plan).decision;
  ASSERT_EQ(d.rung, api::LadderAction::kDrain) << d.reason;
  EXPECT_THAT(d.reason, testing::HasSubstr("5m15s ahead"));
  EXPECT_EQ(d.keep_running_gpus, 0);
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "running");
  EXPECT_EQ(plan.jobs[0].rung, JobRung::kDrain);
}

// Retraining work already told to stop draws on the reserve until it has stopped: the reserve
// keeps running only what fits beside it, as Drain does for regular work.
TEST(BudgetPlannerTest, TheReserveKeepsOnlyWhatFitsBesideRetrainingStillStopping) {
  // A reserve of 2.15 GPU-hours (20 % of 10.75), never released to regular work. Two 1-GPU
  // retraining Jobs run on it from an unlock at hour 1; at hour 2 they have drawn 2 of it, and
  // one is stopping (drained, 5 minutes left): the lookahead is 5 min 15 s, over which it draws
  // 0.0875 of the 0.15 left, which leaves 0.0625: not one GPU. Not counted, one GPU would fit.
  const values::Money share = GpuShare();
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget(absl::StrCat("  limit: {amount: \"", share.MulDiv(43, 4).ToString(),
                                   "\", currency: USD}\n",
                                   "  retraining: {reservePercent: 20, driftThreshold: \"0.3\", "
                                   "releaseUnusedFromPercent: 100}\n"))};
  s.nodes = {Node("a100-0")};
  auto retraining = [&](const std::string& name) {
    PodView pod = Pod(name, s.now, "a100-0", 1, name);
    pod.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
    JobView job = Job(name, 1);
    job.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
    return std::pair(pod, job);
  };
  auto [pod1, job1] = retraining("rt1");
  auto [pod2, job2] = retraining("rt2");
  s.pods = {pod1, pod2};
  s.jobs = {job1, job2};
  s.drift = {
      {.model = "fraud", .score_micros = 500000, .metric = "psi", .time = s.now, .source = "test"}};
  BudgetPlanner planner;
  planner.Reconcile(s);

  // rt1 was suspended by its owner (not by Bursar, so Bursar does not resume it).
  s.now = kStart + absl::Hours(2);
  s.pods.Mutable(0).deleting = s.now + absl::Minutes(5);
  s.jobs[0].suspended = true;
  Plan plan = planner.Reconcile(s);
  const engine::BudgetDecision& d = Outcome(plan).decision;
  EXPECT_EQ(d.reserve_keep_running_gpus, 0) << d.reason;
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "rt2");
  EXPECT_EQ(plan.jobs[0].rung, JobRung::kDrain);
}

// A running CPU-only Job (no GPUs) is not held at Hold like a Job without pods: Hold stops new
// work only, and Drain stops running work by money.
TEST(BudgetPlannerTest, HoldLeavesARunningCpuOnlyJobRunning) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(8));
  s.budgets = {Budget(R"(  thresholds: [{percent: 50, action: Hold}]
)")};
  s.nodes = {Node("a100-0"), Node("a100-1")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "gpu"), Pod("b", kStart, "a100-1", 0, "cpu")};
  s.jobs = {Job("gpu", 2), Job("cpu", 0), Job("waiting", 1)};
  Plan plan = planner.Reconcile(s);
  EXPECT_EQ(Outcome(plan).decision.rung, api::LadderAction::kHold);
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "waiting");
  EXPECT_EQ(plan.jobs[0].rung, JobRung::kHold);
}

TEST(BudgetPlannerTest, DryRunRecordsDecisionsAndActsOnNothing) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(5));
  s.budgets = {Budget("  enforcement: DryRun\n  pacing: {mode: Even}\n")};
  s.nodes = {Node("a100-0"), Node("a100-1")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "j1"), Pod("b", kStart, "a100-1", 2, "j2")};
  s.jobs = {Job("j1", 2), Job("j2", 2), Job("j3", 1)};
  Plan plan = planner.Reconcile(s);
  EXPECT_TRUE(plan.jobs.empty());
  EXPECT_TRUE(plan.quotas.empty());
  const BudgetOutcome& o = Outcome(plan);
  EXPECT_TRUE(o.dry_run);
  ASSERT_FALSE(o.status.recent_actions.empty());
  for (const api::ActionRecord& a : o.status.recent_actions) {
    EXPECT_TRUE(a.dry_run) << a.action;
  }
  // Nothing changed in the cluster, so the next pass decides the same: recorded once only.
  s.now += absl::Seconds(1);
  Plan again = planner.Reconcile(s);
  EXPECT_TRUE(again.jobs.empty());
  EXPECT_TRUE(Outcome(again).new_actions.empty());
}

TEST(BudgetPlannerTest, GrowsThePoolForPendingWorkAndClaimsTheNewNodes) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.nodes = {};
  PodView pending = Pod("p1", kStart, "", 2);
  pending.state = PodState::kPending;
  pending.start.reset();
  s.pods = {pending, Pod("p2", kStart, "", 1)};
  s.pods.Mutable(1).state = PodState::kPending;
  s.pods.Mutable(1).start.reset();
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(plan.pool_changes.size(), 1u);
  EXPECT_EQ(plan.pool_changes[0].current, 0);
  EXPECT_EQ(plan.pool_changes[0].desired, 2);  // 3 GPUs on 2-GPU nodes
  EXPECT_EQ(plan.pool_changes[0].grown_for, "vision");

  // The nodes appear: they belong to the budget that asked for them.
  s.nodes = {Node("a100-0"), Node("a100-1")};
  Plan next = planner.Reconcile(s);
  ASSERT_EQ(next.node_owners.size(), 2u);
  EXPECT_EQ(next.node_owners[0].budget, "vision");
}

// The nodes that fill a pool up to minNodes are nobody's, even when a budget's pending work made
// the pool grow: the platform keeps them whatever the demand, so no budget pays for them idle
// (the fault campaign's capped $6 budget was charged six idle floor nodes, $0.2 a second each).
TEST(BudgetPlannerTest, NodesThatFillThePoolUpToMinNodesBelongToNobody) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.pools = {Pool(/*min_nodes=*/2)};
  s.nodes = {};
  s.pods = {Pod("p1", kStart, "", 2), Pod("p2", kStart, "", 2), Pod("p3", kStart, "", 2)};
  for (size_t i = 0; i < s.pods.size(); ++i) {
    PodView& p = s.pods.Mutable(i);
    p.state = PodState::kPending;
    p.start.reset();
  }
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(plan.pool_changes.size(), 1u);
  EXPECT_EQ(plan.pool_changes[0].desired, 2);  // maxScaleStep 2
  EXPECT_EQ(plan.pool_changes[0].grown_for, "vision");

  // The first two nodes fill the floor: nobody's.
  s.nodes = {Node("a100-0"), Node("a100-1")};
  Plan next = planner.Reconcile(s);
  EXPECT_TRUE(next.node_owners.empty());
  ASSERT_EQ(next.pool_changes.size(), 1u);
  EXPECT_EQ(next.pool_changes[0].desired, 3);  // 6 GPUs on 2-GPU nodes

  // The third is the budget's.
  s.nodes.push_back(Node("a100-2"));
  Plan third = planner.Reconcile(s);
  ASSERT_EQ(third.node_owners.size(), 1u);
  EXPECT_EQ(third.node_owners[0].node, "a100-2");
  EXPECT_EQ(third.node_owners[0].budget, "vision");
}

// A Kueue budget's queue gets each resource's own allowance: the GPU quota for nvidia.com/gpu,
// and for cpu and memory what the budget publishes in status.admission (the GPU count once went
// to every listed resource: "cpu: <GPUs>"). Issue 10 item 3: every cost enforced, in Kueue too.
TEST(BudgetPlannerTest, AKueueBudgetWritesEachResourcesOwnAllowanceToItsQueue) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget(R"(  pacing: {mode: Even, burstPercent: 10}
  quota: {mode: KueueClusterQueue, clusterQueue: vision-cq,
          resources: [nvidia.com/gpu, cpu, memory]}
)")};
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(plan.cluster_queues.size(), 1u);
  const ClusterQueueTarget& queue = plan.cluster_queues[0];
  ASSERT_EQ(plan.budgets.size(), 1u);
  ASSERT_TRUE(plan.budgets[0].status.admission.has_value());
  const auto& allowed = plan.budgets[0].status.admission->allowed;
  ASSERT_TRUE(allowed.contains("cpu") && allowed.contains("memory"));
  EXPECT_EQ(queue.allowances, allowed);  // nvidia.com/gpu, cpu and memory
  EXPECT_NE(queue.allowances.at("cpu"), queue.allowances.at("nvidia.com/gpu"));
}

// Issue 14 item 8, runaway scale-up: nodes that never become Ready count as the pool's size, so
// pending work that cannot land on them does not make Bursar add node after node (Karpenter's
// chaos suite allows fewer than 35 nodes in 5 minutes while new nodes are tainted).

TEST(BudgetPlannerTest, NodesThatNeverBecomeReadyAreNotReplacedByMoreNodes) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.nodes = {Node("a100-0", "vision"), Node("a100-1", "vision")};
  for (NodeView& n : s.nodes) {
    n.ready = false;
  }
  s.pods.clear();
  for (int i = 0; i < 4; ++i) {
    PodView pending = Pod(absl::StrCat("p", i), kStart, "", 1);
    pending.state = PodState::kPending;
    pending.start.reset();
    s.pods.push_back(pending);
  }
  int most = 2;
  for (int pass = 0; pass < 30; ++pass) {  // 5 minutes of passes, 10 s apart
    Plan plan = planner.Reconcile(s);
    for (const PoolChange& change : plan.pool_changes) {
      most = std::max(most, change.desired);
    }
    s.now += absl::Seconds(10);
  }
  EXPECT_EQ(most, 2) << "4 pending GPUs on 2-GPU nodes: the 2 nodes that never turned Ready "
                        "are the pool, not a reason to add more";
}

// A budget pays for the idle part of the nodes it grew: a wholly idle node, and the GPUs no pod
// holds on a busy one (as the simulator charges, and the cloud bills the whole node).
TEST(BudgetPlannerTest, TheIdlePartOfGrownNodesIsChargedToTheirBudgetAndOnlyIdleOnesAreRemoved) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.nodes = {Node("a100-0", "vision"), Node("a100-1", "vision")};
  s.pods = {Pod("p1", kStart, "a100-0", 1)};
  EXPECT_TRUE(planner.Reconcile(s).pool_changes.empty());
  s.now += absl::Minutes(6);
  Plan plan = planner.Reconcile(s);
  // p1 for 66 minutes, plus, for the 6 minutes between the passes, the idle node a100-1 and the
  // GPU of a100-0 that p1 leaves free (half the node's price: its share of the node's GPUs).
  engine::PriceResolver resolver(Book().spec);
  engine::ContainerResources whole;
  whole.cpu_request = values::Quantity::FromUnits(2);
  whole.memory_request = values::Quantity::FromUnits(int64_t{2} << 30);
  whole.gpus = 2;
  values::Money node_hour = engine::PodRatePerHour(
      {whole}, resolver.PricesFor(Node("x").info, values::Money::FromUnits(8)));
  EXPECT_EQ(Outcome(plan).status.spent, GpuShare().MulDiv(66, 60) + node_hour.MulDiv(6, 60) +
                                            node_hour.MulDiv(1, 2).MulDiv(6, 60));
  // GPU-hours too: 66 GPU-minutes of p1, 12 of the idle node, 6 of the free GPU.
  EXPECT_EQ(Outcome(plan).status.gpu_hours, values::Money::FromUnits(84).MulDiv(1, 60));
  // Demand has been below the pool for less than scaleDownDelay (10m): nothing yet.
  EXPECT_TRUE(plan.pool_changes.empty());

  // After scaleDownDelay the idle node goes and the busy one stays.
  s.now += absl::Minutes(5);
  Plan shrink = planner.Reconcile(s);
  ASSERT_EQ(shrink.pool_changes.size(), 1u);
  EXPECT_EQ(shrink.pool_changes[0].desired, 1);
  EXPECT_EQ(shrink.pool_changes[0].remove, std::vector<std::string>{"a100-1"});
}

TEST(BudgetPlannerTest, AModelDriftUnlockReleasesAHeldRetrainingJobOntoTheReserve) {
  BudgetPlanner planner;
  std::string spec = R"(  retraining: {reservePercent: 20, driftThreshold: "0.3", cooldown: 1h}
)";
  Snapshot s = Base(kStart + absl::Hours(5));
  s.budgets = {Budget(spec)};
  s.nodes = {Node("a100-0"), Node("a100-1")};
  // Regular work has spent the regular part of the limit: held.
  s.pods = {Pod("a", kStart, "a100-0", 2, "train"), Pod("b", kStart, "a100-1", 2, "train2")};
  JobView retrain = Job("retrain-fraud", 1);
  retrain.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
  retrain.suspended = true;
  retrain.held_by = "vision";
  s.jobs = {Job("train", 2), Job("train2", 2), retrain};
  Plan held = planner.Reconcile(s);
  for (const JobChange& j : held.jobs) {
    EXPECT_NE(j.name, "retrain-fraud") << "released before any modelDrift signal";
  }
  s.drift = {
      {.model = "fraud", .score_micros = 500000, .metric = "psi", .time = s.now, .source = "test"}};
  Plan unlocked = planner.Reconcile(s);
  bool released = false;
  for (const JobChange& j : unlocked.jobs) {
    released |= j.name == "retrain-fraud" && !j.suspend;
  }
  EXPECT_TRUE(released);
  bool recorded = false;
  for (const api::ActionRecord& a : Outcome(unlocked).new_actions) {
    recorded |= a.action == "UnlockReserve" && a.target == "model/fraud";
  }
  EXPECT_TRUE(recorded);
}

TEST(BudgetPlannerTest, AHeldBudgetGrowsItsPoolOnlyForRetrainingOnAnUnlockedReserve) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(8));
  s.budgets = {Budget("  retraining: {reservePercent: 50, driftThreshold: \"0.3\"}\n")};
  // Eight hours of two GPUs spend the regular half of the limit: held.
  s.nodes = {Node("a100-0")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "train")};
  PodView regular = Pod("r", kStart, "", 2, "more");
  regular.state = PodState::kPending;
  regular.start.reset();
  PodView retrain = Pod("t", kStart, "", 1, "retrain");
  retrain.state = PodState::kPending;
  retrain.start.reset();
  retrain.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
  s.pods.push_back(regular);
  s.pods.push_back(retrain);
  Plan held = planner.Reconcile(s);
  ASSERT_TRUE(Outcome(held).decision.hold_new_work);
  EXPECT_TRUE(held.pool_changes.empty()) << "grew for held work";

  s.now += absl::Seconds(1);
  s.drift = {
      {.model = "fraud", .score_micros = 400000, .metric = "psi", .time = s.now, .source = "test"}};
  Plan unlocked = planner.Reconcile(s);
  ASSERT_EQ(unlocked.pool_changes.size(), 1u);
  EXPECT_EQ(unlocked.pool_changes[0].desired, 2);  // the retraining GPU only, not the regular one
}

// What a leader writes is what a new leader reads: statuses go through the codec both ways.
api::ComputeBudgetStatus ThroughCodec(const api::ComputeBudget& budget,
                                      const api::ComputeBudgetStatus& status) {
  api::ComputeBudget written = budget;
  written.status = status;
  auto read = api::DecodeComputeBudget(api::EncodeComputeBudget(written), {});
  EXPECT_TRUE(read.ok()) << read.status();
  return read.ok() ? read->status : api::ComputeBudgetStatus{};
}

api::GPUNodePoolStatus ThroughCodec(const api::GPUNodePool& pool,
                                    const api::GPUNodePoolStatus& status) {
  api::GPUNodePool written = pool;
  written.status = status;
  auto read = api::DecodeGPUNodePool(api::EncodeGPUNodePool(written), {});
  EXPECT_TRUE(read.ok()) << read.status();
  return read.ok() ? read->status : api::GPUNodePoolStatus{};
}

bool Released(const Plan& plan, const std::string& job) {
  return std::any_of(plan.jobs.begin(), plan.jobs.end(),
                     [&](const JobChange& j) { return j.name == job && !j.suspend; });
}

// A retraining Job of an unlocked model is charged to the reserve once it runs, so it starts, or
// is resumed, only where the reserve has room for it: resumed against regular room it was drained
// on the reserve at the next pass, and resumed again (as `bursar simulate` admits, too). Here the
// reserve is 2 % of the budget, less than one GPU over an hour; regular work has room.
TEST(BudgetPlannerTest, ARetrainingJobOfAnUnlockedModelStartsOnlyWhereTheReserveHasRoom) {
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {
      Budget("  retraining: {reservePercent: 2, driftThreshold: \"0.3\", releaseUnusedFromPercent: "
             "100}\n")};
  auto retraining = [](const std::string& name) {
    JobView job = Job(name, 1);
    job.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
    return job;
  };
  JobView held = retraining("held-retrain");
  held.suspended = true;
  held.held_by = "vision";
  held.held_for = "Hold";
  s.jobs = {held, retraining("new-retrain")};
  BudgetPlanner locked;  // no modelDrift: both are regular work, and regular work has room
  Plan as_regular = locked.Reconcile(s);
  EXPECT_TRUE(Released(as_regular, "held-retrain"));
  EXPECT_EQ(as_regular.jobs.size(), 1u);
  // The webhook decides from status.admission: no reserve while it is locked.
  ASSERT_TRUE(Outcome(as_regular).status.admission.has_value());
  EXPECT_FALSE(Outcome(as_regular).status.admission->reserve_gpus.has_value());

  s.drift = {
      {.model = "fraud", .score_micros = 500000, .metric = "psi", .time = s.now, .source = "test"}};
  BudgetPlanner planner;
  Plan plan = planner.Reconcile(s);
  ASSERT_EQ(Outcome(plan).decision.reserve_allowed_gpus, 0);
  EXPECT_FALSE(Released(plan, "held-retrain"));
  ASSERT_EQ(plan.jobs.size(), 1u);
  EXPECT_EQ(plan.jobs[0].name, "new-retrain");
  EXPECT_TRUE(plan.jobs[0].suspend);
  EXPECT_EQ(plan.jobs[0].rung, JobRung::kHold);
  EXPECT_THAT(plan.jobs[0].message, testing::HasSubstr("retraining reserve"));
  // ... and publishes the reserve for the webhook, which then holds such Jobs as this pass did.
  const api::AdmissionAllowance& admission = *Outcome(plan).status.admission;
  EXPECT_EQ(admission.reserve_gpus, 0);
  EXPECT_EQ(api::OpenUnlocks(Outcome(plan).status), std::vector<std::string>{"fraud"});
}

TEST(BudgetPlannerTest, PassesThatRunFurtherApartThanTheTickProjectFurtherAhead) {
  // The default projection is two 15 s ticks; passes a minute apart (a loaded machine) project
  // two minutes, so that a decision holds until the next one takes effect; at most 5 minutes.
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  s.budgets = {Budget("  pacing: {mode: Even}\n")};
  s.pods = {Pod("p1", kStart)};
  auto projected = [&](absl::Duration later) {
    s.now += later;
    return Outcome(planner.Reconcile(s)).decision.reason;
  };
  EXPECT_THAT(projected(absl::ZeroDuration()), testing::HasSubstr("projected 30s ahead"));
  EXPECT_THAT(projected(absl::Seconds(5)), testing::HasSubstr("projected 30s ahead"));
  EXPECT_THAT(projected(absl::Minutes(1)), testing::HasSubstr("projected 2m ahead"));
  EXPECT_THAT(projected(absl::Hours(1)), testing::HasSubstr("projected 5m ahead"));
  EXPECT_THAT(projected(absl::Seconds(15)), testing::HasSubstr("projected 30s ahead"));
}

TEST(BudgetPlannerTest, ANewLeaderContinuesAnOpenUnlockAndItsCooldownFromStatus) {
  std::string spec = R"(  retraining: {reservePercent: 20, driftThreshold: "0.3", cooldown: 1h}
)";
  Snapshot s = Base(kStart + absl::Hours(5));
  s.budgets = {Budget(spec)};
  s.nodes = {Node("a100-0"), Node("a100-1")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "train"), Pod("b", kStart, "a100-1", 2, "train2")};
  JobView retrain = Job("retrain-fraud", 1);
  retrain.labels = {{"bursar.dev/model", "fraud"}, {"bursar.dev/purpose", "retrain"}};
  retrain.suspended = true;
  retrain.held_by = "vision";
  s.jobs = {Job("train", 2), Job("train2", 2), retrain};
  s.drift = {
      {.model = "fraud", .score_micros = 500000, .metric = "psi", .time = s.now, .source = "test"}};
  BudgetPlanner leader;
  Plan unlocked = leader.Reconcile(s);
  ASSERT_TRUE(Released(unlocked, "retrain-fraud"));
  const api::ComputeBudgetStatus& written = Outcome(unlocked).status;
  ASSERT_TRUE(written.retraining.has_value());
  EXPECT_EQ(written.retraining->unlocks_this_period, 1);
  ASSERT_EQ(written.retraining->models.size(), 1u);
  EXPECT_TRUE(written.retraining->models[0].open);
  EXPECT_EQ(written.retraining->models[0].last_unlock, s.now);

  // The leader dies before the Job is resumed; a new leader sees no signal any more.
  s.budgets[0].status = ThroughCodec(s.budgets[0], written);
  s.drift.clear();
  s.now += absl::Minutes(1);
  BudgetPlanner new_leader;
  EXPECT_TRUE(Released(new_leader.Reconcile(s), "retrain-fraud")) << "the open unlock was lost";
  BudgetPlanner amnesiac;  // what a failover did before: the reserve stays locked
  s.budgets[0].status.retraining.reset();
  EXPECT_FALSE(Released(amnesiac.Reconcile(s), "retrain-fraud"));

  // The cooldown continues too: a new signal 30 minutes after the unlock is still cooling down.
  s.budgets[0].status = ThroughCodec(s.budgets[0], written);
  s.now = kStart + absl::Hours(5) + absl::Minutes(30);
  s.drift = {
      {.model = "fraud", .score_micros = 900000, .metric = "psi", .time = s.now, .source = "test"}};
  BudgetPlanner third;
  Plan again = third.Reconcile(s);
  EXPECT_EQ(Outcome(again).status.retraining->unlocks_this_period, 1);
  bool cooling = false;
  for (const EventNote& e : Outcome(again).events) {
    cooling |= e.reason == "ModelDriftIgnored" && absl::StrContains(e.message, "CoolingDown");
  }
  EXPECT_TRUE(cooling);
}

TEST(BudgetPlannerTest, ANewLeaderKeepsADrainGraceDeadline) {
  Snapshot s = Base(kStart + absl::Hours(8));
  s.nodes = {Node("a100-0"), Node("a100-1")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "important"), Pod("b", kStart, "a100-1", 2, "cheap")};
  s.jobs = {Job("important", 2), Job("cheap", 2)};
  for (JobView& j : s.jobs) {
    j.drain_grace = absl::Minutes(10);
  }
  BudgetPlanner leader;
  Plan first = leader.Reconcile(s);
  ASSERT_EQ(Outcome(first).decision.rung, api::LadderAction::kDrain);
  EXPECT_TRUE(first.jobs.empty()) << "suspended inside the drain grace";
  const api::ComputeBudgetStatus& written = Outcome(first).status;
  ASSERT_EQ(written.drain_requests.size(), 2u);
  EXPECT_EQ(written.drain_requests[0].since, s.now);

  // A new leader 6 minutes later keeps the deadline (and says nothing new); at 10 minutes after
  // the first decision it drains, not 10 minutes after it took over.
  s.budgets[0].status = ThroughCodec(s.budgets[0], written);
  s.now += absl::Minutes(6);
  BudgetPlanner new_leader;
  Plan during = new_leader.Reconcile(s);
  EXPECT_TRUE(during.jobs.empty());
  for (const EventNote& e : Outcome(during).events) {
    EXPECT_NE(e.reason, "DrainRequested") << "the grace restarted";
  }
  EXPECT_EQ(Outcome(during).status.drain_requests, written.drain_requests);
  s.budgets[0].status = ThroughCodec(s.budgets[0], Outcome(during).status);
  s.now += absl::Minutes(4);
  Plan after = new_leader.Reconcile(s);
  EXPECT_EQ(after.jobs.size(), 2u);
}

TEST(BudgetPlannerTest, ANewLeaderContinuesAPoolsScaleDownDelay) {
  Snapshot s = Base(kStart + absl::Hours(1));
  s.nodes = {Node("a100-0", "vision"), Node("a100-1", "vision")};
  s.pods = {Pod("p1", kStart, "a100-0", 1)};
  BudgetPlanner leader;
  Plan first = leader.Reconcile(s);
  EXPECT_TRUE(first.pool_changes.empty());
  ASSERT_EQ(first.pools.size(), 1u);
  ASSERT_TRUE(first.pools[0].status.scale_down_pending_since.has_value());
  EXPECT_EQ(*first.pools[0].status.scale_down_pending_since, s.now);

  // A new leader 11 minutes later: the 10-minute delay has passed, the idle node goes now.
  s.pools[0].status = ThroughCodec(s.pools[0], first.pools[0].status);
  s.now += absl::Minutes(11);
  BudgetPlanner new_leader;
  Plan shrink = new_leader.Reconcile(s);
  ASSERT_EQ(shrink.pool_changes.size(), 1u);
  EXPECT_EQ(shrink.pool_changes[0].remove, std::vector<std::string>{"a100-1"});
  s.pools[0].status = {};  // with nothing in status the delay would start again
  EXPECT_TRUE(BudgetPlanner().Reconcile(s).pool_changes.empty());
}

TEST(BudgetPlannerTest, ABudgetsOwnDriftQueryUnlocksOnlyThatBudgetAndRepeatsQuietly) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  std::string retraining = "  retraining: {reservePercent: 20, cooldown: 1h}\n";
  s.budgets = {Budget(retraining, "vision"), Budget(retraining, "other")};
  s.budget_drift["vision"] = {{.model = "fraud",
                               .score_micros = 100000,
                               .metric = "driftQuery",
                               .time = s.now,
                               .source = "prometheus"}};
  Plan below = planner.Reconcile(s);
  EXPECT_TRUE(Outcome(below).events.empty()) << "a score below the threshold, every pass: no noise";
  s.budget_drift["vision"][0].score_micros = 500000;
  Plan unlocked = planner.Reconcile(s);
  ASSERT_EQ(Outcome(unlocked).new_actions.size(), 1u);
  EXPECT_EQ(Outcome(unlocked).new_actions[0].action, "UnlockReserve");
  EXPECT_TRUE(Outcome(unlocked, "other").new_actions.empty());
  // The next pass sees the same score again: cooling down, and quiet.
  Plan again = planner.Reconcile(s);
  EXPECT_TRUE(Outcome(again).new_actions.empty());
  EXPECT_TRUE(Outcome(again).events.empty());
}

}  // namespace
}  // namespace bursar::reconcilers

// ---- Jobs with their own cap (bursar.dev/max-cost) and a declared length ----

namespace bursar::reconcilers {
namespace {

using values::Money;

JobView CappedJob(const std::string& name, int64_t gpus, int64_t max_cost) {
  JobView j = Job(name, gpus);
  j.uid = absl::StrCat("uid-", name);
  j.max_cost = Money::FromUnits(max_cost);
  return j;
}

const JobChange* ChangeOf(const Plan& plan, const std::string& job) {
  for (const JobChange& c : plan.jobs) {
    if (c.name == job) {
      return &c;
    }
  }
  return nullptr;
}

TEST(BudgetPlannerCapTest, ACappedJobIsMeteredAcrossLeadersAndStoppedBeforeItsCap) {
  Snapshot s = Base(kStart + absl::Minutes(10));
  s.nodes = {Node("a100-0")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "ft")};
  s.jobs = {CappedJob("ft", 2, 5)};
  Plan first = BudgetPlanner().Reconcile(s);
  const api::ComputeBudgetStatus& written = Outcome(first).status;
  ASSERT_EQ(written.jobs.size(), 1u);
  const api::JobSpend spend = written.jobs[0];
  EXPECT_EQ(spend.uid, "uid-ft");
  EXPECT_EQ(spend.gpus, 2);
  ASSERT_GT(spend.rate, Money());
  // Charged exactly as the ledger charged its only pod: from its start, 10 minutes.
  EXPECT_EQ(spend.accrued, static_cast<values::Accrual>(spend.rate.micros()) * 600);
  EXPECT_EQ(spend.gpu_seconds, 2 * 600);
  EXPECT_EQ(values::AccrualToMoney(spend.accrued), written.spent);
  EXPECT_TRUE(first.jobs.empty());

  // Each check is a new leader continuing from status (projection: 30 s). The cap, 5 at the
  // rate r, is reached r x (t + 30 s) >= 5: the first such second stops it, the one before not.
  const values::Accrual cap = values::Accrual{5'000'000} * values::kAccrualPerMicro;
  const int64_t r = spend.rate.micros();
  const int64_t t_stop = static_cast<int64_t>((cap + r - 1) / r) - 30;
  s.budgets[0].status = ThroughCodec(s.budgets[0], written);
  s.now = kStart + absl::Seconds(t_stop - 1);
  Plan before = BudgetPlanner().Reconcile(s);
  EXPECT_EQ(ChangeOf(before, "ft"), nullptr);
  EXPECT_EQ(Outcome(before).status.jobs[0].accrued, static_cast<values::Accrual>(r) * (t_stop - 1))
      << "the new leader lost or repeated part of the Job's spend";
  s.now = kStart + absl::Seconds(t_stop);
  Plan at = BudgetPlanner().Reconcile(s);
  const JobChange* stop = ChangeOf(at, "ft");
  ASSERT_NE(stop, nullptr);
  EXPECT_TRUE(stop->suspend);
  EXPECT_EQ(stop->rung, JobRung::kCap);
  EXPECT_TRUE(absl::StrContains(stop->message, "its bursar.dev/max-cost of 5.00 would be passed"))
      << stop->message;
  EXPECT_LE(values::AccrualToMoney(Outcome(at).status.jobs[0].accrued), Money::FromUnits(5));
  // The budget itself is far from its limit: only the Job is stopped.
  EXPECT_EQ(at.jobs.size(), 1u);
}

TEST(BudgetPlannerCapTest, AJobStoppedAtItsCapStaysSuspendedUntilTheCapIsRaised) {
  Snapshot s = Base(kStart + absl::Minutes(30));
  s.nodes = {Node("a100-0")};
  s.pods = {Pod("a", kStart, "a100-0", 2, "ft")};
  s.jobs = {CappedJob("ft", 2, 3)};
  Plan ran = BudgetPlanner().Reconcile(s);
  ASSERT_NE(ChangeOf(ran, "ft"), nullptr) << "30 minutes of a node's GPUs pass 3";
  // Suspended by Bursar; its pod ended.
  s.budgets[0].status = ThroughCodec(s.budgets[0], Outcome(ran).status);
  s.pods.Mutable(0).state = PodState::kEnded;
  s.pods.Mutable(0).end = s.now;
  s.jobs[0].suspended = true;
  s.jobs[0].held_by = "vision";
  s.jobs[0].held_for = "Cap";
  s.now += absl::Minutes(5);
  Plan held = BudgetPlanner().Reconcile(s);
  EXPECT_EQ(ChangeOf(held, "ft"), nullptr) << "resumed past its cap";
  ASSERT_EQ(Outcome(held).status.jobs.size(), 1u) << "its spend was forgotten while suspended";
  EXPECT_EQ(Outcome(held).status.jobs[0].rate, Outcome(ran).status.jobs[0].rate);
  // Its author raises the cap: it resumes.
  s.budgets[0].status = ThroughCodec(s.budgets[0], Outcome(held).status);
  s.jobs[0].max_cost = Money::FromUnits(40);
  Plan raised = BudgetPlanner().Reconcile(s);
  const JobChange* release = ChangeOf(raised, "ft");
  ASSERT_NE(release, nullptr);
  EXPECT_FALSE(release->suspend);
}

TEST(BudgetPlannerCapTest, AHeldJobIsResumedOnlyWhenItsDeclaredLengthFitsTheMoneyLeft) {
  Snapshot s = Base(kStart + absl::Hours(1));
  JobView wide = Job("long", 4);
  wide.expected_duration = absl::Hours(20);
  JobView small = Job("short", 2);
  small.expected_duration = absl::Hours(1);
  for (JobView* j : {&wide, &small}) {
    j->suspended = true;
    j->held_by = "vision";
    j->held_for = "Hold";
  }
  s.jobs = {wide, small};
  Plan plan = BudgetPlanner().Reconcile(s);
  const api::AdmissionAllowance& a = *Outcome(plan).status.admission;
  ASSERT_TRUE(a.gpu_hour_price.has_value());
  EXPECT_NEAR(a.gpu_hour_price->ToDouble(), 4.0, 0.01) << "$8 a node-hour, 2 GPUs a node";
  ASSERT_TRUE(a.money_left.has_value());
  EXPECT_EQ(*a.money_left, Money::FromUnits(100));
  // long: 4 GPUs x 9 h left x 4 = 144 > 100, held; short: 2 x 1 h x 4 = 8, resumed.
  EXPECT_EQ(ChangeOf(plan, "long"), nullptr);
  ASSERT_NE(ChangeOf(plan, "short"), nullptr);
  EXPECT_FALSE(ChangeOf(plan, "short")->suspend);
}

}  // namespace
}  // namespace bursar::reconcilers

namespace bursar::reconcilers {
namespace {

TEST(BudgetPlannerCapTest, AJobWithABadBursarAnnotationIsAnnouncedOnceWhileItStands) {
  Snapshot s = Base(kStart + absl::Hours(1));
  JobView bad = Job("bad", 1);
  bad.annotation_error = "bursar.dev/max-cost: \"2k\" is not a decimal";
  s.jobs = {bad};
  BudgetPlanner planner;
  auto warnings = [](const Plan& plan) {
    int n = 0;
    for (const EventNote& e : Outcome(plan).events) {
      n += e.reason == "JobAnnotationInvalid" && absl::StrContains(e.message, "vision/bad: ");
    }
    return n;
  };
  EXPECT_EQ(warnings(planner.Reconcile(s)), 1);
  s.now += absl::Minutes(1);
  EXPECT_EQ(warnings(planner.Reconcile(s)), 0) << "repeated every pass";
  s.jobs[0].annotation_error.clear();  // fixed
  s.now += absl::Minutes(1);
  EXPECT_EQ(warnings(planner.Reconcile(s)), 0);
  s.jobs[0].annotation_error = "bursar.dev/max-cost: \"2k\" is not a decimal";  // broken again
  s.now += absl::Minutes(1);
  EXPECT_EQ(warnings(planner.Reconcile(s)), 1);
}

}  // namespace
}  // namespace bursar::reconcilers

namespace bursar::reconcilers {
namespace {

PodView EndedPod(const std::string& uid, absl::Duration ran, absl::Time end,
                 const std::string& model) {
  PodView p = Pod(uid, end - ran);
  p.state = PodState::kEnded;
  p.end = end;
  p.labels = {{"bursar.dev/model", model}};
  return p;
}

engine::JobLengths LengthsIn(const BudgetOutcome& outcome) {
  absl::StatusOr<engine::JobLengths> lengths =
      engine::JobLengths::Decode(outcome.status.job_lengths);
  EXPECT_TRUE(lengths.ok()) << lengths.status();
  return lengths.value_or(engine::JobLengths());
}

TEST(BudgetPlannerTest, ANewLeaderRestoresLearnedJobLengthsAndLearnsNoPodTwice) {
  BudgetPlanner before;
  Snapshot s = Base(kStart + absl::Hours(4));
  s.pods = {EndedPod("a", absl::Hours(1), kStart + absl::Hours(2), "resnet50"),
            EndedPod("b", absl::Hours(2), kStart + absl::Hours(3), "resnet50"),
            EndedPod("c", absl::Hours(3), kStart + absl::Hours(3), "resnet50")};
  Plan plan = before.Reconcile(s);
  engine::JobLengths learned = LengthsIn(Outcome(plan));
  EXPECT_EQ(learned.size(), 3u);
  EXPECT_EQ(learned.Typical("resnet50"), absl::Hours(2));

  // A new leader reads the status (through JSON, as it would from the API server); the three
  // pods are still listed and a fourth ended since: it learns only the fourth.
  BudgetPlanner after;
  s.budgets[0].status = Outcome(plan).status;
  absl::StatusOr<json::Value> doc = json::Parse(api::EncodeComputeBudget(s.budgets[0]).ToJson());
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<api::ComputeBudget> reread =
      api::DecodeComputeBudget(*doc, {.source = "apiserver", .reject_unknown_fields = true});
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->status.job_lengths, Outcome(plan).status.job_lengths);
  s.budgets[0] = *reread;
  s.now = kStart + absl::Hours(5);
  s.pods.push_back(
      EndedPod("d", absl::Hours(6), kStart + absl::Hours(4) + absl::Minutes(30), "resnet50"));
  Plan resumed = after.Reconcile(s);
  EXPECT_TRUE(Outcome(resumed).events.empty());
  engine::JobLengths relearned = LengthsIn(Outcome(resumed));
  EXPECT_EQ(relearned.size(), 4u);
  EXPECT_EQ(relearned.Typical("resnet50"), absl::Hours(3));  // (1 + 2 + 3 + 6) / 4
}

TEST(BudgetPlannerTest, ACorruptJobLengthsStatusIsIgnoredWithAnEventAndLearnedAnew) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(4));
  s.budgets[0].status.job_lengths = "v1;until=0;models=;samples=60x1 banana";
  s.pods = {EndedPod("a", absl::Hours(1), kStart + absl::Hours(2), "resnet50")};
  Plan plan = planner.Reconcile(s);
  ASSERT_TRUE(Outcome(plan).valid);
  ASSERT_EQ(Outcome(plan).events.size(), 1u);
  EXPECT_EQ(Outcome(plan).events[0].reason, "JobLengthsRestoreFailed");
  EXPECT_EQ(Outcome(plan).events[0].message,
            "status.jobLengths: jobLengths: samples: \"banana\" is not <seconds>x<gpus>[/<model "
            "index>] within bounds; job lengths are learned anew");
  EXPECT_EQ(LengthsIn(Outcome(plan)).size(), 1u);
}

// A Job Bursar drained is resumed only where the start room has it (engine::StartRoom): it can
// run a lookahead before its projection reaches the Drain line. Here $36 with Hold at 97 % and
// Drain at 99 %, an hour's lookahead and one GPU of $3.85 an hour running since the start: at
// hour 8, 9 GPU-hours projected ($34.69) are 96.4 %, and a second GPU would make it 107 %: the
// next pass would drain it again (the finding of 6 December 2026: Drain, Release, Drain again,
// every pass). At hour 4 ($15.42 spent) two more hours of both GPUs still end below the line.
TEST(BudgetPlannerTest, ADrainedJobIsResumedOnlyWhereTheNextPassWouldNotDrainItAgain) {
  PlannerOptions options;
  options.lookahead = absl::Hours(1);
  auto snapshot = [](absl::Duration at) {
    Snapshot s = Base(kStart + at);
    s.budgets = {
        Budget("  limit: {amount: \"36\", currency: USD}\n"
               "  thresholds: [{percent: 97, action: Hold}, {percent: 99, action: Drain}]\n")};
    s.pods = {Pod("p1", kStart, "a100-0", 1, "steady")};
    JobView drained = Job("drained", 1);
    drained.suspended = true;
    drained.held_by = "vision";
    drained.held_for = "Drain";
    s.jobs = {drained, Job("steady", 1)};
    return s;
  };
  Plan late = BudgetPlanner(options).Reconcile(snapshot(absl::Hours(8)));
  EXPECT_EQ(Outcome(late).status.phase, api::BudgetPhase::kAtRisk) << "below the Hold line";
  EXPECT_EQ(ChangeOf(late, "drained"), nullptr) << "resumed, to be drained again";
  // Why: running beside p1 it would take the next pass to Drain.
  Snapshot both = snapshot(absl::Hours(8));
  both.pods.push_back(Pod("p2", kStart + absl::Hours(8), "a100-0", 1, "drained"));
  both.jobs[0].suspended = false;
  Plan drained_again = BudgetPlanner(options).Reconcile(both);
  ASSERT_NE(ChangeOf(drained_again, "drained"), nullptr);
  EXPECT_TRUE(ChangeOf(drained_again, "drained")->suspend);
  EXPECT_EQ(ChangeOf(drained_again, "drained")->rung, JobRung::kDrain);

  Plan earlier = BudgetPlanner(options).Reconcile(snapshot(absl::Hours(4)));
  ASSERT_NE(ChangeOf(earlier, "drained"), nullptr);
  EXPECT_FALSE(ChangeOf(earlier, "drained")->suspend);

  // The same Job whose pods take an hour to stop (terminationGracePeriodSeconds): resumed, it
  // brings a lookahead of 30 min + 1 h, so it must run 3 h before reaching the line: at hour 4,
  // 35.64 - 15.42 - 3.85 x 3 h leaves $2.89 an hour, less than its $3.85.
  Snapshot slow = snapshot(absl::Hours(4));
  slow.jobs[0].stop_grace = absl::Hours(1);
  EXPECT_EQ(ChangeOf(BudgetPlanner(options).Reconcile(slow), "drained"), nullptr);
}

TEST(BudgetPlannerTest, HeldJobsResumeByPriorityThenShorterExpectedWork) {
  BudgetPlanner planner;
  Snapshot s = Base(kStart + absl::Hours(1));
  JobView sweep = Job("sweep", 1, kStart);  // the oldest, declared 10 h
  sweep.expected_duration = absl::Hours(10);
  JobView unknown = Job("unknown", 1, kStart + absl::Minutes(1));  // declares nothing
  JobView eval = Job("eval", 1, kStart + absl::Minutes(20));
  eval.expected_duration = absl::Minutes(30);
  JobView capped = Job("capped", 1, kStart + absl::Minutes(10));
  capped.active_deadline = absl::Hours(2);
  JobView urgent = Job("urgent", 1, kStart + absl::Minutes(30));  // priority first
  urgent.priority = 10;
  s.jobs = {sweep, unknown, eval, capped, urgent};
  for (JobView& j : s.jobs) {
    j.suspended = true;
    j.held_by = "vision";
  }
  Plan plan = planner.Reconcile(s);
  std::vector<std::string> resumed;
  for (const JobChange& j : plan.jobs) {
    EXPECT_FALSE(j.suspend);
    resumed.push_back(j.name);
  }
  EXPECT_EQ(resumed, (std::vector<std::string>{"urgent", "eval", "capped", "sweep", "unknown"}));
}

}  // namespace
}  // namespace bursar::reconcilers
