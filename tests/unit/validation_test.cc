#include "controllers/values/validation.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace bursar::values {
namespace {

struct NameCase {
  std::string name;
  bool valid;
};

TEST(ValidationTest, Dns1123Labels) {
  const std::vector<NameCase> cases = {
      {"a", true},     {"team-a", true},  {"0abc9", true},   {std::string(63, 'a'), true},
      {"", false},     {"-a", false},     {"a-", false},     {std::string(64, 'a'), false},
      {"Team", false}, {"team_a", false}, {"team.a", false}, {"tëam", false},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsDns1123Label(c.name), c.valid) << c.name;
    EXPECT_EQ(ValidateDns1123Label(c.name).ok(), c.valid) << c.name;
  }
  // The pattern alone has no length limit.
  EXPECT_TRUE(IsDnsLabelPattern(std::string(64, 'a')));
}

TEST(ValidationTest, Dns1123Subdomains) {
  const std::string label63(63, 'a');
  const std::string long253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(long253.size(), 253u);
  const std::vector<NameCase> cases = {
      {"bursar", true},       {"bursar.dev", true}, {"a.b-c.d0", true}, {long253, true},
      {long253 + "c", false}, {"", false},          {".a", false},      {"a.", false},
      {"a..b", false},        {"A.b", false},       {"a_b.c", false},   {"-a.b", false},
  };
  for (const NameCase& c : cases) {
    EXPECT_EQ(IsDns1123Subdomain(c.name), c.valid) << c.name;
    EXPECT_EQ(ValidateDns1123Subdomain(c.name).ok(), c.valid) << c.name;
  }
  EXPECT_TRUE(IsDnsSubdomainPattern(long253 + "c"));
}

TEST(ValidationTest, QualifiedNamesAndLabelValues) {
  const std::vector<NameCase> keys = {
      {"app", true},
      {"app.kubernetes.io/name", true},
      {"bursar.dev/budget", true},
      {"A_b.c-D", true},
      {std::string(63, 'x'), true},
      {std::string(64, 'x'), false},
      {"", false},
      {"/name", false},
      {"Bursar.dev/budget", false},
      {"bursar.dev/", false},
      {"-app", false},
      {"app_", false},
      {"a/b/c", false},
  };
  for (const NameCase& c : keys) {
    EXPECT_EQ(IsQualifiedName(c.name), c.valid) << c.name;
    EXPECT_EQ(ValidateQualifiedName(c.name).ok(), c.valid) << c.name;
  }
  const std::vector<NameCase> label_values = {
      {"", true},    {"v1", true},  {"a.b_c-D", true}, {std::string(63, 'v'), true},
      {"-v", false}, {"v ", false}, {"a/b", false},    {std::string(64, 'v'), false},
  };
  for (const NameCase& c : label_values) {
    EXPECT_EQ(IsLabelValue(c.name), c.valid) << c.name;
    EXPECT_EQ(ValidateLabelValue(c.name).ok(), c.valid) << c.name;
  }
}

TEST(ValidationTest, MessagesSayWhatAValidValueLooksLike) {
  absl::Status label = ValidateDns1123Label("Team_A");
  EXPECT_EQ(label.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(label.message(),
            "is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', starting "
            "and ending with a letter or digit)");
  EXPECT_EQ(ValidateDns1123Subdomain("a..b").message(),
            "is not a DNS-1123 subdomain (at most 253 lower-case letters, digits, '-' and '.', "
            "starting and ending with a letter or digit)");
  EXPECT_EQ(ValidateQualifiedName("-x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateLabelValue("-x").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace bursar::values
