// A process that runs Bursar's LeaderElector against a real API server until SIGTERM, for the
// two-process leader election test (apiserver_test.cc). Prints "leading" / "stopped" lines.
//   bursar_leader_probe IDENTITY LEASE_NAMESPACE LEASE_NAME
// The cluster comes from KUBECONFIG.

#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/runtime/clock.h"
#include "operator/runtime/leader_election.h"

int main(int argc, char** argv) {
  if (argc != 4 || std::getenv("KUBECONFIG") == nullptr) {
    std::fprintf(stderr, "usage: KUBECONFIG=... bursar_leader_probe IDENTITY NAMESPACE NAME\n");
    return 2;
  }
  // SIGTERM is taken by a thread of ours (sigwait), so the elector can release the Lease.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &term, nullptr);

  auto cluster = bursar::kube::LoadKubeconfig(std::getenv("KUBECONFIG"));
  if (!cluster.ok()) {
    std::fprintf(stderr, "probe: %s\n", std::string(cluster.status().message()).c_str());
    return 1;
  }
  auto transport = bursar::kube::TransportFor(*cluster);
  if (!transport.ok()) {
    std::fprintf(stderr, "probe: %s\n", std::string(transport.status().message()).c_str());
    return 1;
  }
  bursar::kube::ApiClient::Options client_options;
  client_options.timeout = absl::Seconds(5);
  bursar::kube::ApiClient client(**transport, client_options);
  bursar::runtime::SystemClock clock;

  std::string identity = argv[1];
  bursar::runtime::LeaderElectionOptions options;
  options.lease_namespace = argv[2];
  options.lease_name = argv[3];
  options.identity = identity;
  options.on_started_leading = [&] {
    std::printf("leading %s\n", identity.c_str());
    std::fflush(stdout);
  };
  options.on_stopped_leading = [&] {
    std::printf("stopped %s\n", identity.c_str());
    std::fflush(stdout);
  };
  if (absl::Status valid = bursar::runtime::ValidateLeaderElectionOptions(options); !valid.ok()) {
    std::fprintf(stderr, "probe: %s\n", std::string(valid.message()).c_str());
    return 2;
  }
  bursar::runtime::LeaderElector elector(client, clock, options);
  bursar::runtime::Wakeup stop;
  std::thread signals([&] {
    int signal = 0;
    sigwait(&term, &signal);
    stop.Notify();
  });
  elector.Run(&stop);
  signals.join();
  return 0;
}
