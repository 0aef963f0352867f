#pragma once

// Kubernetes name rules, in one place (as apimachinery's validation package keeps them):
// DNS-1123 labels and subdomains, qualified names (label and annotation keys) and label values.
// Hand-written, no regex engine in the dependency set; each function's comment gives the
// regular expression it implements.
//
// The Is* predicates answer yes or no, for callers that phrase their own message (a CRD field's
// decoder says `"x" is not <what it wants>`). The Validate* functions return OkStatus or an
// InvalidArgument whose message says what a valid value looks like, without the value itself:
// callers prefix the value, quoted their way, and where it came from (a flag, a file line).

#include <string_view>

#include "absl/status/status.h"

namespace bursar::values {

inline constexpr size_t kMaxDns1123LabelLength = 63;
inline constexpr size_t kMaxDns1123SubdomainLength = 253;
inline constexpr size_t kMaxQualifiedNameLength = 63;  // the part after the prefix
inline constexpr size_t kMaxLabelValueLength = 63;

// [a-z0-9]([-a-z0-9]*[a-z0-9])? with no length limit.
bool IsDnsLabelPattern(std::string_view s);
// [a-z0-9]([-a-z0-9]*[a-z0-9])? and at most 63 characters (a namespace, a Service name).
bool IsDns1123Label(std::string_view s);

// Dot-separated DNS labels, with no length limit.
bool IsDnsSubdomainPattern(std::string_view s);
// Dot-separated DNS labels and at most 253 characters (most object names).
bool IsDns1123Subdomain(std::string_view s);

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9] with no length limit: the name part of a qualified
// name, a label value, a condition type.
bool IsQualifiedNamePart(std::string_view s);
// A label or annotation key: an optional DNS-1123 subdomain prefix and '/', then a name part of
// at most 63 characters.
bool IsQualifiedName(std::string_view s);
// Empty, or a name part of at most 63 characters.
bool IsLabelValue(std::string_view s);

// "is not a DNS-1123 label (at most 63 lower-case letters, digits and '-', starting and ending
// with a letter or digit)" when !IsDns1123Label(s).
absl::Status ValidateDns1123Label(std::string_view s);
// "is not a DNS-1123 subdomain (at most 253 lower-case letters, digits, '-' and '.', starting
// and ending with a letter or digit)" when !IsDns1123Subdomain(s).
absl::Status ValidateDns1123Subdomain(std::string_view s);
// "is not a valid label key (...)" when !IsQualifiedName(s).
absl::Status ValidateQualifiedName(std::string_view s);
// "is not a valid label value (...)" when !IsLabelValue(s).
absl::Status ValidateLabelValue(std::string_view s);

}  // namespace bursar::values
