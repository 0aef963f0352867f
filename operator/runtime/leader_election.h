#pragma once

// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package:
// one replica actuates, the others wait and take over when it stops renewing.
//
// Every retry period (2 s) the elector reads the Lease and, when it is free, expired or its
// own, writes itself in with optimistic concurrency (Update with the resourceVersion read; a
// 409 means another replica wrote first and won). A missing Lease is created (an
// AlreadyExists means another replica created it first). The leader renews by updating the
// Lease it last wrote, without reading it first, and falls back to read-then-write when that
// fails. Times written are wall time (Clock::Now) in the Lease's MicroTime format; whether a
// Lease has expired is judged as client-go does, by how long (on this process's monotonic
// clock) its record has stayed unchanged, so clock skew between nodes does not matter.
//
// Leadership ends at once when renewals have failed for the renew deadline (10 s) since the
// last successful one, or when the Lease shows another holder: IsLeader() turns false at that
// instant (it checks the deadline itself, so it is right even while the elector is stuck in a
// slow request) and OnStoppedLeading runs on the elector's thread as soon as it notices. With
// a 15 s lease and a 10 s renew deadline, no other replica can take over before this one has
// stopped. On shutdown the leader releases the Lease (holderIdentity "", leaseDurationSeconds
// 1) so that another replica takes over at once instead of waiting out the lease.
//
// Pitfalls:
// - Callbacks run on the elector's thread: start work on other threads and return quickly, or
//   renewals stall. Anything that writes to the cluster must check IsLeader() right before it
//   writes; after OnStoppedLeading, stop the controllers (the usual answer: exit the process and
//   let Kubernetes restart it, as controller-runtime does).
// - Give the elector an ApiClient whose request timeout is well under the renew deadline
//   (e.g. 5 s): a request that hangs longer than the deadline delays the callback (not
//   IsLeader(), which turns false on time).
// - `identity` must be unique per process: the pod name, as client-go's callers use.
// Thread-safety: Tick(), Run() and Release() belong to one thread; IsLeader(), leading() and
// leader() may be called from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "operator/json/json.h"
#include "operator/kube/client.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/metrics.h"

namespace bursar::runtime {

struct LeaderElectionOptions {
  std::string lease_namespace;                        // required
  std::string lease_name;                             // required
  std::string identity;                               // required, unique per process
  absl::Duration lease_duration = absl::Seconds(15);  // whole seconds
  absl::Duration renew_deadline = absl::Seconds(10);
  absl::Duration retry_period = absl::Seconds(2);
  // Candidates retry after retry_period × (1 + U[0, jitter)), client-go's JitterFactor.
  double jitter = 1.2;
  bool release_on_shutdown = true;
  std::function<void()> on_started_leading;
  std::function<void()> on_stopped_leading;
  // A new holder was observed (this process included); "" when the Lease was released.
  std::function<void(std::string_view holder)> on_new_leader;
  Registry* metrics = nullptr;   // optional
  std::optional<uint64_t> seed;  // for the jitter; from the OS when unset
};

// What client-go checks: names and identity set, lease_duration > renew_deadline >
// jitter × retry_period, retry_period > 0.
absl::Status ValidateLeaderElectionOptions(const LeaderElectionOptions& options);

// metav1.MicroTime text: RFC 3339 in UTC with exactly six fractional digits,
// "2026-11-27T08:00:00.000000Z".
std::string FormatMicroTime(absl::Time t);

// The election fields of a Lease's spec.
struct LeaderElectionRecord {
  std::string holder_identity;  // "" when free
  int64_t lease_duration_seconds = 0;
  std::string acquire_time;  // MicroTime text, as the server returned it
  std::string renew_time;
  int64_t lease_transitions = 0;

  bool operator==(const LeaderElectionRecord&) const = default;
};

// Reads spec.{holderIdentity, leaseDurationSeconds, acquireTime, renewTime, leaseTransitions};
// absent fields are empty or 0.
LeaderElectionRecord RecordOfLease(const json::Value& lease);

class LeaderElector {
 public:
  // `client`, `clock` and the metrics registry must outlive the elector. The options must
  // pass ValidateLeaderElectionOptions.
  LeaderElector(const kube::ApiClient& client, const Clock& clock, LeaderElectionOptions options);
  // Neither releases nor calls back: Run() must have returned.
  ~LeaderElector();
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One round: gives up leadership when the renew deadline has passed, else tries to acquire
  // or renew the Lease. Returns when (monotonic) the next round is due.
  absl::Time Tick();
  // Rounds until `stop` is notified; then releases the Lease (release_on_shutdown) or just
  // stops leading.
  void Run(Wakeup* stop);
  // Stops leading (OnStoppedLeading first, so actuation ends before the Lease is free), then
  // frees the Lease if this process is its holder. Errors are returned, not retried.
  absl::Status Release();

  // True while this process holds the Lease and its last renewal is within the renew
  // deadline. Lock-free: two atomic loads and a clock read.
  bool IsLeader() const;
  // The flag alone (one atomic load), for hot paths that re-check IsLeader() before writing;
  // it lags IsLeader() while the elector is blocked in a request.
  const std::atomic<bool>& leading() const { return leading_; }
  // The holder last observed; "" when unknown or free.
  std::string leader() const;

 private:
  enum class Attempt { kOk, kHeldByOther, kFailed };
  struct Metrics;

  Attempt TryAcquireOrRenew(absl::Time now);
  json::Value NewLease(const LeaderElectionRecord& record) const;
  void Observe(const LeaderElectionRecord& record, absl::Time now);
  void StartLeading(absl::Time valid_until);
  void StopLeading();
  absl::Time ValidUntil() const;
  absl::Duration CandidateDelay();

  const kube::ApiClient& client_;
  const Clock& clock_;
  const LeaderElectionOptions options_;
  std::unique_ptr<Metrics> metrics_;
  std::mt19937_64 rng_;

  std::atomic<bool> leading_{false};
  // Monotonic time (Unix nanoseconds of absl::Time) until which leadership holds.
  std::atomic<int64_t> valid_until_ns_;

  // The elector thread's own state.
  std::optional<json::Value> lease_;  // as last returned by the server, with resourceVersion
  LeaderElectionRecord observed_;
  absl::Time observed_at_ = absl::InfinitePast();  // monotonic

  mutable absl::Mutex leader_mu_;
  std::string leader_ ABSL_GUARDED_BY(leader_mu_);
};

}  // namespace bursar::runtime
