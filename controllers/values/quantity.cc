#include "controllers/values/quantity.h"

#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::values {
namespace {

constexpr Int128 kNanosPerUnit = 1'000'000'000;
constexpr Int128 kNanosPerMilli = 1'000'000;
constexpr Int128 kMaxNanos = static_cast<Int128>(~UInt128{0} >> 1);
// apimachinery silently caps a parsed BinarySI magnitude at 2^63-1 units ("9Ei" -> 2^63-1).
constexpr UInt128 kBinarySICapNanos =
    static_cast<UInt128>(std::numeric_limits<int64_t>::max()) * kNanosPerUnit;
// Exponents beyond this only ever mean "out of range" or "rounds up to 1n"; clamping keeps the
// arithmetic below in int64 whatever the input says.
constexpr int64_t kExponentClamp = 1'000'000;

absl::Status ParseError(std::string_view text, std::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("quantity \"", AbslView(text), "\": ", AbslView(why)));
}

struct Suffix {
  int64_t exp10 = 0;
  int exp2 = 0;
  Quantity::Format format = Quantity::Format::kDecimalSI;
};

std::optional<Suffix> InterpretSuffix(std::string_view s) {
  using Format = Quantity::Format;
  struct Entry {
    std::string_view text;
    Suffix suffix;
  };
  static constexpr Entry kTable[] = {
      {"", {0, 0, Format::kDecimalSI}},   {"n", {-9, 0, Format::kDecimalSI}},
      {"u", {-6, 0, Format::kDecimalSI}}, {"m", {-3, 0, Format::kDecimalSI}},
      {"k", {3, 0, Format::kDecimalSI}},  {"M", {6, 0, Format::kDecimalSI}},
      {"G", {9, 0, Format::kDecimalSI}},  {"T", {12, 0, Format::kDecimalSI}},
      {"P", {15, 0, Format::kDecimalSI}}, {"E", {18, 0, Format::kDecimalSI}},
      {"Ki", {0, 10, Format::kBinarySI}}, {"Mi", {0, 20, Format::kBinarySI}},
      {"Gi", {0, 30, Format::kBinarySI}}, {"Ti", {0, 40, Format::kBinarySI}},
      {"Pi", {0, 50, Format::kBinarySI}}, {"Ei", {0, 60, Format::kBinarySI}},
  };
  for (const Entry& e : kTable) {
    if (e.text == s) {
      return e.suffix;
    }
  }
  // "e3", "E-3", "e+6": a signed decimal exponent.
  if (s.size() < 2 || (s[0] != 'e' && s[0] != 'E')) {
    return std::nullopt;
  }
  size_t pos = 1;
  bool negative = false;
  if (s[pos] == '+' || s[pos] == '-') {
    negative = s[pos] == '-';
    ++pos;
  }
  if (pos == s.size()) {
    return std::nullopt;
  }
  int64_t exponent = 0;
  for (; pos < s.size(); ++pos) {
    if (!IsDigit(s[pos])) {
      return std::nullopt;
    }
    if (exponent < kExponentClamp) {
      exponent = exponent * 10 + (s[pos] - '0');
    }
  }
  if (exponent > kExponentClamp) {
    exponent = kExponentClamp;
  }
  return Suffix{negative ? -exponent : exponent, 0, Format::kDecimalExponent};
}

// A little-endian arbitrary-precision unsigned integer: only what the slow parse path needs.
class BigUnsigned {
 public:
  void MulAdd(uint32_t mul, uint32_t add) {
    uint64_t carry = add;
    for (uint32_t& limb : limbs_) {
      const uint64_t v = static_cast<uint64_t>(limb) * mul + carry;
      limb = static_cast<uint32_t>(v);
      carry = v >> 32;
    }
    if (carry != 0) {
      limbs_.push_back(static_cast<uint32_t>(carry));
    }
  }
  // Divides in place and returns the remainder.
  uint32_t DivMod(uint32_t divisor) {
    uint64_t rem = 0;
    for (size_t i = limbs_.size(); i-- > 0;) {
      const uint64_t cur = (rem << 32) | limbs_[i];
      limbs_[i] = static_cast<uint32_t>(cur / divisor);
      rem = cur % divisor;
    }
    while (!limbs_.empty() && limbs_.back() == 0) {
      limbs_.pop_back();
    }
    return static_cast<uint32_t>(rem);
  }
  bool IsZero() const { return limbs_.empty(); }
  bool FitsIn128() const { return limbs_.size() <= 4; }
  UInt128 To128() const {
    UInt128 v = 0;
    for (size_t i = limbs_.size(); i-- > 0;) {
      v = (v << 32) | limbs_[i];
    }
    return v;
  }

 private:
  std::vector<uint32_t> limbs_;
};

// The digits of a number without sign, point or suffix: integer part then fraction part.
struct Digits {
  std::string_view integer;
  std::string_view fraction;

  template <typename F>
  void ForEach(F f) const {
    for (char c : integer) {
      f(c);
    }
    for (char c : fraction) {
      f(c);
    }
  }
};

