#include "controllers/reconcilers/provider_probes.h"

#include <utility>

namespace bursar::reconcilers {

ProviderProbes::ProviderProbes(Probe probe)
    : probe_(std::move(probe)), worker_([this] { Work(); }) {}

ProviderProbes::~ProviderProbes() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.Signal();
  }
  worker_.join();
}

void ProviderProbes::Ask(const api::GPUNodePool& pool) {
  absl::MutexLock lock(&mu_);
  queued_[pool.metadata.name] = pool;
  wake_.Signal();
}

std::optional<ProviderHealth> ProviderProbes::TakeAnswer(const std::string& pool,
                                                         int64_t generation) {
  absl::MutexLock lock(&mu_);
  auto it = answers_.find(pool);
  if (it == answers_.end() || it->second.generation != generation) {
    return std::nullopt;
  }
  ProviderHealth health = std::move(it->second.health);
  answers_.erase(it);
  return health;
}

void ProviderProbes::Forget() {
  absl::MutexLock lock(&mu_);
  queued_.clear();
  answers_.clear();
}

void ProviderProbes::Work() {
  while (true) {
    api::GPUNodePool pool;
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_ && queued_.empty()) {
        wake_.Wait(&mu_);
      }
      if (stopping_) {
        return;
      }
      pool = std::move(queued_.begin()->second);
      queued_.erase(queued_.begin());
    }
    ProviderHealth health = probe_(pool);  // unlocked: this is the slow part
    absl::MutexLock lock(&mu_);
    answers_[pool.metadata.name] = {.generation = pool.metadata.generation,
                                    .health = std::move(health)};
  }
}

}  // namespace bursar::reconcilers
