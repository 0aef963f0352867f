#pragma once

// PackedTime: an instant that may be unset, in 8 bytes, read like std::optional<absl::Time>
// (which takes 24: absl::Time is 16 with its padding, plus the flag and padding). The pod cache
// holds three per pod (start, end, deletion), 100,000 pods and more. Kept as nanoseconds since
// the Unix epoch: years 1678 to 2262 exactly; an instant outside them (or infinite) is clamped
// to the nearest end of that range. Kubernetes timestamps are whole seconds (RFC 3339), so every
// instant the API server writes is held exactly.

#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>

#include "absl/time/time.h"

namespace bursar::values {

class PackedTime {
 public:
  PackedTime() = default;
  PackedTime(std::nullopt_t) {}                  // NOLINT: as std::optional
  PackedTime(absl::Time t) : nanos_(Pack(t)) {}  // NOLINT: as std::optional
  PackedTime(std::optional<absl::Time> t) : nanos_(t.has_value() ? Pack(*t) : kUnset) {}  // NOLINT

  bool has_value() const { return nanos_ != kUnset; }
  explicit operator bool() const { return has_value(); }
  // The instant; undefined when unset, as std::optional's operator*.
  absl::Time operator*() const { return absl::FromUnixNanos(nanos_); }
  absl::Time value() const {
    if (!has_value()) {
      throw std::bad_optional_access();
    }
    return **this;
  }
  void reset() { nanos_ = kUnset; }
  absl::Time value_or(absl::Time otherwise) const { return has_value() ? **this : otherwise; }
  operator std::optional<absl::Time>() const {  // NOLINT: as std::optional
    return has_value() ? std::optional<absl::Time>(**this) : std::nullopt;
  }

  friend bool operator==(PackedTime a, PackedTime b) = default;
  friend bool operator==(PackedTime a, std::nullopt_t) { return !a.has_value(); }

 private:
  static constexpr int64_t kUnset = std::numeric_limits<int64_t>::min();
  static int64_t Pack(absl::Time t) {
    static const absl::Time kFirst = absl::FromUnixNanos(kUnset + 1);
    static const absl::Time kLast = absl::FromUnixNanos(std::numeric_limits<int64_t>::max());
    if (t <= kFirst) {
      return kUnset + 1;
    }
    if (t >= kLast) {
      return std::numeric_limits<int64_t>::max();
    }
    return absl::ToUnixNanos(t);
  }

  int64_t nanos_ = kUnset;
};

}  // namespace bursar::values
