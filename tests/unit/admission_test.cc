// The admission webhook's pure parts: AdmissionReview decoding and encoding, the suspend-path
// table, and every branch of the Job and Pod decisions.

#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/admission/admission_review.h"
#include "controllers/api/codec.h"
#include "controllers/reconcilers/workload_kinds.h"
#include "gtest/gtest.h"

namespace bursar::admission {
namespace {

using reconcilers::SuspendPathOf;
using values::Quantity;

api::ComputeBudget Budget(std::string name, std::string ns,
                          std::optional<values::Labels> pod_selector = std::nullopt) {
  api::ComputeBudget b;
  b.metadata.name = std::move(name);
  b.spec.scope.namespaces = {std::move(ns)};
  if (pod_selector.has_value()) {
    values::LabelSelector selector;
    selector.match_labels = *pod_selector;
    b.spec.scope.pod_selector = selector;
  }
  b.spec.quota.mode = api::QuotaMode::kWebhook;
  b.spec.quota.resources = {values::kGpuResource, "cpu", "memory"};
  b.status.admission = api::AdmissionAllowance{};
  return b;
}

api::ComputeBudget& Allow(api::ComputeBudget& b, const std::string& resource, const char* q) {
  b.status.admission->allowed[resource] = *Quantity::Parse(q);
  return b;
}

std::string Review(const std::string& group, const std::string& kind, const std::string& object,
                   const std::string& operation = "CREATE") {
  return absl::StrCat(R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview",)",
                      R"("request":{"uid":"u-1","kind":{"group":")", group,
                      R"(","version":"v1","kind":")", kind, R"("},"operation":")", operation,
                      R"(","namespace":"ml","object":)", object, "}}");
}

AdmissionRequest Request(const std::string& group, const std::string& kind,
                         const std::string& object, const std::string& operation = "CREATE") {
  absl::StatusOr<AdmissionRequest> r =
      DecodeAdmissionReview(Review(group, kind, object, operation));
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : AdmissionRequest{};
}

std::string Pod(const std::string& labels, const std::string& requests,
                const std::string& owner = "") {
  return absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","labels":)", labels,
                      owner, R"(},"spec":{"containers":[{"name":"c","resources":{"requests":)",
                      requests, "}}]}}");
}

// `gpus`: a number, or any quantity text ("184467440737095516160").
std::string Job(const std::string& labels, const absl::AlphaNum& gpus, int parallelism,
                const std::string& extra_metadata = "", bool suspend = false) {
  return absl::StrCat(
      R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j")", extra_metadata,
      R"(},"spec":{"suspend":)", suspend ? "true" : "false", R"(,"parallelism":)", parallelism,
      R"(,"template":{"metadata":{"labels":)", labels,
      R"(},"spec":{"containers":[{"name":"c","resources":{"limits":{"nvidia.com/gpu":")", gpus,
      R"("}}}]}}}})");
}

std::string PatchOf(const AdmissionResponse& r) {
  return r.json_patch;
}

// ---- AdmissionReview codec ----

TEST(AdmissionReviewTest, DecodesTheRequestFields) {
  absl::StatusOr<AdmissionRequest> r = DecodeAdmissionReview(Review("batch", "Job", "{}"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->uid, "u-1");
  EXPECT_EQ(r->group, "batch");
  EXPECT_EQ(r->kind, "Job");
  EXPECT_EQ(r->operation, "CREATE");
  EXPECT_EQ(r->namespace_name, "ml");
  EXPECT_TRUE(r->object.is_object());
}

TEST(AdmissionReviewTest, MalformedReviewsAreErrorsNamingTheField) {
  struct Case {
    std::string body;
    std::string want;
  } cases[] = {
      {"not json", "not JSON"},
      {"[]", "the document must be an object"},
      {R"({"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"})", "apiVersion"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"Pod"})", "kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"})", "request must be"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}})",
       "request.uid"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x"}})",
       "request.kind"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"}}})",
       "request.operation"},
      {R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":7}})",
       "request.object"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<AdmissionRequest> r = DecodeAdmissionReview(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.want), std::string_view::npos)
        << r.status().message() << " / want " << c.want;
  }
}

