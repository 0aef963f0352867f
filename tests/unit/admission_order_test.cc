// Tests for engine/admission_order.h: which waiting Job starts first.

#include "controllers/engine/admission_order.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace bursar::engine {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1793577600);

TEST(AdmissionOrder, HigherPriorityFirstWhateverTheWorkOrWait) {
  AdmissionRank urgent_long = AdmissionRankOf(100, kT0 + absl::Hours(50), absl::Hours(20), 8);
  AdmissionRank old_short = AdmissionRankOf(0, kT0, absl::Minutes(5), 1);
  EXPECT_LT(urgent_long, old_short);
}

TEST(AdmissionOrder, LessExpectedWorkFirstWithinAPriority) {
  AdmissionRank two_hours = AdmissionRankOf(0, kT0, absl::Hours(2), 1);
  AdmissionRank ten_minutes_later = AdmissionRankOf(0, kT0 + absl::Hours(1), absl::Minutes(10), 1);
  EXPECT_LT(ten_minutes_later, two_hours);  // due 1h40m after kT0, against 8 h
  // Work is length x GPUs: 1 h on 4 GPUs is more than 2 h on one (CPU-only counts as one).
  EXPECT_GT(AdmissionRankOf(0, kT0, absl::Hours(1), 4), two_hours);
  EXPECT_EQ(AdmissionRankOf(0, kT0, absl::Hours(2), 0), two_hours);
}

TEST(AdmissionOrder, WaitingAgesAJobSoLaterSmallWorkStopsPassingIt) {
  // A Job of the most ranked work is due kLengthWeight x kLongestRanked after it was queued;
  // a Job of no work queued after that never passes it.
  AdmissionRank most = AdmissionRankOf(0, kT0, absl::Hours(1000), 32);
  EXPECT_EQ(most.due, kT0 + kLengthWeight * kLongestRanked);
  EXPECT_EQ(AdmissionRankOf(0, kT0, absl::Hours(1000), 1 << 30), most);  // no overflow
  EXPECT_LT(AdmissionRankOf(0, most.due - absl::Seconds(1), absl::ZeroDuration(), 1), most);
  EXPECT_GT(AdmissionRankOf(0, most.due + absl::Seconds(1), absl::ZeroDuration(), 1), most);
}

TEST(AdmissionOrder, UnknownLengthRanksAsTheMostWorkSoEqualsFifoAmongUnknowns) {
  EXPECT_EQ(AdmissionRankOf(0, kT0, std::nullopt, 1), AdmissionRankOf(0, kT0, absl::Hours(99), 1));
  EXPECT_LT(AdmissionRankOf(0, kT0, std::nullopt, 2),
            AdmissionRankOf(0, kT0 + absl::Seconds(1), std::nullopt, 1));
  // Equal due times: the earlier queued first.
  EXPECT_LT(AdmissionRankOf(0, kT0 - absl::Hours(4), absl::Hours(2), 1),
            AdmissionRankOf(0, kT0, absl::Hours(1), 1));
}

TEST(AdmissionOrder, ExpectedLengthIsDeclaredThenDeadlineThenLearned) {
  JobLengths learned;
  for (int i = 0; i < 3; ++i) {
    learned.Add(absl::Hours(6), 1, "bert-base");
  }
  EXPECT_EQ(ExpectedLength({}, JobLengths(), "bert-base"), std::nullopt);
  // Learned: 6 h, rounded down to a power of two of minutes (256 min).
  EXPECT_EQ(ExpectedLength({}, learned, "bert-base"), absl::Minutes(256));
  EXPECT_EQ(ExpectedLength({.expected = std::nullopt, .active_deadline = absl::Hours(9)}, learned,
                           "bert-base"),
            absl::Hours(9));
  EXPECT_EQ(ExpectedLength({.expected = absl::Hours(2), .active_deadline = std::nullopt}, learned,
                           "bert-base"),
            absl::Hours(2));
  // Both declared: the shorter, since the deadline ends the Job anyway.
  EXPECT_EQ(ExpectedLength({.expected = absl::Hours(12), .active_deadline = absl::Hours(3)},
                           learned, "bert-base"),
            absl::Hours(3));
}

TEST(AdmissionOrder, LearnedLengthsAreRoundedDownToAPowerOfTwoOfMinutes) {
  for (const auto& [mean, rounded] : std::vector<std::pair<absl::Duration, absl::Duration>>{
           {absl::Seconds(20), absl::Minutes(1)},
           {absl::Minutes(1), absl::Minutes(1)},
           {absl::Minutes(63), absl::Minutes(32)},
           {absl::Minutes(64), absl::Minutes(64)},
           {absl::Hours(30), absl::Minutes(1024)}}) {
    JobLengths learned;
    for (int i = 0; i < 3; ++i) {
      learned.Add(mean, 1, "m");
    }
    EXPECT_EQ(LearnedLength(learned, "m"), rounded) << mean;
  }
  EXPECT_EQ(LearnedLength(JobLengths(), "m"), std::nullopt);
}

TEST(AdmissionOrder, ATableOfJobsSortsAsTheRuleSays) {
  struct Waiting {
    std::string name;
    int priority;
    absl::Duration queued;
    std::optional<absl::Duration> length;
    int64_t gpus;
  };
  std::vector<Waiting> jobs = {
      {"sweep", 0, absl::Hours(0), absl::Hours(12), 1},      // due 48 h
      {"unknown", 0, absl::Hours(1), std::nullopt, 1},       // due 289 h
      {"eval", 0, absl::Hours(3), absl::Minutes(15), 2},     // due 5 h
      {"urgent", 10, absl::Hours(5), absl::Hours(20), 8},    // priority first
      {"train", 0, absl::Hours(2), absl::Hours(6), 1},       // due 26 h
      {"wide", 0, absl::Hours(1), absl::Hours(6), 4},        // due 97 h
      {"late-eval", 0, absl::Hours(50), absl::Hours(1), 1},  // due 54 h: after the sweep
  };
  std::sort(jobs.begin(), jobs.end(), [](const Waiting& a, const Waiting& b) {
    return AdmissionRankOf(a.priority, kT0 + a.queued, a.length, a.gpus) <
           AdmissionRankOf(b.priority, kT0 + b.queued, b.length, b.gpus);
  });
  std::vector<std::string> order;
  for (const Waiting& w : jobs) {
    order.push_back(w.name);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "eval", "train", "sweep", "late-eval",
                                             "wide", "unknown"}));
}

}  // namespace
}  // namespace bursar::engine
