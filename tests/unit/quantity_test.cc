#include "controllers/values/quantity.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

using Format = Quantity::Format;

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr Int128 kMaxNanos = static_cast<Int128>(~UInt128{0} >> 1);

// mantissa * 10^exp10 expressed in nanos; exp10 >= -9.
Int128 Scaled(int64_t mantissa, int exp10) {
  Int128 v = mantissa;
  for (int i = -9; i < exp10; ++i) {
    v *= 10;
  }
  return v;
}

std::string Str(Int128 v) {
  if (v == 0) {
    return "0";
  }
  const bool negative = v < 0;
  UInt128 m = negative ? -static_cast<UInt128>(v) : static_cast<UInt128>(v);
  std::string out;
  while (m != 0) {
    out.insert(out.begin(), static_cast<char>('0' + static_cast<int>(m % 10)));
    m /= 10;
  }
  return negative ? "-" + out : out;
}

const char* FormatName(Format f) {
  switch (f) {
    case Format::kDecimalSI:
      return "DecimalSI";
    case Format::kBinarySI:
      return "BinarySI";
    case Format::kDecimalExponent:
      return "DecimalExponent";
  }
  return "?";
}

Quantity MustParse(const std::string& text) {
  absl::StatusOr<Quantity> q = Quantity::Parse(text);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  return q.ok() ? *q : Quantity();
}

// The value and format vectors of apimachinery's TestQuantityParse.
struct ParseCase {
  const char* text;
  Int128 nanos;
  Format format;
};