// |value| = D * 2^exp2 * 10^exp10, with D the digit string. Returns the magnitude in nanos,
// rounded up when finer than 1n, or nullopt when it does not fit in 128 bits.
std::optional<UInt128> SlowMagnitudeInNanos(const Digits& digits, int exp2, int64_t nano_exp10) {
  BigUnsigned v;
  digits.ForEach([&v](char c) { v.MulAdd(10, static_cast<uint32_t>(c - '0')); });
  for (int i = 0; i < exp2; i += 10) {
    v.MulAdd(1024, 0);
  }
  if (nano_exp10 >= 0) {
    for (int64_t i = 0; i < nano_exp10 && v.FitsIn128(); ++i) {
      v.MulAdd(10, 0);
    }
  } else {
    bool inexact = false;
    for (int64_t i = -nano_exp10; i > 0 && !v.IsZero(); i -= 9) {
      uint32_t divisor = 1;
      for (int64_t k = 0; k < i && k < 9; ++k) {
        divisor *= 10;
      }
      inexact |= v.DivMod(divisor) != 0;
    }
    if (inexact) {
      v.MulAdd(1, 1);
    }
  }
  if (!v.FitsIn128()) {
    return std::nullopt;
  }
  return v.To128();
}

std::optional<UInt128> MagnitudeInNanos(const Digits& digits, int exp2, int64_t exp10) {
  const int64_t nano_exp10 = exp10 + 9;
  // Fast path: the digits and the binary multiplier fit in 128 bits.
  UInt128 v = 0;
  bool fits = true;
  digits.ForEach([&](char c) {
    if (fits && (__builtin_mul_overflow(v, UInt128{10}, &v) ||
                 __builtin_add_overflow(v, static_cast<UInt128>(c - '0'), &v))) {
      fits = false;
    }
  });
  if (fits && exp2 > 0) {
    fits = (v >> (128 - exp2)) == 0;
    v <<= exp2;
  }
  if (!fits) {
    return SlowMagnitudeInNanos(digits, exp2, nano_exp10);
  }
  if (v == 0) {
    return 0;
  }
  if (nano_exp10 >= 0) {
    for (int64_t i = 0; i < nano_exp10; ++i) {
      if (__builtin_mul_overflow(v, UInt128{10}, &v)) {
        return std::nullopt;
      }
    }
    return v;
  }
  if (nano_exp10 < -38) {
    // v < 2^128 < 10^39: any non-zero value is below 1n and rounds up to it.
    return v == 0 ? 0 : 1;
  }
  UInt128 divisor = 1;
  for (int64_t i = 0; i < -nano_exp10; ++i) {
    divisor *= 10;
  }
  return v / divisor + (v % divisor != 0 ? 1 : 0);
}

std::string U128ToString(UInt128 v) {
  if (v <= std::numeric_limits<uint64_t>::max()) {
    return absl::StrCat(static_cast<uint64_t>(v));  // the common case, without 128-bit division
  }
  char buf[40];
  size_t pos = sizeof(buf);
  do {
    buf[--pos] = static_cast<char>('0' + static_cast<int>(v % 10));
    v /= 10;
  } while (v != 0);
  return std::string(buf + pos, sizeof(buf) - pos);
}

// Moves every factor of ten of `mantissa` into `exponent`, then steps the exponent down to a
// multiple of three: the largest decimal suffix that keeps the mantissa integral. The result
// never exceeds the input, so it cannot overflow.
template <typename Unsigned>
void NormalizeDecimal(Unsigned& mantissa, int& exponent) {
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exponent;
  }
  while (exponent % 3 != 0) {
    mantissa *= 10;
    --exponent;
  }
}

UInt128 Magnitude(Int128 v) {
  return v < 0 ? -static_cast<UInt128>(v) : static_cast<UInt128>(v);
}

Int128 SaturatingAdd(Int128 a, Int128 b) {
  Int128 sum;
  if (__builtin_add_overflow(a, b, &sum) || sum > kMaxNanos || sum < -kMaxNanos) {
    return (b > 0) ? kMaxNanos : -kMaxNanos;
  }
  return sum;
}

// Divides nanos by `per` rounding away from zero, as apimachinery's ScaledValue does for the
// common (int64) representation, and saturates at the int64 range.
int64_t ScaledAwayFromZero(Int128 nanos, Int128 per) {
  Int128 q = nanos / per;
  if (nanos % per != 0) {
    q += nanos < 0 ? -1 : 1;
  }
  if (q > std::numeric_limits<int64_t>::max()) {
    return std::numeric_limits<int64_t>::max();
  }
  if (q < std::numeric_limits<int64_t>::min()) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(q);
}

}  // namespace

Quantity Quantity::FromMilli(int64_t milli, Format format) {
  return Quantity(static_cast<Int128>(milli) * kNanosPerMilli, format);
}

Quantity Quantity::FromUnits(int64_t units, Format format) {
  return Quantity(static_cast<Int128>(units) * kNanosPerUnit, format);
}

