#include "controllers/values/period.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::values {
namespace {

struct TypeName {
  PeriodType type;
  const char* name;
};

constexpr TypeName kTypeNames[] = {
    {PeriodType::kHourly, "Hourly"}, {PeriodType::kDaily, "Daily"},
    {PeriodType::kWeekly, "Weekly"}, {PeriodType::kMonthly, "Monthly"},
    {PeriodType::kCustom, "Custom"},
};

// ISO weekday: Monday = 1 .. Sunday = 7.
int IsoWeekday(absl::CivilDay day) {
  switch (absl::GetWeekday(day)) {
    case absl::Weekday::monday:
      return 1;
    case absl::Weekday::tuesday:
      return 2;
    case absl::Weekday::wednesday:
      return 3;
    case absl::Weekday::thursday:
      return 4;
    case absl::Weekday::friday:
      return 5;
    case absl::Weekday::saturday:
      return 6;
    case absl::Weekday::sunday:
      return 7;
  }
  return 1;
}

// The instant at which local civil time `c` begins. A civil time skipped by a DST gap begins at
// the transition, the first instant after the gap; a repeated one at its earlier occurrence,
// which is the one computed with the pre-transition offset.
absl::Time Boundary(absl::CivilSecond c, const absl::TimeZone& zone) {
  const absl::TimeZone::TimeInfo info = zone.At(c);
  switch (info.kind) {
    case absl::TimeZone::TimeInfo::SKIPPED:
      return info.trans;
    case absl::TimeZone::TimeInfo::REPEATED:
    case absl::TimeZone::TimeInfo::UNIQUE:
      break;
  }
  return info.pre;
}

// The civil start of the calendar unit (hour, day, week or month) that holds `local`, moved by
// `offset` whole units. Neighbouring units share their boundary, so the periods tile.
struct CivilUnit {
  PeriodType type;
  int start_day;

  absl::CivilSecond Start(absl::CivilSecond local, int64_t offset) const {
    switch (type) {
      case PeriodType::kHourly:
        return absl::CivilHour(local) + offset;
      case PeriodType::kDaily:
        return absl::CivilDay(local) + offset;
      case PeriodType::kWeekly: {
        const absl::CivilDay day(local);
        const int back = (IsoWeekday(day) - start_day + 7) % 7;
        return day - back + 7 * offset;
      }
      case PeriodType::kMonthly: {
        absl::CivilMonth month(local);
        if (local.day() < start_day) {
          month -= 1;
        }
        month += offset;
        return absl::CivilDay(month.year(), month.month(), start_day);
      }
      case PeriodType::kCustom:
        break;  // Counted in absolute time, not here.
    }
    return local;
  }
};

}  // namespace

double Period::ElapsedFraction(absl::Time t) const {
  if (end <= start) {
    return t >= end ? 1.0 : 0.0;
  }
  const double fraction = absl::FDivDuration(t - start, end - start);
  return std::clamp(fraction, 0.0, 1.0);
}

absl::StatusOr<PeriodCalendar> PeriodCalendar::Create(const PeriodSpec& spec) {
  absl::TimeZone zone;
  if (spec.time_zone.empty() || !absl::LoadTimeZone(spec.time_zone, &zone)) {
    return absl::InvalidArgumentError(
        absl::StrCat("period.timeZone: unknown time zone \"", spec.time_zone, "\""));
  }
  switch (spec.type) {
    case PeriodType::kWeekly:
      if (spec.start_day < 1 || spec.start_day > 7) {
        return absl::InvalidArgumentError(
            absl::StrCat("period.startDay: must be 1..7 for Weekly (ISO weekday, 1 = Monday), got ",
                         spec.start_day));
      }
      break;
    case PeriodType::kMonthly:
      if (spec.start_day < 1 || spec.start_day > 28) {
        return absl::InvalidArgumentError(absl::StrCat(
            "period.startDay: must be 1..28 for Monthly (every month has that day), got ",
            spec.start_day));
      }
      break;
    case PeriodType::kCustom:
      if (spec.duration < kMinCustomPeriod || spec.duration == absl::InfiniteDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("period.duration: a Custom period must last at least ",
                         absl::FormatDuration(kMinCustomPeriod), " (got ",
                         absl::FormatDuration(spec.duration), ")"));
      }
      break;
    case PeriodType::kHourly:
    case PeriodType::kDaily:
      break;
  }
  return PeriodCalendar(spec, zone);
}

Period PeriodCalendar::Containing(absl::Time t) const {
  if (spec_.type == PeriodType::kCustom) {
    // Floor division, so that instants before the anchor fall in negative periods.
    absl::Duration rest;
    int64_t k = absl::IDivDuration(t - spec_.anchor, spec_.duration, &rest);
    if (rest < absl::ZeroDuration()) {
      --k;
    }
    const absl::Time start = spec_.anchor + k * spec_.duration;
    return Period{start, start + spec_.duration};
  }

  if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) {
    // No civil time to align to; an empty period at t keeps callers' arithmetic finite.
    return Period{t, t};
  }
  const CivilUnit unit{spec_.type, spec_.start_day};
  const absl::CivilSecond local = absl::ToCivilSecond(t, zone_);
  int64_t offset = 0;
  Period p{Boundary(unit.Start(local, 0), zone_), Boundary(unit.Start(local, 1), zone_)};
  // Around a fall-back transition the civil unit of t and the instants of its boundaries can
  // disagree (t in the second occurrence of a repeated hour that straddles a boundary): walk to
  // the unit whose instants really hold t. Units skipped entirely (an empty period) are passed.
  while (t < p.start) {
    --offset;
    p = Period{Boundary(unit.Start(local, offset), zone_), p.start};
  }
  while (t >= p.end) {
    ++offset;
    p = Period{p.end, Boundary(unit.Start(local, offset + 1), zone_)};
  }
  return p;
}

const char* PeriodTypeName(PeriodType type) {
  for (const TypeName& entry : kTypeNames) {
    if (entry.type == type) {
      return entry.name;
    }
  }
  return "Unknown";
}

absl::StatusOr<PeriodType> ParsePeriodType(std::string_view name) {
  for (const TypeName& entry : kTypeNames) {
    if (name == entry.name) {
      return entry.type;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("period.type: unknown period type \"", AbslView(name),
                   "\" (want Hourly, Daily, Weekly, Monthly or Custom)"));
}

}  // namespace bursar::values
