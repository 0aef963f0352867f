#include "operator/json/json.h"

#include <simdjson.h>

#include <cassert>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace bursar::json {

const char* TypeName(Type type) {
  switch (type) {
    case Type::kNull:
      return "null";
    case Type::kBool:
      return "boolean";
    case Type::kNumber:
      return "number";
    case Type::kString:
      return "string";
    case Type::kArray:
      return "array";
    case Type::kObject:
      return "object";
  }
  return "unknown";
}

Value Value::Null(int line) {
  Value v;
  v.line_ = line;
  return v;
}

Value Value::Bool(bool b, int line) {
  Value v;
  v.type_ = Type::kBool;
  v.bool_ = b;
  v.line_ = line;
  return v;
}

Value Value::Number(double d, std::string text, int line) {
  Value v;
  v.type_ = Type::kNumber;
  v.number_ = d;
  v.line_ = line;
  int64_t i = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), i);
  if (ec == std::errc() && ptr == text.data() + text.size()) {
    v.is_integer_ = true;
    v.int_ = i;
  }
  v.text_ = std::move(text);
  return v;
}

Value Value::Int(int64_t i, int line) {
  Value v;
  v.type_ = Type::kNumber;
  v.number_ = static_cast<double>(i);
  v.is_integer_ = true;
  v.int_ = i;
  v.text_ = std::to_string(i);
  v.line_ = line;
  return v;
}

Value Value::String(std::string s, int line) {
  Value v;
  v.type_ = Type::kString;
  v.text_ = std::move(s);
  v.line_ = line;
  return v;
}

Value Value::Array(std::vector<Value> elements, int line) {
  Value v;
  v.type_ = Type::kArray;
  v.elements_ = std::move(elements);
  v.line_ = line;
  return v;
}

Value Value::Object(std::vector<Member> members, int line) {
  Value v;
  v.type_ = Type::kObject;
  v.members_ = std::move(members);
  v.line_ = line;
  return v;
}

const Value* Value::Find(std::string_view key) const {
  if (type_ != Type::kObject) {
    return nullptr;
  }
  for (const auto& [k, v] : members_) {
    if (k == key) {
      return &v;
    }
  }
  return nullptr;
}

const Value* Value::FindPath(std::string_view dotted) const {
  const Value* cur = this;
  for (absl::string_view part :
       absl::StrSplit(absl::string_view(dotted.data(), dotted.size()), '.')) {
    cur = cur->Find(std::string_view(part.data(), part.size()));
    if (cur == nullptr) {
      return nullptr;
    }
  }
  return cur;
}

std::string StringAt(const Value& v, std::string_view dotted) {
  const Value* found = v.FindPath(dotted);
  return found != nullptr && found->is_string() ? found->string_value() : std::string();
}

std::string MemberStringAt(const Value& v, std::string_view dotted, std::string_view key) {
  const Value* parent = v.FindPath(dotted);
  const Value* found = parent != nullptr ? parent->Find(key) : nullptr;
  return found != nullptr && found->is_string() ? found->string_value() : std::string();
}

Value* Value::FindMutable(std::string_view key) {
  return const_cast<Value*>(static_cast<const Value*>(this)->Find(key));
}

Value* Value::FindPathMutable(std::string_view dotted) {
  return const_cast<Value*>(static_cast<const Value*>(this)->FindPath(dotted));
}

Value& Value::Set(std::string key, Value value) {
  if (type_ != Type::kObject) {
    *this = Object({}, line_);
  }
  for (auto& [k, v] : members_) {
    if (k == key) {
      v = std::move(value);
      return v;
    }
  }
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

bool Value::operator==(const Value& o) const {
  if (type_ != o.type_) {
    return false;
  }
  switch (type_) {
    case Type::kNull:
      return true;
    case Type::kBool:
      return bool_ == o.bool_;
    case Type::kNumber:
      return is_integer_ && o.is_integer_ ? int_ == o.int_ : number_ == o.number_;
    case Type::kString:
      return text_ == o.text_;
    case Type::kArray:
      return elements_ == o.elements_;
    case Type::kObject:
      return members_ == o.members_;
  }
  return false;
}

std::string Value::ToJson() const {
  Writer w;
  w.Value(*this);
  return w.Take();
}

namespace {

absl::StatusOr<Value> Convert(simdjson::dom::element e, int depth) {
  if (depth > 256) {
    return absl::InvalidArgumentError("JSON nested deeper than 256 levels");
  }
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      std::vector<Value::Member> members;
      simdjson::dom::object obj;
      if (e.get_object().get(obj) != simdjson::SUCCESS) {
        return absl::InternalError("JSON object expected");
      }
      members.reserve(obj.size());
      for (auto field : obj) {
        absl::StatusOr<Value> v = Convert(field.value, depth + 1);
        if (!v.ok()) {
          return v.status();
        }
        members.emplace_back(std::string(field.key), *std::move(v));
      }
      return Value::Object(std::move(members));
    }
    case simdjson::dom::element_type::ARRAY: {
      std::vector<Value> elements;
      simdjson::dom::array array;
      if (e.get_array().get(array) != simdjson::SUCCESS) {
        return absl::InternalError("JSON array expected");
      }
      elements.reserve(array.size());
      for (simdjson::dom::element child : array) {
        absl::StatusOr<Value> v = Convert(child, depth + 1);
        if (!v.ok()) {
          return v.status();
        }
        elements.push_back(*std::move(v));
      }
      return Value::Array(std::move(elements));
    }
    case simdjson::dom::element_type::INT64:
      return Value::Int(e.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64: {
      uint64_t u = e.get_uint64().value_unsafe();
      return Value::Number(static_cast<double>(u), std::to_string(u));
    }
    case simdjson::dom::element_type::DOUBLE: {
      double d = e.get_double().value_unsafe();
      // simdjson does not keep the source text; the shortest round-trip form is exact for d.
      char buf[32];
      auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);
      return Value::Number(d, std::string(buf, ec == std::errc() ? ptr : buf));
    }
    case simdjson::dom::element_type::STRING:
      return Value::String(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::BOOL:
      return Value::Bool(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE:
      return Value::Null();
  }
  return absl::InternalError("unknown JSON element type");
}

}  // namespace

absl::StatusOr<Value> Parse(std::string_view text) {
  // One parser per thread: simdjson parsers are reusable but not thread-safe.
  thread_local simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  simdjson::error_code error = parser.parse(padded).get(root);
  if (error != simdjson::SUCCESS) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON: ", simdjson::error_message(error)));
  }
  return Convert(root, 0);
}