TEST(AdmissionReviewTest, ABodyOverTheLimitIsRefusedBeforeParsing) {
  std::string huge(kMaxReviewBytes + 1, ' ');
  absl::StatusOr<AdmissionRequest> r = DecodeAdmissionReview(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds the limit"), std::string_view::npos);
}

TEST(AdmissionReviewTest, EncodesUidStatusWarningsAndABase64Patch) {
  AdmissionResponse r{.uid = "u-9",
                      .allowed = false,
                      .code = 403,
                      .reason = "Forbidden",
                      .message = "no",
                      .warnings = {"w"},
                      .json_patch = R"([{"op":"add","path":"/spec/suspend","value":true}])"};
  absl::StatusOr<json::Value> doc = json::Parse(EncodeAdmissionReview(r));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(json::StringAt(*doc, "apiVersion"), "admission.k8s.io/v1");
  EXPECT_EQ(json::StringAt(*doc, "response.uid"), "u-9");
  EXPECT_FALSE(doc->FindPath("response.allowed")->bool_value());
  EXPECT_EQ(doc->FindPath("response.status.code")->int_value(), 403);
  EXPECT_EQ(json::StringAt(*doc, "response.status.message"), "no");
  EXPECT_EQ(doc->FindPath("response.warnings")->elements().size(), 1u);
  EXPECT_EQ(json::StringAt(*doc, "response.patchType"), "JSONPatch");
  std::string patch;
  ASSERT_TRUE(absl::Base64Unescape(json::StringAt(*doc, "response.patch"), &patch));
  EXPECT_EQ(patch, r.json_patch);
}

TEST(AdmissionReviewTest, AnAllowedResponseHasNoStatusNorPatch) {
  absl::StatusOr<json::Value> doc =
      json::Parse(EncodeAdmissionReview(AdmissionResponse{.uid = "u",
                                                          .allowed = true,
                                                          .code = 0,
                                                          .reason = "",
                                                          .message = "",
                                                          .warnings = {},
                                                          .json_patch = ""}));
  ASSERT_TRUE(doc.ok());
  EXPECT_TRUE(doc->FindPath("response.allowed")->bool_value());
  EXPECT_EQ(doc->FindPath("response.status"), nullptr);
  EXPECT_EQ(doc->FindPath("response.patch"), nullptr);
}

// ---- status.admission and quota mode Webhook in the codec ----

TEST(AdmissionCodecTest, StatusAdmissionRoundTripsAndBadQuantitiesNameTheField) {
  api::ComputeBudget b = Budget("vision", "ml");
  b.spec.period.type = values::PeriodType::kMonthly;
  b.spec.limit.amount = values::Money::FromUnits(10);
  b.status.admission->hold_new_work = true;
  Allow(b, "cpu", "1500m");
  Allow(b, "memory", "8Gi");
  b.status.admission->gpu_hour_price = values::Money::FromMicros(2'500'000);
  b.status.admission->money_left = values::Money::FromMicros(123'456'789);
  b.status.admission->reserve_gpus = 3;
  json::Value encoded = api::EncodeComputeBudget(b);
  encoded.Set("status", api::EncodeComputeBudgetStatus(b.status));
  absl::StatusOr<api::ComputeBudget> decoded =
      api::DecodeComputeBudget(encoded, {.source = "apiserver", .reject_unknown_fields = true});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->spec.quota.mode, api::QuotaMode::kWebhook);
  ASSERT_TRUE(decoded->status.admission.has_value());
  EXPECT_EQ(*decoded->status.admission, *b.status.admission);

  encoded.FindPathMutable("status.admission.allowed")->Set("cpu", json::Value::String("lots"));
  decoded =
      api::DecodeComputeBudget(encoded, {.source = "apiserver", .reject_unknown_fields = true});
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("status.admission.allowed"), std::string_view::npos)
      << decoded.status().message();

  // Nothing limited (a GPU-only budget without pacing below Throttle): no map at all, since the
  // API server turns an applied empty map into null and refuses the whole status.
  b.status.admission->allowed.clear();
  json::Value bare = api::EncodeComputeBudgetStatus(b.status);
  EXPECT_EQ(bare.FindPath("admission.allowed"), nullptr) << bare.ToJson();
  encoded.Set("status", std::move(bare));
  decoded =
      api::DecodeComputeBudget(encoded, {.source = "apiserver", .reject_unknown_fields = true});
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded->status.admission, *b.status.admission);
}

TEST(AdmissionCodecTest, WebhookModeTakesOnlyGpuCpuAndMemory) {
  api::ComputeBudget b = Budget("vision", "ml");
  b.spec.period.type = values::PeriodType::kMonthly;
  b.spec.limit.amount = values::Money::FromUnits(10);
  b.spec.quota.resources = {"cpu", "ephemeral-storage"};
  absl::StatusOr<api::ComputeBudget> decoded = api::DecodeComputeBudget(
      api::EncodeComputeBudget(b), {.source = "apiserver", .reject_unknown_fields = true});
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("only nvidia.com/gpu, cpu and memory"),
            std::string_view::npos)
      << decoded.status().message();
}