absl::StatusOr<Quantity> Quantity::Parse(std::string_view text) {
  if (text.empty()) {
    return ParseError(text, "empty");
  }
  size_t pos = 0;
  bool negative = false;
  if (text[pos] == '+' || text[pos] == '-') {
    negative = text[pos] == '-';
    ++pos;
  }
  const size_t integer_start = pos;
  while (pos < text.size() && IsDigit(text[pos])) {
    ++pos;
  }
  Digits digits{text.substr(integer_start, pos - integer_start), {}};
  if (pos < text.size() && text[pos] == '.') {
    const size_t fraction_start = ++pos;
    while (pos < text.size() && IsDigit(text[pos])) {
      ++pos;
    }
    digits.fraction = text.substr(fraction_start, pos - fraction_start);
  }
  if (digits.integer.empty() && digits.fraction.empty()) {
    return ParseError(text, "no digits (quantities look like 500m, 2Gi, 1.5 or 1e3)");
  }
  const std::string_view suffix_text = text.substr(pos);
  const std::optional<Suffix> suffix = InterpretSuffix(suffix_text);
  if (!suffix) {
    return ParseError(text, absl::StrCat("invalid suffix \"", AbslView(suffix_text),
                                         "\" (want n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an "
                                         "exponent such as e3)"));
  }

  Format format = suffix->format;
  const int64_t exp10 = suffix->exp10 - static_cast<int64_t>(digits.fraction.size());
  std::optional<UInt128> magnitude = MagnitudeInNanos(digits, suffix->exp2, exp10);
  if (format == Format::kBinarySI && (!magnitude || *magnitude > kBinarySICapNanos)) {
    magnitude = kBinarySICapNanos;
  }
  if (!magnitude || *magnitude > static_cast<UInt128>(kMaxNanos)) {
    return ParseError(text, "out of range (the magnitude must stay below 1.7e29)");
  }
  if (format == Format::kBinarySI && *magnitude != 0 &&
      *magnitude < static_cast<UInt128>(kNanosPerUnit)) {
    // apimachinery: a binary quantity below one unit is shown in decimal to avoid rounding.
    format = Format::kDecimalSI;
  }
  const Int128 nanos = static_cast<Int128>(*magnitude);
  return Quantity(negative ? -nanos : nanos, format);
}

std::string Quantity::ToString() const {
  if (nanos_ == 0) {
    return "0";
  }
  const char* sign = nanos_ < 0 ? "-" : "";
  UInt128 mantissa = Magnitude(nanos_);
  const UInt128 nanos_per_unit = kNanosPerUnit;

  Format format = format_;
  if (format == Format::kBinarySI) {
    // Below 1Ki, or with a fraction of a unit, binary suffixes would round: show decimal.
    if (mantissa < 1024 * nanos_per_unit || mantissa % nanos_per_unit != 0) {
      format = Format::kDecimalSI;
    } else {
      static constexpr const char* kBinarySuffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
      UInt128 units = mantissa / nanos_per_unit;
      size_t power = 0;
      while (power + 1 < std::size(kBinarySuffixes) && units % 1024 == 0) {
        units /= 1024;
        ++power;
      }
      return absl::StrCat(sign, U128ToString(units), kBinarySuffixes[power]);
    }
  }

  int exponent = -9;
  if (mantissa <= std::numeric_limits<uint64_t>::max()) {
    uint64_t narrow = static_cast<uint64_t>(mantissa);  // 64-bit division is much cheaper
    NormalizeDecimal(narrow, exponent);
    mantissa = narrow;
  } else {
    NormalizeDecimal(mantissa, exponent);
  }
  static constexpr const char* kDecimalSuffixes[] = {"n", "u", "m", "",  "k",
                                                     "M", "G", "T", "P", "E"};
  std::string suffix;
  if (format == Format::kDecimalSI && exponent <= 18) {
    suffix = kDecimalSuffixes[(exponent + 9) / 3];
  } else if (exponent != 0) {
    // DecimalExponent, or DecimalSI beyond "E": apimachinery falls back to "e<exp>" too.
    suffix = absl::StrCat("e", exponent);
  }
  return absl::StrCat(sign, U128ToString(mantissa), suffix);
}

int64_t Quantity::Value() const {
  return ScaledAwayFromZero(nanos_, kNanosPerUnit);
}

int64_t Quantity::MilliValue() const {
  return ScaledAwayFromZero(nanos_, kNanosPerMilli);
}

double Quantity::ToDouble() const {
  // Split so that the integral part keeps its precision independently of the fraction.
  const Int128 units = nanos_ / kNanosPerUnit;
  const Int128 rest = nanos_ % kNanosPerUnit;
  return static_cast<double>(units) +
         static_cast<double>(rest) / static_cast<double>(kNanosPerUnit);
}

Quantity Quantity::operator+(const Quantity& o) const {
  // As apimachinery's Add: a zero receiver takes the other operand's format.
  return Quantity(SaturatingAdd(nanos_, o.nanos_), nanos_ == 0 ? o.format_ : format_);
}

Quantity Quantity::operator-(const Quantity& o) const {
  return Quantity(SaturatingAdd(nanos_, -o.nanos_), nanos_ == 0 ? o.format_ : format_);
}

}  // namespace bursar::values
