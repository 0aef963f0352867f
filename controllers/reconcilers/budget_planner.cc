#include "controllers/reconcilers/budget_planner.h"

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/engine/attribution.h"
#include "controllers/engine/cost_model.h"
#include "controllers/values/period.h"
#include "controllers/engine/pool_sizing.h"

namespace bursar::reconcilers {
namespace {

using api::LadderAction;
using values::Money;

constexpr char kRetrainPurpose[] = "retrain";

std::string JobKey(const std::string& ns, const std::string& name) {
  return absl::StrCat(ns, "/", name);
}

bool Active(const PodView& pod) {
  return pod.state != PodState::kEnded;
}

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

bool NodeInPool(const api::GPUNodePool& pool, const NodeView& node) {
  for (const auto& [key, value] : pool.spec.node_selector) {
    auto it = node.info.labels.find(key);
    if (it == node.info.labels.end() || it->second != value) {
      return false;
    }
  }
  if (pool.spec.provider.type == api::ProviderType::kKwok) {
    std::string prefix = pool.spec.provider.kwok_node_name_prefix.empty()
                             ? pool.metadata.name + "-"
                             : pool.spec.provider.kwok_node_name_prefix;
    return node.info.name.starts_with(prefix);
  }
  return true;
}

bool IsRetraining(const values::Labels& labels, const api::RetrainingSpec& spec,
                  std::string* model) {
  auto purpose = labels.find(spec.purpose_label);
  auto m = labels.find(spec.model_label);
  if (purpose == labels.end() || purpose->second != kRetrainPurpose || m == labels.end()) {
    return false;
  }
  *model = m->second;
  return true;
}

// One budget's pass, while it is being planned.
struct Work {
  const api::ComputeBudget* budget = nullptr;
  std::optional<values::PeriodCalendar> calendar;
  const api::PriceBook* book = nullptr;
  std::vector<const api::GPUNodePool*> pools;
  std::string invalid_reason;  // CamelCase
  std::string invalid_message;
  std::vector<const PodView*> pods;
  std::vector<std::string> overlaps;  // other budgets that also matched some of its pods
  bool enforced = true;
  int64_t total_quota = -1;  // -1: unconstrained
  engine::BudgetDecision decision;
  int64_t regular_active_gpus = 0;
  int64_t reserve_active_gpus = 0;
  int64_t reserve_headroom = 0;
  std::set<std::string> reserve_pods;  // uids of pods that run on the retraining reserve
};

}  // namespace

Plan BudgetPlanner::Reconcile(const Snapshot& snap) {
  Plan plan;
  const absl::Time now = snap.now;

  // --- Indexes ----------------------------------------------------------------------------
  std::map<std::string, const api::GPUNodePool*> pools_by_name;
  for (const api::GPUNodePool& p : snap.pools) {
    pools_by_name[p.metadata.name] = &p;
  }
  std::map<std::string, const api::PriceBook*> books;
  for (const api::PriceBook& b : snap.price_books) {
    books[b.metadata.name] = &b;
  }
  std::map<std::string, const NodeView*> nodes;
  std::map<std::string, const api::GPUNodePool*> pool_of_node;
  std::map<const api::GPUNodePool*, std::vector<const NodeView*>> members_of_pool;
  for (const NodeView& n : snap.nodes) {
    nodes[n.info.name] = &n;
    for (const api::GPUNodePool& p : snap.pools) {
      if (NodeInPool(p, n)) {
        pool_of_node[n.info.name] = &p;
        members_of_pool[&p].push_back(&n);
        break;
      }
    }
  }
  std::map<std::string, int64_t> active_pods_on_node;
  std::map<std::string, int64_t> active_gpus_on_node;
  std::map<std::string, int64_t> active_gpus_in_ns;
  for (const PodView& pod : snap.pods) {
    if (!Active(pod)) {
      continue;
    }
    int64_t gpus = engine::PodGpus(pod.containers);
    if (!pod.node_name.empty()) {
      ++active_pods_on_node[pod.node_name];
      active_gpus_on_node[pod.node_name] += gpus;
    }
    active_gpus_in_ns[pod.namespace_name] += gpus;
  }
  auto idle = [&](const std::string& node) { return active_pods_on_node[node] == 0; };

  // --- Validate budgets --------------------------------------------------------------------
  std::vector<const api::ComputeBudget*> sorted;
  for (const api::ComputeBudget& b : snap.budgets) {
    sorted.push_back(&b);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->metadata.name < b->metadata.name; });
  std::vector<Work> work(sorted.size());
  std::vector<const api::ComputeBudget*> valid;
  std::vector<size_t> valid_index;
  for (size_t i = 0; i < sorted.size(); ++i) {
    Work& w = work[i];
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
    auto book = books.find(b.spec.price_book_ref);
    if (book != books.end()) {
      w.book = book->second;
    }
    if (w.invalid_reason.empty() && w.book == nullptr) {
      w.invalid_reason = "PriceBookNotFound";
      w.invalid_message = absl::StrCat("spec.priceBookRef: PriceBook \"", b.spec.price_book_ref,
                                       "\" not found; spend cannot be priced");
    }
    if (w.invalid_reason.empty() && b.spec.limit.amount.has_value() &&
        w.book->spec.currency != b.spec.limit.currency) {
      w.invalid_reason = "CurrencyMismatch";
      w.invalid_message = absl::StrCat("spec.limit.currency: ", b.spec.limit.currency,
                                       " does not match PriceBook \"", w.book->metadata.name,
                                       "\" (", w.book->spec.currency, ")");
    }
    for (const std::string& name : b.spec.node_pools) {
      auto pool = pools_by_name.find(name);
      if (pool == pools_by_name.end()) {
        if (w.invalid_reason.empty()) {
          w.invalid_reason = "NodePoolNotFound";
          w.invalid_message = absl::StrCat("spec.nodePools: GPUNodePool \"", name, "\" not found");
        }
        continue;
      }
      w.pools.push_back(pool->second);
    }
    if (w.invalid_reason.empty()) {
      valid.push_back(&b);
      valid_index.push_back(i);
    }
  }

