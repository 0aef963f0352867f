#include "controllers/sim/scenario.h"

#include <filesystem>
#include <set>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/api/field_reader.h"
#include "controllers/values/duration.h"
#include "controllers/values/printable.h"
#include "controllers/values/quantity.h"
#include "controllers/values/strings.h"
#include "operator/yaml/yaml.h"

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

// Reads a Quantity field into `out` (e.g. "12", "500m", "144Gi"), which must lie in
// [0, `max`]; `want` spells the range for the message.
void ReadQuantity(api::ObjectReader& r, std::string_view key, const values::Quantity& max,
                  std::string_view want, values::Quantity* out) {
  std::string text;
  if (!r.String(key, &text) || r.Invalid(key)) {
    return;
  }
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  if (!q.ok()) {
    r.Error(key, std::string(q.status().message()));
    return;
  }
  if (*q < values::Quantity() || *q > max) {
    r.Error(key, absl::StrCat(api::Quote(text), " is out of range: want ", api::AbslView(want)));
    return;
  }
  *out = *q;
}

// A cluster duration, at most kMaxClusterDelay.
void ReadClusterDelay(api::ObjectReader& r, std::string_view key, absl::Duration* out) {
  if (r.Duration(key, out) && !r.Invalid(key) && *out > kMaxClusterDelay) {
    r.Error(key, "must be at most 8760h (a year)");
  }
}

// The text of a string field as the user wrote it, for messages; "" when it is not a string.
std::string TextAt(const json::Value& doc, std::string_view key) {
  const json::Value* v = doc.is_object() ? doc.Find(key) : nullptr;
  return v != nullptr && v->is_string() ? v->string_value() : "";
}

// "<file>:<line>" of `value`, or the file alone when the line is unknown.
std::string Place(const std::string& file, const json::Value* value) {
  return value != nullptr && value->line() > 0 ? absl::StrCat(file, ":", value->line()) : file;
}

// The element `i` of the list at `dotted` in `doc`, else the list, else nullptr.
const json::Value* ElementAt(const json::Value& doc, std::string_view dotted, size_t i) {
  const json::Value* list = doc.FindPath(dotted);
  if (list != nullptr && list->is_array() && i < list->elements().size()) {
    return &list->elements()[i];
  }
  return list;
}

// Every pool a budget or cluster.unbudgetedPools names must be one of the manifests': the
// simulator could only say "computebudget/x", not where the name was written.
absl::Status CheckPoolNames(const std::string& path, const json::Value& scenario_doc,
                            const Scenario& s) {
  std::set<std::string> pools;
  for (const api::GPUNodePool& p : s.manifests.pools) {
    pools.insert(p.metadata.name);
  }
  const std::string known =
      pools.empty()
          ? "none is defined"
          : absl::StrCat("defined: ",
                         absl::StrJoin(pools, ", ", [](std::string* out, const std::string& n) {
                           absl::StrAppend(out, api::Quote(n));
                         }));
  std::vector<std::string> errors;
  for (const api::ComputeBudget& b : s.manifests.budgets) {
    auto origin = s.manifests.origins.find({"ComputeBudget", b.metadata.name});
    for (size_t i = 0; i < b.spec.node_pools.size(); ++i) {
      const std::string& name = b.spec.node_pools[i];
      if (pools.count(name) > 0) {
        continue;
      }
      std::string where =
          origin == s.manifests.origins.end()
              ? absl::StrCat("computebudget/", b.metadata.name)
              : Place(origin->second.file, ElementAt(origin->second.document, "spec.nodePools", i));
      errors.push_back(absl::StrCat(where, ": spec.nodePools[", i, "]: ComputeBudget ",
                                    api::Quote(b.metadata.name), " names GPUNodePool ",
                                    api::Quote(name),
                                    ", which no manifest of the scenario defines (", known, ")"));
    }
  }
  for (size_t i = 0; i < s.cluster.unbudgeted_pools.size(); ++i) {
    const std::string& name = s.cluster.unbudgeted_pools[i];
    if (pools.count(name) == 0) {
      errors.push_back(
          absl::StrCat(Place(path, ElementAt(scenario_doc, "cluster.unbudgetedPools", i)),
                       ": cluster.unbudgetedPools[", i, "]: GPUNodePool ", api::Quote(name),
                       " is not defined by the scenario's manifests (", known, ")"));
    }
  }
  if (errors.empty()) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
}

// A Kubernetes manifest (apiVersion or kind at the top) where the scenario belongs: one line
// saying so, instead of an error for every field a scenario does not have.
absl::Status CheckNotAManifest(const std::string& path, const json::Value& doc) {
  if (!doc.is_object() || (doc.Find("apiVersion") == nullptr && doc.Find("kind") == nullptr)) {
    return absl::OkStatus();
  }
  const json::Value* kind = doc.Find("kind");
  const std::string what = kind != nullptr && kind->is_string() && !kind->string_value().empty()
                               ? kind->string_value()
                               : "Kubernetes";
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": this is a ", what,
                   " manifest, not a scenario; a scenario lists manifests under `manifests:` (see "
                   "docs/simulate.md)"));
}

