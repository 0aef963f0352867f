#include "controllers/reconcilers/budget_planner.h"

#include <algorithm>
#include <deque>
#include <exception>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "controllers/api/codec.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/budget_step.h"
#include "controllers/engine/cost_model.h"
#include "controllers/reconcilers/planner_pass.h"
#include "controllers/values/period.h"

namespace bursar::reconcilers {
namespace {

using api::LadderAction;
using values::Money;

LadderAction RungOfPhase(api::BudgetPhase phase) {
  switch (phase) {
    case api::BudgetPhase::kWithinBudget:
      return LadderAction::kNone;
    case api::BudgetPhase::kAtRisk:
      return LadderAction::kNotify;
    case api::BudgetPhase::kThrottled:
      return LadderAction::kThrottle;
    case api::BudgetPhase::kHeld:
      return LadderAction::kHold;
    case api::BudgetPhase::kExhausted:
      return LadderAction::kDrain;
  }
  return LadderAction::kNone;
}

// Sets (or replaces) a condition, keeping lastTransitionTime when the status did not change.
void SetCondition(std::vector<api::Condition>& conditions, api::Condition c) {
  for (api::Condition& existing : conditions) {
    if (existing.type == c.type) {
      if (existing.status == c.status) {
        c.last_transition_time = existing.last_transition_time;
      }
      existing = std::move(c);
      return;
    }
  }
  conditions.push_back(std::move(c));
}

void RemoveCondition(std::vector<api::Condition>& conditions, std::string_view type) {
  std::erase_if(conditions, [&](const api::Condition& c) { return c.type == type; });
}

// What a money budget can still commit in its period beyond what its running work will spend by
// the period's end (the decision's forecast), keeping back the part of a retraining reserve no
// modelDrift unlocked; nothing while it holds new work; nullopt for a GPU-hours-only budget.
std::optional<Money> MoneyLeft(const api::ComputeBudget& b, const engine::BudgetDecision& d,
                               const engine::BudgetStep& step) {
  if (!b.spec.limit.amount.has_value()) {
    return std::nullopt;
  }
  if (d.hold_new_work || d.keep_running_gpus.has_value()) {
    return Money();
  }
  Money kept;
  if (!step.reserve_unlocked) {
    kept = values::Max(Money(),
                       engine::ReserveOf(*b.spec.limit.amount, b.spec.retraining.reserve_percent) -
                           step.reserve_ledger->spent());
  }
  return values::Max(Money(), *b.spec.limit.amount - d.forecast - kept);
}

// A Job's cap as its annotations say, for status.jobs[].cap.
std::string CapText(const JobView& job) {
  std::vector<std::string> parts;
  if (job.max_cost.has_value()) {
    parts.push_back(absl::StrCat("max-cost ", job.max_cost->ToString()));
  }
  if (job.max_gpu_hours.has_value()) {
    parts.push_back(absl::StrFormat("max-gpu-hours %.2f", *job.max_gpu_hours));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

const char* Name(JobRung rung) {
  switch (rung) {
    case JobRung::kHold:
      return "Hold";
    case JobRung::kDrain:
      return "Drain";
    case JobRung::kRelease:
      return "Release";
    case JobRung::kCap:
      return "Cap";
  }
  return "?";
}

BudgetPlanner::Pass::Pass(const Snapshot& snapshot) : snap(snapshot), now(snapshot.now) {
  for (const api::GPUNodePool& p : snap.pools) {
    pools_by_name[p.metadata.name] = &p;
  }
  for (const api::PriceBook& b : snap.price_books) {
    books[b.metadata.name] = &b;
  }
  for (const NodeView& n : snap.nodes) {
    nodes[n.info.name] = &n;
    if (!n.grown_for.empty()) {
      grown_for[n.grown_for].push_back(&n);
    }
    for (const api::GPUNodePool& p : snap.pools) {
      if (NodeInPool(p, n)) {
        pool_of_node[n.info.name] = &p;
        members_of_pool[&p].push_back(&n);
        break;
      }
    }
  }
  for (const auto& [name, labels] : snap.namespaces) {
    namespaces[name].labels = &labels;
  }
  for (const JobView& job : snap.jobs) {
    if (job.suspended && !job.finished && !job.held_by.empty()) {
      absl::Duration& grace = held_stop_grace[job.held_by];
      grace = std::max(grace, job.stop_grace);
    }
  }
  // Per pod: its GPUs and node, found once; active pods and GPUs summed per node by index.
  pod_gpus.reserve(snap.pods.size());
  pod_node.reserve(snap.pods.size());
  pod_namespace.reserve(snap.pods.size());
  pod_rate.resize(snap.pods.size());
  std::vector<int64_t> pods_on(snap.nodes.size()), gpus_on(snap.nodes.size());
  for (const PodView& pod : snap.pods) {
    const int64_t gpus = engine::PodGpus(pod.containers);
    pod_gpus.push_back(gpus);
    auto node = pod.node_name.empty() ? nodes.end() : nodes.find(pod.node_name);
    pod_node.push_back(node == nodes.end() ? nullptr : node->second);
    NamespaceSlot& ns = Namespace(pod.namespace_name);
    pod_namespace.push_back(&ns);
    if (!Active(pod)) {
      continue;
    }
    if (node != nodes.end()) {
      const auto n = static_cast<size_t>(node->second - snap.nodes.data());
      ++pods_on[n];
      gpus_on[n] += gpus;
    }
    ns.active_gpus += gpus;
  }
  for (size_t n = 0; n < snap.nodes.size(); ++n) {
    if (pods_on[n] > 0) {
      active_pods_on_node[snap.nodes[n].info.name] = pods_on[n];
      active_gpus_on_node[snap.nodes[n].info.name] = gpus_on[n];
    }
  }
  for (const JobView& job : snap.jobs) {
    // Batch Jobs only: the pods of other kinds are not tied to them (JobView::kind).
    if (!job.finished && job.kind == nullptr && CapOf(job).any()) {
      capped_jobs[JobKey(job.namespace_name, job.name)] = &job;
    }
  }
}

const engine::UnitPrices& BudgetPlanner::Pass::PricesOn(const api::PriceBook* book,
                                                        const NodeView* node) {
  if (book != last_book) {
    last_book = book;
    last_prices = &prices[book];
    last_prices->by_node.resize(snap.nodes.size() + 1);
  }
  std::optional<engine::UnitPrices>& cached =
      last_prices->by_node[node == nullptr ? snap.nodes.size()
                                           : static_cast<size_t>(node - snap.nodes.data())];
  if (cached.has_value()) {
    return *cached;
  }
  auto it = resolvers.find(book->metadata.name);
  if (it == resolvers.end()) {
    it = resolvers.emplace(book->metadata.name, engine::PriceResolver(book->spec)).first;
  }
  if (node == nullptr) {
    return cached.emplace(it->second.PricesFor(engine::NodeInfo{}));
  }
  auto pool = pool_of_node.find(node->info.name);
  std::optional<Money> node_price;
  if (pool != pool_of_node.end()) {
    node_price = pool->second->spec.price_per_node_hour;
  }
  return cached.emplace(it->second.PricesFor(node->info, node_price));
}

Money BudgetPlanner::Pass::NodeRate(const api::PriceBook* book, const NodeView& node) {
  engine::ContainerResources all;
  all.cpu_request = node.info.cpu_capacity;
  all.memory_request = node.info.memory_capacity;
  all.gpus = node.info.gpu_capacity;
  return engine::PodRatePerHour({all}, PricesOn(book, &node));
}

absl::Duration BudgetPlanner::LookaheadAt(absl::Time now) const {
  if (last_pass_ == absl::InfinitePast() || now <= last_pass_) {
    return options_.lookahead;
  }
  return std::clamp(engine::kLookaheadTicks * (now - last_pass_), options_.lookahead,
                    std::max(options_.lookahead, kMaxLookahead));
}

Plan BudgetPlanner::Reconcile(const Snapshot& snap) {
  lookahead_ = LookaheadAt(snap.now);
  last_pass_ = snap.now;
  Pass pass(snap);
  ValidateBudgets(pass);
  ForgetRemovedBudgets(pass);
  AttributePods(pass);
  for (BudgetWork& w : pass.work) {
    const size_t outcome = pass.plan.budgets.size();
    try {
      PlanBudget(pass, w);
    } catch (const std::exception& e) {
      FreezeFailedBudget(pass, w, outcome, e.what());
    } catch (...) {
      FreezeFailedBudget(pass, w, outcome, "a non-standard exception");
    }
  }
  PlanQuotas(pass);
  PlanJobs(pass);
  AttachRecentActions(pass);
  AttachDrainRequests(pass);
  PlanPools(pass);
  return std::move(pass.plan);
}

void BudgetPlanner::NoteStatusWriteFailures(const std::map<std::string, std::string>& failures,
                                            absl::Time when) {
  for (auto& [name, st] : budgets_) {
    auto failed = failures.find(name);
    if (failed == failures.end()) {
      st.status_write_failed.reset();
    } else if (!st.status_write_failed.has_value()) {
      st.status_write_failed.emplace(when, failed->second);
    } else {
      st.status_write_failed->second = failed->second;  // failing since the first failure
    }
  }
}

// A budget that cannot be honoured (bad period, missing price book or pool, currency mismatch)
// is marked invalid; it is still reported, but nothing is metered or enforced for it.
void BudgetPlanner::ValidateBudgets(Pass& pass) {
  std::vector<const api::ComputeBudget*> sorted;
  for (const api::ComputeBudget& b : pass.snap.budgets) {
    sorted.push_back(&b);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->metadata.name < b->metadata.name; });
  pass.work.resize(sorted.size());
  for (size_t i = 0; i < sorted.size(); ++i) {
    BudgetWork& w = pass.work[i];
    const api::ComputeBudget& b = *sorted[i];
    w.budget = &b;
    w.enforced = b.spec.enforcement == api::EnforcementMode::kEnforce;
    absl::StatusOr<values::PeriodCalendar> calendar = values::PeriodCalendar::Create(b.spec.period);
    if (!calendar.ok()) {
      w.invalid_reason = "InvalidPeriod";
      w.invalid_message = absl::StrCat("spec.period: ", calendar.status().message());
    } else {
      w.calendar = *calendar;
    }
    auto book = pass.books.find(b.spec.price_book_ref);
    if (book != pass.books.end()) {
      w.book = book->second;
    }
    if (w.valid() && w.book == nullptr) {
      // A PriceBook that exists but did not decode is named as such, with its decoder's error.
      auto rejected = std::find_if(
          pass.snap.rejected.begin(), pass.snap.rejected.end(), [&](const RejectedObject& r) {
            return r.kind == "PriceBook" && r.name == b.spec.price_book_ref;
          });
      if (rejected != pass.snap.rejected.end()) {
        w.invalid_reason = "PriceBookInvalid";
        w.invalid_message = absl::StrCat("spec.priceBookRef: PriceBook \"", b.spec.price_book_ref,
                                         "\" is invalid; spend cannot be priced: ", rejected->why);
      } else {
        w.invalid_reason = "PriceBookNotFound";
        w.invalid_message = absl::StrCat("spec.priceBookRef: PriceBook \"", b.spec.price_book_ref,
                                         "\" not found; spend cannot be priced");
      }
    }
    if (w.valid() && b.spec.limit.amount.has_value() &&
        w.book->spec.currency != b.spec.limit.currency) {
      w.invalid_reason = "CurrencyMismatch";
      w.invalid_message = absl::StrCat("spec.limit.currency: ", b.spec.limit.currency,
                                       " does not match PriceBook \"", w.book->metadata.name,
                                       "\" (", w.book->spec.currency, ")");
    }
    for (const std::string& name : b.spec.node_pools) {
      auto pool = pass.pools_by_name.find(name);
      if (pool == pass.pools_by_name.end()) {
        if (w.valid()) {
          auto rejected = std::find_if(
              pass.snap.rejected.begin(), pass.snap.rejected.end(),
              [&](const RejectedObject& r) { return r.kind == "GPUNodePool" && r.name == name; });
          w.invalid_reason =
              rejected != pass.snap.rejected.end() ? "NodePoolInvalid" : "NodePoolNotFound";
          w.invalid_message =
              rejected != pass.snap.rejected.end()
                  ? absl::StrCat("spec.nodePools: GPUNodePool \"", name,
                                 "\" is invalid: ", rejected->why)
                  : absl::StrCat("spec.nodePools: GPUNodePool \"", name, "\" not found");
        }
        continue;
      }
      w.pools.push_back(pool->second);
    }
    if (w.valid()) {
      pass.valid.push_back(&b);
      pass.valid_index.push_back(i);
    }
  }
}

// Forgets budgets that went away (or were deleted and created again under the same name).
void BudgetPlanner::ForgetRemovedBudgets(const Pass& pass) {
  // pass.work is sorted by name (ValidateBudgets): one binary search per budget kept.
  for (auto it = budgets_.begin(); it != budgets_.end();) {
    auto found = std::lower_bound(
        pass.work.begin(), pass.work.end(), it->first,
        [](const BudgetWork& w, const std::string& name) { return w.name() < name; });
    const bool kept = found != pass.work.end() && found->name() == it->first &&
                      found->budget->metadata.uid == it->second.uid;
    it = kept ? std::next(it) : budgets_.erase(it);
  }
}

// Each pod goes to exactly one valid budget (engine::AttributePod); budgets whose scopes also
// matched it learn that they overlap.
void BudgetPlanner::AttributePods(Pass& pass) {
  const auto count = static_cast<uint32_t>(pass.snap.pods.size());
  for (uint32_t i = 0; i < count; ++i) {
    engine::Attribution a = pass.AttributePod(i);
    if (a.budget < 0) {
      continue;
    }
    BudgetWork& winner = pass.Winner(a.budget);
    winner.pods.push_back({.pod = &pass.snap.pods[i], .index = i});
    for (int other : a.overlapping) {
      BudgetWork& loser = pass.Winner(other);
      loser.overlaps.push_back(winner.name());
      winner.overlaps.push_back(loser.name());
    }
  }
}

// What metering a budget found this pass.
struct BudgetPlanner::Metering {
  engine::BudgetBurn burn;
  double util_weighted = 0;  // GPU-weighted utilisation of its running pods
  int64_t util_gpus = 0;
  std::string ended_summary;     // non-empty when a period ended this pass
  bool accounts_closed = false;  // the ledger dropped a pod's (or idle node's) account
};

// Pods of the budget that ran to their end teach it how long its work runs, per model.
void BudgetPlanner::LearnJobLengths(const BudgetWork& w, BudgetState& st) {
  const std::string& model_label = w.budget->spec.retraining.model_label;
  absl::flat_hash_set<values::Uid> listed;
  for (const auto& [pod, index] : w.pods) {
    if (pod->state != PodState::kEnded || !pod->start.has_value() || !pod->end.has_value()) {
      continue;
    }
    listed.insert(pod->uid);
    if (st.learned_pods.insert(pod->uid).second && *pod->end > st.restored_until) {
      st.lengths.Add(*pod->end - *pod->start, engine::PodGpus(pod->containers),
                     pod->labels.Find(model_label).value_or(""), *pod->end);
    }
  }
  st.learned_pods = std::move(listed);
}

void BudgetPlanner::PlanBudget(Pass& pass, BudgetWork& w) {
  const api::ComputeBudget& b = *w.budget;
  const absl::Time now = pass.now;
  BudgetState& st = BeginOutcome(pass, w);
  BudgetOutcome& out = pass.plan.budgets[w.outcome];
  if (!w.valid()) {
    MarkInvalid(w, st, now, out);
    pass.plan.frozen_budgets.push_back(b.metadata.name);
    return;
  }
  if (options_.before_planning_budget) {
    options_.before_planning_budget(b);
  }

  const values::Period current = w.calendar->Containing(now);
  if (!st.ledger.has_value()) {
    RestoreLedgers(b, now, current, st, out);
    RestoreJobLengths(b, st, out);
  }
  // modelDrift signals first, so retraining pods unlocked now are charged to the reserve.
  ObserveDrift(pass, w, current, st, out);
  Metering m = MeterBudget(pass, w, current, st);
  out.accounts_closed = m.accounts_closed;
  LearnJobLengths(w, st);

  std::vector<engine::PoolPrice> pool_prices;  // per GPU-hour, of each pool the budget may grow
  std::vector<engine::UnitPrices> pool_units;  // of a node of each pool (cpu and memory quotas)
  for (const api::GPUNodePool* pool : w.pools) {
    const std::vector<const NodeView*>& members = pass.members_of_pool[pool];
    const bool has_room = std::cmp_less(members.size(), pool->spec.max_nodes);
    auto sample = std::find_if(members.begin(), members.end(),
                               [](const NodeView* n) { return n->info.gpu_capacity > 0; });
    if (sample != members.end() && engine::LimitsCpuOrMemory(b.spec)) {
      pool_units.push_back(pass.PricesOn(w.book, *sample));
    }
    if (sample != members.end()) {
      pool_prices.push_back(
          {pass.NodeRate(w.book, **sample).MulDiv(1, (*sample)->info.gpu_capacity), has_room});
    } else if (pool->spec.price_per_node_hour.has_value()) {
      pool_prices.push_back(
          {pool->spec.price_per_node_hour->MulDiv(1, pool->spec.gpus_per_node), has_room});
    }
  }
  auto held = pass.held_stop_grace.find(w.name());
  engine::BudgetStep step{
      .now = now,
      .ledger = &*st.ledger,
      .reserve_ledger = &*st.reserve_ledger,
      .burn = m.burn,
      .gpu_hour_price = Money(),
      .reserve_unlocked = st.gate.AnyUnlocked(st.ledger->period()),
      .lookahead = lookahead_,
      .next_period_length = w.calendar->Next(st.ledger->period()).length(),
      .carry_fraction = st.lengths.FractionLongerThan(st.ledger->period().end - now),
      .start_stop_lag = held == pass.held_stop_grace.end() ? absl::ZeroDuration() : held->second};
  step.gpu_hour_price =
      engine::GpuHourPrice(pool_prices, step.burn, w.book->spec.defaults.gpu_hour);
  w.decision = engine::Decide(b.spec, step);
  const engine::BudgetDecision& d = w.decision;
  w.gpu_hour_price = step.gpu_hour_price;
  w.money_left = MoneyLeft(b, d, step);
  w.cpu_memory_prices = engine::CpuMemoryPrices(pool_units, w.book->spec.defaults);
  out.decision = d;
  out.running_gpus = m.burn.regular_gpus + m.burn.reserve_gpus;
  out.gpu_utilization = m.util_gpus > 0 ? m.util_weighted / static_cast<double>(m.util_gpus) : -1;
  if (w.enforced && d.quota_gpus.has_value()) {
    w.total_quota = *d.quota_gpus + (step.reserve_unlocked ? d.reserve_allowed_gpus : 0);
  }
  w.reserve_headroom = step.reserve_unlocked
                           ? std::max<int64_t>(0, d.reserve_allowed_gpus - w.reserve_active_gpus)
                           : 0;
  RecordTransitions(w, d, now, m.ended_summary, st, out);
  WriteStatus(w, step, st, out);
}

// The budget's outcome, started from its status, and its state (from status at first sight).
BudgetPlanner::BudgetState& BudgetPlanner::BeginOutcome(Pass& pass, BudgetWork& w) {
  const api::ComputeBudget& b = *w.budget;
  w.outcome = pass.plan.budgets.size();
  BudgetOutcome& out = pass.plan.budgets.emplace_back();
  out.name = b.metadata.name;
  out.dry_run = !w.enforced;
  BudgetState& st = budgets_[b.metadata.name];
  if (st.uid.empty()) {  // first sight: continue from what the status says
    st.uid = b.metadata.uid;
    st.recent_actions = b.status.recent_actions;
    st.conditions = b.status.conditions;
    st.last_rung = RungOfPhase(b.status.phase);
    if (b.status.retraining.has_value()) {
      st.gate.Restore(*b.status.retraining);
    }
    for (const api::DrainRequest& r : b.status.drain_requests) {
      drain_requested_.emplace(JobKey(r.namespace_name, r.name),
                               DrainClock{.since = r.since, .budget = b.metadata.name});
    }
  }
  out.status = b.status;
  out.status.observed_generation = b.metadata.generation;
  return st;
}

// A budget whose planning threw: what the failed step wrote to the plan is dropped and the
// budget is frozen like an invalid one (Ready False, PlanningFailed), so its quotas, Jobs and
// pools stay as they are and the other budgets are planned as usual. Its ledgers may hold half
// a metering: they are dropped and restored from status next pass (idempotent, ledger.h).
void BudgetPlanner::FreezeFailedBudget(Pass& pass, BudgetWork& w, size_t outcome,
                                       std::string what) {
  pass.plan.budgets.resize(outcome);
  w.invalid_reason = "PlanningFailed";
  w.invalid_message = std::move(what);
  w.total_quota = -1;
  BudgetState& st = BeginOutcome(pass, w);
  st.ledger.reset();
  st.reserve_ledger.reset();
  MarkInvalid(w, st, pass.now, pass.plan.budgets[w.outcome]);
  pass.plan.frozen_budgets.push_back(w.name());
}

void BudgetPlanner::MarkInvalid(const BudgetWork& w, BudgetState& st, absl::Time now,
                                BudgetOutcome& out) {
  const api::ComputeBudget& b = *w.budget;
  out.valid = false;
  SetCondition(st.conditions, {.type = "Ready",
                               .status = "False",
                               .reason = w.invalid_reason,
                               .message = w.invalid_message,
                               .last_transition_time = now,
                               .observed_generation = b.metadata.generation});
  out.status.conditions = st.conditions;
  bool announced = std::any_of(
      b.status.conditions.begin(), b.status.conditions.end(), [&](const api::Condition& c) {
        return c.type == "Ready" && c.reason == w.invalid_reason && c.message == w.invalid_message;
      });
  if (!announced) {
    out.events.push_back(
        {.warning = true, .reason = w.invalid_reason, .message = w.invalid_message});
  }
}

// Ledgers come back from status.ledger / status.reserveLedger the first time a budget is seen,
// so a restart neither loses nor repeats a second (see ledger.h); capped Jobs' spend from
// status.jobs, written with them.
void BudgetPlanner::RestoreLedgers(const api::ComputeBudget& b, absl::Time now,
                                   const values::Period& current, BudgetState& st,
                                   BudgetOutcome& out) {
  auto restore = [&](const std::optional<values::LedgerState>& saved,
                     const values::Period& fallback) {
    if (saved.has_value() && saved->period.start <= now) {
      absl::StatusOr<values::BudgetLedger> restored = values::BudgetLedger::Restore(*saved);
      if (restored.ok()) {
        return *std::move(restored);
      }
      out.events.push_back({.warning = true,
                            .reason = "LedgerRestoreFailed",
                            .message = absl::StrCat("status.ledger: ", restored.status().message(),
                                                    "; metering restarts from the period start")});
    }
    return values::BudgetLedger(fallback);
  };
  st.ledger = restore(b.status.ledger, current);
  st.job_spend.clear();
  for (const api::JobSpend& j : b.status.jobs) {
    st.job_spend[JobKey(j.namespace_name, j.name)] = j;
  }
  st.reserve_ledger = (b.status.reserve_ledger.has_value() &&
                       b.status.reserve_ledger->period == st.ledger->period())
                          ? restore(b.status.reserve_ledger, st.ledger->period())
                          : values::BudgetLedger(st.ledger->period());
}

// What the last leader learned of Job lengths comes back from status.jobLengths the first time a
// budget is seen; a value that does not decode is ignored, with an Event saying why.
void BudgetPlanner::RestoreJobLengths(const api::ComputeBudget& b, BudgetState& st,
                                      BudgetOutcome& out) {
  if (b.status.job_lengths.empty()) {
    return;
  }
  absl::StatusOr<engine::JobLengths> restored = engine::JobLengths::Decode(b.status.job_lengths);
  if (!restored.ok()) {
    out.events.push_back(
        {.warning = true,
         .reason = "JobLengthsRestoreFailed",
         .message = absl::StrCat("status.jobLengths: ", restored.status().message(),
                                 "; job lengths are learned anew")});
    return;
  }
  st.lengths = *std::move(restored);
  st.restored_until = st.lengths.learned_until();
}

void BudgetPlanner::ObserveDrift(const Pass& pass, const BudgetWork& w,
                                 const values::Period& current, BudgetState& st,
                                 BudgetOutcome& out) {
  const api::ComputeBudget& b = *w.budget;
  if (b.spec.retraining.reserve_percent <= 0) {
    return;
  }
  std::vector<std::pair<const engine::ModelDriftSignal*, bool>> signals;  // (signal, quiet)
  for (const engine::ModelDriftSignal& signal : pass.snap.drift) {
    signals.emplace_back(&signal, false);
  }
  if (auto own = pass.snap.budget_drift.find(b.metadata.name);
      own != pass.snap.budget_drift.end()) {
    for (const engine::ModelDriftSignal& signal : own->second) {
      signals.emplace_back(&signal, true);  // the budget's own driftQuery: no Event when ignored
    }
  }
  for (const auto& [signal_ptr, quiet] : signals) {
    const engine::ModelDriftSignal& signal = *signal_ptr;
    engine::DriftOutcome outcome = st.gate.Observe(b.spec.retraining, signal, current);
    std::string message = absl::StrCat(
        "model ", signal.model, " score ", static_cast<double>(signal.score_micros) / 1e6, " (",
        signal.metric, ", from ", signal.source, "): ", engine::DriftOutcomeName(outcome));
    if (outcome == engine::DriftOutcome::kUnlocked) {
      out.new_actions.push_back({.time = pass.now,
                                 .action = "UnlockReserve",
                                 .reason = "ModelDrift",
                                 .message = message,
                                 .target = absl::StrCat("model/", signal.model),
                                 .dry_run = !w.enforced});
      out.events.push_back({.reason = "ModelDriftUnlocked", .message = message});
    } else if (!quiet) {
      out.events.push_back({.reason = "ModelDriftIgnored", .message = message});
    }
  }
}

// Pods the ledger tracks that are not in the budget's view any more (deleted, or nodes no
// longer idle) have ended: their uids join `ended`. Every running pod charged this pass is
// tracked, so when the ledger tracks no more than those none is gone, and the scan (a set of
// every pod's uid) runs only in a pass where some pod ended or went away.
void BudgetPlanner::EndGonePods(const BudgetWork& w, size_t running_charged,
                                const std::deque<values::Uid>& node_uids,
                                const values::BudgetLedger& ledger,
                                std::vector<std::string>& ended) {
  if (ledger.tracked_pods() <= running_charged) {
    return;
  }
  absl::flat_hash_set<values::Uid> present(node_uids.begin(), node_uids.end());
  present.reserve(w.pods.size() + node_uids.size());
  for (const auto& [pod, index] : w.pods) {
    present.insert(pod->uid);
  }
  for (std::string& uid : ledger.TrackedUids()) {
    if (!present.contains(values::Uid(uid))) {
      ended.push_back(std::move(uid));
    }
  }
}

// The running total of the capped Job `pod` belongs to, in the budget's state; nullptr when its
// Job has no cap. A Job re-created under the same name (another uid) starts from zero.
api::JobSpend* BudgetPlanner::JobSpendOf(const Pass& pass, const PodView& pod, BudgetState& st) {
  if (pod.job.empty()) {
    return nullptr;
  }
  std::string key = JobKey(pod.namespace_name, pod.job);
  auto capped = pass.capped_jobs.find(key);
  if (capped == pass.capped_jobs.end()) {
    return nullptr;
  }
  api::JobSpend& spend = st.job_spend[key];
  if (spend.uid != capped->second->uid || spend.name.empty()) {
    spend = api::JobSpend();
    spend.namespace_name = pod.namespace_name;
    spend.name = pod.job;
    spend.uid = capped->second->uid;
  }
  return &spend;
}

// Charges this pass's intervals into the ledgers: every pod from its start (or the ledger's
// watermark) to its end or now, then idle nodes the budget grew; rolls the ledgers over when a
// period ended (charges are clipped to each period) and completes the pass.
BudgetPlanner::Metering BudgetPlanner::MeterBudget(Pass& pass, BudgetWork& w,
                                                   const values::Period& current, BudgetState& st) {
  const api::ComputeBudget& b = *w.budget;
  const absl::Time now = pass.now;
  struct Charge {
    const values::Uid* uid;  // the snapshot's pod uid, or one of node_uids
    absl::Time from, to;
    Money rate;
    int64_t gpus = 0;
    bool ended = false;
    bool reserve = false;
    api::JobSpend* job = nullptr;  // a capped Job's running total, charged alongside
    bool pod = true;               // else an idle node
  };
  Metering m;
  engine::StopLag stop_lag;
  std::vector<Charge> charges;
  std::vector<std::string> ended;
  std::deque<values::Uid> node_uids;  // "node:<name>" of idle nodes charged (stable addresses)
  const bool has_reserve = b.spec.retraining.reserve_percent > 0;
  std::map<api::JobSpend*, std::pair<Money, int64_t>> running_capped;  // rate, GPUs
  for (const auto& [pod, index] : w.pods) {
    const int64_t gpus = pass.Gpus(index);
    std::string model;
    // Only a budget with a reserve draws on it (DrawsOnReserve): the others skip the labels.
    bool retraining =
        has_reserve && engine::IsRetrainingWork(pod->labels, b.spec.retraining, &model);
    bool reserve = engine::DrawsOnReserve(b.spec.retraining, st.gate, retraining, model, current);
    if (reserve) {
      w.reserve_pods.insert(pod->uid);
    }
    if (Active(*pod)) {
      (reserve ? w.reserve_active_gpus : w.regular_active_gpus) += gpus;
    }
    if (!pod->start.has_value() || pod->node_name.empty()) {
      continue;
    }
    Money rate = pass.RateOf(*pod, pass.PricesOn(w.book, pass.pod_node[index]));
    // A pod past its deletionTimestamp is charged up to it and no further: it has ended, for
    // the ledger, so the checkpoint need not list it while its deletion completes.
    const bool deleted = pod->deleting.has_value() && *pod->deleting <= now;
    bool is_ended = pod->state == PodState::kEnded || deleted;
    absl::Time to = pod->state == PodState::kEnded ? pod->end.value_or(*pod->start) : now;
    if (pod->deleting.has_value()) {
      to = std::min(to, *pod->deleting);
    }
    to = std::min(to, now);
    api::JobSpend* job = pass.capped_jobs.empty() ? nullptr : JobSpendOf(pass, *pod, st);
    charges.push_back({&pod->uid, *pod->start, to, rate, gpus, is_ended, reserve, job, true});
    if (job != nullptr && !is_ended) {
      running_capped[job].first += rate;
      running_capped[job].second += gpus;
    }
    if (is_ended) {
      ended.push_back(pod->uid.str());
      continue;
    }
    (reserve ? m.burn.reserve_rate : m.burn.regular_rate) += rate;
    (reserve ? m.burn.reserve_gpus : m.burn.regular_gpus) += gpus;
    if (pod->deleting.has_value()) {
      (reserve ? m.burn.reserve_stopping_rate : m.burn.stopping_rate) += rate;
      (reserve ? m.burn.reserve_stopping_gpus : m.burn.stopping_gpus) += gpus;
    }
    stop_lag.Add(rate, StopLagOf(*pod, now), pod->deleting.has_value());
    pass.pod_rate[index] = rate;  // summed per Job by PlanJobs
    if (gpus > 0 && !pass.snap.gpu_utilization.empty()) {
      auto util = pass.snap.gpu_utilization.find(JobKey(pod->namespace_name, pod->name));
      if (util != pass.snap.gpu_utilization.end()) {
        m.util_weighted += util->second * static_cast<double>(gpus);
        m.util_gpus += gpus;
      }
    }
  }
  m.burn.stop_lag = stop_lag.Lag();
  std::map<std::string, absl::Time> idle_since;
  // The idle part of the nodes the budget grew: a wholly idle node at its whole price; a node
  // that runs pods, its GPUs no pod holds at their share of the node price (the pods pay their
  // own shares), as the simulator charges (Simulation::IdleByOwner) and the cloud bills.
  std::map<const api::GPUNodePool*, int> removable;  // wholly idle nodes counted, by pool
  for (const NodeView* grown : pass.GrownFor(b.metadata.name)) {
    const NodeView& node = *grown;
    if (!pass.pool_of_node.contains(node.info.name)) {
      continue;
    }
    m.burn.pays_for_nodes = true;
    const int64_t capacity = node.info.gpu_capacity;
    const bool idle = pass.Idle(node.info.name);
    const int64_t free_gpus =
        idle ? capacity
             : std::clamp<int64_t>(capacity - pass.ActiveGpusOn(node.info.name), 0, capacity);
    if (!idle && free_gpus == 0) {
      continue;
    }
    const values::Uid& uid = node_uids.emplace_back(absl::StrCat("node:", node.info.name));
    auto since = st.idle_since.find(node.info.name);
    absl::Time from = since == st.idle_since.end() ? now : since->second;
    const Money node_rate = pass.NodeRate(w.book, node);
    const Money rate = idle ? node_rate : node_rate.MulDiv(free_gpus, capacity);
    charges.push_back({&uid, from, now, rate, free_gpus, false, false, nullptr, false});
    idle_since[node.info.name] = now;
    m.burn.idle_rate += rate;
    m.burn.idle_gpus += free_gpus;
    // A wholly idle node goes at the pass that holds the budget: at most maxScaleStep a pool,
    // and none below its minNodes.
    const api::GPUNodePool* pool = pass.pool_of_node.at(node.info.name);
    const int64_t above_min =
        static_cast<int64_t>(pass.members_of_pool[pool].size()) - pool->spec.min_nodes;
    if (idle &&
        removable[pool]++ < std::min<int64_t>(std::max(pool->spec.max_scale_step, 1), above_min)) {
      m.burn.idle_node_rate += rate;
      m.burn.idle_node_gpus += free_gpus;
    }
  }
  st.idle_since = std::move(idle_since);

  auto apply = [&] {
    for (const Charge& c : charges) {
      values::BudgetLedger::Charge charged =
          st.ledger->ChargePod(*c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
      if (c.pod && !c.ended && charged.seconds == 0 && c.from <= now &&
          now - c.from < absl::Seconds(1)) {
        pass.plan.uncharged_starts = true;
      }
      if (c.job != nullptr) {
        c.job->accrued += static_cast<values::Accrual>(c.rate.micros()) * charged.seconds;
        c.job->gpu_seconds += c.gpus * charged.seconds;
      }
      if (c.reserve) {
        st.reserve_ledger->ChargePod(*c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
      }
    }
  };
  apply();
  const size_t running_charged = charges.size() - ended.size();  // pods and idle nodes
  EndGonePods(w, running_charged, node_uids, *st.ledger, ended);
  if (now >= st.ledger->period().end) {
    // The period ended. One step whatever the gap: a ledger restored after a long outage jumps
    // straight to the period holding now (the charges are clipped to it), so the work of a pass
    // never depends on how many periods passed.
    const values::Period ended_period = st.ledger->period();
    const values::Period next = w.calendar->Containing(now);
    st.ledger->CompletePass(ended_period.end, ended);
    m.ended_summary = absl::StrCat(
        "period ", api::FormatTime(ended_period.start), " ended with ",
        st.ledger->spent().ToString(), " spent",
        b.spec.limit.amount.has_value() ? absl::StrCat(" of ", b.spec.limit.amount->ToString())
                                        : "",
        " and ", Money::FromUnits(st.ledger->gpu_seconds()).MulDiv(1, 3600).ToString(),
        " GPU-hours; ",
        next.start > ended_period.end
            ? absl::StrCat("no pass ran from ", api::FormatTime(ended_period.end), " to ",
                           api::FormatTime(next.start), "; ")
            : "");
    st.ledger.emplace(next);
    st.reserve_ledger.emplace(next);
    apply();
  }
  const size_t tracked = st.ledger->tracked_pods();
  st.ledger->CompletePass(now, ended);
  st.reserve_ledger->CompletePass(now, ended);
  m.accounts_closed = st.ledger->tracked_pods() < tracked;
  for (auto& [job, burn] : running_capped) {
    job->rate = burn.first;
    job->gpus = burn.second;
  }
  for (auto& [key, spend] : st.job_spend) {
    if (auto job = pass.capped_jobs.find(key); job != pass.capped_jobs.end()) {
      spend.cap = CapText(*job->second);
    }
  }
  // Jobs gone, finished or no longer capped drop out (a cap added again starts from zero).
  std::erase_if(st.job_spend, [&](const auto& e) { return !pass.capped_jobs.contains(e.first); });
  return m;
}

// Ladder transitions: what Bursar did (or, in DryRun, would have done).
void BudgetPlanner::RecordTransitions(const BudgetWork& w, const engine::BudgetDecision& d,
                                      absl::Time now, const std::string& ended_summary,
                                      BudgetState& st, BudgetOutcome& out) {
  const std::string target = absl::StrCat("computebudget/", w.name());
  const bool new_period = !ended_summary.empty();
  if (new_period) {
    out.new_actions.push_back({.time = now,
                               .action = "Release",
                               .reason = "NewPeriod",
                               .message = absl::StrCat(ended_summary, "period ",
                                                       api::FormatTime(st.ledger->period().start),
                                                       " started; the budget is restored"),
                               .target = target,
                               .dry_run = !w.enforced});
    out.events.push_back(
        {.reason = "NewPeriod", .message = "a new period started; held work is released"});
  }
  if (d.rung > st.last_rung && d.rung != LadderAction::kNone) {
    bool severe = d.rung >= LadderAction::kHold;
    out.new_actions.push_back(
        {.time = now,
         .action = api::Name(d.rung),
         .reason = d.forecast_over_limit ? "ForecastOverLimit" : "ThresholdReached",
         .message = d.reason,
         .target = target,
         .dry_run = !w.enforced});
    out.events.push_back({.warning = severe,
                          .reason = absl::StrCat(w.enforced ? "" : "DryRun", api::Name(d.rung)),
                          .message = d.reason});
  } else if (d.rung < LadderAction::kHold && st.last_rung >= LadderAction::kHold && !new_period) {
    out.new_actions.push_back({.time = now,
                               .action = "Release",
                               .reason = "BackWithinPace",
                               .message = d.reason,
                               .target = target,
                               .dry_run = !w.enforced});
    out.events.push_back({.reason = "Released", .message = d.reason});
  }
  st.last_rung = d.rung;
}

// status.admission: what the webhook decides from on every replica. GPUs get the quota the
// ResourceQuota would get; cpu and memory (money budgets only) what their running pods use plus
// the money the pacing still allows per hour, converted at engine::CpuMemoryPrices; while the
// retraining reserve is unlocked, its GPU allowance (status.retraining says for which models).
api::AdmissionAllowance BudgetPlanner::AdmissionOf(const BudgetWork& w,
                                                   const engine::BudgetStep& step) {
  const engine::BudgetDecision& d = w.decision;
  api::AdmissionAllowance out;
  out.hold_new_work = d.hold_new_work || d.keep_running_gpus.has_value();
  out.gpu_hour_price = w.gpu_hour_price;
  out.money_left = w.money_left;
  // The requests of its pods matter only to a money budget that limits cpu or memory: most
  // budgets skip this pass over their pods.
  const api::ComputeBudgetSpec& spec = w.budget->spec;
  out.allowed = engine::CpuMemoryAllowances(
      spec, d, step.burn,
      engine::LimitsCpuOrMemory(spec) ? ActiveRequests(w.pods) : engine::CpuMemory(),
      w.cpu_memory_prices);
  if (d.quota_gpus.has_value() &&
      std::find(spec.quota.resources.begin(), spec.quota.resources.end(), values::kGpuResource) !=
          spec.quota.resources.end()) {
    out.allowed[values::kGpuResource] = values::Quantity::FromUnits(
        *d.quota_gpus + (step.reserve_unlocked ? d.reserve_allowed_gpus : 0));
  }
  if (step.reserve_unlocked) {
    out.reserve_gpus = d.reserve_allowed_gpus;
  }
  return out;
}

void BudgetPlanner::WriteStatus(const BudgetWork& w, const engine::BudgetStep& step,
                                BudgetState& st, BudgetOutcome& out) {
  const api::ComputeBudget& b = *w.budget;
  const engine::BudgetDecision& d = w.decision;
  const values::Period period = st.ledger->period();
  api::ComputeBudgetStatus& s = out.status;
  s.period = period;
  s.spent = st.ledger->spent();
  s.gpu_hours = Money::FromUnits(st.ledger->gpu_seconds()).MulDiv(1, 3600);
  s.burn_rate = step.burn.regular_rate + step.burn.idle_rate + step.burn.reserve_rate;
  if (b.spec.limit.amount.has_value()) {
    s.forecast = d.forecast;
    s.remaining = *b.spec.limit.amount - s.spent;
  } else {
    // GPU-hours budgets: the money fields stay money (the decision's view is in GPU-hours).
    int64_t seconds_left = std::max<int64_t>(0, absl::ToInt64Seconds(period.end - step.now));
    s.forecast = s.spent + s.burn_rate.MulDiv(seconds_left, 3600);
    s.remaining = Money();
  }
  s.exhausts_at = d.exhausts_at;
  s.allowed_gpus = d.allowed_gpus;
  s.admission = AdmissionOf(w, step);
  s.phase = d.phase;
  s.ledger = st.ledger->Snapshot();
  s.reserve_ledger = st.reserve_ledger->Snapshot();
  s.jobs.clear();
  for (const auto& [key, spend] : st.job_spend) {
    if (s.jobs.size() == api::kMaxJobSpends) {
      out.events.push_back({.warning = true,
                            .reason = "TooManyCappedJobs",
                            .message = absl::StrCat(
                                st.job_spend.size(), " Jobs with their own cap; status.jobs keeps ",
                                api::kMaxJobSpends,
                                ": the others restart from zero after a restart "
                                "of the operator (from ",
                                key, " on)")});
      break;
    }
    s.jobs.push_back(spend);
  }
  s.job_lengths = st.lengths.size() > 0 ? st.lengths.Encode() : "";
  s.retraining.reset();
  if (b.spec.retraining.reserve_percent > 0) {
    s.retraining = st.gate.Export(step.now, b.spec.retraining.cooldown);
  }
  if (st.status_write_failed.has_value()) {
    // What the API server holds is stale (it may still say Ready): say so in this write.
    SetCondition(
        st.conditions,
        {.type = "Ready",
         .status = "False",
         .reason = "StatusWriteFailed",
         .message = absl::StrCat(
             "status writes failed from ", api::FormatTime(st.status_write_failed->first), " (",
             st.status_write_failed->second, "); the status before this one was stale"),
         .last_transition_time = step.now,
         .observed_generation = b.metadata.generation});
  } else {
    SetCondition(st.conditions, {.type = "Ready",
                                 .status = "True",
                                 .reason = w.enforced ? "Enforcing" : "DryRun",
                                 .message = d.reason,
                                 .last_transition_time = step.now,
                                 .observed_generation = b.metadata.generation});
  }
  std::vector<std::string> overlaps = w.overlaps;
  std::sort(overlaps.begin(), overlaps.end());
  overlaps.erase(std::unique(overlaps.begin(), overlaps.end()), overlaps.end());
  if (!overlaps.empty()) {
    SetCondition(st.conditions,
                 {.type = "Overlapping",
                  .status = "True",
                  .reason = "ScopesOverlap",
                  .message = absl::StrCat(
                      "pods in scope are also selected by: ", absl::StrJoin(overlaps, ", "),
                      "; each pod is charged to the narrowest scope, then "
                      "the oldest budget"),
                  .last_transition_time = step.now,
                  .observed_generation = b.metadata.generation});
  } else {
    RemoveCondition(st.conditions, "Overlapping");
  }
  s.conditions = st.conditions;
}

// Quotas: a ClusterQueue's nominalQuota, or a ResourceQuota per namespace in scope whose
// headroom goes first where the budget's Jobs wait.
}  // namespace bursar::reconcilers
