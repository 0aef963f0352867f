#include "controllers/admission/admission_review.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace bursar::admission {
namespace {

constexpr char kReviewApiVersion[] = "admission.k8s.io/v1";

// Warnings are limited by the API server too (each at most 120 characters is advised); ours
// are short, but an echo of user input must not grow the response without bound.
constexpr size_t kMaxWarnings = 8;
constexpr size_t kMaxWarningLength = 512;

absl::Status Missing(const std::string& field, const std::string& want) {
  return absl::InvalidArgumentError(absl::StrCat("AdmissionReview: ", field, " must be ", want));
}

}  // namespace

absl::StatusOr<AdmissionRequest> DecodeAdmissionReview(std::string_view body) {
  if (body.size() > kMaxReviewBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AdmissionReview: body of ", body.size(), " bytes exceeds the limit of ", kMaxReviewBytes));
  }
  absl::StatusOr<json::Value> doc = json::Parse(body);
  if (!doc.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AdmissionReview: not JSON: ", doc.status().message()));
  }
  if (!doc->is_object()) {
    return Missing("the document", "an object");
  }
  if (json::StringAt(*doc, "apiVersion") != kReviewApiVersion) {
    return Missing("apiVersion", absl::StrCat("\"", kReviewApiVersion, "\""));
  }
  if (json::StringAt(*doc, "kind") != "AdmissionReview") {
    return Missing("kind", "\"AdmissionReview\"");
  }
  json::Value* request = doc->FindMutable("request");
  if (request == nullptr || !request->is_object()) {
    return Missing("request", "an object");
  }
  AdmissionRequest out;
  out.uid = json::StringAt(*request, "uid");
  if (out.uid.empty()) {
    return Missing("request.uid", "a non-empty string");
  }
  out.kind = json::StringAt(*request, "kind.kind");
  out.version = json::StringAt(*request, "kind.version");
  out.group = json::StringAt(*request, "kind.group");
  if (out.kind.empty() || out.version.empty()) {
    return Missing("request.kind", "a group/version/kind with kind and version set");
  }
  out.operation = json::StringAt(*request, "operation");
  if (out.operation.empty()) {
    return Missing("request.operation", "a non-empty string");
  }
  out.namespace_name = json::StringAt(*request, "namespace");
  out.name = json::StringAt(*request, "name");
  const json::Value* dry_run = request->Find("dryRun");
  out.dry_run = dry_run != nullptr && dry_run->is_bool() && dry_run->bool_value();
  if (json::Value* object = request->FindMutable("object"); object != nullptr) {
    if (!object->is_object() && !object->is_null()) {
      return Missing("request.object", "an object");
    }
    out.object = std::move(*object);
  }
  return out;
}

std::string EncodeAdmissionReview(const AdmissionResponse& response) {
  json::Writer w;
  w.BeginObject().Key("apiVersion").String(kReviewApiVersion);
  w.Key("kind").String("AdmissionReview");
  w.Key("response").BeginObject();
  w.Key("uid").String(response.uid);
  w.Key("allowed").Bool(response.allowed);
  if (response.code != 0 || !response.message.empty()) {
    w.Key("status").BeginObject();
    if (response.code != 0) {
      w.Key("code").Int(response.code);
    }
    if (!response.reason.empty()) {
      w.Key("reason").String(response.reason);
    }
    if (!response.message.empty()) {
      w.Key("message").String(response.message);
    }
    w.EndObject();
  }
  if (!response.warnings.empty()) {
    w.Key("warnings").BeginArray();
    for (size_t i = 0; i < response.warnings.size() && i < kMaxWarnings; ++i) {
      w.String(std::string_view(response.warnings[i]).substr(0, kMaxWarningLength));
    }
    w.EndArray();
  }
  if (!response.json_patch.empty()) {
    w.Key("patchType").String("JSONPatch");
    w.Key("patch").String(absl::Base64Escape(response.json_patch));
  }
  w.EndObject().EndObject();
  return w.Take();
}

}  // namespace bursar::admission
