#pragma once

// TLS for Bursar's gRPC server and its clients.
//
// The server's certificate and key are files (the chart mounts a kubernetes.io/tls Secret);
// gRPC's FileWatcherCertificateProvider re-reads them every `refresh`, so a renewed Secret
// (cert-manager, or kubectl apply) is served without a restart; connections already open keep
// the certificate they started with. Pitfall: the provider only logs a file it cannot read, so
// ServerTlsCredentials reads both once first and fails loudly instead of serving nothing.
// Clients always verify the server: against `ca_pem`, or the system's roots when it is empty.

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace bursar::signals {

inline constexpr absl::Duration kCertificateRefresh = absl::Seconds(10);

// InvalidArgument naming the file when either is unreadable, empty or not PEM.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const std::string& cert_file, const std::string& key_file,
    absl::Duration refresh = kCertificateRefresh);

// The whole file, or InvalidArgument naming it when unreadable or only whitespace.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);
// ReadWholeFile, and InvalidArgument when the file holds no PEM block.
absl::StatusOr<std::string> ReadPemFile(const std::string& path);

// A channel that verifies the server with `ca_pem` ("" = system roots) and, when `server_name`
// is not empty, expects that name in the certificate instead of the address's host (for a
// port-forward to 127.0.0.1).
std::shared_ptr<grpc::Channel> VerifiedChannel(const std::string& address,
                                               const std::string& ca_pem,
                                               const std::string& server_name);

}  // namespace bursar::signals
