// BudgetLoop's drive: the runtime Controller (one key) runs a pass once the caches have synced,
// again at every tick, and sooner, but never sooner than min_interval after the last pass, when
// a watched change matters. Time is a SimulatedClock; nothing sleeps.

#include "controllers/reconcilers/budget_loop.h"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/gather.h"
#include "operator/json/json.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/log.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/store.h"

namespace bursar::reconcilers {
namespace {

using runtime::ReconcileResult;

// Real-time bound on waits for the loop's threads; never reached by a passing test.
constexpr absl::Duration kPatience = absl::Seconds(30);
constexpr absl::Duration kTick = absl::Seconds(15);
constexpr absl::Duration kMinInterval = absl::Seconds(1);

// The log lines, so that a test can count passes ("pass done") and wait for them.
class Lines {
 public:
  void Add(std::string_view line) {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(line);
  }
  int Count(std::string_view message) const {
    absl::MutexLock lock(&mu_);
    return CountLocked(message);
  }
  bool WaitFor(std::string_view message, int n) const {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return CountLocked(message) >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kPatience);
  }

 private:
  int CountLocked(std::string_view message) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string needle = absl::StrCat("\"msg\":\"", std::string(message), "\"");
    int n = 0;
    for (const std::string& line : lines_) {
      n += absl::StrContains(line, needle) ? 1 : 0;
    }
    return n;
  }
  mutable absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
};

json::Value Object(const std::string& name, const std::string& resource_version, int generation) {
  absl::StatusOr<json::Value> v =
      json::Parse(absl::StrCat(R"({"metadata":{"name":")", name, R"(","resourceVersion":")",
                               resource_version, R"(","generation":)", generation, "}}"));
  return *v;
}

kube::PodSummary Pod(std::string_view resource_version, kube::PodPhase phase) {
  kube::PodSummary pod;
  pod.uid = "uid-train-0";
  pod.namespace_name = kube::InternedString("ml");
  pod.name = "train-0";
  pod.resource_version = std::string(resource_version);
  pod.node_name = "gpu-1";
  pod.phase = phase;
  return pod;
}

// A loop over empty caches, with a clock, a registry and a log of its own. The loop is the
// leader, has no applier (it never writes) and no board.
class BudgetLoopTest : public ::testing::Test {
 protected:
  // Once per test: the loop registers its metrics in registry_.
  std::unique_ptr<BudgetLoop> Make(UsageSources usage = {}) {
    BudgetLoopCaches caches{.pods = &pods_,
                            .nodes = &nodes_,
                            .jobs = &jobs_,
                            .namespaces = &namespaces_,
                            .budgets = &budgets_,
                            .pools = &pools_,
                            .price_books = &price_books_,
                            .owned_quotas = &quotas_,
                            .workloads = {}};
    absl::StatusOr<std::unique_ptr<BudgetLoop>> loop = BudgetLoop::Create(
        caches, /*applier=*/nullptr, [] { return true; }, /*drift=*/nullptr, /*board=*/nullptr,
        std::move(usage), &registry_, &log_, clock_,
        {.tick = kTick, .min_interval = kMinInterval, .lookahead = absl::Seconds(30)});
    EXPECT_TRUE(loop.ok()) << loop.status();
    return loop.ok() ? *std::move(loop) : nullptr;
  }

  void SyncAll() {
    pods_.Apply(runtime::WatcherEvent<kube::PodSummary>::Restarted({}));
    for (runtime::ObjectStore* s : {&namespaces_, &budgets_, &pools_, &price_books_, &quotas_}) {
      s->Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
    }
    nodes_.Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
    jobs_.Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
  }

