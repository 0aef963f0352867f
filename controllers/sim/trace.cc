#include "controllers/sim/trace.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/values/strings.h"
#include "controllers/values/validation.h"

namespace bursar::sim {
namespace {

enum class Column {
  kSubmitTime,
  kDuration,
  kGpus,
  kNamespace,
  kPriority,
  kModel,
  kPurpose,
  kExpectedDuration,
  kMaxCost
};
constexpr int kColumnCount = 9;
constexpr int kRequiredColumns = 7;  // the first seven; the optional ones may be left out
constexpr std::array<std::string_view, kColumnCount> kColumnNames = {
    "submit_time_s", "duration_s",          "gpus",    "namespace", "priority", "model",
    "purpose",       "expected_duration_s", "max_cost"};

// Quotes a value for an error message: escapes quotes, backslashes and control characters so
// the message stays on one line, and shortens very long values.
std::string QuoteForMessage(std::string_view value) {
  constexpr size_t kMaxShown = 64;
  std::string out = "\"";
  const bool truncated = value.size() > kMaxShown;
  for (char c : value.substr(0, kMaxShown)) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += truncated ? "...\"" : "\"";
  return out;
}

using values::AbslView;

// "submit_time_s,duration_s,...": the canonical header, with the optional columns asked for.
std::string CanonicalHeader(bool with_expected_duration = false, bool with_max_cost = false) {
  std::string out;
  for (int i = 0; i < kColumnCount; ++i) {
    if ((i == static_cast<int>(Column::kExpectedDuration) && !with_expected_duration) ||
        (i == static_cast<int>(Column::kMaxCost) && !with_max_cost)) {
      continue;
    }
    if (!out.empty()) {
      out += ',';
    }
    out.append(kColumnNames[static_cast<size_t>(i)]);
  }
  return out;
}

bool IsBlank(char c) {
  return c == ' ' || c == '\t';
}

std::string_view TrimBlanks(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && IsBlank(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits CSV text into records. Fields point into the input unless a quoted field contained
// an escaped quote, in which case they point into per-field scratch strings that live until the
// next call to Next(). Keeping views avoids one allocation per field.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : text_(text) {
    if (text_.starts_with("\xEF\xBB\xBF")) {  // UTF-8 byte order mark
      text_.remove_prefix(3);
    }
  }

  // Reads the next record, skipping blank and comment lines. Returns false at end of input or
  // on error (then error() is non-empty). `line()` is the record's first line.
  bool Next(std::vector<std::string_view>& fields) {
    fields.clear();
    if (!SkipIgnoredLines()) {
      return false;
    }
    record_line_ = line_;
    size_t scratch_used = 0;
    for (;;) {
      while (pos_ < text_.size() && IsBlank(text_[pos_])) {
        ++pos_;
      }
      if (pos_ < text_.size() && text_[pos_] == '"') {
        std::string_view field;
        if (!ReadQuoted(field, scratch_used, fields.size())) {
          return false;
        }
        fields.push_back(field);
        while (pos_ < text_.size() && IsBlank(text_[pos_])) {
          ++pos_;
        }
      } else {
        const size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n') {
          ++pos_;
        }
        std::string_view field = text_.substr(start, pos_ - start);
        if (!field.empty() && field.back() == '\r') {
          field.remove_suffix(1);  // CRLF
        }
        fields.push_back(TrimBlanks(field));
      }
      if (pos_ >= text_.size()) {
        return true;
      }
      const char c = text_[pos_];
      if (c == ',') {
        ++pos_;
        continue;
      }
      if (c == '\r' && (pos_ + 1 == text_.size() || text_[pos_ + 1] == '\n')) {
        ++pos_;
      }
      if (pos_ == text_.size()) {
        return true;
      }
      if (text_[pos_] == '\n') {
        ++pos_;
        ++line_;
        return true;
      }
      error_field_ = static_cast<int>(fields.size()) - 1;
      error_ = absl::StrCat("unexpected character ", QuoteForMessage(text_.substr(pos_, 1)),
                            " after closing quote");
      return false;
    }
  }

