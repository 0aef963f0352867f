// Micro-benchmarks of the workqueue's hot path: every watch event is an Add(), every reconcile a
// Get() and a Done(). benchmark_main provides main().

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/workqueue.h"

namespace bursar::runtime {
namespace {

std::vector<std::string> MakeKeys(int n, int prefix) {
  std::vector<std::string> keys;
  keys.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    keys.push_back("team-" + std::to_string(prefix) + "/budget-" + std::to_string(i));
  }
  return keys;
}

// One key through Add, Get and Done, on one thread: the uncontended cost of a reconcile's
// bookkeeping.
void BM_AddGetDone(benchmark::State& state) {
  SimulatedClock clock;
  WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
  const std::vector<std::string> keys = MakeKeys(1024, 0);
  size_t i = 0;
  for (auto _ : state) {
    const std::string& key = keys[i++ % keys.size()];
    queue.Add(key);
    std::optional<std::string> got = queue.Get();
    queue.Done(*got);
    benchmark::DoNotOptimize(got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddGetDone);

// Adds of a key already queued: the event storm case that dedup absorbs.
void BM_AddDuplicate(benchmark::State& state) {
  SimulatedClock clock;
  WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
  const std::vector<std::string> keys = MakeKeys(64, 0);
  for (const std::string& key : keys) {
    queue.Add(key);
  }
  size_t i = 0;
  for (auto _ : state) {
    queue.Add(keys[i++ % keys.size()]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddDuplicate);

// range(0) keys queued in a burst, then drained: queue depth does not slow the operations.
void BM_BurstThenDrain(benchmark::State& state) {
  SimulatedClock clock;
  WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
  const std::vector<std::string> keys = MakeKeys(static_cast<int>(state.range(0)), 0);
  for (auto _ : state) {
    for (const std::string& key : keys) {
      queue.Add(key);
    }
    for (size_t n = 0; n < keys.size(); ++n) {
      std::optional<std::string> got = queue.Get();
      queue.Done(*got);
    }
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BurstThenDrain)->Arg(100)->Arg(10000);

// Threads each add a key and take one (often another thread's): contended Add/Get/Done. Keys
// never repeat (a counter per thread; building the string is part of the cost): a repeat could
// collapse into a key another thread still holds, leaving one Get() waiting forever.
WorkQueue* shared_queue = nullptr;
SimulatedClock* shared_clock = nullptr;

void BM_ContendedAddGetDone(benchmark::State& state) {
  if (state.thread_index() == 0) {
    shared_clock = new SimulatedClock();
    shared_queue = new WorkQueue(*shared_clock, DefaultControllerRateLimiter(*shared_clock));
  }
  const std::string prefix = "team-" + std::to_string(state.thread_index()) + "/budget-";
  uint64_t i = 0;
  for (auto _ : state) {
    shared_queue->Add(prefix + std::to_string(i++));
    std::optional<std::string> got = shared_queue->Get();
    shared_queue->Done(*got);
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete shared_queue;
    delete shared_clock;
  }
}
BENCHMARK(BM_ContendedAddGetDone)->Threads(2)->Threads(4)->UseRealTime();

// The delayed path: AddAfter, then the clock moves and the delay thread promotes the key.
void BM_AddAfterPromote(benchmark::State& state) {
  SimulatedClock clock;
  WorkQueue queue(clock, DefaultControllerRateLimiter(clock));
  const std::vector<std::string> keys = MakeKeys(1024, 0);
  size_t i = 0;
  for (auto _ : state) {
    const std::string& key = keys[i++ % keys.size()];
    queue.AddAfter(key, absl::Milliseconds(5));
    clock.Advance(absl::Milliseconds(5));
    std::optional<std::string> got = queue.Get();
    queue.Done(*got);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AddAfterPromote)->UseRealTime();

}  // namespace
}  // namespace bursar::runtime
