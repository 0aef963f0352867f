#include "operator/yaml/yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/unit/json_or_fail.h"

namespace bursar::yaml {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Parses `text` as one document and returns the value of key "v".
json::Value ParseValue(const std::string& text) {
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1 || (*docs)[0].Find("v") == nullptr) {
    ADD_FAILURE() << "want one document with key v: " << text;
    return json::Value();
  }
  return *(*docs)[0].Find("v");
}

struct ScalarCase {
  std::string yaml;  // the text after "v: "
  json::Type type;
  std::string text;  // string value, or number text as kept
};

class YamlScalarTest : public ::testing::TestWithParam<ScalarCase> {};

TEST_P(YamlScalarTest, TypedByCoreSchema) {
  const ScalarCase& c = GetParam();
  json::Value v = ParseValue("v: " + c.yaml + "\n");
  EXPECT_EQ(v.type(), c.type) << c.yaml << " -> " << json::TypeName(v.type());
  if (c.type == json::Type::kString || c.type == json::Type::kNumber) {
    EXPECT_EQ(v.text(), c.text) << c.yaml;
  }
  if (c.type == json::Type::kBool) {
    EXPECT_EQ(v.bool_value(), c.text == "true") << c.yaml;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Scalars, YamlScalarTest,
    ::testing::Values(
        // null
        ScalarCase{"null", json::Type::kNull, ""}, ScalarCase{"~", json::Type::kNull, ""},
        ScalarCase{"", json::Type::kNull, ""}, ScalarCase{"NULL", json::Type::kNull, ""},
        // booleans: 1.2 core only, so yes/on stay strings
        ScalarCase{"true", json::Type::kBool, "true"},
        ScalarCase{"True", json::Type::kBool, "true"},
        ScalarCase{"FALSE", json::Type::kBool, "false"},
        ScalarCase{"yes", json::Type::kString, "yes"}, ScalarCase{"on", json::Type::kString, "on"},
        // integers
        ScalarCase{"5000", json::Type::kNumber, "5000"},
        ScalarCase{"-12", json::Type::kNumber, "-12"}, ScalarCase{"+12", json::Type::kNumber, "12"},
        ScalarCase{"0x1F", json::Type::kNumber, "31"},
        ScalarCase{"0o17", json::Type::kNumber, "15"},
        // floats keep their source text
        ScalarCase{"12.50", json::Type::kNumber, "12.50"},
        ScalarCase{"1e3", json::Type::kNumber, "1e3"}, ScalarCase{".5", json::Type::kNumber, ".5"},
        ScalarCase{".inf", json::Type::kNumber, ".inf"},
        ScalarCase{"-.Inf", json::Type::kNumber, "-.Inf"},
        ScalarCase{".nan", json::Type::kNumber, ".nan"},
        // quoted, block and tagged scalars are strings
        ScalarCase{"\"123\"", json::Type::kString, "123"},
        ScalarCase{"'true'", json::Type::kString, "true"},
        ScalarCase{"'null'", json::Type::kString, "null"},
        ScalarCase{"!!str 42", json::Type::kString, "42"},
        ScalarCase{"\"\"", json::Type::kString, ""},
        // anything else plain is a string
        ScalarCase{"12.x", json::Type::kString, "12.x"},
        ScalarCase{"0x", json::Type::kString, "0x"},
        ScalarCase{"1.2.3", json::Type::kString, "1.2.3"},
        ScalarCase{"6h", json::Type::kString, "6h"},
        ScalarCase{".infinity", json::Type::kString, ".infinity"},
        ScalarCase{"2026-11-01T00:00:00Z", json::Type::kString, "2026-11-01T00:00:00Z"}));

TEST(YamlTest, IntegersAreExact) {
  json::Value v = ParseValue("v: 9007199254740993\n");
  ASSERT_TRUE(v.is_integer());
  EXPECT_EQ(v.int_value(), 9007199254740993);
  EXPECT_EQ(ParseValue("v: 0x10\n").int_value(), 16);
}

TEST(YamlTest, NonFiniteFloats) {
  EXPECT_TRUE(std::isinf(ParseValue("v: -.inf\n").number_value()));
  EXPECT_LT(ParseValue("v: -.inf\n").number_value(), 0);
  EXPECT_TRUE(std::isnan(ParseValue("v: .NaN\n").number_value()));
}

TEST(YamlTest, BlockScalarIsString) {
  json::Value v = ParseValue("v: |\n  line one\n  line two\n");
  ASSERT_TRUE(v.is_string());
  EXPECT_EQ(v.string_value(), "line one\nline two\n");
}

TEST(YamlTest, NestedStructureAndLines) {
  const char* text =
      "# a comment\n"                      // 1
      "apiVersion: bursar.dev/v1alpha1\n"  // 2
      "spec:\n"                            // 3
      "  limit:\n"                         // 4
      "    amount: \"5000\"\n"             // 5
      "  namespaces:\n"                    // 6
      "    - vision\n"                     // 7
      "    - nlp\n"                        // 8
      "  empty:\n"                         // 9
      "  flow: {a: 1, b: [x, y]}\n";       // 10
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  const json::Value& doc = (*docs)[0];
  EXPECT_EQ(doc.line(), 2);
  EXPECT_EQ(FieldOrFail(doc, "apiVersion").line(), 2);
  // Block collections carry the line of their key, so messages point at the key.
  EXPECT_EQ(FieldOrFail(doc, "spec").line(), 3);
  EXPECT_EQ(PathOrFail(doc, "spec.limit").line(), 4);
  EXPECT_EQ(PathOrFail(doc, "spec.limit.amount").line(), 5);
  EXPECT_EQ(PathOrFail(doc, "spec.limit.amount").string_value(), "5000");
  const json::Value* namespaces = doc.FindPath("spec.namespaces");
  ASSERT_TRUE(namespaces != nullptr && namespaces->is_array());
  EXPECT_EQ(namespaces->line(), 6);
  ASSERT_EQ(namespaces->elements().size(), 2u);
  EXPECT_EQ(namespaces->elements()[0].line(), 7);
  EXPECT_EQ(namespaces->elements()[1].string_value(), "nlp");
  EXPECT_EQ(namespaces->elements()[1].line(), 8);
  // An empty value is null on its key's line.
  EXPECT_TRUE(PathOrFail(doc, "spec.empty").is_null());
  EXPECT_EQ(PathOrFail(doc, "spec.empty").line(), 9);
  EXPECT_EQ(PathOrFail(doc, "spec.flow.b").elements()[1].string_value(), "y");
  EXPECT_EQ(PathOrFail(doc, "spec.flow.b").line(), 10);
  // Member order is kept.
  EXPECT_EQ(doc.members()[0].first, "apiVersion");
  EXPECT_EQ(doc.members()[1].first, "spec");
}

TEST(YamlTest, MultiDocumentSkipsEmptyDocuments) {
  const char* text =
      "---\n"
      "# only a comment\n"
      "---\n"
      "a: 1\n"  // 4
      "---\n"
      "---\n"
      "b: 2\n"  // 7
      "...\n";
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(FieldOrFail((*docs)[0], "a").int_value(), 1);
  EXPECT_EQ(FieldOrFail((*docs)[1], "b").int_value(), 2);
  // Lines count from the start of the file, not of the document.
  EXPECT_EQ((*docs)[1].line(), 7);
}

TEST(YamlTest, EmptyInputHasNoDocuments) {
  for (const char* text : {"", "\n\n", "# nothing\n", "---\n"}) {
    absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "t.yaml");
    ASSERT_TRUE(docs.ok()) << docs.status();
    EXPECT_TRUE(docs->empty()) << text;
  }
}

