#include "controllers/sim/scenario.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "controllers/api/field_reader.h"
#include "controllers/api/yaml.h"
#include "controllers/values/quantity.h"

namespace bursar::sim {
namespace {

namespace fs = std::filesystem;

std::string Resolve(const std::string& scenario_path, const std::string& relative) {
  fs::path p(relative);
  if (p.is_absolute()) {
    return relative;
  }
  return (fs::path(scenario_path).parent_path() / p).lexically_normal().string();
}

// Reads a Quantity field into `out` (e.g. "12", "500m", "144Gi").
void ReadQuantity(api::ObjectReader& r, std::string_view key, values::Quantity* out) {
  std::string text;
  if (!r.String(key, &text) || r.Invalid(key)) {
    return;
  }
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  if (!q.ok()) {
    r.Error(key, std::string(q.status().message()));
    return;
  }
  *out = *q;
}

}  // namespace

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  absl::StatusOr<std::vector<json::Value>> docs = api::ReadYamlFile(path);
  if (!docs.ok()) {
    return docs.status();
  }
  if (docs->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a scenario file holds exactly one YAML document, found ", docs->size()));
  }
  Scenario s;
  s.source = path;
  api::DecodeErrors errors(path);
  api::ObjectReader r(&docs->front(), "", &errors, /*reject_unknown_fields=*/true);
  r.String("name", &s.name, {.presence = api::kRequired, .min_length = 1});
  r.String("description", &s.description);
  r.Time("start", &s.start, api::kRequired);
  r.Duration("duration", &s.duration, api::kRequired);
  r.Duration("step", &s.step);
  std::vector<std::string> manifest_paths;
  r.StringList("manifests", &manifest_paths, {.presence = api::kRequired});
  std::string trace_path;
  r.String("trace", &trace_path, {.presence = api::kRequired, .min_length = 1});
  r.ObjectList<DriftEvent>(
      "modelDrift", &s.drift, {}, [](api::ObjectReader& e, size_t, DriftEvent* out) {
        e.Duration("after", &out->at, api::kRequired);
        e.String("model", &out->signal.model, {.presence = api::kRequired, .min_length = 1});
        values::Money score;
        if (e.Decimal("score", &score, api::DecimalKind::kUnsigned, api::kRequired) &&
            !e.Invalid("score")) {
          if (score > values::Money::FromUnits(1)) {
            e.Error("score", "a modelDrift score lies in [0, 1]");
          }
          out->signal.score_micros = score.micros();
        }
        e.String("metric", &out->signal.metric);
        e.String("source", &out->signal.source);
        if (out->signal.source.empty()) {
          out->signal.source = "scenario";
        }
      });
  r.Object("cluster", api::kOptional, [&](api::ObjectReader& c) {
    c.Duration("provisioningDelay", &s.cluster.provisioning_delay);
    c.Duration("restartPenalty", &s.cluster.restart_penalty);
    c.Duration("billingLag", &s.cluster.billing_lag);
    values::Quantity cpu = values::Quantity::FromMilli(s.cluster.cpu_millis_per_gpu);
    values::Quantity memory = values::Quantity::FromUnits(s.cluster.memory_bytes_per_gpu);
    ReadQuantity(c, "cpuPerGpu", &cpu);
    ReadQuantity(c, "memoryPerGpu", &memory);
    s.cluster.cpu_millis_per_gpu = cpu.MilliValue();
    s.cluster.memory_bytes_per_gpu = memory.Value();
    c.StringList("unbudgetedPools", &s.cluster.unbudgeted_pools, {.unique = true});
  });
  r.Finish();
  if (s.step <= absl::ZeroDuration() ||
      (s.duration > absl::ZeroDuration() && s.step > s.duration)) {
    r.Error("step", "must be positive and no longer than duration");
  }
  if (absl::Status st = errors.ToStatus(); !st.ok()) {
    return st;
  }
  std::sort(s.drift.begin(), s.drift.end(),
            [](const DriftEvent& a, const DriftEvent& b) { return a.at < b.at; });

  // A missing manifest or trace is reported where the scenario names it (file, line, field),
  // not only by the resolved path, which may look nothing like what the user wrote.
  api::DecodeErrors missing(path);
  auto check_exists = [&](const json::Value* at, const std::string& field, const std::string& given,
                          const std::string& resolved) {
    std::error_code ec;
    if (!fs::exists(resolved, ec)) {
      missing.Add(at != nullptr ? at->line() : 0, field,
                  absl::StrCat(api::Quote(given), " not found (looked for ", resolved, ")"));
    }
  };
  const json::Value* manifests_field = docs->front().Find("manifests");
  std::vector<std::string> resolved;
  for (size_t i = 0; i < manifest_paths.size(); ++i) {
    resolved.push_back(Resolve(path, manifest_paths[i]));
    const json::Value* item = manifests_field != nullptr && manifests_field->is_array() &&
                                      i < manifests_field->elements().size()
                                  ? &manifests_field->elements()[i]
                                  : manifests_field;
    check_exists(item, absl::StrCat("manifests[", i, "]"), manifest_paths[i], resolved.back());
  }
  const std::string resolved_trace = Resolve(path, trace_path);
  check_exists(docs->front().Find("trace"), "trace", trace_path, resolved_trace);
  if (absl::Status st = missing.ToStatus(); !st.ok()) {
    return absl::NotFoundError(st.message());
  }
  absl::StatusOr<api::Manifests> manifests = api::LoadManifests(resolved);
  if (!manifests.ok()) {
    return manifests.status();
  }
  s.manifests = *std::move(manifests);
  absl::StatusOr<std::vector<TraceJob>> jobs = ReadTraceFile(resolved_trace);
  if (!jobs.ok()) {
    return jobs.status();
  }
  s.jobs = *std::move(jobs);
  return s;
}

}  // namespace bursar::sim
