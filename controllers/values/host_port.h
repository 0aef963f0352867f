#pragma once

// Network addresses written "host:port", "[ipv6]:port" or ":port", split and read in one place.
// What a valid host is differs by caller (a CRD pattern, a listen flag that allows an empty host)
// and stays with the caller; where the split falls and what a port number is do not.
// Pitfall: an unbracketed IPv6 address ("::1:80") also splits, at its last ':'; callers that
// accept IPv6 require the brackets.

#include <optional>
#include <string_view>

namespace bursar::values {

struct HostPortText {
  std::string_view host;  // as written, brackets included ("[::1]"); empty for ":8081"
  std::string_view port;  // the text after the last ':', not yet checked
};

// Splits at the last ':'; nullopt when there is none.
std::optional<HostPortText> SplitHostPort(std::string_view address);

// "[::1]" -> "::1"; a host without both brackets is returned unchanged.
std::string_view UnbracketHost(std::string_view host);

// The port as a number when `text` is 1 to 5 ASCII digits (0 to 99999: callers check their
// range, usually up to 65535); nullopt otherwise.
std::optional<int> ParsePort(std::string_view text);

}  // namespace bursar::values
