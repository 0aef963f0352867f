// Tests for engine::AttributePod and engine::Attributor: the narrowest scope wins, then the
// oldest budget, then the name; the indexed Attributor gives the same answers as AttributePod
// for every pod of a mixed set of scopes.

#include "controllers/engine/attribution.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace bursar::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

values::LabelSelector Selector(const std::string& key, const std::string& value) {
  values::LabelSelector s;
  s.match_labels = {{key, value}};
  return s;
}

api::ComputeBudget Budget(const std::string& name, absl::Time created) {
  api::ComputeBudget b;
  b.metadata.name = name;
  b.metadata.creation_timestamp = created;
  return b;
}

// Namespaces a, b, c (c labelled tier=gpu); budgets over them with and without podSelectors,
// some overlapping, two identical but for their age.
std::vector<api::ComputeBudget> MixedBudgets() {
  std::vector<api::ComputeBudget> out;
  api::ComputeBudget ns_a = Budget("ns-a", kT0);
  ns_a.spec.scope.namespaces = {"a"};
  out.push_back(ns_a);
  api::ComputeBudget ns_a_younger = Budget("ns-a-younger", kT0 + absl::Hours(1));
  ns_a_younger.spec.scope.namespaces = {"a"};
  out.push_back(ns_a_younger);
  api::ComputeBudget train_in_a = Budget("train-in-a", kT0 + absl::Hours(2));
  train_in_a.spec.scope.namespaces = {"a", "b"};
  train_in_a.spec.scope.pod_selector = Selector("app", "train");
  out.push_back(train_in_a);
  api::ComputeBudget gpu_tier = Budget("gpu-tier", kT0);
  gpu_tier.spec.scope.namespace_selector = Selector("tier", "gpu");
  out.push_back(gpu_tier);
  api::ComputeBudget by_name = Budget("by-name", kT0);
  by_name.spec.scope.namespace_selector = Selector("kubernetes.io/metadata.name", "b");
  out.push_back(by_name);
  return out;
}

TEST(AttributionTest, TheNarrowestThenOldestScopeWins) {
  std::vector<api::ComputeBudget> budgets = MixedBudgets();
  std::vector<const api::ComputeBudget*> ptrs;
  for (const api::ComputeBudget& b : budgets) {
    ptrs.push_back(&b);
  }
  values::Labels train = {{"app", "train"}};
  values::Labels serve = {{"app", "serve"}};
  Attribution a = AttributePod(ptrs, {.namespace_name = "a", .pod_labels = &train});
  EXPECT_EQ(budgets[static_cast<size_t>(a.budget)].metadata.name, "train-in-a");
  EXPECT_EQ(a.overlapping, (std::vector<int>{0, 1}));
  Attribution s = AttributePod(ptrs, {.namespace_name = "a", .pod_labels = &serve});
  EXPECT_EQ(budgets[static_cast<size_t>(s.budget)].metadata.name, "ns-a");
  EXPECT_EQ(s.overlapping, (std::vector<int>{1}));
  Attribution none = AttributePod(ptrs, {.namespace_name = "elsewhere", .pod_labels = &serve});
  EXPECT_EQ(none.budget, -1);
}

TEST(AttributionTest, TheIndexedAttributorAgreesWithAttributePodEverywhere) {
  std::vector<api::ComputeBudget> budgets = MixedBudgets();
  std::vector<const api::ComputeBudget*> ptrs;
  for (const api::ComputeBudget& b : budgets) {
    ptrs.push_back(&b);
  }
  std::map<std::string, values::Labels> namespaces = {
      {"a", {}}, {"b", {}}, {"c", {{"tier", "gpu"}}}, {"d", {{"tier", "cpu"}}}};
  std::vector<values::Labels> pod_labels = {{}, {{"app", "train"}}, {{"app", "serve"}}};
  Attributor attributor(ptrs);
  int matched = 0;
  for (int round = 0; round < 2; ++round) {  // the second round answers from the index
    for (const auto& [ns, ns_labels] : namespaces) {
      for (const values::Labels& labels : pod_labels) {
        PodScopeKey pod{
            .namespace_name = ns, .namespace_labels = &ns_labels, .pod_labels = &labels};
        Attribution want = AttributePod(ptrs, pod);
        Attribution got = attributor.Attribute(pod);
        EXPECT_EQ(got.budget, want.budget) << ns << " " << labels.size();
        EXPECT_EQ(got.overlapping, want.overlapping) << ns;
        matched += want.budget >= 0 ? 1 : 0;
      }
    }
  }
  EXPECT_EQ(matched, 2 * 9);  // a, b and c have a budget for every pod; d has none
}

}  // namespace
}  // namespace bursar::engine
