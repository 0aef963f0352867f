#pragma once

// The patterns of the CRDs and of metav1 that the codec checks beyond Kubernetes names
// (controllers/values/validation.h has those), hand-written (no regex engine in the dependency
// set) so that `bursar simulate` rejects what the API server would. Each comment gives the
// pattern from crds/. For the decoders in codec_decode.cc; other code should call the codec.

#include <cstdint>
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
// ^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z][A-Za-z0-9_+\-]*)*$ (every tzdata name's parts start
// with a letter; "+01:00" and "-0500" are offsets, not zones)
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

// Bounds the CRDs state (CEL rules and maximums) so that every value fits Bursar's arithmetic:
// money is int64 micro-units (at most ~9.2e12 units), Kubernetes int32 fields are not range-checked
// by the apiserver beyond what the schema says, and absl::Duration saturates silently.
// - A limit (spec.limit.amount, gpuHours) is below 1e12 units: the 64-bit micro-unit ledger holds
//   it with 9x headroom for a period's overshoot.
inline constexpr int64_t kLimitUnitsBelow = 1'000'000'000'000;
// - A price (per hour) is below 1e6 units, i.e. below 1e12 micro-units, so the summed rate of
//   9.2 million priced units (GPUs, cores, GiB or nodes) at the highest price still fits int64.
inline constexpr int64_t kPriceUnitsBelow = 1'000'000;
// - minNodes, maxNodes, maxScaleStep: at most 5000, the documented size limit of one Kubernetes
//   cluster (a pool is part of one).
inline constexpr int kMaxPoolNodes = 5000;
// - retraining.maxPerPeriod: at most 1000.
inline constexpr int kMaxUnlocksPerPeriod = 1000;
// - cooldown, scaleDownDelay: at most 8784h (366 days).
inline constexpr int64_t kMaxDelayHours = 8784;

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