// ---- suspend paths ----

TEST(SuspendPathsTest, ListsTheMlWorkloadKinds) {
  ASSERT_NE(SuspendPathOf("batch", "Job"), nullptr);
  EXPECT_EQ(SuspendPathOf("batch", "Job")->path, "spec.suspend");
  EXPECT_EQ(SuspendPathOf("kubeflow.org", "PyTorchJob")->path, "spec.runPolicy.suspend");
  EXPECT_EQ(SuspendPathOf("kubeflow.org", "TFJob")->path, "spec.runPolicy.suspend");
  EXPECT_EQ(SuspendPathOf("jobset.x-k8s.io", "JobSet")->path, "spec.suspend");
  EXPECT_EQ(SuspendPathOf("ray.io", "RayJob")->path, "spec.suspend");
  EXPECT_EQ(SuspendPathOf("apps", "Deployment"), nullptr);
}

// ---- Job decisions ----

TEST(AdmissionJobTest, AJobInAHeldBudgetIsCreatedSuspendedWithTheHoldAnnotations) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  view.budgets[0].status.phase = api::BudgetPhase::kHeld;
  AdmissionResponse r = Decide(Request("batch", "Job", Job("{}", 1, 1)), view);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.uid, "u-1");
  absl::StatusOr<json::Value> patch = json::Parse(PatchOf(r));
  ASSERT_TRUE(patch.ok()) << r.json_patch;
  ASSERT_EQ(patch->elements().size(), 2u);
  EXPECT_EQ(json::StringAt(patch->elements()[0], "path"), "/spec/suspend");
  EXPECT_TRUE(patch->elements()[0].Find("value")->bool_value());
  const json::Value& annotations = patch->elements()[1];
  EXPECT_EQ(json::StringAt(annotations, "path"), "/metadata/annotations");
  EXPECT_EQ(json::MemberStringAt(annotations, "value", "bursar.dev/held-by"), "vision");
  EXPECT_EQ(json::MemberStringAt(annotations, "value", "bursar.dev/held-for"), "Hold");
  EXPECT_NE(json::MemberStringAt(annotations, "value", "bursar.dev/held-reason").find("Held"),
            std::string::npos);
  ASSERT_EQ(r.warnings.size(), 1u);
}

// The other kinds of the suspend-path table are created suspended the same way, at their own
// path: a PyTorchJob without spec.runPolicy gets the object added; one with it, the field.
TEST(AdmissionJobTest, OtherMlWorkloadKindsAreCreatedSuspendedAtTheirOwnPath) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  auto pytorch = [](const std::string& run_policy) {
    return absl::StrCat(
        R"({"apiVersion":"kubeflow.org/v1","kind":"PyTorchJob","metadata":{"name":"ft"},
        "spec":{)",
        run_policy, R"("pytorchReplicaSpecs":{"Worker":{"replicas":2,"template":{
        "spec":{"containers":[{"name":"c","resources":{"limits":{"nvidia.com/gpu":"1"}}}]}}}}}})");
  };
  AdmissionResponse r = Decide(Request("kubeflow.org", "PyTorchJob", pytorch("")), view);
  absl::StatusOr<json::Value> patch = json::Parse(PatchOf(r));
  ASSERT_TRUE(patch.ok()) << r.json_patch;
  EXPECT_EQ(json::StringAt(patch->elements()[0], "path"), "/spec/runPolicy");
  EXPECT_EQ(patch->elements()[0].Find("value")->ToJson(), R"({"suspend":true})");
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("resumes this PyTorchJob"), std::string::npos) << r.warnings[0];

  r = Decide(
      Request("kubeflow.org", "PyTorchJob", pytorch(R"("runPolicy":{"cleanPodPolicy":"None"},)")),
      view);
  patch = json::Parse(PatchOf(r));
  ASSERT_TRUE(patch.ok()) << r.json_patch;
  EXPECT_EQ(json::StringAt(patch->elements()[0], "path"), "/spec/runPolicy/suspend");
  EXPECT_TRUE(patch->elements()[0].Find("value")->bool_value());

  // Already suspended by its author: nothing to add.
  EXPECT_TRUE(
      Decide(Request("kubeflow.org", "PyTorchJob", pytorch(R"("runPolicy":{"suspend":true},)")),
             view)
          .json_patch.empty());
  // A RayJob: spec.suspend.
  r = Decide(Request("ray.io", "RayJob",
                     R"({"metadata":{"name":"r"},"spec":{"rayClusterSpec":{"headGroupSpec":{
                        "template":{"spec":{"containers":[{"name":"head"}]}}}}}})"),
             view);
  patch = json::Parse(PatchOf(r));
  ASSERT_TRUE(patch.ok()) << r.json_patch;
  EXPECT_EQ(json::StringAt(patch->elements()[0], "path"), "/spec/suspend");
  // A kind outside the table is left to pod-level admission.
  EXPECT_TRUE(Decide(Request("apps", "Deployment", R"({"metadata":{"name":"d"},"spec":{}})"), view)
                  .json_patch.empty());
}

