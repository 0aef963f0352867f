#include "controllers/api/crd_patterns.h"

#include <algorithm>
#include <iterator>
#include <optional>

#include "absl/strings/str_split.h"
#include "controllers/values/host_port.h"
#include "controllers/values/strings.h"
#include "controllers/values/validation.h"

namespace bursar::api {
namespace {

using values::AbslView;
using values::IsAlnum;
using values::IsDigit;
using values::IsDnsSubdomainPattern;
using values::IsLetter;
using values::IsLowerAlnum;
using values::IsQualifiedNamePart;

constexpr std::string_view kConditionStatuses[] = {"True", "False", "Unknown"};

}  // namespace

// ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$
bool IsConditionType(std::string_view s) {
  size_t slash = s.find('/');
  if (slash != std::string_view::npos && !IsDnsSubdomainPattern(s.substr(0, slash))) {
    return false;
  }
  return IsQualifiedNamePart(slash == std::string_view::npos ? s : s.substr(slash + 1));
}

// ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
bool IsConditionReason(std::string_view s) {
  if (s.empty() || !IsLetter(s.front()) || !(IsAlnum(s.back()) || s.back() == '_')) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == ',' || c == ':'; });
}

// ^[A-Z]{3}$
bool IsCurrencyCode(std::string_view s) {
  return s.size() == 3 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

// ^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z][A-Za-z0-9_+\-]*)*$ (every tzdata name's parts start
// with a letter; "+01:00" and "-0500" are offsets, not zones)
bool IsTimeZoneName(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(AbslView(s), '/')) {
    if (part.empty() || !IsLetter(part.front()) ||
        !std::all_of(part.begin(), part.end(),
                     [](char c) { return IsAlnum(c) || c == '_' || c == '+' || c == '-'; })) {
      return false;
    }
  }
  return true;
}

// ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$
bool IsGrpcAddress(std::string_view s) {
  std::optional<values::HostPortText> split = values::SplitHostPort(s);
  if (!split || !values::ParsePort(split->port)) {
    return false;
  }
  const std::string_view host = split->host;
  if (host.size() >= 3 && host.front() == '[' && host.back() == ']') {
    std::string_view ip = host.substr(1, host.size() - 2);
    return std::all_of(ip.begin(), ip.end(), [](char c) {
      return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.';
    });
  }
  if (host.empty() || !IsAlnum(host.front()) || !IsAlnum(host.back())) {
    return false;
  }
  return std::all_of(host.begin(), host.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '.'; });
}

// ^[a-z0-9]([-a-z0-9.]*)?$
bool IsKwokPrefix(std::string_view s) {
  return !s.empty() && IsLowerAlnum(s.front()) && std::all_of(s.begin(), s.end(), [](char c) {
    return IsLowerAlnum(c) || c == '-' || c == '.';
  });
}

// ^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$
bool IsDriftThreshold(std::string_view s) {
  if (s == "0" || s == "1") {
    return true;
  }
  if (s.size() < 3 || s.size() > 8 || s[1] != '.') {
    return false;
  }
  std::string_view fraction = s.substr(2);
  if (s[0] == '0') {
    return std::all_of(fraction.begin(), fraction.end(), IsDigit);
  }
  return s[0] == '1' &&
         std::all_of(fraction.begin(), fraction.end(), [](char c) { return c == '0'; });
}

bool IsConditionStatus(std::string_view s) {
  return std::find(std::begin(kConditionStatuses), std::end(kConditionStatuses), s) !=
         std::end(kConditionStatuses);
}

// absl::ParseTime also takes surrounding spaces, "+0100" and five-digit years; the API
// server's date-time format does not:
// ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$
bool IsRfc3339Shape(std::string_view s) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < kShape.size()) {
    return false;
  }
  for (size_t i = 0; i < kShape.size(); ++i) {
    char want = kShape[i];
    bool ok = want == 'd'   ? IsDigit(s[i])
              : want == 'T' ? (s[i] == 'T' || s[i] == 't')
                            : s[i] == want;
    if (!ok) {
      return false;
    }
  }
  std::string_view rest = s.substr(kShape.size());
  if (!rest.empty() && rest[0] == '.') {
    size_t digits = 1;
    while (digits < rest.size() && IsDigit(rest[digits])) {
      ++digits;
    }
    if (digits == 1) {
      return false;
    }
    rest.remove_prefix(digits);
  }
  if (rest == "Z" || rest == "z") {
    return true;
  }
  return rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && IsDigit(rest[1]) &&
         IsDigit(rest[2]) && rest[3] == ':' && IsDigit(rest[4]) && IsDigit(rest[5]);
}

}  // namespace bursar::api