  // Calls the reconciler as the controller's worker would; true when it ran a pass.
  bool Reconcile(absl::Duration* requeue_after) {
    const int before = lines_.Count("pass done");
    absl::StatusOr<ReconcileResult> result = loop_->Reconcile(kBudgetLoopKey);
    if (!result.ok()) {
      ADD_FAILURE() << result.status();
      return false;
    }
    EXPECT_EQ(result->action, ReconcileResult::Action::kRequeueAfter);
    *requeue_after = result->after;
    return lines_.Count("pass done") == before + 1;
  }

  runtime::SimulatedClock clock_;
  runtime::Registry registry_;
  Lines lines_;
  runtime::Logger log_{clock_, runtime::LogLevel::kDebug, runtime::LogFormat::kJson,
                       [this](std::string_view line) { lines_.Add(line); }};
  PodViewStore pods_{PodViewOf};
  NodeStore nodes_{NodeViewOf};
  JobStore jobs_{JobViewOf};
  runtime::ObjectStore namespaces_, budgets_, pools_, price_books_, quotas_;
  std::unique_ptr<BudgetLoop> loop_;
};

TEST_F(BudgetLoopTest, APassRequeuesAtTheTickAndNothingRunsBeforeIt) {
  loop_ = Make();
  absl::Duration after;
  EXPECT_TRUE(Reconcile(&after));
  EXPECT_EQ(after, kTick);
  EXPECT_EQ(lines_.Count("caches synced"), 1);

  clock_.Advance(absl::Seconds(4));
  EXPECT_FALSE(Reconcile(&after));  // an early call (a stale requeue): no pass, the rest
  EXPECT_EQ(after, absl::Seconds(11));

  clock_.Advance(absl::Seconds(11));
  EXPECT_TRUE(Reconcile(&after));
  EXPECT_EQ(after, kTick);
  EXPECT_EQ(lines_.Count("caches synced"), 1);  // once, before the first pass
}

// Nodes and Jobs are cached as the views the planner reads (projected when the watch delivers
// them), so Gather copies views: what it returns is what NodeViewOf / JobViewOf read from the
// objects.
TEST_F(BudgetLoopTest, GatherReturnsNodesAndJobsAsTheirStoresProjectedThem) {
  loop_ = Make();
  absl::StatusOr<json::Value> node = json::Parse(R"({
    "metadata": {"name": "gpu-1", "resourceVersion": "7", "labels": {"pool": "a100"},
                 "creationTimestamp": "2026-12-01T00:00:00Z",
                 "annotations": {"bursar.dev/grown-for": "vision"}},
    "status": {"capacity": {"cpu": "96", "memory": "1Ti", "nvidia.com/gpu": "8"},
               "conditions": [{"type": "Ready", "status": "True"}]}})");
  ASSERT_TRUE(node.ok()) << node.status();
  absl::StatusOr<json::Value> job = json::Parse(R"({
    "metadata": {"name": "train", "namespace": "ml", "resourceVersion": "3", "uid": "j-1"},
    "spec": {"suspend": true, "parallelism": 2, "template": {"spec": {"containers": [
      {"name": "w", "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}}})");
  ASSERT_TRUE(job.ok()) << job.status();
  nodes_.Apply(runtime::WatcherEvent<json::Value>::Restarted({*node}));
  jobs_.Apply(runtime::WatcherEvent<json::Value>::Restarted({*job}));

  Snapshot snap = loop_->Gather(clock_.Now());
  ASSERT_EQ(snap.nodes.size(), 1u);
  EXPECT_EQ(snap.nodes[0].info.name, "gpu-1");
  EXPECT_EQ(snap.nodes[0].info.labels.at("pool"), "a100");
  EXPECT_EQ(snap.nodes[0].info.gpu_capacity, 8);
  EXPECT_EQ(snap.nodes[0].info.cpu_capacity, values::Quantity::FromUnits(96));
  EXPECT_TRUE(snap.nodes[0].ready);
  EXPECT_EQ(snap.nodes[0].grown_for, "vision");
  EXPECT_EQ(snap.nodes[0].created, absl::FromUnixSeconds(1796083200));
  ASSERT_EQ(snap.jobs.size(), 1u);
  EXPECT_EQ(snap.jobs[0].namespace_name, "ml");
  EXPECT_EQ(snap.jobs[0].name, "train");
  EXPECT_TRUE(snap.jobs[0].suspended);
  EXPECT_EQ(snap.jobs[0].gpus, 8);
  EXPECT_EQ(snap.jobs[0].kind, nullptr);  // a batch/v1 Job
}

TEST_F(BudgetLoopTest, ATriggerRunsAPassAtOnceAfterMinIntervalAndMovesTheTick) {
  loop_ = Make();
  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));
  clock_.Advance(absl::Seconds(5));
  loop_->Trigger();
  EXPECT_EQ(loop_->controller().queue().Len(), 1u);  // queued at once: min_interval has passed
  EXPECT_TRUE(Reconcile(&after));
  EXPECT_EQ(after, kTick);

  // The tick the first pass asked for (t=15 s) comes 10 s after the triggered pass: no pass;
  // the next is a whole tick after the triggered one (t=20 s), as the tick loop did.
  clock_.Advance(absl::Seconds(10));
  EXPECT_FALSE(Reconcile(&after));
  EXPECT_EQ(after, absl::Seconds(5));
  clock_.Advance(absl::Seconds(5));
  EXPECT_TRUE(Reconcile(&after));
}

TEST_F(BudgetLoopTest, TriggersComeNoSoonerThanMinIntervalAfterThePass) {
  loop_ = Make();
  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));
  clock_.Advance(absl::Milliseconds(300));
  loop_->Trigger();
  EXPECT_EQ(loop_->controller().queue().Len(), 0u);  // delayed to t=1 s, not queued yet

  // Even when the key comes early, the pass waits for min_interval.
  EXPECT_FALSE(Reconcile(&after));
  EXPECT_EQ(after, absl::Milliseconds(700));
  clock_.Advance(absl::Milliseconds(700));
  EXPECT_TRUE(Reconcile(&after));
  EXPECT_EQ(after, kTick);
}

