// Integration tests of reconcilers::PlanApplier against a real kube-apiserver: what a plan
// leaves in the API server — owned ResourceQuotas (server-side apply, owner reference, labels,
// only Bursar's fields; stale ones deleted, frozen budgets' kept), the Kueue ClusterQueue
// flavors' nominalQuota (Kueue's own CRD), Job suspension with Bursar's annotations, budget status,
// and the Ready conditions of price books and of objects Bursar cannot decode.

#include "controllers/reconcilers/plan_applier.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/cluster_queue_quota.h"
#include "controllers/reconcilers/gather.h"
#include "tests/integration/cluster_test_base.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::reconcilers {
namespace {

using testing::ClusterTest;

// Records events in memory: the API event writer has its own tests.
class MemoryEvents final : public runtime::EventRecorder {
 public:
  void Record(const runtime::ObjectReference& object, runtime::EventType, std::string_view reason,
              std::string_view) override {
    reasons.push_back(absl::StrCat(object.kind, "/", object.name, ":", std::string(reason)));
  }
  std::vector<std::string> reasons;
};

class PlanApplierTest : public ClusterTest {
 protected:
  PlanApplier Applier(PlanApplierOptions options = {}) {
    return PlanApplier(
        client(), events_,
        [](const api::GPUNodePool&, std::string* why) {
          *why = "no providers in this test";
          return static_cast<providers::NodePoolProvider*>(nullptr);
        },
        options);
  }
  // Applies the ComputeBudget CRD and creates budget `name`: $10 over namespace x, with
  // `period_and_more` after its limit. Returns the budget as the API server stored it.
  absl::StatusOr<json::Value> CreateBudget(
      const std::string& name,
      const std::string& period_and_more = R"("period":{"type":"Monthly"})") {
    absl::StatusOr<std::vector<json::Value>> crds =
        yaml::ReadYamlFile(std::string(BURSAR_SOURCE_DIR) + "/crds/bursar.dev_computebudgets.yaml");
    if (!crds.ok()) {
      return crds.status();
    }
    ApplyCrd((*crds)[0]);
    const std::string object = absl::StrCat(
        R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","metadata":{"name":")", name,
        R"("},"spec":{"scope":{"namespaces":["x"]},"limit":{"amount":"10","currency":"USD"},)",
        period_and_more, "}}");
    return client().Create(kube::kComputeBudgets, "", JsonOrFail(object));
  }
  std::vector<json::Value> OwnedQuotas(const std::string& ns) {
    kube::ListOptions options;
    options.label_selector = absl::StrCat(kManagedByLabel, "=", kManagedByValue);
    absl::StatusOr<kube::ObjectList> list = client().ListAll(kube::kResourceQuotas, ns, options);
    EXPECT_TRUE(list.ok()) << list.status();
    return list.ok() ? list->items : std::vector<json::Value>{};
  }
  // Creates the v1beta2 ClusterQueue `name` with `spec` (JSON), through Kueue's own CRD.
  absl::StatusOr<json::Value> CreateClusterQueue(const std::string& name, const char* spec) {
    return client().Create(
        kube::kKueueClusterQueues, "",
        JsonOrFail(absl::StrCat(
            R"({"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"ClusterQueue","metadata":{"name":")",
            name, R"("},"spec":)", spec, "}")));
  }
  MemoryEvents events_;
};

