// Tests for reconcilers::PodViewOf / NodeViewOf / JobViewOf: what the planner sees of the objects
// the operator caches, including annotation and label keys with dots.

#include "controllers/reconcilers/gather.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/engine/budget_step.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::reconcilers {
namespace {

absl::Time T(const char* text) {
  absl::StatusOr<absl::Time> t = api::ParseTime(text);
  EXPECT_TRUE(t.ok()) << text;
  return t.ok() ? *t : absl::InfinitePast();
}

TEST(GatherTest, NodeViewReadsCapacityReadinessAndTheGrowerAnnotation) {
  NodeView n = NodeViewOf(JsonOrFail(R"({"metadata":{"name":"a100-3",
      "creationTimestamp":"2026-11-27T10:00:00Z",
      "labels":{"bursar.dev/pool":"a100"},
      "annotations":{"bursar.dev/grown-for":"vision"}},
    "status":{"capacity":{"cpu":"24","memory":"128Gi","nvidia.com/gpu":"2"},
      "conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}]}})"));
  EXPECT_EQ(n.info.name, "a100-3");
  EXPECT_EQ(n.info.labels.at("bursar.dev/pool"), "a100");
  EXPECT_EQ(n.info.cpu_capacity, values::Quantity::FromUnits(24));
  EXPECT_EQ(n.info.memory_capacity, values::Quantity::FromUnits(int64_t{128} << 30));
  EXPECT_EQ(n.info.gpu_capacity, 2);
  EXPECT_TRUE(n.ready);
  EXPECT_EQ(n.grown_for, "vision");
  EXPECT_EQ(n.created, T("2026-11-27T10:00:00Z"));

  NodeView bare = NodeViewOf(JsonOrFail(R"({"metadata":{"name":"x"}})"));
  EXPECT_FALSE(bare.ready);
  EXPECT_EQ(bare.grown_for, "");
  EXPECT_EQ(bare.info.gpu_capacity, 0);
}

TEST(GatherTest, JobViewCountsGpusOfAllParallelPodsAndReadsBursarsAnnotations) {
  JobView j = JobViewOf(JsonOrFail(R"({"metadata":{"name":"train","namespace":"vision",
      "creationTimestamp":"2026-11-27T10:00:00Z",
      "annotations":{"bursar.dev/held-by":"vision","bursar.dev/held-for":"Drain",
                     "bursar.dev/drain-grace":"2m","bursar.dev/priority":"7"}},
    "spec":{"suspend":true,"parallelism":3,"template":{"metadata":{"labels":{"bursar.dev/model":"fraud"}},
      "spec":{"containers":[{"resources":{"limits":{"nvidia.com/gpu":"2"}}},
                            {"resources":{"requests":{"nvidia.com/gpu":"1"}}}]}}},
    "status":{"conditions":[{"type":"Suspended","status":"True"}]}})"));
  EXPECT_EQ(j.namespace_name, "vision");
  EXPECT_EQ(j.gpus, 9);
  EXPECT_TRUE(j.suspended);
  EXPECT_FALSE(j.finished);
  EXPECT_EQ(j.held_by, "vision");
  EXPECT_EQ(j.held_for, "Drain");
  EXPECT_EQ(j.drain_grace, absl::Minutes(2));
  EXPECT_EQ(j.priority, 7);
  EXPECT_EQ(j.labels.at("bursar.dev/model"), "fraud");

  JobView done = JobViewOf(JsonOrFail(R"({"metadata":{"name":"d","namespace":"n"},
    "status":{"conditions":[{"type":"Complete","status":"True"}]}})"));
  EXPECT_TRUE(done.finished);
  EXPECT_FALSE(done.priority.has_value());
}

