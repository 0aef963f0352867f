#pragma once

// ProviderProbes: asks node-pool providers whether they answer (the probe behind a pool's Ready
// condition) on a thread of its own, so that a slow or hung provider never holds up a metering
// pass. An externalgrpc server that accepts connections and never answers costs its call
// deadline (10 s) per probe; asked on the pass thread, it stopped every budget's metering and
// enforcement for that long.
// Ask() queues a probe and returns at once (a pool already queued keeps one probe, with the
// newest spec); the worker runs them one at a time, in pool-name order; TakeAnswer() hands out
// each finished answer once, so the caller uses the last answer it has until a newer arrives.
// Pitfall: the probe function runs on the worker thread: whatever it calls must be thread-safe
// (the provider lookup included).
// Thread-safe. The destructor stops the worker after the probe in flight and joins it.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "controllers/api/types.h"
#include "controllers/reconcilers/object_status.h"

namespace bursar::reconcilers {

class ProviderProbes {
 public:
  using Probe = std::function<ProviderHealth(const api::GPUNodePool& pool)>;

  explicit ProviderProbes(Probe probe);
  ~ProviderProbes();
  ProviderProbes(const ProviderProbes&) = delete;
  ProviderProbes& operator=(const ProviderProbes&) = delete;

  // Queues a probe of `pool`'s provider; never blocks on it.
  void Ask(const api::GPUNodePool& pool);
  // The answer of a finished probe of `pool` at spec `generation`, once; nullopt while none.
  std::optional<ProviderHealth> TakeAnswer(const std::string& pool, int64_t generation);
  // Drops queued probes and unread answers (leadership lost).
  void Forget();

 private:
  struct Answer {
    int64_t generation = 0;
    ProviderHealth health;
  };
  void Work();

  Probe probe_;
  absl::Mutex mu_;
  absl::CondVar wake_;
  std::map<std::string, api::GPUNodePool> queued_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Answer> answers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread worker_;  // last: started once the members above exist
};

}  // namespace bursar::reconcilers
