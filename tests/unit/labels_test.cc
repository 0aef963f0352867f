// Tests for values::LabelSelector: metav1.LabelSelector semantics (matchLabels AND every
// matchExpression; NotIn and DoesNotExist match absent keys; the empty selector matches all).

#include "controllers/values/labels.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

class SelectorBuilder {
 public:
  SelectorBuilder& Label(std::string key, std::string value) {
    selector_.match_labels[std::move(key)] = std::move(value);
    return *this;
  }
  SelectorBuilder& In(std::string key, std::vector<std::string> values) {
    return Expr(std::move(key), SelectorOperator::kIn, std::move(values));
  }
  SelectorBuilder& NotIn(std::string key, std::vector<std::string> values) {
    return Expr(std::move(key), SelectorOperator::kNotIn, std::move(values));
  }
  SelectorBuilder& Exists(std::string key) {
    return Expr(std::move(key), SelectorOperator::kExists, {});
  }
  SelectorBuilder& DoesNotExist(std::string key) {
    return Expr(std::move(key), SelectorOperator::kDoesNotExist, {});
  }
  LabelSelector Build() const { return selector_; }

 private:
  SelectorBuilder& Expr(std::string key, SelectorOperator op, std::vector<std::string> values) {
    selector_.match_expressions.push_back({std::move(key), op, std::move(values)});
    return *this;
  }
  LabelSelector selector_;
};

struct MatchCase {
  std::string name;
  LabelSelector selector;
  Labels labels;
  bool want;
};

void PrintTo(const MatchCase& c, std::ostream* os) {
  *os << c.name;
}

class LabelsMatchTest : public testing::TestWithParam<MatchCase> {};

TEST_P(LabelsMatchTest, Matches) {
  const MatchCase& c = GetParam();
  EXPECT_EQ(c.selector.Matches(c.labels), c.want) << c.name;
}

const Labels kTeamVision = {{"team", "vision"}, {"tier", "gpu"}};

INSTANTIATE_TEST_SUITE_P(
    Labels, LabelsMatchTest,
    testing::Values(
        // Empty selector.
        MatchCase{"EmptySelectorMatchesEmptyLabels", SelectorBuilder().Build(), {}, true},
        MatchCase{"EmptySelectorMatchesAnyLabels", SelectorBuilder().Build(), kTeamVision, true},
        // matchLabels.
        MatchCase{"LabelEqual", SelectorBuilder().Label("team", "vision").Build(), kTeamVision,
                  true},
        MatchCase{"LabelDifferentValue", SelectorBuilder().Label("team", "nlp").Build(),
                  kTeamVision, false},
        MatchCase{"LabelAbsent", SelectorBuilder().Label("owner", "x").Build(), kTeamVision, false},
        MatchCase{"LabelValueIsNotAKey", SelectorBuilder().Label("vision", "team").Build(),
                  kTeamVision, false},
        MatchCase{"AllLabelsMustMatch",
                  SelectorBuilder().Label("team", "vision").Label("tier", "cpu").Build(),
                  kTeamVision, false},
        MatchCase{"TwoLabelsBothMatch",
                  SelectorBuilder().Label("team", "vision").Label("tier", "gpu").Build(),
                  kTeamVision, true},
        MatchCase{"EmptyValueMatchesEmptyValue",
                  SelectorBuilder().Label("flag", "").Build(),
                  {{"flag", ""}},
                  true},
        MatchCase{
            "EmptyValueDoesNotMatchAbsent", SelectorBuilder().Label("flag", "").Build(), {}, false},
        // In.
        MatchCase{"InValueListed", SelectorBuilder().In("team", {"nlp", "vision"}).Build(),
                  kTeamVision, true},
        MatchCase{"InValueNotListed", SelectorBuilder().In("team", {"nlp", "speech"}).Build(),
                  kTeamVision, false},
        MatchCase{"InKeyAbsent", SelectorBuilder().In("owner", {"vision"}).Build(), kTeamVision,
                  false},
        MatchCase{"InEmptyValues", SelectorBuilder().In("team", {}).Build(), kTeamVision, false},
        // NotIn.
        MatchCase{"NotInValueListed", SelectorBuilder().NotIn("team", {"vision"}).Build(),
                  kTeamVision, false},
        MatchCase{"NotInValueNotListed", SelectorBuilder().NotIn("team", {"nlp"}).Build(),
                  kTeamVision, true},
        MatchCase{"NotInKeyAbsentMatches", SelectorBuilder().NotIn("owner", {"x"}).Build(),
                  kTeamVision, true},
        MatchCase{
            "NotInOnEmptyLabels", SelectorBuilder().NotIn("team", {"vision"}).Build(), {}, true},
        // Exists / DoesNotExist.
        MatchCase{"ExistsPresent", SelectorBuilder().Exists("team").Build(), kTeamVision, true},
        MatchCase{"ExistsPresentWithEmptyValue",
                  SelectorBuilder().Exists("flag").Build(),
                  {{"flag", ""}},
                  true},
        MatchCase{"ExistsAbsent", SelectorBuilder().Exists("owner").Build(), kTeamVision, false},
        MatchCase{"DoesNotExistAbsent", SelectorBuilder().DoesNotExist("owner").Build(),
                  kTeamVision, true},
        MatchCase{"DoesNotExistPresent", SelectorBuilder().DoesNotExist("team").Build(),
                  kTeamVision, false},
        // Combinations: everything must hold.
        MatchCase{"LabelsAndExpressionsAllHold",
                  SelectorBuilder()
                      .Label("team", "vision")
                      .In("tier", {"gpu"})
                      .NotIn("stage", {"prod"})
                      .Exists("tier")
                      .DoesNotExist("frozen")
                      .Build(),
                  kTeamVision, true},
        MatchCase{"LabelHoldsExpressionFails",
                  SelectorBuilder().Label("team", "vision").In("tier", {"cpu"}).Build(),
                  kTeamVision, false},
        MatchCase{"ExpressionHoldsLabelFails",
                  SelectorBuilder().Label("team", "nlp").In("tier", {"gpu"}).Build(), kTeamVision,
                  false},
        MatchCase{"LastExpressionFails",
                  SelectorBuilder().Exists("team").Exists("tier").DoesNotExist("tier").Build(),
                  kTeamVision, false}),
    [](const testing::TestParamInfo<MatchCase>& p) { return p.param.name; });