// The other kinds of the suspend-path table: suspended at their own path, their pods' requests
// summed over every pod set (roles, replicated Jobs, Ray worker groups), labels from the first
// template, ended by their own status.
TEST(GatherTest, WorkloadViewsOfJobSetKubeflowAndRayJobSumTheirPodSets) {
  const char* gpu = R"({"name":"c","resources":{"limits":{"nvidia.com/gpu":"2","cpu":"4"},
                        "requests":{"memory":"8Gi"}}})";
  JobView pt = WorkloadViewOf(
      *SuspendPathOf("kubeflow.org", "PyTorchJob"),
      JsonOrFail(absl::StrCat(
          R"({"metadata":{"name":"ft","namespace":"nlp","annotations":{"bursar.dev/held-by":"b"}},
          "spec":{"runPolicy":{"suspend":true},"pytorchReplicaSpecs":{
            "Master":{"template":{"metadata":{"labels":{"team":"nlp"}},"spec":{"containers":[)",
          gpu, R"(]}}},
            "Worker":{"replicas":3,"template":{"spec":{"containers":[)",
          gpu,
          R"(]}}}}},
          "status":{"conditions":[{"type":"Running","status":"True"}]}})")));
  ASSERT_NE(pt.kind, nullptr);
  EXPECT_EQ(pt.kind->kind, "PyTorchJob");
  EXPECT_TRUE(pt.suspended);
  EXPECT_FALSE(pt.finished);
  EXPECT_EQ(pt.gpus, 8);  // 1 master and 3 workers of 2 GPUs
  EXPECT_EQ(pt.cpu.ToString(), "16");
  EXPECT_EQ(pt.memory.ToString(), "32Gi");
  EXPECT_EQ(pt.labels.at("team"), "nlp");
  EXPECT_EQ(pt.held_by, "b");

  JobView js = WorkloadViewOf(
      *SuspendPathOf("jobset.x-k8s.io", "JobSet"),
      JsonOrFail(absl::StrCat(
          R"({"metadata":{"name":"js","namespace":"n"},"spec":{"suspend":false,"replicatedJobs":[
            {"replicas":2,"template":{"spec":{"parallelism":4,"template":{"spec":{"containers":[)",
          gpu, R"(]}}}}}]},
          "status":{"conditions":[{"type":"Completed","status":"True"}]}})")));
  EXPECT_FALSE(js.suspended);
  EXPECT_TRUE(js.finished);
  EXPECT_EQ(js.gpus, 16);  // 2 Jobs of 4 pods of 2 GPUs

  JobView ray = WorkloadViewOf(
      *SuspendPathOf("ray.io", "RayJob"),
      JsonOrFail(absl::StrCat(
          R"({"metadata":{"name":"r","namespace":"n"},"spec":{"suspend":true,"rayClusterSpec":{
            "headGroupSpec":{"template":{"spec":{"containers":[{"name":"head"}]}}},
            "workerGroupSpecs":[{"minReplicas":2,"template":{"spec":{"containers":[)",
          gpu, R"(]}}},{"replicas":1,"template":{"spec":{"containers":[)", gpu,
          R"(]}}}]}},"status":{"jobDeploymentStatus":"Running"}})")));
  EXPECT_TRUE(ray.suspended);
  EXPECT_FALSE(ray.finished);
  EXPECT_EQ(ray.gpus, 6);  // the head has none; 2 + 1 workers of 2 GPUs

  // A batch Job read through the same path has no kind (nullptr), as JobViewOf gives.
  JobView job = WorkloadViewOf(BatchJobKind(), JsonOrFail(R"({"spec":{"suspend":true}})"));
  EXPECT_EQ(job.kind, nullptr);
  EXPECT_TRUE(job.suspended);
}

TEST(GatherTest, JobViewReadsItsDeclaredLengthAndItsOwnCaps) {
  JobView j = JobViewOf(JsonOrFail(R"({"metadata":{"name":"ft","namespace":"n","uid":"u-ft",
      "annotations":{"bursar.dev/expected-duration":"6h30m","bursar.dev/max-cost":"2000.50",
                     "bursar.dev/max-gpu-hours":"96.5"}}})"));
  EXPECT_EQ(j.uid, "u-ft");
  EXPECT_EQ(j.expected_duration, absl::Hours(6) + absl::Minutes(30));
  EXPECT_EQ(j.max_cost, values::Money::FromMicros(2'000'500'000));
  EXPECT_EQ(j.max_gpu_hours, 96.5);
  EXPECT_EQ(j.annotation_error, "");
}

// How long a Job's pods take to stop: its template's terminationGracePeriodSeconds, the longest
// of its pod sets', Kubernetes' 30 s where none is set; negative values count as 0.
TEST(GatherTest, JobViewReadsItsPodsTerminationGrace) {
  auto job = [](const char* pod_spec) {
    return JobViewOf(JsonOrFail(
        absl::StrCat(R"({"metadata":{"name":"j","namespace":"n"},"spec":{"template":{"spec":)",
                     pod_spec, "}}}")));
  };
  EXPECT_EQ(job(R"({"terminationGracePeriodSeconds":600})").stop_grace, absl::Minutes(10));
  EXPECT_EQ(job(R"({"terminationGracePeriodSeconds":0})").stop_grace, absl::ZeroDuration());
  EXPECT_EQ(job(R"({"terminationGracePeriodSeconds":-5})").stop_grace, absl::ZeroDuration());
  EXPECT_EQ(job(R"({})").stop_grace, absl::Seconds(30));
  JobView pt = WorkloadViewOf(*SuspendPathOf("kubeflow.org", "PyTorchJob"), JsonOrFail(R"({
      "metadata":{"name":"ft","namespace":"n"},"spec":{"pytorchReplicaSpecs":{
        "Master":{"template":{"spec":{"terminationGracePeriodSeconds":60}}},
        "Worker":{"replicas":2,"template":{"spec":{"terminationGracePeriodSeconds":300}}}}}})"));
  EXPECT_EQ(pt.stop_grace, absl::Minutes(5));
  // A template that sets none stops within Kubernetes' 30 s, longer than one that sets 0.
  JobView mixed = WorkloadViewOf(*SuspendPathOf("kubeflow.org", "PyTorchJob"), JsonOrFail(R"({
      "metadata":{"name":"ft","namespace":"n"},"spec":{"pytorchReplicaSpecs":{
        "Master":{"template":{"spec":{}}},
        "Worker":{"replicas":2,"template":{"spec":{"terminationGracePeriodSeconds":0}}}}}})"));
  EXPECT_EQ(mixed.stop_grace, absl::Seconds(30));
}

TEST(GatherTest, JobViewReadsActiveDeadlineSecondsWhenPositive) {
  JobView j = JobViewOf(JsonOrFail(
      R"({"metadata":{"name":"j","namespace":"n"},"spec":{"activeDeadlineSeconds":7200}})"));
  EXPECT_EQ(j.active_deadline, absl::Hours(2));
  for (const char* spec :
       {R"({"activeDeadlineSeconds":0})", R"({"activeDeadlineSeconds":"1h"})", R"({})"}) {
    JobView none = JobViewOf(
        JsonOrFail(absl::StrCat(R"({"metadata":{"name":"j","namespace":"n"},"spec":)", spec, "}")));
    EXPECT_FALSE(none.active_deadline.has_value()) << spec;
  }
}

TEST(GatherTest, JobViewNamesTheFirstBursarAnnotationThatDoesNotParse) {
  struct Case {
    const char* annotations;
    const char* error_prefix;
  };
  for (const Case& c : std::vector<Case>{
           {R"("bursar.dev/max-cost":"lots")", "bursar.dev/max-cost: "},
           {R"("bursar.dev/max-cost":"-5")", "bursar.dev/max-cost: must not be negative"},
           {R"("bursar.dev/max-gpu-hours":"nan")", "bursar.dev/max-gpu-hours: \"nan\""},
           {R"("bursar.dev/max-gpu-hours":"1e300")", "bursar.dev/max-gpu-hours: \"1e300\""},
           {R"("bursar.dev/expected-duration":"0s")", "bursar.dev/expected-duration: must be more"},
           {R"("bursar.dev/expected-duration":"soon")", "bursar.dev/expected-duration: "},
           {R"("bursar.dev/drain-grace":"-1m")",
            "bursar.dev/drain-grace: duration \"-1m\": negative"},
           {R"("bursar.dev/priority":"high")", "bursar.dev/priority: \"high\""},
       }) {
    SCOPED_TRACE(c.annotations);
    JobView j = JobViewOf(JsonOrFail(absl::StrCat(
        R"({"metadata":{"name":"j","namespace":"n","annotations":{)", c.annotations, "}}}")));
    EXPECT_TRUE(absl::StartsWith(j.annotation_error, c.error_prefix)) << j.annotation_error;
    EXPECT_FALSE(j.max_cost.has_value());
    EXPECT_FALSE(j.max_gpu_hours.has_value());
    EXPECT_FALSE(j.expected_duration.has_value());
    EXPECT_EQ(j.drain_grace, absl::ZeroDuration());
  }
}

TEST(GatherTest, AbsurdGpuCountsSaturateInsteadOfWrappingAround) {
  // fuzz_admission found this: 1.8e20 GPUs a pod times parallelism 2 overflowed int64 (UBSan).
  JobView wide = JobViewOf(JsonOrFail(R"({"metadata":{"name":"w","namespace":"n"},
    "spec":{"parallelism":2147483647,"template":{"spec":{"containers":[
      {"resources":{"limits":{"nvidia.com/gpu":"184467440737095516160"}}},
      {"resources":{"limits":{"nvidia.com/gpu":"9223372036854775807"}}}]}}}})"));
  EXPECT_EQ(wide.gpus, INT64_MAX);
  JobView negative = JobViewOf(JsonOrFail(R"({"metadata":{"name":"m","namespace":"n"},
    "spec":{"template":{"spec":{"containers":[
      {"resources":{"limits":{"nvidia.com/gpu":"-4"}}}]}}}})"));
  EXPECT_EQ(negative.gpus, 0);
}

TEST(GatherTest, PodViewEndsAtTheLastContainerFinishAndKnowsItsJob) {
  kube::PodSummary pod;
  pod.uid = "u1";
  pod.namespace_name = kube::InternedString("vision");
  pod.name = "train-x";
  pod.node_name = "a100-0";
  pod.phase = kube::PodPhase::kSucceeded;
  pod.start_time = T("2026-11-27T10:00:00Z");
  pod.owner_kind = kube::InternedString("Job");
  pod.owner_name = "train";
  pod.labels = {{kube::InternedString("team"), "cv"}};
  kube::ContainerSummary a;
  a.gpus = 1;
  a.cpu_milli = 500;
  a.finished_at = T("2026-11-27T10:05:00Z");
  kube::ContainerSummary b = a;
  b.finished_at = T("2026-11-27T10:07:00Z");
  pod.containers = {a, b};
  PodView v = PodViewOf(pod);
  EXPECT_EQ(v.state, PodState::kEnded);
  EXPECT_EQ(v.end, T("2026-11-27T10:07:00Z"));
  EXPECT_EQ(v.job, "train");
  EXPECT_EQ(v.labels.Find("team"), "cv");
  ASSERT_EQ(v.containers.size(), 2u);
  EXPECT_EQ(v.containers[0],
            (engine::ContainerRequests{.cpu_milli = 500, .memory_bytes = 0, .gpus = 1}));

  pod.phase = kube::PodPhase::kRunning;
  pod.owner_kind = kube::InternedString("ReplicaSet");
  PodView running = PodViewOf(pod);
  EXPECT_EQ(running.state, PodState::kRunning);
  EXPECT_FALSE(running.end.has_value());
  EXPECT_EQ(running.job, "");
}

// The pod cache keeps every label of a pod (a budget created later may select on any), in the
// compact form: keys interned, so that 50,000 pods hold one copy of each key; selectors and the
// retraining test read it as they read a label map.
TEST(GatherTest, PodViewsKeepEveryLabelUnderInternedKeys) {
  kube::PodSummary pod;
  pod.uid = "u";
  pod.labels = {{kube::InternedString("team"), "cv"},
                {kube::InternedString("tier"), "gold"},
                {kube::InternedString("bursar.dev/model"), "resnet"},
                {kube::InternedString("bursar.dev/purpose"), "retrain"},
                {kube::InternedString("controller-uid"), "0f3c"}};
  const PodView a = PodViewOf(pod);
  EXPECT_EQ(a.labels, (PodLabels{{"team", "cv"},
                                 {"tier", "gold"},
                                 {"bursar.dev/model", "resnet"},
                                 {"bursar.dev/purpose", "retrain"},
                                 {"controller-uid", "0f3c"}}));
  pod.uid = "v";
  pod.labels[0].second = "nlp";
  const PodView b = PodViewOf(pod);
  EXPECT_EQ(a.labels.Entries()[0].first.data(), b.labels.Entries()[0].first.data());
  EXPECT_EQ(b.labels.Find("team"), "nlp");
  EXPECT_EQ(b.labels.Find("absent"), std::nullopt);
  EXPECT_EQ(b.labels.Find("controller-uid"), "0f3c");  // the last value, packed after the others

  const values::LabelSelector selector{
      .match_labels = {{"team", "cv"}},
      .match_expressions = {
          {.key = "tier", .op = values::SelectorOperator::kIn, .values = {"gold", "silver"}},
          {.key = "absent", .op = values::SelectorOperator::kDoesNotExist, .values = {}}}};
  EXPECT_TRUE(selector.Matches(a.labels));
  EXPECT_FALSE(selector.Matches(b.labels));
  std::string model;
  EXPECT_TRUE(engine::IsRetrainingWork(a.labels, api::RetrainingSpec(), &model));
  EXPECT_EQ(model, "resnet");

  PodLabels set = {{"team", "cv"}};
  set.Set(kube::InternedString("team"), "nlp");  // replaces, keeps one entry
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(set.Find("team"), "nlp");
  set.Set(kube::InternedString("tier"), "");  // an empty value is a label too
  EXPECT_EQ(set.Find("tier"), "");
  EXPECT_EQ(set, (PodLabels{{"team", "nlp"}, {"tier", ""}}));
}

// A Job's pods carry its uid and its name twice each (the old keys and the batch.kubernetes.io/
// ones): the cache stores each value once and both keys read it.
TEST(GatherTest, APodViewStoresALabelValueItRepeatsOnce) {
  kube::PodSummary pod;
  pod.uid = "u";
  pod.labels = {
      {kube::InternedString("batch.kubernetes.io/controller-uid"), "9b8a7c6d-5e4f-4a3b-8c2d"},
      {kube::InternedString("batch.kubernetes.io/job-name"), "llama-7b"},
      {kube::InternedString("controller-uid"), "9b8a7c6d-5e4f-4a3b-8c2d"},
      {kube::InternedString("job-name"), "llama-7b"},
      {kube::InternedString("team"), "llama-7b-x"}};  // starts alike: a value of its own
  const PodView v = PodViewOf(pod);
  ASSERT_EQ(v.labels.size(), 5u);
  EXPECT_EQ(v.labels.Find("controller-uid"), "9b8a7c6d-5e4f-4a3b-8c2d");
  EXPECT_EQ(v.labels.Find("job-name"), "llama-7b");
  EXPECT_EQ(v.labels.Find("team"), "llama-7b-x");
  EXPECT_EQ(v.labels.Find("controller-uid")->data(),
            v.labels.Find("batch.kubernetes.io/controller-uid")->data());
  EXPECT_EQ(v.labels.Find("job-name")->data(),
            v.labels.Find("batch.kubernetes.io/job-name")->data());
  EXPECT_NE(v.labels.Find("team")->data(), v.labels.Find("job-name")->data());
  std::vector<std::pair<std::string_view, std::string_view>> expected;
  for (const auto& [key, value] : pod.labels) {
    expected.emplace_back(key.view(), value);
  }
  EXPECT_EQ(v.labels.Entries(), expected);
}

}  // namespace
}  // namespace bursar::reconcilers
