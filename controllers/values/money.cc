#include "controllers/values/money.h"

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

constexpr int kMaxFractionDigits = 6;

absl::Status ParseError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("\"", AbslView(text), "\": ", AbslView(why)));
}

int64_t Saturate(Int128 v) {
  if (v > std::numeric_limits<int64_t>::max()) {
    return std::numeric_limits<int64_t>::max();
  }
  if (v < std::numeric_limits<int64_t>::min()) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(v);
}

}  // namespace

absl::StatusOr<Money> Money::Parse(std::string_view text) {
  if (text.empty()) {
    return ParseError(text, "empty amount");
  }
  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') {
    negative = text[pos] == '-';
    ++pos;
  }
  // Accumulated in 128 bits so that the range check below sees the true value: 19 integer
  // digits plus 6 fractional ones fit easily, longer inputs are rejected as they grow.
  Int128 micros = 0;
  const Int128 limit = static_cast<Int128>(std::numeric_limits<int64_t>::max()) + 1;
  size_t integer_digits = 0;
  for (; pos < text.size() && IsDigit(text[pos]); ++pos, ++integer_digits) {
    micros = micros * 10 + (text[pos] - '0');
    if (micros > limit) {
      return ParseError(text, "out of range");
    }
  }
  if (integer_digits == 0) {
    return ParseError(text, "not a plain decimal number (want digits such as 12 or 12.50)");
  }
  int fraction_digits = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    for (; pos < text.size() && IsDigit(text[pos]); ++pos) {
      if (++fraction_digits > kMaxFractionDigits) {
        // Keep scanning so that a malformed tail is reported as such, not as precision.
        continue;
      }
      micros = micros * 10 + (text[pos] - '0');
    }
    if (fraction_digits == 0) {
      return ParseError(text, "no digits after the decimal point");
    }
  }
  if (pos != text.size()) {
    return ParseError(text, "not a plain decimal number (want digits such as 12 or 12.50)");
  }
  if (fraction_digits > kMaxFractionDigits) {
    return ParseError(text, "more than 6 fractional digits");
  }
  for (int i = fraction_digits; i < kMaxFractionDigits; ++i) {
    micros *= 10;
  }
  if (negative) {
    micros = -micros;
  }
  if (micros > std::numeric_limits<int64_t>::max() ||
      micros < std::numeric_limits<int64_t>::min()) {
    return ParseError(text, "out of range");
  }
  return Money(static_cast<int64_t>(micros));
}

std::string Money::ToString() const {
  // Unsigned magnitude so that the most negative amount prints without overflow.
  const uint64_t magnitude =
      micros_ < 0 ? 0 - static_cast<uint64_t>(micros_) : static_cast<uint64_t>(micros_);
  const uint64_t units = magnitude / kMicrosPerUnit;
  uint64_t fraction = magnitude % kMicrosPerUnit;
  char digits[kMaxFractionDigits];
  for (int i = kMaxFractionDigits - 1; i >= 0; --i) {
    digits[i] = static_cast<char>('0' + fraction % 10);
    fraction /= 10;
  }
  int keep = kMaxFractionDigits;
  while (keep > 2 && digits[keep - 1] == '0') {
    --keep;
  }
  return absl::StrCat(micros_ < 0 ? "-" : "", units, ".",
                      absl::string_view(digits, static_cast<size_t>(keep)));
}

Money Money::MulDiv(int64_t numerator, int64_t denominator, Rounding rounding) const {
  Int128 product = static_cast<Int128>(micros_) * numerator;
  Int128 divisor = denominator;
  if (divisor < 0) {
    // Not part of the contract, but cheap to make well-defined.
    product = -product;
    divisor = -divisor;
  }
  if (divisor == 0) {
    if (product == 0) {
      return Money();
    }
    return Money(product > 0 ? std::numeric_limits<int64_t>::max()
                             : std::numeric_limits<int64_t>::min());
  }
  // |product| <= 2^126, so neither the quotient nor twice the remainder can overflow.
  Int128 quotient = product / divisor;
  const Int128 remainder = product % divisor;
  if (remainder != 0) {
    const Int128 away = product < 0 ? -1 : 1;
    const Int128 twice = (remainder < 0 ? -remainder : remainder) * 2;
    switch (rounding) {
      case Rounding::kDown:
        break;
      case Rounding::kUp:
        quotient += away;
        break;
      case Rounding::kHalfEven:
        if (twice > divisor || (twice == divisor && quotient % 2 != 0)) {
          quotient += away;
        }
        break;
    }
  }
  return Money(Saturate(quotient));
}

}  // namespace bursar::values
