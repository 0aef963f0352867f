#include "operator/runtime/log.h"

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"

namespace bursar::runtime {
namespace {

constexpr std::string_view kLevelNames[] = {"debug", "info", "warn", "error"};
// Upper case and padded to one width, so that text messages line up.
constexpr std::string_view kTextLevels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
constexpr std::string_view kFormatNames[] = {"json", "text"};
constexpr std::string_view kReplacement = "\xef\xbf\xbd";  // U+FFFD

// The length of the well-formed UTF-8 sequence that starts at s[i] (Unicode table 3-7: no
// overlong forms, no surrogates, nothing above U+10FFFF), or 0 when it is ill-formed; then
// `*bad` is the length of its maximal ill-formed subpart, which becomes one U+FFFD.
size_t SequenceAt(std::string_view s, size_t i, size_t* bad) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char lead = byte(i);
  if (lead < 0x80) {
    return 1;
  }
  size_t length = 0;
  unsigned char low = 0x80;
  unsigned char high = 0xBF;  // the range of the second byte; later ones are 80..BF
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  } else {
    *bad = 1;
    return 0;
  }
  for (size_t k = 1; k < length; ++k) {
    unsigned char lo = k == 1 ? low : 0x80;
    unsigned char hi = k == 1 ? high : 0xBF;
    if (i + k >= s.size() || byte(i + k) < lo || byte(i + k) > hi) {
      *bad = k;
      return 0;
    }
  }
  return length;
}

// `s` itself when it is valid UTF-8, else a copy in `scratch` with U+FFFD for each maximal
// ill-formed subpart.
std::string_view ValidUtf8(std::string_view s, std::string* scratch) {
  size_t i = 0;
  size_t bad = 0;
  while (i < s.size()) {
    size_t n = SequenceAt(s, i, &bad);
    if (n == 0) {
      break;
    }
    i += n;
  }
  if (i == s.size()) {
    return s;
  }
  scratch->assign(s.substr(0, i));
  while (i < s.size()) {
    size_t n = SequenceAt(s, i, &bad);
    if (n == 0) {
      scratch->append(kReplacement);
      i += bad;
    } else {
      scratch->append(s.substr(i, n));
      i += n;
    }
  }
  return *scratch;
}

std::string_view FieldKey(std::string_view key, std::string* scratch) {
  if (key == "ts" || key == "level" || key == "msg") {
    *scratch = absl::StrCat("field.", values::AbslView(key));
    return *scratch;
  }
  return key;
}

std::string_view NonFiniteName(double d) {
  if (std::isnan(d)) {
    return "NaN";
  }
  return d > 0 ? "+Inf" : "-Inf";
}

void AppendDouble(std::string& out, double d) {
  if (!std::isfinite(d)) {
    out.append(NonFiniteName(d));
    return;
  }
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest round-trip
  out.append(buf, ec == std::errc() ? ptr : buf);
}

// Text format: control characters as JSON escapes, everything else (valid UTF-8) verbatim.
void AppendEscaped(std::string& out, std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F) {
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    }
  }
}

// A text value needs quotes when a reader could not tell where it ends.
bool NeedsQuotes(std::string_view s) {
  if (s.empty()) {
    return true;
  }
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F || c == '=' || c == '"') {
      return true;
    }
  }
  return false;
}

void AppendTextKey(std::string& out, std::string_view key) {
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    out.push_back(u <= 0x20 || u == 0x7F || c == '=' || c == '"' ? '_' : c);
  }
}

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text) {
  for (size_t i = 0; i < std::size(kLevelNames); ++i) {
    if (text == kLevelNames[i]) {
      return static_cast<LogLevel>(i);
    }
  }
  std::string quoted;
  json::AppendQuoted(quoted, text);
  return absl::InvalidArgumentError(
      absl::StrCat(quoted, " is not one of debug, info, warn, error"));
}

std::string_view LogLevelName(LogLevel level) {
  return kLevelNames[static_cast<size_t>(level)];
}

absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text) {
  for (size_t i = 0; i < std::size(kFormatNames); ++i) {
    if (text == kFormatNames[i]) {
      return static_cast<LogFormat>(i);
    }
  }
  std::string quoted;
  json::AppendQuoted(quoted, text);
  return absl::InvalidArgumentError(absl::StrCat(quoted, " is not one of json, text"));
}

std::string_view LogFormatName(LogFormat format) {
  return kFormatNames[static_cast<size_t>(format)];
}

Logger::Logger(const Clock& clock, LogLevel level, LogFormat format, Sink sink)
    : clock_(clock),
      format_(format),
      level_(level),
      sink_(sink ? std::move(sink) : Sink(&Logger::StderrSink)) {}

void Logger::StderrSink(std::string_view line) {
  std::string buf;
  buf.reserve(line.size() + 1);
  buf.append(line);
  buf.push_back('\n');
  const char* p = buf.data();
  size_t left = buf.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return;  // nowhere left to report it
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

void Logger::Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields) {
  if (Enabled(level)) {
    Write(level, message, std::span<const LogField>(fields.begin(), fields.size()));
  }
}

void Logger::Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields) {
  if (Enabled(level)) {
    Write(level, message, fields);
  }
}

void Logger::Write(LogLevel level, std::string_view message, std::span<const LogField> fields) {
  std::string line = Format(level, message, fields);  // outside the lock
  absl::MutexLock lock(&mu_);
  sink_(line);
}

std::string Logger::Format(LogLevel level, std::string_view message,
                           std::span<const LogField> fields) const {
  std::string ts = FormatTimestamp(clock_.Now());
  std::string scratch;
  std::string key_scratch;
  if (format_ == LogFormat::kJson) {
    json::Writer w;
    w.BeginObject();
    w.Key("ts").String(ts);
    w.Key("level").String(LogLevelName(level));
    w.Key("msg").String(ValidUtf8(message, &scratch));
    for (const LogField& f : fields) {
      w.Key(ValidUtf8(FieldKey(f.key, &key_scratch), &scratch));
      std::visit(
          [&](const auto& v) {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, std::string>) {
              w.String(ValidUtf8(v, &scratch));
            } else if constexpr (std::is_same_v<T, int64_t>) {
              w.Int(v);
            } else if constexpr (std::is_same_v<T, double>) {
              if (std::isfinite(v)) {
                w.Double(v);
              } else {
                w.String(NonFiniteName(v));
              }
            } else {
              w.Bool(v);
            }
          },
          f.value);
    }
    w.EndObject();
    return w.Take();
  }

  std::string out = ts;
  out.push_back(' ');
  out.append(kTextLevels[static_cast<size_t>(level)]);
  out.push_back(' ');
  AppendEscaped(out, ValidUtf8(message, &scratch));
  for (const LogField& f : fields) {
    out.push_back(' ');
    AppendTextKey(out, ValidUtf8(FieldKey(f.key, &key_scratch), &scratch));
    out.push_back('=');
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            std::string_view s = ValidUtf8(v, &scratch);
            if (NeedsQuotes(s)) {
              json::AppendQuoted(out, s);
            } else {
              out.append(s);
            }
          } else if constexpr (std::is_same_v<T, int64_t>) {
            absl::StrAppend(&out, v);
          } else if constexpr (std::is_same_v<T, double>) {
            AppendDouble(out, v);
          } else {
            out += v ? "true" : "false";
          }
        },
        f.value);
  }
  return out;
}

}  // namespace bursar::runtime
