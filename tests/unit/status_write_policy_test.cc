// The ComputeBudget status write policy (plan_applier.h, issue 11): spend-only changes are
// written at most every status interval, decisions at once; API writes per pass are counted on
// a scripted transport. And the ledger restored from a checkpoint that is one interval old is
// still exact (the trade-off the policy makes, docs/operations.md).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/api/types.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/plan_applier.h"
#include "gtest/gtest.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/runtime/event_recorder.h"
#include "tests/unit/fake_transport.h"

namespace bursar::reconcilers {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
constexpr absl::Duration kTick = absl::Seconds(15);

class NoEvents final : public runtime::EventRecorder {
 public:
  void Record(const runtime::ObjectReference&, runtime::EventType, std::string_view,
              std::string_view) override {}
};

// B budgets "team-<i>", each scoped to its own namespace with one running 1-GPU pod started an
// hour before kStart (so no checkpoint lists it: it started before the start horizon).
Snapshot Cluster(int budgets) {
  Snapshot s;
  s.now = kStart;
  api::PriceBook book;
  book.metadata.name = "default";
  s.price_books = {book};
  NodeView node;
  node.info.name = "gpu-0";
  node.info.gpu_capacity = 8;
  node.ready = true;
  s.nodes = {node};
  for (int i = 0; i < budgets; ++i) {
    api::ComputeBudget b;
    b.metadata.name = absl::StrCat("team-", i);
    b.metadata.uid = absl::StrCat("uid-", i);
    b.metadata.generation = 1;
    b.metadata.creation_timestamp = kStart - absl::Hours(24 * 40);
    b.spec.scope.namespaces = {absl::StrCat("team-", i)};
    b.spec.limit.amount = values::Money::FromUnits(1'000'000);
    s.budgets.push_back(b);
    s.namespaces[b.metadata.name] = {};
    PodView pod;
    pod.uid = absl::StrCat("pod-", i);
    pod.namespace_name = kube::InternedString(b.metadata.name);
    pod.name = pod.uid.str();
    pod.node_name = "gpu-0";
    pod.state = PodState::kRunning;
    pod.start = kStart - absl::Hours(1);
    pod.containers = {{.cpu_milli = 0, .memory_bytes = 0, .gpus = 1}};
    s.pods.push_back(pod);
  }
  return s;
}

// A planner and an applier over a scripted transport that accepts every write; Pass() runs one
// pass and returns how many ComputeBudget status writes it sent.
class Operator {
 public:
  explicit Operator(absl::Duration status_interval)
      : client_(transport_),
        applier_(client_, events_,
                 [](const api::GPUNodePool&, std::string* why) {
                   *why = "no providers in this test";
                   return static_cast<providers::NodePoolProvider*>(nullptr);
                 },
                 {.status_interval = status_interval}) {}

  int Pass(const Snapshot& s) {
    Plan plan = planner_.Reconcile(s);
    Plan statuses;  // the budgets' statuses only: every request is one of theirs
    statuses.budgets = std::move(plan.budgets);
    for (size_t i = transport_.pending(); i < s.budgets.size(); ++i) {
      transport_.Reply(200, "{}");
    }
    Snapshot budgets_only = s;  // no price book or pool statuses to write
    budgets_only.price_books.clear();
    budgets_only.pools.clear();
    const size_t before = transport_.requests().size();
    ApplyReport report = applier_.Apply(statuses, budgets_only, {});
    EXPECT_TRUE(report.errors.empty()) << report.errors.front();
    last_ = std::move(statuses);
    int writes = 0;
    std::vector<kube::HttpRequest> sent = transport_.requests();
    for (size_t i = before; i < sent.size(); ++i) {
      EXPECT_TRUE(absl::StrContains(sent[i].path, "/computebudgets/")) << sent[i].path;
      ++writes;
    }
    EXPECT_EQ(writes + report.coalesced, static_cast<int>(s.budgets.size()));
    return writes;
  }
  const Plan& last() const { return last_; }