// ---- Jobs with a declared length and their own cap (engine::CheckAffordable) ----

// A budget that publishes 2.50 per GPU-hour and 100 left to commit in a period ending at `end`.
AdmissionView PricedView(absl::Time end) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  api::AdmissionAllowance& a = *view.budgets[0].status.admission;
  a.gpu_hour_price = values::Money::FromMicros(2'500'000);
  a.money_left = values::Money::FromUnits(100);
  view.budgets[0].status.period = values::Period{end - absl::Hours(24), end};
  return view;
}

std::string Annotated(const std::string& annotations, int gpus = 2) {
  return Job("{}", gpus, 1, absl::StrCat(R"(,"annotations":{)", annotations, "}"));
}

TEST(AdmissionJobTest, AJobWhoseDeclaredLengthPassesItsOwnCapIsRefused) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  AdmissionView view = PricedView(now + absl::Hours(12));
  // 2 GPUs x 10 h x 2.50 = 50 > 40.
  AdmissionResponse r = Decide(
      Request("batch", "Job",
              Annotated(R"("bursar.dev/expected-duration":"10h","bursar.dev/max-cost":"40")")),
      view, now);
  EXPECT_FALSE(r.allowed);
  EXPECT_NE(r.message.find("its expected cost 50.00"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("bursar.dev/max-cost of 40.00"), std::string::npos) << r.message;
  // GPU-hours: 20 > 19.5.
  r = Decide(Request("batch", "Job",
                     Annotated(R"("bursar.dev/expected-duration":"10h",)"
                               R"("bursar.dev/max-gpu-hours":"19.5")")),
             view, now);
  EXPECT_FALSE(r.allowed);
  EXPECT_NE(r.message.find("max-gpu-hours of 19.50"), std::string::npos) << r.message;
  // Within both caps: admitted as it is.
  r = Decide(Request("batch", "Job",
                     Annotated(R"("bursar.dev/expected-duration":"10h","bursar.dev/max-cost":"50",)"
                               R"("bursar.dev/max-gpu-hours":"20")")),
             view, now);
  EXPECT_TRUE(r.allowed);
  EXPECT_TRUE(r.json_patch.empty()) << r.json_patch;
}

TEST(AdmissionJobTest, AJobTheBudgetCannotPayForInThisPeriodIsCreatedSuspended) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  AdmissionView view = PricedView(now + absl::Hours(30));
  // 2 GPUs x 24 h x 2.50 = 120 > 100 left: suspended, with the reason.
  AdmissionResponse r = Decide(
      Request("batch", "Job", Annotated(R"("bursar.dev/expected-duration":"24h")")), view, now);
  EXPECT_TRUE(r.allowed);
  EXPECT_NE(r.json_patch.find("/spec/suspend"), std::string::npos);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("its expected cost in this period, 120.00"), std::string::npos)
      << r.warnings[0];
  // Only the part before the period's end is this period's: 12 h left, 60 <= 100.
  view = PricedView(now + absl::Hours(12));
  r = Decide(Request("batch", "Job", Annotated(R"("bursar.dev/expected-duration":"24h")")), view,
             now);
  EXPECT_TRUE(r.json_patch.empty()) << r.warnings[0];
  // No declared length: nothing to price (the GPU allowance still applies).
  r = Decide(Request("batch", "Job", Annotated(R"("team":"a")")), PricedView(now + absl::Hours(30)),
             now);
  EXPECT_TRUE(r.json_patch.empty());
}

