#include "operator/runtime/leader_election.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/resource.h"

namespace bursar::runtime {
namespace {

std::mt19937_64 MakeRng(const std::optional<uint64_t>& seed) {
  if (seed.has_value()) {
    return std::mt19937_64(*seed);
  }
  std::random_device device;
  return std::mt19937_64((static_cast<uint64_t>(device()) << 32) ^ device());
}

std::string StringField(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_string() ? v->string_value() : std::string();
}

int64_t IntField(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_integer() ? v->int_value() : 0;
}

// `lease` with its spec's election fields set to `record`; other fields (metadata with its
// resourceVersion, spec fields this code does not know) are kept.
json::Value WithRecord(const json::Value& lease, const LeaderElectionRecord& record) {
  json::Value out = lease;
  const json::Value* old_spec = lease.Find("spec");
  json::Value spec =
      old_spec != nullptr && old_spec->is_object() ? *old_spec : json::Value::Object({});
  spec.Set("holderIdentity", json::Value::String(record.holder_identity));
  spec.Set("leaseDurationSeconds", json::Value::Int(record.lease_duration_seconds));
  spec.Set("acquireTime", json::Value::String(record.acquire_time));
  spec.Set("renewTime", json::Value::String(record.renew_time));
  spec.Set("leaseTransitions", json::Value::Int(record.lease_transitions));
  out.Set("spec", std::move(spec));
  return out;
}

}  // namespace

absl::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options) {
  if (options.lease_namespace.empty() || options.lease_name.empty()) {
    return absl::InvalidArgumentError("leader election: the Lease needs a namespace and a name");
  }
  if (options.identity.empty()) {
    return absl::InvalidArgumentError("leader election: the identity must not be empty");
  }
  if (options.retry_period <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("leader election: the retry period must be positive");
  }
  if (options.lease_duration < absl::Seconds(1) ||
      options.lease_duration != absl::Seconds(absl::ToInt64Seconds(options.lease_duration))) {
    return absl::InvalidArgumentError(
        "leader election: the lease duration must be a whole number of seconds, at least 1");
  }
  if (options.lease_duration <= options.renew_deadline) {
    return absl::InvalidArgumentError(
        "leader election: the lease duration must be longer than the renew deadline");
  }
  if (options.jitter < 0 || options.renew_deadline <= options.retry_period * options.jitter) {
    return absl::InvalidArgumentError(
        "leader election: the renew deadline must be longer than jitter × retry period");
  }
  return absl::OkStatus();
}

std::string FormatMicroTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d%ET%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

LeaderElectionRecord RecordOfLease(const json::Value& lease) {
  LeaderElectionRecord record;
  const json::Value* spec = lease.Find("spec");
  if (spec == nullptr || !spec->is_object()) {
    return record;
  }
  record.holder_identity = StringField(*spec, "holderIdentity");
  record.lease_duration_seconds = IntField(*spec, "leaseDurationSeconds");
  record.acquire_time = StringField(*spec, "acquireTime");
  record.renew_time = StringField(*spec, "renewTime");
  record.lease_transitions = IntField(*spec, "leaseTransitions");
  return record;
}

struct LeaderElector::Metrics {
  Gauge* is_leader = nullptr;
  Counter* failures = nullptr;

  static std::unique_ptr<Metrics> Register(Registry& registry, std::string_view lease) {
    absl::StatusOr<GaugeFamily*> is_leader = registry.AddGauge(
        "bursar_leader_election_is_leader", "1 while this process holds the Lease.", {"lease"});
    absl::StatusOr<CounterFamily*> failures = registry.AddCounter(
        "bursar_leader_election_failures_total",
        "Attempts to acquire or renew the Lease that failed (errors and lost races).", {"lease"});
    if (!is_leader.ok() || !failures.ok()) {
      return nullptr;
    }
    auto m = std::make_unique<Metrics>();
    m->is_leader = &(*is_leader)->WithLabels({lease});
    m->failures = &(*failures)->WithLabels({lease});
    return m;
  }
};

