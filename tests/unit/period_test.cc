#include "controllers/values/period.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

// An instant written with its UTC offset, so that each expectation says which side of a DST
// transition it means: T("2024-10-27T02:30:00+02:00") is the first 02:30 in Berlin that day.
absl::Time T(const std::string& rfc3339) {
  absl::Time t;
  std::string err;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &err)) << rfc3339 << ": " << err;
  return t;
}

std::string Show(absl::Time t) {
  return absl::FormatTime(absl::RFC3339_full, t, absl::UTCTimeZone());
}

PeriodSpec Spec(PeriodType type, const std::string& zone, int start_day = 1) {
  PeriodSpec spec;
  spec.type = type;
  spec.time_zone = zone;
  spec.start_day = start_day;
  return spec;
}

PeriodSpec Custom(const std::string& anchor, absl::Duration duration) {
  PeriodSpec spec;
  spec.type = PeriodType::kCustom;
  spec.anchor = T(anchor);
  spec.duration = duration;
  return spec;
}

PeriodCalendar MustCreate(const PeriodSpec& spec) {
  absl::StatusOr<PeriodCalendar> calendar = PeriodCalendar::Create(spec);
  EXPECT_TRUE(calendar.ok()) << calendar.status();
  if (!calendar.ok()) {
    return *PeriodCalendar::Create(PeriodSpec());
  }
  return *calendar;
}

