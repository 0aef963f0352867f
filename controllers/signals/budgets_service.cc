#include "controllers/signals/budgets_service.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"

namespace bursar::signals {

// The changes one subscriber has not received yet: per budget name, its latest state (nullopt:
// deleted). `known_` holds what the subscriber has been sent, to tell ADDED from MODIFIED and to
// drop a budget that came and went between two deliveries.
class BudgetBoard::Queue {
 public:
  struct Pending {
    bool deleted = false;
    api::ComputeBudget budget;
  };

  void Offer(const std::string& name, Pending pending) {
    absl::MutexLock lock(&mu_);
    pending_[name] = std::move(pending);
  }

  void Close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  bool Closed() const {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

  std::vector<BudgetChange> Next(absl::Duration max_wait) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &Queue::ReadyLocked), max_wait);
    std::vector<BudgetChange> out;
    for (auto& [name, pending] : pending_) {
      const bool known = known_.contains(name);
      if (pending.deleted) {
        if (known) {
          known_.erase(name);
          out.push_back({BudgetChange::Type::kDeleted, std::move(pending.budget)});
        }
        continue;
      }
      known_.insert(name);
      out.push_back({known ? BudgetChange::Type::kModified : BudgetChange::Type::kAdded,
                     std::move(pending.budget)});
    }
    pending_.clear();
    return out;
  }

 private:
  bool ReadyLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !pending_.empty() || closed_;
  }

  mutable absl::Mutex mu_;
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> known_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class BudgetBoard::Subscription final : public BudgetSubscription {
 public:
  Subscription(BudgetBoard* board, std::shared_ptr<Queue> queue)
      : board_(board), queue_(std::move(queue)) {}
  ~Subscription() override { board_->Unsubscribe(queue_.get()); }

  std::vector<BudgetChange> Next(absl::Duration max_wait) override {
    return queue_->Next(max_wait);
  }
  bool Closed() const override { return queue_->Closed(); }

 private:
  BudgetBoard* const board_;
  const std::shared_ptr<Queue> queue_;
};

BudgetBoard::~BudgetBoard() {
  Close();
}

void BudgetBoard::Put(const api::ComputeBudget& budget) {
  absl::MutexLock lock(&mu_);
  budgets_[budget.metadata.name] = budget;
  for (const std::shared_ptr<Queue>& queue : queues_) {
    queue->Offer(budget.metadata.name, {.deleted = false, .budget = budget});
  }
}

void BudgetBoard::Delete(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = budgets_.find(name);
  if (it == budgets_.end()) {
    return;
  }
  for (const std::shared_ptr<Queue>& queue : queues_) {
    queue->Offer(name, {.deleted = true, .budget = it->second});
  }
  budgets_.erase(it);
}

void BudgetBoard::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const std::shared_ptr<Queue>& queue : queues_) {
    queue->Close();
  }
}

std::vector<api::ComputeBudget> BudgetBoard::List() const {
  absl::MutexLock lock(&mu_);
  std::vector<api::ComputeBudget> out;
  out.reserve(budgets_.size());
  for (const auto& [name, budget] : budgets_) {
    out.push_back(budget);
  }
  return out;
}

std::optional<api::ComputeBudget> BudgetBoard::Get(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto it = budgets_.find(name);
  if (it == budgets_.end()) {
    return std::nullopt;
  }
  return it->second;
}

std::unique_ptr<BudgetSubscription> BudgetBoard::Subscribe() {
  auto queue = std::make_shared<Queue>();
  absl::MutexLock lock(&mu_);
  for (const auto& [name, budget] : budgets_) {
    queue->Offer(name, {.deleted = false, .budget = budget});
  }
  if (closed_) {
    queue->Close();
  }
  queues_.push_back(queue);
  return std::make_unique<Subscription>(this, std::move(queue));
}

size_t BudgetBoard::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return queues_.size();
}

void BudgetBoard::Unsubscribe(const Queue* queue) {
  absl::MutexLock lock(&mu_);
  std::erase_if(queues_, [queue](const std::shared_ptr<Queue>& q) { return q.get() == queue; });
}

namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // floors, so nanos stay non-negative
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
}

