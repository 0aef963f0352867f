#include "controllers/values/money.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kMin = std::numeric_limits<int64_t>::min();

TEST(MoneyParse, AcceptsPlainDecimals) {
  struct Case {
    const char* text;
    int64_t micros;
  };
  const Case cases[] = {
      {"5000", 5'000'000'000},
      {"12.5", 12'500'000},
      {"0.000001", 1},
      {"-3.25", -3'250'000},
      {"+7", 7'000'000},
      {"0", 0},
      {"-0", 0},
      {"0.10", 100'000},
      {"007.5", 7'500'000},
      {"123456.123456", 123'456'123'456},
      {"9223372036854.775807", kMax},
      {"-9223372036854.775808", kMin},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Money> m = Money::Parse(c.text);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->micros(), c.micros);
  }
}

TEST(MoneyParse, RejectsWithReasons) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"12.3456789", "\"12.3456789\": more than 6 fractional digits"},
      {"0.0000001", "\"0.0000001\": more than 6 fractional digits"},
      {"", "\"\": empty amount"},
      {"9223372036854.775808", "\"9223372036854.775808\": out of range"},
      {"-9223372036854.775809", "\"-9223372036854.775809\": out of range"},
      {"99999999999999999999999", "\"99999999999999999999999\": out of range"},
      {"12.", "\"12.\": no digits after the decimal point"},
      {"1e3", "\"1e3\": not a plain decimal number"},
      {"$5", "\"$5\": not a plain decimal number"},
      {"1,000", "\"1,000\": not a plain decimal number"},
      {".5", "\".5\": not a plain decimal number"},
      {"-", "\"-\": not a plain decimal number"},
      {" 1", "\" 1\": not a plain decimal number"},
      {"1 ", "\"1 \": not a plain decimal number"},
      {"1.2.3", "\"1.2.3\": not a plain decimal number"},
      {"1.1234567x", "\"1.1234567x\": not a plain decimal number"},
      {"EUR 5", "\"EUR 5\": not a plain decimal number"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Money> m = Money::Parse(c.text);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(m.status().message().substr(0, std::string(c.message).size()), c.message);
  }
}

