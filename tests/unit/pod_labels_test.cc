#include "controllers/reconcilers/pod_labels.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace bursar::reconcilers {
namespace {

TEST(PodLabelsTest, ACopyIsIndependentAndAMovedFromOneIsEmpty) {
  static_assert(sizeof(PodLabels) == 8);
  PodLabels a = {{"team", "cv"}, {"job-name", "train"}, {"batch.kubernetes.io/job-name", "train"}};
  PodLabels b = a;
  b.Set(kube::InternedString("team"), "nlp");
  EXPECT_EQ(a.Find("team"), "cv");
  EXPECT_EQ(b.Find("team"), "nlp");
  EXPECT_EQ(b.Find("batch.kubernetes.io/job-name"), "train");
  PodLabels c = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from one is empty
  EXPECT_EQ(a.Find("team"), std::nullopt);
  EXPECT_EQ(c.size(), 3u);
  c = b;
  EXPECT_EQ(c, b);
  EXPECT_TRUE(PodLabels().Entries().empty());
}

TEST(PodLabelsTest, AssignKeepsTheFirstPlaceAndTheLastValueOfARepeatedKey) {
  PodLabels labels;
  const std::vector<std::pair<kube::InternedString, std::string>> given = {
      {kube::InternedString("team"), "cv"},
      {kube::InternedString("tier"), "gold"},
      {kube::InternedString("team"), "nlp"}};
  labels.Assign(given);
  const std::vector<std::pair<std::string_view, std::string_view>> want = {{"team", "nlp"},
                                                                           {"tier", "gold"}};
  EXPECT_EQ(labels.Entries(), want);
}

TEST(PodLabelsTest, PodsWithTheSameKeysShareOneKeyList) {
  // Observable as the same key bytes, whichever pod is read, and as values kept apart.
  PodLabels a = {{"app", "x"}, {"team", "cv"}};
  PodLabels b = {{"app", "y"}, {"team", "nlp"}};
  PodLabels other_order = {{"team", "cv"}, {"app", "x"}};
  EXPECT_EQ(a.Entries()[1].first.data(), b.Entries()[1].first.data());
  EXPECT_EQ(b.Find("app"), "y");
  EXPECT_EQ(other_order.Entries()[0].first, "team");
  EXPECT_FALSE(a == other_order);  // the order set is part of what is kept
}

TEST(PodLabelsTest, ValuesPast64KiBInAllAreKeptWhole) {
  // More than the API server allows (63 characters a value), and still read back exactly.
  const std::string a(30'000, 'a');
  const std::string b(30'000, 'b');
  const std::string c(30'000, 'c');
  PodLabels labels = {{"x", a}, {"y", b}, {"z", c}, {"again", b}};
  EXPECT_EQ(labels.Find("x"), a);
  EXPECT_EQ(labels.Find("z"), c);
  EXPECT_EQ(labels.Find("again"), b);
  const PodLabels copy = labels;
  EXPECT_EQ(copy.Find("y"), b);
  EXPECT_EQ(copy, labels);
}

}  // namespace
}  // namespace bursar::reconcilers
