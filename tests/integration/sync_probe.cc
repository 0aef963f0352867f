// Measures the Pod watcher's initial sync against a real API server, for docs/benchmarks.md and
// tests/bench/sync-rss.sh: how long until the PodStore holds every Pod, how many requests it
// took, and the process's VmRSS/VmHWM after it. The cluster comes from KUBECONFIG.
//   bursar_sync_probe --watch-list=true|false [--page-size=N] [--protobuf]
// Prints one line: pods=N seconds=S requests=R refused=0|1 vm_rss_kib=K vm_hwm_kib=K.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/store.h"
#include "operator/runtime/watcher.h"

namespace {

// A "Vm...:" line of /proc/self/status, in KiB; -1 when absent.
long ProcStatusKib(std::string_view key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      return std::strtol(line.c_str() + key.size(), nullptr, 10);
    }
  }
  return -1;
}

constexpr char kUsage[] =
    "usage: KUBECONFIG=... bursar_sync_probe --watch-list=true|false [--page-size=N] "
    "[--protobuf]\n"
    "Syncs every Pod of the cluster into a PodStore once, then prints the time, the requests,\n"
    "and VmRSS/VmHWM.\n";

}  // namespace

int main(int argc, char** argv) {
  bool watch_list = true;
  bool protobuf = false;
  int64_t page_size = 500;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    const bool page_size_ok = arg.rfind("--page-size=", 0) == 0 &&
                              absl::SimpleAtoi(std::string(arg.substr(12)), &page_size) &&
                              page_size > 0;
    if (arg == "--watch-list=true" || arg == "--watch-list=false") {
      watch_list = arg == "--watch-list=true";
    } else if (arg == "--protobuf") {
      protobuf = true;
    } else if (!page_size_ok) {
      std::fprintf(stderr, "sync_probe: bad argument '%s'\n%s", argv[i], kUsage);
      return 2;
    }
  }
  if (std::getenv("KUBECONFIG") == nullptr) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  auto cluster = bursar::kube::LoadKubeconfig(std::getenv("KUBECONFIG"));
  if (!cluster.ok()) {
    std::fprintf(stderr, "sync_probe: %s\n", std::string(cluster.status().message()).c_str());
    return 1;
  }
  auto transport = bursar::kube::TransportFor(*cluster);
  if (!transport.ok()) {
    std::fprintf(stderr, "sync_probe: %s\n", std::string(transport.status().message()).c_str());
    return 1;
  }
  int requests = 0;
  bursar::kube::ApiClient::Options client_options;
  client_options.timeout = absl::Seconds(120);
  client_options.observer = [&requests](const bursar::kube::HttpRequest&, int, absl::Duration) {
    ++requests;
  };
  bursar::kube::ApiClient client(**transport, client_options);
  bursar::runtime::SystemClock clock;
  bursar::runtime::PodStore store;
  bursar::runtime::WatcherOptions options;
  options.watch_list = watch_list;
  options.protobuf = protobuf;
  options.page_size = page_size;
  options.pod_label_keys = {bursar::kube::PodSummaryDecoder::kAllLabels};  // as the operator
  bursar::runtime::PodWatcher watcher(client, clock, bursar::kube::kPods, store.Sink(), options);

  const auto start = std::chrono::steady_clock::now();
  while (!store.HasSynced()) {
    bursar::runtime::WatcherStep step = watcher.Step();
    if (step.outcome == bursar::runtime::WatcherStep::Outcome::kError) {
      std::fprintf(stderr, "sync_probe: %s\n", std::string(step.error.message()).c_str());
      return 1;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pods=%zu seconds=%.2f requests=%d refused=%d vm_rss_kib=%ld vm_hwm_kib=%ld\n",
              store.size(), seconds, requests, watcher.watch_list_refused() ? 1 : 0,
              ProcStatusKib("VmRSS:"), ProcStatusKib("VmHWM:"));
  watcher.Interrupt();
  return 0;
}