// Pods are charged in whole seconds: a pass in the second a pod started charges it nothing, so
// its budget's status does not list it yet. That pass asks for the next one at min_interval,
// not at the tick, so a pod start reaches the status within about a second whatever second it
// started in (make bench-scale's p99 at 50,000 pods was a tick before).
TEST_F(BudgetLoopTest, APodStartedInThePassSecondBringsTheNextPassToMinInterval) {
  loop_ = Make();
  SyncAll();
  api::ComputeBudget budget;
  budget.metadata.name = "vision";
  budget.metadata.uid = "uid-vision";
  budget.metadata.generation = 1;
  budget.metadata.creation_timestamp = clock_.Now() - absl::Hours(1);
  budget.spec.scope.namespaces = {"ml"};
  budget.spec.limit.amount = values::Money::FromUnits(1000);
  budgets_.Apply(runtime::WatcherEvent<json::Value>::Applied(api::EncodeComputeBudget(budget)));
  api::PriceBook book;
  book.metadata.name = "default";
  price_books_.Apply(runtime::WatcherEvent<json::Value>::Applied(api::EncodePriceBook(book)));
  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));  // no pods: the next pass at the tick

  clock_.Advance(absl::Seconds(2));
  kube::PodSummary pod = Pod("2", kube::PodPhase::kRunning);
  pod.start_time = absl::FromUnixSeconds(absl::ToUnixSeconds(clock_.Now()));  // this second
  pods_.Apply(runtime::WatcherEvent<kube::PodSummary>::Applied(pod));
  loop_->Trigger();                // as the pod watch does
  ASSERT_TRUE(Reconcile(&after));  // charges it nothing: it started in this second

  clock_.Advance(kMinInterval);
  EXPECT_TRUE(Reconcile(&after));  // at min_interval, not at the tick: it is charged now
  clock_.Advance(kMinInterval);
  EXPECT_FALSE(Reconcile(&after));  // and then back to the tick
  EXPECT_EQ(after, kTick - kMinInterval);
}