TEST(YamlTest, AliasesAreExpanded) {
  json::Value v = ParseValue("base: &b {x: 1}\nv: *b\n");
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(FieldOrFail(v, "x").int_value(), 1);
}

TEST(YamlTest, NumericKeysBecomeStrings) {
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments("1: one\n", "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_NE((*docs)[0].Find("1"), nullptr);
}

struct ErrorCase {
  std::string text;
  std::string want;  // the whole message starts with this
};

class YamlErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(YamlErrorTest, NamesSourceLineAndColumn) {
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(GetParam().text, "in.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(docs.status().message()), StartsWith(GetParam().want));
}

INSTANTIATE_TEST_SUITE_P(
    Errors, YamlErrorTest,
    ::testing::Values(ErrorCase{"a: [1,\nb: c\n", "in.yaml:3:1: end of sequence flow not found"},
                      ErrorCase{"a: b\n c: d\n", "in.yaml:2:3: illegal map value"},
                      ErrorCase{"a: 1\nb: 2\na: 3\n", "in.yaml:3:1: duplicate key \"a\""},
                      ErrorCase{"a: 1\n---\nx: !custom 5\n",
                                "in.yaml:3:4: unsupported YAML tag \"!custom\""},
                      ErrorCase{"v: !!int abc\n", "in.yaml:1:4: \"abc\" is not a valid !!int"},
                      ErrorCase{"? [a, b]\n: c\n", "in.yaml:1:3: mapping keys must be scalars"},
                      ErrorCase{"v: 0x8000000000000000\n",
                                "in.yaml:1:4: integer 0x8000000000000000 is out "
                                "of range"}));

TEST(YamlTest, ReadFileMissingIsNotFound) {
  absl::StatusOr<std::vector<json::Value>> docs = ReadYamlFile("/nonexistent/bursar.yaml");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(docs.status().message()),
              StartsWith("/nonexistent/bursar.yaml: cannot open: "));
}

TEST(YamlTest, ReadFileUsesPathAsSource) {
  std::filesystem::path dir = ::testing::TempDir();
  std::filesystem::path file = dir / "yaml_test_read.yaml";
  {
    std::ofstream out(file);
    out << "a: 1\n---\nb: [\n";
  }
  absl::StatusOr<std::vector<json::Value>> docs = ReadYamlFile(file.string());
  ASSERT_FALSE(docs.ok());
  EXPECT_THAT(std::string(docs.status().message()), StartsWith(file.string() + ":"));
  {
    std::ofstream out(file);
    out << "a: 1\n---\nb: 2\n";
  }
  docs = ReadYamlFile(file.string());
  ASSERT_TRUE(docs.ok()) << docs.status();
  EXPECT_EQ(docs->size(), 2u);
  std::filesystem::remove(file);
}

// A device or a pipe has no size to check before reading: reading stops past the cap (it read
// /dev/zero until memory ran out, e.g. `manifests: [/dev/zero]` in a scenario).
TEST(YamlTest, ReadFileStopsAtTheCapOnAFileWithoutASize) {
  absl::StatusOr<std::vector<json::Value>> docs = ReadYamlFile("/dev/zero");
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(docs.status().message(), "/dev/zero: larger than 4 MiB");
}

// The message of a parse that must fail.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "bad.yaml");
  EXPECT_FALSE(docs.ok()) << text.substr(0, 80);
  if (docs.ok()) {
    return "";
  }
  EXPECT_EQ(docs.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(docs.status().message());
}

TEST(YamlTest, AliasBombIsRejected) {
  // Nine levels of nine-fold aliases would expand to 387 million values.
  std::string text = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 9; ++i) {
    std::string prev = "*a" + std::to_string(i - 1);
    text += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
    for (int j = 1; j < 9; ++j) {
      text += ", " + prev;
    }
    text += "]\n";
  }
  EXPECT_EQ(ErrorOf(text),
            "bad.yaml:7:10: the file expands to more than 1000000 values (alias expansion?)");
}

