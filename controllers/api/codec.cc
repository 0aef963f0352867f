#include "controllers/api/codec.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controllers/api/field_reader.h"
#include "controllers/values/duration.h"

namespace bursar::api {
namespace {

// -------------------------------------------------------------------------------------------
// Patterns of the CRDs and of metav1, hand-written (no regex engine in the dependency set).

bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || IsDigit(c);
}
bool IsAlnum(char c) {
  return IsLowerAlnum(c) || (c >= 'A' && c <= 'Z');
}
bool IsLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// [a-z0-9]([-a-z0-9]*[a-z0-9])?
bool IsDnsLabelPattern(std::string_view s) {
  if (s.empty() || !IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return IsLowerAlnum(c) || c == '-'; });
}

bool IsDns1123Label(std::string_view s) {
  return s.size() <= 63 && IsDnsLabelPattern(s);
}

// A dot-separated sequence of DNS labels (the pattern, without a length limit).
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
  return s.size() <= 253 && IsDnsSubdomainPattern(s);
}

// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]
bool IsNamePart(std::string_view s) {
  if (s.empty() || !IsAlnum(s.front()) || !IsAlnum(s.back())) {
    return false;
  }
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return IsAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

// A label or annotation key: an optional DNS-subdomain prefix and '/', then a name of at most
// 63 characters.
bool IsQualifiedName(std::string_view s) {
  size_t slash = s.find('/');
  std::string_view name = s;
  if (slash != std::string_view::npos) {
    std::string_view prefix = s.substr(0, slash);
    name = s.substr(slash + 1);
    if (!IsDns1123Subdomain(prefix)) {
      return false;
    }
  }
  return name.size() <= 63 && IsNamePart(name);
}

bool IsLabelValue(std::string_view s) {
  return s.empty() || (s.size() <= 63 && IsNamePart(s));
}

// ^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$
bool IsConditionType(std::string_view s) {
  size_t slash = s.find('/');
  if (slash != std::string_view::npos && !IsDnsSubdomainPattern(s.substr(0, slash))) {
    return false;
  }
  return IsNamePart(slash == std::string_view::npos ? s : s.substr(slash + 1));
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

// ^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$
bool IsTimeZoneName(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(AbslView(s), '/')) {
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char c) {
          return IsAlnum(c) || c == '_' || c == '+' || c == '-';
        })) {
      return false;
    }
  }
  return true;
}

// ^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?):[0-9]{1,5}$
bool IsGrpcAddress(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) {
    return false;
  }
  std::string_view host = s.substr(0, colon);
  std::string_view port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), IsDigit)) {
    return false;
  }
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

constexpr char kWantDnsSubdomain[] =
    "a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a "
    "letter or digit)";
constexpr char kWantDnsLabel[] =
    "a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or "
    "digit)";
constexpr char kWantQualifiedName[] =
    "a valid label key (an optional DNS subdomain prefix and '/', then at most 63 letters, "
    "digits, '-', '_' or '.', starting and ending with a letter or digit)";
constexpr char kWantLabelValue[] =
    "a valid label value (at most 63 letters, digits, '-', '_' or '.', starting and ending with "
    "a letter or digit)";
constexpr char kWantCurrency[] =
    "an ISO 4217 currency code (three upper-case letters, e.g. \"USD\")";

// Name limits: every Bursar kind caps metadata.name at 63 characters (it becomes a label value).
constexpr size_t kMaxKindNameLength = 63;

// -------------------------------------------------------------------------------------------
// Enum spellings, as in the CRDs.

constexpr EnumSpelling<values::PeriodType> kPeriodTypes[] = {
    {values::PeriodType::kHourly, "Hourly"},
    {values::PeriodType::kDaily, "Daily"},
    {values::PeriodType::kWeekly, "Weekly"},
    {values::PeriodType::kMonthly, "Monthly"},
    {values::PeriodType::kCustom, "Custom"}};
constexpr EnumSpelling<PacingMode> kPacingModes[] = {{PacingMode::kEven, "Even"},
                                                     {PacingMode::kNone, "None"}};
constexpr EnumSpelling<LadderAction> kLadderActions[] = {{LadderAction::kNotify, "Notify"},
                                                         {LadderAction::kThrottle, "Throttle"},
                                                         {LadderAction::kHold, "Hold"},
                                                         {LadderAction::kDrain, "Drain"}};
constexpr EnumSpelling<EnforcementMode> kEnforcementModes[] = {
    {EnforcementMode::kEnforce, "Enforce"}, {EnforcementMode::kDryRun, "DryRun"}};
constexpr EnumSpelling<QuotaMode> kQuotaModes[] = {
    {QuotaMode::kResourceQuota, "ResourceQuota"},
    {QuotaMode::kKueueClusterQueue, "KueueClusterQueue"},
    {QuotaMode::kNone, "None"}};
constexpr EnumSpelling<BudgetPhase> kPhases[] = {{BudgetPhase::kWithinBudget, "WithinBudget"},
                                                 {BudgetPhase::kAtRisk, "AtRisk"},
                                                 {BudgetPhase::kThrottled, "Throttled"},
                                                 {BudgetPhase::kHeld, "Held"},
                                                 {BudgetPhase::kExhausted, "Exhausted"}};
constexpr EnumSpelling<ProviderType> kProviderTypes[] = {
    {ProviderType::kClusterAPI, "ClusterAPI"},
    {ProviderType::kKarpenter, "Karpenter"},
    {ProviderType::kExternalGRPC, "ExternalGRPC"},
    {ProviderType::kKwok, "Kwok"}};
constexpr EnumSpelling<CapacityType> kCapacityTypes[] = {{CapacityType::kOnDemand, "OnDemand"},
                                                         {CapacityType::kSpot, "Spot"}};
constexpr EnumSpelling<values::SelectorOperator> kOperators[] = {
    {values::SelectorOperator::kIn, "In"},
    {values::SelectorOperator::kNotIn, "NotIn"},
    {values::SelectorOperator::kExists, "Exists"},
    {values::SelectorOperator::kDoesNotExist, "DoesNotExist"}};
constexpr std::string_view kConditionStatuses[] = {"True", "False", "Unknown"};

bool IsConditionStatus(std::string_view s) {
  return std::find(std::begin(kConditionStatuses), std::end(kConditionStatuses), s) !=
         std::end(kConditionStatuses);
}

// -------------------------------------------------------------------------------------------
// Times.

