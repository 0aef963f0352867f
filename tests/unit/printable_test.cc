// Tests for values::EscapeControlBytes: what a message may show of user input.

#include "controllers/values/printable.h"

#include <gtest/gtest.h>

#include <string>

namespace bursar::values {
namespace {

TEST(EscapeControlBytes, WritesControlBytesAsHexButKeepsNewlinesAndUtf8) {
  EXPECT_EQ(EscapeControlBytes("bell\a tab\t cr\r del\x7f nul"),
            "bell\\x07 tab\\x09 cr\\x0d del\\x7f nul");
  EXPECT_EQ(EscapeControlBytes(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeControlBytes("two\nlines"), "two\nlines");
  EXPECT_EQ(EscapeControlBytes("5 \xc2\xb5s"), "5 \xc2\xb5s");  // "µs" is not a control byte
}

}  // namespace
}  // namespace bursar::values
