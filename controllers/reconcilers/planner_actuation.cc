// The actuation steps of a BudgetPlanner pass: from each budget's decision to quotas, Jobs held,
// drained and released, and node pool sizes (see budget_planner.h for the rules).

#include <algorithm>
#include <functional>
#include <iterator>
#include <map>
#include <numeric>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "controllers/engine/admission_order.h"
#include "controllers/engine/drain_order.h"
#include "controllers/engine/pool_sizing.h"
#include "controllers/reconcilers/budget_planner.h"
#include "controllers/reconcilers/planner_pass.h"

namespace bursar::reconcilers {

using values::Money;
using values::Quantity;

namespace {

// The namespaces each valid budget writes a ResourceQuota into (same index as pass.valid): those
// its scope selects, except where it loses the namespace to a rival with the same pods in it
// (the same podSelector: identical scopes, a namespaceSelector matching everything) — its pods
// there are the winner's, and its quota would refuse the winner's new pods. Among such rivals
// the winner is the first in tie-break order (oldest, then name), as for pods.
std::vector<std::vector<std::string>> QuotaNamespaces(
    const Snapshot& snap, const std::vector<const api::ComputeBudget*>& valid,
    engine::Attributor& attributor) {
  std::vector<std::vector<std::string>> out(valid.size());
  for (const auto& [ns, labels] : snap.namespaces) {
    std::vector<const std::optional<values::LabelSelector>*> seen;  // one winner per selector
    for (int i : attributor.Candidates(ns, &labels)) {
      const auto& selector = valid[static_cast<size_t>(i)]->spec.scope.pod_selector;
      if (std::none_of(seen.begin(), seen.end(), [&](const auto* s) { return *s == selector; })) {
        seen.push_back(&selector);
        out[static_cast<size_t>(i)].push_back(ns);
      }
    }
  }
  return out;
}

// What unfinished Jobs waiting to start request together (GPUs, cpu, memory), by namespace:
// suspended ones for every budget, and Jobs a budget holds that are not suspended yet, for that
// budget ("budget/ns").
struct WaitingWork {
  struct Amount {
    int64_t gpus = 0;
    values::Quantity cpu;
    values::Quantity memory;
    Amount& operator+=(const Amount& o) {
      gpus += o.gpus;
      cpu = cpu + o.cpu;
      memory = memory + o.memory;
      return *this;
    }
  };
  std::map<std::string, Amount> suspended;
  std::map<std::string, Amount> held;

  explicit WaitingWork(const std::vector<JobView>& jobs) {
    for (const JobView& job : jobs) {
      if (job.finished || job.held_for == Name(JobRung::kCap)) {
        continue;  // a Job stopped at its own cap waits for its author, not for quota
      }
      if (job.suspended) {
        suspended[job.namespace_name] += {job.gpus, job.cpu, job.memory};
      } else if (!job.held_by.empty()) {
        held[JobKey(job.held_by, job.namespace_name)] += {job.gpus, job.cpu, job.memory};
      }
    }
  }
  Amount For(const std::string& budget, const std::string& ns) const {
    Amount out;
    for (const Amount* a : {Find(suspended, ns), Find(held, JobKey(budget, ns))}) {
      if (a != nullptr) {
        out += *a;
      }
    }
    return out;
  }