// Under constant churn a big cluster's passes would run back to back: a triggered pass waits
// at least twice what the last one took to gather and decide (when that is over min_interval).
TEST_F(BudgetLoopTest, TriggeredPassesAreSpacedByTwiceTheLastPassesLength) {
  BudgetLoop* loop = nullptr;
  int calls = 0;
  UsageSources usage;
  usage.pod_usage = [&]() -> absl::StatusOr<std::vector<signals::PodUsage>> {
    if (++calls == 1) {
      clock_.Advance(absl::Milliseconds(700));  // a slow first pass
      loop->Trigger();                          // and a pod starts meanwhile
    }
    return std::vector<signals::PodUsage>{};
  };
  loop_ = Make(std::move(usage));
  loop = loop_.get();

  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));  // started at t0, decided at t0 + 700 ms
  clock_.Advance(kMinInterval - absl::Milliseconds(700));
  EXPECT_FALSE(Reconcile(&after));  // t0 + min_interval: too early
  EXPECT_EQ(after, absl::Milliseconds(400));
  clock_.Advance(after);
  EXPECT_TRUE(Reconcile(&after));  // t0 + 1.4 s
  clock_.Advance(kMinInterval);
  loop_->Trigger();
  EXPECT_TRUE(Reconcile(&after));  // that pass was quick: min_interval again
}

TEST_F(BudgetLoopTest, AChangeDuringAPassAsksForAnotherOne) {
  BudgetLoop* loop = nullptr;
  int calls = 0;
  UsageSources usage;
  usage.pod_usage = [&]() -> absl::StatusOr<std::vector<signals::PodUsage>> {
    if (++calls == 1) {
      loop->Trigger();  // a pod starts while the first pass gathers
    }
    return std::vector<signals::PodUsage>{};
  };
  loop_ = Make(std::move(usage));
  loop = loop_.get();

  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));
  clock_.Advance(kMinInterval);
  EXPECT_TRUE(Reconcile(&after));  // not lost, though it came while the pass ran
  clock_.Advance(kMinInterval);
  EXPECT_FALSE(Reconcile(&after));  // and served once
}

TEST_F(BudgetLoopTest, WatchedChangesThatMatterTriggerAndOthersDoNot) {
  loop_ = Make();
  loop_->WatchForChanges(pods_, budgets_, pools_, price_books_, jobs_);
  SyncAll();
  pods_.Apply(runtime::WatcherEvent<kube::PodSummary>::Applied(Pod("1", kube::PodPhase::kPending)));
  budgets_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("team-a", "1", 1)));
  jobs_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("train", "1", 1)));
  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));

  struct Case {
    const char* what;
    std::function<void()> change;
    bool triggers;
  };
  const std::vector<Case> cases = {
      {"a pod's resourceVersion only",
       [&] {
         pods_.Apply(
             runtime::WatcherEvent<kube::PodSummary>::Applied(Pod("2", kube::PodPhase::kPending)));
       },
       false},
      {"a pod starts running",
       [&] {
         pods_.Apply(
             runtime::WatcherEvent<kube::PodSummary>::Applied(Pod("3", kube::PodPhase::kRunning)));
       },
       true},
      {"a budget's status write (same generation)",
       [&] {
         budgets_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("team-a", "2", 1)));
       },
       false},
      {"a budget's spec (new generation)",
       [&] {
         budgets_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("team-a", "3", 2)));
       },
       true},
      {"a pool is created",
       [&] { pools_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("a100", "1", 1))); },
       true},
      {"a price book is deleted",
       [&] {
         price_books_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("list", "1", 1)));
         clock_.Advance(kMinInterval);
         absl::Duration ignored;
         Reconcile(&ignored);
         price_books_.Apply(runtime::WatcherEvent<json::Value>::Deleted(Object("list", "2", 1)));
       },
       true},
      {"a Job's update",
       [&] { jobs_.Apply(runtime::WatcherEvent<json::Value>::Applied(Object("train", "2", 2))); },
       false},
      {"a Job is deleted",
       [&] { jobs_.Apply(runtime::WatcherEvent<json::Value>::Deleted(Object("train", "3", 2))); },
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    c.change();
    clock_.Advance(kMinInterval);
    EXPECT_EQ(Reconcile(&after), c.triggers);
    if (c.triggers) {
      EXPECT_EQ(after, kTick);
    }
  }
}

