#pragma once

// The checks of `bursar run`'s settings that look at one value alone (run_options.cc applies
// them to flags and config-file keys alike, and adds the cross-field rules). Each Check*
// returns "" when the value is valid, else the reason (naming the quoted value where it helps).

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace bursar::cmd {

// A Kubernetes namespace name (DNS-1123 label).
std::string CheckDnsLabel(const std::string& s);
// An object name such as a Lease's (DNS-1123 subdomain).
std::string CheckDnsSubdomain(const std::string& s);
// Between kMinTick and kMaxTick (run_options.h).
std::string CheckTick(absl::Duration tick);
// HOST:PORT or [IPV6]:PORT (the host may be empty when `allow_empty_host`), with a port from
// `min_port` to 65535.
std::string CheckHostAndPort(std::string_view s, bool allow_empty_host, int min_port);
// Where to listen: an empty host means every interface, port 0 any free port.
std::string CheckListenAddress(const std::string& s);
// A listen address, or "off".
std::string CheckGrpcAddress(const std::string& s);
// http(s)://HOST[:PORT][/PREFIX] without a query, fragment or credentials; the result has no
// trailing '/', so that callers append "/api/v1/query".
absl::StatusOr<std::string> NormalizePrometheusUrl(const std::string& url);

}  // namespace bursar::cmd
