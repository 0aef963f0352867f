// Tests for runtime::Logger: exact JSON and text lines on a simulated clock, escaping of every
// kind of string, level filtering, renamed reserved keys, and whole lines when four threads log
// at once through a sink that would tear lines without the logger's lock.

#include "operator/runtime/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/runtime/clock.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::runtime {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

absl::Time At(int hour, int minute, int second, int millis) {
  return absl::FromCivil(absl::CivilSecond(2026, 11, 27, hour, minute, second),
                         absl::UTCTimeZone()) +
         absl::Milliseconds(millis);
}

// A logger on a simulated clock whose lines land in `lines`.
class LogTest : public ::testing::Test {
 protected:
  Logger Make(LogFormat format, LogLevel level = LogLevel::kDebug) {
    return Logger(clock_, level, format,
                  [this](std::string_view line) { lines_.emplace_back(line); });
  }

  SimulatedClock clock_{At(10, 0, 0, 123)};
  std::vector<std::string> lines_;
};

TEST_F(LogTest, JsonLineHasTsLevelMsgThenFieldsInCallOrder) {
  Logger log = Make(LogFormat::kJson);
  std::string budget = "vision";
  log.Info("budget paced", {{"budget", budget},
                            {"gpus", int64_t{3}},
                            {"ok", true},
                            {"spent", 12.5},
                            {"pool", std::string_view("a100")}});
  clock_.Advance(absl::Milliseconds(1877));
  log.Error("lost lease");
  EXPECT_THAT(
      lines_,
      ElementsAre(R"({"ts":"2026-11-27T10:00:00.123Z","level":"info","msg":"budget paced",)"
                  R"("budget":"vision","gpus":3,"ok":true,"spent":12.5,"pool":"a100"})",
                  R"({"ts":"2026-11-27T10:00:02.000Z","level":"error","msg":"lost lease"})"));
}

TEST_F(LogTest, TextLineAlignsLevelsAndQuotesOnlyWhatNeedsIt) {
  Logger log = Make(LogFormat::kText);
  log.Info("budget paced", {{"budget", "vision"}, {"spent", 12.5}});
  log.Warn("job held", {{"job", "train resnet"}, {"reason", ""}, {"expr", "a=b"}, {"n", -4}});
  log.Debug("tick");
  log.Error("write failed", {{"retry", false}});
  EXPECT_THAT(lines_,
              ElementsAre("2026-11-27T10:00:00.123Z INFO  budget paced budget=vision spent=12.5",
                          R"(2026-11-27T10:00:00.123Z WARN  job held job="train resnet" reason="" )"
                          R"(expr="a=b" n=-4)",
                          "2026-11-27T10:00:00.123Z DEBUG tick",
                          "2026-11-27T10:00:00.123Z ERROR write failed retry=false"));
}

TEST_F(LogTest, JsonEscapesQuotesBackslashesAndControlCharacters) {
  Logger log = Make(LogFormat::kJson);
  log.Info("line one\nline \"two\"\t\\", {{"raw", std::string("nul\0bell\x07", 9)}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0], R"({"ts":"2026-11-27T10:00:00.123Z","level":"info",)"
                       R"("msg":"line one\nline \"two\"\t\\","raw":"nul\u0000bell\u0007"})");
  absl::StatusOr<json::Value> v = json::Parse(lines_[0]);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(FieldOrFail(*v, "msg").string_value(), "line one\nline \"two\"\t\\");
  EXPECT_EQ(FieldOrFail(*v, "raw").string_value(), std::string("nul\0bell\x07", 9));
}

TEST_F(LogTest, InvalidUtf8BecomesReplacementCharacters) {
  Logger log = Make(LogFormat::kJson);
  // A stray continuation byte, a truncated 3-byte sequence, an overlong '/', a surrogate and a
  // code point above U+10FFFF; valid multi-byte text (é, €, 𝄞) passes through.
  log.Info("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e", {{"bad",
                                                          "a\x80"
                                                          "b\xe2\x82"
                                                          "c\xc0\xaf"
                                                          "d\xed\xa0\x80"
                                                          "e\xf4\x90\x80\x80"},
                                                         {"key\xff", 1}});
  ASSERT_EQ(lines_.size(), 1u);
  absl::StatusOr<json::Value> v = json::Parse(lines_[0]);
  ASSERT_TRUE(v.ok()) << v.status() << "\n" << lines_[0];
  EXPECT_EQ(FieldOrFail(*v, "msg").string_value(), "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e");
  const std::string r = "\xef\xbf\xbd";
  // Each maximal ill-formed subpart is one U+FFFD: E2 82 together, C0 and AF apart.
  EXPECT_EQ(FieldOrFail(*v, "bad").string_value(),
            absl::StrCat("a", r, "b", r, "c", r, r, "d", r, r, r, "e", r, r, r, r));
  EXPECT_NE(v->Find(absl::StrCat("key", r)), nullptr) << lines_[0];
}

