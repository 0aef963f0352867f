// The admission webhook's view and decisions at cluster scale: N cached pods (the realistic 4.3 KB
// GPU pod of tests/testdata/gpu-pod.json, distinct names, uids and namespaces) over B namespaces,
// one ComputeBudget each with its status.admission published (docs/operations.md, Admission
// latency).
//   BM_AdmissionView             the view built from scratch (BuildAdmissionView): what every
//                                request paid under pod churn before the view was kept current
//   BM_AdmissionViewPodEvent     one pod event then AdmissionViewCache::Get(): what a request pays
//                                now under churn
//   BM_AdmissionViewBudgetEvent  one budget status write then Get(): the budgets re-decoded
//   BM_AdmissionDecide           Decide() on a Pod and on a Job CREATE from a built view
//   build/tests/bursar_bench --benchmark_filter=Admission

#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/admission/admission_review.h"
#include "controllers/admission/webhook_handler.h"
#include "operator/json/json.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/store.h"

namespace bursar::admission {
namespace {

using runtime::WatcherEvent;

std::string Fixture() {
  std::ifstream in(std::string(BURSAR_SOURCE_DIR) + "/tests/testdata/gpu-pod.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

kube::PodSummary Pod(const std::string& fixture, int64_t i, int namespaces, int64_t version) {
  std::string text = absl::StrReplaceAll(
      fixture, {{"llama-finetune-7b-worker-0-x7k2p", absl::StrCat("worker-", i)},
                {"3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21", absl::StrCat("uid-", i, "-5b1d-4c8e")},
                {"\"ml-research\"", absl::StrCat("\"team-", i % namespaces, "\"")},
                {"\"184467440\"", absl::StrCat("\"", version, "\"")}});
  kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  absl::StatusOr<kube::PodSummary> pod = decoder.DecodePod(text);
  return pod.ok() ? *std::move(pod) : kube::PodSummary();
}

json::Value Budget(int i, int64_t version) {
  absl::StatusOr<json::Value> v = json::Parse(absl::StrCat(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","metadata":{"name":"team-)", i,
      R"(","uid":"uid-)", i, R"(","generation":1,"resourceVersion":")", version,
      R"(","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"scope":{"namespaces":["team-)", i,
      R"("]},"limit":{"amount":"100000","currency":"USD"},"period":{"type":"Monthly"},)",
      R"("quota":{"mode":"Webhook","resources":["nvidia.com/gpu","cpu"]}},"status":{"phase":)",
      R"("WithinBudget","spent":"1234.5","admission":{"holdNewWork":false,"allowed":)",
      R"({"nvidia.com/gpu":")", 400 + version % 7, R"(","cpu":"4000"},"gpuHourPrice":"4",)",
      R"("moneyLeft":"98765.5"}}})"));
  return v.ok() ? *std::move(v) : json::Value();
}

// The operator's three caches, filled.
struct Caches {
  Caches(int64_t pods, int budgets) {
    const std::string fixture = Fixture();
    std::vector<kube::PodSummary> all;
    for (int64_t i = 0; i < pods; ++i) {
      all.push_back(Pod(fixture, i, budgets, 1));
    }
    pod_store.Apply(WatcherEvent<kube::PodSummary>::Restarted(std::move(all)));
    std::vector<json::Value> budget_objects, namespace_objects;
    for (int i = 0; i < budgets; ++i) {
      budget_objects.push_back(Budget(i, 1));
      absl::StatusOr<json::Value> ns = json::Parse(
          absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":"team-)", i,
                       R"(","resourceVersion":"1","labels":{"kubernetes.io/metadata.name":"team-)",
                       i, R"("}}})"));
      namespace_objects.push_back(ns.ok() ? *std::move(ns) : json::Value());
    }
    budget_store.Apply(WatcherEvent<json::Value>::Restarted(std::move(budget_objects)));
    namespace_store.Apply(WatcherEvent<json::Value>::Restarted(std::move(namespace_objects)));
    caches = {.pods = &pod_store, .namespaces = &namespace_store, .budgets = &budget_store};
  }
  reconcilers::PodViewStore pod_store{reconcilers::PodViewOf};
  runtime::ObjectStore namespace_store;
  runtime::ObjectStore budget_store;
  WebhookCaches caches;
};