TEST(AdmissionJobTest, AJobWithABadBursarAnnotationIsRefusedNamingIt) {
  const absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  AdmissionView view = PricedView(now + absl::Hours(12));
  AdmissionResponse r =
      Decide(Request("batch", "Job", Annotated(R"("bursar.dev/max-cost":"2k")")), view, now);
  EXPECT_FALSE(r.allowed);
  EXPECT_NE(r.message.find("bursar.dev/max-cost: "), std::string::npos) << r.message;
  view.budgets[0].spec.enforcement = api::EnforcementMode::kDryRun;
  r = Decide(Request("batch", "Job", Annotated(R"("bursar.dev/max-cost":"2k")")), view, now);
  EXPECT_TRUE(r.allowed);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("would refuse"), std::string::npos) << r.warnings[0];
}

TEST(AdmissionJobTest, ExistingAnnotationsAreAddedToKeyByKeyWithEscapedPointers) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  AdmissionResponse r =
      Decide(Request("batch", "Job", Job("{}", 1, 1, R"(,"annotations":{"team":"a"})")), view);
  absl::StatusOr<json::Value> patch = json::Parse(r.json_patch);
  ASSERT_TRUE(patch.ok());
  ASSERT_EQ(patch->elements().size(), 4u);
  EXPECT_EQ(json::StringAt(patch->elements()[1], "path"),
            "/metadata/annotations/bursar.dev~1held-by");
}

TEST(AdmissionJobTest, AJobWhoseGpusDoNotFitTheAllowanceIsSuspended) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  Allow(view.budgets[0], values::kGpuResource, "8");
  view.usage["vision"].gpus = 5;
  // 2 pods x 2 GPUs = 4 > 8 - 5.
  AdmissionResponse r = Decide(Request("batch", "Job", Job("{}", 2, 2)), view);
  EXPECT_TRUE(r.allowed);
  EXPECT_NE(r.json_patch.find("/spec/suspend"), std::string::npos);
  EXPECT_NE(r.warnings[0].find("its 4 GPUs do not fit"), std::string::npos) << r.warnings[0];
  // 3 GPUs fit exactly.
  AdmissionResponse fits = Decide(Request("batch", "Job", Job("{}", 3, 1)), view);
  EXPECT_TRUE(fits.json_patch.empty());
  EXPECT_TRUE(fits.warnings.empty());
}

// 2 pods of 2^64 x 10 GPUs each: the count saturates at INT64_MAX, and adding the GPUs the
// budget already holds must not wrap it around to "fits" (found by the admission fuzz target).
TEST(AdmissionJobTest, AJobWithMoreGpusThanInt64CanCountIsSuspended) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  Allow(view.budgets[0], values::kGpuResource, "4");
  view.usage["vision"].gpus = 2;
  AdmissionResponse r =
      Decide(Request("batch", "Job", Job("{}", "184467440737095516160", 2)), view);
  EXPECT_TRUE(r.allowed);
  EXPECT_NE(r.json_patch.find("/spec/suspend"), std::string::npos);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("its 9223372036854775807 GPUs do not fit"), std::string::npos)
      << r.warnings[0];
}

// Retraining work of a model a modelDrift signal unlocked draws on the reserve (the planner
// meters it there): it waits for the reserve's room only, not for holdNewWork nor the regular
// allowance; retraining of a model still locked is regular work.
constexpr char kRetrainResnet[] = R"({"bursar.dev/purpose":"retrain","bursar.dev/model":"resnet"})";
constexpr char kRetrainBert[] = R"({"bursar.dev/purpose":"retrain","bursar.dev/model":"bert"})";

AdmissionView ReserveView(bool hold) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  api::AdmissionAllowance& a = *view.budgets[0].status.admission;
  a.hold_new_work = hold;
  a.reserve_gpus = 4;
  // resnet's unlock is open this period; bert's is only cooling down (its reserve is locked).
  api::ComputeBudgetStatus& st = view.budgets[0].status;
  st.period = values::Period{absl::FromUnixSeconds(0), absl::FromUnixSeconds(86400)};
  st.retraining = api::RetrainingStatus{
      .period = st.period,
      .models = {{.model = "resnet", .open = true}, {.model = "bert", .open = false}}};
  Allow(view.budgets[0], values::kGpuResource, "12");
  view.usage["vision"].gpus = 5;
  view.usage["vision"].retraining_gpus = {{"resnet", 2}, {"bert", 1}};
  return view;
}

