#pragma once

// The building blocks of the decoders in codec_decode.cc: `DecodeErrors` collects every problem of
// one object as `<source>:<line>: <json path>: <reason>`, and `ObjectReader` reads the fields of
// one JSON object, one line of code per field, checking the JSON type and the CRD's rules for that
// field (length, pattern, range, enum, list size and uniqueness) and recording the known keys so
// that `Finish()` can reject unknown ones. A field that is absent or null keeps whatever the
// output already holds, which is how the CRD defaults (initialisers in types.h) apply.
// Readers never stop at the first error: the caller gets every error of the object at once.
// Thread-compatible.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "controllers/values/labels.h"
#include "controllers/values/money.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"

namespace bursar::api {

class DecodeErrors {
 public:
  // The first line of the joined message is the most important one: identity problems
  // (apiVersion, kind, metadata.name, "not an object") first, then unknown fields (a misspelt
  // key usually explains a "missing required field" too), then the rest; source order within.
  enum class Rank { kIdentity = 0, kUnknownField = 1, kInvalid = 2 };
  static constexpr size_t kMaxErrors = 20;

  explicit DecodeErrors(std::string source) : source_(std::move(source)) {}

  // `line` 0 means unknown (JSON from the API server) and is left out of the message.
  void Add(int line, std::string_view path, std::string_view reason);
  void Add(int line, std::string_view path, std::string_view reason, Rank rank);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }
  // OK when empty; otherwise one InvalidArgument with every error (at most kMaxErrors lines,
  // then a count of the rest), joined with "\n".
  absl::Status ToStatus() const;

 private:
  struct Error {
    Rank rank;
    int line;
    std::string text;
  };
  std::string source_;
  std::vector<Error> errors_;
};

// The string_view bridge (controllers/values/strings.h), here too for the decoders' callers.
using values::AbslView;
using values::StdView;

// Levenshtein distance (insertions, deletions, substitutions), for "did you mean" hints.
size_t EditDistance(std::string_view a, std::string_view b);

// `"text"` with JSON escaping: values quoted in messages stay on one line.
std::string Quote(std::string_view s);

enum class Presence { kOptional, kRequired };
inline constexpr Presence kOptional = Presence::kOptional;
inline constexpr Presence kRequired = Presence::kRequired;

struct StringRule {
  Presence presence = kOptional;
  size_t min_length = 0;
  size_t max_length = std::numeric_limits<size_t>::max();
  // A pattern check and what a valid value looks like, for `"x" is not <want>`.
  bool (*valid)(std::string_view) = nullptr;
  const char* want = "valid";
};

struct IntRule {
  Presence presence = kOptional;
  int64_t min = std::numeric_limits<int32_t>::min();
  int64_t max = std::numeric_limits<int32_t>::max();
};

// The CRDs' two decimal-string patterns.
enum class DecimalKind {
  kUnsigned,  // spec fields: ^[0-9]+(\.[0-9]{1,6})?$, at most 24 characters
  kSigned,    // status fields: ^-?[0-9]+(\.[0-9]+)?$, at most 32 characters
};

struct ListRule {
  Presence presence = kOptional;
  size_t max_items = std::numeric_limits<size_t>::max();
  bool unique = false;  // x-kubernetes-list-type: set
};

struct MapRule {
  Presence presence = kOptional;
  size_t max_entries = std::numeric_limits<size_t>::max();
  StringRule key;
  StringRule value;
};

template <typename E>
struct EnumSpelling {
  E value;
  std::string_view name;
};

class ObjectReader {
 public:
  // `value` is the object to read (nullptr reads as an empty object); `path` its JSON path
  // ("spec.limit", "" for the root). A non-object value is reported once, then reads as empty.
  ObjectReader(const json::Value* value, std::string path, DecodeErrors* errors,
               bool reject_unknown_fields);

  const std::string& path() const { return path_; }
  int line() const { return line_; }
  DecodeErrors* errors() const { return errors_; }
  bool reject_unknown_fields() const { return reject_unknown_; }
  // "spec.limit" + "amount" -> "spec.limit.amount".
  std::string PathOf(std::string_view key) const;

  // The raw field, nullptr when absent or null; marks `key` as known. Reports a missing
  // required field.
  const json::Value* Field(std::string_view key, Presence presence = kOptional);
  // Accepts `keys` without reading them (metadata fields Bursar does not keep).
  void Ignore(std::initializer_list<std::string_view> keys);
  // True when reading `key` reported an error; cross-field rules skip such fields.
  bool Invalid(std::string_view key) const { return invalid_.count(std::string(key)) > 0; }

