#include "operator/cmd/args.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace bursar::cmd {
namespace {

TEST(AsksForHelpTest, HelpOrHAnywhereBeforeADoubleDash) {
  EXPECT_TRUE(AsksForHelp({"--help"}));
  EXPECT_TRUE(AsksForHelp({"-h"}));
  EXPECT_TRUE(AsksForHelp({"--scenario", "x.yaml", "--help"}));
  EXPECT_TRUE(AsksForHelp({"--no-such-flag", "--help"}));
}

TEST(AsksForHelpTest, NotWithoutItNorAfterADoubleDashNorAsAPrefix) {
  EXPECT_FALSE(AsksForHelp({}));
  EXPECT_FALSE(AsksForHelp({"--scenario", "x.yaml"}));
  EXPECT_FALSE(AsksForHelp({"--", "--help"}));
  EXPECT_FALSE(AsksForHelp({"--helpful"}));
  EXPECT_FALSE(AsksForHelp({"--help=yes"}));
}

TEST(ArgsTest, HelpIsAnUnknownFlagToTheParserItself) {
  // Commands must ask AsksForHelp() first: the parser reports --help like any unknown flag.
  absl::StatusOr<Args> parsed = Args::Parse({"--help"}, {"scenario"});
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(), "--help: unknown flag");
}

}  // namespace
}  // namespace bursar::cmd
