#include "operator/yaml/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::yaml {
namespace {

using values::AbslView;
using values::StdView;

// Limits, explained in yaml.h. A budget whose status ledger tracks 10000 pods has about 30000
// values; no manifest comes near any of them.
constexpr size_t kMaxFileBytes = 4 << 20;
constexpr size_t kMaxDepth = 100;
constexpr int64_t kMaxValues = 1'000'000;
constexpr int64_t kMaxScalarBytes = int64_t{64} << 20;

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

// A scalar as yaml-cpp reports it, typed by the core schema; `line` is where the value is said to
// be, `pos` where errors point.
absl::StatusOr<json::Value> ConvertScalar(std::string_view source, const std::string& tag,
                                          const std::string& s, Position pos, int line) {
  if (tag == "!") {  // quoted or block scalar
    return json::Value::String(s, line);
  }
  ScalarKind kind = ScalarKind::kString;
  if (tag == "?" || tag.empty()) {
    absl::StatusOr<json::Value> v = ResolvePlain(s, line, &kind);
    if (!v.ok()) {
      return ErrorAt(source, pos, StdView(v.status().message()));
    }
    return v;
  }
  if (!tag.starts_with(kCoreTagPrefix)) {
    return ErrorAt(source, pos, absl::StrCat("unsupported YAML tag \"", tag, "\""));
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
    return ErrorAt(source, pos, absl::StrCat("\"", s, "\" is not a valid !!", AbslView(name)));
  }
  return v;
}

// yaml-cpp 0.7's scanner reads a whole flow collection ([...] {...}) ahead before it reports its
// first event, holding 100-250 bytes of memory per byte of it (4M unclosed `[` took 950 MB), so
// flow nesting is counted on the text before parsing. Brackets are counted wherever they stand
// outside comments, quoted or not: a false alarm needs over 100 unmatched ones in strings.
absl::Status CheckFlowNesting(std::string_view text, std::string_view source) {
  size_t depth = 0;
  int line = 1;
  size_t line_start = 0;
  bool comment = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
      comment = false;
    } else if (comment) {
      continue;
    } else if (c == '#' && (i == line_start || text[i - 1] == ' ' || text[i - 1] == '\t')) {
      comment = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        return ErrorAt(source, {line, static_cast<int>(i - line_start) + 1},
                       absl::StrCat("nesting deeper than ", kMaxDepth, " levels"));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return absl::OkStatus();
}

// Thrown from the event handler to stop yaml-cpp's parser at once (it has no other way to be
// told); caught in ParseYamlDocuments.
struct StopParsing {
  absl::Status status;
};

// Builds json::Value trees from yaml-cpp's parse events, one document at a time. Nothing here
// recurses: open collections live on `stack_`, which kMaxDepth bounds, and the parser itself
// recurses only as deep as the collections it reports.
class Builder : public YAML::EventHandler {
 public:
  Builder(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  // The documents, or the first deferred error.
  absl::StatusOr<std::vector<json::Value>> Finish() && {
    if (deferred_.has_value()) {
      return *deferred_;
    }
    return std::move(documents_);
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    // yaml-cpp 0.7 does not consume a ',' (or other flow token) outside a flow collection: it
    // reports an empty document at the same place, forever. Every real document moves on.
    ++document_count_;
    if (document_count_ > 1 && mark.pos == last_document_.pos) {
      std::string_view what = "the YAML parser cannot get past this point";
      if (mark.pos >= 0 && static_cast<size_t>(mark.pos) < text_.size() && text_[mark.pos] == ',') {
        what = "unexpected ',' outside a flow collection ([...] or {...})";
      }
      Fail(PositionOf(mark), what);
    }
    if (document_count_ > text_.size() + 1) {  // a backstop: a document takes at least a byte
      Fail(PositionOf(mark), "the YAML parser cannot get past this point");
    }
    last_document_ = mark;
    anchors_.clear();  // anchors do not cross documents
    stack_.clear();
    skipped_depth_ = 0;
    root_.reset();
  }

  void OnDocumentEnd() override {
    if (root_.has_value() && !deferred_.has_value()) {
      documents_.push_back(*std::move(root_));
      root_.reset();
    }
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Position pos = PositionOf(mark);
    Count(pos, 1, 0);
    if (deferred_.has_value()) {
      return;
    }
    if (anchor != YAML::NullAnchor) {
      Anchored& a = anchors_[anchor];
      a = Anchored{};
      a.kind = Anchored::kNull;
      a.pos = pos;
      a.values = 1;
    }
    AddNull(pos);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    Position pos = PositionOf(mark);
    Count(pos, 1, static_cast<int64_t>(value.size()));
    if (deferred_.has_value()) {
      return;
    }
    if (anchor != YAML::NullAnchor) {
      Anchored& a = anchors_[anchor];
      a = Anchored{};
      a.kind = Anchored::kScalar;
      a.pos = pos;
      a.tag = tag;
      a.scalar = value;
      a.values = 1;
      a.bytes = static_cast<int64_t>(value.size());
    }
    AddScalar(pos, tag, value);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Position alias_pos = PositionOf(mark);
    if (deferred_.has_value()) {
      Count(alias_pos, 1, 0);  // nothing is copied any more
      return;
    }
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {  // yaml-cpp rejects an unknown anchor before we get here
      Fail(alias_pos, "alias to an unknown anchor");
    }
    const Anchored& a = it->second;
    if (a.kind == Anchored::kOpen) {
      Fail(alias_pos, absl::StrCat("alias ", AliasName(mark),
                                   " refers to a collection that contains it (a cycle)"));
    }
    copied_alias_ = true;
    Count(alias_pos, a.values, a.bytes);
    switch (a.kind) {
      case Anchored::kNull:
        AddNull(a.pos);
        break;
      case Anchored::kScalar:
        AddScalar(a.pos, a.tag, a.scalar);
        break;
      case Anchored::kCollection:
      case Anchored::kOpen:
        AddCollection(a.pos, a.collection, alias_pos);
        break;
    }
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value /*style*/) override {
    Open(mark, anchor, /*is_map=*/false);
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value /*style*/) override {
    Open(mark, anchor, /*is_map=*/true);
  }
  void OnMapEnd() override { Close(); }

 private:
  // What an anchor names, kept so that each alias rebuilds the value as the old tree walk did.
  struct Anchored {
    enum Kind { kOpen, kNull, kScalar, kCollection } kind = kOpen;
    Position pos;
    std::string tag;
    std::string scalar;
    json::Value collection;
    int64_t values = 0;  // values and scalar bytes one copy adds to the totals
    int64_t bytes = 0;
  };

  // An open sequence or mapping.
  struct Frame {
    bool is_map = false;
    Position pos;
    int line = 0;
    YAML::anchor_t anchor = YAML::NullAnchor;
    int64_t values_before = 0;
    int64_t bytes_before = 0;
    std::vector<json::Value> elements;
    std::vector<json::Value::Member> members;
    std::set<std::string, std::less<>> keys;
    bool has_key = false;  // a mapping's key is read, its value is next
    std::string key;
    int key_line = 0;
  };

  // An error in what the text means, not in its syntax: reported only when the parser finds no
  // syntax error in the rest of the file (as when yaml-cpp loaded everything first). The rest
  // is parsed under the same limits but builds nothing.
  void Defer(absl::Status status) {
    if (!deferred_.has_value()) {
      deferred_ = std::move(status);
    }
  }
  void Defer(Position pos, std::string_view reason) { Defer(ErrorAt(source_, pos, reason)); }

  [[noreturn]] void Fail(Position pos, std::string_view reason) {
    throw StopParsing{ErrorAt(source_, pos, reason)};
  }

  // The alias as written ("*a"), for messages.
  std::string AliasName(const YAML::Mark& mark) const {
    if (mark.pos < 0 || static_cast<size_t>(mark.pos) >= text_.size()) {
      return "*";
    }
    size_t end = mark.pos + 1;
    while (end < text_.size() && end - mark.pos < 64 &&
           std::string_view(" \t\r\n,[]{}").find(text_[end]) == std::string_view::npos) {
      ++end;
    }
    return std::string(text_.substr(mark.pos, end - mark.pos));
  }

  void Count(Position pos, int64_t values, int64_t bytes) {
    values_ += values;
    bytes_ += bytes;
    if (values_ > kMaxValues) {
      Fail(pos, absl::StrCat(copied_alias_ ? "the file expands to more than " : "more than ",
                             kMaxValues, copied_alias_ ? " values (alias expansion?)" : " values"));
    }
    if (bytes_ > kMaxScalarBytes) {
      Fail(pos, absl::StrCat("the file expands to more than ", kMaxScalarBytes >> 20,
                             " MiB of scalars (alias expansion?)"));
    }
  }

  // The line a value is said to be on, by the rules in yaml.h: a collection or null under a key
  // takes the key's line; anything else its own, or its parent's when it has none.
  int LineFor(Position pos, bool collection_or_null) const {
    if (stack_.empty()) {
      return pos.line > 0 ? pos.line : 1;
    }
    const Frame& parent = stack_.back();
    if (parent.is_map && parent.has_key) {
      return collection_or_null || pos.line <= 0 ? parent.key_line : pos.line;
    }
    return pos.line > 0 ? pos.line : parent.line;
  }

  bool AtKey() const { return !stack_.empty() && stack_.back().is_map && !stack_.back().has_key; }

  void AddNull(Position pos) {
    if (AtKey()) {
      Defer(pos, "mapping keys must be scalars");
      return;
    }
    if (stack_.empty()) {
      return;  // a document that is only null is skipped
    }
    Add(json::Value::Null(LineFor(pos, true)));
  }

  void AddScalar(Position pos, const std::string& tag, const std::string& value) {
    if (AtKey()) {
      Frame& map = stack_.back();
      if (!map.keys.insert(value).second) {
        Defer(pos, absl::StrCat("duplicate key \"", value, "\""));
        return;
      }
      map.has_key = true;
      map.key = value;
      map.key_line = pos.line > 0 ? pos.line : map.line;
      return;
    }
    absl::StatusOr<json::Value> v = ConvertScalar(source_, tag, value, pos, LineFor(pos, false));
    if (!v.ok()) {
      Defer(v.status());
      return;
    }
    Add(*std::move(v));
  }

  // A copy of an anchored collection, its top relined for where the alias stands.
  void AddCollection(Position anchor_pos, const json::Value& collection, Position alias_pos) {
    if (AtKey()) {
      Defer(alias_pos, "mapping keys must be scalars");
      return;
    }
    int line = LineFor(anchor_pos, true);
    json::Value copy = collection;
    if (copy.is_array()) {
      Add(json::Value::Array(std::move(copy).TakeElements(), line));
    } else {
      Add(json::Value::Object(std::move(copy).TakeMembers(), line));
    }
  }

  void Add(json::Value v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return;
    }
    Frame& parent = stack_.back();
    if (parent.is_map) {
      parent.members.emplace_back(std::move(parent.key), std::move(v));
      parent.has_key = false;
    } else {
      parent.elements.push_back(std::move(v));
    }
  }

