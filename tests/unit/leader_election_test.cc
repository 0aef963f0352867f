#include "operator/runtime/leader_election.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"
#include "tests/unit/fake_transport.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::runtime {
namespace {

using kube::FakeTransport;
using Lines = std::vector<std::string>;

const absl::Time kStart =
    absl::FromCivil(absl::CivilSecond(2026, 11, 27, 8, 0, 0), absl::UTCTimeZone());
constexpr char kLeasePath[] = "/apis/coordination.k8s.io/v1/namespaces/bursar-system/leases/bursar";
constexpr char kLeasesPath[] = "/apis/coordination.k8s.io/v1/namespaces/bursar-system/leases";

std::string MicroAt(absl::Duration since_start) {
  return FormatMicroTime(kStart + since_start);
}

// A Lease as the API server returns it.
std::string Lease(std::string_view holder, std::string_view renew, int transitions,
                  std::string_view rv, int duration = 15, std::string_view acquire = "") {
  std::string spec;
  if (!holder.empty()) {
    spec = absl::StrCat(R"("holderIdentity":")", std::string(holder), R"(",)",
                        R"("leaseDurationSeconds":)", duration, R"(,"acquireTime":")",
                        std::string(acquire.empty() ? renew : acquire), R"(","renewTime":")",
                        std::string(renew), R"(",)");
  }
  absl::StrAppend(&spec, R"("leaseTransitions":)", transitions);
  return absl::StrCat(
      R"({"kind":"Lease","apiVersion":"coordination.k8s.io/v1","metadata":{"name":"bursar",)",
      R"("namespace":"bursar-system","uid":"7f0c","resourceVersion":")", std::string(rv),
      R"(","creationTimestamp":"2026-11-01T00:00:00Z"},"spec":{)", spec, "}}");
}

std::string NotFound() {
  return R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
         R"("message":"leases.coordination.k8s.io \"bursar\" not found","reason":"NotFound",)"
         R"("details":{"name":"bursar","group":"coordination.k8s.io","kind":"leases"},"code":404})";
}

std::string Status409(std::string_view reason) {
  return absl::StrCat(R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)",
                      R"("message":"from the test","reason":")", std::string(reason),
                      R"(","code":409})");
}

json::Value Body(const kube::HttpRequest& request) {
  absl::StatusOr<json::Value> v = json::Parse(request.body);
  EXPECT_TRUE(v.ok()) << v.status() << ": " << request.body;
  return v.ok() ? *v : json::Value();
}

std::string Spec(const kube::HttpRequest& request, std::string_view field) {
  const json::Value body = Body(request);
  const json::Value* v = body.FindPath(absl::StrCat("spec.", std::string(field)));
  if (v == nullptr) {
    return "<absent>";
  }
  return v->is_string() ? v->string_value() : v->ToJson();
}

class LeaderElectionTest : public ::testing::Test {
 protected:
  LeaderElectionOptions Options(std::string identity = "pod-a") {
    LeaderElectionOptions options;
    options.lease_namespace = "bursar-system";
    options.lease_name = "bursar";
    options.identity = identity;
    options.jitter = 0;  // candidate retries exactly every retry period
    options.on_started_leading = [this] { log_.push_back("started"); };
    options.on_stopped_leading = [this] {
      log_.push_back(absl::StrCat("stopped after ", transport_.requests().size(), " requests"));
    };
    options.on_new_leader = [this](std::string_view holder) {
      log_.push_back(absl::StrCat("leader ", std::string(holder)));
    };
    return options;
  }

  // Acquires by creating the Lease (resourceVersion "1") at the current time.
  void Acquire(LeaderElector& elector) {
    transport_.Reply(404, NotFound());
    transport_.Reply(201, Lease("pod-a", MicroAt(clock_.Now() - kStart), 0, "1"));
    elector.Tick();
    ASSERT_TRUE(elector.IsLeader());
  }

  kube::HttpRequest Last() { return transport_.requests().back(); }

  SimulatedClock clock_{kStart};
  FakeTransport transport_;
  kube::ApiClient client_{transport_};
  Lines log_;
};

TEST(MicroTimeTest, SixFractionalDigitsInUtc) {
  EXPECT_EQ(FormatMicroTime(kStart), "2026-11-27T08:00:00.000000Z");
  EXPECT_EQ(FormatMicroTime(kStart + absl::Microseconds(1500)), "2026-11-27T08:00:00.001500Z");
}