TEST(YamlTest, MillionValuesWithoutAliasesAreTooMany) {
  std::string text;
  for (int i = 0; i < 1'000'001; ++i) {
    text += "- a\n";
  }
  EXPECT_EQ(ErrorOf(text), "bad.yaml:1000000:3: more than 1000000 values");
}

TEST(YamlTest, AliasBombOfLongScalarsIsRejectedByBytes) {
  // A 20 KB scalar copied 4^n times by nested aliases: 20 MB for each alias of l4, far fewer
  // than a million values; the byte cap stops it in l5.
  std::string text = "s: &s " + std::string(20'000, 'x') + "\n";
  text += "l0: &l0 [*s, *s, *s, *s]\n";
  for (int i = 1; i <= 8; ++i) {
    std::string prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev + ", " + prev +
            ", " + prev + ", " + prev + "]\n";
  }
  EXPECT_EQ(ErrorOf(text),
            "bad.yaml:7:15: the file expands to more than 64 MiB of scalars (alias expansion?)");
}

TEST(YamlTest, SelfReferencingAliasIsACycle) {
  EXPECT_EQ(ErrorOf("&a [*a]\n"),
            "bad.yaml:1:5: alias *a refers to a collection that contains it (a cycle)");
  EXPECT_EQ(ErrorOf("kind: X\nspec: &a {x: *a}\n"),
            "bad.yaml:2:14: alias *a refers to a collection that contains it (a cycle)");
  EXPECT_EQ(ErrorOf("spec: &top\n  list:\n    - name: n\n      parent: *top\n"),
            "bad.yaml:4:15: alias *top refers to a collection that contains it (a cycle)");
}

TEST(YamlTest, DeepNestingIsRejectedWithItsDepth) {
  EXPECT_EQ(ErrorOf(std::string(101, '[') + std::string(101, ']')),
            "bad.yaml:1:101: nesting deeper than 100 levels");
  // Far beyond yaml-cpp's own recursion guard (which says "bad file"), and refused from the text
  // before yaml-cpp reads ahead 250 bytes per bracket.
  EXPECT_EQ(ErrorOf(std::string(4'000'000, '[')), "bad.yaml:1:101: nesting deeper than 100 levels");
  EXPECT_EQ(ErrorOf("a: # [[[[\n  " + std::string(120, '{')),
            "bad.yaml:2:103: nesting deeper than 100 levels");
  std::string block;
  for (int i = 0; i < 150; ++i) {
    block += std::string(i, ' ') + "k:\n";
  }
  block += std::string(150, ' ') + "v: 1\n";
  EXPECT_EQ(ErrorOf(block), "bad.yaml:101:101: nesting deeper than 100 levels");
  // A hundred levels is fine.
  absl::StatusOr<std::vector<json::Value>> docs =
      ParseYamlDocuments(std::string(100, '[') + std::string(100, ']'), "ok.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
}

TEST(YamlTest, StrayCommaDoesNotLoopForever) {
  // yaml-cpp 0.7's LoadAll allocates without bound on these (2.8 GB in 4 s for the first).
  EXPECT_EQ(ErrorOf(","),
            "bad.yaml:1:1: unexpected ',' outside a flow collection ([...] or {...})");
  EXPECT_EQ(ErrorOf("- a\n- b\n,\n"),
            "bad.yaml:3:1: unexpected ',' outside a flow collection ([...] or {...})");
  EXPECT_EQ(ErrorOf("{a: 1},"),
            "bad.yaml:1:7: unexpected ',' outside a flow collection ([...] or {...})");
  EXPECT_EQ(ErrorOf("a: 1\n---\n\t,\n"),
            "bad.yaml:3:2: unexpected ',' outside a flow collection ([...] or {...})");
}

TEST(YamlTest, OversizedTextIsRefused) {
  EXPECT_EQ(ErrorOf(std::string((4 << 20) + 1, '#')), "bad.yaml: larger than 4 MiB");
}

TEST(YamlTest, OversizedFileIsRefusedBeforeReading) {
  std::filesystem::path file = std::filesystem::path(::testing::TempDir()) / "yaml_test_big.yaml";
  {
    std::ofstream out(file);
    out << std::string((4 << 20) + 1, '#');
  }
  absl::StatusOr<std::vector<json::Value>> docs = ReadYamlFile(file.string());
  std::filesystem::remove(file);
  ASSERT_FALSE(docs.ok());
  EXPECT_EQ(docs.status().message(), file.string() + ": larger than 4 MiB");
}

TEST(YamlTest, AliasesKeepTheirMeaningAndLines) {
  const char* text =
      "defaults: &d\n"    // 1
      "  gpus: 2\n"       // 2
      "  tags: [a, b]\n"  // 3
      "name: &n team\n"   // 4
      "empty: &e\n"       // 5
      "jobs:\n"           // 6
      "  - *d\n"          // 7
      "  - x: *n\n"       // 8
      "copy: *d\n"        // 9
      "*n : 1\n"          // 10
      "nothing: *e\n"     // 11
      "---\n"             // 12
      "d: &d [1]\n"       // 13
      "again: *d\n";      // 14
  absl::StatusOr<std::vector<json::Value>> docs = ParseYamlDocuments(text, "t.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  const json::Value& doc = (*docs)[0];
  // An alias as a list element keeps the anchored node's own line (its anchor's); under a key, a
  // collection takes the key's line, as every collection does.
  const json::Value& job = PathOrFail(doc, "jobs").elements()[0];
  EXPECT_EQ(job.line(), 1);
  EXPECT_EQ(FieldOrFail(job, "gpus").int_value(), 2);
  EXPECT_EQ(FieldOrFail(job, "tags").elements()[1].string_value(), "b");
  EXPECT_EQ(PathOrFail(doc, "copy").line(), 9);
  EXPECT_EQ(PathOrFail(doc, "copy.tags").line(), 3);
  EXPECT_EQ(PathOrFail(doc, "copy").ToJson(), PathOrFail(doc, "defaults").ToJson());
  EXPECT_EQ(PathOrFail(doc, "jobs").elements()[1].Find("x")->string_value(), "team");
  EXPECT_EQ(PathOrFail(doc, "team").int_value(), 1);
  EXPECT_TRUE(PathOrFail(doc, "nothing").is_null());
  EXPECT_EQ(PathOrFail(doc, "nothing").line(), 11);
  // Anchors are per document: the second `&d` is its own.
  EXPECT_EQ(FieldOrFail((*docs)[1], "again").ToJson(), "[1]");
}

// Found by tests/fuzz/yaml_fuzz.cc (corpus/yaml/finding-not-utf8.yaml): yaml-cpp passes bytes
// that are not UTF-8 into scalars, which then made JSON that no parser accepts.
TEST(YamlTest, TextThatIsNotUtf8IsAnError) {
  EXPECT_EQ(ErrorOf("a: 1\nb: caf\xc3\xa9\n\xbb c: 2\n"),
            "bad.yaml:3:1: not valid UTF-8 (byte 0xbb); YAML files must be UTF-8");
  EXPECT_EQ(ErrorOf("name: \"x\xff\"\n"),
            "bad.yaml:1:9: not valid UTF-8 (byte 0xff); YAML files must be UTF-8");
}

}  // namespace
}  // namespace bursar::yaml
