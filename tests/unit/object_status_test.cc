// Tests for reconcilers::RejectedReady / PriceBookReady / PoolReady (object_status.h) and the
// decode -> condition path: an object the API server accepted but Bursar cannot decode gets
// Ready=False naming the decoder's error, announced once; a budget using such a PriceBook says
// PriceBookInvalid, not PriceBookNotFound; a pool says what keeps it from working.

#include "controllers/reconcilers/object_status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "controllers/api/codec.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/gather.h"
#include "operator/yaml/yaml.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::reconcilers {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'800'000'000);
const api::DecodeOptions kApiServer{.source = "apiserver", .reject_unknown_fields = false};

// What the operator's loop does with an object of `kind` from the cache (budget_loop.cc).
template <typename Decoder>
std::optional<RejectedObject> Gathered(const char* kind, const std::string& json, Decoder decode) {
  json::Value object = JsonOrFail(json);
  auto decoded = decode(object, kApiServer);
  if (decoded.ok()) {
    return std::nullopt;
  }
  return RejectedObjectOf(kind, object, std::string(decoded.status().message()));
}

const char kUnknownZoneBudget[] = R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget",
  "metadata":{"name":"mars","uid":"u-1","generation":4},
  "spec":{"scope":{"namespaces":["a"]},"limit":{"amount":"10"},
          "period":{"type":"Daily","timeZone":"Mars/Olympus_Mons"}},
  "status":{"spent":"1.00","conditions":[{"type":"Overlapping","status":"True",
    "reason":"ScopesOverlap","message":"x","lastTransitionTime":"2026-01-01T00:00:00Z"}]}})";

const char kHugePriceBook[] = R"({"apiVersion":"bursar.dev/v1alpha1","kind":"PriceBook",
  "metadata":{"name":"gpu-prices","generation":1},
  "spec":{"gpus":[{"model":"A100","pricePerHour":"100000000000000000"}]}})";

const char kInt32Pool[] = R"({"apiVersion":"bursar.dev/v1alpha1","kind":"GPUNodePool",
  "metadata":{"name":"big","generation":2},
  "spec":{"provider":{"type":"Kwok"},"gpusPerNode":8,"maxNodes":2147483648}})";

TEST(ObjectStatusTest, AnUndecodableBudgetIsNotReadyWithTheDecodersMessageAnnouncedOnce) {
  std::optional<RejectedObject> rejected =
      Gathered("ComputeBudget", kUnknownZoneBudget, api::DecodeComputeBudget);
  ASSERT_TRUE(rejected.has_value());
  EXPECT_EQ(rejected->name, "mars");
  EXPECT_EQ(rejected->uid, "u-1");
  EXPECT_EQ(rejected->generation, 4);
  ASSERT_EQ(rejected->conditions.size(), 1u);  // the stored Overlapping condition

  ConditionUpdate first = RejectedReady(*rejected, kNow);
  EXPECT_EQ(first.ready.type, "Ready");
  EXPECT_EQ(first.ready.status, "False");
  EXPECT_EQ(first.ready.reason, "InvalidSpec");
  EXPECT_THAT(
      first.ready.message,
      HasSubstr("spec.period.timeZone: \"Mars/Olympus_Mons\" is not a known IANA time zone"));
  EXPECT_EQ(first.ready.observed_generation, 4);
  EXPECT_TRUE(first.changed);
  EXPECT_TRUE(first.announce);
  ASSERT_EQ(first.conditions.size(), 2u);  // other conditions are kept
  EXPECT_EQ(first.conditions[0].type, "Overlapping");

  // The next pass reads back what was written: nothing to write, nothing to announce.
  rejected->conditions = first.conditions;
  ConditionUpdate again = RejectedReady(*rejected, kNow + absl::Seconds(15));
  EXPECT_FALSE(again.changed);
  EXPECT_FALSE(again.announce);
  EXPECT_EQ(again.ready.last_transition_time, kNow);

  // A new spec with a new error is news again.
  rejected->generation = 5;
  rejected->why = "apiserver: spec.retraining.cooldown: must be at most 8784h (366 days)";
  ConditionUpdate changed = RejectedReady(*rejected, kNow + absl::Seconds(30));
  EXPECT_TRUE(changed.announce);
  EXPECT_EQ(changed.ready.last_transition_time, kNow);  // still False since kNow
}