TEST(AdmissionJobTest, RetrainingOfAnUnlockedModelWaitsOnlyForTheReserve) {
  AdmissionView held = ReserveView(/*hold=*/true);
  // 2 GPUs fit the reserve's 4 beside resnet's 2 (bert's pods are regular work): it starts
  // although the budget holds new work.
  AdmissionResponse fits = Decide(Request("batch", "Job", Job(kRetrainResnet, 2, 1)), held);
  EXPECT_TRUE(fits.json_patch.empty()) << fits.json_patch;
  EXPECT_TRUE(fits.warnings.empty());
  // 3 do not, although the regular allowance (12, 5 held) has room: created suspended, saying
  // so.
  AdmissionView open = ReserveView(/*hold=*/false);
  AdmissionResponse over = Decide(Request("batch", "Job", Job(kRetrainResnet, 3, 1)), open);
  EXPECT_NE(over.json_patch.find("/spec/suspend"), std::string::npos);
  ASSERT_EQ(over.warnings.size(), 1u);
  EXPECT_NE(over.warnings[0].find("its 3 GPUs do not fit the retraining reserve of budget "
                                  "\"vision\""),
            std::string::npos)
      << over.warnings[0];
  EXPECT_NE(over.warnings[0].find("unlocked for model \"resnet\", which allows 4 GPUs now and "
                                  "holds 2"),
            std::string::npos)
      << over.warnings[0];
  // bert's reserve is locked: its retraining is regular work, held with the budget.
  EXPECT_NE(Decide(Request("batch", "Job", Job(kRetrainBert, 1, 1)), held)
                .json_patch.find("/spec/suspend"),
            std::string::npos);
  // Unlocks of another period open nothing now: resnet's retraining is regular work.
  AdmissionView stale = ReserveView(/*hold=*/true);
  stale.budgets[0].status.retraining->period =
      values::Period{absl::FromUnixSeconds(-86400), absl::FromUnixSeconds(0)};
  EXPECT_NE(Decide(Request("batch", "Job", Job(kRetrainResnet, 1, 1)), stale)
                .json_patch.find("/spec/suspend"),
            std::string::npos);
  // With the reserve locked altogether, resnet's retraining is regular work too.
  held.budgets[0].status.admission->reserve_gpus.reset();
  held.budgets[0].status.retraining.reset();
  EXPECT_NE(Decide(Request("batch", "Job", Job(kRetrainResnet, 1, 1)), held)
                .json_patch.find("/spec/suspend"),
            std::string::npos);
}

TEST(AdmissionPodTest, ARetrainingPodOfAnUnlockedModelIsCheckedAgainstTheReserve) {
  AdmissionView held = ReserveView(/*hold=*/true);
  EXPECT_TRUE(
      Decide(Request("", "Pod", Pod(kRetrainResnet, R"({"nvidia.com/gpu":"2"})")), held).allowed);
  AdmissionResponse over =
      Decide(Request("", "Pod", Pod(kRetrainResnet, R"({"nvidia.com/gpu":"3"})")), held);
  EXPECT_FALSE(over.allowed);
  EXPECT_NE(over.message.find("the pod's 3 GPUs do not fit the retraining reserve"),
            std::string::npos)
      << over.message;
  EXPECT_FALSE(
      Decide(Request("", "Pod", Pod(kRetrainBert, R"({"nvidia.com/gpu":"1"})")), held).allowed);
}

TEST(AdmissionJobTest, JobsLeftAlone) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  // Already suspended, queued by Kueue, another namespace, not CREATE.
  EXPECT_TRUE(Decide(Request("batch", "Job", Job("{}", 1, 1, "", true)), view).json_patch.empty());
  EXPECT_TRUE(Decide(Request("batch", "Job",
                             Job("{}", 1, 1, R"(,"labels":{"kueue.x-k8s.io/queue-name":"q"})")),
                     view)
                  .json_patch.empty());
  view.budgets[0].spec.scope.namespaces = {"other"};
  EXPECT_TRUE(Decide(Request("batch", "Job", Job("{}", 1, 1)), view).json_patch.empty());
  view.budgets[0].spec.scope.namespaces = {"ml"};
  EXPECT_TRUE(Decide(Request("batch", "Job", Job("{}", 1, 1), "UPDATE"), view).json_patch.empty());
  // Not yet published: fail open.
  view.budgets[0].status.admission.reset();
  EXPECT_TRUE(Decide(Request("batch", "Job", Job("{}", 1, 1)), view).json_patch.empty());
}