 private:
  static const Amount* Find(const std::map<std::string, Amount>& m, const std::string& key) {
    auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
  }
};

// A budget's headroom over its quota namespaces (in scope and existing): each gets what its
// waiting Jobs want while the headroom lasts, in order, and the first namespace the rest. The
// headroom is never handed out twice, so the quotas together allow no more than the budget.
template <typename T>
std::vector<T> SplitHeadroom(T headroom, const std::vector<std::string>& namespaces,
                             const std::function<T(const std::string&)>& waiting) {
  std::vector<T> share;
  share.reserve(namespaces.size());
  for (const std::string& ns : namespaces) {
    T give = std::min(headroom, waiting(ns));
    share.push_back(give);
    headroom = headroom - give;
  }
  if (!share.empty()) {
    share.front() = share.front() + headroom;
  }
  return share;
}

// What the active pods of each namespace request of cpu and memory (every budget's and none).
absl::flat_hash_map<std::string_view, engine::CpuMemory> ActiveRequestsByNamespace(
    const PodList& pods) {
  absl::flat_hash_map<std::string_view, engine::CpuMemory> out;
  for (const PodView& pod : pods) {
    if (Active(pod)) {
      engine::CpuMemory& total = out[pod.namespace_name];
      for (const engine::ContainerRequests& c : pod.containers) {
        total.cpu = total.cpu + c.cpu();
        total.memory = total.memory + c.memory();
      }
    }
  }
  return out;
}

// The admission order (engine/admission_order.h), as the simulator admits: priority, then the
// expected length (declared, else learned for the Job's model) with aging from its creation.
template <typename Candidate>
void SortForAdmission(std::vector<Candidate>& jobs, const std::string& model_label,
                      const engine::JobLengths& lengths) {
  std::vector<std::pair<engine::AdmissionRank, size_t>> ranked;
  for (size_t i = 0; i < jobs.size(); ++i) {
    const JobView& job = *jobs[i].job;
    auto model = job.labels.find(model_label);
    ranked.emplace_back(
        engine::AdmissionRankOf(
            jobs[i].priority, job.created,
            engine::ExpectedLength({job.expected_duration, job.active_deadline}, lengths,
                                   model == job.labels.end() ? "" : model->second),
            job.gpus),
        i);
  }
  std::sort(ranked.begin(), ranked.end(), [&](const auto& a, const auto& b) {
    const JobView& ja = *jobs[a.second].job;
    const JobView& jb = *jobs[b.second].job;
    return std::tie(a.first, ja.namespace_name, ja.name) <
           std::tie(b.first, jb.namespace_name, jb.name);
  });
  std::vector<Candidate> sorted;
  for (const auto& [rank, i] : ranked) {
    sorted.push_back(jobs[i]);
  }
  jobs = std::move(sorted);
}

// The cpu and memory of a budget's quotas (one per namespace of `namespaces`, in that order,
// GPUs set): its allowance
// (status.admission.allowed) split as GPUs are, over what every active pod there requests.
void PlanCpuMemoryQuotas(
    const std::string& budget, const std::vector<PodAt>& pods,
    const std::vector<std::string>& namespaces,
    const std::map<std::string, values::Quantity>& allowed,
    const absl::flat_hash_map<std::string_view, engine::CpuMemory>& requests_by_ns,
    const WaitingWork& waiting, std::span<QuotaTarget> quotas) {
  const engine::CpuMemory own_total = ActiveRequests(pods);
  auto in_namespace = [&](std::string_view ns) {
    auto it = requests_by_ns.find(ns);
    return it == requests_by_ns.end() ? engine::CpuMemory() : it->second;
  };
  using Quantity = values::Quantity;
  for (const auto& [resource, allowance] : allowed) {
    const bool cpu = resource == "cpu";
    if (!cpu && resource != "memory") {
      continue;
    }
    auto of = [cpu](const engine::CpuMemory& r) { return cpu ? r.cpu : r.memory; };
    const std::vector<Quantity> share = SplitHeadroom<Quantity>(
        std::max(Quantity(), allowance - of(own_total)), namespaces, [&](const std::string& ns) {
          WaitingWork::Amount a = waiting.For(budget, ns);
          return cpu ? a.cpu : a.memory;
        });
    for (size_t i = 0; i < quotas.size(); ++i) {
      // Like GPUs: every active pod of the namespace counts, and this budget's share on top.
      Quantity hard = of(in_namespace(quotas[i].namespace_name)) + share[i];
      (cpu ? quotas[i].cpu : quotas[i].memory) =
          cpu ? hard
              : Quantity::FromUnits(((hard.Value() + (1 << 20) - 1) >> 20) << 20,
                                    Quantity::Format::kBinarySI);
    }
  }
}

// The budget's ClusterQueue and what its flavors may admit: the GPU quota, and the cpu and
// memory allowances the budget publishes (the same as a ResourceQuota gets, but for the budget as
// a whole: the queue admits only the budget's work).
ClusterQueueTarget ClusterQueueTargetOf(const api::ComputeBudget& budget, int64_t gpu_quota,
                                        bool hold,
                                        const std::optional<api::AdmissionAllowance>& admission) {
  const api::ComputeBudgetSpec& spec = budget.spec;
  ClusterQueueTarget target{.cluster_queue = spec.quota.cluster_queue,
                            .budget = budget.metadata.name,
                            .allowances = {},
                            .hold = hold};
  for (const std::string& resource : spec.quota.resources) {
    if (resource == values::kGpuResource) {
      target.allowances[resource] = Quantity::FromUnits(gpu_quota);
    } else if (admission.has_value()) {
      if (auto allowed = admission->allowed.find(resource); allowed != admission->allowed.end()) {
        target.allowances[resource] = allowed->second;
      }
    }
  }
  return target;
}

}  // namespace

void BudgetPlanner::PlanQuotas(Pass& pass) {
  // A quota a budget wrote before into a namespace it no longer gets is deleted as unwanted.
  const std::vector<std::vector<std::string>> quota_namespaces =
      QuotaNamespaces(pass.snap, pass.valid, pass.Attributor());
  const WaitingWork waiting(pass.snap.jobs);
  std::optional<absl::flat_hash_map<std::string_view, engine::CpuMemory>> requests_by_ns;
  for (size_t vi = 0; vi < pass.valid.size(); ++vi) {
    BudgetWork& w = pass.work[pass.valid_index[vi]];
    if (!w.valid() || !w.enforced || w.total_quota < 0) {
      continue;
    }
    const api::ComputeBudgetSpec& spec = w.budget->spec;
    const std::optional<api::AdmissionAllowance>& admission =
        pass.plan.budgets[w.outcome].status.admission;
    if (spec.quota.mode == api::QuotaMode::kKueueClusterQueue) {
      pass.plan.cluster_queues.push_back(
          ClusterQueueTargetOf(*w.budget, w.total_quota, w.decision.hold_new_work, admission));
      continue;
    }
    if (spec.quota.mode != api::QuotaMode::kResourceQuota) {
      continue;
    }
    const std::vector<std::string>& namespaces = quota_namespaces[vi];  // in scope and existing
    const size_t first = pass.plan.quotas.size();
    int64_t used_total = 0;
    for (const auto& [pod, index] : w.pods) {
      used_total += Active(*pod) ? pass.Gpus(index) : 0;
    }
    const std::vector<int64_t> share = SplitHeadroom<int64_t>(
        std::max<int64_t>(0, w.total_quota - used_total), namespaces,
        [&](const std::string& ns) { return waiting.For(w.name(), ns).gpus; });
    for (size_t i = 0; i < namespaces.size(); ++i) {
      // The quota counts every pod of the namespace, also those another budget pays for.
      pass.plan.quotas.push_back({.namespace_name = namespaces[i],
                                  .budget = w.name(),
                                  .gpus = pass.ActiveGpusIn(namespaces[i]) + share[i],
                                  .cpu = std::nullopt,
                                  .memory = std::nullopt});
    }
    if (admission.has_value() &&
        (admission->allowed.contains("cpu") || admission->allowed.contains("memory"))) {
      if (!requests_by_ns.has_value()) {
        requests_by_ns = ActiveRequestsByNamespace(pass.snap.pods);
      }
      PlanCpuMemoryQuotas(w.name(), w.pods, namespaces, admission->allowed, *requests_by_ns,
                          waiting, std::span(pass.plan.quotas).subspan(first));
    }
  }
}

// Jobs: each unfinished Job goes to the budget its pods will be charged to; Jobs held by a
// budget that is gone are let go; then each budget holds, drains and releases its own.
void BudgetPlanner::PlanJobs(Pass& pass) {
  // Totals only for the Jobs planned below (unfinished ones): pods of other Jobs are skipped.
  pass.job_pods.reserve(pass.snap.jobs.size());
  for (const JobView& job : pass.snap.jobs) {
    if (!job.finished) {
      pass.job_pods[{job.namespace_name, job.name}];
    }
  }
  const auto count = static_cast<uint32_t>(pass.snap.pods.size());
  for (uint32_t i = 0; i < count && !pass.job_pods.empty(); ++i) {
    const PodView& pod = pass.snap.pods[i];
    if (!Active(pod) || pod.job.empty()) {
      continue;
    }
    auto job = pass.job_pods.find(
        std::pair<std::string_view, std::string_view>(pod.namespace_name, pod.job));
    if (job != pass.job_pods.end()) {
      job->second.gpus += pass.Gpus(i);
      const Money rate = pass.pod_rate[i];
      job->second.rate += rate;
      job->second.priority = std::max(job->second.priority, pod.priority);
      const NodeView* node = pass.pod_node[i];
      if (node != nullptr && pass.Gpus(i) > 0 && !absl::c_linear_search(job->second.nodes, node)) {
        job->second.nodes.push_back(node);
      }
      if (pod.start.has_value()) {
        job->second.started = std::min(job->second.started, *pod.start);
        job->second.stop_lag.Add(rate, StopLagOf(pod, pass.now), pod.deleting.has_value());
      }
    }
  }
  std::map<std::string, size_t> work_by_name;
  for (size_t i = 0; i < pass.work.size(); ++i) {
    work_by_name[pass.work[i].name()] = i;
  }
  std::map<size_t, std::vector<JobCandidate>> jobs_of_budget;
  std::set<std::string> warned;  // Jobs whose bad annotation is (still) known, "ns/job: error"
  for (const JobView& job : pass.snap.jobs) {
    if (job.finished) {
      continue;
    }
    engine::Attribution a = pass.Attribute(job.namespace_name, job.labels);
    if (a.budget < 0) {
      // Held by a budget that is gone, or no longer in any scope: let it go.
      if (!job.held_by.empty() && !work_by_name.contains(job.held_by)) {
        pass.plan.jobs.push_back({job.namespace_name, job.name, job.held_by, false,
                                  JobRung::kRelease, "its budget no longer exists", job.kind});
      }
      continue;
    }
    size_t wi = pass.valid_index[static_cast<size_t>(a.budget)];
    const BudgetWork& w = pass.work[wi];
    if (!w.valid()) {
      continue;  // its planning failed this pass: frozen, its Jobs stay as they are
    }
    if (job.kind != nullptr && !(job.suspended && job.held_by == w.name())) {
      continue;  // another kind: only resumed once held (JobView::kind)
    }
    const api::RetrainingSpec& retraining = w.budget->spec.retraining;
    const BudgetState& st = budgets_[w.name()];
    std::string model;
    bool retraining_job = engine::IsRetrainingWork(job.labels, retraining, &model);
    bool reserve =
        engine::DrawsOnReserve(retraining, st.gate, retraining_job, model, st.ledger->period());
    int32_t priority = job.priority.value_or(job.kind == nullptr ? pass.PodsOf(job).priority : 0);
    jobs_of_budget[wi].push_back({&job, priority, reserve});
    WarnOfBadAnnotation(pass, w, job, warned);
  }
  for (auto& [name, state] : budgets_) {
    std::erase_if(state.warned_jobs, [&](const std::string& k) { return !warned.contains(k); });
  }
  std::set<std::string> draining_jobs;
  for (auto& [wi, candidates] : jobs_of_budget) {
    PlanBudgetJobs(pass, pass.work[wi], candidates, draining_jobs);
  }
  std::erase_if(drain_requested_, [&](const auto& e) { return !draining_jobs.contains(e.first); });
}

// A Job in the budget's scope whose Bursar annotation does not parse (created before the webhook,
// or where it does not run): one Warning Event on the budget while the error stands, since its
// cap, length or grace is ignored.
void BudgetPlanner::WarnOfBadAnnotation(Pass& pass, const BudgetWork& w, const JobView& job,
                                        std::set<std::string>& warned) {
  if (job.annotation_error.empty()) {
    return;
  }
  std::string key = absl::StrCat(JobKey(job.namespace_name, job.name), ": ", job.annotation_error);
  warned.insert(key);
  if (budgets_[w.name()].warned_jobs.insert(key).second) {
    pass.plan.budgets[w.outcome].events.push_back(
        {.warning = true,
         .reason = "JobAnnotationInvalid",
         .message = absl::StrCat("Job ", key, "; the annotation is ignored until it is fixed")});
  }
}

int BudgetPlanner::OwnedNodeBins::BinOf(absl::Span<const NodeView* const> nodes) const {
  for (const NodeView* node : nodes) {
    auto it = bin_of.find(node);
    if (it != bin_of.end()) {
      return it->second;
    }
  }
  return -1;
}

// One bin per node the budget grew, of its GPUs no pod holds or that pods already stopping will
// free (as the simulator counts a pool's owned nodes: Simulation::OwnedBins); nodes one running
// Job spans are merged, so that they count as free only together.
BudgetPlanner::OwnedNodeBins BudgetPlanner::OwnedBinsOf(Pass& pass, const BudgetWork& w,
                                                        const std::vector<JobCandidate>& running) {
  OwnedNodeBins out;
  std::vector<const NodeView*> nodes;
  absl::flat_hash_map<const NodeView*, size_t> index;
  for (const NodeView* n : pass.GrownFor(w.name())) {
    if (pass.pool_of_node.contains(n->info.name) && n->info.gpu_capacity > 0) {
      index.emplace(n, nodes.size());
      nodes.push_back(n);
    }
  }
  if (nodes.empty()) {
    return out;
  }
  std::vector<size_t> parent(nodes.size());
  std::iota(parent.begin(), parent.end(), size_t{0});
  auto root = [&](size_t i) {
    while (parent[i] != i) {
      i = parent[i] = parent[parent[i]];  // path halving
    }
    return i;
  };
  for (const JobCandidate& c : running) {
    std::optional<size_t> first;
    for (const NodeView* node : pass.PodsOf(*c.job).nodes) {
      auto it = index.find(node);
      if (it == index.end()) {
        continue;
      }
      if (first.has_value()) {
        parent[root(it->second)] = root(*first);
      } else {
        first = it->second;
      }
    }
  }
  absl::flat_hash_map<const NodeView*, int64_t> stopping;  // GPUs of pods being deleted
  for (const PodAt& p : w.pods) {
    const NodeView* node = pass.pod_node[p.index];
    if (node != nullptr && Active(*p.pod) && p.pod->deleting.has_value()) {
      stopping[node] += pass.Gpus(p.index);
    }
  }
  std::vector<int> bin_of_root(nodes.size(), -1);
  std::vector<values::Money> node_rates(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const NodeView& node = *nodes[i];
    const int64_t capacity = node.info.gpu_capacity;
    auto held = stopping.find(&node);
    const int64_t idle =
        std::clamp<int64_t>(capacity - pass.ActiveGpusOn(node.info.name), 0, capacity) +
        (held == stopping.end() ? 0 : held->second);
    int& bin = bin_of_root[root(i)];
    if (bin < 0) {
      bin = static_cast<int>(out.bins.size());
      out.bins.push_back({.gpus_per_node = 0, .idle_gpus = 0, .idle_gpu_rate = Money()});
    }
    engine::OwnedBin& b = out.bins[static_cast<size_t>(bin)];
    b.gpus_per_node += capacity;
    b.idle_gpus += idle;
    node_rates[static_cast<size_t>(bin)] += pass.NodeRate(w.book, node);
    out.bin_of.emplace(&node, bin);
  }
  for (size_t b = 0; b < out.bins.size(); ++b) {
    out.bins[b].idle_gpu_rate = node_rates[b].MulDiv(1, out.bins[b].gpus_per_node);
  }
  return out;
}

// One budget's Jobs: Hold suspends Jobs without running pods (so nothing scales up for them);
// Drain keeps only as many running GPUs as the decision allows (engine::ChooseDrained), after
// each Job's drain grace; Release resumes what Bursar held in admission order
// (priority, then shorter expected work, with aging: engine/admission_order.h), as far as the
// quota and the start room allow.
void BudgetPlanner::PlanBudgetJobs(Pass& pass, BudgetWork& w, std::vector<JobCandidate>& candidates,
                                   std::set<std::string>& draining_jobs) {
  const engine::BudgetDecision& d = w.decision;
  const std::string& name = w.name();
  const absl::Time now = pass.now;
  BudgetOutcome& out = pass.plan.budgets[w.outcome];
  BudgetState& budget_state = budgets_[name];
  if (!d.hold_new_work && !d.keep_running_gpus.has_value()) {
    budget_state.dry_run_jobs.clear();
  }
  auto act = [&](const JobView& job, bool suspend, JobRung rung, const std::string& message) {
    if (!w.enforced &&
        !budget_state.dry_run_jobs
             .insert(absl::StrCat(Name(rung), "/", job.namespace_name, "/", job.name))
             .second) {
      return;  // already recorded in this episode: nothing changes in DryRun
    }
    out.new_actions.push_back({.time = now,
                               .action = suspend ? Name(rung) : "Resume",
                               .reason = suspend ? absl::StrCat("Budget", Name(rung)) : "Released",
                               .message = message,
                               .target = absl::StrCat("Job/", job.namespace_name, "/", job.name),
                               .dry_run = !w.enforced});
    if (w.enforced) {
      pass.plan.jobs.push_back(
          {job.namespace_name, job.name, name, suspend, rung, message, job.kind});
    }
  };
  std::vector<JobCandidate> held_by_us, running, idle_jobs;
  for (const JobCandidate& c : candidates) {
    if (c.job->suspended) {
      if (c.job->held_by == name) {
        held_by_us.push_back(c);
      }
      continue;
    }
    std::string why;
    CapOutcome cap = StopAtCap(pass, w, *c.job, draining_jobs, &why);
    if (cap == CapOutcome::kStop) {
      act(*c.job, true, JobRung::kCap, absl::StrCat("stopped at its own cap: ", why));
    }
    if (cap != CapOutcome::kRuns) {
      continue;  // stopping: not work to hold or drain
    }
    // Running: pods that started, or GPU pods waiting for a node (CPU-only Jobs that run are
    // drained by money, never held).
    const BudgetPlanner::Pass::JobPods& pods = pass.PodsOf(*c.job);
    if (pods.gpus > 0 || pods.started != absl::InfiniteFuture()) {
      running.push_back(c);
    } else {
      idle_jobs.push_back(c);
    }
  }
  int64_t reserve_headroom = w.reserve_headroom;
  for (const JobCandidate& c : idle_jobs) {
    // A Job that will draw on the reserve starts only where the reserve has room for it,
    // whatever regular work may do (as `bursar simulate` admits).
    if (c.reserve) {
      if (c.job->gpus <= reserve_headroom) {
        reserve_headroom -= c.job->gpus;
      } else {
        act(*c.job, true, JobRung::kHold,
            absl::StrCat("held: the retraining reserve of budget ", name,
                         " has no room for it (it draws on the reserve while its model is "
                         "unlocked)"));
      }
      continue;
    }
    if (d.hold_new_work) {
      act(*c.job, true, JobRung::kHold,
          absl::StrCat("held: budget ", name, " is at its Hold threshold (", d.reason, ")"));
    }
  }
  // Keeps at most `keep` running (CPU-only Jobs cost money but no GPUs), as the simulator
  // chooses (engine::ChooseDrained), on the nodes the budget pays for whole as they stand
  // (found once, and only when something is drained).
  std::optional<OwnedNodeBins> owned_bins;
  auto drain = [&](bool reserve, const engine::KeepRunning& keep) {
    if (!owned_bins.has_value()) {
      owned_bins = OwnedBinsOf(pass, w, running);
    }
    const OwnedNodeBins& owned = *owned_bins;
    std::vector<const JobCandidate*> pool;
    std::vector<engine::DrainCandidate> ranked;
    for (const JobCandidate& c : running) {
      if (c.reserve == reserve) {
        const BudgetPlanner::Pass::JobPods& pods = pass.PodsOf(*c.job);
        pool.push_back(&c);
        // A Job whose pods have not started yet loses nothing: it ranks as started now.
        ranked.push_back({.priority = c.priority,
                          .started = std::min(pods.started, now),
                          .gpus = pods.gpus,
                          .rate = pods.rate,
                          .bin = owned.BinOf(pods.nodes)});
      }
    }
    for (size_t i : engine::ChooseDrained(ranked, keep, owned.bins)) {
      const JobCandidate& c = *pool[i];
      std::string key = JobKey(c.job->namespace_name, c.job->name);
      draining_jobs.insert(key);
      auto [requested, inserted] = drain_requested_.emplace(key, DrainClock{now, name});
      if (now - requested->second.since < c.job->drain_grace) {
        if (inserted) {
          out.events.push_back(
              {.warning = true,
               .reason = "DrainRequested",
               .message =
                   absl::StrCat("Job ", key, " will be suspended after its ", kDrainGraceAnnotation,
                                " of ", absl::FormatDuration(c.job->drain_grace))});
        }
        continue;
      }
      act(*c.job, true, JobRung::kDrain,
          absl::StrCat("drained: budget ", name, " keeps ", keep.gpus, " running GPUs (", d.reason,
                       ")"));
    }
  };
  if (d.keep_running_gpus.has_value()) {
    drain(false, {*d.keep_running_gpus, d.keep_running_rate});
  }
  if (d.reserve_keep_running_gpus.has_value()) {
    drain(true, {*d.reserve_keep_running_gpus, std::nullopt});
  }
  SortForAdmission(held_by_us, w.budget->spec.retraining.model_label, budget_state.lengths);
  bool held = d.hold_new_work || d.keep_running_gpus.has_value();
  int64_t headroom =
      w.total_quota < 0
          ? INT64_MAX
          : std::max<int64_t>(0, w.total_quota - w.regular_active_gpus - w.reserve_active_gpus);
  std::optional<Money> money_left = w.money_left;
  // What it resumes keeps the projection below the Drain line (engine::StartRoom), or the next
  // pass would drain it again.
  engine::StartRoom start_room(d, w.gpu_hour_price, w.cpu_memory_prices);
  for (const JobCandidate& c : held_by_us) {
    // A Job that draws on the reserve once it runs (its model is unlocked) is released onto the
    // reserve only: released against regular room, it would be charged to the reserve all the
    // same and drained there again.
    if (c.reserve) {
      if (c.job->gpus > reserve_headroom || !Releasable(pass, w, *c.job, nullptr)) {
        continue;
      }
      reserve_headroom -= c.job->gpus;
      act(*c.job, false, JobRung::kRelease,
          absl::StrCat("released onto the retraining reserve of budget ", name,
                       " (modelDrift unlocked it)"));
      continue;
    }
    const Money rate = start_room.RateOf(c.job->gpus, {c.job->cpu, c.job->memory});
    if (held || c.job->gpus > headroom || !start_room.Fits(c.job->gpus, rate) ||
        !Releasable(pass, w, *c.job, &money_left)) {
      continue;
    }
    headroom -= c.job->gpus;
    start_room.Take(c.job->gpus, rate);
    act(*c.job, false, JobRung::kRelease,
        absl::StrCat("released: budget ", name, " has room again"));
  }
}

// A Job with its own cap (running, or pending unsuspended) that would pass the cap within the
// projection plus its drain grace is stopped: after its drain grace, as Drain does, so it can
// checkpoint. kStop: suspend it now (`why` says what it cost); kInGrace: its grace runs.
BudgetPlanner::CapOutcome BudgetPlanner::StopAtCap(Pass& pass, BudgetWork& w, const JobView& job,
                                                   std::set<std::string>& draining_jobs,
                                                   std::string* why) {
  const engine::JobCap cap = CapOf(job);
  if (!cap.any()) {
    return CapOutcome::kRuns;
  }
  const std::string key = JobKey(job.namespace_name, job.name);
  BudgetState& st = budgets_[w.name()];
  auto spend = st.job_spend.find(key);
  if (spend == st.job_spend.end()) {
    return CapOutcome::kRuns;  // nothing charged yet
  }
  const Pass::JobPods& pods = pass.PodsOf(job);
  std::optional<std::string> stop = engine::CapStop(
      cap, {.accrued = spend->second.accrued, .gpu_seconds = spend->second.gpu_seconds}, pods.rate,
      pods.gpus, engine::LookaheadWithStop(lookahead_, pods.stop_lag.Lag()) + job.drain_grace);
  if (!stop.has_value()) {
    return CapOutcome::kRuns;
  }
  draining_jobs.insert(key);
  auto [requested, inserted] = drain_requested_.emplace(key, DrainClock{pass.now, w.name()});
  if (pass.now - requested->second.since < job.drain_grace) {
    if (inserted) {
      pass.plan.budgets[w.outcome].events.push_back(
          {.warning = true,
           .reason = "CapDrainRequested",
           .message =
               absl::StrCat("Job ", key, " will be suspended after its ", kDrainGraceAnnotation,
                            " of ", absl::FormatDuration(job.drain_grace), ": ", *stop)});
    }
    return CapOutcome::kInGrace;
  }
  *why = *std::move(stop);
  return CapOutcome::kStop;
}

// Whether a Job Bursar holds may be resumed as far as its own cap and declared length go. Not
// while it would pass its cap within the projection plus its drain grace (at the rate it burnt
// when it last ran; never run, at its GPUs x the budget's GPU-hour price); not while its
// declared length costs more in this period than `money_left` (which a release then uses up;
// nullptr: not checked, the retraining reserve is paced on its own).
bool BudgetPlanner::Releasable(const Pass& pass, const BudgetWork& w, const JobView& job,
                               std::optional<Money>* money_left) const {
  const engine::JobCap cap = CapOf(job);
  if (cap.any()) {
    engine::JobUse used;
    Money rate = engine::ExpectedCost(job.gpus, w.gpu_hour_price, absl::Hours(1));
    int64_t gpus = job.gpus;
    auto state = budgets_.find(w.name());
    auto spend = state->second.job_spend.find(JobKey(job.namespace_name, job.name));
    if (spend != state->second.job_spend.end()) {
      used = {.accrued = spend->second.accrued, .gpu_seconds = spend->second.gpu_seconds};
      if (spend->second.rate > Money()) {
        rate = spend->second.rate;
        gpus = spend->second.gpus;
      }
    }
    if (engine::CapStop(cap, used, rate, gpus, lookahead_ + job.drain_grace).has_value()) {
      return false;
    }
  }
  if (money_left == nullptr || !money_left->has_value() || !job.expected_duration.has_value()) {
    return true;
  }
  const absl::Duration time_left = budgets_.find(w.name())->second.ledger->period().end - pass.now;
  if (engine::CheckAffordable(cap, job.gpus, *job.expected_duration, w.gpu_hour_price, *money_left,
                              time_left)
          .has_value()) {
    return false;
  }
  **money_left -=
      engine::ExpectedCost(job.gpus, w.gpu_hour_price, std::min(*job.expected_duration, time_left));
  return true;
}

// Recent actions are trimmed and attached once the Job actions are known.
void BudgetPlanner::AttachRecentActions(Pass& pass) {
  for (BudgetOutcome& out : pass.plan.budgets) {
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
}

// Each budget's running drain grace clocks, oldest first, into its status.
void BudgetPlanner::AttachDrainRequests(Pass& pass) const {
  std::map<std::string, std::vector<api::DrainRequest>> by_budget;
  for (const auto& [key, clock] : drain_requested_) {
    size_t slash = key.find('/');
    by_budget[clock.budget].push_back({.namespace_name = key.substr(0, slash),
                                       .name = key.substr(slash + 1),
                                       .since = clock.since});
  }
  for (BudgetOutcome& out : pass.plan.budgets) {
    std::vector<api::DrainRequest>& requests = by_budget[out.name];
    std::sort(requests.begin(), requests.end(), [](const auto& a, const auto& b) {
      return std::tie(a.since, a.namespace_name, a.name) <
             std::tie(b.since, b.namespace_name, b.name);
    });
    if (requests.size() > api::kMaxDrainRequests) {
      requests.resize(api::kMaxDrainRequests);
    }
    out.status.drain_requests = std::move(requests);
  }
}

// What the budgets that may grow a pool want of it.
struct BudgetPlanner::PoolDemand {
  int64_t pending_gpus = 0;  // pending work the budgets would admit now, capped by their quotas
  std::string grower;        // the budget with the most of it
  bool owners_held = true;   // every budget owning an idle node is held
};

BudgetPlanner::PoolDemand BudgetPlanner::DemandFor(const Pass& pass, const api::GPUNodePool& pool,
                                                   const std::vector<const NodeView*>& members) {
  PoolDemand demand;
  int64_t grower_pending = 0;
  int64_t spare = 0;  // GPUs free on the pool's nodes
  for (const NodeView* n : members) {
    auto active = pass.active_gpus_on_node.find(n->info.name);
    spare += n->info.gpu_capacity - (active == pass.active_gpus_on_node.end() ? 0 : active->second);
  }
  for (const BudgetWork& w : pass.work) {
    if (!w.valid() || std::find(w.pools.begin(), w.pools.end(), &pool) == w.pools.end()) {
      continue;
    }
    // A held budget asks for nodes only for retraining work on an unlocked reserve.
    const bool held = w.enforced && w.decision.hold_new_work;
    int64_t pending = 0;
    for (const auto& [pod, index] : w.pods) {
      if (Active(*pod) && pod->node_name.empty() && pass.Gpus(index) <= pool.spec.gpus_per_node &&
          (!held || w.reserve_pods.contains(pod->uid))) {
        pending += pass.Gpus(index);
      }
    }
    std::optional<int64_t> quota;
    if (w.total_quota >= 0) {
      quota = w.total_quota;
      pending = std::min(pending, std::max<int64_t>(0, w.total_quota - w.regular_active_gpus -
                                                           w.reserve_active_gpus + pending));
    }
    // The pool's nodes the budget grew (members are the nodes whose pool this is).
    std::vector<const NodeView*> owned_nodes;
    for (const NodeView* n : pass.GrownFor(w.name())) {
      auto pool_of = pass.pool_of_node.find(n->info.name);
      if (pool_of != pass.pool_of_node.end() && pool_of->second == &pool) {
        owned_nodes.push_back(n);
      }
    }
    const int owned = static_cast<int>(owned_nodes.size());
    pending = engine::GrowableDemandGpus(pending, quota, owned, pool.spec.gpus_per_node, spare);
    demand.pending_gpus += pending;
    if (pending > grower_pending) {
      demand.grower = w.name();
      grower_pending = pending;
    }
    bool holds =
        w.enforced && (w.decision.hold_new_work || w.decision.keep_running_gpus.has_value());
    for (const NodeView* n : owned_nodes) {
      if (pass.Idle(n->info.name) && !holds) {
        demand.owners_held = false;
      }
    }
  }
  return demand;
}

void BudgetPlanner::PlanPools(Pass& pass) {
  for (const api::GPUNodePool& pool : pass.snap.pools) {
    PlanPool(pass, pool);
  }
  std::erase_if(pools_, [&](const auto& e) { return !pass.pools_by_name.contains(e.first); });
}

// A pool's size: running work plus what its budgets would admit now (engine::SizePool); new
// nodes belong to the budget that asked for them; only idle nodes are removed, unready and
// owned ones first, newest first.
void BudgetPlanner::PlanPool(Pass& pass, const api::GPUNodePool& pool) {
  const absl::Time now = pass.now;
  PoolOutcome outcome;
  outcome.name = pool.metadata.name;
  outcome.status = pool.status;
  outcome.status.observed_generation = pool.metadata.generation;
  // First sight (a new leader): continue the sizing clocks the pool's status holds; which nodes
  // appeared since the last grow is unknown, so none are attributed this pass.
  const bool first_pass = !pools_.contains(pool.metadata.name);
  PoolState& ps = pools_[pool.metadata.name];
  if (first_pass) {
    ps.low_since = pool.status.scale_down_pending_since.value_or(absl::InfiniteFuture());
    ps.growing_for = pool.status.growing_for;
  }
  outcome.status.growing_for = ps.growing_for;
  const std::vector<const NodeView*>& members = pass.members_of_pool[&pool];
  // Nodes that appeared since a grow belong to the budget that asked for them, except those that
  // fill the pool up to minNodes: the floor is the platform's, paid by nobody (the simulator
  // starts a pool at minNodes owned by nobody). New nodes fill the floor first, in member order.
  absl::flat_hash_set<std::string> member_names;
  member_names.reserve(members.size());
  std::vector<const NodeView*> appeared;
  int floor_left = pool.spec.min_nodes;
  for (const NodeView* n : members) {
    member_names.insert(n->info.name);
    if (!first_pass && n->grown_for.empty() && !ps.known_nodes.contains(n->info.name)) {
      appeared.push_back(n);
    } else {
      --floor_left;
    }
  }
  if (!ps.growing_for.empty()) {
    for (size_t i = static_cast<size_t>(std::max(floor_left, 0)); i < appeared.size(); ++i) {
      pass.plan.node_owners.push_back({appeared[i]->info.name, ps.growing_for});
    }
  }
  ps.known_nodes = std::move(member_names);

  int current = static_cast<int>(members.size());
  auto observed = pass.snap.pool_observations.find(pool.metadata.name);
  if (observed != pass.snap.pool_observations.end()) {
    if (observed->second.known) {
      current = observed->second.target_size;
    } else if (!observed->second.error.empty()) {
      outcome.errors.push_back(observed->second.error);
    }
  }
  int busy = 0, ready = 0;
  int64_t running = 0;
  for (const NodeView* n : members) {
    busy += pass.Idle(n->info.name) ? 0 : 1;
    ready += n->ready ? 1 : 0;
    running += pass.active_gpus_on_node[n->info.name];
  }
  PoolDemand demand = DemandFor(pass, pool, members);
  bool any_owned_idle = std::any_of(members.begin(), members.end(), [&](const NodeView* n) {
    return !n->grown_for.empty() && pass.Idle(n->info.name);
  });
  engine::PoolSizingInputs in{.now = now,
                              .current_nodes = current,
                              .busy_nodes = busy,
                              .allowed_demand_gpus = running + demand.pending_gpus,
                              .low_since = ps.low_since,
                              .scale_down_now = any_owned_idle && demand.owners_held};
  engine::PoolSizingDecision decision = engine::SizePool(pool.spec, in);
  ps.low_since = decision.low_since;
  outcome.status.scale_down_pending_since.reset();
  if (ps.low_since != absl::InfiniteFuture()) {
    outcome.status.scale_down_pending_since = ps.low_since;
  }
  outcome.status.current_nodes = current;
  outcome.status.ready_nodes = ready;
  outcome.status.idle_nodes = current - busy;
  outcome.status.desired_nodes = decision.desired_nodes;
  if (decision.desired_nodes != current) {
    outcome.status.last_scale_time = now;
    outcome.status.last_scale_reason = decision.reason;
  }
  if (decision.desired_nodes > current) {
    ps.growing_for = demand.grower;
    outcome.status.growing_for = ps.growing_for;
    pass.plan.pool_changes.push_back(
        {pool.metadata.name, current, decision.desired_nodes, {}, decision.reason, demand.grower});
  } else if (decision.desired_nodes < current) {
    std::vector<const NodeView*> removable;
    for (const NodeView* n : members) {
      if (pass.Idle(n->info.name)) {
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
      pass.plan.pool_changes.push_back(std::move(change));
    }
  }
  pass.plan.pools.push_back(std::move(outcome));
}

}  // namespace bursar::reconcilers