TEST(MoneyToString, TwoToSixFractionDigits) {
  struct Case {
    int64_t micros;
    const char* text;
  };
  const Case cases[] = {
      {5'000'000'000, "5000.00"},
      {123'400, "0.1234"},
      {-1'500'000, "-1.50"},
      {0, "0.00"},
      {1, "0.000001"},
      {-1, "-0.000001"},
      {100'000, "0.10"},
      {120'000, "0.12"},
      {123'000, "0.123"},
      {10, "0.00001"},
      {kMax, "9223372036854.775807"},
      {kMin, "-9223372036854.775808"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(Money::FromMicros(c.micros).ToString(), c.text);
  }
}

TEST(MoneyToString, RoundTripsThroughParse) {
  const int64_t values[] = {0,         1,      -1,         999'999, 1'000'000, -1'000'001,
                            1'234'567, 10'000, 42'000'000, kMax,    kMin,      -250'000};
  for (int64_t micros : values) {
    SCOPED_TRACE(micros);
    const Money m = Money::FromMicros(micros);
    absl::StatusOr<Money> back = Money::Parse(m.ToString());
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, m);
  }
  // Canonical text is a fixed point of Parse + ToString.
  for (const char* text : {"5000.00", "0.1234", "-1.50", "0.000001", "12.345678"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<Money> m = Money::Parse(text);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->ToString(), text);
  }
}

TEST(MoneyMulDiv, RoundingModes) {
  struct Case {
    int64_t micros;
    int64_t numerator;
    int64_t denominator;
    int64_t half_even;
    int64_t down;
    int64_t up;
  };
  const Case cases[] = {
      // Ties: half-even goes to the even neighbour, in both directions of sign.
      {10, 1, 4, 2, 2, 3},      // 2.5
      {30, 1, 4, 8, 7, 8},      // 7.5
      {-10, 1, 4, -2, -2, -3},  // -2.5
      {-30, 1, 4, -8, -7, -8},  // -7.5
      {10, -1, 4, -2, -2, -3},  // negative numerator: -2.5
      {5, 1, 2, 2, 2, 3},       // 2.5
      {1, 1, 2, 0, 0, 1},       // 0.5
      {3, 1, 2, 2, 1, 2},       // 1.5
      {-1, 1, 2, 0, 0, -1},     // -0.5
      // Not ties.
      {7, 1, 3, 2, 2, 3},      // 2.33
      {8, 1, 3, 3, 2, 3},      // 2.67
      {-8, 1, 3, -3, -2, -3},  // -2.67
      {-7, 1, 3, -2, -2, -3},  // -2.33
      {12, 1, 4, 3, 3, 3},     // exact
      {0, 5, 7, 0, 0, 0},      // zero
      // A price of 2.50/h for 90 s: one rounding at the end.
      {2'500'000, 90, 3600, 62'500, 62'500, 62'500},
      // 1.00/h for 1 s: 277.77... micros.
      {1'000'000, 1, 3600, 278, 277, 278},
      // The intermediate exceeds int64 but the result does not.
      {kMax, 3, 3, kMax, kMax, kMax},
      {kMax / 2, 4, 2, kMax - 1, kMax - 1, kMax - 1},
      {kMin, 7, 7, kMin, kMin, kMin},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.micros << " * " << c.numerator << " / " << c.denominator);
    const Money m = Money::FromMicros(c.micros);
    EXPECT_EQ(m.MulDiv(c.numerator, c.denominator).micros(), c.half_even) << "default";
    EXPECT_EQ(m.MulDiv(c.numerator, c.denominator, Rounding::kHalfEven).micros(), c.half_even);
    EXPECT_EQ(m.MulDiv(c.numerator, c.denominator, Rounding::kDown).micros(), c.down);
    EXPECT_EQ(m.MulDiv(c.numerator, c.denominator, Rounding::kUp).micros(), c.up);
  }
}

TEST(MoneyMulDiv, SaturatesInsteadOfOverflowing) {
  struct Case {
    int64_t micros;
    int64_t numerator;
    int64_t denominator;
    int64_t want;
  };
  const Case cases[] = {
      {kMax, 2, 1, kMax},    {kMax, kMax, 1, kMax},
      {kMin, 2, 1, kMin},    {kMax, -2, 1, kMin},
      {kMin, -1, 1, kMax},  // -kMin does not fit either.
      {kMin, kMin, 1, kMax}, {kMax, 1'000'001, 1'000'000, kMax},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.micros << " * " << c.numerator << " / " << c.denominator);
    for (Rounding r : {Rounding::kHalfEven, Rounding::kDown, Rounding::kUp}) {
      EXPECT_EQ(Money::FromMicros(c.micros).MulDiv(c.numerator, c.denominator, r).micros(), c.want);
    }
  }
}

TEST(MoneyArithmetic, OperatorsAndOrdering) {
  const Money a = Money::FromUnits(3);
  const Money b = Money::FromMicros(250'000);
  EXPECT_EQ((a + b).micros(), 3'250'000);
  EXPECT_EQ((a - b).micros(), 2'750'000);
  EXPECT_EQ((-a).micros(), -3'000'000);
  Money c = a;
  c += b;
  c -= a;
  EXPECT_EQ(c, b);
  EXPECT_LT(b, a);
  EXPECT_EQ(Max(a, b), a);
  EXPECT_EQ(Min(a, b), b);
  EXPECT_TRUE(Money().IsZero());
  EXPECT_TRUE((-b).IsNegative());
  EXPECT_DOUBLE_EQ(Money::FromMicros(-1'500'000).ToDouble(), -1.5);
}

}  // namespace
}  // namespace bursar::values