  int line() const { return record_line_; }
  // The error of the last Next(), empty when there was none, and the 0-based field it is in.
  const std::string& error() const { return error_; }
  int error_field() const { return error_field_; }

 private:
  // Advances past blank lines and '#' comment lines. Returns false at end of input.
  bool SkipIgnoredLines() {
    while (pos_ < text_.size()) {
      size_t p = pos_;
      while (p < text_.size() && (IsBlank(text_[p]) || text_[p] == '\r')) {
        ++p;
      }
      if (p < text_.size() && text_[p] != '\n' && text_[p] != '#') {
        return true;
      }
      const size_t eol = text_.find('\n', p);
      if (eol == std::string_view::npos) {
        pos_ = text_.size();
        return false;
      }
      pos_ = eol + 1;
      ++line_;
    }
    return false;
  }

  bool ReadQuoted(std::string_view& field, size_t& scratch_used, size_t field_index) {
    ++pos_;  // opening quote
    const size_t start = pos_;
    bool has_escape = false;
    for (;;) {
      const size_t quote = text_.find('"', pos_);
      if (quote == std::string_view::npos) {
        error_field_ = static_cast<int>(field_index);
        error_ = "unterminated quoted field";
        return false;
      }
      line_ += static_cast<int>(std::count(text_.begin() + static_cast<ptrdiff_t>(pos_),
                                           text_.begin() + static_cast<ptrdiff_t>(quote), '\n'));
      if (quote + 1 < text_.size() && text_[quote + 1] == '"') {
        has_escape = true;
        pos_ = quote + 2;
        continue;
      }
      pos_ = quote + 1;
      std::string_view raw = text_.substr(start, quote - start);
      if (!has_escape) {
        field = raw;
        return true;
      }
      if (scratch_used == scratch_.size()) {
        scratch_.emplace_back();
      }
      std::string& out = scratch_[scratch_used++];
      out.clear();
      for (size_t i = 0; i < raw.size(); ++i) {
        out += raw[i];
        if (raw[i] == '"') {
          ++i;  // the second quote of an escaped pair
        }
      }
      field = out;
      return true;
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1;
  int record_line_ = 1;
  std::string error_;
  int error_field_ = 0;
  // A deque: growing it never moves the strings already handed out as views.
  std::deque<std::string> scratch_;
};

class TraceParser {
 public:
  explicit TraceParser(std::string_view source) : source_(source) {}

  absl::StatusOr<std::vector<TraceJob>> Parse(std::string_view text) {
    CsvReader reader(text);
    std::vector<std::string_view> fields;
    if (!reader.Next(fields)) {
      if (!reader.error().empty()) {
        return ReaderError(reader);
      }
      return Error(1, absl::StrCat("no header line (expected ", CanonicalHeader(), ")"));
    }
    if (absl::Status status = ReadHeader(fields, reader.line()); !status.ok()) {
      return status;
    }
    std::vector<TraceJob> jobs;
    jobs.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')));
    while (reader.Next(fields)) {
      const int line = reader.line();
      if (fields.size() != column_of_field_.size()) {
        return Error(line, absl::StrCat("expected ", column_of_field_.size(), " fields, found ",
                                        fields.size()));
      }
      TraceJob& job = jobs.emplace_back();
      job.line = line;
      for (size_t i = 0; i < fields.size(); ++i) {
        if (absl::Status status = SetField(job, column_of_field_[i], fields[i], line);
            !status.ok()) {
          return status;
        }
      }
    }
    if (!reader.error().empty()) {
      return ReaderError(reader);
    }
    const auto by_submit_time = [](const TraceJob& a, const TraceJob& b) {
      return a.submit_time_s < b.submit_time_s;
    };
    // Most traces are already in order; sorting them anyway would move every job ~log n times.
    if (!std::is_sorted(jobs.begin(), jobs.end(), by_submit_time)) {
      std::stable_sort(jobs.begin(), jobs.end(), by_submit_time);
    }
    return jobs;
  }

 private:
  absl::Status Error(int line, std::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat(AbslView(source_), ":", line, ": ", AbslView(message)));
  }

  // Names the column once the header is known ("model: unterminated quoted field").
  absl::Status ReaderError(const CsvReader& reader) const {
    const auto field = static_cast<size_t>(reader.error_field());
    if (field < column_of_field_.size()) {
      return Error(
          reader.line(),
          absl::StrCat(AbslView(kColumnNames[static_cast<size_t>(column_of_field_[field])]), ": ",
                       reader.error()));
    }
    return Error(reader.line(), absl::StrCat("field ", field + 1, ": ", reader.error()));
  }

  absl::Status ReadHeader(const std::vector<std::string_view>& fields, int line) {
    std::array<bool, kColumnCount> seen{};
    std::vector<std::string> unknown;
    for (std::string_view name : fields) {
      const auto it = std::find(kColumnNames.begin(), kColumnNames.end(), name);
      if (it == kColumnNames.end()) {
        unknown.push_back(QuoteForMessage(name));
        continue;
      }
      const auto index = static_cast<size_t>(it - kColumnNames.begin());
      if (seen[index]) {
        return Error(line, absl::StrCat("duplicate column ", QuoteForMessage(name)));
      }
      seen[index] = true;
      column_of_field_.push_back(static_cast<Column>(index));
    }
    if (!unknown.empty()) {
      return Error(line,
                   absl::StrCat(unknown.size() == 1 ? "unknown column " : "unknown columns ",
                                absl::StrJoin(unknown, ", "), " (expected ", CanonicalHeader(),
                                ", optionally ", AbslView(kColumnNames[kRequiredColumns]), " and ",
                                AbslView(kColumnNames[kRequiredColumns + 1]), ")"));
    }
    std::vector<std::string> missing;
    for (size_t i = 0; i < kRequiredColumns; ++i) {
      if (!seen[i]) {
        missing.push_back(QuoteForMessage(kColumnNames[i]));
      }
    }
    if (!missing.empty()) {
      return Error(line, absl::StrCat(missing.size() == 1 ? "missing column " : "missing columns ",
                                      absl::StrJoin(missing, ", ")));
    }
    return absl::OkStatus();
  }

  template <typename Int>
  absl::Status ParseWhole(std::string_view value, Column column, int line, Int min, Int max,
                          std::string_view bound_text, Int& out) const {
    const std::string_view name = kColumnNames[static_cast<size_t>(column)];
    Int parsed{};
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
    if (ec == std::errc::result_out_of_range) {
      return Error(line,
                   absl::StrCat(AbslView(name), ": ", QuoteForMessage(value), " is out of range"));
    }
    if (ec != std::errc() || end != value.data() + value.size() || value.empty()) {
      return Error(line, absl::StrCat(AbslView(name), ": ", QuoteForMessage(value),
                                      " is not a whole number"));
    }
    if (parsed < min || parsed > max) {
      return Error(line, absl::StrCat(AbslView(name), ": ", QuoteForMessage(value), " ",
                                      AbslView(bound_text)));
    }
    out = parsed;
    return absl::OkStatus();
  }

  absl::Status SetField(TraceJob& job, Column column, std::string_view value, int line) const {
    switch (column) {
      case Column::kSubmitTime:
        return ParseWhole<int64_t>(value, column, line, 0, kMaxTraceSeconds,
                                   "must be between 0 and 100 years", job.submit_time_s);
      case Column::kDuration:
        return ParseWhole<int64_t>(value, column, line, 1, kMaxTraceSeconds,
                                   "must be between 1 second and 100 years", job.duration_s);
      case Column::kGpus:
        return ParseWhole<int>(value, column, line, 0, kMaxTraceGpus,
                               "must be between 0 and 100000", job.gpus);
      case Column::kPriority:
        return ParseWhole<int>(value, column, line, std::numeric_limits<int>::min(),
                               std::numeric_limits<int>::max(), "", job.priority);
      case Column::kNamespace:
        if (!values::IsDns1123Label(value)) {
          return Error(line, absl::StrCat("namespace: ", QuoteForMessage(value),
                                          " is not a valid DNS-1123 label"));
        }
        job.ns.assign(value);
        return absl::OkStatus();
      case Column::kModel:
        job.model.assign(value);
        return absl::OkStatus();
      case Column::kPurpose:
        job.purpose.assign(value);
        return absl::OkStatus();
      case Column::kExpectedDuration:
        if (value.empty()) {
          job.expected_duration_s.reset();  // declares nothing
          return absl::OkStatus();
        }
        job.expected_duration_s = 0;
        return ParseWhole<int64_t>(value, column, line, 1, kMaxTraceSeconds,
                                   "must be empty or between 1 second and 100 years",
                                   *job.expected_duration_s);
      case Column::kMaxCost: {
        if (value.empty()) {
          job.max_cost.reset();  // no cap
          return absl::OkStatus();
        }
        absl::StatusOr<values::Money> cap = values::Money::Parse(value);
        if (!cap.ok() || cap->IsNegative()) {
          return Error(line, absl::StrCat("max_cost: ", QuoteForMessage(value),
                                          " must be empty or a non-negative decimal amount"));
        }
        job.max_cost = *cap;
        return absl::OkStatus();
      }
    }
    return absl::InternalError("unreachable column");
  }

  std::string_view source_;
  std::vector<Column> column_of_field_;  // the column each field position holds
};

bool NeedsQuoting(std::string_view value) {
  if (value.empty()) {
    return false;
  }
  if (IsBlank(value.front()) || IsBlank(value.back())) {
    return true;
  }
  return value.find_first_of(",\"\r\n") != std::string_view::npos;
}

void AppendField(std::string& out, std::string_view value) {
  if (!NeedsQuoting(value)) {
    out.append(value);
    return;
  }
  out += '"';
  for (char c : value) {
    if (c == '"') {
      out += '"';
    }
    out += c;
  }
  out += '"';
}

template <typename Int>
void AppendInt(std::string& out, Int value) {
  std::array<char, 24> buffer;
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  out.append(buffer.data(), result.ptr);
}

}  // namespace

absl::StatusOr<std::vector<TraceJob>> ParseTraceCsv(std::string_view text,
                                                    std::string_view source_name) {
  return TraceParser(source_name).Parse(text);
}

absl::StatusOr<std::vector<TraceJob>> ReadTraceFile(const std::string& path) {
  const auto close = [](std::FILE* f) { std::fclose(f); };
  std::unique_ptr<std::FILE, decltype(close)> file(std::fopen(path.c_str(), "rb"), close);
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        path, ": cannot open: ", std::error_code(errno, std::generic_category()).message()));
  }
  std::string text;
  std::array<char, 1 << 16> buffer;
  size_t n = 0;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    text.append(buffer.data(), n);
  }
  if (std::ferror(file.get()) != 0) {
    return absl::DataLossError(absl::StrCat(
        path, ": read failed: ", std::error_code(errno, std::generic_category()).message()));
  }
  return ParseTraceCsv(text, path);
}

