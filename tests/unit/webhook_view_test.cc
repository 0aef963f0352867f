// The webhook's view kept current from cache events (AdmissionViewCache) against the view built
// from scratch (BuildAdmissionView) over the same caches, through a seeded random walk of pod,
// budget and namespace events; and a view handed to a request never changes under it.

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/admission/webhook_handler.h"
#include "gtest/gtest.h"
#include "operator/json/json.h"
#include "operator/kube/watch_decoder.h"
#include "operator/runtime/store.h"

namespace bursar::admission {
namespace {

using runtime::WatcherEvent;

json::Value Parsed(const std::string& text) {
  absl::StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status() << " in " << text;
  return v.ok() ? *std::move(v) : json::Value();
}

// A budget over `ns`, optionally only pods labelled team=`team`; generation moves with its spec.
json::Value BudgetObject(const std::string& name, const std::string& ns, const std::string& team,
                         int generation, int allowed_gpus, const std::string& created) {
  std::string selector =
      team.empty() ? ""
                   : absl::StrCat(R"(,"podSelector":{"matchLabels":{"team":")", team, R"("}})");
  return Parsed(absl::StrCat(
      R"({"apiVersion":"bursar.dev/v1alpha1","kind":"ComputeBudget","metadata":{"name":")", name,
      R"(","uid":"uid-)", name, R"(","generation":)", generation, R"(,"resourceVersion":")",
      generation * 1000 + allowed_gpus, R"(","creationTimestamp":")", created,
      R"("},"spec":{"scope":{"namespaces":[")", ns, R"("])", selector,
      R"(},"limit":{"amount":"100","currency":"USD"},"period":{"type":"Monthly"},)",
      R"("quota":{"mode":"Webhook","resources":["nvidia.com/gpu","cpu"]}},)",
      R"("status":{"admission":{"holdNewWork":false,"allowed":{"nvidia.com/gpu":")", allowed_gpus,
      R"("}}}})"));
}

json::Value NamespaceObject(const std::string& name, const std::string& tier, int version) {
  return Parsed(absl::StrCat(R"({"apiVersion":"v1","kind":"Namespace","metadata":{"name":")", name,
                             R"(","resourceVersion":")", version, R"(","labels":{"tier":")", tier,
                             R"("}}})"));
}

kube::PodSummary PodObject(int i, const std::string& ns, const std::string& team, int gpus,
                           const std::string& phase, int version) {
  std::string text = absl::StrCat(
      R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p-)", i, R"(","namespace":")", ns,
      R"(","uid":"pod-uid-)", i, R"(","resourceVersion":")", version, R"(","labels":{"team":")",
      team, R"("}},"spec":{"nodeName":"n-1","containers":[{"name":"c","resources":{"requests":)",
      R"({"cpu":")", 250 * (i % 4 + 1), R"(m","memory":"1Gi","nvidia.com/gpu":")", gpus,
      R"("}}}]},"status":{"phase":")", phase, R"("}})");
  kube::PodSummaryDecoder decoder({kube::PodSummaryDecoder::kAllLabels});
  absl::StatusOr<kube::PodSummary> pod = decoder.DecodePod(text);
  EXPECT_TRUE(pod.ok()) << pod.status();
  return pod.ok() ? *std::move(pod) : kube::PodSummary();
}

void ExpectSameView(const AdmissionView& got, const AdmissionView& want, int step) {
  ASSERT_EQ(got.budgets.size(), want.budgets.size()) << "step " << step;
  std::map<std::string, std::string> got_status, want_status;
  for (size_t i = 0; i < got.budgets.size(); ++i) {
    const auto& g = got.budgets[i];
    const auto& w = want.budgets[i];
    EXPECT_EQ(g.metadata.name, w.metadata.name) << "step " << step;
    ASSERT_TRUE(g.status.admission.has_value() && w.status.admission.has_value());
    EXPECT_EQ(g.status.admission->allowed, w.status.admission->allowed) << "step " << step;
  }
  EXPECT_EQ(got.namespaces, want.namespaces) << "step " << step;
  ASSERT_EQ(got.usage.size(), want.usage.size()) << "step " << step;
  for (const auto& [name, u] : want.usage) {
    auto found = got.usage.find(name);
    ASSERT_NE(found, got.usage.end()) << "step " << step << ": no usage for " << name;
    EXPECT_EQ(found->second.gpus, u.gpus) << "step " << step << " budget " << name;
    EXPECT_EQ(found->second.cpu, u.cpu) << "step " << step << " budget " << name;
    EXPECT_EQ(found->second.memory, u.memory) << "step " << step << " budget " << name;
  }
}