constexpr char kSecondsFormat[] = "%Y-%m-%d%ET%H:%M:%SZ";
constexpr char kExactFormat[] = "%Y-%m-%d%ET%H:%M:%E*SZ";

// Ledger timestamps keep fractions of a second (see codec.h).
std::string FormatExactTime(absl::Time t) {
  return absl::FormatTime(kExactFormat, t, absl::UTCTimeZone());
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

bool IsFinite(absl::Time t) {
  return t != absl::InfinitePast() && t != absl::InfiniteFuture();
}

// Go-style text the CRDs' duration pattern accepts: "us", never the micro sign.
std::string DurationText(absl::Duration d) {
  std::string text = values::FormatDuration(d);
  if (size_t micro = text.find("\xc2\xb5s"); micro != std::string::npos) {
    text.replace(micro, 3, "us");
  }
  return text;
}

// "0.3" for 300000 micros; "1" for 1000000.
std::string FormatMicrosFraction(int64_t micros) {
  std::string text = values::Money::FromMicros(micros).ToString();
  if (text.find('.') != std::string::npos) {
    while (text.back() == '0') {
      text.pop_back();
    }
    if (text.back() == '.') {
      text.pop_back();
    }
  }
  return text;
}

// -------------------------------------------------------------------------------------------
// Decoding.

void ReadTypeMeta(ObjectReader& root, std::string_view kind) {
  std::string api_version;
  if (root.String("apiVersion", &api_version, {.presence = kRequired}) &&
      !root.Invalid("apiVersion") && api_version != kApiVersion) {
    root.Error("apiVersion", absl::StrCat("must be ", kApiVersion, ", got ", Quote(api_version)));
  }
  std::string got_kind;
  if (root.String("kind", &got_kind, {.presence = kRequired}) && !root.Invalid("kind") &&
      got_kind != kind) {
    root.Error("kind", absl::StrCat("must be ", AbslView(kind), ", got ", Quote(got_kind)));
  }
}

void ReadObjectMeta(ObjectReader& m, ObjectMeta* out, size_t max_name_length) {
  m.String("name", &out->name,
           {.presence = kRequired,
            .min_length = 1,
            .max_length = max_name_length,
            .valid = IsDns1123Subdomain,
            .want = kWantDnsSubdomain});
  m.String("namespace", &out->namespace_name,
           {.max_length = 63, .valid = IsDns1123Label, .want = kWantDnsLabel});
  m.String("uid", &out->uid);
  m.String("resourceVersion", &out->resource_version);
  m.Int64("generation", &out->generation, {.min = 0, .max = INT64_MAX});
  m.Time("creationTimestamp", &out->creation_timestamp);
  m.StringMap("labels", &out->labels,
              {.key = {.valid = IsQualifiedName, .want = kWantQualifiedName},
               .value = {.valid = IsLabelValue, .want = kWantLabelValue}});
  m.StringMap("annotations", &out->annotations,
              {.key = {.valid = IsQualifiedName, .want = kWantQualifiedName}, .value = {}});
  // Standard metadata Bursar does not keep.
  m.Ignore({"generateName", "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds",
            "ownerReferences", "finalizers", "managedFields"});
}

// metadata of a Bursar kind: all are cluster-scoped, so like the API server we drop a namespace.
void ReadKindMeta(ObjectReader& root, ObjectMeta* out) {
  root.Object("metadata", kRequired, [&](ObjectReader& m) {
    ReadObjectMeta(m, out, kMaxKindNameLength);
    out->namespace_name.clear();
  });
}

void ReadSelector(ObjectReader& r, values::LabelSelector* out) {
  r.StringMap("matchLabels", &out->match_labels,
              {.max_entries = 64, .key = {}, .value = {.max_length = 63}});
  r.ObjectList<values::SelectorRequirement>(
      "matchExpressions", &out->match_expressions, {.max_items = 32},
      [](ObjectReader& e, size_t, values::SelectorRequirement* req) {
        e.String("key", &req->key, {.presence = kRequired, .min_length = 1, .max_length = 317});
        e.Enum("operator", &req->op, kOperators, kRequired);
        e.StringList("values", &req->values, {.max_items = 64}, {.max_length = 63});
        if (e.Invalid("operator") || e.Invalid("values")) {
          return;
        }
        bool needs_values =
            req->op == values::SelectorOperator::kIn || req->op == values::SelectorOperator::kNotIn;
        if (needs_values == req->values.empty()) {
          e.Error("values",
                  "values must be non-empty for In and NotIn, and empty for Exists and "
                  "DoesNotExist");
        }
      });
}

bool OptionalSelector(ObjectReader& r, std::string_view key,
                      std::optional<values::LabelSelector>* out) {
  return r.Object(key, kOptional, [&](ObjectReader& s) {
    values::LabelSelector selector;
    ReadSelector(s, &selector);
    *out = std::move(selector);
  });
}

void ReadCondition(ObjectReader& c, size_t, Condition* out) {
  c.String(
      "type", &out->type,
      {.presence = kRequired,
       .min_length = 1,
       .max_length = 316,
       .valid = IsConditionType,
       .want = "a condition type (CamelCase, optionally prefixed with a DNS subdomain and '/')"});
  c.String(
      "status", &out->status,
      {.presence = kRequired, .valid = IsConditionStatus, .want = "one of True, False, Unknown"});
  c.String(
      "reason", &out->reason,
      {.presence = kRequired,
       .min_length = 1,
       .max_length = 1024,
       .valid = IsConditionReason,
       .want = "a CamelCase reason (letters, digits, '_', ',' and ':', starting with a letter)"});
  c.String("message", &out->message, {.presence = kRequired, .max_length = 32768});
  c.Time("lastTransitionTime", &out->last_transition_time, kRequired);
  c.Int64("observedGeneration", &out->observed_generation, {.min = 0, .max = INT64_MAX});
}

// metav1.Condition lists are list-maps keyed by type: one entry per type.
void ReadConditions(ObjectReader& r, std::vector<Condition>* out) {
  std::set<std::string, std::less<>> seen;
  r.ObjectList<Condition>(
      "conditions", out, {.max_items = 32}, [&](ObjectReader& c, size_t i, Condition* cond) {
        ReadCondition(c, i, cond);
        if (!c.Invalid("type") && !cond->type.empty() && !seen.insert(cond->type).second) {
          c.Error("type", absl::StrCat("duplicate condition type ", Quote(cond->type)));
        }
      });
}

void ReadScope(ObjectReader& r, BudgetScope* out) {
  r.StringList("namespaces", &out->namespaces, {.max_items = 256, .unique = true},
               {.min_length = 1, .max_length = 63, .valid = IsDns1123Label, .want = kWantDnsLabel});
  bool has_selector = OptionalSelector(r, "namespaceSelector", &out->namespace_selector);
  OptionalSelector(r, "podSelector", &out->pod_selector);
  if (out->namespaces.empty() && !has_selector && !r.Invalid("namespaces")) {
    r.ErrorHere("scope needs namespaces or namespaceSelector");
  }
}

void ReadLimit(ObjectReader& r, BudgetLimit* out) {
  bool has_amount = r.Decimal("amount", &out->amount, DecimalKind::kUnsigned);
  r.String("currency", &out->currency, {.valid = IsCurrencyCode, .want = kWantCurrency});
  bool has_gpu_hours = r.Decimal("gpuHours", &out->gpu_hours, DecimalKind::kUnsigned);
  if (!has_amount && !has_gpu_hours) {
    r.ErrorHere("limit needs amount or gpuHours");
  }
}

void ReadPeriod(ObjectReader& r, values::PeriodSpec* out) {
  r.Enum("type", &out->type, kPeriodTypes);
  r.String("timeZone", &out->time_zone,
           {.min_length = 1,
            .max_length = 64,
            .valid = IsTimeZoneName,
            .want = "an IANA time zone name (e.g. \"UTC\" or \"Europe/Berlin\")"});
  bool has_start_day = r.Int("startDay", &out->start_day, {.min = 1, .max = 28});
  bool has_duration = r.Duration("duration", &out->duration);
  bool has_anchor = r.Time("anchor", &out->anchor);
  if (r.Invalid("type")) {
    return;
  }
  bool custom = out->type == values::PeriodType::kCustom;
  size_t errors_before = r.errors()->size();
  if (custom && !has_duration) {
    r.ErrorHere("a Custom period needs duration");
  }
  if (!custom && has_duration) {
    r.Error("duration", "duration is only allowed with a Custom period");
  }
  if (!custom && has_anchor) {
    r.Error("anchor", "anchor is only allowed with a Custom period");
  }
  if (out->type == values::PeriodType::kWeekly && has_start_day && !r.Invalid("startDay") &&
      out->start_day > 7) {
    r.Error("startDay", absl::StrCat("a Weekly period needs startDay between 1 (Monday) and 7 "
                                     "(Sunday), got ",
                                     out->start_day));
  }
  if (has_duration && !r.Invalid("duration") && out->duration <= absl::ZeroDuration()) {
    r.Error("duration", "duration must be greater than zero");
  }
  if (r.errors()->size() != errors_before || r.Invalid("timeZone") || r.Invalid("startDay") ||
      r.Invalid("duration") || r.Invalid("anchor")) {
    return;
  }
  absl::TimeZone zone;
  if (!absl::LoadTimeZone(out->time_zone, &zone)) {
    r.Error("timeZone", absl::StrCat(Quote(out->time_zone), " is not a known IANA time zone"));
    return;
  }
  absl::StatusOr<values::PeriodCalendar> calendar = values::PeriodCalendar::Create(*out);
  if (!calendar.ok()) {
    r.ErrorHere(StdView(calendar.status().message()));
  }
}

void ReadThresholds(ObjectReader& r, std::vector<Threshold>* out) {
  std::string list_path = r.PathOf("thresholds");
  std::optional<std::pair<size_t, int>> previous;  // index and percent of the last valid rung
  r.ObjectList<Threshold>(
      "thresholds", out, {.max_items = 8}, [&](ObjectReader& t, size_t i, Threshold* rung) {
        t.Int("percent", &rung->percent, {.presence = kRequired, .min = 1, .max = 200});
        t.Enum("action", &rung->action, kLadderActions, kRequired);
        if (t.Invalid("percent")) {
          return;
        }
        if (previous.has_value() && rung->percent <= previous->second) {
          t.Error("percent", absl::StrCat("must be greater than ", list_path, "[", previous->first,
                                          "].percent (", previous->second, ")"));
        }
        previous = {i, rung->percent};
      });
}

void ReadQuota(ObjectReader& r, QuotaSpec* out) {
  r.Enum("mode", &out->mode, kQuotaModes);
  r.StringList("resources", &out->resources, {.max_items = 16, .unique = true},
               {.min_length = 1, .max_length = 253});
  bool has_queue =
      r.String("clusterQueue", &out->cluster_queue, {.min_length = 1, .max_length = 253});
  if (r.Invalid("mode")) {
    return;
  }
  if (out->mode == QuotaMode::kKueueClusterQueue && !has_queue) {
    r.ErrorHere("quota.clusterQueue is required when mode is KueueClusterQueue");
  }
  if (out->mode != QuotaMode::kNone && out->resources.empty() && !r.Invalid("resources")) {
    r.Error("resources", "quota.resources must name at least one resource unless mode is None");
  }
}

void ReadRetraining(ObjectReader& r, RetrainingSpec* out) {
  r.Int("reservePercent", &out->reserve_percent, {.min = 0, .max = 50});
  std::string drift;
  if (r.String("driftThreshold", &drift,
               {.max_length = 8,
                .valid = IsDriftThreshold,
                .want = "a decimal from 0 to 1 with at most 6 fractional digits (e.g. \"0.3\")"}) &&
      !r.Invalid("driftThreshold")) {
    absl::StatusOr<values::Money> micros = values::Money::Parse(drift);
    if (micros.ok()) {
      out->drift_threshold_micros = micros->micros();
    } else {
      r.Error("driftThreshold", StdView(micros.status().message()));
    }
  }
  r.String("modelLabel", &out->model_label, {.min_length = 1, .max_length = 317});
  r.String("purposeLabel", &out->purpose_label, {.min_length = 1, .max_length = 317});
  r.Duration("cooldown", &out->cooldown);
  r.Int("maxPerPeriod", &out->max_per_period, {.min = 0});
  r.String("driftQuery", &out->drift_query, {.min_length = 1, .max_length = 4096});
}

void ReadBudgetSpec(ObjectReader& r, ComputeBudgetSpec* out) {
  r.Object("scope", kRequired, [&](ObjectReader& s) { ReadScope(s, &out->scope); });
  r.Object("limit", kRequired, [&](ObjectReader& l) { ReadLimit(l, &out->limit); });
  r.Object("period", kRequired, [&](ObjectReader& p) { ReadPeriod(p, &out->period); });
  r.Object("pacing", kOptional, [&](ObjectReader& p) {
    p.Enum("mode", &out->pacing.mode, kPacingModes);
    p.Int("burstPercent", &out->pacing.burst_percent, {.min = 0, .max = 100});
  });
  ReadThresholds(r, &out->thresholds);
  r.Enum("enforcement", &out->enforcement, kEnforcementModes);
  r.Object("quota", kOptional, [&](ObjectReader& q) { ReadQuota(q, &out->quota); });
  r.StringList("nodePools", &out->node_pools, {.max_items = 64, .unique = true},
               {.min_length = 1, .max_length = 253});
  r.Object("retraining", kOptional, [&](ObjectReader& t) { ReadRetraining(t, &out->retraining); });
  r.String("priceBookRef", &out->price_book_ref, {.min_length = 1, .max_length = 253});
}

void ReadPeriodWindow(ObjectReader& p, values::Period* out) {
  p.Time("start", &out->start, kRequired);
  p.Time("end", &out->end, kRequired);
  if (!p.Invalid("start") && !p.Invalid("end") && out->end < out->start) {
    p.Error("end", "must not be before start");
  }
}

void ReadLedger(ObjectReader& r, values::LedgerState* out) {
  r.Time("periodStart", &out->period.start, kRequired);
  r.Time("periodEnd", &out->period.end, kRequired);
  std::string accrued = "0";
  if (r.String("accrued", &accrued, {.max_length = 48}) && !r.Invalid("accrued")) {
    absl::StatusOr<values::Accrual> a = values::ParseAccrual(accrued);
    if (a.ok()) {
      out->accrued = *a;
    } else {
      r.Error("accrued", StdView(a.status().message()));
    }
  }
  std::string seconds;
  if (r.String("gpuSeconds", &seconds, {.max_length = 20}) && !r.Invalid("gpuSeconds")) {
    int64_t value = 0;
    if (!seconds.empty() && std::all_of(seconds.begin(), seconds.end(), IsDigit) &&
        absl::SimpleAtoi(seconds, &value)) {
      out->gpu_seconds = value;
    } else {
      r.Error("gpuSeconds", absl::StrCat(Quote(seconds), " is not a whole number of seconds"));
    }
  }
  r.Time("watermark", &out->watermark);
  r.ObjectList<values::PodAccount>(
      "pods", &out->pods, {.max_items = 10000},
      [](ObjectReader& p, size_t, values::PodAccount* pod) {
        p.String("uid", &pod->uid, {.presence = kRequired, .min_length = 1, .max_length = 64});
        p.Time("accountedUntil", &pod->accounted_until, kRequired);
      });
}

void ReadActionRecord(ObjectReader& a, size_t, ActionRecord* out) {
  a.Time("time", &out->time);
  a.String("action", &out->action, {.max_length = 64});
  a.String("reason", &out->reason, {.max_length = 1024});
  a.String("message", &out->message, {.max_length = 32768});
  a.String("target", &out->target, {.max_length = 1024});
  a.Bool("dryRun", &out->dry_run);
}

void ReadBudgetStatus(ObjectReader& r, ComputeBudgetStatus* out) {
  r.Int64("observedGeneration", &out->observed_generation, {.min = 0, .max = INT64_MAX});
  r.Object("period", kOptional, [&](ObjectReader& p) {
    values::Period period;
    ReadPeriodWindow(p, &period);
    out->period = period;
  });
  r.Decimal("spent", &out->spent, DecimalKind::kSigned);
  r.Decimal("gpuHours", &out->gpu_hours, DecimalKind::kSigned);
  r.Decimal("burnRate", &out->burn_rate, DecimalKind::kSigned);
  r.Decimal("forecast", &out->forecast, DecimalKind::kSigned);
  r.Decimal("remaining", &out->remaining, DecimalKind::kSigned);
  r.Time("exhaustsAt", &out->exhausts_at);
  r.Int64("allowedGPUs", &out->allowed_gpus, {.min = 0, .max = INT64_MAX});
  r.Enum("phase", &out->phase, kPhases);
  ReadConditions(r, &out->conditions);
  r.Object("ledger", kOptional, [&](ObjectReader& l) {
    values::LedgerState ledger;
    ReadLedger(l, &ledger);
    out->ledger = std::move(ledger);
  });
  r.Object("reserveLedger", kOptional, [&](ObjectReader& l) {
    values::LedgerState ledger;
    ReadLedger(l, &ledger);
    out->reserve_ledger = std::move(ledger);
  });
  r.ObjectList<ActionRecord>("recentActions", &out->recent_actions,
                             {.max_items = kMaxRecentActions}, ReadActionRecord);
}

void ReadProvider(ObjectReader& r, ProviderSpec* out) {
  r.Enum("type", &out->type, kProviderTypes, kRequired);
  bool has_cluster_api = r.Object("clusterAPI", kOptional, [&](ObjectReader& c) {
    c.String("namespace", &out->cluster_api_namespace,
             {.presence = kRequired,
              .min_length = 1,
              .max_length = 63,
              .valid = IsDns1123Label,
              .want = kWantDnsLabel});
    c.String("name", &out->cluster_api_name,
             {.presence = kRequired, .min_length = 1, .max_length = 253});
  });
  bool has_karpenter = r.Object("karpenter", kOptional, [&](ObjectReader& k) {
    k.String("nodePool", &out->karpenter_node_pool,
             {.presence = kRequired, .min_length = 1, .max_length = 253});
  });
  bool has_grpc = r.Object("externalGRPC", kOptional, [&](ObjectReader& g) {
    g.String("address", &out->grpc_address,
             {.presence = kRequired,
              .min_length = 3,
              .max_length = 261,
              .valid = IsGrpcAddress,
              .want = "a host:port address (e.g. \"cloudprovider.kube-system.svc:8086\" or "
                      "\"[fd00::1]:8086\")"});
    g.String("nodeGroup", &out->grpc_node_group,
             {.presence = kRequired, .min_length = 1, .max_length = 1024});
    g.String("tlsSecretRef", &out->grpc_tls_secret_ref, {.min_length = 1, .max_length = 253});
  });
  bool has_kwok = r.Object("kwok", kOptional, [&](ObjectReader& k) {
    k.String("nodeNamePrefix", &out->kwok_node_name_prefix,
             {.min_length = 1,
              .max_length = 200,
              .valid = IsKwokPrefix,
              .want = "a node name prefix (lower-case letters, digits, '-' and '.', starting "
                      "with a letter or digit)"});
  });
  if (r.Invalid("type")) {
    return;
  }
  struct Block {
    ProviderType type;
    const char* key;
    bool present;
  };
  const Block blocks[] = {{ProviderType::kClusterAPI, "clusterAPI", has_cluster_api},
                          {ProviderType::kKarpenter, "karpenter", has_karpenter},
                          {ProviderType::kExternalGRPC, "externalGRPC", has_grpc},
                          {ProviderType::kKwok, "kwok", has_kwok}};
  for (const Block& block : blocks) {
    if (block.type == out->type && !block.present && block.type != ProviderType::kKwok) {
      r.ErrorHere(absl::StrCat("provider.", block.key, " is required when provider.type is ",
                               Name(block.type)));
    }
    if (block.type != out->type && block.present) {
      r.Error(block.key, absl::StrCat("only the provider block matching provider.type (",
                                      Name(out->type), ") may be set"));
    }
  }
}

void ReadPoolSpec(ObjectReader& r, GPUNodePoolSpec* out) {
  r.Object("provider", kRequired, [&](ObjectReader& p) { ReadProvider(p, &out->provider); });
  r.StringMap("nodeSelector", &out->node_selector,
              {.max_entries = 32, .key = {}, .value = {.max_length = 63}});
  r.String("gpuType", &out->gpu_type, {.max_length = 253});
  r.Int("gpusPerNode", &out->gpus_per_node, {.presence = kRequired, .min = 1, .max = 64});
  r.Enum("capacityType", &out->capacity_type, kCapacityTypes);
  r.Decimal("pricePerNodeHour", &out->price_per_node_hour, DecimalKind::kUnsigned);
  r.String("priceBookRef", &out->price_book_ref, {.min_length = 1, .max_length = 253});
  bool has_min = r.Int("minNodes", &out->min_nodes, {.min = 0});
  r.Int("maxNodes", &out->max_nodes, {.presence = kRequired, .min = 0});
  r.Int("maxScaleStep", &out->max_scale_step, {.min = 1});
  r.Duration("scaleDownDelay", &out->scale_down_delay);
  if (has_min && !r.Invalid("minNodes") && !r.Invalid("maxNodes") &&
      out->min_nodes > out->max_nodes) {
    r.Error("minNodes", absl::StrCat("minNodes must not exceed maxNodes (", out->min_nodes, " > ",
                                     out->max_nodes, ")"));
  }
}

void ReadPoolStatus(ObjectReader& r, GPUNodePoolStatus* out) {
  r.Int64("observedGeneration", &out->observed_generation, {.min = 0, .max = INT64_MAX});
  r.Int("currentNodes", &out->current_nodes, {.min = 0});
  r.Int("desiredNodes", &out->desired_nodes, {.min = 0});
  r.Int("readyNodes", &out->ready_nodes, {.min = 0});
  r.Int("idleNodes", &out->idle_nodes, {.min = 0});
  r.Time("lastScaleTime", &out->last_scale_time);
  r.String("lastScaleReason", &out->last_scale_reason, {.max_length = 1024});
  ReadConditions(r, &out->conditions);
}

// A price list entry keyed, like the CRD's list-map, by (name, capacityType).
template <typename T>
void ReadPriceList(ObjectReader& r, std::string_view key, std::string_view name_key,
                   std::string T::*name, size_t max_items, std::vector<T>* out) {
  std::set<std::pair<std::string, CapacityType>> seen;
  r.ObjectList<T>(key, out, {.max_items = max_items}, [&](ObjectReader& e, size_t, T* entry) {
    e.String(name_key, &(entry->*name),
             {.presence = kRequired, .min_length = 1, .max_length = 253});
    e.Enum("capacityType", &entry->capacity_type, kCapacityTypes);
    e.Decimal("pricePerHour", &entry->price_per_hour, DecimalKind::kUnsigned, kRequired);
    if (!e.Invalid(name_key) && !e.Invalid("capacityType") &&
        !seen.emplace(entry->*name, entry->capacity_type).second) {
      e.Error(name_key, absl::StrCat("duplicate entry for ", Quote(entry->*name), " and ",
                                     Name(entry->capacity_type)));
    }
  });
}

void ReadPriceBookSpec(ObjectReader& r, PriceBookSpec* out) {
  r.String("currency", &out->currency, {.valid = IsCurrencyCode, .want = kWantCurrency});
  r.Object("defaults", kOptional, [&](ObjectReader& d) {
    d.Decimal("cpuCoreHour", &out->defaults.cpu_core_hour, DecimalKind::kUnsigned);
    d.Decimal("memoryGiBHour", &out->defaults.memory_gib_hour, DecimalKind::kUnsigned);
    d.Decimal("gpuHour", &out->defaults.gpu_hour, DecimalKind::kUnsigned);
  });
  ReadPriceList(r, "gpus", "model", &GpuPrice::model, 256, &out->gpus);
  ReadPriceList(r, "instanceTypes", "name", &InstancePrice::name, 1024, &out->instance_types);
  r.Object("nodeLabels", kOptional, [&](ObjectReader& n) {
    n.String("instanceType", &out->node_labels.instance_type, {.min_length = 1, .max_length = 317});
    n.String("gpuModel", &out->node_labels.gpu_model, {.min_length = 1, .max_length = 317});
    n.String("capacityType", &out->node_labels.capacity_type, {.min_length = 1, .max_length = 317});
  });
  r.StringList("spotValues", &out->spot_values, {.max_items = 32, .unique = true},
               {.min_length = 1, .max_length = 63});
}

// Decodes one object of a Bursar kind: type meta, metadata, then `body` (spec and status).
template <typename T>
absl::StatusOr<T> DecodeKind(const json::Value& v, const DecodeOptions& o, std::string_view kind,
                             absl::FunctionRef<void(ObjectReader&, T*)> body) {
  DecodeErrors errors(o.source);
  if (!v.is_object()) {
    errors.Add(v.line(), "",
               absl::StrCat("a ", AbslView(kind), " must be an object, got ", Describe(v)));
    return errors.ToStatus();
  }
  T out;
  ObjectReader root(&v, "", &errors, o.reject_unknown_fields);
  ReadTypeMeta(root, kind);
  ReadKindMeta(root, &out.metadata);
  body(root, &out);
  root.Finish();
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  return out;
}

// -------------------------------------------------------------------------------------------
// Encoding.

json::Value Str(std::string s) {
  return json::Value::String(std::move(s));
}

json::Value StringList(const std::vector<std::string>& items) {
  std::vector<json::Value> elements;
  elements.reserve(items.size());
  for (const std::string& s : items) {
    elements.push_back(Str(s));
  }
  return json::Value::Array(std::move(elements));
}

json::Value StringMap(const values::Labels& map) {
  json::Value out = json::Value::Object({});
  for (const auto& [k, v] : map) {
    out.Set(k, Str(v));
  }
  return out;
}

json::Value EncodeSelector(const values::LabelSelector& selector) {
  json::Value out = json::Value::Object({});
  if (!selector.match_labels.empty()) {
    out.Set("matchLabels", StringMap(selector.match_labels));
  }
  if (!selector.match_expressions.empty()) {
    json::Value list = json::Value::Array({});
    for (const values::SelectorRequirement& req : selector.match_expressions) {
      json::Value e = json::Value::Object({});
      e.Set("key", Str(req.key));
      e.Set("operator", Str(values::SelectorOperatorName(req.op)));
      if (!req.values.empty()) {
        e.Set("values", StringList(req.values));
      }
      list.Append(std::move(e));
    }
    out.Set("matchExpressions", std::move(list));
  }
  return out;
}

json::Value EncodeCondition(const Condition& c) {
  json::Value out = json::Value::Object({});
  out.Set("type", Str(c.type));
  out.Set("status", Str(c.status));
  out.Set("reason", Str(c.reason));
  out.Set("message", Str(c.message));  // required by metav1.Condition even when empty
  if (IsFinite(c.last_transition_time)) {
    out.Set("lastTransitionTime", Str(api::FormatTime(c.last_transition_time)));
  }
  if (c.observed_generation != 0) {
    out.Set("observedGeneration", json::Value::Int(c.observed_generation));
  }
  return out;
}

void SetConditions(json::Value& out, const std::vector<Condition>& conditions) {
  if (conditions.empty()) {
    return;
  }
  json::Value list = json::Value::Array({});
  for (const Condition& c : conditions) {
    list.Append(EncodeCondition(c));
  }
  out.Set("conditions", std::move(list));
}

json::Value EncodeLedger(const values::LedgerState& ledger) {
  json::Value out = json::Value::Object({});
  out.Set("periodStart", Str(FormatExactTime(ledger.period.start)));
  out.Set("periodEnd", Str(FormatExactTime(ledger.period.end)));
  out.Set("accrued", Str(values::AccrualToString(ledger.accrued)));
  out.Set("gpuSeconds", Str(absl::StrCat(ledger.gpu_seconds)));
  if (IsFinite(ledger.watermark)) {
    out.Set("watermark", Str(FormatExactTime(ledger.watermark)));
  }
  if (!ledger.pods.empty()) {
    json::Value pods = json::Value::Array({});
    for (const values::PodAccount& pod : ledger.pods) {
      json::Value p = json::Value::Object({});
      p.Set("uid", Str(pod.uid));
      p.Set("accountedUntil", Str(FormatExactTime(pod.accounted_until)));
      pods.Append(std::move(p));
    }
    out.Set("pods", std::move(pods));
  }
  return out;
}

json::Value EncodeActionRecord(const ActionRecord& a) {
  json::Value out = json::Value::Object({});
  if (IsFinite(a.time)) {
    out.Set("time", Str(api::FormatTime(a.time)));
  }
  const std::pair<const char*, const std::string*> fields[] = {
      {"action", &a.action}, {"reason", &a.reason}, {"message", &a.message}, {"target", &a.target}};
  for (const auto& [key, value] : fields) {
    if (!value->empty()) {
      out.Set(key, Str(*value));
    }
  }
  if (a.dry_run) {
    out.Set("dryRun", json::Value::Bool(true));
  }
  return out;
}

json::Value EncodeBudgetSpec(const ComputeBudgetSpec& spec) {
  json::Value out = json::Value::Object({});

  json::Value scope = json::Value::Object({});
  if (!spec.scope.namespaces.empty()) {
    scope.Set("namespaces", StringList(spec.scope.namespaces));
  }
  if (spec.scope.namespace_selector.has_value()) {
    scope.Set("namespaceSelector", EncodeSelector(*spec.scope.namespace_selector));
  }
  if (spec.scope.pod_selector.has_value()) {
    scope.Set("podSelector", EncodeSelector(*spec.scope.pod_selector));
  }
  out.Set("scope", std::move(scope));

  json::Value limit = json::Value::Object({});
  if (spec.limit.amount.has_value()) {
    limit.Set("amount", Str(spec.limit.amount->ToString()));
  }
  limit.Set("currency", Str(spec.limit.currency));
  if (spec.limit.gpu_hours.has_value()) {
    limit.Set("gpuHours", Str(spec.limit.gpu_hours->ToString()));
  }
  out.Set("limit", std::move(limit));

  json::Value period = json::Value::Object({});
  period.Set("type", Str(values::PeriodTypeName(spec.period.type)));
  period.Set("timeZone", Str(spec.period.time_zone));
  period.Set("startDay", json::Value::Int(spec.period.start_day));
  if (spec.period.type == values::PeriodType::kCustom) {
    period.Set("duration", Str(DurationText(spec.period.duration)));
    period.Set("anchor", Str(api::FormatTime(spec.period.anchor)));
  }
  out.Set("period", std::move(period));

  json::Value pacing = json::Value::Object({});
  pacing.Set("mode", Str(Name(spec.pacing.mode)));
  pacing.Set("burstPercent", json::Value::Int(spec.pacing.burst_percent));
  out.Set("pacing", std::move(pacing));

  // Always written: an absent list means the default ladder, an empty one means no actions.
  json::Value thresholds = json::Value::Array({});
  for (const Threshold& t : spec.thresholds) {
    json::Value rung = json::Value::Object({});
    rung.Set("percent", json::Value::Int(t.percent));
    rung.Set("action", Str(Name(t.action)));
    thresholds.Append(std::move(rung));
  }
  out.Set("thresholds", std::move(thresholds));
  out.Set("enforcement", Str(Name(spec.enforcement)));

  json::Value quota = json::Value::Object({});
  quota.Set("mode", Str(Name(spec.quota.mode)));
  quota.Set("resources", StringList(spec.quota.resources));
  if (!spec.quota.cluster_queue.empty()) {
    quota.Set("clusterQueue", Str(spec.quota.cluster_queue));
  }
  out.Set("quota", std::move(quota));

  if (!spec.node_pools.empty()) {
    out.Set("nodePools", StringList(spec.node_pools));
  }

  const RetrainingSpec& r = spec.retraining;
  json::Value retraining = json::Value::Object({});
  retraining.Set("reservePercent", json::Value::Int(r.reserve_percent));
  retraining.Set("driftThreshold", Str(FormatMicrosFraction(r.drift_threshold_micros)));
  retraining.Set("modelLabel", Str(r.model_label));
  retraining.Set("purposeLabel", Str(r.purpose_label));
  retraining.Set("cooldown", Str(DurationText(r.cooldown)));
  retraining.Set("maxPerPeriod", json::Value::Int(r.max_per_period));
  if (!r.drift_query.empty()) {
    retraining.Set("driftQuery", Str(r.drift_query));
  }
  out.Set("retraining", std::move(retraining));

  out.Set("priceBookRef", Str(spec.price_book_ref));
  return out;
}

json::Value EncodeProvider(const ProviderSpec& p) {
  json::Value out = json::Value::Object({});
  out.Set("type", Str(Name(p.type)));
  json::Value block = json::Value::Object({});
  switch (p.type) {
    case ProviderType::kClusterAPI:
      block.Set("namespace", Str(p.cluster_api_namespace));
      block.Set("name", Str(p.cluster_api_name));
      out.Set("clusterAPI", std::move(block));
      break;
    case ProviderType::kKarpenter:
      block.Set("nodePool", Str(p.karpenter_node_pool));
      out.Set("karpenter", std::move(block));
      break;
    case ProviderType::kExternalGRPC:
      block.Set("address", Str(p.grpc_address));
      block.Set("nodeGroup", Str(p.grpc_node_group));
      if (!p.grpc_tls_secret_ref.empty()) {
        block.Set("tlsSecretRef", Str(p.grpc_tls_secret_ref));
      }
      out.Set("externalGRPC", std::move(block));
      break;
    case ProviderType::kKwok:
      if (!p.kwok_node_name_prefix.empty()) {
        block.Set("nodeNamePrefix", Str(p.kwok_node_name_prefix));
        out.Set("kwok", std::move(block));
      }
      break;
  }
  return out;
}

json::Value EncodePoolSpec(const GPUNodePoolSpec& spec) {
  json::Value out = json::Value::Object({});
  out.Set("provider", EncodeProvider(spec.provider));
  if (!spec.node_selector.empty()) {
    out.Set("nodeSelector", StringMap(spec.node_selector));
  }
  if (!spec.gpu_type.empty()) {
    out.Set("gpuType", Str(spec.gpu_type));
  }
  out.Set("gpusPerNode", json::Value::Int(spec.gpus_per_node));
  out.Set("capacityType", Str(Name(spec.capacity_type)));
  if (spec.price_per_node_hour.has_value()) {
    out.Set("pricePerNodeHour", Str(spec.price_per_node_hour->ToString()));
  }
  out.Set("priceBookRef", Str(spec.price_book_ref));
  out.Set("minNodes", json::Value::Int(spec.min_nodes));
  out.Set("maxNodes", json::Value::Int(spec.max_nodes));
  out.Set("maxScaleStep", json::Value::Int(spec.max_scale_step));
  out.Set("scaleDownDelay", Str(DurationText(spec.scale_down_delay)));
  return out;
}

template <typename T>
json::Value EncodePriceList(const std::vector<T>& entries, const char* name_key,
                            std::string T::*name) {
  json::Value list = json::Value::Array({});
  for (const T& e : entries) {
    json::Value item = json::Value::Object({});
    item.Set(name_key, Str(e.*name));
    item.Set("capacityType", Str(Name(e.capacity_type)));
    item.Set("pricePerHour", Str(e.price_per_hour.ToString()));
    list.Append(std::move(item));
  }
  return list;
}

json::Value EncodePriceBookSpec(const PriceBookSpec& spec) {
  json::Value out = json::Value::Object({});
  out.Set("currency", Str(spec.currency));
  json::Value defaults = json::Value::Object({});
  defaults.Set("cpuCoreHour", Str(spec.defaults.cpu_core_hour.ToString()));
  defaults.Set("memoryGiBHour", Str(spec.defaults.memory_gib_hour.ToString()));
  defaults.Set("gpuHour", Str(spec.defaults.gpu_hour.ToString()));
  out.Set("defaults", std::move(defaults));
  out.Set("gpus", EncodePriceList(spec.gpus, "model", &GpuPrice::model));
  out.Set("instanceTypes", EncodePriceList(spec.instance_types, "name", &InstancePrice::name));
  json::Value labels = json::Value::Object({});
  labels.Set("instanceType", Str(spec.node_labels.instance_type));
  labels.Set("gpuModel", Str(spec.node_labels.gpu_model));
  labels.Set("capacityType", Str(spec.node_labels.capacity_type));
  out.Set("nodeLabels", std::move(labels));
  out.Set("spotValues", StringList(spec.spot_values));
  return out;
}

json::Value Envelope(std::string_view kind, const ObjectMeta& meta) {
  json::Value out = json::Value::Object({});
  out.Set("apiVersion", Str(kApiVersion));
  out.Set("kind", Str(std::string(kind)));
  out.Set("metadata", EncodeObjectMeta(meta));
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.

std::string FormatTime(absl::Time t) {
  return absl::FormatTime(kSecondsFormat, t, absl::UTCTimeZone());
}

absl::StatusOr<absl::Time> ParseTime(std::string_view text) {
  absl::Time t;
  std::string error;
  if (!IsRfc3339Shape(text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        Quote(text), " is not an RFC 3339 date-time (want e.g. \"2026-11-01T00:00:00Z\")"));
  }
  if (!absl::ParseTime(absl::RFC3339_full, AbslView(text), absl::UTCTimeZone(), &t, &error)) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is not an RFC 3339 date-time: ", error));
  }
  return t;
}

