#include "controllers/values/validation.h"

#include <algorithm>

#include "absl/strings/str_split.h"
#include "controllers/values/strings.h"

namespace bursar::values {

bool IsDnsLabelPattern(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsDns1123Label(std::string_view s) {
  return s.size() <= kMaxDns1123LabelLength && IsDnsLabelPattern(s);
}

bool IsDnsSubdomainPattern(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(AbslView(s), '.')) {
    if (!IsDnsLabelPattern(StdView(part))) {
      return false;
    }
  }
  return true;
}

bool IsDns1123Subdomain(std::string_view s) {
  return s.size() <= kMaxDns1123SubdomainLength && IsDnsSubdomainPattern(s);
}

bool IsQualifiedNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool IsQualifiedName(std::string_view s) {
  size_t slash = s.find('/');
  std::string_view name = s;
  if (slash != std::string_view::npos) {
    if (!IsDns1123Subdomain(s.substr(0, slash))) {
      return false;
    }
    name = s.substr(slash + 1);
  }
  return name.size() <= kMaxQualifiedNameLength && IsQualifiedNamePart(name);
}

bool IsLabelValue(std::string_view s) {
  return s.empty() || (s.size() <= kMaxLabelValueLength && IsQualifiedNamePart(s));
}

absl::Status ValidateDns1123Label(std::string_view s) {
  if (IsDns1123Label(s)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', starting and "
      "ending with a letter or digit)");
}

absl::Status ValidateDns1123Subdomain(std::string_view s) {
  if (IsDns1123Subdomain(s)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "is not a DNS-1123 subdomain (at most 253 lower-case letters, digits, '-' and '.', "
      "starting and ending with a letter or digit)");
}

absl::Status ValidateQualifiedName(std::string_view s) {
  if (IsQualifiedName(s)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "is not a valid label key (an optional DNS subdomain prefix and '/', then at most 63 "
      "letters, digits, '-', '_' or '.', starting and ending with a letter or digit)");
}

absl::Status ValidateLabelValue(std::string_view s) {
  if (IsLabelValue(s)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      "is not a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and "
      "ending with a letter or digit)");
}

}  // namespace bursar::values