class WebhookViewTest : public ::testing::Test {
 protected:
  WebhookViewTest() {
    caches_ = {.pods = &pods_, .namespaces = &namespaces_, .budgets = &budgets_};
    namespaces_.Apply(WatcherEvent<json::Value>::Restarted(
        {NamespaceObject("ml", "gold", 1), NamespaceObject("web", "free", 1)}));
    budgets_.Apply(WatcherEvent<json::Value>::Restarted({
        BudgetObject("ml", "ml", "", 1, 40, "2026-01-01T00:00:00Z"),
        BudgetObject("ml-vision", "ml", "vision", 1, 8, "2026-02-01T00:00:00Z"),
        BudgetObject("web", "web", "", 1, 4, "2026-03-01T00:00:00Z"),
    }));
  }

  kube::PodSummary RandomPod(std::mt19937& rng, int i, int version) {
    static const char* kNamespaces[] = {"ml", "web", "other"};
    static const char* kTeams[] = {"vision", "nlp", "vision"};
    static const char* kPhases[] = {"Running", "Running", "Pending", "Succeeded"};
    return PodObject(i, kNamespaces[rng() % 3], kTeams[rng() % 3], static_cast<int>(rng() % 3),
                     kPhases[rng() % 4], version);
  }

  reconcilers::PodViewStore pods_{reconcilers::PodViewOf};
  runtime::ObjectStore namespaces_;
  runtime::ObjectStore budgets_;
  WebhookCaches caches_;
};

TEST_F(WebhookViewTest, KeptViewEqualsTheRebuiltViewThroughEveryKindOfEvent) {
  std::mt19937 rng(12);
  std::vector<kube::PodSummary> first;
  for (int i = 0; i < 200; ++i) {
    first.push_back(RandomPod(rng, i, 1));
  }
  pods_.Apply(WatcherEvent<kube::PodSummary>::Restarted(first));
  AdmissionViewCache cache(caches_);
  ExpectSameView(*cache.Get(), BuildAdmissionView(caches_), -1);
  int version = 2;
  for (int step = 0; step < 400; ++step) {
    const int i = static_cast<int>(rng() % 260);  // some new, most existing
    switch (rng() % 10) {
      case 0:
        pods_.Apply(WatcherEvent<kube::PodSummary>::Deleted(PodObject(i, "ml", "", 0, "", 0)));
        break;
      case 1:  // status writes only: scope unchanged, the index kept
        budgets_.Apply(WatcherEvent<json::Value>::Applied(BudgetObject(
            "web", "web", "", 1, static_cast<int>(rng() % 9), "2026-03-01T00:00:00Z")));
        break;
      case 2:  // a spec change: ml-vision now selects nlp, every pod re-attributed
        budgets_.Apply(WatcherEvent<json::Value>::Applied(
            BudgetObject("ml-vision", "ml", step % 2 == 0 ? "nlp" : "vision", 2 + step, 8,
                         "2026-02-01T00:00:00Z")));
        break;
      case 3:
        namespaces_.Apply(WatcherEvent<json::Value>::Applied(
            NamespaceObject("web", step % 2 == 0 ? "gold" : "free", version)));
        break;
      default:
        pods_.Apply(WatcherEvent<kube::PodSummary>::Applied(RandomPod(rng, i, version)));
    }
    ++version;
    if (rng() % 3 == 0) {  // several events between two requests, sometimes
      continue;
    }
    ExpectSameView(*cache.Get(), BuildAdmissionView(caches_), step);
    if (HasFatalFailure()) {
      return;
    }
  }
}