absl::StatusOr<ObjectMeta> DecodeObjectMeta(const json::Value& v, const DecodeOptions& o) {
  DecodeErrors errors(o.source);
  ObjectMeta out;
  if (v.is_null()) {
    errors.Add(v.line(), "metadata", "missing required field");
    return errors.ToStatus();
  }
  ObjectReader meta(&v, "metadata", &errors, o.reject_unknown_fields);  // reports a non-object
  ReadObjectMeta(meta, &out, 253);
  meta.Finish();
  if (!errors.empty()) {
    return errors.ToStatus();
  }
  return out;
}

absl::StatusOr<ComputeBudget> DecodeComputeBudget(const json::Value& v, const DecodeOptions& o) {
  return DecodeKind<ComputeBudget>(v, o, "ComputeBudget", [](ObjectReader& root, ComputeBudget* b) {
    root.Object("spec", kRequired, [&](ObjectReader& s) { ReadBudgetSpec(s, &b->spec); });
    root.Object("status", kOptional, [&](ObjectReader& s) { ReadBudgetStatus(s, &b->status); });
  });
}

absl::StatusOr<GPUNodePool> DecodeGPUNodePool(const json::Value& v, const DecodeOptions& o) {
  return DecodeKind<GPUNodePool>(v, o, "GPUNodePool", [](ObjectReader& root, GPUNodePool* p) {
    root.Object("spec", kRequired, [&](ObjectReader& s) { ReadPoolSpec(s, &p->spec); });
    root.Object("status", kOptional, [&](ObjectReader& s) { ReadPoolStatus(s, &p->status); });
    // The CRD's documented default for a Kwok pool: its name and "-".
    if (p->spec.provider.type == ProviderType::kKwok &&
        p->spec.provider.kwok_node_name_prefix.empty()) {
      p->spec.provider.kwok_node_name_prefix = absl::StrCat(p->metadata.name, "-");
    }
  });
}