  // Forget budgets that went away (or were deleted and created again under the same name).
  for (auto it = budgets_.begin(); it != budgets_.end();) {
    auto found = std::find_if(sorted.begin(), sorted.end(), [&](const auto* b) {
      return b->metadata.name == it->first && b->metadata.uid == it->second.uid;
    });
    it = found == sorted.end() ? budgets_.erase(it) : std::next(it);
  }

  // --- Attribute pods ----------------------------------------------------------------------
  static const values::Labels kNoLabels;
  auto ns_labels = [&](const std::string& ns) -> const values::Labels* {
    auto it = snap.namespaces.find(ns);
    return it == snap.namespaces.end() ? &kNoLabels : &it->second;
  };
  for (const PodView& pod : snap.pods) {
    engine::Attribution a =
        engine::AttributePod(valid, {.namespace_name = pod.namespace_name,
                                     .namespace_labels = ns_labels(pod.namespace_name),
                                     .pod_labels = &pod.labels});
    if (a.budget < 0) {
      continue;
    }
    Work& winner = work[valid_index[static_cast<size_t>(a.budget)]];
    winner.pods.push_back(&pod);
    for (int other : a.overlapping) {
      Work& loser = work[valid_index[static_cast<size_t>(other)]];
      loser.overlaps.push_back(winner.budget->metadata.name);
      winner.overlaps.push_back(loser.budget->metadata.name);
    }
  }

  // Prices of a node for a budget's price book (a pool's pricePerNodeHour wins).
  std::map<std::string, engine::PriceResolver> resolvers;
  auto prices_on = [&](const api::PriceBook* book, const NodeView* node) {
    auto it = resolvers.find(book->metadata.name);
    if (it == resolvers.end()) {
      it = resolvers.emplace(book->metadata.name, engine::PriceResolver(book->spec)).first;
    }
    if (node == nullptr) {
      return it->second.PricesFor(engine::NodeInfo{});
    }
    auto pool = pool_of_node.find(node->info.name);
    std::optional<Money> node_price;
    if (pool != pool_of_node.end()) {
      node_price = pool->second->spec.price_per_node_hour;
    }
    return it->second.PricesFor(node->info, node_price);
  };
  auto node_rate = [&](const api::PriceBook* book, const NodeView& node) {
    engine::ContainerResources all;
    all.cpu_request = node.info.cpu_capacity;
    all.memory_request = node.info.memory_capacity;
    all.gpus = node.info.gpu_capacity;
    return engine::PodRatePerHour({all}, prices_on(book, &node));
  };

