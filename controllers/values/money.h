#pragma once

// Money is a fixed-point amount in integer micro-units (1e-6 of the currency unit).
// The ledger never holds binary floating point: a month of 100k pods summed in micros is exact,
// and int64 micros reach ±9.2e12 currency units, far beyond any compute budget.
// Pitfall: multiplication by a rate and a duration rounds once, at the end (MulDiv), never per
// step; callers that need idempotent sums must round per ledger interval, not per tick.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace bursar::values {

// kHalfEven: to nearest, ties to even (banker's rounding). kDown: toward zero (truncate).
// kUp: away from zero. Negative amounts round symmetrically to positive ones.
enum class Rounding { kHalfEven, kDown, kUp };

class Money {
 public:
  static constexpr int64_t kMicrosPerUnit = 1'000'000;

  constexpr Money() = default;
  static constexpr Money FromMicros(int64_t micros) { return Money(micros); }
  static constexpr Money FromUnits(int64_t units) { return Money(units * kMicrosPerUnit); }

  // Parses a plain decimal string: "5000", "12.5", "0.000001", "-3.25". At most 6 fractional
  // digits; no exponent, no thousands separators, no currency sign. Errors say why.
  static absl::StatusOr<Money> Parse(std::string_view text);

  // Canonical decimal text with at least two and at most six fractional digits, trailing zeros
  // beyond the second trimmed: 5000 -> "5000.00", 0.1234 -> "0.1234", -1.5 -> "-1.50".
  std::string ToString() const;

  constexpr int64_t micros() const { return micros_; }
  double ToDouble() const { return static_cast<double>(micros_) / kMicrosPerUnit; }
  constexpr bool IsZero() const { return micros_ == 0; }
  constexpr bool IsNegative() const { return micros_ < 0; }

  // this * numerator / denominator with a 128-bit intermediate and one rounding step.
  // Saturates at the int64 range instead of overflowing. denominator must be > 0.
  Money MulDiv(int64_t numerator, int64_t denominator,
               Rounding rounding = Rounding::kHalfEven) const;

  constexpr Money operator+(Money o) const { return Money(micros_ + o.micros_); }
  constexpr Money operator-(Money o) const { return Money(micros_ - o.micros_); }
  constexpr Money operator-() const { return Money(-micros_); }
  constexpr Money& operator+=(Money o) {
    micros_ += o.micros_;
    return *this;
  }
  constexpr Money& operator-=(Money o) {
    micros_ -= o.micros_;
    return *this;
  }
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 misreads a defaulted <=>.
  constexpr auto operator<=>(const Money&) const = default;

 private:
  constexpr explicit Money(int64_t micros) : micros_(micros) {}
  int64_t micros_ = 0;
};

constexpr Money Max(Money a, Money b) {
  return a < b ? b : a;
}
constexpr Money Min(Money a, Money b) {
  return a < b ? a : b;
}

}  // namespace bursar::values