TEST_F(PlanApplierTest, QuotasAreAppliedOwnedAndRemovedWhenNoLongerPlanned) {
  const std::string ns = Namespace();
  // Another field manager sets a cpu limit on the same quota: Bursar must leave it alone.
  Snapshot snap;
  Plan plan;
  plan.quotas = {{.namespace_name = ns, .budget = "team-a", .gpus = 3, .cpu = {}, .memory = {}}};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  std::vector<json::Value> owned = OwnedQuotas(ns);
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(json::StringAt(owned[0], "metadata.name"), "bursar-team-a");
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaGpuResource), "3");
  EXPECT_EQ(json::MemberStringAt(owned[0], "metadata.labels", kBudgetLabel), "team-a");

  absl::StatusOr<json::Value> other = client().Patch(
      kube::kResourceQuotas, ns, "bursar-team-a", kube::PatchType::kMerge,
      JsonOrFail(R"({"spec":{"hard":{"limits.cpu":"10"}}})"), {.field_manager = "someone-else"});
  ASSERT_TRUE(other.ok()) << other.status();

  plan.quotas = {{.namespace_name = ns, .budget = "team-a", .gpus = 1, .cpu = {}, .memory = {}}};
  report = applier.Apply(plan, snap, OwnedQuotas(ns));
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  owned = OwnedQuotas(ns);
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaGpuResource), "1");
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", "limits.cpu"), "10");

  // Unchanged: no write at all.
  report = applier.Apply(plan, snap, OwnedQuotas(ns));
  EXPECT_EQ(report.writes, 0);

  // A frozen budget keeps its quota; otherwise a quota the plan no longer wants is deleted.
  plan.quotas.clear();
  plan.frozen_budgets = {"team-a"};
  applier.Apply(plan, snap, OwnedQuotas(ns));
  EXPECT_EQ(OwnedQuotas(ns).size(), 1u);
  plan.frozen_budgets.clear();
  report = applier.Apply(plan, snap, OwnedQuotas(ns));
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_TRUE(OwnedQuotas(ns).empty());
}

// A budget that lists cpu and memory in spec.quota.resources: its quota limits requests.cpu and
// requests.memory too. The API server stores quantities in canonical form ("2000m" comes back as
// "2"), and a quota that already says what the plan wants is not written again; when the budget
// stops listing cpu, Bursar's field goes (server-side apply).
TEST_F(PlanApplierTest, QuotasLimitCpuAndMemoryWhenTheBudgetListsThem) {
  const std::string ns = Namespace();
  Snapshot snap;
  Plan plan;
  plan.quotas = {{.namespace_name = ns,
                  .budget = "team-c",
                  .gpus = 2,
                  .cpu = values::Quantity::FromMilli(2000),
                  .memory = values::Quantity::FromUnits(int64_t{3} << 30,
                                                        values::Quantity::Format::kBinarySI)}};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  std::vector<json::Value> owned = OwnedQuotas(ns);
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaGpuResource), "2");
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaCpuResource), "2");
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaMemoryResource), "3Gi");

  report = applier.Apply(plan, snap, OwnedQuotas(ns));
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(report.writes, 0) << "a quota already as planned (in canonical form) was rewritten";

  plan.quotas[0].cpu.reset();
  report = applier.Apply(plan, snap, OwnedQuotas(ns));
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  owned = OwnedQuotas(ns);
  ASSERT_EQ(owned.size(), 1u);
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaCpuResource), "");
  EXPECT_EQ(json::MemberStringAt(owned[0], "spec.hard", kQuotaMemoryResource), "3Gi");
}

