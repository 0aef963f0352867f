#include "controllers/values/duration.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

TEST(DurationParse, GoGrammar) {
  struct Case {
    const char* text;
    absl::Duration want;
  };
  const Case cases[] = {
      {"0", absl::ZeroDuration()},
      {"+0", absl::ZeroDuration()},
      {"0s", absl::ZeroDuration()},
      {"90s", absl::Seconds(90)},
      {"2m", absl::Minutes(2)},
      {"1h30m", absl::Minutes(90)},
      {"1.5h", absl::Minutes(90)},
      {"500ms", absl::Milliseconds(500)},
      {"1us", absl::Microseconds(1)},
      {"1\xc2\xb5s", absl::Microseconds(1)},  // U+00B5 micro sign
      {"1\xce\xbcs", absl::Microseconds(1)},  // U+03BC Greek mu
      {"100ns", absl::Nanoseconds(100)},
      {"1h1m1s1ms1us1ns", absl::Hours(1) + absl::Minutes(1) + absl::Seconds(1) +
                              absl::Milliseconds(1) + absl::Microseconds(1) + absl::Nanoseconds(1)},
      {"30m1h", absl::Minutes(90)},  // Go allows any order and repetition
      {"1s1s", absl::Seconds(2)},
      {".5s", absl::Milliseconds(500)},
      {"1.s", absl::Seconds(1)},
      {"+5s", absl::Seconds(5)},
      {"3m4.001s", absl::Minutes(3) + absl::Milliseconds(4001)},
      {"0.1ns", absl::ZeroDuration()},      // below a nanosecond: truncated
      {"1.0000000001s", absl::Seconds(1)},  // likewise
      {"1.00000000000000000000000000000001h", absl::Hours(1)},
      {"0.333333333333h", absl::Nanoseconds(1'199'999'999'998)},
      {"2562047h47m16.854775807s", absl::Nanoseconds(std::numeric_limits<int64_t>::max())},
      {"9223372036854775807ns", absl::Nanoseconds(std::numeric_limits<int64_t>::max())},
      {"720h", absl::Hours(720)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::Duration> d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(*d, c.want) << absl::FormatDuration(*d);
  }
}

TEST(DurationParse, Rejects) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"", "duration \"\": empty"},
      {"+", "duration \"+\": empty"},
      {"-5s", "duration \"-5s\": negative durations are not allowed"},
      {"-0", "duration \"-0\": negative durations are not allowed"},
      {"5", "duration \"5\": missing unit"},
      {"1h5", "duration \"1h5\": missing unit"},
      {"1x", "duration \"1x\": unknown unit \"x\""},
      {"1hh", "duration \"1hh\": unknown unit \"hh\""},
      {"1 h", "duration \"1 h\": unknown unit \" h\""},
      {"1H", "duration \"1H\": unknown unit \"H\""},
      {"1d", "duration \"1d\": unknown unit \"d\""},
      {"s", "duration \"s\": expected a number"},
      {".s", "duration \".s\": expected a number"},
      {"1h 30m", "duration \"1h 30m\": unknown unit \"h \""},
      {"1.2.3s", "duration \"1.2.3s\": missing unit"},
      {"2562047h47m16.854775808s", "duration \"2562047h47m16.854775808s\": out of range"},
      {"9223372036854775808ns", "duration \"9223372036854775808ns\": out of range"},
      {"99999999999999999999h", "duration \"99999999999999999999h\": out of range"},
      {"3000000h", "duration \"3000000h\": out of range"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<absl::Duration> d = ParseDuration(c.text);
    ASSERT_FALSE(d.ok()) << absl::FormatDuration(*d);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(d.status().message().substr(0, std::string(c.message).size()), c.message);
  }
}

TEST(DurationFormat, ShortestGoStyle) {
  struct Case {
    absl::Duration d;
    const char* text;
  };
  const Case cases[] = {
      {absl::ZeroDuration(), "0s"},
      {absl::Seconds(90), "1m30s"},
      {absl::Hours(2), "2h"},
      {absl::Minutes(90), "1h30m"},
      {absl::Hours(1) + absl::Seconds(30), "1h30s"},
      {absl::Minutes(61), "1h1m"},
      {absl::Hours(36), "36h"},
      {absl::Seconds(1), "1s"},
      {absl::Milliseconds(1500), "1.5s"},
      {absl::Hours(2) + absl::Milliseconds(500), "2h0.5s"},
      {absl::Seconds(59) + absl::Nanoseconds(999'999'999), "59.999999999s"},
      {absl::Milliseconds(500), "500ms"},
      {absl::Microseconds(1500), "1.5ms"},
      {absl::Nanoseconds(1500), "1.5\xc2\xb5s"},
      {absl::Microseconds(1), "1\xc2\xb5s"},
      {absl::Nanoseconds(100), "100ns"},
      {absl::Nanoseconds(1), "1ns"},
      {absl::Nanoseconds(999'999'999), "999.999999ms"},
      {-absl::Seconds(90), "-1m30s"},
      {-absl::Milliseconds(5), "-5ms"},
      {absl::Nanoseconds(std::numeric_limits<int64_t>::max()), "2562047h47m16.854775807s"},
      {absl::InfiniteDuration(), "inf"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(values::FormatDuration(c.d), c.text);
  }
}

TEST(DurationFormat, RoundTripsThroughParse) {
  const absl::Duration values[] = {
      absl::ZeroDuration(),  absl::Nanoseconds(1),  absl::Nanoseconds(1234),
      absl::Microseconds(7), absl::Milliseconds(1), absl::Milliseconds(999),
      absl::Seconds(1),      absl::Seconds(61),     absl::Minutes(59) + absl::Nanoseconds(3),
      absl::Hours(25),       absl::Hours(8760),     absl::Hours(1) + absl::Milliseconds(1),
  };
  for (absl::Duration d : values) {
    const std::string text = values::FormatDuration(d);
    SCOPED_TRACE(text);
    absl::StatusOr<absl::Duration> back = ParseDuration(text);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, d);
  }
}

}  // namespace
}  // namespace bursar::values