LeaderElector::LeaderElector(const kube::ApiClient& client, const Clock& clock,
                             LeaderElectionOptions options)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      rng_(MakeRng(options_.seed)),
      valid_until_ns_(absl::ToUnixNanos(absl::InfinitePast())) {
  if (options_.metrics != nullptr) {
    metrics_ = Metrics::Register(*options_.metrics,
                                 absl::StrCat(options_.lease_namespace, "/", options_.lease_name));
  }
}

LeaderElector::~LeaderElector() = default;

bool LeaderElector::IsLeader() const {
  return leading_.load(std::memory_order_acquire) && clock_.MonotonicNow() < ValidUntil();
}

std::string LeaderElector::leader() const {
  absl::MutexLock lock(&leader_mu_);
  return leader_;
}

absl::Time LeaderElector::ValidUntil() const {
  return absl::FromUnixNanos(valid_until_ns_.load(std::memory_order_acquire));
}

absl::Time LeaderElector::Tick() {
  const absl::Time now = clock_.MonotonicNow();
  if (leading_.load() && now >= ValidUntil()) {
    StopLeading();  // renewals failed for the whole renew deadline
    return now + CandidateDelay();
  }
  const Attempt attempt = TryAcquireOrRenew(now);
  const absl::Time after = clock_.MonotonicNow();
  if (attempt == Attempt::kOk) {
    StartLeading(now + options_.renew_deadline);
    return after + options_.retry_period;
  }
  if (metrics_ != nullptr && attempt == Attempt::kFailed) {
    metrics_->failures->Increment();
  }
  if (!leading_.load()) {
    return after + CandidateDelay();
  }
  if (attempt == Attempt::kHeldByOther || after >= ValidUntil()) {
    StopLeading();
    return after + CandidateDelay();
  }
  // Keep trying every retry period; wake at the deadline to give up on time.
  return std::min(after + options_.retry_period, ValidUntil());
}

void LeaderElector::Run(Wakeup* stop) {
  while (!stop->HasBeenNotified()) {
    clock_.SleepUntil(Tick(), stop);
  }
  if (options_.release_on_shutdown) {
    Release().IgnoreError();  // best effort: the lease expires anyway
  } else if (leading_.load()) {
    StopLeading();
  }
}

absl::Status LeaderElector::Release() {
  if (leading_.load()) {
    StopLeading();
  }
  if (!lease_.has_value() || observed_.holder_identity != options_.identity) {
    return absl::OkStatus();  // not ours to release
  }
  const std::string now = FormatMicroTime(clock_.Now());
  LeaderElectionRecord released;
  released.holder_identity = "";
  released.lease_duration_seconds = 1;
  released.acquire_time = now;
  released.renew_time = now;
  released.lease_transitions = observed_.lease_transitions;
  absl::StatusOr<json::Value> updated =
      client_.Update(kube::kLeases, options_.lease_namespace, WithRecord(*lease_, released));
  if (!updated.ok()) {
    return updated.status();  // a 409: someone else has written since; nothing to free
  }
  lease_ = *std::move(updated);
  Observe(released, clock_.MonotonicNow());
  return absl::OkStatus();
}