TEST_F(LogTest, TextEscapesControlCharactersSoARecordStaysOnOneLine) {
  Logger log = Make(LogFormat::kText);
  log.Info("two\nlines\x01", {{"path", "C:\\tmp"},
                              {"say", "he said \"hi\"\nthen left"},
                              {"bad key", "x"},
                              {"bytes", "\xff"}});
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0],
            "2026-11-27T10:00:00.123Z INFO  two\\nlines\\u0001 path=C:\\tmp "
            "say=\"he said \\\"hi\\\"\\nthen left\" bad_key=x bytes=\xef\xbf\xbd");
}

TEST_F(LogTest, DoublesAreShortestRoundTripAndNonFiniteAreStrings) {
  Logger json_log = Make(LogFormat::kJson);
  json_log.Info("d", {{"a", 0.1},
                      {"b", 1e300},
                      {"c", 2.0},
                      {"nan", std::nan("")},
                      {"inf", std::numeric_limits<double>::infinity()},
                      {"ninf", -std::numeric_limits<double>::infinity()}});
  Logger text_log = Make(LogFormat::kText);
  text_log.Info("d", {{"a", 1.0 / 3}, {"nan", std::nan("")}, {"ninf", -HUGE_VAL}});
  ASSERT_EQ(lines_.size(), 2u);
  EXPECT_THAT(lines_[0], HasSubstr(R"("a":0.1,"b":1e+300,"c":2,"nan":"NaN","inf":"+Inf",)"
                                   R"("ninf":"-Inf"})"));
  EXPECT_EQ(lines_[1], "2026-11-27T10:00:00.123Z INFO  d a=0.3333333333333333 nan=NaN ninf=-Inf");
  absl::StatusOr<json::Value> v = json::Parse(lines_[0]);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(FieldOrFail(*v, "a").number_value(), 0.1);
}

TEST_F(LogTest, EveryIntegerTypeStringTypeAndBoolMapsToItsAlternative) {
  std::string s = "str";
  std::string_view sv = "view";
  LogField fields[] = {{"a", "lit"},        {"b", s},
                       {"c", sv},           {"d", 7},
                       {"e", int64_t{-8}},  {"f", size_t{9}},
                       {"g", uint32_t{10}}, {"h", 1.5},
                       {"i", true},         {"j", std::string("tmp")}};
  EXPECT_EQ(std::get<std::string>(fields[0].value), "lit");
  EXPECT_EQ(std::get<std::string>(fields[1].value), "str");
  EXPECT_EQ(std::get<std::string>(fields[2].value), "view");
  EXPECT_EQ(std::get<int64_t>(fields[3].value), 7);
  EXPECT_EQ(std::get<int64_t>(fields[4].value), -8);
  EXPECT_EQ(std::get<int64_t>(fields[5].value), 9);
  EXPECT_EQ(std::get<int64_t>(fields[6].value), 10);
  EXPECT_EQ(std::get<double>(fields[7].value), 1.5);
  EXPECT_EQ(std::get<bool>(fields[8].value), true);
  EXPECT_EQ(std::get<std::string>(fields[9].value), "tmp");
}

TEST_F(LogTest, LevelFilteringDropsRecordsBelowTheLevel) {
  Logger log = Make(LogFormat::kText, LogLevel::kWarn);
  EXPECT_FALSE(log.Enabled(LogLevel::kDebug));
  EXPECT_FALSE(log.Enabled(LogLevel::kInfo));
  EXPECT_TRUE(log.Enabled(LogLevel::kWarn));
  EXPECT_TRUE(log.Enabled(LogLevel::kError));
  log.Debug("d");
  log.Info("i");
  log.Warn("w");
  log.Error("e");
  log.SetLevel(LogLevel::kDebug);
  log.Debug("d2");
  log.SetLevel(LogLevel::kError);
  log.Warn("w2");
  log.Log(LogLevel::kError, "e2", std::vector<LogField>{{"n", 1}});
  EXPECT_THAT(
      lines_,
      ElementsAre("2026-11-27T10:00:00.123Z WARN  w", "2026-11-27T10:00:00.123Z ERROR e",
                  "2026-11-27T10:00:00.123Z DEBUG d2", "2026-11-27T10:00:00.123Z ERROR e2 n=1"));
}