// The whole drive, on the controller's threads: nothing until every cache has synced, then a
// pass; a trigger brings the next one; stop ends Run() after the pass in flight.
TEST_F(BudgetLoopTest, RunWaitsForEveryCacheThenPassesUntilStopped) {
  loop_ = Make();
  runtime::Wakeup stop;
  std::thread runner([&] { loop_->Run(&stop); });
  // Run() polls the caches on the clock; the queue's delay thread sleeps on it too.
  ASSERT_TRUE(clock_.AwaitSleepers(2, kPatience));
  for (runtime::ObjectStore* s : {&namespaces_, &budgets_, &pools_, &price_books_, &quotas_}) {
    s->Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
  }
  nodes_.Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
  jobs_.Apply(runtime::WatcherEvent<json::Value>::Restarted({}));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(clock_.AwaitSleepers(2, kPatience));
  EXPECT_EQ(lines_.Count("pass done"), 0);  // the pods have not synced
  EXPECT_FALSE(loop_->controller().running());

  pods_.Apply(runtime::WatcherEvent<kube::PodSummary>::Restarted({}));
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(lines_.WaitFor("pass done", 1));
  EXPECT_EQ(lines_.Count("caches synced"), 1);

  clock_.Advance(kMinInterval);
  loop_->Trigger();
  ASSERT_TRUE(lines_.WaitFor("pass done", 2));

  stop.Notify();
  runner.join();
  EXPECT_FALSE(loop_->controller().running());
}

TEST_F(BudgetLoopTest, LivenessFailsAfterAFewTicksWithoutACompletedPass) {
  EXPECT_EQ(StallTimeout(absl::Seconds(15)), absl::Seconds(60));  // the floor
  EXPECT_EQ(StallTimeout(absl::Minutes(1)), absl::Minutes(3));    // three ticks
  loop_ = Make();
  // Before the caches sync (no Reconcile call yet) it stays quiet however long it takes.
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(loop_->LivenessProblem(), "");
  EXPECT_NE(registry_.Render().find("\nbursar_last_pass_timestamp_seconds 0\n"), std::string::npos);

  absl::Duration after;
  ASSERT_TRUE(Reconcile(&after));
  const double first = absl::ToDoubleSeconds(clock_.Now() - absl::UnixEpoch());
  EXPECT_NE(registry_.Render().find(absl::StrCat("\nbursar_last_pass_timestamp_seconds ",
                                                 runtime::FormatMetricValue(first), "\n")),
            std::string::npos)
      << registry_.Render();
  clock_.Advance(absl::Seconds(59));
  EXPECT_EQ(loop_->LivenessProblem(), "");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(loop_->LivenessProblem(), "no reconcile pass completed for 1m (tick 15s)");
  clock_.Advance(absl::Seconds(132));
  EXPECT_EQ(loop_->LivenessProblem(), "no reconcile pass completed for 3m12s (tick 15s)");

  // A pass completes: alive again, and the metric moves.
  ASSERT_TRUE(Reconcile(&after));
  EXPECT_EQ(loop_->LivenessProblem(), "");
  EXPECT_NE(registry_.Render().find(absl::StrCat("\nbursar_last_pass_timestamp_seconds ",
                                                 runtime::FormatMetricValue(first + 192), "\n")),
            std::string::npos);
}