  // Typed readers. Each returns true when the field is present (valid or not).
  bool String(std::string_view key, std::string* out, const StringRule& rule = {});
  bool Int(std::string_view key, int* out, const IntRule& rule = {});
  bool Int64(std::string_view key, int64_t* out, const IntRule& rule);
  bool Bool(std::string_view key, bool* out, Presence presence = kOptional);
  bool Decimal(std::string_view key, values::Money* out, DecimalKind kind,
               Presence presence = kOptional);
  bool Decimal(std::string_view key, std::optional<values::Money>* out, DecimalKind kind);
  // A Go duration as the CRDs' pattern allows it: "90s", "6h", "1h30m" (no bare "0").
  bool Duration(std::string_view key, absl::Duration* out, Presence presence = kOptional);
  // An RFC 3339 date-time.
  bool Time(std::string_view key, absl::Time* out, Presence presence = kOptional);
  bool Time(std::string_view key, std::optional<absl::Time>* out);
  bool StringList(std::string_view key, std::vector<std::string>* out, const ListRule& list,
                  const StringRule& item = {});
  bool StringMap(std::string_view key, values::Labels* out, const MapRule& rule = {});

  template <typename E, size_t N>
  bool Enum(std::string_view key, E* out, const EnumSpelling<E> (&table)[N],
            Presence presence = kOptional) {
    std::string_view names[N];
    for (size_t i = 0; i < N; ++i) {
      names[i] = table[i].name;
    }
    int index = -1;
    bool present = EnumIndex(key, names, N, presence, &index);
    if (index >= 0) {
      *out = table[index].value;
    }
    return present;
  }

  // A nested object, read by `read` with a reader for it; Finish() is called afterwards.
  bool Object(std::string_view key, Presence presence, absl::FunctionRef<void(ObjectReader&)> read);

  // A list of objects. When present, `out` is cleared (an explicit [] overrides a default
  // list) and `read` fills one element per item, with a reader whose path is `key[i]`.
  template <typename T>
  bool ObjectList(std::string_view key, std::vector<T>* out, const ListRule& rule,
                  absl::FunctionRef<void(ObjectReader&, size_t, T*)> read) {
    const json::Value* list = ListField(key, rule);
    if (list == nullptr) {
      return IsPresent(key);
    }
    out->clear();
    const std::vector<json::Value>& items = list->elements();
    for (size_t i = 0; i < items.size(); ++i) {
      if (items[i].is_null()) {
        // Not an absent object: an element that says nothing (its required fields unchecked, it
        // would encode to an object that does not decode).
        Report(&items[i], ElementPath(key, i), "must be an object, got null");
        continue;
      }
      ObjectReader item(&items[i], ElementPath(key, i), errors_, reject_unknown_);
      T element{};
      read(item, i, &element);
      item.Finish();
      out->push_back(std::move(element));
    }
    return true;
  }

  // Errors found by cross-field rules: at `key` (its line when present, else this object's).
  void Error(std::string_view key, std::string_view reason);
  // At this object itself.
  void ErrorHere(std::string_view reason);

  // Reports fields that no reader asked for (when rejecting unknown fields).
  void Finish();

 private:
  // The list value when present and an array within `rule`; records errors otherwise.
  const json::Value* ListField(std::string_view key, const ListRule& rule);
  bool IsPresent(std::string_view key) const;
  bool EnumIndex(std::string_view key, const std::string_view* names, size_t n, Presence presence,
                 int* index);
  std::string ElementPath(std::string_view key, size_t i) const;
  // Reports `reason` at `path` (a field, element or map entry of this object).
  void Report(const json::Value* at, std::string_view path, std::string_view reason);
  void Fail(std::string_view key, const json::Value& at, std::string_view reason);
  // Checks a string against `rule`; reports at `path` and returns false when it does not hold.
  bool CheckString(const json::Value& v, std::string_view path, const StringRule& rule);
  // The string of `v`, or a type error at `path` (with a quoting hint for scalars).
  const std::string* AsString(const json::Value& v, std::string_view path);
  // The field `key` and its string: {nullptr, nullptr} when absent; {value, nullptr} when it is
  // not a string (reported, and `key` marked invalid).
  std::pair<const json::Value*, const std::string*> StringField(std::string_view key,
                                                                Presence presence);

  const json::Value* object_ = nullptr;
  std::string path_;
  int line_ = 0;
  DecodeErrors* errors_;
  bool reject_unknown_;
  std::set<std::string, std::less<>> known_;
  std::set<std::string, std::less<>> invalid_;
};

// Describes a value for type errors: `string "10"`, `number 5000`, `an object`.
std::string Describe(const json::Value& v);

}  // namespace bursar::api