namespace {

// The length of the well-formed UTF-8 sequence at s[at] (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF), or 0 when it is not one.
size_t Utf8SequenceLength(std::string_view s, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(at);
  if (b0 < 0x80) {
    return 1;
  }
  size_t n = 0;
  unsigned char lo = 0x80;  // the range of the second byte, narrowed for the cases that would
  unsigned char hi = 0xBF;  // be overlong, a surrogate or beyond U+10FFFF
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;
    hi = b0 == 0xED ? 0x9F : 0xBF;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;
    hi = b0 == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (at + n > s.size() || byte(at + 1) < lo || byte(at + 1) > hi) {
    return 0;
  }
  for (size_t i = 2; i < n; ++i) {
    if (byte(at + i) < 0x80 || byte(at + i) > 0xBF) {
      return 0;
    }
  }
  return n;
}

}  // namespace

void AppendQuoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      // JSON text is UTF-8 (RFC 8259 section 8.1): a byte that is not part of a well-formed
      // sequence becomes U+FFFD, so that the output always parses.
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";
      } else {
        out.append(s.substr(i, n));
        i += n - 1;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void Writer::Separator() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!has_element_.empty()) {
    if (has_element_.back()) {
      out_.push_back(',');
    }
    has_element_.back() = true;
  }
}

Writer& Writer::BeginObject() {
  Separator();
  out_.push_back('{');
  has_element_.push_back(false);
  return *this;
}

Writer& Writer::EndObject() {
  assert(!has_element_.empty());
  has_element_.pop_back();
  out_.push_back('}');
  return *this;
}

Writer& Writer::BeginArray() {
  Separator();
  out_.push_back('[');
  has_element_.push_back(false);
  return *this;
}

Writer& Writer::EndArray() {
  assert(!has_element_.empty());
  has_element_.pop_back();
  out_.push_back(']');
  return *this;
}

Writer& Writer::Key(std::string_view key) {
  Separator();
  AppendQuoted(out_, key);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

std::optional<size_t> InvalidUtf8Offset(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8SequenceLength(text, i);
    if (n == 0) {
      return i;
    }
    i += n;
  }
  return std::nullopt;
}

Writer& Writer::String(std::string_view s) {
  Separator();
  AppendQuoted(out_, s);
  return *this;
}

Writer& Writer::Int(int64_t i) {
  Separator();
  absl::StrAppend(&out_, i);
  return *this;
}

Writer& Writer::Double(double d) {
  Separator();
  if (!std::isfinite(d)) {
    out_ += "null";
    return *this;
  }
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);
  // The shortest form of a whole number beyond int64 is all digits ("18446744073709551616"),
  // an integer too large for JSON parsers that read integers as 64-bit (simdjson, Go's int64
  // fields); the exponent form reads as a double everywhere.
  if (ec == std::errc() && std::fabs(d) >= 0x1p63 &&
      std::string_view(buf, ptr - buf).find_first_of(".eE") == std::string_view::npos) {
    const std::to_chars_result scientific =
        std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    ptr = scientific.ptr;
    ec = scientific.ec;
  }
  out_.append(buf, ec == std::errc() ? ptr : buf);
  return *this;
}

Writer& Writer::Bool(bool b) {
  Separator();
  out_ += b ? "true" : "false";
  return *this;
}

Writer& Writer::Null() {
  Separator();
  out_ += "null";
  return *this;
}

Writer& Writer::RawNumber(std::string_view text) {
  Separator();
  out_.append(text);
  return *this;
}

Writer& Writer::Value(const json::Value& v) {
  switch (v.type()) {
    case Type::kNull:
      return Null();
    case Type::kBool:
      return Bool(v.bool_value());
    case Type::kNumber:
      return v.is_integer() ? Int(v.int_value()) : Double(v.number_value());
    case Type::kString:
      return String(v.string_value());
    case Type::kArray:
      BeginArray();
      for (const auto& e : v.elements()) {
        Value(e);
      }
      return EndArray();
    case Type::kObject:
      BeginObject();
      for (const auto& [k, e] : v.members()) {
        Key(k);
        Value(e);
      }
      return EndObject();
  }
  return *this;
}

}  // namespace bursar::json