TEST(ObjectStatusTest, APoolAboveInt32AndAPriceBookBeyondMoneyNameTheirFields) {
  std::optional<RejectedObject> pool = Gathered("GPUNodePool", kInt32Pool, api::DecodeGPUNodePool);
  ASSERT_TRUE(pool.has_value());
  ConditionUpdate p = RejectedReady(*pool, kNow);
  EXPECT_EQ(p.kind, "GPUNodePool");
  EXPECT_EQ(p.ready.reason, "InvalidSpec");
  EXPECT_THAT(p.ready.message,
              HasSubstr("spec.maxNodes: must be between 0 and 5000 (got 2147483648)"));

  std::optional<RejectedObject> book = Gathered("PriceBook", kHugePriceBook, api::DecodePriceBook);
  ASSERT_TRUE(book.has_value());
  ConditionUpdate b = RejectedReady(*book, kNow);
  EXPECT_EQ(b.ready.status, "False");
  EXPECT_EQ(b.ready.reason, "InvalidSpec");
  EXPECT_THAT(b.ready.message, HasSubstr("spec.gpus[0].pricePerHour"));
}

api::ComputeBudget BudgetUsing(const std::string& book) {
  auto docs = yaml::ParseYamlDocuments(
      "apiVersion: bursar.dev/v1alpha1\nkind: ComputeBudget\nmetadata: {name: vision, uid: u}\n"
      "spec:\n  scope: {namespaces: [vision]}\n  limit: {amount: \"100\"}\n"
      "  period: {type: Custom, duration: 10h}\n  priceBookRef: " +
          book + "\n",
      "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  auto budget = api::DecodeComputeBudget((*docs)[0], api::DecodeOptions{.source = "t.yaml"});
  EXPECT_TRUE(budget.ok()) << budget.status();
  return *budget;
}

const api::Condition* ReadyOf(const BudgetOutcome& outcome) {
  for (const api::Condition& c : outcome.status.conditions) {
    if (c.type == "Ready") {
      return &c;
    }
  }
  return nullptr;
}

TEST(ObjectStatusTest, ABudgetUsingAnUndecodablePriceBookSaysPriceBookInvalidWithWhy) {
  Snapshot snap;
  snap.now = kNow;
  snap.budgets = {BudgetUsing("gpu-prices")};
  snap.rejected = {*Gathered("PriceBook", kHugePriceBook, api::DecodePriceBook)};
  BudgetPlanner planner;
  Plan plan = planner.Reconcile(snap);
  ASSERT_EQ(plan.budgets.size(), 1u);
  const api::Condition* ready = ReadyOf(plan.budgets[0]);
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, "False");
  EXPECT_EQ(ready->reason, "PriceBookInvalid");
  EXPECT_THAT(ready->message, HasSubstr("PriceBook \"gpu-prices\" is invalid"));
  EXPECT_THAT(ready->message, HasSubstr("spec.gpus[0].pricePerHour"));
  ASSERT_EQ(plan.budgets[0].events.size(), 1u);
  EXPECT_EQ(plan.budgets[0].events[0].reason, "PriceBookInvalid");

  // One that does not exist at all is still PriceBookNotFound.
  snap.rejected.clear();
  BudgetPlanner fresh;
  Plan missing = fresh.Reconcile(snap);
  ASSERT_NE(ReadyOf(missing.budgets[0]), nullptr);
  EXPECT_EQ(ReadyOf(missing.budgets[0])->reason, "PriceBookNotFound");
}

api::GPUNodePool KwokPool(bool priced) {
  api::GPUNodePool pool;
  pool.metadata.name = "a100";
  pool.metadata.uid = "p-1";
  pool.metadata.generation = 3;
  pool.spec.provider.type = api::ProviderType::kKwok;
  pool.spec.price_book_ref = "gpu-prices";
  if (priced) {
    pool.spec.price_per_node_hour = values::Money::FromUnits(8);
  }
  return pool;
}

