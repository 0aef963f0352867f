#include "controllers/values/ledger.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace bursar::values {
namespace {

absl::Time T(int64_t seconds) {
  return absl::FromUnixSeconds(1'800'000'000 + seconds);
}

Period Day() {
  return Period{T(0), T(86400)};
}

Money Rate(int64_t units_per_hour) {
  return Money::FromUnits(units_per_hour);
}

// A pod UID as the API server writes it (a canonical UUID, which the ledger keeps packed).
std::string Uuid(int64_t i) {
  return absl::StrFormat("%08x-5b1d-4c8e-9f2a-%012x", i, i);
}

TEST(LedgerTest, ChargesAnIntervalExactly) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("a", T(0), T(1800), Rate(3), 1, false);
  EXPECT_EQ(ledger.spent(), Money::FromMicros(1'500'000));
  EXPECT_EQ(ledger.gpu_seconds(), 1800);
}

TEST(LedgerTest, ReplayedAndOverlappingIntervalsCountOnce) {
  struct Case {
    const char* name;
    std::vector<std::pair<int64_t, int64_t>> intervals;
    int64_t expected_seconds;
  };
  const std::vector<Case> cases = {
      {"replay", {{0, 600}, {0, 600}, {0, 600}}, 600},
      {"overlap", {{0, 600}, {300, 900}}, 900},
      {"contained", {{0, 900}, {100, 200}}, 900},
      {"split", {{0, 300}, {300, 600}, {600, 900}}, 900},
      {"out of order", {{300, 900}, {0, 600}}, 600},
  };
  for (const Case& c : cases) {
    BudgetLedger ledger(Day());
    for (auto [from, to] : c.intervals) {
      ledger.ChargePod("pod", T(from), T(to), Rate(36), 2, false);
    }
    // "out of order": [0, 300) after [300, 900) is not recharged; the ledger only moves forward
    // per pod, which is the documented contract (a pod's time is charged in order).
    EXPECT_EQ(ledger.gpu_seconds(), 2 * c.expected_seconds) << c.name;
    EXPECT_EQ(ledger.spent(), Money::FromMicros(c.expected_seconds * 10'000)) << c.name;
  }
}

TEST(LedgerTest, APodChargedPastItsEndGetsTheExcessTakenBack) {
  // Passes at 600 and 660 charge a running pod (the watch was cut: nobody said it ended at 630);
  // when its end arrives, the 30 seconds after it are taken back, once.
  BudgetLedger ledger(Day());
  ledger.ChargePod("a", T(0), T(600), Rate(36), 2, false);
  ledger.ChargePod("a", T(0), T(660), Rate(36), 2, false);
  EXPECT_EQ(ledger.gpu_seconds(), 2 * 660);
  BudgetLedger::Charge back = ledger.ChargePod("a", T(0), T(630), Rate(36), 2, true);
  EXPECT_EQ(back.seconds, -30);
  EXPECT_EQ(back.money, Money::FromMicros(-300'000));
  EXPECT_EQ(ledger.gpu_seconds(), 2 * 630);
  EXPECT_EQ(ledger.spent(), Money::FromMicros(630 * 10'000));
  EXPECT_EQ(ledger.ChargePod("a", T(0), T(630), Rate(36), 2, true).seconds, 0);  // once
  EXPECT_EQ(ledger.spent(), Money::FromMicros(630 * 10'000));
  // A pod seen ending at once is charged to its end, as before.
  EXPECT_EQ(ledger.ChargePod("b", T(100), T(200), Rate(36), 1, true).seconds, 100);
}

TEST(LedgerTest, SplittingNeverDriftsFromOneCharge) {
  // A rate that does not divide an hour evenly: per-interval rounding would drift.
  const Money rate = Money::FromMicros(1'234'567);
  BudgetLedger whole(Day());
  whole.ChargePod("p", T(0), T(7919), rate, 1, false);
  BudgetLedger pieces(Day());
  std::mt19937 rng(42);
  int64_t t = 0;
  while (t < 7919) {
    int64_t next = std::min<int64_t>(7919, t + 1 + static_cast<int64_t>(rng() % 97));
    pieces.ChargePod("p", T(t), T(next), rate, 1, false);
    t = next;
  }
  EXPECT_EQ(pieces.accrued(), whole.accrued());
  EXPECT_EQ(pieces.spent(), whole.spent());
}

TEST(LedgerTest, ClipsToThePeriod) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("early", T(-3600), T(3600), Rate(1), 1, false);
  ledger.ChargePod("late", T(86400 - 60), T(86400 + 3600), Rate(60), 1, false);
  EXPECT_EQ(ledger.gpu_seconds(), 3600 + 60);
  EXPECT_EQ(ledger.spent(), Money::FromUnits(2));
}

TEST(LedgerTest, EndedPodsAreNotChargedAgainWhileSeenNorAfterARestore) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("done", T(0), T(600), Rate(6), 1, true);
  ledger.CompletePass(T(700), {"done"});
  EXPECT_EQ(ledger.tracked_pods(), 1u);  // still seen: kept, as ended
  ledger.ChargePod("done", T(0), T(600), Rate(6), 1, true);
  ledger.CompletePass(T(715), {"done"});
  EXPECT_EQ(ledger.spent(), Money::FromMicros(1'000'000));
  // Re-observed after a restart (still listed by the API server): skipped.
  absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(ledger.Snapshot());
  ASSERT_TRUE(restored.ok()) << restored.status();
  restored->ChargePod("done", T(0), T(600), Rate(6), 1, true);
  EXPECT_EQ(restored->spent(), Money::FromMicros(1'000'000));
  // A pod that started after the start horizon and ended after the watermark was never charged:
  // charged in full.
  restored->ChargePod("while-down", T(700), T(800), Rate(6), 1, true);
  EXPECT_EQ(restored->gpu_seconds(), 600 + 100);
  // Once no pass sees it (deleted), its account goes.
  restored->CompletePass(T(815), {"done"});
  EXPECT_EQ(restored->AccountedUntil("done"), absl::InfinitePast());
}

// The campaign's drift under stalled watches (issue 14): passes went on every second on a cache
// that no longer changed, so the watermark passed the end of a pod that started and ended
// meanwhile; when the watch delivered it, the pod was skipped as "ended before the watermark".
TEST(LedgerTest, APodThatStartedAndEndedWhileTheCacheWasStaleIsChargedWhenItShowsUp) {
  BudgetLedger ledger(Day());
  for (int64_t t = 100; t <= 130; ++t) {  // stale from 100: "unseen" ran [105, 115)
    ledger.ChargePod("seen", T(0), T(t), Rate(36), 1, false);
    ledger.CompletePass(T(t), {});
  }
  ledger.ChargePod("seen", T(0), T(131), Rate(36), 1, false);
  EXPECT_EQ(ledger.ChargePod("unseen", T(105), T(115), Rate(36), 1, true).seconds, 10);
  ledger.CompletePass(T(131), {"unseen"});
  EXPECT_EQ(ledger.gpu_seconds(), 131 + 10);
  // The same through a checkpoint written while the cache was stale.
  BudgetLedger before(Day());
  for (int64_t t = 100; t <= 130; ++t) {
    before.ChargePod("seen", T(0), T(t), Rate(36), 1, false);
    before.CompletePass(T(t), {});
  }
  absl::StatusOr<BudgetLedger> after = BudgetLedger::Restore(before.Snapshot());
  ASSERT_TRUE(after.ok()) << after.status();
  after->ChargePod("seen", T(0), T(131), Rate(36), 1, false);
  EXPECT_EQ(after->ChargePod("unseen", T(105), T(115), Rate(36), 1, true).seconds, 10);
  EXPECT_EQ(after->gpu_seconds(), 131 + 10);
}

TEST(LedgerTest, RestoreResumesWithNothingLostOrRepeated) {
  // Reference: one uninterrupted meter, charging every 15 s.
  BudgetLedger reference(Day());
  for (int64_t t = 15; t <= 3600; t += 15) {
    reference.ChargePod("a", T(0), T(t), Rate(3), 1, false);
    reference.ChargePod("b", T(100), T(std::min<int64_t>(t, 2000)), Rate(5), 2, t >= 2000);
    reference.CompletePass(T(t),
                           t >= 2000 ? std::vector<std::string>{"b"} : std::vector<std::string>{});
  }
  // Interrupted: last pass at 990 s, down until 2505 s (b ended while down), then resumed.
  BudgetLedger before(Day());
  for (int64_t t = 15; t <= 1000; t += 15) {
    before.ChargePod("a", T(0), T(t), Rate(3), 1, false);
    before.ChargePod("b", T(100), T(t), Rate(5), 2, false);
    before.CompletePass(T(t), {});
  }
  absl::StatusOr<BudgetLedger> after = BudgetLedger::Restore(before.Snapshot());
  ASSERT_TRUE(after.ok()) << after.status();
  for (int64_t t = 2505; t <= 3600; t += 15) {
    after->ChargePod("a", T(0), T(t), Rate(3), 1, false);
    after->ChargePod("b", T(100), T(2000), Rate(5), 2, true);
    after->CompletePass(T(t), {"b"});
  }
  EXPECT_EQ(after->accrued(), reference.accrued());
  EXPECT_EQ(after->gpu_seconds(), reference.gpu_seconds());
}

TEST(LedgerTest, SnapshotRoundTripsAndIsSorted) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("zeta", T(0), T(10), Rate(1), 1, false);
  ledger.ChargePod("alpha", T(0), T(20), Rate(1), 1, false);
  ledger.ChargePod(Uuid(0xbeef), T(0), T(30), Rate(1), 1, false);
  ledger.ChargePod(Uuid(0xa), T(0), T(40), Rate(1), 1, false);
  LedgerState state = ledger.Snapshot();
  // Sorted by the uid's text, whether the ledger kept it packed (a UUID) or as text.
  std::vector<std::string> uids;
  for (const PodAccount& pod : state.pods) {
    uids.push_back(pod.uid);
  }
  EXPECT_EQ(uids, (std::vector<std::string>{Uuid(0xa), Uuid(0xbeef), "alpha", "zeta"}));
  EXPECT_EQ(state.pods[0].accounted_until, T(40));
  absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(state);
  ASSERT_TRUE(restored.ok());
  EXPECT_EQ(restored->Snapshot(), state);
}

TEST(LedgerTest, RestoreRejectsInconsistentState) {
  LedgerState bad;
  bad.period = Day();
  bad.pods.push_back({"x", T(90000)});
  EXPECT_FALSE(BudgetLedger::Restore(bad).ok());
  LedgerState negative;
  negative.period = Day();
  negative.accrued = -1;
  EXPECT_FALSE(BudgetLedger::Restore(negative).ok());
}

// A pod whose start falls in the second of a pass is due nothing yet; it is tracked all the
// same and the next pass charges it from its start.
TEST(LedgerTest, APodStartedInTheSecondOfAPassIsChargedByTheNext) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("a", T(100), absl::FromUnixSeconds(1'800'000'100) + absl::Milliseconds(700),
                   Rate(36), 1, false);
  ledger.CompletePass(T(100) + absl::Milliseconds(700), {});
  EXPECT_EQ(ledger.tracked_pods(), 1u);
  EXPECT_EQ(ledger.AccountedUntil("a"), T(100));
  ledger.ChargePod("a", T(100), T(115), Rate(36), 1, false);
  ledger.CompletePass(T(115), {});
  EXPECT_EQ(ledger.gpu_seconds(), 15);
  // And across a restart right after the first pass: charged from its start as well.
  BudgetLedger first(Day());
  first.ChargePod("a", T(100), T(100), Rate(36), 1, false);
  first.CompletePass(T(100), {});
  absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(first.Snapshot());
  ASSERT_TRUE(restored.ok()) << restored.status();
  restored->ChargePod("a", T(100), T(115), Rate(36), 1, false);
  EXPECT_EQ(restored->gpu_seconds(), 15);
  // The checkpoint of that first pass lists it at its start, charged nothing: its budget's
  // status shows the pod from the first pass that sees it, not from the next.
  EXPECT_EQ(first.Snapshot().pods, (std::vector<PodAccount>{{"a", T(100)}}));
}

// The checkpoint does not grow with the running pods: 50,000 of them, started long ago or in
// the last seconds, are covered by the watermark and the start horizon.
TEST(LedgerTest, ACheckpointOfFiftyThousandRunningPodsStaysBounded) {
  BudgetLedger ledger(Day());
  for (int64_t t = 15; t <= 3600; t += 15) {
    for (int i = 0; i < 50'000; i += (t < 3600 ? 50 : 1)) {
      // Pods start every second up to the last pass; each is charged at every pass.
      int64_t start = std::min<int64_t>(i % 3600, t);
      ledger.ChargePod(Uuid(i), T(start), T(t), Rate(1), 1, false);
    }
    ledger.CompletePass(T(t), {});
  }
  EXPECT_EQ(ledger.tracked_pods(), 50'000u);
  LedgerState state = ledger.Snapshot();
  EXPECT_LE(state.pods.size(), kMaxCheckpointPods);
  EXPECT_GT(state.start_horizon, T(3600) - kStartGrace);  // moved: more starts than fit
  EXPECT_LE(state.start_horizon, T(3600));
}

// When more pods started than a checkpoint lists, the start horizon moves forward; a pod it
// passes that was not charged up to the watermark (here: tracked, then missing from a pass) is
// listed with what it was charged, so a restart charges it from there.
TEST(LedgerTest, AMovedStartHorizonListsThePodsItPassesThatAreBehind) {
  BudgetLedger ledger(Day());
  ledger.ChargePod("behind", T(100), T(100), Rate(1), 1, false);
  ledger.CompletePass(T(100), {});
  for (int i = 0; i < 60; ++i) {
    ledger.ChargePod(absl::StrCat("burst-", i), T(105 + i % 10), T(115), Rate(1), 1, false);
  }
  ledger.CompletePass(T(115), {});
  LedgerState state = ledger.Snapshot();
  ASSERT_LE(state.pods.size(), kMaxCheckpointPods);
  ASSERT_GT(state.start_horizon, T(100));
  absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(state);
  ASSERT_TRUE(restored.ok()) << restored.status();
  const int64_t before = restored->gpu_seconds();
  restored->ChargePod("behind", T(100), T(130), Rate(1), 1, false);
  EXPECT_EQ(restored->gpu_seconds() - before, 30);
}

// Restarts a busy meter at many points and compares it with the meter that never stopped: pods
// that started before the start horizon or after it, after the checkpoint, in a burst of more
// starts than a checkpoint lists, that ended before it or while down, or were deleted while
// down. With nothing deleted, both equal the spend recomputed from the pods' timestamps.
TEST(LedgerTest, ACompactCheckpointRestoresExactly) {
  struct Pod {
    std::string uid;
    int64_t start, end;  // end < 0: still running
    int64_t rate;
  };
  std::mt19937 rng(11);
  std::vector<Pod> pods;
  for (int i = 0; i < 270; ++i) {
    // 120 pods start within ten seconds (more than kMaxCheckpointPods), the others spread out.
    int64_t start = i < 120 ? 1000 + i % 10 : static_cast<int64_t>(rng() % 3600) - 300;
    int64_t length = 1 + static_cast<int64_t>(rng() % 900);
    pods.push_back({absl::StrCat("p", i), start, rng() % 4 == 0 ? -1 : start + length,
                    1 + static_cast<int64_t>(rng() % 40)});
  }
  // A pass at `t` over the pods visible then, as the planner does; pods that ended in
  // (down_from, down_to) are deleted while the operator is down when `deletes` is set.
  auto pass = [&](BudgetLedger& ledger, int64_t t, bool deletes, int64_t down_from,
                  int64_t down_to) {
    auto visible = [&](const Pod& p) {
      bool deleted = deletes && p.end > down_from && p.end < down_to && t >= down_to;
      return p.start <= t && !deleted;
    };
    std::vector<std::string> ended;
    std::set<std::string> present;
    for (const Pod& p : pods) {
      if (!visible(p)) {
        continue;
      }
      present.insert(p.uid);
      bool is_ended = p.end >= 0 && p.end <= t;
      ledger.ChargePod(p.uid, T(p.start), T(is_ended ? p.end : t), Rate(p.rate), 1, is_ended);
      if (is_ended) {
        ended.push_back(p.uid);
      }
    }
    for (const std::string& uid : ledger.TrackedUids()) {
      if (!present.contains(uid)) {
        ended.push_back(uid);
      }
    }
    ledger.CompletePass(T(t), ended);
  };
  auto from_timestamps = [&](int64_t until) {
    Accrual sum = 0;
    for (const Pod& p : pods) {
      int64_t from = std::max<int64_t>(p.start, 0);
      int64_t to = std::min(p.end < 0 ? until : p.end, until);
      if (to > from) {
        sum += static_cast<Accrual>(Rate(p.rate).micros()) * (to - from);
      }
    }
    return sum;
  };
  int restarts = 0;
  for (int64_t kill = 20; kill < 3300; kill += 175) {
    for (int64_t down : {4, 75, 600}) {
      for (bool deletes : {false, true}) {
        BudgetLedger uninterrupted(Day());
        BudgetLedger restarted(Day());
        int64_t t = 15;
        for (; t <= kill; t += 15) {
          pass(uninterrupted, t, deletes, 0, 0);
          pass(restarted, t, deletes, 0, 0);
        }
        int64_t last = t - 15;
        int64_t back = last + down;
        LedgerState checkpoint = restarted.Snapshot();
        EXPECT_LE(checkpoint.pods.size(), kMaxCheckpointPods);
        absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(checkpoint);
        ASSERT_TRUE(restored.ok()) << restored.status();
        restarted = *std::move(restored);
        ++restarts;
        int64_t end = last;
        for (t = back; t <= 3600; t += 15) {
          pass(uninterrupted, t, deletes, last, back);
          pass(restarted, t, deletes, last, back);
          end = t;
        }
        EXPECT_TRUE(restarted.accrued() == uninterrupted.accrued())
            << "kill " << kill << " down " << down << " deletes " << deletes;
        EXPECT_EQ(restarted.gpu_seconds(), uninterrupted.gpu_seconds()) << "kill " << kill;
        if (!deletes) {
          EXPECT_TRUE(restarted.accrued() == from_timestamps(end))
              << "kill " << kill << " down " << down;
        }
      }
    }
  }
  EXPECT_GT(restarts, 100);
}

// A new leader whose cache is still stale sees running a pod that the old leader saw end (and
// charged to its end) shortly before its checkpoint: charged past the end, then taken back to
// its end once seen, not below (before: charged from the watermark, taken back from the end).
TEST(LedgerTest, APodSeenEndedBeforeACheckpointAndRunningAfterItIsTakenBackToItsEnd) {
  BudgetLedger old_leader(Day());
  for (int64_t t = 1; t <= 110; ++t) {
    const bool ended = t >= 100;
    old_leader.ChargePod("p", T(0), T(ended ? 100 : t), Rate(36), 1, ended);
    old_leader.CompletePass(T(t),
                            ended ? std::vector<std::string>{"p"} : std::vector<std::string>{});
  }
  ASSERT_EQ(old_leader.gpu_seconds(), 100);
  absl::StatusOr<BudgetLedger> new_leader = BudgetLedger::Restore(old_leader.Snapshot());
  ASSERT_TRUE(new_leader.ok()) << new_leader.status();
  new_leader->ChargePod("p", T(0), T(115), Rate(36), 1, false);  // stale: still running
  new_leader->CompletePass(T(115), {});
  new_leader->ChargePod("p", T(0), T(100), Rate(36), 1, true);
  EXPECT_EQ(new_leader->gpu_seconds(), 100);
}

// Passes that run on a stale cache (a stalled or cut watch: pods seen as they were at the start
// of the stall, the watermark moving on) and then on a fresh one, with a restart inside the stall
// or after it, against the pods' timestamps: nothing lost, nothing counted twice. Pods that
// ended during the stall are charged as running until their end shows up, then taken back.
TEST(LedgerTest, AStaleCacheNeitherLosesNorRepeatsAnInterval) {
  struct Pod {
    std::string uid;
    int64_t start, end;  // end < 0: still running
    int64_t rate;
  };
  std::mt19937 rng(7);
  std::vector<Pod> pods;
  for (int i = 0; i < 100; ++i) {
    int64_t start = static_cast<int64_t>(rng() % 600);
    // Mostly short Jobs, like the campaign's; a quarter run long enough to have started more
    // than kStartGrace before a checkpoint written while they end.
    int64_t length = rng() % 4 == 0 ? 40 + static_cast<int64_t>(rng() % 80)
                                    : 1 + static_cast<int64_t>(rng() % 30);
    // Half the uids are UUIDs (kept packed), half other text.
    pods.push_back({i % 2 == 0 ? Uuid(i) : absl::StrCat("p", i), start,
                    rng() % 8 == 0 ? -1 : start + length, 1 + static_cast<int64_t>(rng() % 40)});
  }
  // A pass at `t` on the cache as it was at `seen` (seen == t: fresh).
  auto pass = [&](BudgetLedger& ledger, int64_t t, int64_t seen) {
    std::vector<std::string> ended;
    std::set<std::string> present;
    for (const Pod& p : pods) {
      if (p.start > seen) {
        continue;
      }
      present.insert(p.uid);
      bool is_ended = p.end >= 0 && p.end <= seen;
      ledger.ChargePod(p.uid, T(p.start), T(is_ended ? p.end : t), Rate(p.rate), 1, is_ended);
      if (is_ended) {
        ended.push_back(p.uid);
      }
    }
    for (const std::string& uid : ledger.TrackedUids()) {
      if (!present.contains(uid)) {
        ended.push_back(uid);
      }
    }
    ledger.CompletePass(T(t), ended);
  };
  auto from_timestamps = [&](int64_t until) {
    Accrual sum = 0;
    for (const Pod& p : pods) {
      int64_t to = std::min(p.end < 0 ? until : p.end, until);
      if (to > p.start) {
        sum += static_cast<Accrual>(Rate(p.rate).micros()) * (to - p.start);
      }
    }
    return sum;
  };
  int runs = 0;
  for (int64_t stall_from = 30; stall_from < 640; stall_from += 53) {
    for (int64_t stall : {5, 12, 45}) {  // shorter than kStartGrace, for the restarts
      for (int64_t restart : {int64_t{-1}, stall / 2, stall + 3}) {  // -1: none
        // handover: the checkpoint written inside the stall is restored by another process
        // whose cache is fresh (a deposed leader's stale view, a new leader's fresh one).
        for (bool handover : {false, true}) {
          if (handover && restart != stall / 2) {
            continue;
          }
          BudgetLedger ledger(Day());
          int64_t end = 0;
          for (int64_t t = 1; t <= 700; ++t) {
            bool stale = t > stall_from && t <= stall_from + stall &&
                         !(handover && t > stall_from + restart);
            pass(ledger, t, stale ? stall_from : t);
            if (restart >= 0 && t == stall_from + restart) {
              absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(ledger.Snapshot());
              ASSERT_TRUE(restored.ok()) << restored.status();
              ledger = *std::move(restored);
            }
            end = t;
          }
          ++runs;
          EXPECT_TRUE(ledger.accrued() == from_timestamps(end))
              << "stall from " << stall_from << " for " << stall << " restart " << restart
              << (handover ? " (handover)" : "") << ": " << AccrualToString(ledger.accrued())
              << " vs " << AccrualToString(from_timestamps(end));
        }
      }
    }
  }
  EXPECT_GT(runs, 100);
}

// A deposed leader's checkpoint: its cache stopped showing pod changes at 100 s while its passes
// went on to 130 s, so it charged "p" (started at 0, ended at 110) as running up to 130. The new
// leader's fresh cache shows the end: the 20 s charged after it are taken back. (Taken as charged
// in full before end horizons: the fault campaign's halfopen once left 34 GPU-seconds too many.)
TEST(LedgerTest, ACheckpointFromAStaleCacheHasWhatItChargedPastAnEndTakenBack) {
  BudgetLedger stale(Day());
  for (int64_t t = 1; t <= 130; ++t) {
    stale.ChargePod("p", T(0), T(t), Rate(36), 1, false);  // seen running: the end is unseen
    stale.CompletePass(T(t), {});
  }
  ASSERT_EQ(stale.gpu_seconds(), 130);
  LedgerState checkpoint = stale.Snapshot();
  EXPECT_EQ(checkpoint.end_horizon, T(130) - kStartGrace);
  EXPECT_TRUE(checkpoint.pods.empty()) << "started before the start horizon, charged up to W";
  absl::StatusOr<BudgetLedger> fresh = BudgetLedger::Restore(checkpoint);
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  BudgetLedger::Charge back = fresh->ChargePod("p", T(0), T(110), Rate(36), 1, true);
  EXPECT_EQ(back.seconds, -20);
  EXPECT_EQ(back.money, Money() - Money::FromUnits(36).MulDiv(20, 3600));
  fresh->CompletePass(T(131), {});
  EXPECT_EQ(fresh->gpu_seconds(), 110);
  EXPECT_EQ(fresh->ChargePod("p", T(0), T(110), Rate(36), 1, true).seconds, 0) << "once";

  // A pod that ended before the end horizon was charged to its end by the writer: skipped.
  EXPECT_EQ(fresh->ChargePod("q", T(0), T(60), Rate(36), 1, true).seconds, 0);
  // A checkpoint without an end horizon (earlier versions): an unlisted ended pod was charged
  // in full, as before.
  checkpoint.end_horizon = absl::InfinitePast();
  absl::StatusOr<BudgetLedger> upgraded = BudgetLedger::Restore(checkpoint);
  ASSERT_TRUE(upgraded.ok()) << upgraded.status();
  EXPECT_EQ(upgraded->ChargePod("p", T(0), T(110), Rate(36), 1, true).seconds, 0);
}

// Ended pods the bound leaves out of a full checkpoint were seen ended by its writer and charged
// to their ends: the end horizon moves past them, so a restore takes nothing back from them.
TEST(LedgerTest, EndedPodsLeftOutOfAFullCheckpointAreNotTakenBack) {
  BudgetLedger writer(Day());
  const int64_t n = static_cast<int64_t>(kMaxCheckpointPods) + 10;
  for (int64_t t = 1; t <= 120; ++t) {
    std::vector<std::string> ended;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t end = 60 + i;  // all within the last minute before W = 120
      writer.ChargePod(Uuid(i), T(0), T(std::min(t, end)), Rate(36), 1, t >= end);
    }
    writer.CompletePass(T(t), ended);
  }
  const int64_t charged = writer.gpu_seconds();
  LedgerState checkpoint = writer.Snapshot();
  ASSERT_EQ(checkpoint.pods.size(), kMaxCheckpointPods);
  EXPECT_GT(checkpoint.end_horizon, T(120) - kStartGrace);
  absl::StatusOr<BudgetLedger> restored = BudgetLedger::Restore(checkpoint);
  ASSERT_TRUE(restored.ok()) << restored.status();
  for (int64_t i = 0; i < n; ++i) {
    restored->ChargePod(Uuid(i), T(0), T(60 + i), Rate(36), 1, true);
  }
  EXPECT_EQ(restored->gpu_seconds(), charged);
}

// A checkpoint written before start horizons existed lists every running pod: a pod it does not
// list has not been charged (the upgrade path).
TEST(LedgerTest, ACheckpointWithoutAStartHorizonListsEveryChargedPod) {
  LedgerState old;
  old.period = Day();
  old.watermark = T(600);
  old.accrued = static_cast<Accrual>(Rate(1).micros()) * 600;
  old.gpu_seconds = 600;
  old.pods = {{"listed", T(600)}};
  absl::StatusOr<BudgetLedger> ledger = BudgetLedger::Restore(old);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ledger->ChargePod("listed", T(0), T(615), Rate(1), 1, false);
  ledger->ChargePod("unlisted", T(0), T(615), Rate(1), 1, false);
  ledger->CompletePass(T(615), {});
  EXPECT_EQ(ledger->gpu_seconds(), 600 + 15 + 615);
  // From then on the checkpoint is the compact one.
  LedgerState now = ledger->Snapshot();
  EXPECT_EQ(now.start_horizon, T(615) - kStartGrace);
  EXPECT_TRUE(now.pods.empty());
}

TEST(LedgerTest, AccrualTextRoundTrips) {
  for (Accrual a : {Accrual{0}, Accrual{1}, Accrual{-7}, Accrual{3600} * 1'000'000'000'000}) {
    absl::StatusOr<Accrual> parsed = ParseAccrual(AccrualToString(a));
    ASSERT_TRUE(parsed.ok());
    EXPECT_TRUE(*parsed == a);
  }
  EXPECT_FALSE(ParseAccrual("12x").ok());
  EXPECT_FALSE(ParseAccrual("").ok());
  EXPECT_FALSE(ParseAccrual("-").ok());
}

TEST(LedgerTest, AccrualRoundsHalfEvenToMicros) {
  EXPECT_EQ(AccrualToMoney(1800), Money::FromMicros(0));  // 0.5 -> 0
  EXPECT_EQ(AccrualToMoney(5400), Money::FromMicros(2));  // 1.5 -> 2
  EXPECT_EQ(AccrualToMoney(1801), Money::FromMicros(1));
}

}  // namespace
}  // namespace bursar::values