TEST_F(WebhookViewTest, APodThatEndsOrMovesLeavesItsBudgetsUsage) {
  pods_.Apply(WatcherEvent<kube::PodSummary>::Restarted(
      {PodObject(1, "ml", "vision", 2, "Running", 1), PodObject(2, "ml", "nlp", 1, "Running", 1)}));
  AdmissionViewCache cache(caches_);
  EXPECT_EQ(cache.Get()->usage.at("ml-vision").gpus, 2);
  EXPECT_EQ(cache.Get()->usage.at("ml").gpus, 1);
  pods_.Apply(WatcherEvent<kube::PodSummary>::Applied(PodObject(1, "ml", "nlp", 2, "Running", 2)));
  EXPECT_FALSE(
      cache.Get()->usage.contains("ml-vision"));  // as UsageByBudget: no live pod, no entry
  EXPECT_EQ(cache.Get()->usage.at("ml").gpus, 3);
  pods_.Apply(
      WatcherEvent<kube::PodSummary>::Applied(PodObject(2, "ml", "nlp", 1, "Succeeded", 3)));
  EXPECT_EQ(cache.Get()->usage.at("ml").gpus, 2);
  pods_.Apply(WatcherEvent<kube::PodSummary>::Deleted(PodObject(1, "ml", "nlp", 2, "Running", 4)));
  EXPECT_TRUE(cache.Get()->usage.empty());
}

TEST_F(WebhookViewTest, AViewHandedOutNeverChangesUnderItsReader) {
  pods_.Apply(
      WatcherEvent<kube::PodSummary>::Restarted({PodObject(1, "web", "x", 2, "Running", 1)}));
  AdmissionViewCache cache(caches_);
  std::shared_ptr<const AdmissionView> held = cache.Get();
  pods_.Apply(WatcherEvent<kube::PodSummary>::Applied(PodObject(2, "web", "x", 1, "Running", 2)));
  std::shared_ptr<const AdmissionView> now = cache.Get();
  EXPECT_EQ(held->usage.at("web").gpus, 2);
  EXPECT_EQ(now->usage.at("web").gpus, 3);
  held.reset();
  now.reset();
  pods_.Apply(WatcherEvent<kube::PodSummary>::Deleted(PodObject(1, "web", "x", 2, "Running", 3)));
  EXPECT_EQ(cache.Get()->usage.at("web").gpus, 1);
}

TEST_F(WebhookViewTest, DecisionsFromTheKeptViewMatchTheRebuiltOnes) {
  std::vector<kube::PodSummary> pods;
  for (int i = 0; i < 10; ++i) {
    pods.push_back(PodObject(i, "web", "x", 1, "Running", 1));  // web allows 4 GPUs, holds 10
  }
  pods_.Apply(WatcherEvent<kube::PodSummary>::Restarted(pods));
  AdmissionViewCache cache(caches_);
  absl::StatusOr<AdmissionRequest> request = DecodeAdmissionReview(absl::StrCat(
      R"({"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u",)",
      R"("kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","namespace":"web",)",
      R"("object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"new","namespace":"web"},)",
      R"("spec":{"containers":[{"name":"c","resources":{"requests":{"nvidia.com/gpu":"1"}}}]}}}})"));
  ASSERT_TRUE(request.ok()) << request.status();
  AdmissionResponse kept = Decide(*request, *cache.Get());
  AdmissionResponse rebuilt = Decide(*request, BuildAdmissionView(caches_));
  EXPECT_FALSE(kept.allowed);
  EXPECT_EQ(kept.message, rebuilt.message);
  for (int i = 0; i < 10; ++i) {
    pods_.Apply(WatcherEvent<kube::PodSummary>::Deleted(PodObject(i, "web", "x", 1, "", 2)));
  }
  EXPECT_TRUE(Decide(*request, *cache.Get()).allowed);
}

}  // namespace
}  // namespace bursar::admission
