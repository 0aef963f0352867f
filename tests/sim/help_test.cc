// Runs the real `bursar` binary: every command prints its usage for --help (and -h) on stdout
// and exits 0, whatever else is on the line.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/sim/run_bursar.h"

namespace {

using bursar::simtest::Bursar;
using bursar::simtest::Output;

struct HelpCase {
  const char* command;   // what follows `bursar`, before --help
  const char* expected;  // a line of the usage that only this command prints
};

class HelpTest : public ::testing::TestWithParam<HelpCase> {};

TEST_P(HelpTest, PrintsTheCommandsUsageAndExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    SCOPED_TRACE(std::string(GetParam().command) + " " + flag);
    Output run = Bursar(std::string(GetParam().command) + " " + flag);
    EXPECT_EQ(run.exit_code, 0);
    EXPECT_NE(run.out.find(GetParam().expected), std::string::npos) << run.out;
  }
}

// Every subcommand: `bursar` itself takes no flags (its first argument names the command).
class SubcommandHelpTest : public HelpTest {};

TEST_P(SubcommandHelpTest, HelpWinsOverAnUnknownFlag) {
  Output run = Bursar(std::string(GetParam().command) + " --no-such-flag x --help");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find(GetParam().expected), std::string::npos) << run.out;
}

const std::vector<HelpCase> kSubcommands = {
    {"run", "--leader-elect"},
    {"report-drift", "bursar report-drift --address HOST:PORT"},
    {"simulate", "--scenario FILE   the scenario to run"},
    {"trace", "bursar trace generate [--seed N]"},
    {"trace generate", "--seed N                  the random seed"},
    {"kubectl", "kubectl bursar status [--kubeconfig FILE]"},
    {"kubectl status", "kubectl bursar status [--kubeconfig FILE]"},
    {"kubectl why", "kubectl bursar why BUDGET"},
    {"kubectl simulate", "--scenario FILE   the scenario to run"},
    {"version", "bursar version   prints the version"},
};

std::vector<HelpCase> EveryCommand() {
  std::vector<HelpCase> all = {{"", "bursar run [--kubeconfig FILE]"}};
  all.insert(all.end(), kSubcommands.begin(), kSubcommands.end());
  return all;
}

INSTANTIATE_TEST_SUITE_P(EveryCommand, HelpTest, ::testing::ValuesIn(EveryCommand()));
INSTANTIATE_TEST_SUITE_P(EverySubcommand, SubcommandHelpTest, ::testing::ValuesIn(kSubcommands));

TEST(HelpTest, UnknownFlagsStillFailWithoutHelp) {
  EXPECT_EQ(Bursar("simulate --no-such-flag").exit_code, 2);
  EXPECT_EQ(Bursar("trace generate --no-such-flag").exit_code, 2);
  EXPECT_EQ(Bursar("trace").exit_code, 2);
}

}  // namespace
