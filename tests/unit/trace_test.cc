#include "controllers/sim/trace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "controllers/sim/trace_generator.h"

namespace bursar::sim {
namespace {

using ::testing::HasSubstr;

constexpr char kHeader[] = "submit_time_s,duration_s,gpus,namespace,priority,model,purpose\n";

// A fluent builder for expected jobs.
class Job {
 public:
  Job(int64_t submit, int64_t duration, int gpus, std::string ns) {
    job_.submit_time_s = submit;
    job_.duration_s = duration;
    job_.gpus = gpus;
    job_.ns = std::move(ns);
  }
  Job& Priority(int p) {
    job_.priority = p;
    return *this;
  }
  Job& Model(std::string m) {
    job_.model = std::move(m);
    return *this;
  }
  Job& Purpose(std::string p) {
    job_.purpose = std::move(p);
    return *this;
  }
  Job& Line(int l) {
    job_.line = l;
    return *this;
  }
  Job& Declares(int64_t seconds) {
    job_.expected_duration_s = seconds;
    return *this;
  }
  operator TraceJob() const { return job_; }  // NOLINT(google-explicit-constructor)

 private:
  TraceJob job_;
};

struct ParseCase {
  std::string name;
  std::string text;
  std::vector<TraceJob> want;
};

void PrintTo(const ParseCase& c, std::ostream* os) {
  *os << c.name;
}

class TraceParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(TraceParseTest, ParsesJobs) {
  const ParseCase& c = GetParam();
  absl::StatusOr<std::vector<TraceJob>> got = ParseTraceCsv(c.text, "t.csv");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    TraceCsv, TraceParseTest,
    ::testing::Values(
        ParseCase{"HeaderOnly", kHeader, {}},
        ParseCase{"HeaderWithoutNewline",
                  "submit_time_s,duration_s,gpus,namespace,priority,model,purpose",
                  {}},
        ParseCase{
            "OneRow",
            std::string(kHeader) + "0,900,1,vision,2,resnet50,train\n",
            {Job(0, 900, 1, "vision").Priority(2).Model("resnet50").Purpose("train").Line(2)}},
        ParseCase{"LastRowWithoutNewline",
                  std::string(kHeader) + "5,60,0,nlp,0,,",
                  {Job(5, 60, 0, "nlp").Line(2)}},
        ParseCase{"ColumnsInAnyOrder",
                  "purpose,model,priority,namespace,gpus,duration_s,submit_time_s\n"
                  "retrain,bert,1,nlp,4,3600,7\n",
                  {Job(7, 3600, 4, "nlp").Priority(1).Model("bert").Purpose("retrain").Line(2)}},
        ParseCase{
            "CommentsAndBlankLinesKeepLineNumbers",
            "# a trace\n\n" + std::string(kHeader) + "  # indented comment\n\n   \n1,2,3,a,0,,\n",
            {Job(1, 2, 3, "a").Line(7)}},
        ParseCase{"Crlf",
                  "submit_time_s,duration_s,gpus,namespace,priority,model,purpose\r\n"
                  "1,2,3,a,-1,m,p\r\n\r\n",
                  {Job(1, 2, 3, "a").Priority(-1).Model("m").Purpose("p").Line(2)}},
        ParseCase{"ByteOrderMark",
                  "\xEF\xBB\xBF" + std::string(kHeader) + "1,2,3,a,0,,\n",
                  {Job(1, 2, 3, "a").Line(2)}},
        ParseCase{"BlanksAroundFieldsAreTrimmed",
                  " submit_time_s , duration_s,gpus,namespace,priority,model,purpose\n"
                  "  10 ,\t20, 1 , vision , 0 , vit b16 , train \n",
                  {Job(10, 20, 1, "vision").Model("vit b16").Purpose("train").Line(2)}},
        ParseCase{
            "QuotedFields",
            std::string(kHeader) + "\"1\",\"2\",\"3\",\"a\",\"0\",\"m,1 \"\"big\"\"\", \" x \" \n",
            {Job(1, 2, 3, "a").Model("m,1 \"big\"").Purpose(" x ").Line(2)}},
        ParseCase{"QuotedFieldAcrossLines",
                  std::string(kHeader) + "1,2,3,a,0,\"two\nlines\",\n4,5,6,b,0,,\n",
                  {Job(1, 2, 3, "a").Model("two\nlines").Line(2), Job(4, 5, 6, "b").Line(4)}},
        ParseCase{"SortedStablyBySubmitTime",
                  std::string(kHeader) + "30,1,1,c,0,,\n10,1,1,a,0,,\n30,1,1,d,0,,\n10,1,1,b,0,,\n",
                  {Job(10, 1, 1, "a").Line(3), Job(10, 1, 1, "b").Line(5),
                   Job(30, 1, 1, "c").Line(2), Job(30, 1, 1, "d").Line(4)}}),
    [](const ::testing::TestParamInfo<ParseCase>& test) { return test.param.name; });

struct ErrorCase {
  std::string name;
  std::string text;
  std::string want;  // the whole message
};

void PrintTo(const ErrorCase& c, std::ostream* os) {
  *os << c.name;
}

class TraceParseErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(TraceParseErrorTest, NamesFileLineAndColumn) {
  const ErrorCase& c = GetParam();
  absl::StatusOr<std::vector<TraceJob>> got = ParseTraceCsv(c.text, "trace.csv");
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(got.status().message(), c.want);
  EXPECT_EQ(std::string(got.status().message()).find('\n'), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    TraceCsv, TraceParseErrorTest,
    ::testing::Values(
        ErrorCase{"Empty", "",
                  "trace.csv:1: no header line (expected "
                  "submit_time_s,duration_s,gpus,namespace,priority,model,purpose)"},
        ErrorCase{"MissingColumn", "submit_time_s,duration_s,namespace,priority,model,purpose\n",
                  "trace.csv:1: missing column \"gpus\""},
        ErrorCase{"MissingColumns", "# c\nsubmit_time_s,duration_s,namespace,priority\n",
                  "trace.csv:2: missing columns \"gpus\", \"model\", \"purpose\""},
        ErrorCase{"UnknownColumns",
                  "submit_time_s,duration_s,gpus,namespace,priority,model,purpose,user,Team\n",
                  "trace.csv:1: unknown columns \"user\", \"Team\" (expected "
                  "submit_time_s,duration_s,gpus,namespace,priority,model,purpose, optionally "
                  "expected_duration_s and max_cost)"},
        ErrorCase{"DuplicateColumn",
                  "submit_time_s,duration_s,gpus,gpus,namespace,priority,model,purpose\n",
                  "trace.csv:1: duplicate column \"gpus\""},
        ErrorCase{"TooFewFields", std::string(kHeader) + "\n\n1,2,3,a,0,m\n",
                  "trace.csv:4: expected 7 fields, found 6"},
        ErrorCase{"TooManyFields", std::string(kHeader) + "1,2,3,a,0,m,p,q\n",
                  "trace.csv:2: expected 7 fields, found 8"},
        ErrorCase{"DurationNotANumber", std::string(kHeader) + "1,abc,3,a,0,,\n",
                  "trace.csv:2: duration_s: \"abc\" is not a whole number"},
        ErrorCase{"DurationFraction", std::string(kHeader) + "1,1.5,3,a,0,,\n",
                  "trace.csv:2: duration_s: \"1.5\" is not a whole number"},
        ErrorCase{"DurationEmpty", std::string(kHeader) + "1,,3,a,0,,\n",
                  "trace.csv:2: duration_s: \"\" is not a whole number"},
        ErrorCase{"DurationZero", std::string(kHeader) + "1,0,3,a,0,,\n",
                  "trace.csv:2: duration_s: \"0\" must be between 1 second and 100 years"},
        ErrorCase{"SubmitNegative", std::string(kHeader) + "-1,5,3,a,0,,\n",
                  "trace.csv:2: submit_time_s: \"-1\" must be between 0 and 100 years"},
        ErrorCase{"SubmitPlusSign", std::string(kHeader) + "+1,5,3,a,0,,\n",
                  "trace.csv:2: submit_time_s: \"+1\" is not a whole number"},
        ErrorCase{"GpusOutOfRange", std::string(kHeader) + "1,5,99999999999,a,0,,\n",
                  "trace.csv:2: gpus: \"99999999999\" is out of range"},
        ErrorCase{"GpusTooMany", std::string(kHeader) + "1,5,100001,a,0,,\n",
                  "trace.csv:2: gpus: \"100001\" must be between 0 and 100000"},
        ErrorCase{"PriorityNotANumber", std::string(kHeader) + "1,5,1,a,high,,\n",
                  "trace.csv:2: priority: \"high\" is not a whole number"},
        ErrorCase{"NamespaceInvalid", std::string(kHeader) + "1,5,1,Team_A,0,,\n",
                  "trace.csv:2: namespace: \"Team_A\" is not a valid DNS-1123 label"},
        ErrorCase{"NamespaceEmpty", std::string(kHeader) + "1,5,1,,0,,\n",
                  "trace.csv:2: namespace: \"\" is not a valid DNS-1123 label"},
        ErrorCase{"ValueWithNewlineStaysOnOneLine", std::string(kHeader) + "1,\"5\n6\",1,a,0,,\n",
                  "trace.csv:2: duration_s: \"5\\n6\" is not a whole number"},
        ErrorCase{"UnterminatedQuote", std::string(kHeader) + "1,2,3,a,0,\"oops,\n",
                  "trace.csv:2: model: unterminated quoted field"},
        ErrorCase{"TextAfterClosingQuote", std::string(kHeader) + "1,2,3,\"a\"b,0,,\n",
                  "trace.csv:2: namespace: unexpected character \"b\" after closing quote"},
        ErrorCase{"ColumnsFollowHeaderOrder",
                  "gpus,namespace,priority,model,purpose,submit_time_s,duration_s\n"
                  "1,a,0,,,1,x\n",
                  "trace.csv:2: duration_s: \"x\" is not a whole number"}),
    [](const ::testing::TestParamInfo<ErrorCase>& test) { return test.param.name; });

TEST(TraceParseErrorTest, LongValuesAreShortened) {
  const std::string ns(200, 'X');
  absl::StatusOr<std::vector<TraceJob>> got =
      ParseTraceCsv(std::string(kHeader) + "1,2,3," + ns + ",0,,\n", "t.csv");
  ASSERT_FALSE(got.ok());
  EXPECT_LT(got.status().message().size(), 150u);
  EXPECT_THAT(std::string(got.status().message()), HasSubstr("XXX...\""));
}

TEST(TraceFormatTest, WritesCanonicalCsv) {
  const std::vector<TraceJob> jobs = {
      Job(0, 900, 1, "vision").Model("resnet50").Purpose("train"),
      Job(60, 30, 0, "nlp").Priority(-2).Model("a,b").Purpose("say \"hi\""),
  };
  EXPECT_EQ(FormatTraceCsv(jobs), std::string(kHeader) +
                                      "0,900,1,vision,0,resnet50,train\n"
                                      "60,30,0,nlp,-2,\"a,b\",\"say \"\"hi\"\"\"\n");
}

TEST(TraceParseTest, TheOptionalExpectedDurationColumnDeclaresALengthOrNothing) {
  absl::StatusOr<std::vector<TraceJob>> got = ParseTraceCsv(
      "expected_duration_s,submit_time_s,duration_s,gpus,namespace,priority,model,"
      "purpose\n3600,0,4000,1,vision,0,resnet50,\n,10,20,1,vision,0,,\n",
      "t.csv");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, (std::vector<TraceJob>{
                      Job(0, 4000, 1, "vision").Model("resnet50").Declares(3600).Line(2),
                      Job(10, 20, 1, "vision").Line(3)}));
  for (const auto& [value, why] : std::vector<std::pair<std::string, std::string>>{
           {"0",
            "t.csv:2: expected_duration_s: \"0\" must be empty or between 1 second and 100 "
            "years"},
           {"1h", "t.csv:2: expected_duration_s: \"1h\" is not a whole number"}}) {
    absl::StatusOr<std::vector<TraceJob>> bad =
        ParseTraceCsv(std::string("submit_time_s,duration_s,gpus,namespace,priority,model,purpose,"
                                  "expected_duration_s\n1,2,1,a,0,,,") +
                          value + "\n",
                      "t.csv");
    ASSERT_FALSE(bad.ok()) << value;
    EXPECT_EQ(bad.status().message(), why);
  }
}

TEST(TraceParseTest, TheOptionalMaxCostColumnCapsAJobAndRoundTrips) {
  absl::StatusOr<std::vector<TraceJob>> got = ParseTraceCsv(
      "submit_time_s,duration_s,gpus,namespace,priority,model,purpose,max_cost\n"
      "0,4000,1,vision,0,,,2000.50\n10,20,1,vision,0,,,\n",
      "t.csv");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u);
  EXPECT_EQ((*got)[0].max_cost, values::Money::FromMicros(2'000'500'000));
  EXPECT_FALSE((*got)[1].max_cost.has_value());
  EXPECT_EQ(FormatTraceCsv(*got),
            "submit_time_s,duration_s,gpus,namespace,priority,model,purpose,max_cost\n"
            "0,4000,1,vision,0,,,2000.50\n10,20,1,vision,0,,,\n");
  for (const std::string value : {"-1", "lots", "1e3"}) {
    absl::StatusOr<std::vector<TraceJob>> bad = ParseTraceCsv(
        "submit_time_s,duration_s,gpus,namespace,priority,model,purpose,max_cost\n1,2,1,a,0,,," +
            value + "\n",
        "t.csv");
    ASSERT_FALSE(bad.ok()) << value;
    EXPECT_EQ(bad.status().message(), "t.csv:2: max_cost: \"" + value +
                                          "\" must be empty or a non-negative decimal amount");
  }
}

TEST(TraceFormatTest, WritesTheExpectedDurationColumnOnlyWhenAJobDeclaresALength) {
  std::vector<TraceJob> jobs = {Job(0, 900, 1, "vision"), Job(5, 60, 2, "nlp").Declares(120)};
  EXPECT_EQ(FormatTraceCsv(jobs),
            "submit_time_s,duration_s,gpus,namespace,priority,model,purpose,expected_duration_s\n"
            "0,900,1,vision,0,,,\n5,60,2,nlp,0,,,120\n");
  absl::StatusOr<std::vector<TraceJob>> parsed = ParseTraceCsv(FormatTraceCsv(jobs), "rt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (TraceJob& job : *parsed) {
    job.line = 0;
  }
  EXPECT_EQ(*parsed, jobs);
  jobs.pop_back();
  EXPECT_EQ(FormatTraceCsv(jobs), std::string(kHeader) + "0,900,1,vision,0,,\n");
}

TEST(TraceFormatTest, RoundTripsTrickyValues) {
  std::vector<TraceJob> jobs = {
      Job(0, 1, 0, "a").Model("comma,inside").Purpose("\"quoted\""),
      Job(1, 2, 1, "b").Model(" padded ").Purpose("line\nbreak"),
      Job(2, 3, 2, "c").Model("cr\r\nlf").Purpose("#not-a-comment"),
      Job(3, kMaxTraceSeconds, kMaxTraceGpus, "d").Priority(-2147483647 - 1),
      Job(kMaxTraceSeconds, 4, 3, "e").Priority(2147483647),
  };
  absl::StatusOr<std::vector<TraceJob>> parsed = ParseTraceCsv(FormatTraceCsv(jobs), "rt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  for (TraceJob& job : *parsed) {
    job.line = 0;
  }
  EXPECT_EQ(*parsed, jobs);
}

TEST(TraceFormatTest, RoundTripsGeneratedTrace) {
  TraceGeneratorOptions options;
  options.jobs = 2000;
  options.teams = {{"vision", 2, {"resnet50"}}, {"nlp", 1, {"bert", "t5"}}};
  const std::vector<TraceJob> jobs = GenerateTrace(options);
  absl::StatusOr<std::vector<TraceJob>> parsed = ParseTraceCsv(FormatTraceCsv(jobs), "rt");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->size(), jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    EXPECT_EQ((*parsed)[i].line, static_cast<int>(i) + 2);
    (*parsed)[i].line = 0;
  }
  EXPECT_EQ(*parsed, jobs);
}

class TraceFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(TraceFileTest, ReadsFile) {
  const std::string path = (dir_ / "trace.csv").string();
  std::ofstream(path) << kHeader << "5,60,2,nlp,1,bert,retrain\n";
  absl::StatusOr<std::vector<TraceJob>> got = ReadTraceFile(path);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, std::vector<TraceJob>{
                      Job(5, 60, 2, "nlp").Priority(1).Model("bert").Purpose("retrain").Line(2)});
}

TEST_F(TraceFileTest, ErrorsNameThePath) {
  const std::string path = (dir_ / "bad.csv").string();
  std::ofstream(path) << kHeader << "5,60,2,NLP,1,,\n";
  absl::StatusOr<std::vector<TraceJob>> got = ReadTraceFile(path);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().message(), path + ":2: namespace: \"NLP\" is not a valid DNS-1123 label");
}

