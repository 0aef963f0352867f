#pragma once

// `bursar report-drift`: sends one modelDrift observation to a running operator's
// bursar.v1.Signals service, for model-monitoring hooks and scripts that have no gRPC client.
// It verifies the server's certificate (--ca-file, else the system's roots; --server-name when
// the address is not the certificate's name, as through a port-forward) and sends a Kubernetes
// ServiceAccount token (--token-file, by default the pod's own) as "authorization: Bearer".
// The caller needs `create` on bursar.dev models/drift for the model (docs/security.md).
// --plaintext and --no-token exist for an operator run with --grpc-plaintext or
// --grpc-client-auth=none, and say so.

#include <string>
#include <vector>

namespace bursar::cmd {

// `args` follow "report-drift". Returns the process exit code (0 accepted, 1 rejected or
// unreachable, 2 bad flags).
int ReportDrift(const std::vector<std::string>& args);

inline constexpr char kDefaultTokenFile[] = "/var/run/secrets/kubernetes.io/serviceaccount/token";

inline constexpr char kReportDriftUsage[] =
    "  bursar report-drift --address HOST:PORT --model NAME --score 0..1 [--metric psi]\n"
    "                  [--source NAME] [--timeout 10s]\n"
    "                  [--ca-file FILE (default: the system's roots)] [--server-name NAME]\n"
    "                  [--token-file FILE (default: "
    "/var/run/secrets/kubernetes.io/serviceaccount/token)]\n"
    "                  [--plaintext] [--no-token]   (only for an operator run insecurely)\n";

}  // namespace bursar::cmd