void Sizes(benchmark::internal::Benchmark* b) {
  b->Args({10000, 100})->Unit(benchmark::kMicrosecond);
}

void BM_AdmissionView(benchmark::State& state) {
  Caches c(state.range(0), static_cast<int>(state.range(1)));
  for (auto _ : state) {
    AdmissionView view = BuildAdmissionView(c.caches);
    benchmark::DoNotOptimize(view);
  }
}
BENCHMARK(BM_AdmissionView)->Apply(Sizes);

void BM_AdmissionViewPodEvent(benchmark::State& state) {
  const int budgets = static_cast<int>(state.range(1));
  Caches c(state.range(0), budgets);
  AdmissionViewCache cache(c.caches);
  const std::string fixture = Fixture();
  // Two versions of one pod, applied in turn: a modification the index must move.
  std::vector<kube::PodSummary> versions = {Pod(fixture, 7, budgets, 2),
                                            Pod(fixture, 7, budgets, 3)};
  int64_t n = 0;
  for (auto _ : state) {
    c.pod_store.Apply(WatcherEvent<kube::PodSummary>::Applied(versions[n++ % 2]));
    benchmark::DoNotOptimize(cache.Get());
  }
}
BENCHMARK(BM_AdmissionViewPodEvent)->Apply(Sizes);

void BM_AdmissionViewBudgetEvent(benchmark::State& state) {
  Caches c(state.range(0), static_cast<int>(state.range(1)));
  AdmissionViewCache cache(c.caches);
  std::vector<json::Value> versions = {Budget(3, 2), Budget(3, 3)};
  int64_t n = 0;
  for (auto _ : state) {
    c.budget_store.Apply(WatcherEvent<json::Value>::Applied(versions[n++ % 2]));
    benchmark::DoNotOptimize(cache.Get());
  }
}
BENCHMARK(BM_AdmissionViewBudgetEvent)->Apply(Sizes);

AdmissionRequest Request(const std::string& group, const std::string& kind,
                         const std::string& object) {
  absl::StatusOr<AdmissionRequest> r = DecodeAdmissionReview(absl::StrCat(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)",
      R"("kind":{"group":")", group, R"(","version":"v1","kind":")", kind,
      R"("},"operation":"CREATE","namespace":"team-3","object":)", object, "}}"));
  return r.ok() ? *std::move(r) : AdmissionRequest{};
}

void BM_AdmissionDecide(benchmark::State& state) {
  Caches c(state.range(0), static_cast<int>(state.range(1)));
  const AdmissionView view = BuildAdmissionView(c.caches);
  const std::string spec =
      R"({"containers":[{"name":"c","resources":{"requests":{"nvidia.com/gpu":"1","cpu":"8"}}}]})";
  const AdmissionRequest pod =
      Request("", "Pod",
              absl::StrCat(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":)",
                           R"("team-3","labels":{"team":"a"}},"spec":)", spec, "}"));
  const AdmissionRequest job = Request(
      "batch", "Job",
      absl::StrCat(R"({"apiVersion":"batch/v1","kind":"Job","metadata":{"name":"j","namespace":)",
                   R"("team-3","annotations":{"bursar.dev/expected-duration":"2h"}},"spec":)",
                   R"({"parallelism":2,"template":{"metadata":{"labels":{"team":"a"}},"spec":)",
                   spec, "}}}"));
  int64_t n = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(Decide(n++ % 2 == 0 ? pod : job, view));
  }
}
BENCHMARK(BM_AdmissionDecide)->Apply(Sizes);

}  // namespace
}  // namespace bursar::admission
