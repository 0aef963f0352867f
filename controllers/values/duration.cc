#include "controllers/values/duration.h"

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/int128.h"
#include "controllers/values/strings.h"

namespace bursar::values {
namespace {

// Fraction digits beyond this add less than a nanosecond even for hours; Go drops them too.
constexpr int kMaxFractionDigits = 24;
constexpr Int128 kMaxNanos = std::numeric_limits<int64_t>::max();

absl::Status ParseError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("duration \"", AbslView(text), "\": ", AbslView(why)));
}

// Nanoseconds per unit, or 0 for an unknown unit. Both micro signs are accepted, as in Go:
// U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU.
int64_t UnitNanos(std::string_view unit) {
  struct Entry {
    std::string_view name;
    int64_t nanos;
  };
  static constexpr Entry kUnits[] = {
      {"ns", 1},         {"us", 1'000},        {"\xc2\xb5s", 1'000},  {"\xce\xbcs", 1'000},
      {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000},
  };
  for (const Entry& e : kUnits) {
    if (e.name == unit) {
      return e.nanos;
    }
  }
  return 0;
}

// "1.50" style: the integral part of value/per, then its fraction without trailing zeros.
std::string WithFraction(int64_t value, int64_t per) {
  std::string out = absl::StrCat(value / per);
  int64_t rest = value % per;
  if (rest == 0) {
    return out;
  }
  std::string digits;
  for (int64_t p = per / 10; p > 0; p /= 10) {
    digits.push_back(static_cast<char>('0' + rest / p % 10));
  }
  while (!digits.empty() && digits.back() == '0') {
    digits.pop_back();
  }
  return absl::StrCat(out, ".", digits);
}

}  // namespace

absl::StatusOr<absl::Duration> ParseDuration(std::string_view text) {
  std::string_view s = text;
  if (!s.empty() && s[0] == '-') {
    return ParseError(text, "negative durations are not allowed");
  }
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
  }
  if (s == "0") {
    return absl::ZeroDuration();
  }
  if (s.empty()) {
    return ParseError(text, "empty (want e.g. 90s, 1h30m or 500ms)");
  }
  Int128 total = 0;
  while (!s.empty()) {
    // One component: [0-9]*(\.[0-9]*)?unit, with at least one digit.
    Int128 whole = 0;
    size_t pos = 0;
    for (; pos < s.size() && IsDigit(s[pos]); ++pos) {
      whole = whole * 10 + (s[pos] - '0');
      if (whole > kMaxNanos) {
        return ParseError(text, "out of range");
      }
    }
    bool has_digits = pos > 0;
    Int128 fraction = 0;
    Int128 scale = 1;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      int used = 0;
      for (; pos < s.size() && IsDigit(s[pos]); ++pos) {
        has_digits = true;
        if (used < kMaxFractionDigits) {
          fraction = fraction * 10 + (s[pos] - '0');
          scale *= 10;
          ++used;
        }
      }
    }
    if (!has_digits) {
      return ParseError(text, "expected a number (want e.g. 90s, 1h30m or 500ms)");
    }
    const size_t unit_start = pos;
    while (pos < s.size() && !IsDigit(s[pos]) && s[pos] != '.') {
      ++pos;
    }
    const std::string_view unit = s.substr(unit_start, pos - unit_start);
    if (unit.empty()) {
      return ParseError(text, "missing unit (one of ns, us, ms, s, m, h)");
    }
    const int64_t unit_nanos = UnitNanos(unit);
    if (unit_nanos == 0) {
      return ParseError(
          text, absl::StrCat("unknown unit \"", AbslView(unit), "\" (one of ns, us, ms, s, m, h)"));
    }
    // whole <= 2^63 and unit_nanos < 2^42, so the product fits; the fraction is truncated to
    // whole nanoseconds as Go does.
    total += whole * unit_nanos + fraction * unit_nanos / scale;
    if (total > kMaxNanos) {
      return ParseError(text, "out of range");
    }
    s.remove_prefix(pos);
  }
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

std::string FormatDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) {
    return "0s";
  }
  if (d == absl::InfiniteDuration()) {
    return "inf";
  }
  if (d == -absl::InfiniteDuration()) {
    return "-inf";
  }
  std::string out = d < absl::ZeroDuration() ? "-" : "";
  d = absl::AbsDuration(d);
  if (d < absl::Seconds(1)) {
    // Go's choice for short durations: the largest unit below a second that keeps a digit
    // before the point.
    const int64_t ns = absl::ToInt64Nanoseconds(d);
    if (ns < 1'000) {
      return absl::StrCat(out, ns, "ns");
    }
    if (ns < 1'000'000) {
      return absl::StrCat(out, WithFraction(ns, 1'000), "\xc2\xb5s");
    }
    return absl::StrCat(out, WithFraction(ns, 1'000'000), "ms");
  }
  absl::Duration rest;
  const int64_t hours = absl::IDivDuration(d, absl::Hours(1), &rest);
  const int64_t minutes = absl::IDivDuration(rest, absl::Minutes(1), &rest);
  const int64_t ns = absl::ToInt64Nanoseconds(rest);
  if (hours != 0) {
    absl::StrAppend(&out, hours, "h");
  }
  if (minutes != 0) {
    absl::StrAppend(&out, minutes, "m");
  }
  if (ns != 0) {
    absl::StrAppend(&out, WithFraction(ns, 1'000'000'000), "s");
  }
  return out;
}

}  // namespace bursar::values
