#include "operator/json/json.h"

#include <gtest/gtest.h>

#include "tests/unit/json_or_fail.h"

namespace bursar::json {
namespace {

TEST(JsonTest, ParsesEveryTypeAndKeepsNumberText) {
  absl::StatusOr<Value> v = Parse(
      R"({"s":"x\"y","i":-42,"d":0.1,"b":true,"n":null,"a":[1,{"k":[]}],"big":18446744073709551615})");
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(FieldOrFail(*v, "s").string_value(), "x\"y");
  EXPECT_TRUE(FieldOrFail(*v, "i").is_integer());
  EXPECT_EQ(FieldOrFail(*v, "i").int_value(), -42);
  EXPECT_FALSE(FieldOrFail(*v, "d").is_integer());
  EXPECT_EQ(FieldOrFail(*v, "d").text(), "0.1");
  EXPECT_TRUE(FieldOrFail(*v, "b").bool_value());
  EXPECT_TRUE(FieldOrFail(*v, "n").is_null());
  EXPECT_EQ(FieldOrFail(*v, "a").elements().size(), 2u);
  EXPECT_TRUE(v->FindPath("a") != nullptr);
  EXPECT_EQ(FieldOrFail(*v, "big").text(), "18446744073709551615");
  EXPECT_FALSE(FieldOrFail(*v, "big").is_integer());
  EXPECT_EQ(v->Find("missing"), nullptr);
}

TEST(JsonTest, FindPathFollowsObjects) {
  absl::StatusOr<Value> v = Parse(R"({"metadata":{"name":"team-a","labels":{"x":"y"}}})");
  ASSERT_TRUE(v.ok());
  ASSERT_NE(v->FindPath("metadata.name"), nullptr);
  EXPECT_EQ(PathOrFail(*v, "metadata.name").string_value(), "team-a");
  EXPECT_EQ(v->FindPath("metadata.nope.x"), nullptr);
}

TEST(JsonTest, RejectsMalformedInput) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\":}", "nul", "{\"a\":1}}"}) {
    EXPECT_FALSE(Parse(bad).ok()) << bad;
  }
}

TEST(JsonTest, WriterEscapesAndRoundTrips) {
  Writer w;
  w.BeginObject()
      .Key("text")
      .String("line\nbreak \"quoted\" \\ \x01")
      .Key("n")
      .Int(-7)
      .Key("d")
      .Double(2.5)
      .Key("inf")
      .Double(1.0 / 0.0)
      .Key("list")
      .BeginArray()
      .Bool(false)
      .Null()
      .RawNumber("1e3")
      .EndArray()
      .EndObject();
  EXPECT_EQ(
      w.str(),
      R"({"text":"line\nbreak \"quoted\" \\ \u0001","n":-7,"d":2.5,"inf":null,"list":[false,null,1e3]})");
  absl::StatusOr<Value> back = Parse(w.str());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(FieldOrFail(*back, "text").string_value(), "line\nbreak \"quoted\" \\ \x01");
  EXPECT_EQ(Parse(back->ToJson())->ToJson(), back->ToJson());
}

TEST(JsonTest, SetReplacesOrAppendsInOrder) {
  Value v = Value::Object({});
  v.Set("b", Value::Int(1));
  v.Set("a", Value::Int(2));
  v.Set("b", Value::String("x"));
  EXPECT_EQ(v.ToJson(), R"({"b":"x","a":2})");
}

// Found by tests/fuzz/json_fuzz.cc (corpus/json/finding-big-integer.json): 18446744073709551615
// does not fit int64, is kept as a double, and was written back as the integer
// 18446744073709551616, which simdjson (like any parser reading integers as 64-bit) refuses.
TEST(JsonTest, WholeDoublesBeyondInt64WriteAsParseableJson) {
  for (const char* text : {"[18446744073709551615]", "[-1e19]", "[9223372036854775808]"}) {
    absl::StatusOr<Value> v = Parse(text);
    ASSERT_TRUE(v.ok()) << text << ": " << v.status();
    absl::StatusOr<Value> again = Parse(v->ToJson());
    ASSERT_TRUE(again.ok()) << text << " -> " << v->ToJson() << ": " << again.status();
    EXPECT_EQ(*again, *v) << text << " -> " << v->ToJson();
  }
  EXPECT_EQ(Writer().Double(18446744073709551616.0).Take(), "1.8446744073709552e+19");
  EXPECT_EQ(Writer().Double(4096).Take(), "4096");  // within int64: unchanged
}

// JSON text is UTF-8: a string holding other bytes (from a YAML file, a log line) is written with
// U+FFFD in their place, so the output still parses.
TEST(JsonTest, WriterReplacesIllFormedUtf8) {
  EXPECT_EQ(Writer().String("caf\xc3\xa9").Take(), "\"caf\xc3\xa9\"");
  EXPECT_EQ(Writer().String("a\xbb b").Take(), R"("a\ufffd b")");
  EXPECT_EQ(Writer().String("\xed\xa0\x80").Take(), R"("\ufffd\ufffd\ufffd")");  // a surrogate
  EXPECT_EQ(Writer().String("\xc0\xaf").Take(), R"("\ufffd\ufffd")");            // overlong '/'
  absl::StatusOr<Value> v = Parse(Writer().String("x\xf4\x90\x80\x80").Take());  // > U+10FFFF
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->string_value(), "x\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
}

TEST(JsonTest, InvalidUtf8OffsetFindsTheFirstBadByte) {
  EXPECT_EQ(InvalidUtf8Offset(""), std::nullopt);
  EXPECT_EQ(InvalidUtf8Offset("plain, \xc3\xa9, \xe2\x82\xac, \xf0\x9f\x92\xb0"), std::nullopt);
  EXPECT_EQ(InvalidUtf8Offset("ab\xbb"), 2U);
  EXPECT_EQ(InvalidUtf8Offset("ab\xc3"), 2U);        // cut short
  EXPECT_EQ(InvalidUtf8Offset("\xe0\x80\x80"), 0U);  // overlong
}

}  // namespace
}  // namespace bursar::json