TEST(ObjectStatusTest, APoolSaysWhatKeepsItFromWorkingFirstThePriceBookThenTheProvider) {
  Snapshot snap;
  snap.now = kNow;
  const ProviderHealth fine;
  const ProviderHealth not_found{.reason = "ProviderTargetNotFound",
                                 .message =
                                     "resize from 0 to 2 nodes failed: machinedeployments "
                                     "\"md\" not found"};

  ConditionUpdate missing = PoolReady(KwokPool(false), snap, not_found, kNow);
  EXPECT_EQ(missing.ready.status, "False");
  EXPECT_EQ(missing.ready.reason, "PriceBookNotFound");
  EXPECT_THAT(missing.ready.message, HasSubstr("PriceBook \"gpu-prices\" not found"));
  EXPECT_TRUE(missing.announce);

  snap.rejected = {*Gathered("PriceBook", kHugePriceBook, api::DecodePriceBook)};
  ConditionUpdate invalid = PoolReady(KwokPool(false), snap, fine, kNow);
  EXPECT_EQ(invalid.ready.reason, "PriceBookInvalid");
  EXPECT_THAT(invalid.ready.message, HasSubstr("spec.gpus[0].pricePerHour"));

  // With its own price the PriceBook does not matter; the provider does.
  ConditionUpdate provider = PoolReady(KwokPool(true), snap, not_found, kNow);
  EXPECT_EQ(provider.ready.status, "False");
  EXPECT_EQ(provider.ready.reason, "ProviderTargetNotFound");
  EXPECT_EQ(provider.ready.message, not_found.message);
  EXPECT_EQ(provider.ready.observed_generation, 3);
  EXPECT_EQ(provider.uid, "p-1");

  // Before its provider has answered (probes run off the pass), a pool says nothing new: no
  // Ready=True for a provider never heard, the stored condition kept.
  api::GPUNodePool asked = KwokPool(true);
  ConditionUpdate unheard = PoolReady(asked, snap, std::nullopt, kNow);
  EXPECT_FALSE(unheard.changed);
  EXPECT_TRUE(unheard.conditions.empty());
  asked.status.conditions = provider.conditions;
  EXPECT_EQ(PoolReady(asked, snap, std::nullopt, kNow).conditions, provider.conditions);

  // Recovery: Ready=True, not announced; the stored False becomes True.
  api::GPUNodePool stored = KwokPool(true);
  stored.status.conditions = provider.conditions;
  ConditionUpdate ok = PoolReady(stored, snap, fine, kNow + absl::Minutes(5));
  EXPECT_EQ(ok.ready.status, "True");
  EXPECT_EQ(ok.ready.reason, "Ready");
  EXPECT_TRUE(ok.changed);
  EXPECT_FALSE(ok.announce);
  EXPECT_EQ(ok.ready.last_transition_time, kNow + absl::Minutes(5));
  ASSERT_EQ(ok.conditions.size(), 1u);
}

// A pool without a nodeSelector (its provider does not name its nodes) would claim every node;
// two pools that match the same node both say so, naming each other and the node; exclusive
// selectors are Ready.
TEST(ObjectStatusTest, APoolWithoutANodeSelectorOrOverlappingAnotherIsNotReady) {
  auto pool = [](std::string name, api::ProviderType type, values::Labels selector) {
    api::GPUNodePool p = KwokPool(true);
    p.metadata.name = std::move(name);
    p.spec.provider.type = type;
    p.spec.node_selector = std::move(selector);
    return p;
  };
  auto node = [](std::string name, values::Labels labels) {
    NodeView n;
    n.info.name = std::move(name);
    n.info.labels = std::move(labels);
    return n;
  };
  const ProviderHealth fine;
  Snapshot snap;
  snap.nodes = {node("cpu-0", {{"role", "cpu"}}),
                node("gpu-b", {{"bursar.dev/pool", "a100"}, {"zone", "b"}}),
                node("gpu-a", {{"bursar.dev/pool", "a100"}, {"zone", "a"}})};
  api::GPUNodePool everything = pool("everything", api::ProviderType::kKarpenter, {});
  ConditionUpdate missing = PoolReady(everything, snap, fine, kNow);
  EXPECT_EQ(missing.ready.status, "False");
  EXPECT_EQ(missing.ready.reason, "NodeSelectorMissing");
  EXPECT_THAT(missing.ready.message, HasSubstr("spec.nodeSelector is empty"));
  EXPECT_TRUE(missing.announce);

  api::GPUNodePool a100 =
      pool("a100", api::ProviderType::kKarpenter, {{"bursar.dev/pool", "a100"}});
  api::GPUNodePool zone_a = pool("zone-a", api::ProviderType::kClusterAPI, {{"zone", "a"}});
  snap.pools = {a100, zone_a};
  for (const api::GPUNodePool& p : snap.pools) {
    ConditionUpdate overlap = PoolReady(p, snap, fine, kNow);
    EXPECT_EQ(overlap.ready.reason, "NodesOverlap") << p.metadata.name;
    EXPECT_THAT(overlap.ready.message,
                HasSubstr("GPUNodePools \"a100\" and \"zone-a\" both match node \"gpu-a\""));
  }

  snap.pools[1].spec.node_selector = {{"zone", "c"}};
  EXPECT_EQ(PoolReady(snap.pools[0], snap, fine, kNow).ready.reason, "Ready");
  EXPECT_EQ(PoolReady(snap.pools[1], snap, fine, kNow).ready.reason, "Ready");
  // A Kwok pool's nodes carry its name: no selector is needed to tell them apart.
  EXPECT_EQ(PoolReady(pool("kwok", api::ProviderType::kKwok, {}), snap, fine, kNow).ready.reason,
            "Ready");
}