TEST(LeaderElectionOptionsTest, ValidatesLikeClientGo) {
  LeaderElectionOptions options;
  options.lease_namespace = "bursar-system";
  options.lease_name = "bursar";
  options.identity = "pod-a";
  EXPECT_TRUE(ValidateLeaderElectionOptions(options).ok());
  LeaderElectionOptions bad = options;
  bad.identity = "";
  EXPECT_FALSE(ValidateLeaderElectionOptions(bad).ok());
  bad = options;
  bad.renew_deadline = absl::Seconds(15);  // not below the lease duration
  EXPECT_FALSE(ValidateLeaderElectionOptions(bad).ok());
  bad = options;
  bad.retry_period = absl::Seconds(9);  // 1.2 × 9 s is not below the 10 s deadline
  EXPECT_FALSE(ValidateLeaderElectionOptions(bad).ok());
  bad = options;
  bad.lease_duration = absl::Milliseconds(15500);
  EXPECT_FALSE(ValidateLeaderElectionOptions(bad).ok());
}

TEST_F(LeaderElectionTest, CreatesAMissingLeaseAndLeads) {
  transport_.Reply(404, NotFound());
  transport_.Reply(201, Lease("pod-a", MicroAt(absl::ZeroDuration()), 0, "1"));
  LeaderElector elector(client_, clock_, Options());
  EXPECT_FALSE(elector.IsLeader());

  const absl::Time next = elector.Tick();
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_TRUE(elector.leading().load());
  EXPECT_EQ(elector.leader(), "pod-a");
  EXPECT_EQ(next, clock_.MonotonicNow() + absl::Seconds(2));  // renew every retry period
  EXPECT_EQ(log_, (Lines{"leader pod-a", "started"}));

  std::vector<kube::HttpRequest> sent = transport_.requests();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].path, kLeasePath);
  EXPECT_EQ(sent[1].method, "POST");
  EXPECT_EQ(sent[1].path, kLeasesPath);
  EXPECT_EQ(sent[1].body,
            R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"bursar",)"
            R"("namespace":"bursar-system"},"spec":{"holderIdentity":"pod-a",)"
            R"("leaseDurationSeconds":15,"acquireTime":"2026-11-27T08:00:00.000000Z",)"
            R"("renewTime":"2026-11-27T08:00:00.000000Z","leaseTransitions":0}})");
}

TEST_F(LeaderElectionTest, AcquiresAFreeLeaseWithOptimisticConcurrency) {
  transport_.Reply(200, Lease("", "", 2, "5"));
  transport_.Reply(200, Lease("pod-a", MicroAt(absl::ZeroDuration()), 3, "6"));
  LeaderElector elector(client_, clock_, Options());
  elector.Tick();
  EXPECT_TRUE(elector.IsLeader());

  const kube::HttpRequest put = Last();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(put.path, kLeasePath);
  EXPECT_EQ(PathOrFail(Body(put), "metadata.resourceVersion").string_value(), "5");
  EXPECT_EQ(PathOrFail(Body(put), "metadata.uid").string_value(), "7f0c");  // the rest is kept
  EXPECT_EQ(Spec(put, "holderIdentity"), "pod-a");
  EXPECT_EQ(Spec(put, "leaseDurationSeconds"), "15");
  EXPECT_EQ(Spec(put, "acquireTime"), "2026-11-27T08:00:00.000000Z");
  EXPECT_EQ(Spec(put, "renewTime"), "2026-11-27T08:00:00.000000Z");
  EXPECT_EQ(Spec(put, "leaseTransitions"), "3");
}

TEST_F(LeaderElectionTest, RenewsTheLeaseItWroteWithoutReadingIt) {
  LeaderElector elector(client_, clock_, Options());
  Acquire(elector);
  clock_.Advance(absl::Seconds(2));
  transport_.Reply(200, Lease("pod-a", MicroAt(absl::Seconds(2)), 0, "2"));
  const size_t before = transport_.requests().size();

  elector.Tick();
  EXPECT_TRUE(elector.IsLeader());
  ASSERT_EQ(transport_.requests().size(), before + 1);  // one PUT, no GET
  const kube::HttpRequest put = Last();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(PathOrFail(Body(put), "metadata.resourceVersion").string_value(), "1");
  EXPECT_EQ(Spec(put, "renewTime"), "2026-11-27T08:00:02.000000Z");
  EXPECT_EQ(Spec(put, "acquireTime"), "2026-11-27T08:00:00.000000Z");  // unchanged
  EXPECT_EQ(Spec(put, "leaseTransitions"), "0");
  EXPECT_EQ(log_, (Lines{"leader pod-a", "started"}));  // started once
}