absl::StatusOr<Scenario> Load(const std::string& path) {
  absl::StatusOr<std::vector<json::Value>> docs = yaml::ReadYamlFile(path);
  if (!docs.ok()) {
    return docs.status();
  }
  if (!docs->empty()) {
    if (absl::Status st = CheckNotAManifest(path, docs->front()); !st.ok()) {
      return st;
    }
  }
  if (docs->size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": a scenario file holds exactly one YAML document, found ", docs->size()));
  }
  Scenario s;
  s.source = path;
  api::DecodeErrors errors(path);
  api::ObjectReader r(&docs->front(), "", &errors, /*reject_unknown_fields=*/true);
  const std::string duration_text = TextAt(docs->front(), "duration");
  r.String("name", &s.name, {.presence = api::kRequired, .min_length = 1});
  r.String("description", &s.description);
  r.Time("start", &s.start, api::kRequired);
  const bool has_duration = r.Duration("duration", &s.duration, api::kRequired);
  const bool duration_ok = has_duration && !r.Invalid("duration");
  if (duration_ok && s.duration <= absl::ZeroDuration()) {
    r.Error("duration", "must be positive");
  }
  r.Duration("step", &s.step);
  std::vector<std::string> manifest_paths;
  r.StringList("manifests", &manifest_paths, {.presence = api::kRequired});
  std::string trace_path;
  r.String("trace", &trace_path, {.presence = api::kRequired, .min_length = 1});
  r.ObjectList<DriftEvent>(
      "modelDrift", &s.drift, {},
      [&s, &duration_text](api::ObjectReader& e, size_t, DriftEvent* out) {
        if (e.Duration("after", &out->at, api::kRequired) && !e.Invalid("after") &&
            s.duration > absl::ZeroDuration() && out->at > s.duration) {
          e.Error("after", absl::StrCat("must be within the scenario's duration (", duration_text,
                                        "): a later event would never fire"));
        }
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
    ReadClusterDelay(c, "provisioningDelay", &s.cluster.provisioning_delay);
    ReadClusterDelay(c, "restartPenalty", &s.cluster.restart_penalty);
    ReadClusterDelay(c, "terminationGrace", &s.cluster.termination_grace);
    ReadClusterDelay(c, "billingLag", &s.cluster.billing_lag);
    values::Quantity cpu = values::Quantity::FromMilli(s.cluster.cpu_millis_per_gpu);
    values::Quantity memory = values::Quantity::FromUnits(s.cluster.memory_bytes_per_gpu);
    ReadQuantity(c, "cpuPerGpu", values::Quantity::FromUnits(kMaxCpuCoresPerGpu),
                 "0 to 1024 (cores per GPU)", &cpu);
    ReadQuantity(c, "memoryPerGpu", values::Quantity::FromUnits(kMaxMemoryBytesPerGpu),
                 "0 to 16Ti (bytes per GPU)", &memory);
    s.cluster.cpu_millis_per_gpu = cpu.MilliValue();
    s.cluster.memory_bytes_per_gpu = memory.Value();
    c.StringList("unbudgetedPools", &s.cluster.unbudgeted_pools, {.unique = true});
  });
  r.Finish();
  if (!r.Invalid("step")) {
    if (s.step <= absl::ZeroDuration() ||
        (s.duration > absl::ZeroDuration() && s.step > s.duration)) {
      r.Error("step", "must be positive and no longer than duration");
    } else if (s.step < absl::Seconds(1) || s.step % absl::Seconds(1) != absl::ZeroDuration()) {
      r.Error("step", "must be a whole number of seconds (the simulator meters in seconds)");
    } else if (absl::Duration rest; duration_ok && s.duration > absl::ZeroDuration() &&
                                    absl::IDivDuration(s.duration, s.step, &rest) > kMaxTicks) {
      const int64_t ticks = absl::IDivDuration(s.duration, s.step, &rest);
      std::string step_text = TextAt(docs->front(), "step");
      if (step_text.empty()) {
        step_text = absl::StrCat(values::FormatDuration(s.step), " (the default)");
      }
      r.Error("duration",
              absl::StrCat(duration_text, " at a ", step_text, " step is ", ticks,
                           " ticks; a run is at most ", kMaxTicks,
                           " ticks (duration/step): use a longer step or a shorter duration"));
    }
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
  if (absl::Status st = CheckPoolNames(path, docs->front(), s); !st.ok()) {
    return st;
  }
  absl::StatusOr<std::vector<TraceJob>> jobs = ReadTraceFile(resolved_trace);
  if (!jobs.ok()) {
    return jobs.status();
  }
  s.jobs = *std::move(jobs);
  return s;
}

}  // namespace

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  absl::StatusOr<Scenario> s = Load(path);
  if (!s.ok()) {
    return absl::Status(s.status().code(),
                        values::EscapeControlBytes(values::StdView(s.status().message())));
  }
  return s;
}

}  // namespace bursar::sim
