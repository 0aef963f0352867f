#include "controllers/signals/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "controllers/values/strings.h"
#include "operator/json/json.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/requests.h"

namespace bursar::signals {
namespace {

using values::AbslView;

absl::Status Malformed(std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("prometheus response: ", AbslView(where), ": ", AbslView(what)));
}

// "1700000000.123": Prometheus keeps milliseconds.
std::string UnixSeconds(absl::Time t) {
  const int64_t ms = absl::ToUnixMillis(t);
  // Floor division, so times before 1970 still read as seconds + a positive fraction.
  int64_t seconds = ms / 1000;
  int64_t millis = ms % 1000;
  if (millis < 0) {
    seconds -= 1;
    millis += 1000;
  }
  return absl::StrFormat("%d.%03d", seconds, millis);
}

absl::StatusCode CodeForErrorType(std::string_view error_type) {
  if (error_type == "bad_data" || error_type == "execution") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (error_type == "timeout") {
    return absl::StatusCode::kDeadlineExceeded;
  }
  if (error_type == "canceled") {
    return absl::StatusCode::kCancelled;
  }
  if (error_type == "unavailable") {
    return absl::StatusCode::kUnavailable;
  }
  if (error_type == "not_found") {
    return absl::StatusCode::kNotFound;
  }
  return absl::StatusCode::kInternal;
}

std::string StringMember(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_string() ? v->string_value() : "";
}

// "errorType: error" of an error envelope; nullopt when `body` is not one.
std::optional<std::string> ErrorEnvelope(const json::Value& body) {
  if (!body.is_object() || StringMember(body, "status") != "error") {
    return std::nullopt;
  }
  std::string error_type = StringMember(body, "errorType");
  std::string error = StringMember(body, "error");
  if (error_type.empty()) {
    error_type = "unknown";
  }
  return absl::StrCat(error_type, ": ", error.empty() ? "(no message)" : error);
}

// A sample value as Prometheus writes it: a decimal, or "NaN", "+Inf", "-Inf".
absl::StatusOr<double> ParseSampleValue(const std::string& text) {
  if (text == "NaN") {
    return std::nan("");
  }
  if (text == "+Inf" || text == "Inf") {
    return HUGE_VAL;
  }
  if (text == "-Inf") {
    return -HUGE_VAL;
  }
  double d = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, d);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return absl::InvalidArgumentError(absl::StrCat("\"", text, "\" is not a number"));
  }
  return d;
}

absl::StatusOr<std::optional<PromSample>> ParseSample(const json::Value& element,
                                                      const std::string& where) {
  if (!element.is_object()) {
    return Malformed(where,
                     absl::StrCat("expected an object, got ", json::TypeName(element.type())));
  }
  PromSample sample;
  const json::Value* metric = element.Find("metric");
  if (metric == nullptr || !metric->is_object()) {
    return Malformed(absl::StrCat(where, ".metric"),
                     metric == nullptr ? "missing"
                                       : absl::StrCat("expected an object, got ",
                                                      json::TypeName(metric->type())));
  }
  for (const auto& [name, value] : metric->members()) {
    if (!value.is_string()) {
      return Malformed(absl::StrCat(where, ".metric.", name),
                       absl::StrCat("expected a string, got ", json::TypeName(value.type())));
    }
    sample.labels.emplace(name, value.string_value());
  }
  const std::string value_where = absl::StrCat(where, ".value");
  const json::Value* pair = element.Find("value");
  if (pair == nullptr) {
    return Malformed(value_where, "missing");
  }
  if (!pair->is_array() || pair->elements().size() != 2) {
    return Malformed(value_where, "expected [<unix time>, \"<value>\"]");
  }
  const json::Value& time = pair->elements()[0];
  if (!time.is_number() || !std::isfinite(time.number_value())) {
    return Malformed(absl::StrCat(value_where, "[0]"), "expected a unix time in seconds");
  }
  sample.time = absl::FromUnixMillis(std::llround(time.number_value() * 1000));
  const json::Value& text = pair->elements()[1];
  if (!text.is_string()) {
    return Malformed(absl::StrCat(value_where, "[1]"),
                     absl::StrCat("expected a string, got ", json::TypeName(text.type())));
  }
  absl::StatusOr<double> value = ParseSampleValue(text.string_value());
  if (!value.ok()) {
    return Malformed(absl::StrCat(value_where, "[1]"), std::string(value.status().message()));
  }
  if (!std::isfinite(*value)) {
    return std::optional<PromSample>();
  }
  sample.value = *value;
  return std::optional<PromSample>(std::move(sample));
}

// The first label of `names` that is set (Prometheus treats "" as unset).
std::string_view FirstSet(const values::Labels& labels,
                          std::initializer_list<std::string_view> names) {
  for (std::string_view name : names) {
    auto it = labels.find(name);
    if (it != labels.end() && !it->second.empty()) {
      return it->second;
    }
  }
  return {};
}

}  // namespace

