#include "operator/cmd/run_option_checks.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "controllers/api/field_reader.h"
#include "controllers/values/duration.h"
#include "controllers/values/host_port.h"
#include "controllers/values/strings.h"
#include "controllers/values/validation.h"
#include "operator/cmd/run_options.h"

namespace bursar::cmd {
namespace {

using api::Quote;
using values::AbslView;

// `status` is a values::Validate* result; its message says what a valid value looks like.
std::string Reason(const std::string& s, const absl::Status& status) {
  return status.ok() ? "" : absl::StrCat(Quote(s), " ", status.message());
}

bool IsHostChar(char c) {
  return values::IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_';
}

bool IsIpv6Char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

}  // namespace

std::string CheckDnsLabel(const std::string& s) {
  return Reason(s, values::ValidateDns1123Label(s));
}

std::string CheckDnsSubdomain(const std::string& s) {
  return Reason(s, values::ValidateDns1123Subdomain(s));
}

std::string CheckTick(absl::Duration tick) {
  if (tick < kMinTick || tick > kMaxTick) {
    return absl::StrCat("must be between ", values::FormatDuration(kMinTick), " and ",
                        values::FormatDuration(kMaxTick), " (got ", values::FormatDuration(tick),
                        ")");
  }
  return "";
}

std::string CheckHostAndPort(std::string_view s, bool allow_empty_host, int min_port) {
  const std::string example =
      allow_empty_host ? "e.g. \":8081\", \"127.0.0.1:0\" or \"[::1]:8081\"" : "e.g. host:9090";
  std::optional<values::HostPortText> split = values::SplitHostPort(s);
  if (!split) {
    return absl::StrCat(Quote(s), " is not HOST:PORT (", example, ")");
  }
  const auto [host, port] = *split;
  if (!host.empty() && host.front() == '[') {
    std::string_view inner = host.substr(1);
    if (inner.empty() || inner.back() != ']' ||
        inner.substr(0, inner.size() - 1).find(':') == std::string_view::npos ||
        !std::all_of(inner.begin(), inner.end() - 1, IsIpv6Char)) {
      return absl::StrCat(Quote(s), ": ", Quote(host), " is not a bracketed IPv6 address");
    }
  } else if (host.find(':') != std::string_view::npos) {
    return absl::StrCat(Quote(s), ": an IPv6 host needs brackets, e.g. \"[::1]:8081\"");
  } else if (host.empty() && !allow_empty_host) {
    return absl::StrCat(Quote(s), ": the host is missing");
  } else if (!std::all_of(host.begin(), host.end(), IsHostChar)) {
    return absl::StrCat(Quote(s), ": ", Quote(host), " is not a host name or IP address");
  }
  std::optional<int> value = values::ParsePort(port);
  if (!value || *value < min_port || *value > 65535) {
    return absl::StrCat(Quote(s), ": port ", Quote(port), " is not a number from ", min_port,
                        " to 65535");
  }
  return "";
}

std::string CheckListenAddress(const std::string& s) {
  return CheckHostAndPort(s, /*allow_empty_host=*/true, /*min_port=*/0);
}

std::string CheckGrpcAddress(const std::string& s) {
  return s == "off" ? "" : CheckListenAddress(s);
}

absl::StatusOr<std::string> NormalizePrometheusUrl(const std::string& url) {
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(Quote(url), ": ", AbslView(why)));
  };
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return invalid("must start with http:// or https://");
  }
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return invalid("must not have a query or fragment");
  }
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (authority.find('@') != std::string_view::npos) {
    return invalid("must not hold credentials");
  }
  if (authority.empty()) {
    return invalid("the host is missing");
  }
  // The port is optional in a URL; check HOST[:PORT] by the listen-address rules.
  bool has_port = authority.front() == '[' ? authority.find(']') != std::string_view::npos &&
                                                 authority.find(']') + 1 < authority.size()
                                           : authority.find(':') != std::string_view::npos;
  std::string host_port =
      has_port ? std::string(authority) : absl::StrCat(AbslView(authority), ":80");
  if (!CheckHostAndPort(host_port, /*allow_empty_host=*/false, /*min_port=*/1).empty()) {
    return invalid(has_port ? "the host or port is not valid (want HOST[:PORT], port 1-65535)"
                            : "the host is not valid");
  }
  std::string out = url;
  while (out.size() > url.size() - rest.size() + authority.size() && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

}  // namespace bursar::cmd
