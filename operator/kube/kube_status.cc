#include "operator/kube/kube_status.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "controllers/values/strings.h"

namespace bursar::kube {
namespace {

// Keeps a non-Status body (an HTML error page) from flooding logs.
constexpr size_t kMaxSynthesizedMessage = 256;

using values::AbslView;

// The StatusReason client-go gives a bare HTTP code (NewGenericServerResponse).
std::string_view ReasonForCode(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 406:
      return "NotAcceptable";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 413:
      return "RequestEntityTooLarge";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "";
  }
}

}  // namespace

absl::StatusCode StatusCodeForHttp(int http_status, std::string_view reason) {
  switch (http_status) {
    case 400:
    case 406:
    case 413:
    case 415:
    case 422:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 405:
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 409:
      return reason == "AlreadyExists" ? absl::StatusCode::kAlreadyExists
                                       : absl::StatusCode::kAborted;
    case 410:
      return absl::StatusCode::kOutOfRange;
    case 429:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      break;
  }
  if (http_status >= 500 && http_status <= 599) {
    return absl::StatusCode::kUnavailable;  // 500, 502, 503: the server may recover
  }
  if (http_status >= 400 && http_status <= 499) {
    return absl::StatusCode::kFailedPrecondition;
  }
  return absl::StatusCode::kUnknown;
}

namespace {

std::string StringField(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_string() ? v->string_value() : std::string();
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\n' || s.front() == '\r' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\n' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

absl::Status MakeError(int http_status, const KubeStatus& kube_status, std::string payload) {
  std::string message = absl::StrCat(http_status);
  if (!kube_status.reason.empty()) {
    absl::StrAppend(&message, " ", kube_status.reason);
  }
  if (!kube_status.message.empty()) {
    absl::StrAppend(&message, ": ", kube_status.message);
  }
  absl::Status error(StatusCodeForHttp(http_status, kube_status.reason), message);
  error.SetPayload(AbslView(kKubeStatusTypeUrl), absl::Cord(payload));
  return error;
}

}  // namespace

std::string KubeStatus::ToJson() const {
  json::Writer w;
  w.BeginObject().Key("kind").String("Status").Key("apiVersion").String("v1");
  w.Key("metadata").BeginObject().EndObject();
  if (!status.empty()) {
    w.Key("status").String(status);
  }
  if (!message.empty()) {
    w.Key("message").String(message);
  }
  if (!reason.empty()) {
    w.Key("reason").String(reason);
  }
  if (!details.is_null()) {
    w.Key("details").Value(details);
  }
  if (code != 0) {
    w.Key("code").Int(code);
  }
  w.EndObject();
  return w.Take();
}

std::optional<KubeStatus> ParseKubeStatus(const json::Value& value) {
  if (!value.is_object() || StringField(value, "kind") != "Status") {
    return std::nullopt;
  }
  KubeStatus out;
  if (const json::Value* code = value.Find("code");
      code != nullptr && code->is_integer() && code->int_value() >= 0 && code->int_value() <= 999) {
    out.code = static_cast<int>(code->int_value());
  }
  out.status = StringField(value, "status");
  out.reason = StringField(value, "reason");
  out.message = StringField(value, "message");
  if (const json::Value* details = value.Find("details"); details != nullptr) {
    out.details = *details;
  }
  return out;
}

std::optional<KubeStatus> ParseKubeStatus(std::string_view body) {
  absl::StatusOr<json::Value> value = json::Parse(body);
  if (!value.ok()) {
    return std::nullopt;
  }
  return ParseKubeStatus(*value);
}

absl::Status ErrorFromResponse(int http_status, std::string_view body) {
  if (http_status >= 200 && http_status <= 299) {
    return absl::OkStatus();
  }
  if (std::optional<KubeStatus> parsed = ParseKubeStatus(body); parsed.has_value()) {
    if (parsed->code == 0) {
      parsed->code = http_status;
      return MakeError(http_status, *parsed, parsed->ToJson());
    }
    return MakeError(http_status, *parsed, std::string(body));
  }
  KubeStatus synthesized;
  synthesized.code = http_status;
  synthesized.status = "Failure";
  synthesized.reason = std::string(ReasonForCode(http_status));
  std::string_view text = Trim(body);
  if (text.size() > kMaxSynthesizedMessage) {
    synthesized.message = absl::StrCat(AbslView(text.substr(0, kMaxSynthesizedMessage)), "...");
  } else if (!text.empty()) {
    synthesized.message = std::string(text);
  } else {
    synthesized.message = absl::StrCat("the server responded with HTTP ", http_status);
  }
  return MakeError(http_status, synthesized, synthesized.ToJson());
}

absl::Status ErrorFromKubeStatus(const KubeStatus& status) {
  KubeStatus copy = status;
  if (copy.code == 0) {
    copy.code = 500;  // a Status without a code still reports a failure
  }
  return MakeError(copy.code, copy, copy.ToJson());
}

std::optional<KubeStatus> KubeStatusOf(const absl::Status& status) {
  if (status.ok()) {
    return std::nullopt;
  }
  absl::optional<absl::Cord> payload = status.GetPayload(AbslView(kKubeStatusTypeUrl));
  if (!payload.has_value()) {
    return std::nullopt;
  }
  return ParseKubeStatus(std::string_view(std::string(*payload)));
}

bool IsNotFound(const absl::Status& status) {
  return status.code() == absl::StatusCode::kNotFound && KubeStatusOf(status).has_value();
}

bool IsConflict(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kAborted) {
    return false;
  }
  std::optional<KubeStatus> kube_status = KubeStatusOf(status);
  return kube_status.has_value() && kube_status->reason == "Conflict";
}

bool IsAlreadyExists(const absl::Status& status) {
  return status.code() == absl::StatusCode::kAlreadyExists && KubeStatusOf(status).has_value();
}

bool IsGone(const absl::Status& status) {
  return status.code() == absl::StatusCode::kOutOfRange && KubeStatusOf(status).has_value();
}

bool IsInvalidRequest(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument && KubeStatusOf(status).has_value();
}

bool IsRetryable(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

std::optional<absl::Duration> RetryAfter(const absl::Status& status) {
  std::optional<KubeStatus> kube_status = KubeStatusOf(status);
  if (!kube_status.has_value() || !kube_status->details.is_object()) {
    return std::nullopt;
  }
  const json::Value* seconds = kube_status->details.Find("retryAfterSeconds");
  if (seconds == nullptr || !seconds->is_integer() || seconds->int_value() <= 0) {
    return std::nullopt;
  }
  return absl::Seconds(seconds->int_value());
}

}  // namespace bursar::kube