std::vector<ParseCase> ParseCases() {
  const Int128 ki = 1024;
  const Int128 unit = Scaled(1, 0);
  return {
      {"0", 0, Format::kDecimalSI},
      {"0n", 0, Format::kDecimalSI},
      {"0u", 0, Format::kDecimalSI},
      {"0m", 0, Format::kDecimalSI},
      {"0Ki", 0, Format::kBinarySI},
      {"0k", 0, Format::kDecimalSI},
      {"0Mi", 0, Format::kBinarySI},
      {"0M", 0, Format::kDecimalSI},
      {"0Gi", 0, Format::kBinarySI},
      {"0G", 0, Format::kDecimalSI},
      {"0Ti", 0, Format::kBinarySI},
      {"0T", 0, Format::kDecimalSI},
      {"1", Scaled(1, 0), Format::kDecimalSI},
      // Binary suffixes.
      {"1Ki", ki * unit, Format::kBinarySI},
      {"8Ki", 8 * ki * unit, Format::kBinarySI},
      {"7Mi", 7 * ki * ki * unit, Format::kBinarySI},
      {"6Gi", 6 * ki * ki * ki * unit, Format::kBinarySI},
      {"5Ti", 5 * ki * ki * ki * ki * unit, Format::kBinarySI},
      {"4Pi", 4 * ki * ki * ki * ki * ki * unit, Format::kBinarySI},
      {"3Ei", 3 * ki * ki * ki * ki * ki * ki * unit, Format::kBinarySI},
      {"10Ti", 10 * ki * ki * ki * ki * unit, Format::kBinarySI},
      {"100Ti", 100 * ki * ki * ki * ki * unit, Format::kBinarySI},
      // Decimal suffixes.
      {"5n", Scaled(5, -9), Format::kDecimalSI},
      {"4u", Scaled(4, -6), Format::kDecimalSI},
      {"3m", Scaled(3, -3), Format::kDecimalSI},
      {"9", Scaled(9, 0), Format::kDecimalSI},
      {"8k", Scaled(8, 3), Format::kDecimalSI},
      {"50k", Scaled(5, 4), Format::kDecimalSI},
      {"7M", Scaled(7, 6), Format::kDecimalSI},
      {"6G", Scaled(6, 9), Format::kDecimalSI},
      {"5T", Scaled(5, 12), Format::kDecimalSI},
      {"40T", Scaled(4, 13), Format::kDecimalSI},
      {"300T", Scaled(3, 14), Format::kDecimalSI},
      {"2P", Scaled(2, 15), Format::kDecimalSI},
      {"1E", Scaled(1, 18), Format::kDecimalSI},
      // Decimal exponents.
      {"1E-3", Scaled(1, -3), Format::kDecimalExponent},
      {"1e3", Scaled(1, 3), Format::kDecimalExponent},
      {"1E6", Scaled(1, 6), Format::kDecimalExponent},
      {"1e9", Scaled(1, 9), Format::kDecimalExponent},
      {"1E12", Scaled(1, 12), Format::kDecimalExponent},
      {"1e15", Scaled(1, 15), Format::kDecimalExponent},
      {"1E18", Scaled(1, 18), Format::kDecimalExponent},
      {"1e14", Scaled(1, 14), Format::kDecimalExponent},
      {"1e13", Scaled(1, 13), Format::kDecimalExponent},
      {"100.035k", Scaled(100035, 0), Format::kDecimalSI},
      // Things that look like floating point.
      {"0.001", Scaled(1, -3), Format::kDecimalSI},
      {"0.0005k", Scaled(5, -1), Format::kDecimalSI},
      {"0.005", Scaled(5, -3), Format::kDecimalSI},
      {"0.05", Scaled(5, -2), Format::kDecimalSI},
      {"0.5", Scaled(5, -1), Format::kDecimalSI},
      {"0.00050k", Scaled(5, -1), Format::kDecimalSI},
      {"0.00500", Scaled(5, -3), Format::kDecimalSI},
      {"0.05000", Scaled(5, -2), Format::kDecimalSI},
      {"0.50000", Scaled(5, -1), Format::kDecimalSI},
      {"0.5e0", Scaled(5, -1), Format::kDecimalExponent},
      {"0.5e-1", Scaled(5, -2), Format::kDecimalExponent},
      {"0.5e-2", Scaled(5, -3), Format::kDecimalExponent},
      {"10.035M", Scaled(10035, 3), Format::kDecimalSI},
      {"1.2e3", Scaled(12, 2), Format::kDecimalExponent},
      {"1.3E+6", Scaled(13, 5), Format::kDecimalExponent},
      {"1.40e9", Scaled(14, 8), Format::kDecimalExponent},
      {"1.53E12", Scaled(153, 10), Format::kDecimalExponent},
      {"1.6e15", Scaled(16, 14), Format::kDecimalExponent},
      {"1.7E18", Scaled(17, 17), Format::kDecimalExponent},
      {"9.01", Scaled(901, -2), Format::kDecimalSI},
      {"8.1k", Scaled(81, 2), Format::kDecimalSI},
      {"7.123456M", Scaled(7123456, 0), Format::kDecimalSI},
      {"6.987654321G", Scaled(6987654321, 0), Format::kDecimalSI},
      {"5.444T", Scaled(5444, 9), Format::kDecimalSI},
      {"40.1T", Scaled(401, 11), Format::kDecimalSI},
      {"300.2T", Scaled(3002, 11), Format::kDecimalSI},
      {"2.5P", Scaled(25, 14), Format::kDecimalSI},
      {"1.01E", Scaled(101, 16), Format::kDecimalSI},
      // Things that saturate or round: below 1n rounds up, binary caps at 2^63-1 units.
      {"3.001n", Scaled(4, -9), Format::kDecimalSI},
      {"1.1E-9", Scaled(2, -9), Format::kDecimalExponent},
      {"0.0000000001", Scaled(1, -9), Format::kDecimalSI},
      {"0.0000000005", Scaled(1, -9), Format::kDecimalSI},
      {"0.00000000050", Scaled(1, -9), Format::kDecimalSI},
      {"0.5e-9", Scaled(1, -9), Format::kDecimalExponent},
      {"0.9n", Scaled(1, -9), Format::kDecimalSI},
      {"0.00000012345", Scaled(124, -9), Format::kDecimalSI},
      {"0.00000012354", Scaled(124, -9), Format::kDecimalSI},
      {"9Ei", Scaled(kInt64Max, 0), Format::kBinarySI},
      {"8Ei", Scaled(kInt64Max, 0), Format::kBinarySI},
      {"9223372036854775807Ki", Scaled(kInt64Max, 0), Format::kBinarySI},
      {"12E", Scaled(12, 18), Format::kDecimalSI},
      // Fractional binary values.
      {"100.035Ki", Scaled(10243584, -2), Format::kBinarySI},
      {"0.5Mi", Scaled(512 * 1024, 0), Format::kBinarySI},
      {"0.05Gi", Scaled(536870912, -1), Format::kBinarySI},
      {"0.025Ti", Scaled(274877906944, -1), Format::kBinarySI},
      // Things written by trolls.
      {"0.000000000001Ki", Scaled(2, -9), Format::kDecimalSI},  // rounds up, changes format
      {".001", Scaled(1, -3), Format::kDecimalSI},
      {".0001k", Scaled(100, -3), Format::kDecimalSI},
      {"1.", Scaled(1, 0), Format::kDecimalSI},
      {"1.G", Scaled(1, 9), Format::kDecimalSI},
      {"007", Scaled(7, 0), Format::kDecimalSI},
  };
}

