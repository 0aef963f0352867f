// Tests for reconcilers::ClusterQueueQuotaPatch (cluster_queue_quota.h): what Bursar writes into a
// Kueue ClusterQueue with several flavors so that all of them together admit no more than the
// budget's allowance, from the capacities recorded at the first write and what each flavor holds.

#include "controllers/reconcilers/cluster_queue_quota.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/reconcilers/snapshot.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::reconcilers {
namespace {

using ::testing::HasSubstr;
using Writes = std::map<std::string, std::string>;

constexpr char kGpu[] = "nvidia.com/gpu";
constexpr char kOnDemand[] = "/spec/resourceGroups/1/flavors/0/resources/0";
constexpr char kSpot[] = "/spec/resourceGroups/1/flavors/1/resources/0";

// A ClusterQueue with a cpu group and a GPU group of two flavors, on-demand then spot.
struct Queue {
  std::string on_demand = "8", spot = "8";
  std::string cohort;
  std::string annotation;  // bursar.dev/flavor-quotas, when set
  std::string reserved_on_demand, reserved_spot;
  std::string used_spot;
  std::string stop_policy, held_by;

  Queue& Quotas(std::string a, std::string b) {
    on_demand = std::move(a);
    spot = std::move(b);
    return *this;
  }
  Queue& Cohort(std::string c) {
    cohort = std::move(c);
    return *this;
  }
  Queue& Recorded(std::string a) {
    annotation = std::move(a);
    return *this;
  }
  Queue& Reserved(std::string a, std::string b) {
    reserved_on_demand = std::move(a);
    reserved_spot = std::move(b);
    return *this;
  }
  Queue& UsedSpot(std::string b) {
    used_spot = std::move(b);
    return *this;
  }
  Queue& Stopped(std::string policy, std::string by) {
    stop_policy = std::move(policy);
    held_by = std::move(by);
    return *this;
  }

  json::Value Json() const {
    std::string metadata = R"("name":"team-a")";
    std::vector<json::Value::Member> annotations;
    if (!annotation.empty()) {
      annotations.emplace_back(kFlavorQuotasAnnotation, json::Value::String(annotation));
    }
    if (!held_by.empty()) {
      annotations.emplace_back(kHeldByAnnotation, json::Value::String(held_by));
    }
    if (!annotations.empty()) {
      metadata +=
          absl::StrCat(R"(,"annotations":)", json::Value::Object(std::move(annotations)).ToJson());
    }
    std::string spec = absl::StrCat(
        R"({"resourceGroups":[
          {"coveredResources":["cpu"],"flavors":[{"name":"default","resources":[
            {"name":"cpu","nominalQuota":"64"}]}]},
          {"coveredResources":["nvidia.com/gpu"],"flavors":[
            {"name":"on-demand","resources":[{"name":"nvidia.com/gpu","nominalQuota":")",
        on_demand, R"("}]},
            {"name":"spot","resources":[{"name":"nvidia.com/gpu","nominalQuota":)",
        spot, R"(}]}]}])", cohort.empty() ? "" : absl::StrCat(R"(,"cohortName":")", cohort, R"(")"),
        stop_policy.empty() ? "" : absl::StrCat(R"(,"stopPolicy":")", stop_policy, R"(")"), "}");
    std::vector<std::string> reservation;
    if (!reserved_on_demand.empty()) {
      reservation.push_back(
          absl::StrCat(R"({"name":"on-demand","resources":[{"name":"nvidia.com/gpu","total":")",
                       reserved_on_demand, R"(","borrowed":"0"}]})"));
    }
    if (!reserved_spot.empty()) {
      reservation.push_back(
          absl::StrCat(R"({"name":"spot","resources":[{"name":"nvidia.com/gpu","total":")",
                       reserved_spot, R"("}]})"));
    }
    std::string usage =
        used_spot.empty()
            ? "[]"
            : absl::StrCat(R"([{"name":"spot","resources":[{"name":"nvidia.com/gpu","total":")",
                           used_spot, R"("}]}])");
    return JsonOrFail(
        absl::StrCat(R"({"apiVersion":"kueue.x-k8s.io/v1beta2","kind":"ClusterQueue",
      "metadata":{)",
                     metadata, R"(},"spec":)", spec, R"(,"status":{"flavorsReservation":[)",
                     absl::StrJoin(reservation, ","), R"(],"flavorsUsage":)", usage, "}}"));
  }
};

ClusterQueueTarget Allow(int64_t gpus) {
  return {.cluster_queue = "team-a",
          .budget = "team-a",
          .allowances = {{kGpu, values::Quantity::FromUnits(gpus)}},
          .hold = false};
}

values::Quantity Q(std::string_view text) {
  return values::Quantity::Parse(text).value();
}