TEST_F(LeaderElectionTest, StopsLeadingAtOnceWhenRenewalsFailPastTheRenewDeadline) {
  LeaderElector elector(client_, clock_, Options());
  Acquire(elector);
  const absl::Time deadline = clock_.MonotonicNow() + absl::Seconds(10);
  for (int i = 1; i <= 4; ++i) {
    clock_.Advance(absl::Seconds(2));
    transport_.Fail(absl::UnavailableError("connection refused"));  // the renewal
    transport_.Fail(absl::UnavailableError("connection refused"));  // the read after it
    const absl::Time next = elector.Tick();
    EXPECT_TRUE(elector.IsLeader()) << "after " << 2 * i << " s";
    EXPECT_EQ(next, std::min(clock_.MonotonicNow() + absl::Seconds(2), deadline));
  }
  clock_.Advance(absl::Milliseconds(1999));
  EXPECT_TRUE(elector.IsLeader());

  // The deadline passes: IsLeader() is false at that instant, before the elector even runs.
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(log_.back(), "started");
  const size_t sent = transport_.requests().size();
  elector.Tick();
  EXPECT_FALSE(elector.leading().load());
  EXPECT_EQ(log_.back(), absl::StrCat("stopped after ", sent, " requests"));
  EXPECT_EQ(transport_.requests().size(), sent);  // gave up without another attempt
}

TEST_F(LeaderElectionTest, ALost409RaceLeavesTheOtherReplicaLeading) {
  transport_.Reply(200, Lease("", "", 0, "5"));
  transport_.Reply(409, Status409("Conflict"));
  LeaderElector elector(client_, clock_, Options());
  const absl::Time next = elector.Tick();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(next, clock_.MonotonicNow() + absl::Seconds(2));

  // The winner's Lease: held, not expired.
  clock_.Advance(absl::Seconds(2));
  transport_.Reply(200, Lease("pod-b", MicroAt(absl::ZeroDuration()), 1, "6"));
  elector.Tick();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(elector.leader(), "pod-b");
  EXPECT_EQ(Last().method, "GET");
  EXPECT_EQ(log_, (Lines{"leader pod-b"}));
}

TEST_F(LeaderElectionTest, ALostCreateRaceIsNotLeadership) {
  transport_.Reply(404, NotFound());
  transport_.Reply(409, Status409("AlreadyExists"));
  LeaderElector elector(client_, clock_, Options());
  elector.Tick();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_TRUE(log_.empty());
}

TEST_F(LeaderElectionTest, TakesOverAnExpiredLeaseAndCountsTheTransition) {
  LeaderElector elector(client_, clock_, Options());
  const std::string old_renew = "2026-11-27T07:59:58.000000Z";
  transport_.Reply(200, Lease("pod-b", old_renew, 3, "7"));
  elector.Tick();
  EXPECT_FALSE(elector.IsLeader());

  // pod-b renews at +10 s: the 15 s are counted again from when this replica saw it.
  const std::string renewed = MicroAt(absl::Seconds(10));
  clock_.Advance(absl::Seconds(10));
  transport_.Reply(200, Lease("pod-b", renewed, 3, "8", 15, old_renew));
  elector.Tick();
  clock_.Advance(absl::Seconds(14));
  transport_.Reply(200, Lease("pod-b", renewed, 3, "8", 15, old_renew));
  elector.Tick();
  EXPECT_FALSE(elector.IsLeader());

  clock_.Advance(absl::Seconds(1));  // 15 s without a change: expired
  transport_.Reply(200, Lease("pod-b", renewed, 3, "8", 15, old_renew));
  transport_.Reply(200, Lease("pod-a", MicroAt(absl::Seconds(25)), 4, "9"));
  elector.Tick();
  EXPECT_TRUE(elector.IsLeader());
  const kube::HttpRequest put = Last();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(PathOrFail(Body(put), "metadata.resourceVersion").string_value(), "8");
  EXPECT_EQ(Spec(put, "holderIdentity"), "pod-a");
  EXPECT_EQ(Spec(put, "leaseTransitions"), "4");
  EXPECT_EQ(Spec(put, "acquireTime"), "2026-11-27T08:00:25.000000Z");
  EXPECT_EQ(Spec(put, "renewTime"), "2026-11-27T08:00:25.000000Z");
  EXPECT_EQ(log_, (Lines{"leader pod-b", "leader pod-a", "started"}));
}