  void Open(const YAML::Mark& mark, YAML::anchor_t anchor, bool is_map) {
    Position pos = PositionOf(mark);
    if (stack_.size() + skipped_depth_ >= kMaxDepth) {
      Fail(pos, absl::StrCat("nesting deeper than ", kMaxDepth, " levels"));
    }
    Count(pos, 1, 0);
    if (AtKey()) {
      Defer(pos, "mapping keys must be scalars");
    }
    if (deferred_.has_value()) {
      ++skipped_depth_;
      return;
    }
    Frame frame;
    frame.is_map = is_map;
    frame.pos = pos;
    frame.line = LineFor(pos, true);
    frame.anchor = anchor;
    frame.values_before = values_ - 1;
    frame.bytes_before = bytes_;
    if (anchor != YAML::NullAnchor) {
      Anchored& a = anchors_[anchor];
      a = Anchored{};
      a.kind = Anchored::kOpen;
      a.pos = pos;
    }
    stack_.push_back(std::move(frame));
  }

  void Close() {
    if (skipped_depth_ > 0) {
      --skipped_depth_;
      return;
    }
    if (deferred_.has_value()) {
      stack_.pop_back();
      return;
    }
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    json::Value v = frame.is_map ? json::Value::Object(std::move(frame.members), frame.line)
                                 : json::Value::Array(std::move(frame.elements), frame.line);
    if (frame.anchor != YAML::NullAnchor) {
      Anchored& a = anchors_[frame.anchor];
      a.kind = Anchored::kCollection;
      a.collection = v;
      a.values = values_ - frame.values_before;
      a.bytes = bytes_ - frame.bytes_before;
    }
    Add(std::move(v));
  }