// Against Kueue's own CRD (its schema and validation rules, v1beta2): the flavors of the GPU
// group are written in the queue's order up to the allowance, borrowing is closed in a cohort,
// the capacities are recorded, and the cpu group is left alone.
TEST_F(PlanApplierTest, ClusterQueueFlavorsAreCappedAtTheAllowanceInPlace) {
  REQUIRE_ENV(testing::kKueueCrdsEnv, "installs Kueue's own ClusterQueue CRD",
              testing::kKueueCrdsHarness);
  InstallKueueCrds();
  const std::string name = Id();
  absl::StatusOr<json::Value> cq =
      CreateClusterQueue(name, R"({"cohortName":"lab","resourceGroups":[
          {"coveredResources":["cpu"],"flavors":[{"name":"default","resources":[
            {"name":"cpu","nominalQuota":"64"}]}]},
          {"coveredResources":["nvidia.com/gpu"],"flavors":[
            {"name":"spot","resources":[{"name":"nvidia.com/gpu","nominalQuota":"4"}]},
            {"name":"on-demand","resources":[{"name":"nvidia.com/gpu","nominalQuota":"4"}]}]}]})");
  ASSERT_TRUE(cq.ok()) << cq.status();
  Plan plan;
  plan.cluster_queues = {{.cluster_queue = name,
                          .budget = "team-a",
                          .allowances = {{"nvidia.com/gpu", values::Quantity::FromUnits(5)}},
                          .hold = false}};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, Snapshot{}, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(report.writes, 1);
  auto resource = [](const json::Value& queue, size_t group, size_t flavor) {
    return PathOrFail(queue, "spec.resourceGroups")
        .elements()[group]
        .Find("flavors")
        ->elements()[flavor]
        .Find("resources")
        ->elements()[0];
  };
  absl::StatusOr<json::Value> got = client().Get(kube::kKueueClusterQueues, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(FieldOrFail(resource(*got, 1, 0), "nominalQuota").text(), "4");
  EXPECT_EQ(FieldOrFail(resource(*got, 1, 1), "nominalQuota").text(), "1");
  EXPECT_EQ(FieldOrFail(resource(*got, 1, 1), "borrowingLimit").text(), "0");
  EXPECT_EQ(FieldOrFail(resource(*got, 0, 0), "nominalQuota").text(), "64");
  EXPECT_EQ(resource(*got, 0, 0).Find("borrowingLimit"), nullptr);
  EXPECT_EQ(json::StringAt(*got, "spec.cohortName"), "lab");
  EXPECT_EQ(json::MemberStringAt(*got, "metadata.annotations", kFlavorQuotasAnnotation),
            R"({"on-demand/nvidia.com/gpu":"4","spot/nvidia.com/gpu":"4"})");

  // Lower, then release: the recorded capacities bound each flavor again.
  plan.cluster_queues[0].allowances["nvidia.com/gpu"] = values::Quantity::FromUnits(2);
  ASSERT_TRUE(applier.Apply(plan, Snapshot{}, {}).errors.empty());
  plan.cluster_queues[0].allowances["nvidia.com/gpu"] = values::Quantity::FromUnits(100);
  report = applier.Apply(plan, Snapshot{}, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  got = client().Get(kube::kKueueClusterQueues, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(FieldOrFail(resource(*got, 1, 0), "nominalQuota").text(), "4");
  EXPECT_EQ(FieldOrFail(resource(*got, 1, 1), "nominalQuota").text(), "4");
  // Nothing to change: nothing written.
  EXPECT_EQ(applier.Apply(plan, Snapshot{}, {}).writes, 0);
  (void)client().Delete(kube::kKueueClusterQueues, "", name);
}

// A money budget that lists cpu and memory: their allowances cap the queue's cpu and memory
// entries as the GPU quota caps the GPU flavors, and what the API server stored in its canonical
// form ("12500m", "48Gi") is not written again.
TEST_F(PlanApplierTest, ClusterQueueCpuAndMemoryAreCappedAtTheirAllowances) {
  REQUIRE_ENV(testing::kKueueCrdsEnv, "installs Kueue's own ClusterQueue CRD",
              testing::kKueueCrdsHarness);
  InstallKueueCrds();
  const std::string name = Id();
  absl::StatusOr<json::Value> cq = CreateClusterQueue(name, R"({"resourceGroups":[
          {"coveredResources":["cpu","memory"],"flavors":[{"name":"default","resources":[
            {"name":"cpu","nominalQuota":"64"},{"name":"memory","nominalQuota":"256Gi"}]}]},
          {"coveredResources":["nvidia.com/gpu"],"flavors":[
            {"name":"on-demand","resources":[{"name":"nvidia.com/gpu","nominalQuota":"8"}]}]}]})");
  ASSERT_TRUE(cq.ok()) << cq.status();
  Plan plan;
  plan.cluster_queues = {
      {.cluster_queue = name,
       .budget = "team-a",
       .allowances = {{"nvidia.com/gpu", values::Quantity::FromUnits(3)},
                      {"cpu", values::Quantity::FromMilli(12'500)},
                      {"memory", values::Quantity::FromUnits(int64_t{48} << 30,
                                                             values::Quantity::Format::kBinarySI)}},
       .hold = false}};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, Snapshot{}, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(report.writes, 1);
  absl::StatusOr<json::Value> got = client().Get(kube::kKueueClusterQueues, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  const json::Value& groups = PathOrFail(*got, "spec.resourceGroups");
  const json::Value& cpu_memory =
      *groups.elements()[0].Find("flavors")->elements()[0].Find("resources");
  EXPECT_EQ(FieldOrFail(cpu_memory.elements()[0], "nominalQuota").text(), "12500m");
  EXPECT_EQ(FieldOrFail(cpu_memory.elements()[1], "nominalQuota").text(), "48Gi");
  const json::Value& gpu = *groups.elements()[1].Find("flavors")->elements()[0].Find("resources");
  EXPECT_EQ(FieldOrFail(gpu.elements()[0], "nominalQuota").text(), "3");
  EXPECT_EQ(json::MemberStringAt(*got, "metadata.annotations", kFlavorQuotasAnnotation),
            R"({"default/cpu":"64","default/memory":"256Gi","on-demand/nvidia.com/gpu":"8"})");
  EXPECT_EQ(applier.Apply(plan, Snapshot{}, {}).writes, 0) << "rewrote an unchanged queue";
  (void)client().Delete(kube::kKueueClusterQueues, "", name);
}

// A budget in Kueue mode whose ClusterQueue does not exist: Ready=False naming it and one Warning
// Event instead of an error logged every pass; Ready again once the queue exists.
TEST_F(PlanApplierTest, ABudgetWhoseClusterQueueIsMissingSaysSoUntilItExists) {
  REQUIRE_ENV(testing::kKueueCrdsEnv, "installs Kueue's own ClusterQueue CRD",
              testing::kKueueCrdsHarness);
  InstallKueueCrds();
  const std::string name = Id();
  const std::string queue = Id();
  absl::StatusOr<json::Value> created =
      CreateBudget(name, absl::StrCat(R"("period":{"type":"Monthly"},)",
                                      R"("quota":{"mode":"KueueClusterQueue","clusterQueue":")",
                                      queue, R"("})"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto snapshot = [&] {
    Snapshot snap;
    snap.now = absl::Now();
    absl::StatusOr<json::Value> got = client().Get(kube::kComputeBudgets, "", name);
    EXPECT_TRUE(got.ok()) << got.status();
    if (got.ok()) {
      absl::StatusOr<api::ComputeBudget> budget =
          api::DecodeComputeBudget(*got, {.source = "apiserver", .reject_unknown_fields = false});
      EXPECT_TRUE(budget.ok()) << budget.status();
      if (budget.ok()) {
        snap.budgets = {*budget};
      }
    }
    return snap;
  };
  auto ready = [&] {
    absl::StatusOr<json::Value> got = client().Get(kube::kComputeBudgets, "", name);
    const json::Value* conditions = got.ok() ? got->FindPath("status.conditions") : nullptr;
    for (size_t i = 0; conditions != nullptr && i < conditions->elements().size(); ++i) {
      const json::Value& c = conditions->elements()[i];
      if (json::StringAt(c, "type") == "Ready") {
        return absl::StrCat(json::StringAt(c, "status"), " ", json::StringAt(c, "reason"), ": ",
                            json::StringAt(c, "message"));
      }
    }
    return std::string("no Ready");
  };
  Plan plan;
  BudgetOutcome outcome;
  outcome.name = name;
  outcome.status.conditions = {{.type = "Ready",
                                .status = "True",
                                .reason = "Enforcing",
                                .message = "within budget",
                                .last_transition_time = absl::Now(),
                                .observed_generation = 1}};
  plan.budgets = {outcome};
  plan.cluster_queues = {{.cluster_queue = queue,
                          .budget = name,
                          .allowances = {{"nvidia.com/gpu", values::Quantity::FromUnits(5)}},
                          .hold = false}};
  PlanApplier applier = Applier();
  for (int pass = 0; pass < 3; ++pass) {
    ApplyReport report = applier.Apply(plan, snapshot(), {});
    EXPECT_TRUE(report.errors.empty()) << report.errors[0];
  }
  EXPECT_EQ(ready().rfind(absl::StrCat("False ClusterQueueNotFound: spec.quota.clusterQueue: "
                                       "ClusterQueue \"",
                                       queue, "\" does not exist"),
                          0),
            0u)
      << ready();
  EXPECT_EQ(events_.reasons, std::vector<std::string>{
                                 absl::StrCat("ComputeBudget/", name, ":ClusterQueueNotFound")});

  absl::StatusOr<json::Value> cq = CreateClusterQueue(queue, R"({"resourceGroups":[
          {"coveredResources":["nvidia.com/gpu"],"flavors":[
            {"name":"on-demand","resources":[{"name":"nvidia.com/gpu","nominalQuota":"8"}]}]}]})");
  ASSERT_TRUE(cq.ok()) << cq.status();
  ApplyReport report = applier.Apply(plan, snapshot(), {});
  EXPECT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(ready(), "True Enforcing: within budget");
  EXPECT_EQ(events_.reasons.size(), 1u);
  (void)client().Delete(kube::kKueueClusterQueues, "", queue);
  (void)client().Delete(kube::kComputeBudgets, "", name);
}