TEST(PeriodCalendarCreate, ValidationNamesTheField) {
  struct Case {
    const char* name;
    PeriodSpec spec;
    const char* message;  // prefix
  };
  const Case cases[] = {
      {"unknown zone", Spec(PeriodType::kDaily, "Mars/Base"),
       "period.timeZone: unknown time zone \"Mars/Base\""},
      {"empty zone", Spec(PeriodType::kDaily, ""), "period.timeZone: unknown time zone \"\""},
      {"weekly 0", Spec(PeriodType::kWeekly, "UTC", 0), "period.startDay: must be 1..7 for Weekly"},
      {"weekly 8", Spec(PeriodType::kWeekly, "UTC", 8), "period.startDay: must be 1..7 for Weekly"},
      {"monthly 0", Spec(PeriodType::kMonthly, "UTC", 0),
       "period.startDay: must be 1..28 for Monthly"},
      {"monthly 29", Spec(PeriodType::kMonthly, "UTC", 29),
       "period.startDay: must be 1..28 for Monthly"},
      {"custom zero", Custom("2024-01-01T00:00:00Z", absl::ZeroDuration()),
       "period.duration: a Custom period must last at least 30s (got 0)"},
      {"custom negative", Custom("2024-01-01T00:00:00Z", -absl::Hours(1)),
       "period.duration: a Custom period must last at least 30s (got -1h)"},
      {"custom one nanosecond", Custom("2024-01-01T00:00:00Z", absl::Nanoseconds(1)),
       "period.duration: a Custom period must last at least 30s (got 1ns)"},
      {"custom just under",
       Custom("2024-01-01T00:00:00Z", absl::Seconds(30) - absl::Nanoseconds(1)),
       "period.duration: a Custom period must last at least 30s"},
      {"custom infinite", Custom("2024-01-01T00:00:00Z", absl::InfiniteDuration()),
       "period.duration: a Custom period must last at least 30s (got inf)"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<PeriodCalendar> calendar = PeriodCalendar::Create(c.spec);
    ASSERT_FALSE(calendar.ok());
    EXPECT_EQ(calendar.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(calendar.status().message().substr(0, std::string(c.message).size()), c.message)
        << calendar.status();
  }
}

TEST(PeriodCalendarCreate, AcceptsValidSpecs) {
  // start_day is ignored where it has no meaning.
  EXPECT_TRUE(PeriodCalendar::Create(Spec(PeriodType::kHourly, "Asia/Kolkata", 99)).ok());
  EXPECT_TRUE(PeriodCalendar::Create(Spec(PeriodType::kDaily, "Europe/Berlin", -1)).ok());
  EXPECT_TRUE(PeriodCalendar::Create(Spec(PeriodType::kWeekly, "UTC", 7)).ok());
  EXPECT_TRUE(PeriodCalendar::Create(Spec(PeriodType::kMonthly, "America/New_York", 28)).ok());
  EXPECT_TRUE(PeriodCalendar::Create(Custom("2024-01-01T00:00:00Z", kMinCustomPeriod)).ok());
  const PeriodSpec spec = Spec(PeriodType::kWeekly, "Europe/Berlin", 3);
  EXPECT_EQ(MustCreate(spec).spec().time_zone, "Europe/Berlin");
  EXPECT_EQ(MustCreate(spec).spec().start_day, 3);
}

TEST(PeriodType, NamesRoundTrip) {
  for (PeriodType type : {PeriodType::kHourly, PeriodType::kDaily, PeriodType::kWeekly,
                          PeriodType::kMonthly, PeriodType::kCustom}) {
    absl::StatusOr<PeriodType> parsed = ParsePeriodType(PeriodTypeName(type));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
  }
  EXPECT_STREQ(PeriodTypeName(PeriodType::kHourly), "Hourly");
  EXPECT_STREQ(PeriodTypeName(PeriodType::kDaily), "Daily");
  EXPECT_STREQ(PeriodTypeName(PeriodType::kWeekly), "Weekly");
  EXPECT_STREQ(PeriodTypeName(PeriodType::kMonthly), "Monthly");
  EXPECT_STREQ(PeriodTypeName(PeriodType::kCustom), "Custom");
  for (const char* bad : {"monthly", "MONTHLY", "", "Yearly", " Daily"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<PeriodType> parsed = ParsePeriodType(bad);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find(std::string("\"") + bad + "\""), std::string::npos);
  }
}

struct ContainingCase {
  const char* name;
  PeriodSpec spec;
  const char* t;
  const char* start;
  const char* end;
  absl::Duration length;
};

TEST(PeriodCalendarContaining, Table) {
  const ContainingCase cases[] = {
      // Hourly.
      {"hourly utc", Spec(PeriodType::kHourly, "UTC"), "2024-05-01T10:17:00Z",
       "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", absl::Hours(1)},
      {"hourly kolkata hours start at :30 UTC", Spec(PeriodType::kHourly, "Asia/Kolkata"),
       "2024-05-01T10:17:00Z", "2024-05-01T09:30:00Z", "2024-05-01T10:30:00Z", absl::Hours(1)},
      {"hourly kolkata at the boundary", Spec(PeriodType::kHourly, "Asia/Kolkata"),
       "2024-05-01T10:30:00Z", "2024-05-01T10:30:00Z", "2024-05-01T11:30:00Z", absl::Hours(1)},
      {"hourly kolkata just before the boundary", Spec(PeriodType::kHourly, "Asia/Kolkata"),
       "2024-05-01T16:59:59.999999999+05:30", "2024-05-01T16:00:00+05:30",
       "2024-05-01T17:00:00+05:30", absl::Hours(1)},
      // Berlin spring forward: 02:00 does not exist; the 01:00 hour ends at 03:00 CEST.
      {"hourly berlin before the gap", Spec(PeriodType::kHourly, "Europe/Berlin"),
       "2024-03-31T01:30:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00",
       absl::Hours(1)},
      {"hourly berlin after the gap", Spec(PeriodType::kHourly, "Europe/Berlin"),
       "2024-03-31T03:00:00+02:00", "2024-03-31T03:00:00+02:00", "2024-03-31T04:00:00+02:00",
       absl::Hours(1)},
      // Berlin fall back: 02:00-03:00 happens twice; the boundary at 02:00 is the earlier one,
      // so the 02:00 period spans both occurrences.
      {"hourly berlin first 02:30", Spec(PeriodType::kHourly, "Europe/Berlin"),
       "2024-10-27T02:30:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T03:00:00+01:00",
       absl::Hours(2)},
      {"hourly berlin second 02:30", Spec(PeriodType::kHourly, "Europe/Berlin"),
       "2024-10-27T02:30:00+01:00", "2024-10-27T02:00:00+02:00", "2024-10-27T03:00:00+01:00",
       absl::Hours(2)},
      {"hourly berlin hour before the repeat", Spec(PeriodType::kHourly, "Europe/Berlin"),
       "2024-10-27T01:59:00+02:00", "2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00",
       absl::Hours(1)},
      // Lord Howe moves by 30 minutes: the 02:00 boundary falls inside the 02:00-02:30 gap and
      // moves to 02:30, the first instant after it.
      {"hourly lord howe gap", Spec(PeriodType::kHourly, "Australia/Lord_Howe"),
       "2024-10-06T02:45:00+11:00", "2024-10-06T02:30:00+11:00", "2024-10-06T03:00:00+11:00",
       absl::Minutes(30)},
      {"hourly lord howe before the gap", Spec(PeriodType::kHourly, "Australia/Lord_Howe"),
       "2024-10-06T01:15:00+10:30", "2024-10-06T01:00:00+10:30", "2024-10-06T02:30:00+11:00",
       absl::Hours(1)},
      // Lord Howe fall back repeats 01:30-02:00: the 01:00 period lasts 90 minutes.
      {"hourly lord howe second 01:45", Spec(PeriodType::kHourly, "Australia/Lord_Howe"),
       "2024-04-07T01:45:00+10:30", "2024-04-07T01:00:00+11:00", "2024-04-07T02:00:00+10:30",
       absl::Minutes(90)},
      // Chatham moves at 02:45: the gap 02:45-03:45 swallows the 03:00 boundary, which moves
      // to 03:45 (the transition), not to 04:00 (03:00 at the old offset).
      {"hourly chatham before the gap", Spec(PeriodType::kHourly, "Pacific/Chatham"),
       "2024-09-29T02:30:00+12:45", "2024-09-29T02:00:00+12:45", "2024-09-29T03:45:00+13:45",
       absl::Minutes(45)},
      {"hourly chatham boundary inside the gap", Spec(PeriodType::kHourly, "Pacific/Chatham"),
       "2024-09-29T03:50:00+13:45", "2024-09-29T03:45:00+13:45", "2024-09-29T04:00:00+13:45",
       absl::Minutes(15)},
      // Chatham repeats 02:45-03:45 in April. The second 02:50 comes after the first 03:00,
      // where the 03:00 period began, so it belongs to that period, not to the 02:00 one.
      {"hourly chatham second 02:50", Spec(PeriodType::kHourly, "Pacific/Chatham"),
       "2024-04-07T02:50:00+12:45", "2024-04-07T03:00:00+13:45", "2024-04-07T04:00:00+12:45",
       absl::Hours(2)},
      {"hourly chatham first 02:50", Spec(PeriodType::kHourly, "Pacific/Chatham"),
       "2024-04-07T02:50:00+13:45", "2024-04-07T02:00:00+13:45", "2024-04-07T03:00:00+13:45",
       absl::Hours(1)},

      // Daily.
      {"daily utc", Spec(PeriodType::kDaily, "UTC"), "2024-05-01T23:59:59Z", "2024-05-01T00:00:00Z",
       "2024-05-02T00:00:00Z", absl::Hours(24)},
      {"daily berlin summer", Spec(PeriodType::kDaily, "Europe/Berlin"), "2024-05-01T12:00:00Z",
       "2024-05-01T00:00:00+02:00", "2024-05-02T00:00:00+02:00", absl::Hours(24)},
      {"daily berlin local midnight is 22:00 UTC", Spec(PeriodType::kDaily, "Europe/Berlin"),
       "2024-05-01T22:30:00Z", "2024-05-02T00:00:00+02:00", "2024-05-03T00:00:00+02:00",
       absl::Hours(24)},
      {"daily berlin spring forward is 23 h", Spec(PeriodType::kDaily, "Europe/Berlin"),
       "2024-03-31T12:00:00+02:00", "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00",
       absl::Hours(23)},
      {"daily berlin fall back is 25 h", Spec(PeriodType::kDaily, "Europe/Berlin"),
       "2024-10-27T02:30:00+01:00", "2024-10-27T00:00:00+02:00", "2024-10-28T00:00:00+01:00",
       absl::Hours(25)},
      {"daily new york spring forward is 23 h", Spec(PeriodType::kDaily, "America/New_York"),
       "2024-03-10T08:00:00Z", "2024-03-10T00:00:00-05:00", "2024-03-11T00:00:00-04:00",
       absl::Hours(23)},
      {"daily new york fall back is 25 h", Spec(PeriodType::kDaily, "America/New_York"),
       "2024-11-03T01:30:00-05:00", "2024-11-03T00:00:00-04:00", "2024-11-04T00:00:00-05:00",
       absl::Hours(25)},
      // Santiago starts DST at midnight (2024-09-08 00:00 -> 01:00): that day begins at 01:00.
      {"daily santiago midnight gap", Spec(PeriodType::kDaily, "America/Santiago"),
       "2024-09-08T12:00:00-03:00", "2024-09-08T01:00:00-03:00", "2024-09-09T00:00:00-03:00",
       absl::Hours(23)},
      {"daily santiago day before the gap", Spec(PeriodType::kDaily, "America/Santiago"),
       "2024-09-07T23:59:59-04:00", "2024-09-07T00:00:00-04:00", "2024-09-08T01:00:00-03:00",
       absl::Hours(24)},
      // Santiago ends DST at midnight too: Saturday 23:00-24:00 happens twice.
      {"daily santiago fall back", Spec(PeriodType::kDaily, "America/Santiago"),
       "2024-04-06T23:30:00-04:00", "2024-04-06T00:00:00-03:00", "2024-04-07T00:00:00-04:00",
       absl::Hours(25)},
      // Havana: the gap is at midnight (2024-03-10 00:00 -> 01:00), and in November midnight
      // itself repeats (01:00 CDT -> 00:00 CST): the day starts at the earlier midnight.
      {"daily havana midnight gap", Spec(PeriodType::kDaily, "America/Havana"),
       "2024-03-10T00:30:00Z", "2024-03-09T00:00:00-05:00", "2024-03-10T01:00:00-04:00",
       absl::Hours(24)},
      {"daily havana after midnight gap", Spec(PeriodType::kDaily, "America/Havana"),
       "2024-03-10T01:00:00-04:00", "2024-03-10T01:00:00-04:00", "2024-03-11T00:00:00-04:00",
       absl::Hours(23)},
      {"daily havana repeated midnight, first", Spec(PeriodType::kDaily, "America/Havana"),
       "2024-11-03T00:30:00-04:00", "2024-11-03T00:00:00-04:00", "2024-11-04T00:00:00-05:00",
       absl::Hours(25)},
      {"daily havana repeated midnight, second", Spec(PeriodType::kDaily, "America/Havana"),
       "2024-11-03T00:30:00-05:00", "2024-11-03T00:00:00-04:00", "2024-11-04T00:00:00-05:00",
       absl::Hours(25)},
      {"daily havana day before repeated midnight", Spec(PeriodType::kDaily, "America/Havana"),
       "2024-11-02T23:59:59-04:00", "2024-11-02T00:00:00-04:00", "2024-11-03T00:00:00-04:00",
       absl::Hours(24)},

      // Weekly (2024-05-01 is a Wednesday).
      {"weekly monday", Spec(PeriodType::kWeekly, "UTC", 1), "2024-05-01T12:00:00Z",
       "2024-04-29T00:00:00Z", "2024-05-06T00:00:00Z", absl::Hours(168)},
      {"weekly sunday", Spec(PeriodType::kWeekly, "UTC", 7), "2024-05-01T12:00:00Z",
       "2024-04-28T00:00:00Z", "2024-05-05T00:00:00Z", absl::Hours(168)},
      {"weekly wednesday at its start", Spec(PeriodType::kWeekly, "UTC", 3), "2024-05-01T00:00:00Z",
       "2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z", absl::Hours(168)},
      {"weekly wednesday just before", Spec(PeriodType::kWeekly, "UTC", 3), "2024-04-30T23:59:59Z",
       "2024-04-24T00:00:00Z", "2024-05-01T00:00:00Z", absl::Hours(168)},
      {"weekly berlin over spring forward", Spec(PeriodType::kWeekly, "Europe/Berlin", 1),
       "2024-03-31T12:00:00+02:00", "2024-03-25T00:00:00+01:00", "2024-04-01T00:00:00+02:00",
       absl::Hours(167)},
      {"weekly new york over fall back", Spec(PeriodType::kWeekly, "America/New_York", 7),
       "2024-11-05T12:00:00-05:00", "2024-11-03T00:00:00-04:00", "2024-11-10T00:00:00-05:00",
       absl::Hours(169)},
      {"weekly across a year end", Spec(PeriodType::kWeekly, "UTC", 1), "2025-01-01T00:00:00Z",
       "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z", absl::Hours(168)},

      // Monthly.
      {"monthly first", Spec(PeriodType::kMonthly, "UTC", 1), "2024-05-15T00:00:00Z",
       "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z", absl::Hours(24 * 31)},
      {"monthly 15 across new year", Spec(PeriodType::kMonthly, "UTC", 15), "2024-01-03T00:00:00Z",
       "2023-12-15T00:00:00Z", "2024-01-15T00:00:00Z", absl::Hours(24 * 31)},
      {"monthly 28 in january 2028", Spec(PeriodType::kMonthly, "UTC", 28), "2028-02-10T00:00:00Z",
       "2028-01-28T00:00:00Z", "2028-02-28T00:00:00Z", absl::Hours(24 * 31)},
      {"monthly 28 over leap day 2028", Spec(PeriodType::kMonthly, "UTC", 28),
       "2028-02-29T12:00:00Z", "2028-02-28T00:00:00Z", "2028-03-28T00:00:00Z",
       absl::Hours(24 * 29)},
      {"monthly 28 over february 2027", Spec(PeriodType::kMonthly, "UTC", 28),
       "2027-03-01T00:00:00Z", "2027-02-28T00:00:00Z", "2027-03-28T00:00:00Z",
       absl::Hours(24 * 28)},
      {"monthly 28 at its start", Spec(PeriodType::kMonthly, "UTC", 28), "2027-02-28T00:00:00Z",
       "2027-02-28T00:00:00Z", "2027-03-28T00:00:00Z", absl::Hours(24 * 28)},
      {"monthly berlin over spring forward", Spec(PeriodType::kMonthly, "Europe/Berlin", 1),
       "2024-03-15T00:00:00Z", "2024-03-01T00:00:00+01:00", "2024-04-01T00:00:00+02:00",
       absl::Hours(24 * 31 - 1)},
      {"monthly santiago starts after a midnight gap",
       Spec(PeriodType::kMonthly, "America/Santiago", 8), "2024-09-20T00:00:00Z",
       "2024-09-08T01:00:00-03:00", "2024-10-08T00:00:00-03:00", absl::Hours(24 * 30 - 1)},

      // Custom: anchor + k * 36h, floor division for instants before the anchor.
      {"custom at anchor", Custom("2024-01-01T00:00:00Z", absl::Hours(36)), "2024-01-01T00:00:00Z",
       "2024-01-01T00:00:00Z", "2024-01-02T12:00:00Z", absl::Hours(36)},
      {"custom after anchor", Custom("2024-01-01T00:00:00Z", absl::Hours(36)),
       "2024-01-03T02:00:00Z", "2024-01-02T12:00:00Z", "2024-01-04T00:00:00Z", absl::Hours(36)},
      {"custom just before anchor", Custom("2024-01-01T00:00:00Z", absl::Hours(36)),
       "2023-12-31T23:00:00Z", "2023-12-30T12:00:00Z", "2024-01-01T00:00:00Z", absl::Hours(36)},
      {"custom exactly one period before", Custom("2024-01-01T00:00:00Z", absl::Hours(36)),
       "2023-12-30T12:00:00Z", "2023-12-30T12:00:00Z", "2024-01-01T00:00:00Z", absl::Hours(36)},
      {"custom two periods before", Custom("2024-01-01T00:00:00Z", absl::Hours(36)),
       "2023-12-30T11:59:59.999999999Z", "2023-12-29T00:00:00Z", "2023-12-30T12:00:00Z",
       absl::Hours(36)},
      {"custom ignores time zones and DST", Custom("2024-03-30T23:00:00Z", absl::Hours(24)),
       "2024-03-31T12:00:00+02:00", "2024-03-30T23:00:00Z", "2024-03-31T23:00:00Z",
       absl::Hours(24)},
  };
  for (const ContainingCase& c : cases) {
    SCOPED_TRACE(c.name);
    const PeriodCalendar calendar = MustCreate(c.spec);
    const absl::Time t = T(c.t);
    const Period p = calendar.Containing(t);
    EXPECT_EQ(Show(p.start), Show(T(c.start)));
    EXPECT_EQ(Show(p.end), Show(T(c.end)));
    EXPECT_EQ(p.length(), c.length) << absl::FormatDuration(p.length());
    EXPECT_TRUE(p.Contains(t));
  }
}

struct ChainCase {
  const char* name;
  PeriodSpec spec;
  const char* from;  // local new year
  const char* to;
  int periods;  // expected count of periods starting in [from, to)
};

TEST(PeriodCalendarNext, ChainsTileAYearWithoutGapsOrOverlaps) {
  const ChainCase cases[] = {
      // 8784 hours in 2024, one civil hour skipped in spring, one repeated hour merged in autumn.
      {"hourly berlin", Spec(PeriodType::kHourly, "Europe/Berlin"), "2024-01-01T00:00:00+01:00",
       "2025-01-01T00:00:00+01:00", 8784 - 1},
      {"hourly new york", Spec(PeriodType::kHourly, "America/New_York"),
       "2024-01-01T00:00:00-05:00", "2025-01-01T00:00:00-05:00", 8784 - 1},
      {"hourly kolkata", Spec(PeriodType::kHourly, "Asia/Kolkata"), "2024-01-01T00:00:00+05:30",
       "2025-01-01T00:00:00+05:30", 8784},
      {"hourly lord howe", Spec(PeriodType::kHourly, "Australia/Lord_Howe"),
       "2024-01-01T00:00:00+11:00", "2025-01-01T00:00:00+11:00", 8784},
      {"hourly chatham", Spec(PeriodType::kHourly, "Pacific/Chatham"), "2024-01-01T00:00:00+13:45",
       "2025-01-01T00:00:00+13:45", 8784},
      {"daily berlin", Spec(PeriodType::kDaily, "Europe/Berlin"), "2024-01-01T00:00:00+01:00",
       "2025-01-01T00:00:00+01:00", 366},
      {"daily new york", Spec(PeriodType::kDaily, "America/New_York"), "2024-01-01T00:00:00-05:00",
       "2025-01-01T00:00:00-05:00", 366},
      {"daily santiago", Spec(PeriodType::kDaily, "America/Santiago"), "2024-01-01T00:00:00-03:00",
       "2025-01-01T00:00:00-03:00", 366},
      {"daily havana", Spec(PeriodType::kDaily, "America/Havana"), "2024-01-01T00:00:00-05:00",
       "2025-01-01T00:00:00-05:00", 366},
      {"weekly berlin monday", Spec(PeriodType::kWeekly, "Europe/Berlin", 1),
       "2024-01-01T00:00:00+01:00", "2024-12-30T00:00:00+01:00", 52},
      {"monthly 28 new york", Spec(PeriodType::kMonthly, "America/New_York", 28),
       "2028-01-28T00:00:00-05:00", "2029-01-28T00:00:00-05:00", 12},
      {"monthly 1 santiago", Spec(PeriodType::kMonthly, "America/Santiago", 1),
       "2024-01-01T00:00:00-03:00", "2025-01-01T00:00:00-03:00", 12},
      {"custom 7h", Custom("2024-01-01T00:00:00Z", absl::Hours(7)), "2024-01-01T00:00:00Z",
       "2025-01-01T01:00:00Z", 8784 / 7 + 1},
  };
  for (const ChainCase& c : cases) {
    SCOPED_TRACE(c.name);
    const PeriodCalendar calendar = MustCreate(c.spec);
    const absl::Time from = T(c.from);
    const absl::Time to = T(c.to);
    Period p = calendar.Containing(from);
    ASSERT_EQ(Show(p.start), Show(from));
    int count = 0;
    absl::Duration total;
    while (p.start < to) {
      ASSERT_LT(p.start, p.end) << Show(p.start);
      // Each period is exactly the one that holds its first and last instants.
      ASSERT_EQ(calendar.Containing(p.start), p) << Show(p.start);
      ASSERT_EQ(calendar.Containing(p.end - absl::Nanoseconds(1)), p) << Show(p.start);
      const Period next = calendar.Next(p);
      ASSERT_EQ(next.start, p.end) << Show(p.start);  // no gap, no overlap
      total += p.length();
      ++count;
      p = next;
      ASSERT_LT(count, 20000);
    }
    EXPECT_EQ(count, c.periods);
    EXPECT_EQ(Show(p.start), Show(from + total));
  }
}

TEST(PeriodCalendarNext, KolkataHoursAllStartAtHalfPast) {
  const PeriodCalendar calendar = MustCreate(Spec(PeriodType::kHourly, "Asia/Kolkata"));
  Period p = calendar.Containing(T("2024-06-01T00:00:00Z"));
  for (int i = 0; i < 48; ++i) {
    const absl::CivilSecond utc = absl::ToCivilSecond(p.start, absl::UTCTimeZone());
    EXPECT_EQ(utc.minute(), 30);
    EXPECT_EQ(utc.second(), 0);
    EXPECT_EQ(p.length(), absl::Hours(1));
    p = calendar.Next(p);
  }
}

TEST(PeriodElapsedFraction, ClampsToUnitInterval) {
  const Period p{T("2024-10-27T00:00:00+02:00"), T("2024-10-28T00:00:00+01:00")};  // 25 h
  struct Case {
    const char* t;
    double want;
  };
  const Case cases[] = {
      {"2024-10-26T12:00:00+02:00", 0.0},  {"2024-10-27T00:00:00+02:00", 0.0},
      {"2024-10-27T11:30:00+01:00", 0.5},  // 12.5 h in
      {"2024-10-28T00:00:00+01:00", 1.0},  {"2024-11-01T00:00:00+01:00", 1.0},
      {"2024-10-27T05:00:00+01:00", 0.24},  // 6 h in
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.t);
    EXPECT_DOUBLE_EQ(p.ElapsedFraction(T(c.t)), c.want);
  }
  const absl::Time at = T("2024-01-01T00:00:00Z");
  const Period empty{at, at};
  EXPECT_EQ(empty.ElapsedFraction(at - absl::Seconds(1)), 0.0);
  EXPECT_EQ(empty.ElapsedFraction(at), 1.0);
  EXPECT_FALSE(empty.Contains(at));
}

}  // namespace
}  // namespace bursar::values