std::string FormatTraceCsv(const std::vector<TraceJob>& jobs) {
  const bool declared = std::any_of(jobs.begin(), jobs.end(), [](const TraceJob& job) {
    return job.expected_duration_s.has_value();
  });
  const bool capped = std::any_of(jobs.begin(), jobs.end(),
                                  [](const TraceJob& job) { return job.max_cost.has_value(); });
  std::string out = CanonicalHeader(declared, capped) + "\n";
  out.reserve(out.size() + jobs.size() * 48);
  for (const TraceJob& job : jobs) {
    AppendInt(out, job.submit_time_s);
    out += ',';
    AppendInt(out, job.duration_s);
    out += ',';
    AppendInt(out, job.gpus);
    out += ',';
    AppendField(out, job.ns);
    out += ',';
    AppendInt(out, job.priority);
    out += ',';
    AppendField(out, job.model);
    out += ',';
    AppendField(out, job.purpose);
    if (declared) {
      out += ',';
      if (job.expected_duration_s.has_value()) {
        AppendInt(out, *job.expected_duration_s);
      }
    }
    if (capped) {
      out += ',';
      if (job.max_cost.has_value()) {
        out += job.max_cost->ToString();
      }
    }
    out += '\n';
  }
  return out;
}

}  // namespace bursar::sim