TEST_F(PlanApplierTest, JobsAreSuspendedWithBursarsAnnotationsAndResumedWithoutThem) {
  const std::string ns = Namespace();
  absl::StatusOr<json::Value> job =
      client().Create(kube::kJobs, ns, JsonOrFail(R"({"apiVersion":"batch/v1","kind":"Job",
        "metadata":{"name":"train"},"spec":{"suspend":false,"template":{"spec":{
        "restartPolicy":"Never","containers":[{"name":"c","image":"registry.invalid/x:1"}]}}}})"));
  ASSERT_TRUE(job.ok()) << job.status();
  Plan plan;
  plan.jobs = {{ns, "train", "team-a", true, reconcilers::JobRung::kDrain, "drained"}};
  PlanApplier applier = Applier();
  ASSERT_TRUE(applier.Apply(plan, Snapshot{}, {}).errors.empty());
  absl::StatusOr<json::Value> got = client().Get(kube::kJobs, ns, "train");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(PathOrFail(*got, "spec.suspend").bool_value());
  EXPECT_EQ(json::MemberStringAt(*got, "metadata.annotations", kHeldByAnnotation), "team-a");
  EXPECT_EQ(json::MemberStringAt(*got, "metadata.annotations", kHeldRungAnnotation), "Drain");
  EXPECT_EQ(events_.reasons, std::vector<std::string>{"Job/train:BursarDrain"});

  plan.jobs = {{ns, "train", "team-a", false, reconcilers::JobRung::kRelease, "released"}};
  ASSERT_TRUE(applier.Apply(plan, Snapshot{}, {}).errors.empty());
  got = client().Get(kube::kJobs, ns, "train");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(PathOrFail(*got, "spec.suspend").bool_value());
  EXPECT_EQ(json::MemberStringAt(*got, "metadata.annotations", kHeldByAnnotation), "");
}

