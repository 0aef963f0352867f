#include "controllers/api/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controllers/api/field_reader.h"
#include "controllers/values/strings.h"

namespace bursar::api {
namespace {

// Aliases can make a small document expand exponentially ("billion laughs"). A budget whose
// status ledger tracks 10000 pods has about 30000 values; no manifest comes near this.
constexpr int kMaxValues = 250'000;

constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";

// Where a value was found, for messages; line and column are 1-based.
struct Position {
  int line = 0;
  int column = 0;
};

Position PositionOf(const YAML::Mark& mark) {
  if (mark.is_null()) {
    return {};
  }
  return {mark.line + 1, mark.column + 1};
}

absl::Status ErrorAt(std::string_view source, Position pos, std::string_view reason) {
  return absl::InvalidArgumentError(
      absl::StrCat(AbslView(source), ":", pos.line, ":", pos.column, ": ", AbslView(reason)));
}

bool AllOf(std::string_view s, bool (*pred)(char)) {
  if (s.empty()) {
    return false;
  }
  for (char c : s) {
    if (!pred(c)) {
      return false;
    }
  }
  return true;
}

using values::IsDigit;
bool IsOctalDigit(char c) {
  return c >= '0' && c <= '7';
}
bool IsHexDigit(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

std::string_view StripSign(std::string_view s, bool* negative) {
  *negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    *negative = s[0] == '-';
    s.remove_prefix(1);
  }
  return s;
}

// YAML 1.2 core schema float: [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?
bool IsCoreFloat(std::string_view s) {
  bool negative = false;
  s = StripSign(s, &negative);
  size_t i = 0;
  size_t int_digits = 0;
  while (i < s.size() && IsDigit(s[i])) {
    ++i;
    ++int_digits;
  }
  size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
      ++frac_digits;
    }
  }
  if (int_digits == 0 && frac_digits == 0) {
    return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      ++i;
    }
    size_t exp_digits = 0;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
      ++exp_digits;
    }
    if (exp_digits == 0) {
      return false;
    }
  }
  return i == s.size();
}

enum class ScalarKind { kString, kNull, kBool, kInt, kFloat };

// Resolves a plain scalar by the YAML 1.2 core schema and builds its value.
absl::StatusOr<json::Value> ResolvePlain(const std::string& s, int line, ScalarKind* kind) {
  if (s == "true" || s == "True" || s == "TRUE") {
    *kind = ScalarKind::kBool;
    return json::Value::Bool(true, line);
  }
  if (s == "false" || s == "False" || s == "FALSE") {
    *kind = ScalarKind::kBool;
    return json::Value::Bool(false, line);
  }
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
    *kind = ScalarKind::kNull;
    return json::Value::Null(line);
  }
  bool negative = false;
  std::string_view magnitude = StripSign(s, &negative);
  if (AllOf(magnitude, IsDigit)) {
    *kind = ScalarKind::kInt;
    // "+12" and "007" are the integers 12 and 7; keep the text JSON can read.
    int64_t i = 0;
    std::string text = absl::StrCat(negative ? "-" : "", AbslView(magnitude));
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
    if (ec == std::errc() && ptr == text.data() + text.size()) {
      return json::Value::Int(i, line);
    }
    // Beyond int64: still a number, held as a double with its digits as text.
    return json::Value::Number(std::strtod(text.c_str(), nullptr), text, line);
  }
  bool is_octal = absl::StartsWith(s, "0o") && AllOf(std::string_view(s).substr(2), IsOctalDigit);
  bool is_hex = absl::StartsWith(s, "0x") && AllOf(std::string_view(s).substr(2), IsHexDigit);
  if (is_octal || is_hex) {
    *kind = ScalarKind::kInt;
    int64_t i = 0;
    std::string_view digits = std::string_view(s).substr(2);
    auto [ptr, ec] =
        std::from_chars(digits.data(), digits.data() + digits.size(), i, is_octal ? 8 : 16);
    if (ec != std::errc() || ptr != digits.data() + digits.size()) {
      return absl::InvalidArgumentError(absl::StrCat("integer ", s, " is out of range"));
    }
    return json::Value::Int(i, line);
  }
  if (magnitude == ".inf" || magnitude == ".Inf" || magnitude == ".INF") {
    *kind = ScalarKind::kFloat;
    double inf = std::numeric_limits<double>::infinity();
    return json::Value::Number(negative ? -inf : inf, s, line);
  }
  if (s == ".nan" || s == ".NaN" || s == ".NAN") {
    *kind = ScalarKind::kFloat;
    return json::Value::Number(std::numeric_limits<double>::quiet_NaN(), s, line);
  }
  if (IsCoreFloat(s)) {
    *kind = ScalarKind::kFloat;
    std::string text(magnitude);
    double d = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec == std::errc::result_out_of_range) {
      d = std::numeric_limits<double>::infinity();
    }
    return json::Value::Number(negative ? -d : d, s, line);
  }
  *kind = ScalarKind::kString;
  return json::Value::String(s, line);
}

class Converter {
 public:
  explicit Converter(std::string_view source) : source_(source) {}

