#pragma once

// Bursar's one JSON facade. `Value` is a small owned document tree that every decoder reads,
// whether the text came from the API server (JSON, parsed with simdjson in json.cc) or from a
// manifest file (YAML, converted in operator/yaml/yaml.cc). `Writer` emits compact JSON.
// Only two files include simdjson: json.cc, and operator/kube/pod_summary_decoder.cc, whose
// hot-path Pod decoder reads watch lines with simdjson's On-Demand API straight into compact
// structs.
//
// Numbers keep their source text next to the parsed double, so Quantity and Money decoders see
// "0.1" exactly instead of a binary approximation. `line` is the 1-based source line where the
// value starts (0 when unknown, e.g. for JSON from the wire); decoders use it in error messages.
// Thread-compatible: a Value is plain data.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace bursar::json {

enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

const char* TypeName(Type type);

class Value {
 public:
  using Member = std::pair<std::string, Value>;

  Value() = default;
  static Value Null(int line = 0);
  static Value Bool(bool b, int line = 0);
  // `text` is the number as written ("1e3", "0.10"); it must parse as a JSON/YAML number.
  static Value Number(double d, std::string text, int line = 0);
  static Value Int(int64_t i, int line = 0);
  static Value String(std::string s, int line = 0);
  static Value Array(std::vector<Value> elements, int line = 0);
  static Value Object(std::vector<Member> members, int line = 0);

  Type type() const { return type_; }
  int line() const { return line_; }
  bool is_null() const { return type_ == Type::kNull; }
  bool is_bool() const { return type_ == Type::kBool; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Accessors for the matching type; calling one on another type is a programming error
  // (checked with assert in debug builds, returns a neutral value otherwise).
  bool bool_value() const { return bool_; }
  double number_value() const { return number_; }
  // The number as written in the source ("1e3"); for strings, the string itself.
  const std::string& text() const { return text_; }
  // True when the number is integral and fits int64; then int_value() is exact.
  bool is_integer() const { return type_ == Type::kNumber && is_integer_; }
  int64_t int_value() const { return int_; }
  const std::string& string_value() const { return text_; }
  const std::vector<Value>& elements() const { return elements_; }
  const std::vector<Member>& members() const { return members_; }
  // Moves the children out (leaves this value's list empty): for splitting a List into items
  // without copying them.
  std::vector<Value> TakeElements() && { return std::move(elements_); }
  std::vector<Member> TakeMembers() && { return std::move(members_); }

  // Object lookup; nullptr when absent or when this is not an object. Linear: objects in
  // Kubernetes manifests are small, and order is kept for stable output.
  const Value* Find(std::string_view key) const;
  // Follows a dotted path of object keys ("metadata.name"); nullptr when any step is missing.
  const Value* FindPath(std::string_view dotted) const;

  // Mutation helpers for building documents in code and tests.
  Value& Set(std::string key, Value value);
  // Mutable lookups; nullptr as for Find / FindPath.
  Value* FindMutable(std::string_view key);
  Value* FindPathMutable(std::string_view dotted);
  void Append(Value value) { elements_.push_back(std::move(value)); }

  // Compact JSON text of this value.
  std::string ToJson() const;

  bool operator==(const Value& o) const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0;
  int64_t int_ = 0;
  int line_ = 0;
  std::string text_;
  std::vector<Value> elements_;
  std::vector<Member> members_;
};

// The string at a dotted path ("metadata.name"); "" when absent or not a string.
std::string StringAt(const Value& v, std::string_view dotted);
// The string member `key` of the object at `dotted`, for keys that contain dots themselves
// (labels and annotations: "bursar.dev/held-by"), which FindPath would split; "" when absent.
std::string MemberStringAt(const Value& v, std::string_view dotted, std::string_view key);

// Parses one JSON document. Errors carry simdjson's reason ("TAPE_ERROR: ...").
absl::StatusOr<Value> Parse(std::string_view text);

// The offset of the first byte of `text` that is not part of well-formed UTF-8 (RFC 3629: no
// overlong forms, surrogates or code points above U+10FFFF); nullopt when all of it is.
std::optional<size_t> InvalidUtf8Offset(std::string_view text);

// A streaming writer of compact JSON. Keys and strings are escaped per RFC 8259; a byte that is
// not part of well-formed UTF-8 is written as U+FFFD, so the output is always valid JSON.
// Misuse (a value where a key is expected) is a programming error, caught by assert.
class Writer {
 public:
  Writer& BeginObject();
  Writer& EndObject();
  Writer& BeginArray();
  Writer& EndArray();
  Writer& Key(std::string_view key);
  Writer& String(std::string_view s);
  Writer& Int(int64_t i);
  // Non-finite doubles are written as null (JSON has no NaN); finite ones round-trip exactly.
  Writer& Double(double d);
  Writer& Bool(bool b);
  Writer& Null();
  // A number given as text (e.g. a Quantity), written verbatim; the caller vouches for it.
  Writer& RawNumber(std::string_view text);
  Writer& Value(const json::Value& v);

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void Separator();
  std::string out_;
  // One entry per open container: true once it has an element (a comma is due next).
  std::vector<bool> has_element_;
  bool after_key_ = false;
};

// Appends `s` as a quoted, escaped JSON string (ill-formed UTF-8 as U+FFFD, as Writer does).
void AppendQuoted(std::string& out, std::string_view s);

}  // namespace bursar::json