TEST_F(PlanApplierTest, BudgetStatusIsAppliedThroughTheStatusSubresource) {
  const std::string name = Id();
  absl::StatusOr<json::Value> created = CreateBudget(name);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<api::ComputeBudget> budget =
      api::DecodeComputeBudget(*created, {.source = "apiserver", .reject_unknown_fields = false});
  ASSERT_TRUE(budget.ok()) << budget.status();
  Snapshot snap;
  snap.budgets = {*budget};
  Plan plan;
  BudgetOutcome outcome;
  outcome.name = name;
  outcome.status.observed_generation = 1;
  outcome.status.spent = values::Money::FromMicros(1'500'000);
  outcome.status.phase = api::BudgetPhase::kThrottled;
  plan.budgets = {outcome};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  absl::StatusOr<json::Value> got = client().Get(kube::kComputeBudgets, "", name);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(json::StringAt(*got, "status.spent"), "1.50");
  EXPECT_EQ(json::StringAt(*got, "status.phase"), "Throttled");
  // The spec was not touched, and the same status again is not written again.
  EXPECT_EQ(json::StringAt(*got, "spec.limit.amount"), "10");
  EXPECT_EQ(applier.Apply(plan, snap, {}).writes, 0);
  (void)client().Delete(kube::kComputeBudgets, "", name);
}