TEST(AdmissionJobTest, DryRunWarnsWithoutSuspending) {
  AdmissionView view;
  view.budgets.push_back(Budget("vision", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  view.budgets[0].spec.enforcement = api::EnforcementMode::kDryRun;
  AdmissionResponse r = Decide(Request("batch", "Job", Job("{}", 1, 1)), view);
  EXPECT_TRUE(r.json_patch.empty());
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_NE(r.warnings[0].find("DryRun"), std::string::npos);
}

TEST(AdmissionJobTest, TheNarrowerPodSelectorBudgetDecides) {
  AdmissionView view;
  view.budgets.push_back(Budget("namespace-wide", "ml"));
  view.budgets.push_back(Budget("team-a", "ml", values::Labels{{"team", "a"}}));
  view.budgets[1].status.admission->hold_new_work = true;
  EXPECT_FALSE(
      Decide(Request("batch", "Job", Job(R"({"team":"a"})", 1, 1)), view).json_patch.empty());
  EXPECT_TRUE(
      Decide(Request("batch", "Job", Job(R"({"team":"b"})", 1, 1)), view).json_patch.empty());
}

// ---- Pod decisions ----

TEST(AdmissionPodTest, APodOverTheGpuAllowanceIsRefusedWithTheBudgetAndWhatToDo) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml", values::Labels{{"team", "a"}}));
  view.budgets[0].status.phase = api::BudgetPhase::kThrottled;
  Allow(view.budgets[0], values::kGpuResource, "2");
  view.usage["team-a"].gpus = 1;
  AdmissionResponse r =
      Decide(Request("", "Pod", Pod(R"({"team":"a"})", R"({"nvidia.com/gpu":"2"})")), view);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.code, 403);
  EXPECT_NE(r.message.find("budget \"team-a\" (phase Throttled)"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("nvidia.com/gpu 2"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("kubectl bursar why team-a"), std::string::npos) << r.message;
  EXPECT_TRUE(Decide(Request("", "Pod", Pod(R"({"team":"a"})", R"({"nvidia.com/gpu":"1"})")), view)
                  .allowed);
}

TEST(AdmissionPodTest, APodOfAnotherBudgetInTheSameNamespaceIsAdmitted) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml", values::Labels{{"team", "a"}}));
  view.budgets.push_back(Budget("team-b", "ml", values::Labels{{"team", "b"}}));
  view.budgets[0].status.admission->hold_new_work = true;
  Allow(view.budgets[1], values::kGpuResource, "4");
  EXPECT_FALSE(Decide(Request("", "Pod", Pod(R"({"team":"a"})", R"({"nvidia.com/gpu":"1"})")), view)
                   .allowed);
  EXPECT_TRUE(Decide(Request("", "Pod", Pod(R"({"team":"b"})", R"({"nvidia.com/gpu":"1"})")), view)
                  .allowed);
}

TEST(AdmissionPodTest, CpuAndMemoryAllowancesAreEnforced) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml"));
  Allow(view.budgets[0], "cpu", "4");
  Allow(view.budgets[0], "memory", "8Gi");
  view.usage["team-a"].cpu = *Quantity::Parse("3");
  view.usage["team-a"].memory = *Quantity::Parse("4Gi");
  AdmissionResponse cpu = Decide(Request("", "Pod", Pod("{}", R"({"cpu":"1500m"})")), view);
  EXPECT_FALSE(cpu.allowed);
  EXPECT_NE(cpu.message.find("cpu 1500m"), std::string::npos) << cpu.message;
  AdmissionResponse memory = Decide(Request("", "Pod", Pod("{}", R"({"memory":"5Gi"})")), view);
  EXPECT_FALSE(memory.allowed);
  EXPECT_NE(memory.message.find("memory"), std::string::npos) << memory.message;
  EXPECT_TRUE(Decide(Request("", "Pod", Pod("{}", R"({"cpu":"1","memory":"4Gi"})")), view).allowed);
}

TEST(AdmissionPodTest, AHeldBudgetRefusesPodsRequestingAQuotaResourceOnly) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml"));
  view.budgets[0].spec.quota.resources = {values::kGpuResource};
  view.budgets[0].status.admission->hold_new_work = true;
  view.budgets[0].status.phase = api::BudgetPhase::kHeld;
  AdmissionResponse r = Decide(Request("", "Pod", Pod("{}", R"({"nvidia.com/gpu":"1"})")), view);
  EXPECT_FALSE(r.allowed);
  EXPECT_NE(r.message.find("holds new work"), std::string::npos);
  EXPECT_TRUE(Decide(Request("", "Pod", Pod("{}", R"({"cpu":"1"})")), view).allowed);
}

