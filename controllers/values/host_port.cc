#include "controllers/values/host_port.h"

#include <algorithm>

#include "controllers/values/strings.h"

namespace bursar::values {

std::optional<HostPortText> SplitHostPort(std::string_view address) {
  size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return std::nullopt;
  }
  return HostPortText{.host = address.substr(0, colon), .port = address.substr(colon + 1)};
}

std::string_view UnbracketHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

std::optional<int> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), IsDigit)) {
    return std::nullopt;
  }
  int value = 0;
  for (char c : text) {
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace bursar::values