LeaderElector::Attempt LeaderElector::TryAcquireOrRenew(absl::Time now) {
  const std::string wall = FormatMicroTime(clock_.Now());
  LeaderElectionRecord desired;
  desired.holder_identity = options_.identity;
  desired.lease_duration_seconds = absl::ToInt64Seconds(options_.lease_duration);
  desired.acquire_time = wall;
  desired.renew_time = wall;

  // Fast path: the leader renews the Lease it wrote last, without reading it first.
  if (leading_.load() && lease_.has_value() && now < ValidUntil()) {
    desired.acquire_time = observed_.acquire_time;
    desired.lease_transitions = observed_.lease_transitions;
    absl::StatusOr<json::Value> updated =
        client_.Update(kube::kLeases, options_.lease_namespace, WithRecord(*lease_, desired));
    if (updated.ok()) {
      lease_ = *std::move(updated);
      Observe(desired, now);
      return Attempt::kOk;
    }
    // Stale or failed: read the Lease and decide again.
    desired.acquire_time = wall;
    desired.lease_transitions = 0;
  }

  absl::StatusOr<json::Value> got =
      client_.Get(kube::kLeases, options_.lease_namespace, options_.lease_name);
  if (!got.ok()) {
    if (!kube::IsNotFound(got.status())) {
      return Attempt::kFailed;
    }
    absl::StatusOr<json::Value> created =
        client_.Create(kube::kLeases, options_.lease_namespace, NewLease(desired));
    if (!created.ok()) {
      return Attempt::kFailed;  // AlreadyExists: another replica created it first
    }
    lease_ = *std::move(created);
    Observe(desired, now);
    return Attempt::kOk;
  }

  const LeaderElectionRecord old = RecordOfLease(*got);
  lease_ = *std::move(got);
  if (old != observed_) {
    Observe(old, now);
  }
  if (!old.holder_identity.empty() && old.holder_identity != options_.identity &&
      observed_at_ + absl::Seconds(old.lease_duration_seconds) > now) {
    return Attempt::kHeldByOther;
  }
  if (old.holder_identity == options_.identity) {
    desired.acquire_time = old.acquire_time;
    desired.lease_transitions = old.lease_transitions;
  } else {
    desired.lease_transitions = old.lease_transitions + 1;  // a takeover
  }
  absl::StatusOr<json::Value> updated =
      client_.Update(kube::kLeases, options_.lease_namespace, WithRecord(*lease_, desired));
  if (!updated.ok()) {
    return Attempt::kFailed;  // a 409: another replica wrote first and won
  }
  lease_ = *std::move(updated);
  Observe(desired, now);
  return Attempt::kOk;
}

json::Value LeaderElector::NewLease(const LeaderElectionRecord& record) const {
  json::Value metadata = json::Value::Object({});
  metadata.Set("name", json::Value::String(options_.lease_name));
  metadata.Set("namespace", json::Value::String(options_.lease_namespace));
  json::Value lease = json::Value::Object({});
  lease.Set("apiVersion", json::Value::String(kube::kLeases.ApiVersion()));
  lease.Set("kind", json::Value::String(std::string(kube::kLeases.kind)));
  lease.Set("metadata", std::move(metadata));
  return WithRecord(lease, record);
}

void LeaderElector::Observe(const LeaderElectionRecord& record, absl::Time now) {
  const bool new_holder = record.holder_identity != observed_.holder_identity;
  observed_ = record;
  observed_at_ = now;
  if (new_holder) {
    {
      absl::MutexLock lock(&leader_mu_);
      leader_ = record.holder_identity;
    }
    if (options_.on_new_leader) {
      options_.on_new_leader(record.holder_identity);
    }
  }
}

void LeaderElector::StartLeading(absl::Time valid_until) {
  valid_until_ns_.store(absl::ToUnixNanos(valid_until), std::memory_order_release);
  if (leading_.exchange(true)) {
    return;  // a renewal
  }
  if (metrics_ != nullptr) {
    metrics_->is_leader->Set(1);
  }
  if (options_.on_started_leading) {
    options_.on_started_leading();
  }
}

void LeaderElector::StopLeading() {
  leading_.store(false, std::memory_order_release);
  valid_until_ns_.store(absl::ToUnixNanos(absl::InfinitePast()), std::memory_order_release);
  if (metrics_ != nullptr) {
    metrics_->is_leader->Set(0);
  }
  if (options_.on_stopped_leading) {
    options_.on_stopped_leading();
  }
}

absl::Duration LeaderElector::CandidateDelay() {
  // U[0, 1) with 53 random bits: exact across standard libraries.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return options_.retry_period * (1.0 + std::max(0.0, options_.jitter) * u);
}

}  // namespace bursar::runtime