TEST(LabelsSelectorTest, EmptyAndSpecificity) {
  EXPECT_TRUE(SelectorBuilder().Build().Empty());
  EXPECT_EQ(SelectorBuilder().Build().Specificity(), 0u);

  LabelSelector labels_only = SelectorBuilder().Label("a", "1").Build();
  EXPECT_FALSE(labels_only.Empty());
  EXPECT_EQ(labels_only.Specificity(), 1u);

  LabelSelector expressions_only = SelectorBuilder().Exists("a").Build();
  EXPECT_FALSE(expressions_only.Empty());
  EXPECT_EQ(expressions_only.Specificity(), 1u);

  LabelSelector both = SelectorBuilder().Label("a", "1").Label("b", "2").NotIn("c", {"x"}).Build();
  EXPECT_EQ(both.Specificity(), 3u);
  EXPECT_GT(both.Specificity(), labels_only.Specificity());
}

TEST(LabelsSelectorTest, Equality) {
  EXPECT_EQ(SelectorBuilder().Label("a", "1").In("b", {"x"}).Build(),
            SelectorBuilder().Label("a", "1").In("b", {"x"}).Build());
  EXPECT_NE(SelectorBuilder().In("b", {"x"}).Build(), SelectorBuilder().NotIn("b", {"x"}).Build());
  EXPECT_NE(SelectorBuilder().Label("a", "1").Build(), SelectorBuilder().Label("a", "2").Build());
}

TEST(LabelsSelectorTest, OperatorNames) {
  EXPECT_STREQ(SelectorOperatorName(SelectorOperator::kIn), "In");
  EXPECT_STREQ(SelectorOperatorName(SelectorOperator::kNotIn), "NotIn");
  EXPECT_STREQ(SelectorOperatorName(SelectorOperator::kExists), "Exists");
  EXPECT_STREQ(SelectorOperatorName(SelectorOperator::kDoesNotExist), "DoesNotExist");
}

}  // namespace
}  // namespace bursar::values