absl::StatusOr<PriceBook> DecodePriceBook(const json::Value& v, const DecodeOptions& o) {
  return DecodeKind<PriceBook>(v, o, "PriceBook", [](ObjectReader& root, PriceBook* b) {
    root.Object("spec", kRequired, [&](ObjectReader& s) { ReadPriceBookSpec(s, &b->spec); });
    root.Object("status", kOptional, [&](ObjectReader& s) {
      s.Int64("observedGeneration", &b->observed_generation, {.min = 0, .max = INT64_MAX});
      ReadConditions(s, &b->conditions);
    });
  });
}

json::Value EncodeObjectMeta(const ObjectMeta& meta) {
  json::Value out = json::Value::Object({});
  out.Set("name", Str(meta.name));
  const std::pair<const char*, const std::string*> strings[] = {
      {"namespace", &meta.namespace_name},
      {"uid", &meta.uid},
      {"resourceVersion", &meta.resource_version}};
  for (const auto& [key, value] : strings) {
    if (!value->empty()) {
      out.Set(key, Str(*value));
    }
  }
  if (meta.generation != 0) {
    out.Set("generation", json::Value::Int(meta.generation));
  }
  if (IsFinite(meta.creation_timestamp)) {
    out.Set("creationTimestamp", Str(api::FormatTime(meta.creation_timestamp)));
  }
  if (!meta.labels.empty()) {
    out.Set("labels", StringMap(meta.labels));
  }
  if (!meta.annotations.empty()) {
    out.Set("annotations", StringMap(meta.annotations));
  }
  return out;
}

