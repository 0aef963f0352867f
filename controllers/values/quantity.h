#pragma once

// A Kubernetes resource.Quantity ("500m", "2Gi", "1.5", "1e3", "8801n"), held exactly as a
// signed 128-bit count of nano-units, which covers every suffix from n to Ei without loss.
// Formatting follows apimachinery's canonical form: the parsed format (DecimalSI, BinarySI or
// DecimalExponent) is kept, and the largest suffix that keeps the value integral is chosen
// ("1000m" -> "1", "1536Mi" stays "1536Mi", "1.5Gi" -> "1536Mi", "0.5" -> "500m").
// Pitfall: like apimachinery, values below 1n are rounded up to 1n when parsed.

#include <compare>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "controllers/values/int128.h"

namespace bursar::values {

class Quantity {
 public:
  enum class Format { kDecimalSI, kBinarySI, kDecimalExponent };

  constexpr Quantity() = default;
  static Quantity FromMilli(int64_t milli, Format format = Format::kDecimalSI);
  static Quantity FromUnits(int64_t units, Format format = Format::kDecimalSI);

  // Parses the full Quantity grammar: sign, digits, optional fraction, and one suffix of
  // n u m k M G T P E | Ki Mi Gi Ti Pi Ei | e<exp> / E<exp>. Errors name the offending text.
  static absl::StatusOr<Quantity> Parse(std::string_view text);

  std::string ToString() const;

  // Rounded up to the next integer unit, as apimachinery's Value() does ("100m" -> 1).
  int64_t Value() const;
  // Rounded up to the next milli-unit, as MilliValue() does ("1n" -> 1).
  int64_t MilliValue() const;
  double ToDouble() const;
  Int128 nanos() const { return nanos_; }
  Format format() const { return format_; }
  bool IsZero() const { return nanos_ == 0; }

  Quantity operator+(const Quantity& o) const;
  Quantity operator-(const Quantity& o) const;
  bool operator==(const Quantity& o) const { return nanos_ == o.nanos_; }
  std::strong_ordering operator<=>(const Quantity& o) const { return nanos_ <=> o.nanos_; }

 private:
  Quantity(Int128 nanos, Format format) : nanos_(nanos), format_(format) {}
  Int128 nanos_ = 0;
  Format format_ = Format::kDecimalSI;
};

}  // namespace bursar::values