  // `fallback_line` is used when the node has no position; `forced_line`, when set, wins.
  absl::StatusOr<json::Value> Convert(const YAML::Node& node, int fallback_line,
                                      int forced_line = 0) {
    if (++values_ > kMaxValues) {
      return ErrorAt(
          source_, PositionOf(node.Mark()),
          absl::StrCat("document has more than ", kMaxValues, " values (alias expansion?)"));
    }
    Position pos = PositionOf(node.Mark());
    int line = forced_line > 0 ? forced_line : pos.line > 0 ? pos.line : fallback_line;
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return json::Value::Null(line);
      case YAML::NodeType::Scalar:
        return ConvertScalar(node, pos, line);
      case YAML::NodeType::Sequence: {
        std::vector<json::Value> elements;
        elements.reserve(node.size());
        for (const YAML::Node& child : node) {
          absl::StatusOr<json::Value> v = Convert(child, line);
          if (!v.ok()) {
            return v.status();
          }
          elements.push_back(*std::move(v));
        }
        return json::Value::Array(std::move(elements), line);
      }
      case YAML::NodeType::Map: {
        std::vector<json::Value::Member> members;
        std::set<std::string, std::less<>> seen;
        for (const auto& kv : node) {
          const YAML::Node& key = kv.first;
          Position key_pos = PositionOf(key.Mark());
          if (!key.IsScalar()) {
            return ErrorAt(source_, key_pos, "mapping keys must be scalars");
          }
          if (!seen.insert(key.Scalar()).second) {
            return ErrorAt(source_, key_pos, absl::StrCat("duplicate key \"", key.Scalar(), "\""));
          }
          // A block collection starts on the line after its key, but messages about it (an
          // unknown field, a missing child) should point at the key; an empty value (`key:`)
          // has no position of its own either.
          int key_line = key_pos.line > 0 ? key_pos.line : line;
          bool collection = kv.second.IsMap() || kv.second.IsSequence();
          absl::StatusOr<json::Value> v =
              kv.second.IsNull() ? json::Value::Null(key_line)
                                 : Convert(kv.second, key_line, collection ? key_line : 0);
          if (!v.ok()) {
            return v.status();
          }
          members.emplace_back(key.Scalar(), *std::move(v));
        }
        return json::Value::Object(std::move(members), line);
      }
    }
    return ErrorAt(source_, pos, "unknown YAML node type");
  }

 private:
  absl::StatusOr<json::Value> ConvertScalar(const YAML::Node& node, Position pos, int line) {
    const std::string& tag = node.Tag();
    const std::string& s = node.Scalar();
    if (tag == "!") {  // quoted or block scalar
      return json::Value::String(s, line);
    }
    ScalarKind kind = ScalarKind::kString;
    if (tag == "?" || tag.empty()) {
      absl::StatusOr<json::Value> v = ResolvePlain(s, line, &kind);
      if (!v.ok()) {
        return ErrorAt(source_, pos, StdView(v.status().message()));
      }
      return v;
    }
    if (!tag.starts_with(kCoreTagPrefix)) {
      return ErrorAt(source_, pos, absl::StrCat("unsupported YAML tag \"", tag, "\""));
    }
    std::string_view name = std::string_view(tag).substr(kCoreTagPrefix.size());
    if (name == "str") {
      return json::Value::String(s, line);
    }
    absl::StatusOr<json::Value> v = ResolvePlain(s, line, &kind);
    bool matches =
        v.ok() && ((name == "null" && kind == ScalarKind::kNull) ||
                   (name == "bool" && kind == ScalarKind::kBool) ||
                   (name == "int" && kind == ScalarKind::kInt) ||
                   (name == "float" && (kind == ScalarKind::kFloat || kind == ScalarKind::kInt)));
    if (!matches) {
      return ErrorAt(source_, pos, absl::StrCat("\"", s, "\" is not a valid !!", AbslView(name)));
    }
    return v;
  }

  std::string_view source_;
  int values_ = 0;
};

}  // namespace

absl::StatusOr<std::vector<json::Value>> ParseYamlDocuments(std::string_view text,
                                                            std::string_view source_name) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    return ErrorAt(source_name, PositionOf(e.mark), e.msg);
  } catch (const std::exception& e) {
    return ErrorAt(source_name, {}, e.what());
  }
  std::vector<json::Value> out;
  out.reserve(docs.size());
  for (const YAML::Node& doc : docs) {
    Converter converter(source_name);  // the value budget is per document
    if (doc.IsNull() || !doc.IsDefined()) {
      continue;
    }
    absl::StatusOr<json::Value> v;
    try {
      v = converter.Convert(doc, 1);
    } catch (const std::exception& e) {  // yaml-cpp may throw while walking, too
      return ErrorAt(source_name, PositionOf(doc.Mark()), e.what());
    }
    if (!v.ok()) {
      return v.status();
    }
    out.push_back(*std::move(v));
  }
  return out;
}

absl::StatusOr<std::vector<json::Value>> ReadYamlFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot open: is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
  }
  return ParseYamlDocuments(buffer.str(), path);
}

}  // namespace bursar::api
