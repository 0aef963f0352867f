// Tests for engine::JobLengths (what a budget learns about how long its work runs) and
// engine::GpuHourPrice (which pool's price converts money into GPUs).

#include "controllers/engine/job_lengths.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/engine/budget_step.h"

namespace bursar::engine {
namespace {

TEST(JobLengths, NothingLearnedMeansAllWorkOutlivesThePeriod) {
  JobLengths lengths;
  EXPECT_EQ(lengths.FractionLongerThan(absl::Hours(1000)), 1.0);
}

TEST(JobLengths, TheShareLongerThanTheTimeLeftIsWeightedByGpus) {
  JobLengths lengths;
  lengths.Add(absl::Hours(1), 1);
  lengths.Add(absl::Hours(5), 3);
  lengths.Add(absl::Minutes(30), 0);  // CPU-only: weighs one
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Hours(2)), 3.0 / 5.0);
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Minutes(45)), 4.0 / 5.0);
  EXPECT_DOUBLE_EQ(lengths.FractionLongerThan(absl::Hours(5)), 0.0);  // not longer: equal
}

TEST(JobLengths, TypicalIsTheModelsMeanOnceThreeOfItsJobsAreKnownElseEveryJobs) {
  JobLengths lengths;
  EXPECT_EQ(lengths.Typical("resnet50"), std::nullopt);  // nothing known
  lengths.Add(absl::Hours(1), 1, "resnet50");
  lengths.Add(absl::Hours(3), 1, "resnet50");
  EXPECT_EQ(lengths.Typical("resnet50"), std::nullopt);  // two Jobs: not enough of anything
  lengths.Add(absl::Hours(8), 4, "bert-base");
  // Two of its own are too few: every Job's mean, (1 + 3 + 8) / 3 h.
  EXPECT_EQ(lengths.Typical("resnet50"), absl::Hours(4));
  lengths.Add(absl::Hours(2), 1, "resnet50");
  EXPECT_EQ(lengths.Typical("resnet50"), absl::Hours(2));     // (1 + 3 + 2) / 3 h
  EXPECT_EQ(lengths.Typical("bert-base"), absl::Hours(3.5));  // one of its own: every Job's
  EXPECT_EQ(lengths.Typical(""), absl::Hours(3.5));           // no model: every Job's
}

TEST(JobLengths, ModelNamesAreBoundedAndReusedOnceForgotten) {
  JobLengths lengths;
  for (size_t i = 0; i < JobLengths::kMaxModels + 1; ++i) {
    lengths.Add(absl::Hours(1), 1, absl::StrCat("m", i));
  }
  // The 17th model has no name slot: its Jobs count only in every Job's mean.
  for (int i = 0; i < 3; ++i) {
    lengths.Add(absl::Hours(10), 1, "late");
  }
  EXPECT_NE(lengths.Typical("late"), absl::Hours(10));
  // Once every Job of m0..m15 is forgotten, their names are free again.
  for (size_t i = 0; i < JobLengths::kCapacity; ++i) {
    lengths.Add(absl::Hours(5), 1, "");
  }
  for (int i = 0; i < 3; ++i) {
    lengths.Add(absl::Hours(10), 1, "late");
  }
  EXPECT_EQ(lengths.Typical("late"), absl::Hours(10));
  EXPECT_NE(lengths.Typical("m3"), absl::Hours(1));  // forgotten: every Job's mean
}

TEST(JobLengths, EncodeDecodeRoundTripsWithinTheStatedBound) {
  JobLengths lengths;
  const absl::Time end = absl::FromUnixSeconds(1793577600);
  lengths.Add(absl::Minutes(90), 2, "resnet50", end);
  lengths.Add(absl::Hours(7), 0, "", end - absl::Hours(1));
  lengths.Add(absl::Hours(2), 8, "bert-base", end + absl::Minutes(5));
  const std::string text = lengths.Encode();
  EXPECT_EQ(text,
            "v1;until=1793577900;models=resnet50,bert-base;samples=5400x2/0 25200x1 7200x8/1");
  absl::StatusOr<JobLengths> back = JobLengths::Decode(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, lengths);
  EXPECT_EQ(back->learned_until(), end + absl::Minutes(5));
  EXPECT_EQ(back->Typical("x"), lengths.Typical("x"));
  EXPECT_DOUBLE_EQ(back->FractionLongerThan(absl::Hours(3)),
                   lengths.FractionLongerThan(absl::Hours(3)));

  // The worst case: every sample as long and wide as allowed, every model name 63 characters,
  // after the ring wrapped around (the oldest sample is still written first).
  JobLengths full;
  for (size_t i = 0; i < JobLengths::kCapacity + 7; ++i) {
    full.Add(absl::Hours(24 * 400), 200000,
             absl::StrCat(std::string(60, 'm'), i % JobLengths::kMaxModels + 100), end);
  }
  const std::string most = full.Encode();
  EXPECT_LE(most.size(), JobLengths::kMaxEncodedBytes);
  absl::StatusOr<JobLengths> full_back = JobLengths::Decode(most);
  ASSERT_TRUE(full_back.ok()) << full_back.status();
  EXPECT_EQ(*full_back, full);
  EXPECT_EQ(JobLengths::Decode(JobLengths().Encode())->size(), 0u);
}