TEST_F(TraceFileTest, MissingFileIsNotFound) {
  const std::string path = (dir_ / "absent.csv").string();
  absl::StatusOr<std::vector<TraceJob>> got = ReadTraceFile(path);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(got.status().message(), path + ": cannot open: No such file or directory");
}

// The bundled examples must stay valid: `bursar simulate` and the docs use them.
TEST(TraceExamplesTest, ExamplesParse) {
  const std::filesystem::path dir = std::filesystem::path(BURSAR_SOURCE_DIR) / "examples/traces";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".csv") {
      continue;
    }
    ++files;
    absl::StatusOr<std::vector<TraceJob>> got = ReadTraceFile(entry.path().string());
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->empty()) << entry.path();
  }
  EXPECT_GE(files, 2);
}

TEST(TraceExamplesTest, SmokeTraceShape) {
  absl::StatusOr<std::vector<TraceJob>> got =
      ReadTraceFile(std::string(BURSAR_SOURCE_DIR) + "/examples/traces/smoke.csv");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_GE(got->size(), 15u);
  EXPECT_LE(got->size(), 25u);
  int retrain = 0;
  for (const TraceJob& job : *got) {
    EXPECT_TRUE(job.ns == "vision" || job.ns == "nlp") << job.ns;
    EXPECT_LT(job.submit_time_s, 2 * 3600);
    if (job.purpose == "retrain") {
      ++retrain;
      EXPECT_FALSE(job.model.empty());
    }
  }
  EXPECT_GE(retrain, 1);
}

}  // namespace
}  // namespace bursar::sim