  std::string_view text_;
  std::string_view source_;
  std::vector<json::Value> documents_;
  std::optional<json::Value> root_;
  std::vector<Frame> stack_;
  size_t skipped_depth_ = 0;  // collections opened after deferred_ was set
  std::optional<absl::Status> deferred_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t document_count_ = 0;
  YAML::Mark last_document_;
  int64_t values_ = 0;  // over the whole file, aliases counted as the copies they make
  int64_t bytes_ = 0;
  bool copied_alias_ = false;  // for messages: a cap crossed without aliases is plain size
};

}  // namespace

absl::StatusOr<std::vector<json::Value>> ParseYamlDocuments(std::string_view text,
                                                            std::string_view source_name) {
  if (text.size() > kMaxFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(source_name), ": larger than ", kMaxFileBytes >> 20, " MiB"));
  }
  // YAML streams are Unicode, and yaml-cpp passes stray bytes through: a string that is not
  // UTF-8 would become JSON that no parser (the API server's, ours) accepts.
  if (std::optional<size_t> bad = json::InvalidUtf8Offset(text); bad.has_value()) {
    const size_t newline = text.rfind('\n', *bad);
    const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
    const Position pos{static_cast<int>(std::count(text.begin(), text.begin() + *bad, '\n') + 1),
                       static_cast<int>(*bad - line_start + 1)};
    return ErrorAt(source_name, pos,
                   absl::StrCat("not valid UTF-8 (byte 0x",
                                absl::Hex(static_cast<unsigned char>(text[*bad]), absl::kZeroPad2),
                                "); YAML files must be UTF-8"));
  }
  if (absl::Status nesting = CheckFlowNesting(text, source_name); !nesting.ok()) {
    return nesting;
  }
  std::istringstream in{std::string(text)};
  Builder builder(text, source_name);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const StopParsing& stop) {
    return stop.status;
  } catch (const YAML::Exception& e) {
    return ErrorAt(source_name, PositionOf(e.mark), e.msg);
  } catch (const std::exception& e) {
    return ErrorAt(source_name, {}, e.what());
  }
  return std::move(builder).Finish();
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
  // Refused before reading; a pipe or a device (/dev/zero) has no size: reading stops one
  // byte past the cap.
  const absl::Status too_large =
      absl::InvalidArgumentError(absl::StrCat(path, ": larger than ", kMaxFileBytes >> 20, " MiB"));
  if (uintmax_t size = std::filesystem::file_size(path, ec); !ec && size > kMaxFileBytes) {
    return too_large;
  }
  std::string text;
  char buffer[64 << 10];
  while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
    text.append(buffer, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) {
      return too_large;
    }
  }
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
  }
  return ParseYamlDocuments(text, path);
}

}  // namespace bursar::yaml