// The Ready condition of an object Bursar cannot decode is a merge patch of its conditions: the
// rest of the status (a budget's spend and ledger) stays, and it is announced once.
TEST_F(PlanApplierTest, AnUndecodableBudgetGetsReadyFalseKeepingItsStatusAndOneEvent) {
  const std::string name = Id();
  absl::StatusOr<json::Value> created =
      CreateBudget(name, R"("period":{"type":"Daily","timeZone":"Mars/Olympus_Mons"})");
  ASSERT_TRUE(created.ok()) << created.status();
  // Its status from a time it could be used.
  Plan earlier;
  BudgetOutcome outcome;
  outcome.name = name;
  outcome.status.spent = values::Money::FromMicros(1'500'000);
  earlier.budgets = {outcome};
  Snapshot with_budget;
  with_budget.budgets = {api::ComputeBudget{}};
  with_budget.budgets[0].metadata.name = name;
  PlanApplier applier = Applier();
  ASSERT_TRUE(applier.Apply(earlier, with_budget, {}).errors.empty());

  absl::StatusOr<api::ComputeBudget> decoded =
      api::DecodeComputeBudget(*created, {.source = "apiserver", .reject_unknown_fields = false});
  ASSERT_FALSE(decoded.ok());
  Snapshot snap;
  snap.now = absl::FromUnixSeconds(1'800'000'000);
  absl::StatusOr<json::Value> stored = client().Get(kube::kComputeBudgets, "", name);
  ASSERT_TRUE(stored.ok());
  snap.rejected = {
      RejectedObjectOf("ComputeBudget", *stored, std::string(decoded.status().message()))};
  ApplyReport report = applier.Apply(Plan{}, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(report.writes, 1);
  stored = client().Get(kube::kComputeBudgets, "", name);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(json::StringAt(*stored, "status.spent"), "1.50");
  const json::Value* conditions = stored->FindPath("status.conditions");
  ASSERT_NE(conditions, nullptr);
  ASSERT_EQ(conditions->elements().size(), 1u);
  const json::Value& ready = conditions->elements()[0];
  EXPECT_EQ(json::StringAt(ready, "type"), "Ready");
  EXPECT_EQ(json::StringAt(ready, "status"), "False");
  EXPECT_EQ(json::StringAt(ready, "reason"), "InvalidSpec");
  EXPECT_NE(json::StringAt(ready, "message").find("is not a known IANA time zone"),
            std::string::npos);
  EXPECT_EQ(events_.reasons, std::vector<std::string>{"ComputeBudget/" + name + ":InvalidSpec"});

  // The next passes read it back: no write, no second Event.
  snap.rejected = {
      RejectedObjectOf("ComputeBudget", *stored, std::string(decoded.status().message()))};
  snap.now += absl::Seconds(15);
  EXPECT_EQ(applier.Apply(Plan{}, snap, {}).writes, 0);
  EXPECT_EQ(events_.reasons.size(), 1u);

  // Fixed (it decodes; the planner writes its Ready), then broken again: news again.
  snap.rejected.clear();
  EXPECT_EQ(applier.Apply(Plan{}, snap, {}).writes, 0);
  snap.rejected = {
      RejectedObjectOf("ComputeBudget", *stored, std::string(decoded.status().message()))};
  snap.rejected[0].conditions = {{.type = "Ready",
                                  .status = "True",
                                  .reason = "Enforcing",
                                  .message = "",
                                  .last_transition_time = snap.now,
                                  .observed_generation = 1}};
  EXPECT_EQ(applier.Apply(Plan{}, snap, {}).writes, 1);
  EXPECT_EQ(events_.reasons.size(), 2u);
  (void)client().Delete(kube::kComputeBudgets, "", name);
}

TEST_F(PlanApplierTest, APriceBookGetsReadyTrueThroughItsStatusSubresourceOnce) {
  absl::StatusOr<std::vector<json::Value>> crds =
      yaml::ReadYamlFile(std::string(BURSAR_SOURCE_DIR) + "/crds/bursar.dev_pricebooks.yaml");
  ASSERT_TRUE(crds.ok()) << crds.status();
  ApplyCrd((*crds)[0]);
  const std::string name = Id();
  absl::StatusOr<json::Value> created = client().Create(
      kube::kPriceBooks, "",
      JsonOrFail(absl::StrCat(R"({"apiVersion":"bursar.dev/v1alpha1","kind":"PriceBook",
        "metadata":{"name":")",
                              name, R"("},"spec":{"currency":"EUR"}})")));
  ASSERT_TRUE(created.ok()) << created.status();
  auto decode = [&](const json::Value& v) {
    absl::StatusOr<api::PriceBook> book =
        api::DecodePriceBook(v, {.source = "apiserver", .reject_unknown_fields = false});
    EXPECT_TRUE(book.ok()) << book.status();
    return book.ok() ? *book : api::PriceBook{};
  };
  Snapshot snap;
  snap.now = absl::FromUnixSeconds(1'800'000'000);
  snap.price_books = {decode(*created)};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(Plan{}, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_EQ(report.writes, 1);
  absl::StatusOr<json::Value> stored = client().Get(kube::kPriceBooks, "", name);
  ASSERT_TRUE(stored.ok());
  const json::Value* conditions = stored->FindPath("status.conditions");
  ASSERT_NE(conditions, nullptr);
  ASSERT_EQ(conditions->elements().size(), 1u);
  EXPECT_EQ(json::StringAt(conditions->elements()[0], "status"), "True");
  EXPECT_EQ(json::StringAt(conditions->elements()[0], "reason"), "Valid");
  EXPECT_TRUE(events_.reasons.empty());  // Ready=True is not announced

  snap.price_books = {decode(*stored)};
  snap.now += absl::Seconds(15);
  EXPECT_EQ(applier.Apply(Plan{}, snap, {}).writes, 0);
  (void)client().Delete(kube::kPriceBooks, "", name);
}

// A status the API server refuses (422: more ledger entries than the schema allows) is not
// silent: the report names it, a Warning Event is recorded, and the stored status says
// Ready=False, StatusWriteFailed at once (the Ready condition alone is accepted), so that
// `kubectl get computebudgets` never shows the stale Spent as Ready. A later full write takes
// the condition back.
TEST_F(PlanApplierTest, ARefusedBudgetStatusMarksTheStoredStatusNotReady) {
  const std::string name = Id();
  absl::StatusOr<json::Value> created = CreateBudget(name);
  ASSERT_TRUE(created.ok()) << created.status();
  absl::StatusOr<api::ComputeBudget> budget =
      api::DecodeComputeBudget(*created, {.source = "apiserver", .reject_unknown_fields = false});
  ASSERT_TRUE(budget.ok()) << budget.status();
  Snapshot snap;
  snap.now = absl::FromUnixSeconds(1'800'000'000);
  snap.budgets = {*budget};
  Plan plan;
  BudgetOutcome outcome;
  outcome.name = name;
  outcome.status.observed_generation = 1;
  outcome.status.spent = values::Money::FromMicros(1'500'000);
  outcome.status.conditions = {{.type = "Ready",
                                .status = "True",
                                .reason = "Enforcing",
                                .message = "within budget",
                                .last_transition_time = snap.now,
                                .observed_generation = 1}};
  plan.budgets = {outcome};
  PlanApplier applier = Applier();
  ApplyReport report = applier.Apply(plan, snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];

  // One entry more than the schema's maxItems: the whole status is refused.
  values::LedgerState ledger;
  ledger.period = {snap.now - absl::Hours(1), snap.now + absl::Hours(1)};
  ledger.watermark = snap.now;
  for (size_t i = 0; i <= values::kMaxCheckpointPods; ++i) {
    ledger.pods.push_back({absl::StrCat("uid-", i), snap.now});
  }
  plan.budgets[0].status.ledger = ledger;
  plan.budgets[0].status.spent = values::Money::FromMicros(2'500'000);
  events_.reasons.clear();
  report = applier.Apply(plan, snap, {});
  ASSERT_EQ(report.status_failures.count(name), 1u);
  EXPECT_NE(report.status_failures[name].find("422 Invalid"), std::string::npos)
      << report.status_failures[name];
  EXPECT_EQ(events_.reasons,
            std::vector<std::string>{"ComputeBudget/" + name + ":" + kStatusWriteFailedReason});
  absl::StatusOr<json::Value> got = client().Get(kube::kComputeBudgets, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(json::StringAt(*got, "status.spent"), "1.50") << "the refused status is not stored";
  const json::Value* conditions = got->FindPath("status.conditions");
  ASSERT_TRUE(conditions != nullptr && conditions->elements().size() == 1u);
  EXPECT_EQ(json::StringAt(conditions->elements()[0], "status"), "False");
  EXPECT_EQ(json::StringAt(conditions->elements()[0], "reason"), kStatusWriteFailedReason);

  // A status the server accepts takes Ready back.
  plan.budgets[0].status.ledger.reset();
  report = applier.Apply(plan, snap, {});
  ASSERT_TRUE(report.status_failures.empty()) << report.status_failures.begin()->second;
  got = client().Get(kube::kComputeBudgets, "", name);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(json::StringAt(*got, "status.spent"), "2.50");
  conditions = got->FindPath("status.conditions");
  ASSERT_TRUE(conditions != nullptr && conditions->elements().size() == 1u);
  EXPECT_EQ(json::StringAt(conditions->elements()[0], "status"), "True");
  (void)client().Delete(kube::kComputeBudgets, "", name);
}

// Fencing against the real API server: a replica that wrote a budget's status and was then
// replaced (another replica wrote after it) cannot put its older view back: its write carries
// the version it last wrote and is refused, quietly. The replica now writing is not disturbed,
// and a spec edit between two of its writes costs one refused write, then the cache's version
// goes through.
TEST_F(PlanApplierTest, AStatusWriteFromAnOlderViewThanTheStoredStatusIsRefused) {
  const std::string name = Id();
  ASSERT_TRUE(CreateBudget(name).ok());
  auto read = [&]() {
    absl::StatusOr<json::Value> got = client().Get(kube::kComputeBudgets, "", name);
    EXPECT_TRUE(got.ok()) << got.status();
    absl::StatusOr<api::ComputeBudget> budget = api::DecodeComputeBudget(
        got.value_or(json::Value()), {.source = "apiserver", .reject_unknown_fields = false});
    EXPECT_TRUE(budget.ok()) << budget.status();
    return budget.value_or(api::ComputeBudget());
  };
  auto plan_spending = [&](const char* spent) {
    Plan plan;
    BudgetOutcome outcome;
    outcome.name = name;
    outcome.status.observed_generation = 1;
    outcome.status.spent = *values::Money::Parse(spent);
    plan.budgets = {outcome};
    return plan;
  };
  Snapshot snap;
  snap.budgets = {read()};
  // Every status written at once (spend alone is otherwise coalesced for 30 s).
  const PlanApplierOptions at_once{.status_interval = absl::ZeroDuration()};
  PlanApplier deposed = Applier(at_once);
  ASSERT_EQ(deposed.Apply(plan_spending("1.00"), snap, {}).writes, 1);

  // Another replica takes over from what is stored, and writes.
  snap.budgets = {read()};
  PlanApplier leader = Applier(at_once);
  ApplyReport report = leader.Apply(plan_spending("2.00"), snap, {});
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];
  ASSERT_EQ(report.writes, 1);

  // The deposed replica's next write, computed on its old view, is refused.
  report = deposed.Apply(plan_spending("1.50"), snap, {});
  EXPECT_EQ(report.writes, 0);
  EXPECT_EQ(report.conflicts, 1);
  EXPECT_TRUE(report.errors.empty()) << report.errors[0];
  EXPECT_TRUE(report.status_failures.empty());
  EXPECT_EQ(json::StringAt(*client().Get(kube::kComputeBudgets, "", name), "status.spent"), "2.00");

  // The leader writes on; a spec edit between two writes costs one refused write.
  ASSERT_EQ(leader.Apply(plan_spending("2.50"), snap, {}).writes, 1);
  ASSERT_TRUE(client()
                  .Patch(kube::kComputeBudgets, "", name, kube::PatchType::kMerge,
                         JsonOrFail(R"({"spec":{"limit":{"amount":"11"}}})"))
                  .ok());
  report = leader.Apply(plan_spending("3.00"), snap, {});
  EXPECT_EQ(report.conflicts, 1);
  snap.budgets = {read()};  // the cache sees the edit
  report = leader.Apply(plan_spending("3.00"), snap, {});
  EXPECT_EQ(report.writes, 1);
  EXPECT_EQ(json::StringAt(*client().Get(kube::kComputeBudgets, "", name), "status.spent"), "3.00");
  (void)client().Delete(kube::kComputeBudgets, "", name);
}

}  // namespace
}  // namespace bursar::reconcilers