  // --- Meter and decide, budget by budget -------------------------------------------------
  for (Work& w : work) {
    const api::ComputeBudget& b = *w.budget;
    BudgetOutcome out;
    out.name = b.metadata.name;
    out.dry_run = !w.enforced;
    BudgetState& st = budgets_[b.metadata.name];
    bool first_sight = st.uid.empty();
    if (first_sight) {
      st.uid = b.metadata.uid;
      st.recent_actions = b.status.recent_actions;
      st.conditions = b.status.conditions;
      st.last_rung = RungOfPhase(b.status.phase);
    }
    out.status = b.status;
    out.status.observed_generation = b.metadata.generation;

    if (!w.invalid_reason.empty()) {
      out.valid = false;
      SetCondition(st.conditions, {.type = "Ready",
                                   .status = "False",
                                   .reason = w.invalid_reason,
                                   .message = w.invalid_message,
                                   .last_transition_time = now,
                                   .observed_generation = b.metadata.generation});
      out.status.conditions = st.conditions;
      bool announced = std::any_of(b.status.conditions.begin(), b.status.conditions.end(),
                                   [&](const api::Condition& c) {
                                     return c.type == "Ready" && c.reason == w.invalid_reason &&
                                            c.message == w.invalid_message;
                                   });
      if (!announced) {
        out.events.push_back(
            {.warning = true, .reason = w.invalid_reason, .message = w.invalid_message});
      }
      plan.frozen_budgets.push_back(b.metadata.name);
      plan.budgets.push_back(std::move(out));
      continue;
    }

    const values::Period current = w.calendar->Containing(now);
    auto restore = [&](const std::optional<values::LedgerState>& saved,
                       const values::Period& fallback) {
      if (saved.has_value() && saved->period.start <= now) {
        absl::StatusOr<values::BudgetLedger> restored = values::BudgetLedger::Restore(*saved);
        if (restored.ok()) {
          return *std::move(restored);
        }
        out.events.push_back(
            {.warning = true,
             .reason = "LedgerRestoreFailed",
             .message = absl::StrCat("status.ledger: ", restored.status().message(),
                                     "; metering restarts from the period start")});
      }
      return values::BudgetLedger(fallback);
    };
    if (!st.ledger.has_value()) {
      st.ledger = restore(b.status.ledger, current);
      st.reserve_ledger = (b.status.reserve_ledger.has_value() &&
                           b.status.reserve_ledger->period == st.ledger->period())
                              ? restore(b.status.reserve_ledger, st.ledger->period())
                              : values::BudgetLedger(st.ledger->period());
    }

    // modelDrift signals first, so retraining pods unlocked now are charged to the reserve.
    if (b.spec.retraining.reserve_percent > 0) {
      std::vector<std::pair<const engine::ModelDriftSignal*, bool>> signals;  // (signal, quiet)
      for (const engine::ModelDriftSignal& signal : snap.drift) {
        signals.emplace_back(&signal, false);
      }
      if (auto own = snap.budget_drift.find(b.metadata.name); own != snap.budget_drift.end()) {
        for (const engine::ModelDriftSignal& signal : own->second) {
          signals.emplace_back(&signal, true);
        }
      }
      for (const auto& [signal_ptr, quiet] : signals) {
        const engine::ModelDriftSignal& signal = *signal_ptr;
        engine::DriftOutcome outcome = st.gate.Observe(b.spec.retraining, signal, current);
        std::string message = absl::StrCat(
            "model ", signal.model, " score ", static_cast<double>(signal.score_micros) / 1e6, " (",
            signal.metric, ", from ", signal.source, "): ", engine::DriftOutcomeName(outcome));
        if (outcome == engine::DriftOutcome::kUnlocked) {
          out.new_actions.push_back({.time = now,
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
    auto on_reserve = [&](const values::Labels& labels) {
      std::string model;
      return b.spec.retraining.reserve_percent > 0 &&
             IsRetraining(labels, b.spec.retraining, &model) && st.gate.IsUnlocked(model, current);
    };

    // Charges of this pass: pods, then idle nodes this budget grew.
    struct Charge {
      std::string uid;
      absl::Time from, to;
      Money rate;
      int64_t gpus = 0;
      bool ended = false;
      bool reserve = false;
    };
    std::vector<Charge> charges;
    std::vector<std::string> ended;
    Money regular_rate, reserve_rate, idle_rate;
    int64_t regular_gpus = 0, reserve_gpus = 0, idle_gpus = 0;
    double util_weighted = 0;
    int64_t util_gpus = 0;
    std::set<std::string> present;
    for (const PodView* pod : w.pods) {
      present.insert(pod->uid);
      int64_t gpus = engine::PodGpus(pod->containers);
      bool reserve = on_reserve(pod->labels);
      if (reserve) {
        w.reserve_pods.insert(pod->uid);
      }
      if (Active(*pod)) {
        (reserve ? w.reserve_active_gpus : w.regular_active_gpus) += gpus;
      }
      if (!pod->start.has_value() || pod->node_name.empty()) {
        continue;
      }
      auto node = nodes.find(pod->node_name);
      Money rate = engine::PodRatePerHour(
          pod->containers, prices_on(w.book, node == nodes.end() ? nullptr : node->second));
      bool is_ended = pod->state == PodState::kEnded;
      absl::Time to = is_ended ? pod->end.value_or(*pod->start) : now;
      if (pod->deleting.has_value()) {
        to = std::min(to, *pod->deleting);
      }
      to = std::min(to, now);
      charges.push_back({pod->uid, *pod->start, to, rate, gpus, is_ended, reserve});
      if (is_ended) {
        ended.push_back(pod->uid);
      } else {
        (reserve ? reserve_rate : regular_rate) += rate;
        (reserve ? reserve_gpus : regular_gpus) += gpus;
        auto util = snap.gpu_utilization.find(JobKey(pod->namespace_name, pod->name));
        if (util != snap.gpu_utilization.end() && gpus > 0) {
          util_weighted += util->second * static_cast<double>(gpus);
          util_gpus += gpus;
        }
      }
    }
    std::map<std::string, absl::Time> idle_since;
    for (const NodeView& node : snap.nodes) {
      auto pool = pool_of_node.find(node.info.name);
      if (node.grown_for != b.metadata.name || pool == pool_of_node.end() ||
          !idle(node.info.name)) {
        continue;
      }
      std::string uid = absl::StrCat("node:", node.info.name);
      present.insert(uid);
      auto since = st.idle_since.find(node.info.name);
      absl::Time from = since == st.idle_since.end() ? now : since->second;
      Money rate = node_rate(w.book, node);
      charges.push_back({uid, from, now, rate, node.info.gpu_capacity, false, false});
      idle_since[node.info.name] = now;
      idle_rate += rate;
      idle_gpus += node.info.gpu_capacity;
    }
    st.idle_since = std::move(idle_since);
    for (const values::PodAccount& account : st.ledger->Snapshot().pods) {
      if (!present.contains(account.uid)) {
        ended.push_back(account.uid);  // gone (deleted) or no longer idle
      }
    }

    auto apply = [&] {
      for (const Charge& c : charges) {
        st.ledger->ChargePod(c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
        if (c.reserve) {
          st.reserve_ledger->ChargePod(c.uid, c.from, c.to, c.rate, c.gpus, c.ended);
        }
      }
    };
    apply();
    bool new_period = false;
    std::string ended_summary;
    while (now >= st.ledger->period().end) {
      values::Period next = w.calendar->Containing(st.ledger->period().end);
      st.ledger->CompletePass(st.ledger->period().end, ended);
      ended_summary = absl::StrCat(
          "period ", api::FormatTime(st.ledger->period().start), " ended with ",
          st.ledger->spent().ToString(), " spent",
          b.spec.limit.amount.has_value() ? absl::StrCat(" of ", b.spec.limit.amount->ToString())
                                          : "",
          " and ", Money::FromUnits(st.ledger->gpu_seconds()).MulDiv(1, 3600).ToString(),
          " GPU-hours; ");
      st.ledger.emplace(next);
      st.reserve_ledger.emplace(next);
      new_period = true;
      apply();
    }
    st.ledger->CompletePass(now, ended);
    st.reserve_ledger->CompletePass(now, ended);
    const values::Period period = st.ledger->period();

    // Convert money into GPUs at the dearest per-GPU share of the budget's pools' nodes (never
    // under-estimates), or at what its running GPUs cost now when that is dearer.
    Money gpu_hour_price;
    for (const api::GPUNodePool* pool : w.pools) {
      const NodeView* sample = nullptr;
      for (const NodeView* node : members_of_pool[pool]) {
        if (node->info.gpu_capacity > 0) {
          sample = node;
          break;
        }
      }
      if (sample != nullptr) {
        gpu_hour_price = values::Max(
            gpu_hour_price, node_rate(w.book, *sample).MulDiv(1, sample->info.gpu_capacity));
      } else if (pool->spec.price_per_node_hour.has_value()) {
        gpu_hour_price = values::Max(
            gpu_hour_price, pool->spec.price_per_node_hour->MulDiv(1, pool->spec.gpus_per_node));
      }
    }
    if (regular_gpus > 0) {
      gpu_hour_price = values::Max(gpu_hour_price, regular_rate.MulDiv(1, regular_gpus));
    }
    if (gpu_hour_price.IsZero()) {
      gpu_hour_price = w.book->spec.defaults.gpu_hour;
    }

    engine::BudgetInputs in;
    in.now = now;
    in.period = period;
    in.spent = st.ledger->spent();
    in.reserve_spent = st.reserve_ledger->spent();
    in.gpu_seconds = st.ledger->gpu_seconds();
    in.reserve_gpu_seconds = st.reserve_ledger->gpu_seconds();
    in.rate_per_hour = regular_rate + idle_rate;
    in.reserve_rate_per_hour = reserve_rate;
    in.idle_rate_per_hour = idle_rate;
    in.idle_gpus = idle_gpus;
    in.running_gpus = regular_gpus;
    in.reserve_running_gpus = reserve_gpus;
    in.gpu_hour_price = gpu_hour_price;
    in.reserve_unlocked = st.gate.AnyUnlocked(period);
    in.lookahead = options_.lookahead;
    w.decision = engine::DecideBudget(b.spec, in);
    const engine::BudgetDecision& d = w.decision;
    out.decision = d;
    out.running_gpus = regular_gpus + reserve_gpus;
    out.gpu_utilization = util_gpus > 0 ? util_weighted / static_cast<double>(util_gpus) : -1;

    if (w.enforced && d.quota_gpus.has_value()) {
      w.total_quota = *d.quota_gpus + (in.reserve_unlocked ? d.reserve_allowed_gpus : 0);
    }
    w.reserve_headroom = in.reserve_unlocked
                             ? std::max<int64_t>(0, d.reserve_allowed_gpus - w.reserve_active_gpus)
                             : 0;

    // Ladder transitions: what Bursar did (or, in DryRun, would have done).
    if (new_period) {
      out.new_actions.push_back(
          {.time = now,
           .action = "Release",
           .reason = "NewPeriod",
           .message = absl::StrCat(ended_summary, "period ", api::FormatTime(period.start),
                                   " started; the budget is restored"),
           .target = absl::StrCat("computebudget/", b.metadata.name),
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
           .target = absl::StrCat("computebudget/", b.metadata.name),
           .dry_run = !w.enforced});
      out.events.push_back({.warning = severe,
                            .reason = absl::StrCat(w.enforced ? "" : "DryRun", api::Name(d.rung)),
                            .message = d.reason});
    } else if (d.rung < LadderAction::kHold && st.last_rung >= LadderAction::kHold && !new_period) {
      out.new_actions.push_back({.time = now,
                                 .action = "Release",
                                 .reason = "BackWithinPace",
                                 .message = d.reason,
                                 .target = absl::StrCat("computebudget/", b.metadata.name),
                                 .dry_run = !w.enforced});
      out.events.push_back({.reason = "Released", .message = d.reason});
    }
    st.last_rung = d.rung;

    // Status.
    api::ComputeBudgetStatus& s = out.status;
    s.period = period;
    s.spent = st.ledger->spent();
    s.gpu_hours = Money::FromUnits(st.ledger->gpu_seconds()).MulDiv(1, 3600);
    s.burn_rate = in.rate_per_hour + in.reserve_rate_per_hour;
    if (b.spec.limit.amount.has_value()) {
      s.forecast = d.forecast;
      s.remaining = *b.spec.limit.amount - s.spent;
    } else {
      // GPU-hours budgets: the money fields stay money (the decision's view is in GPU-hours).
      int64_t seconds_left = std::max<int64_t>(0, absl::ToInt64Seconds(period.end - now));
      s.forecast = s.spent + s.burn_rate.MulDiv(seconds_left, 3600);
      s.remaining = Money();
    }
    s.exhausts_at = d.exhausts_at;
    s.allowed_gpus = d.allowed_gpus;
    s.phase = d.phase;
    s.ledger = st.ledger->Snapshot();
    s.reserve_ledger = st.reserve_ledger->Snapshot();
    SetCondition(st.conditions, {.type = "Ready",
                                 .status = "True",
                                 .reason = w.enforced ? "Enforcing" : "DryRun",
                                 .message = d.reason,
                                 .last_transition_time = now,
                                 .observed_generation = b.metadata.generation});
    std::sort(w.overlaps.begin(), w.overlaps.end());
    w.overlaps.erase(std::unique(w.overlaps.begin(), w.overlaps.end()), w.overlaps.end());
    if (!w.overlaps.empty()) {
      std::string names;
      for (const std::string& n : w.overlaps) {
        absl::StrAppend(&names, names.empty() ? "" : ", ", n);
      }
      SetCondition(st.conditions,
                   {.type = "Overlapping",
                    .status = "True",
                    .reason = "ScopesOverlap",
                    .message = absl::StrCat("pods in scope are also selected by: ", names,
                                            "; each pod is charged to the narrowest scope, then "
                                            "the oldest budget"),
                    .last_transition_time = now,
                    .observed_generation = b.metadata.generation});
    } else {
      RemoveCondition(st.conditions, "Overlapping");
    }
    s.conditions = st.conditions;
    plan.budgets.push_back(std::move(out));
  }

  // --- Quotas -------------------------------------------------------------------------------
  for (size_t i = 0; i < work.size(); ++i) {
    Work& w = work[i];
    if (!w.invalid_reason.empty() || !w.enforced || w.total_quota < 0) {
      continue;
    }
    const api::ComputeBudgetSpec& spec = w.budget->spec;
    if (spec.quota.mode == api::QuotaMode::kKueueClusterQueue) {
      plan.cluster_queues.push_back(
          {spec.quota.cluster_queue, w.budget->metadata.name, spec.quota.resources, w.total_quota});
      continue;
    }
    if (spec.quota.mode != api::QuotaMode::kResourceQuota) {
      continue;
    }
    // Namespaces in scope that exist; the headroom goes first where work waits.
    std::vector<std::string> namespaces;
    for (const auto& [ns, labels] : snap.namespaces) {
      bool listed = std::find(spec.scope.namespaces.begin(), spec.scope.namespaces.end(), ns) !=
                    spec.scope.namespaces.end();
      values::Labels with_name = labels;
      with_name.emplace("kubernetes.io/metadata.name", ns);
      if (listed || (spec.scope.namespace_selector.has_value() &&
                     spec.scope.namespace_selector->Matches(with_name))) {
        namespaces.push_back(ns);
      }
    }
    std::map<std::string, int64_t> used, waiting;
    int64_t used_total = 0;
    for (const PodView* pod : w.pods) {
      if (Active(*pod)) {
        int64_t g = engine::PodGpus(pod->containers);
        used[pod->namespace_name] += g;
        used_total += g;
      }
    }
    for (const JobView& job : snap.jobs) {
      if (!job.finished && (job.suspended || job.held_by == w.budget->metadata.name)) {
        waiting[job.namespace_name] += job.gpus;
      }
    }
    int64_t headroom = std::max<int64_t>(0, w.total_quota - used_total);
    std::map<std::string, int64_t> share;
    for (const std::string& ns : namespaces) {
      int64_t give = std::min(headroom, waiting[ns]);
      share[ns] = give;
      headroom -= give;
    }
    if (!namespaces.empty()) {
      share[namespaces.front()] += headroom;
    }
    for (const std::string& ns : namespaces) {
      // The quota counts every pod of the namespace, also those another budget pays for.
      int64_t others = active_gpus_in_ns[ns] - used[ns];
      plan.quotas.push_back({ns, w.budget->metadata.name, others + used[ns] + share[ns]});
    }
  }

  // --- Jobs: hold, drain, release --------------------------------------------------------------
  std::map<std::string, int64_t> job_active_gpus;
  std::map<std::string, int32_t> job_pod_priority;
  for (const PodView& pod : snap.pods) {
    if (Active(pod) && !pod.job.empty()) {
      std::string key = JobKey(pod.namespace_name, pod.job);
      job_active_gpus[key] += engine::PodGpus(pod.containers);
      job_pod_priority[key] = std::max(job_pod_priority[key], pod.priority);
    }
  }
  std::map<std::string, size_t> work_by_name;
  for (size_t i = 0; i < work.size(); ++i) {
    work_by_name[work[i].budget->metadata.name] = i;
  }
  std::set<std::string> draining_jobs;
  struct Candidate {
    const JobView* job;
    int32_t priority;
    bool reserve;
  };
  std::map<size_t, std::vector<Candidate>> jobs_of_budget;
  for (const JobView& job : snap.jobs) {
    if (job.finished) {
      continue;
    }
    engine::Attribution a =
        engine::AttributePod(valid, {.namespace_name = job.namespace_name,
                                     .namespace_labels = ns_labels(job.namespace_name),
                                     .pod_labels = &job.labels});
    std::string key = JobKey(job.namespace_name, job.name);
    int32_t priority = job.priority.value_or(job_pod_priority[key]);
    if (a.budget < 0) {
      // Held by a budget that is gone, or no longer in any scope: let it go.
      if (!job.held_by.empty() && !work_by_name.contains(job.held_by)) {
        plan.jobs.push_back({job.namespace_name, job.name, job.held_by, false, "Release",
                             "its budget no longer exists"});
      }
      continue;
    }
    size_t wi = valid_index[static_cast<size_t>(a.budget)];
    std::string model;
    const api::RetrainingSpec& retraining = work[wi].budget->spec.retraining;
    const BudgetState& st = budgets_[work[wi].budget->metadata.name];
    bool reserve = retraining.reserve_percent > 0 && IsRetraining(job.labels, retraining, &model) &&
                   st.gate.IsUnlocked(model, st.ledger->period());
    jobs_of_budget[wi].push_back({&job, priority, reserve});
  }
  for (auto& [wi, candidates] : jobs_of_budget) {
    Work& w = work[wi];
    const engine::BudgetDecision& d = w.decision;
    const std::string& name = w.budget->metadata.name;
    BudgetOutcome& out = *std::find_if(plan.budgets.begin(), plan.budgets.end(),
                                       [&](const BudgetOutcome& o) { return o.name == name; });
    BudgetState& budget_state = budgets_[name];
    if (!d.hold_new_work && !d.keep_running_gpus.has_value()) {
      budget_state.dry_run_jobs.clear();
    }
    auto act = [&](const JobView& job, bool suspend, const std::string& rung,
                   const std::string& message) {
      if (!w.enforced && !budget_state.dry_run_jobs
                              .insert(absl::StrCat(rung, "/", job.namespace_name, "/", job.name))
                              .second) {
        return;  // already recorded in this episode: nothing changes in DryRun
      }
      api::ActionRecord record{.time = now,
                               .action = suspend ? rung : "Resume",
                               .reason = suspend ? absl::StrCat("Budget", rung) : "Released",
                               .message = message,
                               .target = absl::StrCat("Job/", job.namespace_name, "/", job.name),
                               .dry_run = !w.enforced};
      out.new_actions.push_back(record);
      if (w.enforced) {
        plan.jobs.push_back(
            {job.namespace_name, job.name, name, suspend, suspend ? rung : "Release", message});
      }
    };
    std::vector<Candidate> held_by_us, running, idle_jobs;
    for (const Candidate& c : candidates) {
      std::string key = JobKey(c.job->namespace_name, c.job->name);
      if (c.job->suspended) {
        if (c.job->held_by == name) {
          held_by_us.push_back(c);
        }
      } else if (job_active_gpus[key] > 0) {
        running.push_back(c);
      } else {
        idle_jobs.push_back(c);
      }
    }
    int64_t reserve_headroom = w.reserve_headroom;
    // Hold: Jobs without running pods are suspended so that nothing scales up for them.
    if (d.hold_new_work) {
      for (const Candidate& c : idle_jobs) {
        if (c.reserve && c.job->gpus <= reserve_headroom) {
          reserve_headroom -= c.job->gpus;
          continue;
        }
        act(*c.job, true, "Hold",
            absl::StrCat("held: budget ", name, " is at its Hold threshold (", d.reason, ")"));
      }
    }
    // Drain: keep only as many running GPUs as fit, lowest priority and newest go first.
    auto drain = [&](bool reserve, int64_t keep) {
      std::vector<Candidate> pool;
      int64_t total = 0;
      for (const Candidate& c : running) {
        if (c.reserve == reserve) {
          pool.push_back(c);
          total += job_active_gpus[JobKey(c.job->namespace_name, c.job->name)];
        }
      }
      std::sort(pool.begin(), pool.end(), [](const Candidate& a, const Candidate& b) {
        return std::make_tuple(a.priority, -absl::ToUnixNanos(a.job->created), a.job->name) <
               std::make_tuple(b.priority, -absl::ToUnixNanos(b.job->created), b.job->name);
      });
      for (const Candidate& c : pool) {
        if (total <= keep) {
          break;
        }
        std::string key = JobKey(c.job->namespace_name, c.job->name);
        total -= job_active_gpus[key];
        draining_jobs.insert(key);
        auto [requested, inserted] = drain_requested_.emplace(key, now);
        if (now - requested->second < c.job->drain_grace) {
          if (inserted) {
            out.events.push_back(
                {.warning = true,
                 .reason = "DrainRequested",
                 .message = absl::StrCat("Job ", key, " will be suspended after its ",
                                         kDrainGraceAnnotation, " of ",
                                         absl::FormatDuration(c.job->drain_grace))});
          }
          continue;
        }
        act(*c.job, true, "Drain",
            absl::StrCat("drained: budget ", name, " keeps ", keep, " running GPUs (", d.reason,
                         ")"));
      }
    };
    if (d.keep_running_gpus.has_value()) {
      drain(false, *d.keep_running_gpus);
    }
    if (d.reserve_keep_running_gpus.has_value()) {
      drain(true, *d.reserve_keep_running_gpus);
    }
    // Release what Bursar held, highest priority first, as far as the quota allows.
    std::sort(held_by_us.begin(), held_by_us.end(), [](const Candidate& a, const Candidate& b) {
      return std::make_tuple(-a.priority, a.job->created, a.job->name) <
             std::make_tuple(-b.priority, b.job->created, b.job->name);
    });
    bool held = d.hold_new_work || d.keep_running_gpus.has_value();
    int64_t headroom =
        w.total_quota < 0
            ? INT64_MAX
            : std::max<int64_t>(0, w.total_quota - w.regular_active_gpus - w.reserve_active_gpus);
    for (const Candidate& c : held_by_us) {
      if (c.reserve && c.job->gpus <= reserve_headroom) {
        reserve_headroom -= c.job->gpus;
        act(*c.job, false, "Release",
            absl::StrCat("released onto the retraining reserve of budget ", name,
                         " (modelDrift unlocked it)"));
        continue;
      }
      if (held || c.job->gpus > headroom) {
        continue;
      }
      headroom -= c.job->gpus;
      act(*c.job, false, "Release", absl::StrCat("released: budget ", name, " has room again"));
    }
  }
  std::erase_if(drain_requested_, [&](const auto& e) { return !draining_jobs.contains(e.first); });
  // Trim and attach recent actions now that job actions are known.
  for (BudgetOutcome& out : plan.budgets) {
    BudgetState& st = budgets_[out.name];
    for (const api::ActionRecord& a : out.new_actions) {
      st.recent_actions.push_back(a);
    }
    if (st.recent_actions.size() > api::kMaxRecentActions) {
      st.recent_actions.erase(st.recent_actions.begin(),
                              st.recent_actions.end() - api::kMaxRecentActions);
    }
    out.status.recent_actions = st.recent_actions;
  }

  // --- Node pools ------------------------------------------------------------------------------
  for (const api::GPUNodePool& pool : snap.pools) {
    PoolOutcome outcome;
    outcome.name = pool.metadata.name;
    outcome.status = pool.status;
    outcome.status.observed_generation = pool.metadata.generation;
    PoolState& ps = pools_[pool.metadata.name];
    bool first_pass =
        ps.known_nodes.empty() && ps.growing_for.empty() && ps.low_since == absl::InfiniteFuture();
    const std::vector<const NodeView*>& members = members_of_pool[&pool];
    // Nodes that appeared since a grow belong to the budget that asked for them.
    std::set<std::string> member_names;
    for (const NodeView* n : members) {
      member_names.insert(n->info.name);
      if (!first_pass && !ps.growing_for.empty() && n->grown_for.empty() &&
          !ps.known_nodes.contains(n->info.name)) {
        plan.node_owners.push_back({n->info.name, ps.growing_for});
      }
    }
    ps.known_nodes = member_names;

    int current = static_cast<int>(members.size());
    auto observed = snap.pool_observations.find(pool.metadata.name);
    if (observed != snap.pool_observations.end()) {
      if (observed->second.known) {
        current = observed->second.target_size;
      } else if (!observed->second.error.empty()) {
        outcome.errors.push_back(observed->second.error);
      }
    }
    int busy = 0, ready = 0;
    int64_t demand = 0;
    for (const NodeView* n : members) {
      busy += idle(n->info.name) ? 0 : 1;
      ready += n->ready ? 1 : 0;
      demand += active_gpus_on_node[n->info.name];
    }
    // Pending GPU work of the budgets that may grow this pool, capped by their quotas.
    std::string grower;
    int64_t grower_pending = 0;
    bool owners_held = true;
    for (const Work& w : work) {
      if (!w.invalid_reason.empty() ||
          std::find(w.pools.begin(), w.pools.end(), &pool) == w.pools.end()) {
        continue;
      }
      // A held budget asks for nodes only for retraining work on an unlocked reserve.
      const bool held = w.enforced && w.decision.hold_new_work;
      int64_t pending = 0;
      for (const PodView* pod : w.pods) {
        if (Active(*pod) && pod->node_name.empty() &&
            engine::PodGpus(pod->containers) <= pool.spec.gpus_per_node &&
            (!held || w.reserve_pods.contains(pod->uid))) {
          pending += engine::PodGpus(pod->containers);
        }
      }
      if (w.total_quota >= 0) {
        pending = std::min(pending, std::max<int64_t>(0, w.total_quota - w.regular_active_gpus -
                                                             w.reserve_active_gpus + pending));
      }
      demand += pending;
      if (pending > grower_pending) {
        grower = w.budget->metadata.name;
        grower_pending = pending;
      }
      bool holds =
          w.enforced && (w.decision.hold_new_work || w.decision.keep_running_gpus.has_value());
      for (const NodeView* n : members) {
        if (n->grown_for == w.budget->metadata.name && idle(n->info.name) && !holds) {
          owners_held = false;
        }
      }
    }
    bool any_owned_idle = std::any_of(members.begin(), members.end(), [&](const NodeView* n) {
      return !n->grown_for.empty() && idle(n->info.name);
    });
    engine::PoolSizingInputs in{.now = now,
                                .current_nodes = current,
                                .busy_nodes = busy,
                                .allowed_demand_gpus = demand,
                                .low_since = ps.low_since,
                                .scale_down_now = any_owned_idle && owners_held};
    engine::PoolSizingDecision decision = engine::SizePool(pool.spec, in);
    ps.low_since = decision.low_since;
    outcome.status.current_nodes = current;
    outcome.status.ready_nodes = ready;
    outcome.status.idle_nodes = current - busy;
    outcome.status.desired_nodes = decision.desired_nodes;
    if (decision.desired_nodes != current) {
      outcome.status.last_scale_time = now;
      outcome.status.last_scale_reason = decision.reason;
    }
    if (decision.desired_nodes > current) {
      ps.growing_for = grower;
      plan.pool_changes.push_back(
          {pool.metadata.name, current, decision.desired_nodes, {}, decision.reason, grower});
    } else if (decision.desired_nodes < current) {
      std::vector<const NodeView*> removable;
      for (const NodeView* n : members) {
        if (idle(n->info.name)) {
          removable.push_back(n);
        }
      }
      std::sort(removable.begin(), removable.end(), [&](const NodeView* a, const NodeView* b) {
        return std::make_tuple(a->ready, a->grown_for.empty(), -absl::ToUnixNanos(a->created),
                               a->info.name) < std::make_tuple(b->ready, b->grown_for.empty(),
                                                               -absl::ToUnixNanos(b->created),
                                                               b->info.name);
      });
      size_t count =
          std::min(removable.size(), static_cast<size_t>(current - decision.desired_nodes));
      PoolChange change{pool.metadata.name, current, current - static_cast<int>(count), {},
                        decision.reason,    ""};
      for (size_t i = 0; i < count; ++i) {
        change.remove.push_back(removable[i]->info.name);
      }
      outcome.status.desired_nodes = change.desired;
      if (count > 0) {
        plan.pool_changes.push_back(std::move(change));
      }
    }
    plan.pools.push_back(std::move(outcome));
  }
  std::erase_if(pools_, [&](const auto& e) { return !pools_by_name.contains(e.first); });
  return plan;
}

}  // namespace bursar::reconcilers
