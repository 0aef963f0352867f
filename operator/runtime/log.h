#pragma once

// Structured logs: one record per line, as JSON (for log collectors) or as text (for people).
//
//   logger.Info("budget paced", {{"budget", name}, {"spent", 12.5}, {"held", int64_t{3}}});
//   json: {"ts":"2026-11-27T10:00:00.123Z","level":"info","msg":"budget
//   paced","budget":"vision",...} text: 2026-11-27T10:00:00.123Z INFO  budget paced budget=vision
//   spent=12.5 held=3
//
// Fields follow ts, level and msg in call order. A field named ts, level or msg is written as
// "field.ts" (and so on) instead of colliding with the record's own keys. Every string is
// valid UTF-8 in the output (invalid bytes become U+FFFD) and a record never spans two lines:
// JSON escapes control characters, text escapes them too and quotes values that contain spaces,
// '=' or quotes. Doubles are printed shortest round-trip; NaN and infinities as the strings
// "NaN", "+Inf" and "-Inf" (JSON has no literal for them).
//
// Timestamps come from the injected Clock's wall time (UTC, milliseconds), so tests with a
// SimulatedClock compare exact lines. Pitfall: the sink runs with the logger's lock held, one
// line at a time; it must not log through the same logger.
// Thread-safe: Log() and SetLevel() may be called from any thread.

#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "operator/runtime/clock.h"

namespace bursar::runtime {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// "debug", "info", "warn" or "error".
absl::StatusOr<LogLevel> ParseLogLevel(std::string_view text);
std::string_view LogLevelName(LogLevel level);

enum class LogFormat { kJson, kText };

// "json" or "text".
absl::StatusOr<LogFormat> ParseLogFormat(std::string_view text);
std::string_view LogFormatName(LogFormat format);

// One key=value of a record. The constructors are implicit so that call sites read
// {"budget", name}; every integer type becomes int64_t (unsigned values above INT64_MAX wrap,
// so do not log such values as integers) and float becomes double.
struct LogField {
  using Value = std::variant<std::string, int64_t, double, bool>;

  LogField(std::string k, const char* v) : key(std::move(k)), value(std::string(v)) {}
  LogField(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  LogField(std::string k, std::string_view v) : key(std::move(k)), value(std::string(v)) {}
  template <std::integral T>
  requires(!std::same_as<T, bool>) LogField(std::string k, T v)
      : key(std::move(k)), value(static_cast<int64_t>(v)) {}
  LogField(std::string k, double v) : key(std::move(k)), value(v) {}
  LogField(std::string k, bool v) : key(std::move(k)), value(v) {}

  std::string key;
  Value value;
};

class Logger {
 public:
  // Receives one finished record, without the trailing newline.
  using Sink = std::function<void(std::string_view line)>;

  // An empty `sink` writes to stderr (StderrSink). `clock` must outlive the logger.
  explicit Logger(const Clock& clock, LogLevel level = LogLevel::kInfo,
                  LogFormat format = LogFormat::kJson, Sink sink = nullptr);

  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  // Writes the line and a newline to stderr in one write(2) call, so that lines from several
  // loggers (or processes sharing the descriptor) do not interleave mid-line.
  static void StderrSink(std::string_view line);

  void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});
  void Log(LogLevel level, std::string_view message, const std::vector<LogField>& fields);

  void Debug(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kDebug, message, fields);
  }
  void Info(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kInfo, message, fields);
  }
  void Warn(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kWarn, message, fields);
  }
  void Error(std::string_view message, std::initializer_list<LogField> fields = {}) {
    Log(LogLevel::kError, message, fields);
  }

  // True when records at `level` are written: check it before building expensive fields.
  bool Enabled(LogLevel level) const { return level >= level_.load(std::memory_order_relaxed); }
  void SetLevel(LogLevel level) { level_.store(level, std::memory_order_relaxed); }
  LogFormat format() const { return format_; }

  // The record as it would be written (no newline), whatever the level; for tests and sinks
  // that wrap records.
  std::string Format(LogLevel level, std::string_view message,
                     std::span<const LogField> fields) const;

 private:
  void Write(LogLevel level, std::string_view message, std::span<const LogField> fields);

  const Clock& clock_;
  const LogFormat format_;
  std::atomic<LogLevel> level_;
  absl::Mutex mu_;
  Sink sink_ ABSL_GUARDED_BY(mu_);
};

}  // namespace bursar::runtime