TEST(AdmissionPodTest, PodsLeftAlone) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml"));
  view.budgets[0].status.admission->hold_new_work = true;
  std::string gpu_pod = Pod("{}", R"({"nvidia.com/gpu":"1"})");
  // Controlled by a Job: gated with its Job.
  EXPECT_TRUE(
      Decide(
          Request(
              "", "Pod",
              Pod("{}", R"({"nvidia.com/gpu":"1"})",
                  R"(,"ownerReferences":[{"apiVersion":"batch/v1","kind":"Job","name":"j","uid":"x","controller":true}])")),
          view)
          .allowed);
  // Kueue and None modes.
  view.budgets[0].spec.quota.mode = api::QuotaMode::kKueueClusterQueue;
  EXPECT_TRUE(Decide(Request("", "Pod", gpu_pod), view).allowed);
  view.budgets[0].spec.quota.mode = api::QuotaMode::kNone;
  EXPECT_TRUE(Decide(Request("", "Pod", gpu_pod), view).allowed);
  // ResourceQuota mode is gated as well.
  view.budgets[0].spec.quota.mode = api::QuotaMode::kResourceQuota;
  EXPECT_FALSE(Decide(Request("", "Pod", gpu_pod), view).allowed);
  // DryRun: allowed with a warning.
  view.budgets[0].spec.enforcement = api::EnforcementMode::kDryRun;
  AdmissionResponse dry = Decide(Request("", "Pod", gpu_pod), view);
  EXPECT_TRUE(dry.allowed);
  ASSERT_EQ(dry.warnings.size(), 1u);
  // Other kinds.
  EXPECT_TRUE(Decide(Request("apps", "Deployment", "{}"), view).allowed);
}

TEST(AdmissionPodTest, APodThatDoesNotDecodeIsAllowedWithAWarning) {
  AdmissionView view;
  view.budgets.push_back(Budget("team-a", "ml"));
  AdmissionResponse r =
      Decide(Request("", "Pod", R"({"metadata":{"name":"p"},"spec":{"containers":"nope"}})"), view);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(AdmissionUsageTest, SumsActivePodsIntoTheBudgetTheyAreChargedTo) {
  std::vector<api::ComputeBudget> budgets = {Budget("wide", "ml"),
                                             Budget("team-a", "ml", values::Labels{{"team", "a"}})};
  auto pod = [](std::string team, int64_t gpus, reconcilers::PodState state) {
    reconcilers::PodView p;
    p.namespace_name = kube::InternedString("ml");
    p.labels = {{"team", team}};
    p.state = state;
    p.containers.push_back({.cpu_milli = 500, .memory_bytes = 1024, .gpus = gpus});
    return p;
  };
  std::map<std::string, BudgetUsage> usage = UsageByBudget(
      budgets, {},
      {pod("a", 2, reconcilers::PodState::kRunning), pod("a", 4, reconcilers::PodState::kEnded),
       pod("b", 1, reconcilers::PodState::kPending)});
  EXPECT_EQ(usage["team-a"].gpus, 2);
  EXPECT_EQ(usage["team-a"].cpu, Quantity::FromMilli(500));
  EXPECT_EQ(usage["wide"].gpus, 1);
  EXPECT_EQ(usage["wide"].memory, Quantity::FromUnits(1024));
  EXPECT_TRUE(usage["team-a"].retraining_gpus.empty());

  // Retraining pods' GPUs are counted by model as well (the reserve's part once unlocked), for a
  // budget that keeps a reserve.
  budgets[1].spec.retraining.reserve_percent = 10;
  reconcilers::PodView retrain = pod("a", 3, reconcilers::PodState::kRunning);
  retrain.labels = {{"team", "a"}, {"bursar.dev/purpose", "retrain"}, {"bursar.dev/model", "m"}};
  usage = UsageByBudget(budgets, {}, {retrain, pod("a", 2, reconcilers::PodState::kRunning)});
  EXPECT_EQ(usage["team-a"].gpus, 5);
  EXPECT_EQ(usage["team-a"].retraining_gpus,
            (std::map<std::string, int64_t, std::less<>>{{"m", 3}}));
  BudgetUsage total = usage["team-a"];
  Subtract(total, UsageOf(retrain, budgets[1]));
  EXPECT_EQ(total.gpus, 2);
  EXPECT_TRUE(total.retraining_gpus.empty());

  // GPU counts past int64 saturate instead of wrapping around to a small or negative total.
  usage = UsageByBudget(budgets, {},
                        {pod("a", INT64_MAX - 1, reconcilers::PodState::kRunning),
                         pod("a", 2, reconcilers::PodState::kRunning)});
  EXPECT_EQ(usage["team-a"].gpus, INT64_MAX);
}

}  // namespace
}  // namespace bursar::admission