// A pass reads the cache's pod objects themselves, not copies; what metrics.k8s.io reports goes
// into the snapshot's usage table (matched by container name), never into the cached pod.
TEST_F(BudgetLoopTest, GatherSharesTheCachedPodsAndKeepsTheirUsageAside) {
  UsageSources usage;
  usage.pod_usage = []() -> absl::StatusOr<std::vector<signals::PodUsage>> {
    signals::PodUsage pod;
    pod.namespace_name = "ml";
    pod.name = "train-0";
    signals::ContainerUsage sidecar;
    sidecar.name = "sidecar";
    sidecar.cpu = values::Quantity::FromUnits(3);
    pod.containers = {sidecar};
    return std::vector<signals::PodUsage>{pod};
  };
  loop_ = Make(std::move(usage));
  SyncAll();
  kube::PodSummary pod = Pod("2", kube::PodPhase::kRunning);
  kube::ContainerSummary main;
  main.name = kube::InternedString("main");
  main.cpu_milli = 500;
  kube::ContainerSummary sidecar = main;
  sidecar.name = kube::InternedString("sidecar");
  pod.containers = {main, sidecar};
  pods_.Apply(runtime::WatcherEvent<kube::PodSummary>::Applied(pod));

  const Snapshot snap = loop_->Gather(clock_.Now());
  ASSERT_EQ(snap.pods.size(), 1u);
  std::shared_ptr<const PodView> cached = pods_.Get("ml/train-0");
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(&snap.pods[0], cached.get());
  ASSERT_TRUE(snap.pod_usage.contains("uid-train-0"));
  const engine::Containers& used = snap.pod_usage.at("uid-train-0");
  ASSERT_EQ(used.size(), 2u);
  EXPECT_FALSE(used[0].cpu_usage.has_value());
  EXPECT_EQ(used[1].cpu_usage, values::Quantity::FromUnits(3));
  EXPECT_EQ(used[1].cpu_request, values::Quantity::FromMilli(500));
}

TEST_F(BudgetLoopTest, BeforeTheFirstCompletedPassLivenessCountsFromTheCacheSync) {
  UsageSources usage;
  usage.pod_usage = []() -> absl::StatusOr<std::vector<signals::PodUsage>> {
    throw std::runtime_error("metrics client exploded");  // every pass fails
  };
  loop_ = Make(std::move(usage));
  clock_.Advance(absl::Minutes(10));  // a slow sync
  EXPECT_THROW((void)loop_->Reconcile(kBudgetLoopKey),
               std::runtime_error);  // synced; the pass threw
  EXPECT_EQ(loop_->LivenessProblem(), "");
  clock_.Advance(absl::Seconds(75));
  EXPECT_EQ(loop_->LivenessProblem(), "no reconcile pass completed for 1m15s (tick 15s)");
}

TEST_F(BudgetLoopTest, APassThatThrowsIsLoggedAndTheLoopRunsOn) {
  int calls = 0;
  UsageSources usage;
  usage.pod_usage = [&calls]() -> absl::StatusOr<std::vector<signals::PodUsage>> {
    if (++calls == 1) {
      throw std::runtime_error("metrics client exploded");
    }
    return std::vector<signals::PodUsage>{};
  };
  loop_ = Make(std::move(usage));
  SyncAll();
  runtime::Wakeup stop;
  std::thread runner([&] { loop_->Run(&stop); });
  ASSERT_TRUE(lines_.WaitFor("pass failed; retried at the next tick", 1));
  EXPECT_EQ(lines_.Count("pass done"), 0);

  clock_.Advance(kMinInterval);
  loop_->Trigger();  // a change still brings a pass at once
  ASSERT_TRUE(lines_.WaitFor("pass done", 1));
  stop.Notify();
  runner.join();
}

}  // namespace
}  // namespace bursar::reconcilers