TEST(JobLengths, ACorruptValueIsRefusedWithAReason) {
  const std::pair<std::string, std::string> cases[] = {
      {"", "expected \"v1;"},
      {"v2;until=0;models=;samples=", "expected \"v1;"},
      {"v1;until=x;models=;samples=", "until: \"x\" is not a Unix time"},
      {"v1;until=0;modls=;samples=", "expected \"models=\""},
      {"v1;until=0;models=Bad Name;samples=", "\"Bad Name\" is not a label value"},
      {"v1;until=0;models=a,,b;samples=", "\"\" is not a label value"},
      {"v1;until=0;models=a;samples=60x1/1", "\"60x1/1\" is not"},  // no model 1
      {"v1;until=0;models=a;samples=60x0", "\"60x0\" is not"},      // weighs nothing
      {"v1;until=0;models=a;samples=-5x1", "\"-5x1\" is not"},
      {"v1;until=0;models=a;samples=60x1  60x1", "\"\" is not"},
      {"v1;until=0;models=a;samples=99999999999999999999x1", "is not"},
      {"v1;until=0;models=;samples=" + std::string(7000, '1'), "more than 6144"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<JobLengths> decoded = JobLengths::Decode(text);
    ASSERT_FALSE(decoded.ok()) << text;
    EXPECT_NE(decoded.status().message().find("jobLengths: "), std::string::npos);
    EXPECT_NE(decoded.status().message().find(why), std::string::npos)
        << text << " -> " << decoded.status().message();
  }
  std::string many = "v1;until=0;models=;samples=60x1";
  for (size_t i = 0; i < JobLengths::kCapacity; ++i) {
    many += " 60x1";
  }
  EXPECT_FALSE(JobLengths::Decode(many).ok());  // 257 samples
}

TEST(JobLengths, OnlyTheLastJobsCount) {
  JobLengths lengths;
  lengths.Add(absl::Hours(100), 8);
  for (size_t i = 0; i < JobLengths::kCapacity; ++i) {
    lengths.Add(absl::Hours(1), 1);
  }
  EXPECT_EQ(lengths.size(), JobLengths::kCapacity);
  EXPECT_EQ(lengths.FractionLongerThan(absl::Hours(2)), 0.0);  // the 100 h Job is forgotten
}

values::Money M(int64_t units) {
  return values::Money::FromUnits(units);
}

TEST(GpuHourPrice, TheCheapestPoolWithRoomConvertsTheMoney) {
  std::vector<PoolPrice> pools = {{.gpu_hour = M(10), .has_room = false},
                                  {.gpu_hour = M(6), .has_room = true},
                                  {.gpu_hour = M(4), .has_room = true}};
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(4));
  pools[2].has_room = false;
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(6));
  pools[1].has_room = false;
  EXPECT_EQ(GpuHourPrice(pools, {}, M(1)), M(10));  // all full: the dearest, never too cheap
}

TEST(GpuHourPrice, WithoutPoolPricesWhatRunsButNeverBelowThePriceBookDefault) {
  BudgetBurn burn;
  burn.regular_rate = M(12);
  burn.regular_gpus = 4;
  EXPECT_EQ(GpuHourPrice({}, burn, M(1)), M(3));
  EXPECT_EQ(GpuHourPrice({}, {}, M(1)), M(1));
  // Never below the default: running on cheap spot GPUs does not make the allowance jump.
  EXPECT_EQ(GpuHourPrice({}, burn, M(5)), M(5));
}

}  // namespace
}  // namespace bursar::engine