// The "add" operations of a patch, path -> value; every one must follow a `test` of the entry's
// resource name (or be the annotation).
Writes WritesOf(const json::Value& patch) {
  Writes writes;
  std::string tested;
  for (const json::Value& op : patch.elements()) {
    std::string path = json::StringAt(op, "path");
    if (json::StringAt(op, "op") == "test") {
      // The fixture's first group covers cpu, its second the GPUs.
      EXPECT_EQ(json::StringAt(op, "value"),
                path.starts_with("/spec/resourceGroups/0/") ? "cpu" : kGpu);
      tested = path.substr(0, path.rfind('/'));
      continue;
    }
    if (json::StringAt(op, "op") == "remove") {
      writes[path] = "<removed>";
      continue;
    }
    EXPECT_EQ(json::StringAt(op, "op"), "add");
    if (path.starts_with("/spec/resourceGroups/")) {
      EXPECT_EQ(path.substr(0, path.rfind('/')), tested) << "no test op before " << path;
    }
    const json::Value& value = FieldOrFail(op, "value");
    writes[path] = value.is_string() ? value.string_value() : value.ToJson();
  }
  return writes;
}

Writes PatchOf(const Queue& queue, int64_t allowance) {
  absl::StatusOr<std::optional<json::Value>> patch =
      ClusterQueueQuotaPatch(queue.Json(), Allow(allowance));
  EXPECT_TRUE(patch.ok()) << patch.status();
  if (!patch.ok() || !patch->has_value()) {
    return {};
  }
  return WritesOf(**patch);
}

std::string Quota(const char* entry) {
  return absl::StrCat(entry, "/nominalQuota");
}
constexpr char kRecord88[] = R"({"on-demand/nvidia.com/gpu":"8","spot/nvidia.com/gpu":"8"})";

TEST(ClusterQueueQuotaTest, TheAllowanceFillsTheFlavorsInTheQueuesOrderAndCapsTheirSum) {
  // The capacities the queue had are recorded with the first write; cpu is left alone, and a
  // flavor that already has its share is not written.
  const std::string record =
      absl::StrCat(R"({"bursar.dev/flavor-quotas":)", json::Value::String(kRecord88).ToJson(), "}");
  struct Case {
    const char* name;
    int64_t allowance;
    Writes want;
  };
  for (const Case& c : std::vector<Case>{
           {"below the first flavor",
            5,
            {{Quota(kOnDemand), "5"}, {Quota(kSpot), "0"}, {"/metadata/annotations", record}}},
           {"into the second flavor", 12, {{Quota(kSpot), "4"}, {"/metadata/annotations", record}}},
           {"nothing at all",
            0,
            {{Quota(kOnDemand), "0"}, {Quota(kSpot), "0"}, {"/metadata/annotations", record}}}}) {
    EXPECT_EQ(PatchOf(Queue(), c.allowance), c.want) << c.name;
  }
}

TEST(ClusterQueueQuotaTest, RecordedCapacitiesBoundEachFlavorOnceBursarHasLoweredIt) {
  Writes w = PatchOf(Queue().Quotas("2", "0").Recorded(kRecord88), 10);
  EXPECT_EQ(w, (Writes{{Quota(kOnDemand), "8"}, {Quota(kSpot), "2"}}));
  // Released: back to the capacities, never above them.
  w = PatchOf(Queue().Quotas("2", "0").Recorded(kRecord88), 100);
  EXPECT_EQ(w, (Writes{{Quota(kOnDemand), "8"}, {Quota(kSpot), "8"}}));
}

TEST(ClusterQueueQuotaTest, WhatTheFlavorsHoldCountsFirstAgainstTheAllowance) {
  // Spot holds 2 (reserved), so on-demand may only get the other 2 of 4.
  Writes w = PatchOf(Queue().Recorded(kRecord88).Reserved("", "2"), 4);
  EXPECT_EQ(w, (Writes{{Quota(kOnDemand), "2"}, {Quota(kSpot), "2"}}));
  // Usage larger than the reservation counts too (the larger of the two).
  w = PatchOf(Queue().Recorded(kRecord88).Reserved("", "1").UsedSpot("3"), 4);
  EXPECT_EQ(w, (Writes{{Quota(kOnDemand), "1"}, {Quota(kSpot), "3"}}));
  // Holding more than the allowance: the allowance goes to what is held, in order, so the flavor
  // left over gets less than it holds (no eviction, but no refill of a GPU freed either).
  w = PatchOf(Queue().Recorded(kRecord88).Reserved("3", "2"), 4);
  EXPECT_EQ(w, (Writes{{Quota(kOnDemand), "3"}, {Quota(kSpot), "1"}}));
}

TEST(ClusterQueueQuotaTest, AQueueInACohortMayNotBorrowTheBudgetsResources) {
  Writes w = PatchOf(Queue().Cohort("research").Recorded(kRecord88), 16);
  EXPECT_EQ(w, (Writes{{absl::StrCat(kOnDemand, "/borrowingLimit"), "0"},
                       {absl::StrCat(kSpot, "/borrowingLimit"), "0"}}));
}

