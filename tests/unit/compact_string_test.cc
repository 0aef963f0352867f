#include "controllers/values/compact_string.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace bursar::values {
namespace {

TEST(CompactStringTest, HoldsAnyTextInOnePointer) {
  static_assert(sizeof(CompactString) == 8);
  const std::string text(70, 'x');
  CompactString s = text;
  EXPECT_EQ(s.view(), text);
  EXPECT_EQ(s.size(), 70u);
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.str(), text);
  CompactString empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.view(), "");
  EXPECT_TRUE(CompactString("").empty());
  // Bytes a C string would end at are kept.
  CompactString with_nul(std::string_view("a\0b", 3));
  EXPECT_EQ(with_nul.size(), 3u);
}

TEST(CompactStringTest, CopiesAndMovesKeepTheText) {
  CompactString a = "train-0";
  CompactString b = a;
  EXPECT_EQ(b, a);
  CompactString c = std::move(a);
  EXPECT_EQ(c, "train-0");
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): a moved-from one is empty
  b = "other";
  EXPECT_EQ(b, "other");
  EXPECT_EQ(c, "train-0");
  b = c;
  EXPECT_EQ(b, "train-0");
}

TEST(CompactStringTest, ComparesAsItsText) {
  const CompactString a = "a100-1";
  const CompactString b = "a100-2";
  EXPECT_LT(a, b);
  EXPECT_EQ(a, std::string("a100-1"));
  EXPECT_EQ(a, std::string_view("a100-1"));
  EXPECT_NE(a, "a100-10");
  EXPECT_LT(a, std::string_view("b"));
  std::map<CompactString, int> ordered = {{b, 2}, {a, 1}};
  EXPECT_EQ(ordered.begin()->first, "a100-1");
}

TEST(CompactStringTest, AMapKeyedByItIsSearchedWithAView) {
  absl::flat_hash_map<CompactString, int, CompactStringHash, CompactStringEq> map;
  map.emplace("ml/train-0", 1);
  map.emplace(CompactString("ml/train-1"), 2);
  auto it = map.find(std::string_view("ml/train-1"));
  ASSERT_NE(it, map.end());
  EXPECT_EQ(it->second, 2);
  EXPECT_TRUE(map.contains(AbslView("ml/train-0")));
  EXPECT_FALSE(map.contains(std::string_view("ml/train-2")));
  EXPECT_EQ(CompactStringHash()(CompactString("x")), CompactStringHash()(std::string_view("x")));
}

}  // namespace
}  // namespace bursar::values