json::Value EncodeComputeBudgetStatus(const ComputeBudgetStatus& s) {
  json::Value out = json::Value::Object({});
  out.Set("observedGeneration", json::Value::Int(s.observed_generation));
  if (s.period.has_value()) {
    json::Value period = json::Value::Object({});
    period.Set("start", Str(api::FormatTime(s.period->start)));
    period.Set("end", Str(api::FormatTime(s.period->end)));
    out.Set("period", std::move(period));
  }
  out.Set("spent", Str(s.spent.ToString()));
  out.Set("gpuHours", Str(s.gpu_hours.ToString()));
  out.Set("burnRate", Str(s.burn_rate.ToString()));
  out.Set("forecast", Str(s.forecast.ToString()));
  out.Set("remaining", Str(s.remaining.ToString()));
  if (s.exhausts_at.has_value()) {
    out.Set("exhaustsAt", Str(api::FormatTime(*s.exhausts_at)));
  }
  out.Set("allowedGPUs", json::Value::Int(s.allowed_gpus));
  out.Set("phase", Str(Name(s.phase)));
  SetConditions(out, s.conditions);
  if (s.ledger.has_value()) {
    out.Set("ledger", EncodeLedger(*s.ledger));
  }
  if (s.reserve_ledger.has_value()) {
    out.Set("reserveLedger", EncodeLedger(*s.reserve_ledger));
  }
  if (!s.recent_actions.empty()) {
    json::Value actions = json::Value::Array({});
    for (const ActionRecord& a : s.recent_actions) {
      actions.Append(EncodeActionRecord(a));
    }
    out.Set("recentActions", std::move(actions));
  }
  return out;
}

