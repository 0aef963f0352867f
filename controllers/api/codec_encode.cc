// The encoders of codec.h: the structs of types.h to the API objects' JSON.

#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"

namespace bursar::api {
namespace {

// -------------------------------------------------------------------------------------------
// Times.

// %4Y: RFC 3339 years have four digits ("0226", not "226"); ParseTime keeps times within them.
constexpr char kSecondsFormat[] = "%4Y-%m-%d%ET%H:%M:%SZ";
constexpr char kExactFormat[] = "%4Y-%m-%d%ET%H:%M:%E*SZ";

// Ledger timestamps keep fractions of a second (see codec.h).
std::string FormatExactTime(absl::Time t) {
  return absl::FormatTime(kExactFormat, t, absl::UTCTimeZone());
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
  if (IsFinite(ledger.start_horizon)) {
    out.Set("startHorizon", Str(FormatExactTime(ledger.start_horizon)));
  }
  if (IsFinite(ledger.end_horizon)) {
    out.Set("endHorizon", Str(FormatExactTime(ledger.end_horizon)));
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
  retraining.Set("releaseUnusedFromPercent", json::Value::Int(r.release_unused_from_percent));
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

namespace {

json::Value EncodePeriodWindow(const values::Period& period) {
  json::Value out = json::Value::Object({});
  out.Set("start", Str(api::FormatTime(period.start)));
  out.Set("end", Str(api::FormatTime(period.end)));
  return out;
}

json::Value EncodeRetrainingStatus(const RetrainingStatus& s) {
  json::Value out = json::Value::Object({});
  if (s.period.has_value()) {
    out.Set("period", EncodePeriodWindow(*s.period));
  }
  out.Set("unlocksThisPeriod", json::Value::Int(s.unlocks_this_period));
  json::Value models = json::Value::Array({});
  for (const ModelUnlock& m : s.models) {
    json::Value model = json::Value::Object({});
    model.Set("model", Str(m.model));
    model.Set("lastUnlock", Str(api::FormatTime(m.last_unlock)));
    model.Set("open", json::Value::Bool(m.open));
    models.Append(std::move(model));
  }
  out.Set("models", std::move(models));
  return out;
}

}  // namespace

json::Value EncodeComputeBudgetStatus(const ComputeBudgetStatus& s) {
  json::Value out = json::Value::Object({});
  out.Set("observedGeneration", json::Value::Int(s.observed_generation));
  if (s.period.has_value()) {
    out.Set("period", EncodePeriodWindow(*s.period));
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
  if (s.admission.has_value()) {
    json::Value admission = json::Value::Object({});
    admission.Set("holdNewWork", json::Value::Bool(s.admission->hold_new_work));
    // Nothing limited: no map at all. An empty map in a server-side apply comes back from the
    // API server as null, which the schema refuses ("must be of type object"), and every status
    // write of the budget failed.
    if (!s.admission->allowed.empty()) {
      json::Value allowed = json::Value::Object({});
      for (const auto& [resource, quantity] : s.admission->allowed) {
        allowed.Set(resource, Str(quantity.ToString()));
      }
      admission.Set("allowed", std::move(allowed));
    }
    if (s.admission->gpu_hour_price.has_value()) {
      admission.Set("gpuHourPrice", Str(s.admission->gpu_hour_price->ToString()));
    }
    if (s.admission->money_left.has_value()) {
      admission.Set("moneyLeft", Str(s.admission->money_left->ToString()));
    }
    if (s.admission->reserve_gpus.has_value()) {
      admission.Set("reserveGPUs", json::Value::Int(*s.admission->reserve_gpus));
    }
    out.Set("admission", std::move(admission));
  }
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
  if (s.retraining.has_value()) {
    out.Set("retraining", EncodeRetrainingStatus(*s.retraining));
  }
  if (!s.drain_requests.empty()) {
    json::Value requests = json::Value::Array({});
    for (const DrainRequest& d : s.drain_requests) {
      json::Value request = json::Value::Object({});
      request.Set("namespace", Str(d.namespace_name));
      request.Set("name", Str(d.name));
      request.Set("since", Str(api::FormatTime(d.since)));
      requests.Append(std::move(request));
    }
    out.Set("drainRequests", std::move(requests));
  }
  if (!s.jobs.empty()) {
    json::Value jobs = json::Value::Array({});
    for (const JobSpend& j : s.jobs) {
      json::Value job = json::Value::Object({});
      job.Set("namespace", Str(j.namespace_name));
      job.Set("name", Str(j.name));
      job.Set("uid", Str(j.uid));
      job.Set("accrued", Str(values::AccrualToString(j.accrued)));
      job.Set("gpuSeconds", Str(absl::StrCat(j.gpu_seconds)));
      job.Set("spent", Str(values::AccrualToMoney(j.accrued).ToString()));
      job.Set("rate", Str(j.rate.ToString()));
      job.Set("gpus", json::Value::Int(j.gpus));
      if (!j.cap.empty()) {
        job.Set("cap", Str(j.cap));
      }
      jobs.Append(std::move(job));
    }
    out.Set("jobs", std::move(jobs));
  }
  if (!s.job_lengths.empty()) {
    out.Set("jobLengths", Str(s.job_lengths));
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
  if (s.scale_down_pending_since.has_value()) {
    out.Set("scaleDownPendingSince", Str(api::FormatTime(*s.scale_down_pending_since)));
  }
  if (!s.growing_for.empty()) {
    out.Set("growingFor", Str(s.growing_for));
  }
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

json::Value EncodePriceBookStatus(const PriceBook& book) {
  json::Value status = json::Value::Object({});
  status.Set("observedGeneration", json::Value::Int(book.observed_generation));
  SetConditions(status, book.conditions);
  return status;
}

json::Value EncodeConditions(const std::vector<Condition>& conditions) {
  json::Value list = json::Value::Array({});
  for (const Condition& c : conditions) {
    list.Append(EncodeCondition(c));
  }
  return list;
}

json::Value EncodePriceBook(const PriceBook& book) {
  json::Value out = Envelope("PriceBook", book.metadata);
  out.Set("spec", EncodePriceBookSpec(book.spec));
  out.Set("status", EncodePriceBookStatus(book));
  return out;
}

}  // namespace bursar::api