kube::HttpRequest BuildPrometheusQuery(std::string_view base_path, std::string_view promql,
                                       absl::Time at) {
  while (!base_path.empty() && base_path.back() == '/') {
    base_path.remove_suffix(1);
  }
  kube::HttpRequest request;
  request.method = "GET";
  request.path =
      absl::StrCat(AbslView(base_path), "/api/v1/query?query=", kube::EncodeQueryValue(promql));
  if (at != absl::InfiniteFuture() && at != absl::InfinitePast()) {
    absl::StrAppend(&request.path, "&time=", UnixSeconds(at));
  }
  request.headers = {{"Accept", "application/json"}};
  return request;
}

absl::StatusOr<std::vector<PromSample>> ParsePrometheusVector(std::string_view body) {
  absl::StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok()) {
    return Malformed("body", absl::StrCat("not JSON: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return Malformed("body", absl::StrCat("expected an object, got ", json::TypeName(doc->type())));
  }
  if (std::optional<std::string> error = ErrorEnvelope(*doc)) {
    return absl::Status(CodeForErrorType(StringMember(*doc, "errorType")),
                        absl::StrCat("prometheus: ", *error));
  }
  const json::Value* status = doc->Find("status");
  if (status == nullptr || !status->is_string()) {
    return Malformed("status", "missing");
  }
  if (status->string_value() != "success") {
    return Malformed("status", absl::StrCat("expected \"success\" or \"error\", got \"",
                                            status->string_value(), "\""));
  }
  const json::Value* data = doc->Find("data");
  if (data == nullptr || !data->is_object()) {
    return Malformed("data", "missing");
  }
  const std::string result_type = StringMember(*data, "resultType");
  if (result_type != "vector") {
    return Malformed("data.resultType",
                     result_type.empty()
                         ? std::string("missing")
                         : absl::StrCat("expected \"vector\" (an instant query of a series "
                                        "expression), got \"",
                                        result_type, "\""));
  }
  const json::Value* result = data->Find("result");
  if (result == nullptr || !result->is_array()) {
    return Malformed("data.result", "expected an array");
  }
  std::vector<PromSample> samples;
  samples.reserve(result->elements().size());
  for (size_t i = 0; i < result->elements().size(); ++i) {
    absl::StatusOr<std::optional<PromSample>> sample =
        ParseSample(result->elements()[i], absl::StrCat("data.result[", i, "]"));
    if (!sample.ok()) {
      return sample.status();
    }
    if (sample->has_value()) {
      samples.push_back(std::move(**sample));
    }
  }
  return samples;
}

PrometheusClient::PrometheusClient(kube::Transport& transport, std::string base_path,
                                   absl::Duration timeout)
    : transport_(transport), base_path_(std::move(base_path)), timeout_(timeout) {}

absl::StatusOr<std::vector<PromSample>> PrometheusClient::Query(std::string_view promql,
                                                                absl::Time at) {
  const kube::HttpRequest request = BuildPrometheusQuery(base_path_, promql, at);
  absl::StatusOr<kube::HttpResponse> response = transport_.Send(request, timeout_);
  if (!response.ok()) {
    return absl::Status(
        response.status().code(),
        absl::StrCat("prometheus query ", AbslView(promql), ": ", response.status().message()));
  }
  if (response->status < 200 || response->status > 299) {
    std::string detail;
    if (absl::StatusOr<json::Value> body = json::Parse(response->body); body.ok()) {
      detail = ErrorEnvelope(*body).value_or("");
    }
    if (detail.empty()) {
      constexpr size_t kMaxBody = 512;
      detail = response->body.substr(0, kMaxBody);
      if (response->body.size() > kMaxBody) {
        detail += "...";
      }
      if (detail.empty()) {
        detail = "(empty body)";
      }
    }
    return absl::Status(kube::StatusCodeForHttp(response->status),
                        absl::StrCat("prometheus query ", AbslView(promql), ": HTTP ",
                                     response->status, ": ", detail));
  }
  return ParsePrometheusVector(response->body);
}

absl::flat_hash_map<std::string, double> GpuUtilizationByPod(
    const std::vector<PromSample>& samples) {
  struct Sum {
    double total = 0;
    int count = 0;
  };
  absl::flat_hash_map<std::string, Sum> sums;
  for (const PromSample& sample : samples) {
    // Per field: renamed by Prometheus, then the old exporter names (a plain `pod` beside
    // `pod_name` is the scrape target's), then the plain names.
    const std::string_view ns =
        FirstSet(sample.labels, {"exported_namespace", "pod_namespace", "namespace"});
    const std::string_view pod = FirstSet(sample.labels, {"exported_pod", "pod_name", "pod"});
    if (ns.empty() || pod.empty()) {
      continue;
    }
    Sum& sum = sums[absl::StrCat(AbslView(ns), "/", AbslView(pod))];
    sum.total += sample.value;
    sum.count += 1;
  }
  absl::flat_hash_map<std::string, double> out;
  out.reserve(sums.size());
  for (const auto& [key, sum] : sums) {
    out.emplace(key, sum.total / sum.count);
  }
  return out;
}

}  // namespace bursar::signals