json::Value EncodeGPUNodePoolStatus(const GPUNodePoolStatus& s) {
  json::Value out = json::Value::Object({});
  out.Set("observedGeneration", json::Value::Int(s.observed_generation));
  out.Set("currentNodes", json::Value::Int(s.current_nodes));
  out.Set("desiredNodes", json::Value::Int(s.desired_nodes));
  out.Set("readyNodes", json::Value::Int(s.ready_nodes));
  out.Set("idleNodes", json::Value::Int(s.idle_nodes));
  if (s.last_scale_time.has_value()) {
    out.Set("lastScaleTime", Str(api::FormatTime(*s.last_scale_time)));
  }
  if (!s.last_scale_reason.empty()) {
    out.Set("lastScaleReason", Str(s.last_scale_reason));
  }
  SetConditions(out, s.conditions);
  return out;
}

json::Value EncodeComputeBudget(const ComputeBudget& budget) {
  json::Value out = Envelope("ComputeBudget", budget.metadata);
  out.Set("spec", EncodeBudgetSpec(budget.spec));
  out.Set("status", EncodeComputeBudgetStatus(budget.status));
  return out;
}

json::Value EncodeGPUNodePool(const GPUNodePool& pool) {
  json::Value out = Envelope("GPUNodePool", pool.metadata);
  out.Set("spec", EncodePoolSpec(pool.spec));
  out.Set("status", EncodeGPUNodePoolStatus(pool.status));
  return out;
}

json::Value EncodePriceBook(const PriceBook& book) {
  json::Value out = Envelope("PriceBook", book.metadata);
  out.Set("spec", EncodePriceBookSpec(book.spec));
  json::Value status = json::Value::Object({});
  status.Set("observedGeneration", json::Value::Int(book.observed_generation));
  SetConditions(status, book.conditions);
  out.Set("status", std::move(status));
  return out;
}

}  // namespace bursar::api
