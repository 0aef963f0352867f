#pragma once

// The patterns of the CRDs and of metav1 that the codec checks beyond Kubernetes names
// (controllers/values/validation.h has those), hand-written (no regex engine in the dependency
// set) so that `bursar simulate` rejects what the API server would. Each comment gives the
// pattern from crds/. For the decoders in codec_decode.cc; other code should call the codec.

#include <string_view>

namespace bursar::api {

// ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$
bool IsConditionType(std::string_view s);
// ^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$
bool IsConditionReason(std::string_view s);
// True, False or Unknown.
bool IsConditionStatus(std::string_view s);
// ^[A-Z]{3}$
bool IsCurrencyCode(std::string_view s);
// ^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$
bool IsTimeZoneName(std::string_view s);
// ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$
bool IsGrpcAddress(std::string_view s);
// ^[a-z0-9]([-a-z0-9.]*)?$
bool IsKwokPrefix(std::string_view s);
// ^(0(\.[0-9]{1,6})?|1(\.0{1,6})?)$
bool IsDriftThreshold(std::string_view s);
// The API server's date-time format, which absl::ParseTime alone is laxer than:
// ^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$
bool IsRfc3339Shape(std::string_view s);

// What a valid value looks like, for `"x" is not <want>`.
inline constexpr char kWantDnsSubdomain[] =
    "a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a "
    "letter or digit)";
inline constexpr char kWantDnsLabel[] =
    "a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or "
    "digit)";
inline constexpr char kWantQualifiedName[] =
    "a valid label key (an optional DNS subdomain prefix and '/', then at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit)";
inline constexpr char kWantLabelValue[] =
    "a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with "
    "a letter or digit)";
inline constexpr char kWantCurrency[] =
    "an ISO 4217 currency code (three upper-case letters, e.g. \"USD\")";

}  // namespace bursar::api
