#include "controllers/values/packed_time.h"

#include <gtest/gtest.h>

#include <optional>

namespace bursar::values {
namespace {

TEST(PackedTimeTest, ReadsAsAnOptionalInstantInEightBytes) {
  static_assert(sizeof(PackedTime) == 8);
  PackedTime unset;
  EXPECT_FALSE(unset.has_value());
  EXPECT_FALSE(unset);
  EXPECT_TRUE(unset == std::nullopt);
  EXPECT_EQ(unset.value_or(absl::UnixEpoch()), absl::UnixEpoch());
  EXPECT_THROW((void)unset.value(), std::bad_optional_access);
  EXPECT_EQ(static_cast<std::optional<absl::Time>>(unset), std::nullopt);

  const absl::Time t = absl::FromUnixSeconds(1'800'000'000) + absl::Nanoseconds(7);
  PackedTime set = t;
  ASSERT_TRUE(set.has_value());
  EXPECT_EQ(*set, t);
  EXPECT_EQ(set.value(), t);
  EXPECT_EQ(static_cast<std::optional<absl::Time>>(set), t);
  EXPECT_EQ(set, PackedTime(std::optional<absl::Time>(t)));
  EXPECT_FALSE(set == std::nullopt);
  set.reset();
  EXPECT_EQ(set, unset);
  set = std::nullopt;
  EXPECT_FALSE(set.has_value());
}

TEST(PackedTimeTest, InstantsOutsideItsYearsAreClampedNeverUnset) {
  const PackedTime past = absl::InfinitePast();
  const PackedTime future = absl::InfiniteFuture();
  const PackedTime year_3000 = absl::FromUnixSeconds(32'503'680'000);
  ASSERT_TRUE(past.has_value());
  ASSERT_TRUE(future.has_value());
  EXPECT_LT(*past, absl::FromUnixSeconds(-9'000'000'000));   // before 1685
  EXPECT_GT(*future, absl::FromUnixSeconds(9'000'000'000));  // after 2255
  EXPECT_EQ(*year_3000, *future);
  EXPECT_LT(*past, *future);
}

}  // namespace
}  // namespace bursar::values