TEST(ObjectStatusTest, AValidPriceBookIsReadyAndWrittenOnlyWhenThatChanges) {
  api::PriceBook book;
  book.metadata.name = "default";
  book.metadata.generation = 2;
  book.spec.gpus = {{.model = "A100",
                     .capacity_type = api::CapacityType::kOnDemand,
                     .price_per_hour = values::Money::FromUnits(3)}};
  ConditionUpdate first = PriceBookReady(book, kNow);
  EXPECT_EQ(first.ready.status, "True");
  EXPECT_EQ(first.ready.reason, "Valid");
  EXPECT_EQ(first.ready.message, "prices in USD: 1 GPU models, 0 instance types");
  EXPECT_TRUE(first.changed);
  EXPECT_FALSE(first.announce);
  book.conditions = first.conditions;
  EXPECT_FALSE(PriceBookReady(book, kNow + absl::Hours(1)).changed);
}

// Kueue mode naming a ClusterQueue that does not exist: Ready=False naming it over the planner's
// True, announced once; back to True (a new transition) when it exists; a planner's own False
// (an invalid spec) is kept.
TEST(ObjectStatusTest, ABudgetWhoseClusterQueueIsMissingIsNotReadyUntilItExists) {
  api::ComputeBudget budget;
  budget.metadata.name = "team-a";
  budget.metadata.generation = 3;
  const std::vector<api::Condition> planned = {{.type = "Ready",
                                                .status = "True",
                                                .reason = "Enforcing",
                                                .message = "within budget",
                                                .last_transition_time = kNow - absl::Hours(5),
                                                .observed_generation = 3}};
  ConditionUpdate missing = BudgetReady(budget, planned, "gpu-queue", kNow);
  EXPECT_EQ(missing.ready.status, "False");
  EXPECT_EQ(missing.ready.reason, "ClusterQueueNotFound");
  EXPECT_THAT(missing.ready.message,
              HasSubstr("spec.quota.clusterQueue: ClusterQueue \"gpu-queue\" does not exist"));
  EXPECT_EQ(missing.ready.last_transition_time, kNow);
  EXPECT_TRUE(missing.announce);
  ASSERT_EQ(missing.conditions.size(), 1u);
  EXPECT_EQ(missing.conditions[0].reason, "ClusterQueueNotFound");

  budget.status.conditions = missing.conditions;  // stored
  ConditionUpdate again = BudgetReady(budget, planned, "gpu-queue", kNow + absl::Seconds(15));
  EXPECT_FALSE(again.changed);
  EXPECT_FALSE(again.announce);
  EXPECT_EQ(again.ready.last_transition_time, kNow);

  ConditionUpdate back = BudgetReady(budget, planned, "", kNow + absl::Minutes(1));
  EXPECT_EQ(back.ready.status, "True");
  EXPECT_EQ(back.ready.reason, "Enforcing");
  EXPECT_EQ(back.ready.last_transition_time, kNow + absl::Minutes(1));
  EXPECT_TRUE(back.changed);
  EXPECT_FALSE(back.announce);

  std::vector<api::Condition> invalid = planned;
  invalid[0].status = "False";
  invalid[0].reason = "InvalidSpec";
  EXPECT_EQ(BudgetReady(budget, invalid, "gpu-queue", kNow).ready.reason, "InvalidSpec");
}

}  // namespace
}  // namespace bursar::reconcilers
