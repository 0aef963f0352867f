#pragma once

// Budget periods: the calendar that says which [start, end) window an instant belongs to.
// Hourly/Daily/Weekly/Monthly boundaries are local civil times in an IANA time zone, so a Daily
// budget in Europe/Berlin has a 23-hour day in March and a 25-hour day in October. A boundary
// that falls in a DST gap moves to the first instant after the gap; one in a repeated hour uses
// the earlier occurrence. Custom periods are fixed durations counted from an anchor instant.
// Pure: the current time is always passed in.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"

namespace bursar::values {

enum class PeriodType { kHourly, kDaily, kWeekly, kMonthly, kCustom };

struct PeriodSpec {
  PeriodType type = PeriodType::kMonthly;
  std::string time_zone = "UTC";
  // Weekly: ISO weekday 1 (Monday) .. 7 (Sunday). Monthly: day of month 1..28. Else ignored.
  int start_day = 1;
  // Custom only: the period length (> 0) and the start of period 0.
  absl::Duration duration = absl::ZeroDuration();
  absl::Time anchor = absl::UnixEpoch();
};

struct Period {
  absl::Time start;
  absl::Time end;  // exclusive

  absl::Duration length() const { return end - start; }
  bool Contains(absl::Time t) const { return start <= t && t < end; }
  // Fraction of the period elapsed at t, clamped to [0, 1].
  double ElapsedFraction(absl::Time t) const;
  bool operator==(const Period&) const = default;
};

// The shortest Custom period: shorter ones cannot be metered meaningfully (the operator's tick
// is 15 s) and, unbounded, would let one budget's spec drive any amount of work.
inline constexpr absl::Duration kMinCustomPeriod = absl::Seconds(30);

// A validated PeriodSpec with its time zone loaded. Cheap to copy; thread-compatible.
class PeriodCalendar {
 public:
  // Fails with InvalidArgument naming the field: unknown time zone, start_day out of range,
  // Custom shorter than kMinCustomPeriod.
  static absl::StatusOr<PeriodCalendar> Create(const PeriodSpec& spec);

  Period Containing(absl::Time t) const;
  Period Next(const Period& p) const { return Containing(p.end); }
  const PeriodSpec& spec() const { return spec_; }

 private:
  PeriodCalendar(PeriodSpec spec, absl::TimeZone zone) : spec_(std::move(spec)), zone_(zone) {}
  PeriodSpec spec_;
  absl::TimeZone zone_;
};

const char* PeriodTypeName(PeriodType type);
absl::StatusOr<PeriodType> ParsePeriodType(std::string_view name);

}  // namespace bursar::values