bursar::v1::BudgetEvent::Type EventType(BudgetChange::Type type) {
  switch (type) {
    case BudgetChange::Type::kAdded:
      return bursar::v1::BudgetEvent::ADDED;
    case BudgetChange::Type::kModified:
      return bursar::v1::BudgetEvent::MODIFIED;
    case BudgetChange::Type::kDeleted:
      return bursar::v1::BudgetEvent::DELETED;
  }
  return bursar::v1::BudgetEvent::TYPE_UNSPECIFIED;
}

}  // namespace

bursar::v1::Budget ToProto(const api::ComputeBudget& budget) {
  const api::ComputeBudgetStatus& status = budget.status;
  bursar::v1::Budget out;
  out.set_name(budget.metadata.name);
  out.set_phase(api::Name(status.phase));
  out.set_spent(status.spent.ToString());
  if (budget.spec.limit.amount.has_value()) {
    out.set_limit(budget.spec.limit.amount->ToString());
  }
  out.set_currency(budget.spec.limit.currency);
  out.set_gpu_hours(status.gpu_hours.ToString());
  out.set_burn_rate(status.burn_rate.ToString());
  out.set_forecast(status.forecast.ToString());
  out.set_remaining(status.remaining.ToString());
  if (status.exhausts_at.has_value()) {
    SetTimestamp(*status.exhausts_at, out.mutable_exhausts_at());
  }
  out.set_allowed_gpus(status.allowed_gpus);
  if (status.period.has_value()) {
    SetTimestamp(status.period->start, out.mutable_period_start());
    SetTimestamp(status.period->end, out.mutable_period_end());
  }
  out.set_observed_generation(status.observed_generation);
  return out;
}

BudgetsService::BudgetsService(BudgetSnapshotSource* source, absl::Duration cancel_poll,
                               CallerGate* gate)
    : source_(source), cancel_poll_(cancel_poll), gate_(gate) {}

grpc::Status BudgetsService::Get(grpc::ServerContext* context,
                                 const bursar::v1::GetBudgetRequest* request,
                                 bursar::v1::Budget* response) {
  // Checked before the lookup, so that NOT_FOUND tells only the allowed which names exist.
  if (gate_ != nullptr) {
    if (grpc::Status allowed =
            gate_->Check(*context, BudgetPermission("get", request->name()), nullptr);
        !allowed.ok()) {
      return allowed;
    }
  }
  std::optional<api::ComputeBudget> budget = source_->Get(request->name());
  if (!budget.has_value()) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        absl::StrCat("computebudget \"", request->name(), "\" not found"));
  }
  *response = ToProto(*budget);
  return grpc::Status::OK;
}

grpc::Status BudgetsService::List(grpc::ServerContext* context,
                                  const bursar::v1::ListBudgetsRequest* /*request*/,
                                  bursar::v1::ListBudgetsResponse* response) {
  if (gate_ != nullptr) {
    if (grpc::Status allowed = gate_->Check(*context, BudgetPermission("list", ""), nullptr);
        !allowed.ok()) {
      return allowed;
    }
  }
  for (const api::ComputeBudget& budget : source_->List()) {
    *response->add_budgets() = ToProto(budget);
  }
  return grpc::Status::OK;
}

grpc::Status BudgetsService::Watch(grpc::ServerContext* context,
                                   const bursar::v1::WatchBudgetsRequest* /*request*/,
                                   grpc::ServerWriter<bursar::v1::BudgetEvent>* writer) {
  if (gate_ != nullptr) {
    if (grpc::Status allowed = gate_->Check(*context, BudgetPermission("watch", ""), nullptr);
        !allowed.ok()) {
      return allowed;
    }
  }
  std::unique_ptr<BudgetSubscription> subscription = source_->Subscribe();
  while (!context->IsCancelled()) {
    std::vector<BudgetChange> changes = subscription->Next(cancel_poll_);
    if (changes.empty() && subscription->Closed()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
    }
    for (BudgetChange& change : changes) {
      bursar::v1::BudgetEvent event;
      event.set_type(EventType(change.type));
      *event.mutable_budget() = ToProto(change.budget);
      if (!writer->Write(event)) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
      }
    }
  }
  return grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled by the client");
}

}  // namespace bursar::signals
