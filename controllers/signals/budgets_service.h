#pragma once

// The budget query API (proto/bursar/v1/budgets.proto) and the snapshot it serves.
//
// BudgetSnapshotSource is the seam: the reconciler publishes every ComputeBudget it has
// computed, the service reads and watches them. BudgetBoard is the in-memory implementation:
// the reconciler Put()s a budget after each reconcile and Delete()s it when the object goes.
//
// Watching is level-based, like a Kubernetes watch that coalesces: a subscription keeps, per
// budget, only the latest change not yet delivered, so a slow client skips intermediate states
// but never ends up with a wrong one, and memory per watcher is bounded by the number of budgets.
// Pitfall: shut down in this order: BudgetBoard::Close() (open watches end at once), then
// grpc::Server::Shutdown(). Without Close(), Shutdown() without a deadline waits for every
// watching client to cancel.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bursar/v1/budgets.grpc.pb.h"
#include "controllers/api/types.h"
#include "controllers/signals/caller_auth.h"

namespace bursar::signals {

struct BudgetChange {
  enum class Type { kAdded, kModified, kDeleted };
  Type type = Type::kAdded;
  api::ComputeBudget budget;  // for kDeleted, the last state published
};

// One watcher's view of a source's changes. Thread-safe; normally used by one thread.
class BudgetSubscription {
 public:
  virtual ~BudgetSubscription() = default;
  // Changes not yet delivered, ordered by budget name; blocks up to `max_wait` while there are
  // none. Empty after `max_wait`, or at once when the source is closed and nothing is pending.
  // The first call returns every budget present at Subscribe() as kAdded.
  virtual std::vector<BudgetChange> Next(absl::Duration max_wait) = 0;
  // True once the source is closed; pending changes are still delivered by Next().
  virtual bool Closed() const = 0;
};

// Where the budget API reads budgets. Implementations are thread-safe.
class BudgetSnapshotSource {
 public:
  virtual ~BudgetSnapshotSource() = default;
  // Every budget, ordered by name.
  virtual std::vector<api::ComputeBudget> List() const = 0;
  virtual std::optional<api::ComputeBudget> Get(const std::string& name) const = 0;
  // A subscription to changes from now on, primed with the current budgets. The source must
  // outlive it.
  virtual std::unique_ptr<BudgetSubscription> Subscribe() = 0;
};

// In-memory budgets keyed by metadata.name. Thread-safe.
class BudgetBoard final : public BudgetSnapshotSource {
 public:
  BudgetBoard() = default;
  BudgetBoard(const BudgetBoard&) = delete;
  BudgetBoard& operator=(const BudgetBoard&) = delete;
  ~BudgetBoard() override;

  // Adds or replaces a budget and notifies watchers.
  void Put(const api::ComputeBudget& budget);
  // Removes a budget (no-op when unknown) and notifies watchers.
  void Delete(const std::string& name);
  // Ends every subscription (present and future) once its pending changes are delivered.
  void Close();
  // Open subscriptions (for a metric, and for tests to see a watch end).
  size_t subscriber_count() const;

  std::vector<api::ComputeBudget> List() const override;
  std::optional<api::ComputeBudget> Get(const std::string& name) const override;
  std::unique_ptr<BudgetSubscription> Subscribe() override;

 private:
  class Queue;
  class Subscription;
  void Unsubscribe(const Queue* queue);

  mutable absl::Mutex mu_;  // acquired before any Queue's mutex
  std::map<std::string, api::ComputeBudget> budgets_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Queue>> queues_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// The API's view of a budget: status money as canonical decimal strings, times as Timestamps.
bursar::v1::Budget ToProto(const api::ComputeBudget& budget);

// Serves Get, List and Watch from a BudgetSnapshotSource. Thread-safe; the source must outlive
// it. With a CallerGate (optional, must outlive the service), Get needs `get` on the
// ComputeBudget named in the request, List `list` and Watch `watch` on computebudgets
// (caller_auth.h); UNAUTHENTICATED or PERMISSION_DENIED otherwise. A Watch is authorised once,
// when it opens: a binding revoked later does not end it (the client reconnects eventually).
// A Watch handler wakes at least every `cancel_poll` to notice a cancelled client (the
// synchronous gRPC API offers no cancellation callback); it does not spin in between.
class BudgetsService final : public bursar::v1::Budgets::Service {
 public:
  explicit BudgetsService(BudgetSnapshotSource* source,
                          absl::Duration cancel_poll = absl::Milliseconds(100),
                          CallerGate* gate = nullptr);

  grpc::Status Get(grpc::ServerContext* context, const bursar::v1::GetBudgetRequest* request,
                   bursar::v1::Budget* response) override;
  grpc::Status List(grpc::ServerContext* context, const bursar::v1::ListBudgetsRequest* request,
                    bursar::v1::ListBudgetsResponse* response) override;
  // Ends with CANCELLED when the client cancels, UNAVAILABLE when the source closes.
  grpc::Status Watch(grpc::ServerContext* context, const bursar::v1::WatchBudgetsRequest* request,
                     grpc::ServerWriter<bursar::v1::BudgetEvent>* writer) override;

 private:
  BudgetSnapshotSource* const source_;
  const absl::Duration cancel_poll_;
  CallerGate* const gate_;
};

}  // namespace bursar::signals