TEST_F(LeaderElectionTest, AnotherHolderSeenWhileLeadingStopsLeadingAtOnce) {
  LeaderElector elector(client_, clock_, Options());
  Acquire(elector);
  clock_.Advance(absl::Seconds(2));
  transport_.Reply(409, Status409("Conflict"));  // the renewal: someone wrote since
  transport_.Reply(200, Lease("pod-b", MicroAt(absl::Seconds(1)), 1, "3"));
  elector.Tick();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_FALSE(elector.leading().load());
  EXPECT_EQ(log_, (Lines{"leader pod-a", "started", "leader pod-b", "stopped after 4 requests"}));
}

TEST_F(LeaderElectionTest, ReleaseFreesTheLeaseAfterStoppingSoAnotherTakesOverAtOnce) {
  LeaderElector elector(client_, clock_, Options());
  Acquire(elector);
  clock_.Advance(absl::Seconds(1));
  transport_.Reply(200, R"({"kind":"Lease"})");
  ASSERT_TRUE(elector.Release().ok());
  EXPECT_FALSE(elector.IsLeader());
  // Actuation stopped before the Lease was given away.
  EXPECT_EQ(log_, (Lines{"leader pod-a", "started", "stopped after 2 requests", "leader "}));
  const kube::HttpRequest put = Last();
  EXPECT_EQ(put.method, "PUT");
  EXPECT_EQ(PathOrFail(Body(put), "metadata.resourceVersion").string_value(), "1");
  EXPECT_EQ(Spec(put, "holderIdentity"), "");
  EXPECT_EQ(Spec(put, "leaseDurationSeconds"), "1");
  EXPECT_EQ(Spec(put, "acquireTime"), "2026-11-27T08:00:01.000000Z");
  EXPECT_EQ(Spec(put, "renewTime"), "2026-11-27T08:00:01.000000Z");
  EXPECT_EQ(Spec(put, "leaseTransitions"), "0");

  // Another replica sees the released Lease and takes it without waiting out 15 s.
  Lines other_log;
  LeaderElectionOptions options = Options("pod-b");
  options.on_started_leading = [&] { other_log.push_back("started"); };
  options.on_stopped_leading = nullptr;
  options.on_new_leader = nullptr;
  LeaderElector other(client_, clock_, options);
  transport_.Reply(200, absl::StrCat(R"({"kind":"Lease","metadata":{"name":"bursar",)",
                                     R"("namespace":"bursar-system","resourceVersion":"2"},)",
                                     R"("spec":{"holderIdentity":"","leaseDurationSeconds":1,)",
                                     R"("leaseTransitions":0}})"));
  transport_.Reply(200, Lease("pod-b", MicroAt(absl::Seconds(1)), 1, "3"));
  other.Tick();
  EXPECT_TRUE(other.IsLeader());
  EXPECT_EQ(Spec(Last(), "leaseTransitions"), "1");
  EXPECT_EQ(other_log, (Lines{"started"}));
}

TEST_F(LeaderElectionTest, RunRenewsOnTheClockAndReleasesOnStop) {
  Registry registry;
  LeaderElectionOptions options = Options();
  options.metrics = &registry;
  LeaderElector elector(client_, clock_, options);
  transport_.Reply(404, NotFound());
  transport_.Reply(201, Lease("pod-a", MicroAt(absl::ZeroDuration()), 0, "1"));
  transport_.Reply(200, Lease("pod-a", MicroAt(absl::Seconds(2)), 0, "2"));
  transport_.Reply(200, R"({"kind":"Lease"})");  // the release
  Wakeup stop;
  std::thread runner([&] { elector.Run(&stop); });

  ASSERT_TRUE(clock_.AwaitSleepers(1));
  EXPECT_TRUE(elector.IsLeader());
  EXPECT_NE(
      registry.Render().find(R"(bursar_leader_election_is_leader{lease="bursar-system/bursar"} 1)"),
      std::string::npos);
  clock_.Advance(absl::Seconds(2));
  ASSERT_TRUE(clock_.AwaitSleepers(1));
  EXPECT_EQ(transport_.requests().size(), 3u);
  EXPECT_TRUE(elector.IsLeader());

  stop.Notify();
  runner.join();
  EXPECT_FALSE(elector.IsLeader());
  EXPECT_EQ(transport_.pending(), 0u);
  EXPECT_EQ(Spec(Last(), "holderIdentity"), "");
  EXPECT_NE(
      registry.Render().find(R"(bursar_leader_election_is_leader{lease="bursar-system/bursar"} 0)"),
      std::string::npos);
}

}  // namespace
}  // namespace bursar::runtime
