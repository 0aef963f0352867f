#include "operator/kube/access_reviews.h"

#include <utility>

#include "absl/status/status.h"

namespace bursar::kube {
namespace {

json::Value StringArray(const std::vector<std::string>& values) {
  std::vector<json::Value> elements;
  elements.reserve(values.size());
  for (const std::string& v : values) {
    elements.push_back(json::Value::String(v));
  }
  return json::Value::Array(std::move(elements));
}

std::vector<std::string> Strings(const json::Value* array) {
  std::vector<std::string> out;
  if (array == nullptr || !array->is_array()) {
    return out;
  }
  for (const json::Value& v : array->elements()) {
    if (v.is_string()) {
      out.push_back(v.string_value());
    }
  }
  return out;
}

bool BoolAt(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_bool() && v->bool_value();
}

std::string StringOf(const json::Value& object, std::string_view key) {
  const json::Value* v = object.Find(key);
  return v != nullptr && v->is_string() ? v->string_value() : std::string();
}

json::Value Header(const ResourceType& type) {
  return json::Value::Object({
      {"apiVersion",
       json::Value::String(std::string(type.group) + "/" + std::string(type.version))},
      {"kind", json::Value::String(std::string(type.kind))},
  });
}

}  // namespace

json::Value BuildTokenReview(std::string_view token, const std::vector<std::string>& audiences) {
  json::Value review = Header(kTokenReviews);
  json::Value spec = json::Value::Object({{"token", json::Value::String(std::string(token))}});
  if (!audiences.empty()) {
    spec.Set("audiences", StringArray(audiences));
  }
  review.Set("spec", std::move(spec));
  return review;
}

absl::StatusOr<TokenReviewStatus> ParseTokenReview(const json::Value& review) {
  const json::Value* status = review.Find("status");
  if (status == nullptr || !status->is_object()) {
    return absl::InvalidArgumentError("TokenReview: the API server returned no status");
  }
  TokenReviewStatus out;
  out.authenticated = BoolAt(*status, "authenticated");
  out.error = StringOf(*status, "error");
  out.audiences = Strings(status->Find("audiences"));
  if (const json::Value* user = status->Find("user"); user != nullptr && user->is_object()) {
    out.username = StringOf(*user, "username");
    out.uid = StringOf(*user, "uid");
    out.groups = Strings(user->Find("groups"));
  }
  if (out.authenticated && out.username.empty()) {
    return absl::InvalidArgumentError("TokenReview: authenticated, but with no username");
  }
  return out;
}

json::Value BuildSubjectAccessReview(const AccessRequest& request) {
  json::Value attributes = json::Value::Object({
      {"verb", json::Value::String(request.verb)},
      {"group", json::Value::String(request.group)},
      {"resource", json::Value::String(request.resource)},
  });
  if (!request.subresource.empty()) {
    attributes.Set("subresource", json::Value::String(request.subresource));
  }
  if (!request.name.empty()) {
    attributes.Set("name", json::Value::String(request.name));
  }
  if (!request.namespace_name.empty()) {
    attributes.Set("namespace", json::Value::String(request.namespace_name));
  }
  json::Value spec = json::Value::Object({
      {"user", json::Value::String(request.user)},
      {"groups", StringArray(request.groups)},
      {"resourceAttributes", std::move(attributes)},
  });
  if (!request.uid.empty()) {
    spec.Set("uid", json::Value::String(request.uid));
  }
  json::Value review = Header(kSubjectAccessReviews);
  review.Set("spec", std::move(spec));
  return review;
}

absl::StatusOr<AccessReviewStatus> ParseSubjectAccessReview(const json::Value& review) {
  const json::Value* status = review.Find("status");
  if (status == nullptr || !status->is_object()) {
    return absl::InvalidArgumentError("SubjectAccessReview: the API server returned no status");
  }
  AccessReviewStatus out;
  out.allowed = BoolAt(*status, "allowed");
  out.denied = BoolAt(*status, "denied");
  out.reason = StringOf(*status, "reason");
  out.evaluation_error = StringOf(*status, "evaluationError");
  if (out.denied) {
    out.allowed = false;  // "denied" wins, as the API documents
  }
  return out;
}

}  // namespace bursar::kube