TEST_F(LogTest, ReservedKeysAreRenamedInsteadOfColliding) {
  Logger log = Make(LogFormat::kJson);
  log.Warn("real", {{"msg", "fake"}, {"ts", 1}, {"level", "debug"}, {"message", "kept"}});
  Logger text = Make(LogFormat::kText);
  text.Warn("real", {{"msg", "fake"}});
  ASSERT_EQ(lines_.size(), 2u);
  absl::StatusOr<json::Value> v = json::Parse(lines_[0]);
  ASSERT_TRUE(v.ok()) << v.status();
  std::vector<std::string> keys;
  for (const auto& [k, unused] : v->members()) {
    keys.push_back(k);
  }
  EXPECT_THAT(keys,
              ElementsAre("ts", "level", "msg", "field.msg", "field.ts", "field.level", "message"));
  EXPECT_EQ(FieldOrFail(*v, "msg").string_value(), "real");
  EXPECT_EQ(FieldOrFail(*v, "level").string_value(), "warn");
  EXPECT_EQ(FieldOrFail(*v, "field.msg").string_value(), "fake");
  EXPECT_EQ(lines_[1], "2026-11-27T10:00:00.123Z WARN  real field.msg=fake");
}

TEST(LogConcurrencyTest, FourThreadsWriteWholeParseableLines) {
  SimulatedClock clock;
  // Appends one byte at a time and yields in between: without the logger's lock, lines from
  // different threads would interleave (and the string would race).
  std::string out;
  Logger log(clock, LogLevel::kInfo, LogFormat::kJson, [&out](std::string_view line) {
    for (char c : line) {
      out.push_back(c);
      if (c == ',') {
        std::this_thread::yield();
      }
    }
    out.push_back('\n');
  });
  constexpr int kThreads = 4;
  constexpr int kPerThread = 300;
  constexpr size_t kTotal = size_t{kThreads} * kPerThread;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&log, t] {
      for (int i = 0; i < kPerThread; ++i) {
        log.Info("tick", {{"thread", t}, {"i", i}, {"note", "a \"quoted\" value"}});
      }
    });
  }
  for (std::thread& th : threads) {
    th.join();
  }
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), kTotal);
  std::set<std::pair<int64_t, int64_t>> seen;
  for (const std::string& line : lines) {
    absl::StatusOr<json::Value> v = json::Parse(line);
    ASSERT_TRUE(v.ok()) << v.status() << "\n" << line;
    ASSERT_EQ(v->members().size(), 6u) << line;
    EXPECT_EQ(FieldOrFail(*v, "note").string_value(), "a \"quoted\" value");
    seen.emplace(FieldOrFail(*v, "thread").int_value(), FieldOrFail(*v, "i").int_value());
  }
  EXPECT_EQ(seen.size(), kTotal);  // every record exactly once
}

TEST(LogSinkTest, DefaultSinkWritesTheLineAndANewlineToStderr) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(fds[1], STDERR_FILENO), 0);
  {
    SimulatedClock clock(At(10, 0, 0, 5));
    Logger log(clock, LogLevel::kInfo, LogFormat::kText);
    log.Info("to stderr", {{"n", 1}});
  }
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);
  std::string got;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) {
    got.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  EXPECT_EQ(got, "2026-11-27T10:00:00.005Z INFO  to stderr n=1\n");
}

TEST(LogParseTest, LevelsAndFormatsParseTheirNamesOnly) {
  EXPECT_EQ(*ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*ParseLogLevel("info"), LogLevel::kInfo);
  EXPECT_EQ(*ParseLogLevel("warn"), LogLevel::kWarn);
  EXPECT_EQ(*ParseLogLevel("error"), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("INFO").status().message(),
            "\"INFO\" is not one of debug, info, warn, error");
  EXPECT_FALSE(ParseLogLevel("warning").ok());
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(ParseLogFormat("logfmt").status().message(), "\"logfmt\" is not one of json, text");
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    EXPECT_EQ(*ParseLogLevel(LogLevelName(l)), l);
  }
  for (LogFormat f : {LogFormat::kJson, LogFormat::kText}) {
    EXPECT_EQ(*ParseLogFormat(LogFormatName(f)), f);
  }
}

}  // namespace
}  // namespace bursar::runtime
