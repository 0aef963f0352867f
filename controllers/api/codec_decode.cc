// The decoders of codec.h: JSON trees to the structs of types.h, checking what the CRDs check.

#include <algorithm>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "controllers/api/codec.h"
#include "controllers/api/crd_patterns.h"
#include "controllers/api/field_reader.h"
#include "controllers/values/duration.h"
#include "controllers/values/quantity.h"
#include "controllers/values/strings.h"
#include "controllers/values/validation.h"

namespace bursar::api {
namespace {

using values::IsDigit;
using values::IsDns1123Label;
using values::IsDns1123Subdomain;
using values::IsLabelValue;
using values::IsQualifiedName;

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
    {QuotaMode::kNone, "None"},
    {QuotaMode::kWebhook, "Webhook"}};
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

// Label keys and values that Bursar matches against objects' labels: one that Kubernetes would
// refuse on a Pod, Node or Namespace can never match, so it is an invalid spec, not a silent
// "selects nothing".
constexpr StringRule kLabelKeyRule = {
    .min_length = 1, .max_length = 317, .valid = IsQualifiedName, .want = kWantQualifiedName};
constexpr StringRule kLabelValueRule = {
    .max_length = 63, .valid = IsLabelValue, .want = kWantLabelValue};

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
              {.max_entries = 64, .key = kLabelKeyRule, .value = kLabelValueRule});
  r.ObjectList<values::SelectorRequirement>(
      "matchExpressions", &out->match_expressions, {.max_items = 32},
      [](ObjectReader& e, size_t, values::SelectorRequirement* req) {
        e.String("key", &req->key,
                 {.presence = kRequired,
                  .min_length = 1,
                  .max_length = 317,
                  .valid = IsQualifiedName,
                  .want = kWantQualifiedName});
        e.Enum("operator", &req->op, kOperators, kRequired);
        e.StringList("values", &req->values, {.max_items = 64}, kLabelValueRule);
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

// A decimal that is present and valid must be below `units_below` (crd_patterns.h says why).
void CheckBelow(ObjectReader& r, std::string_view key, const values::Money& value,
                int64_t units_below, std::string_view what) {
  if (!r.Invalid(key) && value >= values::Money::FromUnits(units_below)) {
    r.Error(key, absl::StrCat(Quote(value.ToString()), " is too large: ", AbslView(what),
                              " must be below ", units_below,
                              " (Bursar counts money in 64-bit micro-units)"));
  }
}

void CheckBelow(ObjectReader& r, std::string_view key, const std::optional<values::Money>& value,
                int64_t units_below, std::string_view what) {
  if (value.has_value()) {
    CheckBelow(r, key, *value, units_below, what);
  }
}

// A delay (cooldown, scaleDownDelay) read by ObjectReader::Duration, at most kMaxDelayHours.
void CheckDelay(ObjectReader& r, std::string_view key, bool present, absl::Duration value) {
  if (present && !r.Invalid(key) && value > absl::Hours(kMaxDelayHours)) {
    r.Error(key, absl::StrCat("must be at most ", kMaxDelayHours, "h (366 days), got ",
                              absl::FormatDuration(value)));
  }
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
  CheckBelow(r, "amount", out->amount, kLimitUnitsBelow, "a limit");
  CheckBelow(r, "gpuHours", out->gpu_hours, kLimitUnitsBelow, "a limit");
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
  if (out->mode == QuotaMode::kWebhook && !r.Invalid("resources")) {
    for (const std::string& resource : out->resources) {
      if (resource != values::kGpuResource && resource != "cpu" && resource != "memory") {
        r.Error("resources", absl::StrCat("\"", resource,
                                          "\": quota.resources may name only nvidia.com/gpu, cpu "
                                          "and memory when mode is Webhook"));
        break;
      }
    }
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
  r.String("modelLabel", &out->model_label, kLabelKeyRule);
  r.String("purposeLabel", &out->purpose_label, kLabelKeyRule);
  CheckDelay(r, "cooldown", r.Duration("cooldown", &out->cooldown), out->cooldown);
  r.Int("maxPerPeriod", &out->max_per_period, {.min = 0, .max = kMaxUnlocksPerPeriod});
  r.Int("releaseUnusedFromPercent", &out->release_unused_from_percent, {.min = 0, .max = 100});
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

// An exact accrual (values::Accrual) written as a decimal string.
void ReadAccrual(ObjectReader& r, std::string_view field, values::Accrual* out) {
  std::string accrued = "0";
  if (r.String(field, &accrued, {.max_length = 48}) && !r.Invalid(field)) {
    absl::StatusOr<values::Accrual> a = values::ParseAccrual(accrued);
    if (a.ok()) {
      *out = *a;
    } else {
      r.Error(field, StdView(a.status().message()));
    }
  }
}

// A non-negative whole number of seconds written as a string (it may pass 2^53).
void ReadWholeSeconds(ObjectReader& r, std::string_view field, int64_t* out) {
  std::string seconds;
  if (r.String(field, &seconds, {.max_length = 20}) && !r.Invalid(field)) {
    int64_t value = 0;
    if (!seconds.empty() && std::all_of(seconds.begin(), seconds.end(), IsDigit) &&
        absl::SimpleAtoi(seconds, &value)) {
      *out = value;
    } else {
      r.Error(field, absl::StrCat(Quote(seconds), " is not a whole number of seconds"));
    }
  }
}

void ReadLedger(ObjectReader& r, values::LedgerState* out) {
  r.Time("periodStart", &out->period.start, kRequired);
  r.Time("periodEnd", &out->period.end, kRequired);
  ReadAccrual(r, "accrued", &out->accrued);
  ReadWholeSeconds(r, "gpuSeconds", &out->gpu_seconds);
  r.Time("watermark", &out->watermark);
  r.Time("startHorizon", &out->start_horizon);
  if (!r.Invalid("watermark") && !r.Invalid("startHorizon") &&
      out->start_horizon > out->watermark) {
    r.Error("startHorizon", "must not be after the watermark");
  }
  r.Time("endHorizon", &out->end_horizon);
  if (!r.Invalid("watermark") && !r.Invalid("endHorizon") &&
      out->end_horizon != absl::InfinitePast() &&
      (out->end_horizon > out->watermark || out->start_horizon == absl::InfinitePast())) {
    r.Error("endHorizon", "must not be after the watermark, nor set without startHorizon");
  }
  // Up to 10000: checkpoints written before startHorizon existed listed every charged pod.
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

void ReadRetrainingStatus(ObjectReader& r, RetrainingStatus* out) {
  r.Object("period", kOptional, [&](ObjectReader& p) {
    values::Period period;
    ReadPeriodWindow(p, &period);
    out->period = period;
  });
  r.Int("unlocksThisPeriod", &out->unlocks_this_period, {.min = 0});
  r.ObjectList<ModelUnlock>("models", &out->models, {.max_items = kMaxModelUnlocks},
                            [](ObjectReader& m, size_t, ModelUnlock* unlock) {
                              m.String("model", &unlock->model,
                                       {.presence = kRequired, .min_length = 1, .max_length = 253});
                              m.Time("lastUnlock", &unlock->last_unlock, kRequired);
                              m.Bool("open", &unlock->open);
                            });
}

void ReadAdmissionAllowance(ObjectReader& r, AdmissionAllowance* out) {
  r.Bool("holdNewWork", &out->hold_new_work);
  values::Labels allowed;
  r.StringMap("allowed", &allowed,
              {.max_entries = 16, .key = {.max_length = 253}, .value = {.max_length = 64}});
  for (const auto& [resource, text] : allowed) {
    absl::StatusOr<values::Quantity> quantity = values::Quantity::Parse(text);
    if (!quantity.ok()) {
      r.Error("allowed", absl::StrCat(resource, ": ", quantity.status().message()));
      continue;
    }
    out->allowed[resource] = *quantity;
  }
  r.Decimal("gpuHourPrice", &out->gpu_hour_price, DecimalKind::kSigned);
  r.Decimal("moneyLeft", &out->money_left, DecimalKind::kSigned);
  int64_t reserve_gpus = 0;
  if (r.Int64("reserveGPUs", &reserve_gpus, {.min = 0})) {
    out->reserve_gpus = reserve_gpus;
  }
}

void ReadJobSpend(ObjectReader& j, size_t, JobSpend* out) {
  j.String("namespace", &out->namespace_name,
           {.presence = kRequired, .min_length = 1, .max_length = 63});
  j.String("name", &out->name, {.presence = kRequired, .min_length = 1, .max_length = 253});
  j.String("uid", &out->uid, {.max_length = 128});
  ReadAccrual(j, "accrued", &out->accrued);
  ReadWholeSeconds(j, "gpuSeconds", &out->gpu_seconds);
  values::Money spent;  // accrued, rounded: written for people, read only to be checked
  j.Decimal("spent", &spent, DecimalKind::kSigned);
  j.Decimal("rate", &out->rate, DecimalKind::kSigned);
  j.Int64("gpus", &out->gpus, {.min = 0, .max = INT64_MAX});
  j.String("cap", &out->cap, {.max_length = 128});
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
  r.Object("admission", kOptional, [&](ObjectReader& a) {
    AdmissionAllowance admission;
    ReadAdmissionAllowance(a, &admission);
    out->admission = std::move(admission);
  });
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
  r.Object("retraining", kOptional, [&](ObjectReader& g) {
    RetrainingStatus retraining;
    ReadRetrainingStatus(g, &retraining);
    out->retraining = std::move(retraining);
  });
  r.ObjectList<DrainRequest>(
      "drainRequests", &out->drain_requests, {.max_items = kMaxDrainRequests},
      [](ObjectReader& d, size_t, DrainRequest* request) {
        d.String("namespace", &request->namespace_name,
                 {.presence = kRequired, .min_length = 1, .max_length = 63});
        d.String("name", &request->name,
                 {.presence = kRequired, .min_length = 1, .max_length = 253});
        d.Time("since", &request->since, kRequired);
      });
  r.ObjectList<JobSpend>("jobs", &out->jobs, {.max_items = kMaxJobSpends}, ReadJobSpend);
  r.String("jobLengths", &out->job_lengths, {});
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
              {.max_entries = 32, .key = kLabelKeyRule, .value = kLabelValueRule});
  r.String("gpuType", &out->gpu_type, {.max_length = 253});
  r.Int("gpusPerNode", &out->gpus_per_node, {.presence = kRequired, .min = 1, .max = 64});
  r.Enum("capacityType", &out->capacity_type, kCapacityTypes);
  r.Decimal("pricePerNodeHour", &out->price_per_node_hour, DecimalKind::kUnsigned);
  CheckBelow(r, "pricePerNodeHour", out->price_per_node_hour, kPriceUnitsBelow, "a price");
  r.String("priceBookRef", &out->price_book_ref, {.min_length = 1, .max_length = 253});
  bool has_min = r.Int("minNodes", &out->min_nodes, {.min = 0, .max = kMaxPoolNodes});
  r.Int("maxNodes", &out->max_nodes, {.presence = kRequired, .min = 0, .max = kMaxPoolNodes});
  r.Int("maxScaleStep", &out->max_scale_step, {.min = 1, .max = kMaxPoolNodes});
  CheckDelay(r, "scaleDownDelay", r.Duration("scaleDownDelay", &out->scale_down_delay),
             out->scale_down_delay);
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
  r.Time("scaleDownPendingSince", &out->scale_down_pending_since);
  r.String("growingFor", &out->growing_for, {.max_length = 253});
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
    CheckBelow(e, "pricePerHour", entry->price_per_hour, kPriceUnitsBelow, "a price");
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
    CheckBelow(d, "cpuCoreHour", out->defaults.cpu_core_hour, kPriceUnitsBelow, "a price");
    CheckBelow(d, "memoryGiBHour", out->defaults.memory_gib_hour, kPriceUnitsBelow, "a price");
    CheckBelow(d, "gpuHour", out->defaults.gpu_hour, kPriceUnitsBelow, "a price");
  });
  ReadPriceList(r, "gpus", "model", &GpuPrice::model, 256, &out->gpus);
  ReadPriceList(r, "instanceTypes", "name", &InstancePrice::name, 1024, &out->instance_types);
  r.Object("nodeLabels", kOptional, [&](ObjectReader& n) {
    n.String("instanceType", &out->node_labels.instance_type, kLabelKeyRule);
    n.String("gpuModel", &out->node_labels.gpu_model, kLabelKeyRule);
    n.String("capacityType", &out->node_labels.capacity_type, kLabelKeyRule);
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

}  // namespace

// ---------------------------------------------------------------------------------------------
// Public API.

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
  // An offset can move a time out of the four-digit years ("0000-01-01T00:00:00+01:00"); such a
  // time cannot be written back (Go's metav1.Time refuses it too).
  static const absl::Time kFirst = absl::FromCivil(absl::CivilYear(0), absl::UTCTimeZone());
  static const absl::Time kEnd = absl::FromCivil(absl::CivilYear(10000), absl::UTCTimeZone());
  if (t < kFirst || t >= kEnd) {
    return absl::InvalidArgumentError(
        absl::StrCat(Quote(text), " is outside the years 0000 to 9999 in UTC"));
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

}  // namespace bursar::api
