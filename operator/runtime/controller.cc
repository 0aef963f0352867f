#include "operator/runtime/controller.h"

#include <algorithm>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"
#include "operator/kube/kube_status.h"

namespace bursar::runtime {
namespace {

std::unique_ptr<RateLimiter> LimiterOrDefault(const Clock& clock,
                                              std::unique_ptr<RateLimiter> limiter) {
  return limiter != nullptr ? std::move(limiter) : DefaultControllerRateLimiter(clock);
}

bool Is409(const absl::Status& error) {
  return kube::IsConflict(error) || kube::IsAlreadyExists(error);
}

}  // namespace

RetryDecision DefaultErrorPolicy(std::string_view, const absl::Status& error) {
  if (Is409(error)) {
    return RetryDecision::RateLimited(/*quiet=*/true);
  }
  if (std::optional<absl::Duration> asked = kube::RetryAfter(error); asked.has_value()) {
    return RetryDecision::After(*asked);
  }
  return RetryDecision::RateLimited();
}

struct Controller::Metrics {
  Counter* success = nullptr;
  Counter* requeue_after = nullptr;
  Counter* conflict = nullptr;
  Counter* error = nullptr;
  Histogram* duration = nullptr;
  Gauge* active = nullptr;
  Gauge* depth = nullptr;

  // Null when the registry refuses the families (a clash with another component's names).
  static std::unique_ptr<Metrics> Register(Registry& registry, std::string_view controller) {
    absl::StatusOr<CounterFamily*> total = registry.AddCounter(
        "bursar_controller_reconcile_total",
        "Reconciles by result: success, requeue_after, conflict (a 409, requeued quietly), error.",
        {"controller", "result"});
    absl::StatusOr<HistogramFamily*> duration =
        registry.AddHistogram("bursar_controller_reconcile_duration_seconds",
                              "Time spent in one reconcile.", {"controller"}, DefaultBuckets());
    absl::StatusOr<GaugeFamily*> active = registry.AddGauge(
        "bursar_controller_active_workers", "Workers reconciling right now.", {"controller"});
    absl::StatusOr<GaugeFamily*> depth = registry.AddGauge(
        "bursar_controller_queue_depth", "Keys waiting in the controller's queue.", {"controller"});
    if (!total.ok() || !duration.ok() || !active.ok() || !depth.ok()) {
      return nullptr;
    }
    auto m = std::make_unique<Metrics>();
    m->success = &(*total)->WithLabels({controller, "success"});
    m->requeue_after = &(*total)->WithLabels({controller, "requeue_after"});
    m->conflict = &(*total)->WithLabels({controller, "conflict"});
    m->error = &(*total)->WithLabels({controller, "error"});
    m->duration = &(*duration)->WithLabels({controller});
    m->active = &(*active)->WithLabels({controller});
    m->depth = &(*depth)->WithLabels({controller});
    return m;
  }
};

Controller::Controller(const Clock& clock, Reconciler reconcile, ControllerOptions options)
    : clock_(clock),
      reconcile_(std::move(reconcile)),
      options_(std::move(options)),
      queue_(clock, LimiterOrDefault(clock, std::move(options_.rate_limiter))) {
  if (options_.metrics != nullptr) {
    metrics_ = Metrics::Register(*options_.metrics, options_.name);
  }
}

Controller::~Controller() {
  queue_.ShutDown();
}

void Controller::WaitForCache(const SyncedCache& cache) {
  caches_.push_back(&cache);
}

bool Controller::CachesSynced() const {
  for (const SyncedCache* cache : caches_) {
    if (!cache->HasSynced()) {
      return false;
    }
  }
  return true;
}

void Controller::Run(Wakeup* stop) {
  while (!CachesSynced()) {
    if (!clock_.SleepFor(options_.cache_sync_poll, stop)) {
      queue_.ShutDown();
      return;  // stopped before the caches synced
    }
  }
  running_.store(true, std::memory_order_release);
  std::vector<std::thread> workers;
  workers.reserve(static_cast<size_t>(std::max(1, options_.workers)));
  for (int i = 0; i < std::max(1, options_.workers); ++i) {
    workers.emplace_back([this, stop] { Work(stop); });
  }
  clock_.SleepUntil(absl::InfiniteFuture(), stop);
  // Reconciles in flight finish; workers drop what is still queued (Work) and see the end.
  queue_.ShutDownWithDrain();
  for (std::thread& worker : workers) {
    worker.join();
  }
  running_.store(false, std::memory_order_release);
}

void Controller::Work(Wakeup* stop) {
  while (std::optional<std::string> key = queue_.Get()) {
    if (metrics_ != nullptr) {
      metrics_->depth->Set(static_cast<double>(queue_.Len()));
    }
    if (!stop->HasBeenNotified()) {
      Process(*key);
    }
    queue_.Done(*key);
  }
}

absl::StatusOr<ReconcileResult> Controller::Invoke(const std::string& key) {
  // An exception must not escape a worker thread (std::terminate): it becomes an error.
  try {
    return reconcile_(key);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("reconcile threw: ", e.what()));
  } catch (...) {
    return absl::InternalError("reconcile threw a non-standard exception");
  }
}

void Controller::Process(const std::string& key) {
  const absl::Time start = clock_.MonotonicNow();
  if (metrics_ != nullptr) {
    metrics_->active->Increment();
  }
  absl::StatusOr<ReconcileResult> result = Invoke(key);
  if (metrics_ != nullptr) {
    metrics_->active->Decrement();
    metrics_->duration->Observe(absl::ToDoubleSeconds(clock_.MonotonicNow() - start));
  }

  if (result.ok()) {
    queue_.Forget(key);
    if (result->action == ReconcileResult::Action::kRequeueAfter) {
      queue_.AddAfter(key, result->after);
    }
    if (metrics_ != nullptr) {
      (result->action == ReconcileResult::Action::kRequeueAfter ? metrics_->requeue_after
                                                                : metrics_->success)
          ->Increment();
    }
    return;
  }

  const absl::Status& error = result.status();
  const RetryDecision decision =
      options_.error_policy ? options_.error_policy(key, error) : DefaultErrorPolicy(key, error);
  if (metrics_ != nullptr) {
    (Is409(error) ? metrics_->conflict : metrics_->error)->Increment();
  }
  if (!decision.quiet) {
    LogError(key, error);
  }
  switch (decision.action) {
    case RetryDecision::Action::kRateLimited:
      queue_.AddRateLimited(key);
      break;
    case RetryDecision::Action::kAfter:
      queue_.AddAfter(key, decision.after);
      break;
    case RetryDecision::Action::kDrop:
      queue_.Forget(key);
      break;
  }
}

void Controller::LogError(std::string_view key, const absl::Status& error) const {
  if (options_.log_error) {
    options_.log_error(key, error);
    return;
  }
  // One write per line, so that lines of concurrent workers do not interleave.
  std::cerr << absl::StrCat("controller ", options_.name, ": reconcile ", values::AbslView(key),
                            ": ", error.ToString(), "\n");
}

}  // namespace bursar::runtime