TEST(ClusterQueueQuotaTest, HoldStopsTheQueueAndReleaseRestartsOnlyWhatBursarStopped) {
  ClusterQueueTarget hold = Allow(12);
  hold.hold = true;
  absl::StatusOr<std::optional<json::Value>> patch =
      ClusterQueueQuotaPatch(Queue().Quotas("8", "4").Recorded(kRecord88).Json(), hold);
  ASSERT_TRUE(patch.ok() && patch->has_value()) << patch.status();
  EXPECT_EQ(WritesOf(**patch), (Writes{{"/spec/stopPolicy", "Hold"},
                                       {"/metadata/annotations/bursar.dev~1held-by", "team-a"}}));
  // Held already: nothing to write.
  patch = ClusterQueueQuotaPatch(
      Queue().Quotas("8", "4").Recorded(kRecord88).Stopped("Hold", "team-a").Json(), hold);
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_FALSE(patch->has_value());
  // Released: back to None, the mark removed.
  patch = ClusterQueueQuotaPatch(
      Queue().Quotas("8", "4").Recorded(kRecord88).Stopped("Hold", "team-a").Json(), Allow(12));
  ASSERT_TRUE(patch.ok() && patch->has_value()) << patch.status();
  EXPECT_EQ(WritesOf(**patch),
            (Writes{{"/spec/stopPolicy", "None"},
                    {"/metadata/annotations/bursar.dev~1held-by", "<removed>"}}));
  // A queue its owner stopped stays stopped.
  patch = ClusterQueueQuotaPatch(
      Queue().Quotas("8", "4").Recorded(kRecord88).Stopped("Hold", "").Json(), Allow(12));
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_FALSE(patch->has_value());
}

TEST(ClusterQueueQuotaTest, AQueueThatAlreadySaysWhatTheBudgetWantsIsNotWritten) {
  absl::StatusOr<std::optional<json::Value>> patch =
      ClusterQueueQuotaPatch(Queue().Quotas("8", "4").Recorded(kRecord88).Json(), Allow(12));
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_FALSE(patch->has_value()) << (*patch)->ToJson();
}

TEST(ClusterQueueQuotaTest, CpuAndMemoryAllowancesCapTheirEntriesAsTheGpuQuotaDoes) {
  // A money budget listing cpu gets its cpu allowance written beside the GPU quota; the cpu
  // entry's capacity is recorded with the GPUs'.
  ClusterQueueTarget target = Allow(12);
  target.allowances["cpu"] = Q("12500m");
  absl::StatusOr<std::optional<json::Value>> patch =
      ClusterQueueQuotaPatch(Queue().Recorded(kRecord88).Json(), target);
  ASSERT_TRUE(patch.ok() && patch->has_value()) << patch.status();
  constexpr char kCpu[] = "/spec/resourceGroups/0/flavors/0/resources/0";
  EXPECT_EQ(WritesOf(**patch), (Writes{{Quota(kCpu), "12500m"},
                                       {Quota(kSpot), "4"},
                                       {"/metadata/annotations/bursar.dev~1flavor-quotas",
                                        R"({"default/cpu":"64","on-demand/nvidia.com/gpu":"8",)"
                                        R"("spot/nvidia.com/gpu":"8"})"}}));
  // Released: never above the capacity the queue had.
  target.allowances["cpu"] = Q("100");
  patch = ClusterQueueQuotaPatch(Queue().Recorded(kRecord88).Json(), target);
  ASSERT_TRUE(patch.ok() && patch->has_value()) << patch.status();
  EXPECT_FALSE(WritesOf(**patch).contains(Quota(kCpu)));
  // The same amount spelled otherwise ("64000m" for "64") is not written again.
  target.allowances = {{"cpu", Q("64000m")}};
  patch =
      ClusterQueueQuotaPatch(Queue()
                                 .Recorded(R"({"default/cpu":"64","on-demand/nvidia.com/gpu":"8",)"
                                           R"("spot/nvidia.com/gpu":"8"})")
                                 .Json(),
                             target);
  ASSERT_TRUE(patch.ok()) << patch.status();
  EXPECT_FALSE(patch->has_value()) << (*patch)->ToJson();
}

TEST(ClusterQueueQuotaTest, AQueueWithoutTheResourcesOrWithAnUnreadableRecordIsAnError) {
  ClusterQueueTarget memory = Allow(4);
  memory.allowances = {{"memory", Q("64Gi")}};
  absl::StatusOr<std::optional<json::Value>> patch = ClusterQueueQuotaPatch(Queue().Json(), memory);
  ASSERT_FALSE(patch.ok());
  EXPECT_THAT(patch.status().message(), HasSubstr("none of the budget's quota resources"));

  patch = ClusterQueueQuotaPatch(Queue().Recorded("on-demand=8").Json(), Allow(4));
  ASSERT_FALSE(patch.ok());
  EXPECT_THAT(patch.status().message(), HasSubstr(kFlavorQuotasAnnotation));

  patch = ClusterQueueQuotaPatch(Queue().Quotas("eight", "8").Json(), Allow(4));
  ASSERT_FALSE(patch.ok());
  EXPECT_THAT(patch.status().message(), HasSubstr("on-demand/nvidia.com/gpu"));
}

}  // namespace
}  // namespace bursar::reconcilers