 private:
  kube::FakeTransport transport_;
  kube::ApiClient client_;
  NoEvents events_;
  PlanApplier applier_;
  BudgetPlanner planner_;
  Plan last_;
};

// 100 budgets whose spend moves every pass: every pass writes all 100 statuses without the
// policy (interval 0), and with the default 30 s interval and a 15 s tick only every other pass.
TEST(StatusWritePolicyTest, SpendOnlyChangesAreWrittenAtMostOncePerInterval) {
  Snapshot s = Cluster(100);
  Operator every_pass(absl::ZeroDuration());
  Operator coalescing(kDefaultStatusInterval);
  std::vector<int> before, after;
  for (int pass = 0; pass < 5; ++pass) {
    s.now = kStart + pass * kTick;
    before.push_back(every_pass.Pass(s));
    after.push_back(coalescing.Pass(s));
  }
  EXPECT_EQ(before, (std::vector<int>{100, 100, 100, 100, 100}));
  EXPECT_EQ(after, (std::vector<int>{100, 0, 100, 0, 100}));
  // What was not written is spend alone: the statuses planned still move every pass.
  EXPECT_GT(coalescing.last().budgets[0].status.spent, values::Money());
}

// status.allowedGPUs moves with time as spend does (money left over time left): at $100M a
// month it changes by GPUs every pass, and it is coalesced like spend. What enforces is written
// elsewhere at once (quotas, status.admission.allowed). make bench-scale at 10,000 pods and 100
// such budgets measured 64 status writes a pass before this.
TEST(StatusWritePolicyTest, AnAllowanceThatMovesWithTimeIsCoalescedLikeSpend) {
  Snapshot s = Cluster(100);
  for (api::ComputeBudget& b : s.budgets) {
    b.spec.limit.amount = values::Money::FromUnits(100'000'000);
  }
  Operator coalescing(kDefaultStatusInterval);
  std::vector<int> writes;
  std::vector<int64_t> allowed;
  for (int pass = 0; pass < 5; ++pass) {
    s.now = kStart + pass * kTick;
    writes.push_back(coalescing.Pass(s));
    allowed.push_back(coalescing.last().budgets[0].status.allowed_gpus);
  }
  EXPECT_NE(allowed.front(), allowed.back()) << "the allowance should move in this test";
  EXPECT_EQ(writes, (std::vector<int>{100, 0, 100, 0, 100}));
}

// Decisions are written at once: a pod that starts (the checkpoint lists it), a pod that goes
// away (its account closes), a new phase; only the budget concerned is written. (The interval is
// long here, so that no write is due to time.)
TEST(StatusWritePolicyTest, PodsStartingOrEndingAndNewPhasesAreWrittenAtOnce) {
  Snapshot s = Cluster(10);
  Operator op(absl::Minutes(10));
  EXPECT_EQ(op.Pass(s), 10);

  s.now += kTick;
  PodView started = s.pods[3];
  started.uid = "pod-3b";
  started.name = "pod-3b";
  started.start = s.now - absl::Seconds(5);
  s.pods.push_back(started);
  EXPECT_EQ(op.Pass(s), 1) << "team-3's new pod is in its status within the pass";

  s.now += kTick;
  EXPECT_EQ(op.Pass(s), 0) << "spend alone";

  s.now += kTick;
  s.pods.EraseAt(5);  // team-5's pod went away
  EXPECT_EQ(op.Pass(s), 1) << "team-5's closed account is checkpointed at once";

  s.now += kTick;
  s.budgets[7].spec.limit.amount = values::Money::FromMicros(1);  // exhausted now
  EXPECT_EQ(op.Pass(s), 1) << "team-7's new phase is written at once";
  EXPECT_NE(op.last().budgets[7].status.phase, api::BudgetPhase::kWithinBudget);
}

// The trade-off: a restart re-meters from a checkpoint up to one interval old, and the result is
// exact: the same spend as an operator that never stopped, for pods running since before the
// checkpoint, one started after it, and one that ended after it.
TEST(StatusWritePolicyTest, ARestartFromACheckpointOneIntervalOldIsExact) {
  Snapshot s = Cluster(1);
  PodView ends = s.pods[0];
  ends.uid = "ends";
  ends.start = kStart - absl::Minutes(30);
  s.pods.push_back(ends);
  BudgetPlanner never_stopped;
  const api::ComputeBudgetStatus checkpoint = never_stopped.Reconcile(s).budgets[0].status;
  // Passes whose statuses (spend only) were not written, then a crash.
  PodView late = s.pods[0];
  late.uid = "late";
  late.start = kStart + absl::Seconds(10);
  s.pods.push_back(late);
  for (absl::Duration t : {absl::Seconds(15), absl::Seconds(25)}) {
    s.now = kStart + t;
    (void)never_stopped.Reconcile(s);
  }
  s.pods.Mutable(1).state = PodState::kEnded;
  s.pods.Mutable(1).end = kStart + absl::Seconds(28);
  s.now = kStart + absl::Seconds(40);
  const values::Money exact = never_stopped.Reconcile(s).budgets[0].status.spent;

  BudgetPlanner restarted;
  s.budgets[0].status = checkpoint;
  const values::Money spent = restarted.Reconcile(s).budgets[0].status.spent;
  EXPECT_GT(spent, checkpoint.spent);
  EXPECT_EQ(spent, exact) << "the checkpoint said " << checkpoint.spent.ToString();
}

// Fencing: each budget status write carries the resourceVersion the budget had when this
// process last wrote it (else as cached), so a write computed on an older view than the stored
// status (a deposed leader's) is refused. A refusal is quiet up to kMaxQuietConflicts in a row;
// the next write uses the cache's version.
TEST(StatusWritePolicyTest, StatusWritesAreFencedByTheVersionLastWritten) {
  kube::FakeTransport transport;
  kube::ApiClient client(transport);
  NoEvents events;
  PlanApplier applier(client, events, [](const api::GPUNodePool&, std::string* why) {
    *why = "no providers in this test";
    return static_cast<providers::NodePoolProvider*>(nullptr);
  });
  Snapshot s = Cluster(1);
  s.price_books.clear();  // the budget's status writes only
  s.budgets[0].metadata.resource_version = "7";
  Plan plan;
  plan.budgets.push_back({});
  plan.budgets[0].name = "team-0";
  size_t sent = 0;
  // Applies `plan` with a new spend (so it is due) against the scripted `replies`; returns the
  // resourceVersion each request carried.
  auto pass = [&](int spend, std::vector<std::pair<int, std::string>> replies) {
    plan.budgets[0].status.spent = values::Money::FromUnits(spend);
    plan.budgets[0].status.phase =
        spend % 2 == 0 ? api::BudgetPhase::kWithinBudget : api::BudgetPhase::kAtRisk;
    for (auto& [code, body] : replies) {
      transport.Reply(code, body);
    }
    ApplyReport report = applier.Apply(plan, s, {});
    std::vector<std::string> versions;
    std::vector<kube::HttpRequest> requests = transport.requests();
    for (; sent < requests.size(); ++sent) {
      absl::StatusOr<json::Value> body = json::Parse(requests[sent].body);
      versions.push_back(body.ok() ? json::StringAt(*body, "metadata.resourceVersion") : "?");
    }
    return std::make_pair(report, versions);
  };
  const std::string conflict =
      R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"Conflict",)"
      R"("message":"the object has been modified","code":409})";
  auto [first, v1] = pass(1, {{200, R"({"metadata":{"resourceVersion":"8"}})"}});
  EXPECT_EQ(v1, std::vector<std::string>{"7"}) << "the cache's version";
  auto [second, v2] = pass(2, {{409, conflict}});
  EXPECT_EQ(v2, std::vector<std::string>{"8"}) << "the version our write left";
  EXPECT_EQ(second.conflicts, 1);
  EXPECT_TRUE(second.errors.empty());
  EXPECT_TRUE(second.status_failures.empty()) << "quiet: no Ready=False write, no Event";
  s.budgets[0].metadata.resource_version = "9";  // the cache caught up with the other write
  auto [third, v3] = pass(3, {{200, R"({"metadata":{"resourceVersion":"10"}})"}});
  EXPECT_EQ(v3, std::vector<std::string>{"9"});
  EXPECT_EQ(third.writes, 1);
  // Refused again and again (something else keeps writing it): the third is reported, with the
  // Ready=False write that marks the stored status stale.
  for (int i = 1; i <= kMaxQuietConflicts; ++i) {
    std::vector<std::pair<int, std::string>> replies = {{409, conflict}};
    if (i == kMaxQuietConflicts) {
      replies.push_back({200, "{}"});
    }
    auto [report, versions] = pass(3 + i, replies);
    EXPECT_EQ(versions.front(), i == 1 ? "10" : "9");
    EXPECT_EQ(report.status_failures.count("team-0"), i == kMaxQuietConflicts ? 1u : 0u) << i;
    EXPECT_EQ(versions.size(), i == kMaxQuietConflicts ? 2u : 1u) << i;
  }
}

}  // namespace
}  // namespace bursar::reconcilers
