#include "controllers/api/field_reader.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"

namespace bursar::api {
namespace {

using values::IsDigit;

// ^[0-9]+(\.[0-9]{1,max_fraction})?$ with an optional leading '-' when `allow_sign`.
bool IsDecimalText(std::string_view s, bool allow_sign, size_t max_fraction) {
  if (allow_sign && !s.empty() && s[0] == '-') {
    s.remove_prefix(1);
  }
  size_t i = 0;
  while (i < s.size() && IsDigit(s[i])) {
    ++i;
  }
  if (i == 0) {
    return false;
  }
  if (i == s.size()) {
    return true;
  }
  if (s[i] != '.') {
    return false;
  }
  size_t fraction = s.size() - i - 1;
  return fraction >= 1 && fraction <= max_fraction &&
         std::all_of(s.begin() + static_cast<ptrdiff_t>(i) + 1, s.end(), IsDigit);
}

// ^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$
bool IsGoDurationText(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    while (i < s.size() && IsDigit(s[i])) {
      ++i;
    }
    if (i == start) {
      return false;
    }
    if (i < s.size() && s[i] == '.') {
      size_t frac = ++i;
      while (i < s.size() && IsDigit(s[i])) {
        ++i;
      }
      if (i == frac) {
        return false;
      }
    }
    std::string_view rest = s.substr(i);
    if (rest.starts_with("ns") || rest.starts_with("us") || rest.starts_with("ms")) {
      i += 2;
    } else if (rest.starts_with("s") || rest.starts_with("m") || rest.starts_with("h")) {
      i += 1;
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      size_t substitute = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Quote(std::string_view s) {
  std::string out;
  json::AppendQuoted(out, s);
  return out;
}

std::string Describe(const json::Value& v) {
  switch (v.type()) {
    case json::Type::kNull:
      return "null";
    case json::Type::kBool:
      return absl::StrCat("boolean ", v.bool_value() ? "true" : "false");
    case json::Type::kNumber:
      return absl::StrCat("number ", v.text());
    case json::Type::kString:
      return absl::StrCat("string ", Quote(v.string_value()));
    case json::Type::kArray:
      return "a list";
    case json::Type::kObject:
      return "an object";
  }
  return "unknown";
}

// -------------------------------------------------------------------------------------------
// DecodeErrors

void DecodeErrors::Add(int line, std::string_view path, std::string_view reason) {
  bool identity = path.empty() || path == "apiVersion" || path == "kind" || path == "metadata" ||
                  path == "metadata.name";
  Add(line, path, reason, identity ? Rank::kIdentity : Rank::kInvalid);
}

void DecodeErrors::Add(int line, std::string_view path, std::string_view reason, Rank rank) {
  std::string text = source_;
  if (line > 0) {
    absl::StrAppend(&text, text.empty() ? "" : ":", line);
  }
  if (!text.empty()) {
    text += ": ";
  }
  if (!path.empty()) {
    absl::StrAppend(&text, AbslView(path), ": ");
  }
  text += reason;
  errors_.push_back({rank, line, std::move(text)});
}

absl::Status DecodeErrors::ToStatus() const {
  if (errors_.empty()) {
    return absl::OkStatus();
  }
  std::vector<const Error*> sorted;
  sorted.reserve(errors_.size());
  for (const Error& e : errors_) {
    sorted.push_back(&e);
  }
  std::stable_sort(sorted.begin(), sorted.end(), [](const Error* a, const Error* b) {
    if (a->rank != b->rank) {
      return a->rank < b->rank;
    }
    return a->line < b->line;
  });
  std::string message;
  size_t shown = std::min(sorted.size(), kMaxErrors);
  for (size_t i = 0; i < shown; ++i) {
    absl::StrAppend(&message, i == 0 ? "" : "\n", sorted[i]->text);
  }
  if (sorted.size() > shown) {
    absl::StrAppend(&message, "\n... and ", sorted.size() - shown, " more errors");
  }
  return absl::InvalidArgumentError(message);
}

// -------------------------------------------------------------------------------------------
// ObjectReader

ObjectReader::ObjectReader(const json::Value* value, std::string path, DecodeErrors* errors,
                           bool reject_unknown_fields)
    : path_(std::move(path)), errors_(errors), reject_unknown_(reject_unknown_fields) {
  if (value == nullptr) {
    return;
  }
  line_ = value->line();
  if (value->is_object()) {
    object_ = value;
  } else if (!value->is_null()) {
    errors_->Add(line_, path_, absl::StrCat("must be an object, got ", Describe(*value)));
  }
}

std::string ObjectReader::PathOf(std::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", AbslView(key));
}

std::string ObjectReader::ElementPath(std::string_view key, size_t i) const {
  return absl::StrCat(PathOf(key), "[", i, "]");
}

void ObjectReader::Report(const json::Value* at, std::string_view path, std::string_view reason) {
  errors_->Add(at != nullptr && at->line() > 0 ? at->line() : line_, path, reason);
}

void ObjectReader::Fail(std::string_view key, const json::Value& at, std::string_view reason) {
  invalid_.insert(std::string(key));
  Report(&at, PathOf(key), reason);
}

void ObjectReader::Error(std::string_view key, std::string_view reason) {
  const json::Value* at = object_ != nullptr ? object_->Find(key) : nullptr;
  Report(at, PathOf(key), reason);
}

void ObjectReader::ErrorHere(std::string_view reason) {
  errors_->Add(line_, path_, reason);
}

bool ObjectReader::IsPresent(std::string_view key) const {
  const json::Value* v = object_ != nullptr ? object_->Find(key) : nullptr;
  return v != nullptr && !v->is_null();
}

const json::Value* ObjectReader::Field(std::string_view key, Presence presence) {
  known_.insert(std::string(key));
  const json::Value* raw = object_ != nullptr ? object_->Find(key) : nullptr;
  // null means absent, as the API server prunes it before defaulting.
  const json::Value* v = raw != nullptr && raw->is_null() ? nullptr : raw;
  // An absent or non-object parent was reported already (if it matters); its missing children
  // would only repeat that.
  if (v == nullptr && presence == kRequired && object_ != nullptr) {
    invalid_.insert(std::string(key));
    Report(raw, PathOf(key), "missing required field");  // a null's own line, if any
  }
  return v;
}

void ObjectReader::Ignore(std::initializer_list<std::string_view> keys) {
  for (std::string_view key : keys) {
    known_.insert(std::string(key));
  }
}

const std::string* ObjectReader::AsString(const json::Value& v, std::string_view path) {
  if (v.is_string()) {
    return &v.string_value();
  }
  if (v.is_number() || v.is_bool()) {
    std::string text = v.is_bool() ? (v.bool_value() ? "true" : "false") : v.text();
    Report(&v, path, absl::StrCat("must be a string; quote it: ", Quote(text)));
  } else {
    Report(&v, path, absl::StrCat("must be a string, got ", Describe(v)));
  }
  return nullptr;
}

bool ObjectReader::CheckString(const json::Value& v, std::string_view path,
                               const StringRule& rule) {
  const std::string& s = v.string_value();
  if (s.size() < rule.min_length) {
    Report(&v, path,
           rule.min_length == 1
               ? std::string("must not be empty")
               : absl::StrCat("must be at least ", rule.min_length, " characters long"));
    return false;
  }
  if (s.size() > rule.max_length) {
    Report(
        &v, path,
        absl::StrCat("must be at most ", rule.max_length, " characters long (got ", s.size(), ")"));
    return false;
  }
  if (rule.valid != nullptr && !rule.valid(s)) {
    Report(&v, path, absl::StrCat(Quote(s), " is not ", rule.want));
    return false;
  }
  return true;
}

std::pair<const json::Value*, const std::string*> ObjectReader::StringField(std::string_view key,
                                                                            Presence presence) {
  const json::Value* v = Field(key, presence);
  if (v == nullptr) {
    return {nullptr, nullptr};
  }
  const std::string* s = AsString(*v, PathOf(key));
  if (s == nullptr) {
    invalid_.insert(std::string(key));
  }
  return {v, s};
}

bool ObjectReader::String(std::string_view key, std::string* out, const StringRule& rule) {
  const json::Value* v = Field(key, rule.presence);
  if (v == nullptr) {
    return false;
  }
  std::string path = PathOf(key);
  const std::string* s = AsString(*v, path);
  if (s == nullptr || !CheckString(*v, path, rule)) {
    invalid_.insert(std::string(key));
    return true;
  }
  *out = *s;
  return true;
}

bool ObjectReader::Int64(std::string_view key, int64_t* out, const IntRule& rule) {
  const json::Value* v = Field(key, rule.presence);
  if (v == nullptr) {
    return false;
  }
  if (v->is_string()) {
    int64_t parsed = 0;
    const std::string& s = v->string_value();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), parsed);
    bool numeric = !s.empty() && ec == std::errc() && ptr == s.data() + s.size();
    Fail(key, *v,
         numeric ? absl::StrCat("must be an integer, not a string; remove the quotes: ", s)
                 : absl::StrCat("must be an integer, got ", Describe(*v)));
    return true;
  }
  if (!v->is_integer()) {
    Fail(key, *v, absl::StrCat("must be an integer, got ", Describe(*v)));
    return true;
  }
  int64_t i = v->int_value();
  if (i < rule.min || i > rule.max) {
    std::string want;
    const bool open_above = rule.max == std::numeric_limits<int64_t>::max() ||
                            (rule.max == std::numeric_limits<int32_t>::max() && rule.min >= 0);
    if (open_above && i > rule.max) {
      // Only the type bounds it (an int32 field the apiserver stores as int64): say so.
      want = absl::StrCat("must be at most ", rule.max, ", the largest ",
                          rule.max == std::numeric_limits<int32_t>::max() ? "32" : "64",
                          "-bit integer");
    } else if (open_above) {
      want = absl::StrCat("must be at least ", rule.min);
    } else {
      want = absl::StrCat("must be between ", rule.min, " and ", rule.max);
    }
    Fail(key, *v, absl::StrCat(want, " (got ", i, ")"));
    return true;
  }
  *out = i;
  return true;
}

bool ObjectReader::Int(std::string_view key, int* out, const IntRule& rule) {
  IntRule clamped = rule;
  clamped.min = std::max<int64_t>(rule.min, std::numeric_limits<int>::min());
  clamped.max = std::min<int64_t>(rule.max, std::numeric_limits<int>::max());
  int64_t i = 0;
  bool present = Int64(key, &i, clamped);
  if (present && !Invalid(key)) {
    *out = static_cast<int>(i);
  }
  return present;
}

bool ObjectReader::Bool(std::string_view key, bool* out, Presence presence) {
  const json::Value* v = Field(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_bool()) {
    Fail(key, *v, absl::StrCat("must be true or false, got ", Describe(*v)));
    return true;
  }
  *out = v->bool_value();
  return true;
}

bool ObjectReader::Decimal(std::string_view key, values::Money* out, DecimalKind kind,
                           Presence presence) {
  auto [v, s] = StringField(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (s == nullptr) {
    return true;
  }
  std::string path = PathOf(key);
  bool is_signed = kind == DecimalKind::kSigned;
  size_t max_length = is_signed ? 32 : 24;
  if (s->size() > max_length) {
    Fail(key, *v, absl::StrCat("must be at most ", max_length, " characters long"));
    return true;
  }
  if (!is_signed && !s->empty() && (*s)[0] == '-' && IsDecimalText(*s, true, 6)) {
    Fail(key, *v, absl::StrCat(Quote(*s), " must not be negative"));
    return true;
  }
  if (!IsDecimalText(*s, is_signed, is_signed ? max_length : 6)) {
    if (IsDecimalText(*s, is_signed, max_length)) {
      Fail(key, *v, absl::StrCat(Quote(*s), " has more than 6 fractional digits"));
    } else {
      Fail(key, *v,
           absl::StrCat(Quote(*s), " is not a decimal number (want e.g. \"5000\" or \"12.50\")"));
    }
    return true;
  }
  absl::StatusOr<values::Money> money = values::Money::Parse(*s);
  if (!money.ok()) {
    Fail(key, *v, StdView(money.status().message()));  // names the text already
    return true;
  }
  *out = *money;
  return true;
}

bool ObjectReader::Decimal(std::string_view key, std::optional<values::Money>* out,
                           DecimalKind kind) {
  values::Money money;
  bool present = Decimal(key, &money, kind, kOptional);
  if (present && !Invalid(key)) {
    *out = money;
  }
  return present;
}

bool ObjectReader::Duration(std::string_view key, absl::Duration* out, Presence presence) {
  auto [v, s] = StringField(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (s == nullptr) {
    return true;
  }
  std::string path = PathOf(key);
  if (s->size() > 32 || !IsGoDurationText(*s)) {
    Fail(key, *v,
         absl::StrCat(Quote(*s), " is not a duration (want e.g. \"90s\", \"6h\" or \"1h30m\")"));
    return true;
  }
  absl::StatusOr<absl::Duration> d = values::ParseDuration(*s);
  if (!d.ok()) {
    Fail(key, *v, StdView(d.status().message()));  // names the text already
    return true;
  }
  *out = *d;
  return true;
}

bool ObjectReader::Time(std::string_view key, absl::Time* out, Presence presence) {
  auto [v, s] = StringField(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (s == nullptr) {
    return true;
  }
  std::string path = PathOf(key);
  absl::StatusOr<absl::Time> t = ParseTime(*s);
  if (!t.ok()) {
    Fail(key, *v,
         absl::StrCat(Quote(*s),
                      " is not an RFC 3339 date-time (want e.g. \"2026-11-01T00:00:00Z\")"));
    return true;
  }
  *out = *t;
  return true;
}

bool ObjectReader::Time(std::string_view key, std::optional<absl::Time>* out) {
  absl::Time t;
  bool present = Time(key, &t, kOptional);
  if (present && !Invalid(key)) {
    *out = t;
  }
  return present;
}

const json::Value* ObjectReader::ListField(std::string_view key, const ListRule& rule) {
  const json::Value* v = Field(key, rule.presence);
  if (v == nullptr) {
    return nullptr;
  }
  if (!v->is_array()) {
    Fail(key, *v, absl::StrCat("must be a list, got ", Describe(*v)));
    return nullptr;
  }
  if (v->elements().size() > rule.max_items) {
    Fail(key, *v,
         absl::StrCat("must have at most ", rule.max_items, " items (got ", v->elements().size(),
                      ")"));
    return nullptr;
  }
  return v;
}

bool ObjectReader::StringList(std::string_view key, std::vector<std::string>* out,
                              const ListRule& list, const StringRule& item) {
  const json::Value* v = ListField(key, list);
  if (v == nullptr) {
    return IsPresent(key);
  }
  std::vector<std::string> result;
  std::set<std::string_view> seen;
  const std::vector<json::Value>& items = v->elements();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string path = ElementPath(key, i);
    const std::string* s = AsString(items[i], path);
    if (s == nullptr || !CheckString(items[i], path, item)) {
      invalid_.insert(std::string(key));
      continue;
    }
    if (list.unique && !seen.insert(*s).second) {
      invalid_.insert(std::string(key));
      Report(&items[i], path, absl::StrCat("duplicate value ", Quote(*s)));
      continue;
    }
    result.push_back(*s);
  }
  if (!Invalid(key)) {
    *out = std::move(result);
  }
  return true;
}

bool ObjectReader::StringMap(std::string_view key, values::Labels* out, const MapRule& rule) {
  const json::Value* v = Field(key, rule.presence);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_object()) {
    Fail(key, *v, absl::StrCat("must be a map of strings, got ", Describe(*v)));
    return true;
  }
  if (v->members().size() > rule.max_entries) {
    Fail(key, *v,
         absl::StrCat("must have at most ", rule.max_entries, " entries (got ", v->members().size(),
                      ")"));
    return true;
  }
  values::Labels result;
  std::string base = PathOf(key);
  for (const auto& [k, value] : v->members()) {
    std::string path = absl::StrCat(base, "[", k, "]");
    if (rule.key.valid != nullptr || rule.key.max_length != std::numeric_limits<size_t>::max()) {
      json::Value key_value = json::Value::String(k, value.line());
      if (!CheckString(key_value, path, rule.key)) {
        invalid_.insert(std::string(key));
        continue;
      }
    }
    const std::string* s = AsString(value, path);
    if (s == nullptr || !CheckString(value, path, rule.value)) {
      invalid_.insert(std::string(key));
      continue;
    }
    result.emplace(k, *s);
  }
  if (!Invalid(key)) {
    *out = std::move(result);
  }
  return true;
}

bool ObjectReader::EnumIndex(std::string_view key, const std::string_view* names, size_t n,
                             Presence presence, int* index) {
  auto [v, s] = StringField(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (s == nullptr) {
    return true;
  }
  std::string path = PathOf(key);
  for (size_t i = 0; i < n; ++i) {
    if (names[i] == *s) {
      *index = static_cast<int>(i);
      return true;
    }
  }
  std::string choices;
  for (size_t i = 0; i < n; ++i) {
    absl::StrAppend(&choices, i == 0 ? "" : ", ", AbslView(names[i]));
  }
  Fail(key, *v, absl::StrCat(Quote(*s), " is not one of ", choices));
  return true;
}

bool ObjectReader::Object(std::string_view key, Presence presence,
                          absl::FunctionRef<void(ObjectReader&)> read) {
  const json::Value* v = Field(key, presence);
  if (v == nullptr) {
    return false;
  }
  if (!v->is_object()) {
    Fail(key, *v, absl::StrCat("must be an object, got ", Describe(*v)));
    return true;
  }
  ObjectReader nested(v, PathOf(key), errors_, reject_unknown_);
  read(nested);
  nested.Finish();
  return true;
}

void ObjectReader::Finish() {
  if (!reject_unknown_ || object_ == nullptr) {
    return;
  }
  for (const auto& [key, value] : object_->members()) {
    if (known_.count(key) > 0) {
      continue;
    }
    std::string reason = "unknown field";
    std::string_view best;
    size_t best_distance = 3;  // suggest only near misses
    for (const std::string& candidate : known_) {
      size_t d = EditDistance(key, candidate);
      if (d < best_distance) {
        best = candidate;
        best_distance = d;
      }
    }
    if (!best.empty()) {
      absl::StrAppend(&reason, " (did you mean ", Quote(best), "?)");
    }
    errors_->Add(value.line() > 0 ? value.line() : line_, PathOf(key), reason,
                 DecodeErrors::Rank::kUnknownField);
  }
}

}  // namespace bursar::api