TEST(QuantityParse, ApimachineryValueVectors) {
  for (const ParseCase& c : ParseCases()) {
    for (const char* sign : {"", "+", "-"}) {
      const std::string text = std::string(sign) + c.text;
      SCOPED_TRACE(text);
      absl::StatusOr<Quantity> q = Quantity::Parse(text);
      ASSERT_TRUE(q.ok()) << q.status();
      const Int128 want = std::string(sign) == "-" ? -c.nanos : c.nanos;
      EXPECT_EQ(Str(q->nanos()), Str(want));
      EXPECT_STREQ(FormatName(q->format()), FormatName(c.format));
    }
  }
}

TEST(QuantityParse, BeyondThirtyEightDigitsIsStillExact) {
  struct Case {
    const char* text;
    const char* nanos;
  };
  const Case cases[] = {
      // 40 significant digits: more than fits in 128 bits before scaling.
      {"1234567890123456789012345678901234567890e-31", "123456789012345679"},
      {"1.000000000000000000000000000000000000000001", "1000000001"},
      {"0.0000000000000000000000000000000000000000001Ei", "1"},
      {"100000000000000000000000000000", "100000000000000000000000000000000000000"},
      {"1e-400", "1"},
      {"0e400", "0"},
      {"1.5Ki", "1536000000000"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(Str(MustParse(c.text).nanos()), c.nanos);
  }
  // Binary values above 2^63-1 units are capped, however long the input.
  EXPECT_EQ(MustParse("123456789012345678901234567890123456789012345Ei").nanos(),
            Scaled(kInt64Max, 0));
  EXPECT_EQ(MustParse("-16Ei").nanos(), -Scaled(kInt64Max, 0));
}

TEST(QuantityParse, RejectsMalformedText) {
  const char* const invalid[] = {
      // apimachinery's invalid list.
      "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 ",
      // More.
      "", "1.2.3", "Ki", "5 Gi", "1Qi", "+", "-", ".", "-.", "1e", "1E+", "1ki", "1KI", "1K",
      "1e3.5", "1Kie3", "--1", "+-1", "1e++3", "1Gi ", "1,5", "0x10", "1e3m", "∞", "1b"};
  for (const char* text : invalid) {
    SCOPED_TRACE(text);
    absl::StatusOr<Quantity> q = Quantity::Parse(text);
    ASSERT_FALSE(q.ok()) << q->ToString();
    EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(q.status().message().find(std::string("\"") + text + "\""), std::string::npos)
        << q.status();
  }
  EXPECT_EQ(Quantity::Parse("1Qi").status().message(),
            "quantity \"1Qi\": invalid suffix \"Qi\" (want n u m k M G T P E, Ki Mi Gi Ti Pi "
            "Ei, or an exponent such as e3)");
}

TEST(QuantityParse, RejectsValuesBeyond128Bits) {
  for (const char* text : {"1e40", "-1e40", "200000000000000000000000000000", "1e1000000000000"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(Quantity::Parse(text).ok());
  }
  // The largest magnitude that fits is accepted.
  EXPECT_EQ(MustParse("170141183460469231731.687303715884105727G").nanos(), kMaxNanos);
  EXPECT_FALSE(Quantity::Parse("170141183460469231731.687303715884105728G").ok());
}

TEST(QuantityToString, CanonicalForms) {
  struct Case {
    const char* text;
    const char* canonical;
  };
  const Case cases[] = {
      // From the brief and apimachinery's TestQuantityString / TestQuantityParseEmit.
      {"1000m", "1"},
      {"1500m", "1500m"},
      {"0.5", "500m"},
      {"1.5", "1500m"},
      {"1.5Gi", "1536Mi"},
      {"0.5Gi", "512Mi"},
      {"12e6", "12e6"},
      {"100000k", "100M"},
      {"1Ki", "1Ki"},
      {"1Mi", "1Mi"},
      {"1Gi", "1Gi"},
      {"1024Mi", "1Gi"},
      {"300Mi", "300Mi"},
      {"307200Ki", "300Mi"},
      {"6Ki", "6Ki"},
      {"1001Gi", "1001Gi"},
      {"1025024Mi", "1001Gi"},
      {"1024Gi", "1Ti"},
      {"1Ti", "1Ti"},
      {"1Pi", "1Pi"},
      {"1024Pi", "1Ei"},
      {"7Ei", "7Ei"},
      {"9Ei", "9223372036854775807"},  // capped at 2^63-1, not a multiple of 1024
      {"1000M", "1G"},
      {"0.001T", "1G"},
      {"1000000k", "1G"},
      {"1000000000", "1G"},
      {"1000u", "1m"},
      {"80m", "80m"},
      {"1.08", "1080m"},
      {"1080000000n", "1080m"},
      {"1.0800", "1080m"},
      {"300M", "300M"},
      {"1T", "1T"},
      {"1E", "1E"},
      {"1000E", "1e21"},
      {"5000E", "5e21"},
      {"1000000E", "1e24"},
      {"1234567M", "1234567M"},
      {"3k", "3k"},
      {"1025", "1025"},
      {"5", "5"},
      {"5000m", "5"},
      {"1n", "1n"},
      {"80n", "80n"},
      {"1080n", "1080n"},
      {"1u", "1u"},
      {"80u", "80u"},
      {"1080u", "1080u"},
      {"1.5E", "1500P"},
      {"100.035k", "100035"},
      {"0.9n", "1n"},
      {"0.00000012345", "124n"},
      // Binary below 1024 or with a fraction of a unit is shown in decimal.
      {".001Ki", "1024m"},
      {".000001Ki", "1024u"},
      {".000000001Ki", "1024n"},
      {".000000000001Ki", "2n"},
      {"1.5Ki", "1536"},
      {"0.5Ki", "512"},
      {"1.1Ki", "1126400m"},
      {"1023", "1023"},
      {"100.035Ki", "102435840m"},
      // Decimal exponents are multiples of three.
      {"1e9", "1e9"},
      {".001e12", "1e9"},
      {"1e-3", "1e-3"},
      {"0.001e0", "1e-3"},
      {"1e-9", "1e-9"},
      {"1000e-12", "1e-9"},
      {"1e-10", "1e-9"},
      {"1.1E-9", "2e-9"},
      {"80e-3", "80e-3"},
      {"300e6", "300e6"},
      {"1e12", "1e12"},
      {"1e3", "1e3"},
      {"1E3", "1e3"},
      {"1e+3", "1e3"},
      {"3e3", "3e3"},
      {"1e0", "1"},
      {"1.5e3", "1500"},
      {"1e4", "10e3"},
      {"1e29", "100e27"},
      // Zero, signs and leading zeros.
      {"0", "0"},
      {"00", "0"},
      {"-0", "0"},
      {"0Ki", "0"},
      {"0e5", "0"},
      {"+1", "1"},
      {"01", "1"},
      {"-1.5Gi", "-1536Mi"},
      {"-9.01", "-9010m"},
      {"-1e-10", "-1e-9"},
      {"-1000E", "-1e21"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(MustParse(c.text).ToString(), c.canonical);
  }
}

TEST(QuantityToString, EverySuffixRoundTrips) {
  const char* const suffixes[] = {"n",  "u",  "m",   "",   "k",   "M",   "G",  "T",
                                  "P",  "E",  "Ki",  "Mi", "Gi",  "Ti",  "Pi", "Ei",
                                  "e3", "e6", "e-3", "E9", "e-9", "e18", "e0", "E+12"};
  const char* const numbers[] = {"1", "7", "999", "1024", "1.5", "0.25", "12345.678", "3"};
  for (const char* suffix : suffixes) {
    for (const char* number : numbers) {
      for (const char* sign : {"", "-"}) {
        const std::string text = std::string(sign) + number + suffix;
        SCOPED_TRACE(text);
        const Quantity q = MustParse(text);
        const std::string canonical = q.ToString();
        const Quantity back = MustParse(canonical);
        EXPECT_EQ(Str(back.nanos()), Str(q.nanos())) << canonical;
        // The format may change ("1.5Ki" prints as "1536", "1e0" as "1"), the text may not.
        EXPECT_EQ(back.ToString(), canonical);
      }
    }
  }
}

TEST(QuantityConstruct, FromMilliAndFromUnits) {
  struct Case {
    Quantity q;
    const char* text;
  };
  const Case cases[] = {
      // apimachinery's TestMilliNewSet and TestNewSet.
      {Quantity::FromMilli(1), "1m"},
      {Quantity::FromMilli(1000), "1"},
      {Quantity::FromMilli(1234000), "1234"},
      {Quantity::FromMilli(1024, Format::kBinarySI), "1024m"},
      {Quantity::FromMilli(1000000, Format::kDecimalExponent), "1e3"},
      {Quantity::FromMilli(1024 * 1024, Format::kBinarySI), "1048576m"},
      {Quantity::FromUnits(1), "1"},
      {Quantity::FromUnits(1000), "1k"},
      {Quantity::FromUnits(1234000), "1234k"},
      {Quantity::FromUnits(1024, Format::kBinarySI), "1Ki"},
      {Quantity::FromUnits(1000000, Format::kDecimalExponent), "1e6"},
      {Quantity::FromUnits(1024 * 1024, Format::kBinarySI), "1Mi"},
      {Quantity::FromUnits(-3, Format::kBinarySI), "-3"},
      {Quantity::FromUnits(0), "0"},
      {Quantity(), "0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(c.q.ToString(), c.text);
  }
}

TEST(QuantityValue, RoundsAwayFromZero) {
  struct Case {
    const char* text;
    int64_t value;
    int64_t milli;
  };
  const Case cases[] = {
      {"100m", 1, 100},
      {"-100m", -1, -100},
      {"1n", 1, 1},
      {"-1n", -1, -1},
      {"1.5", 2, 1500},
      {"-1.5", -2, -1500},
      {"2", 2, 2000},
      {"9.01", 10, 9010},
      {"1.0001", 2, 1001},
      {"0", 0, 0},
      {"1Gi", 1073741824, 1073741824000},
      {"1.5Ki", 1536, 1536000},
      {"1e28", kInt64Max, kInt64Max},  // saturates instead of overflowing
      {"-1e28", std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::min()},
      {"9223372036854775807", kInt64Max, kInt64Max},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const Quantity q = MustParse(c.text);
    EXPECT_EQ(q.Value(), c.value);
    EXPECT_EQ(q.MilliValue(), c.milli);
  }
}

TEST(QuantityValue, ToDouble) {
  EXPECT_DOUBLE_EQ(MustParse("1.5").ToDouble(), 1.5);
  EXPECT_DOUBLE_EQ(MustParse("-250m").ToDouble(), -0.25);
  EXPECT_DOUBLE_EQ(MustParse("1Gi").ToDouble(), 1073741824.0);
  EXPECT_DOUBLE_EQ(MustParse("3n").ToDouble(), 3e-9);
  EXPECT_DOUBLE_EQ(MustParse("12345678901234.5").ToDouble(), 12345678901234.5);
}

TEST(QuantityArithmetic, AddSubAndFormats) {
  struct Case {
    const char* a;
    char op;
    const char* b;
    const char* want;
  };
  const Case cases[] = {
      // apimachinery: a zero operand never loses the other's suffix.
      {"100m", '+', "0", "100m"},  {"0", '+', "100m", "100m"},  {"1Gi", '+', "0", "1Gi"},
      {"0", '+', "1Gi", "1Gi"},    {"1Gi", '-', "0", "1Gi"},    {"0", '-', "1Gi", "-1Gi"},
      {"0", '-', "100m", "-100m"}, {"1", '+', "500m", "1500m"}, {"1Gi", '+', "512Mi", "1536Mi"},
      {"1Gi", '-', "1Gi", "0"},    {"1Ki", '+', "1", "1025"},   {"1e3", '+', "1e3", "2e3"},
      {"1", '-', "2", "-1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.a << " " << c.op << " " << c.b);
    const Quantity a = MustParse(c.a);
    const Quantity b = MustParse(c.b);
    EXPECT_EQ((c.op == '+' ? a + b : a - b).ToString(), c.want);
  }
}

TEST(QuantityArithmetic, SaturatesAt128Bits) {
  const Quantity big = MustParse("1.5e29");
  EXPECT_EQ((big + big).nanos(), kMaxNanos);
  EXPECT_EQ((Quantity() - big - big).nanos(), -kMaxNanos);
  EXPECT_EQ((big - big).nanos(), 0);
}

TEST(QuantityCompare, OrdersByValueAcrossFormats) {
  EXPECT_GT(MustParse("10000T"), MustParse("100Gi"));
  EXPECT_GT(MustParse("100m"), MustParse("50m"));
  EXPECT_LT(MustParse("-1"), MustParse("1n"));
  EXPECT_EQ(MustParse("1Ki"), MustParse("1024"));
  EXPECT_EQ(MustParse("1e3"), MustParse("1k"));
  EXPECT_EQ(MustParse("0"), Quantity());
  EXPECT_TRUE(MustParse("0Gi").IsZero());
  EXPECT_FALSE(MustParse("1n").IsZero());
}

}  // namespace
}  // namespace bursar::values
