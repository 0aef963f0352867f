#include "controllers/signals/caller_auth.h"

#include <openssl/evp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "operator/kube/access_reviews.h"

namespace bursar::signals {
namespace {

constexpr std::string_view kBearer = "Bearer ";
// Longer than any real JWT by far; a bound on what is hashed and sent to the API server.
constexpr size_t kMaxTokenBytes = size_t{16} * 1024;

std::string Sha256(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(digest), size);
}

}  // namespace

std::string Permission::Describe() const {
  std::string out = absl::StrCat(verb, " ", group, " ", resource);
  if (!subresource.empty()) {
    absl::StrAppend(&out, "/", subresource);
  }
  if (!name.empty()) {
    absl::StrAppend(&out, " \"", name, "\"");
  }
  return out;
}

Permission ReportDriftPermission(const std::string& model) {
  return {.verb = "create",
          .group = "bursar.dev",
          .resource = "models",
          .subresource = "drift",
          .name = model};
}

Permission BudgetPermission(const std::string& verb, const std::string& name) {
  return {.verb = verb,
          .group = "bursar.dev",
          .resource = "computebudgets",
          .subresource = "",
          .name = name};
}

KubeTokenReviewer::KubeTokenReviewer(const kube::ApiClient& client,
                                     std::vector<std::string> audiences)
    : client_(client), audiences_(std::move(audiences)) {}

absl::StatusOr<Caller> KubeTokenReviewer::Review(std::string_view token) {
  absl::StatusOr<json::Value> created =
      client_.Create(kube::kTokenReviews, "", kube::BuildTokenReview(token, audiences_));
  if (!created.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot verify the token: TokenReview failed: ", created.status().message()));
  }
  absl::StatusOr<kube::TokenReviewStatus> status = kube::ParseTokenReview(*created);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot verify the token: ", status.status().message()));
  }
  if (!status->authenticated) {
    std::string why = audiences_.empty()
                          ? std::string("the API server does not accept the bearer token")
                          : absl::StrCat(
                                "the API server does not accept the bearer token for "
                                "audience ",
                                absl::StrJoin(audiences_, " or "));
    if (!status->error.empty()) {
      absl::StrAppend(&why, ": ", status->error);
    }
    return absl::UnauthenticatedError(why);
  }
  return Caller{.username = status->username, .uid = status->uid, .groups = status->groups};
}

KubeAccessReviewer::KubeAccessReviewer(const kube::ApiClient& client) : client_(client) {}

absl::StatusOr<AccessDecision> KubeAccessReviewer::Review(const Caller& caller,
                                                          const Permission& permission) {
  kube::AccessRequest request{.user = caller.username,
                              .uid = caller.uid,
                              .groups = caller.groups,
                              .verb = permission.verb,
                              .group = permission.group,
                              .resource = permission.resource,
                              .subresource = permission.subresource,
                              .name = permission.name,
                              .namespace_name = ""};
  absl::StatusOr<json::Value> created =
      client_.Create(kube::kSubjectAccessReviews, "", kube::BuildSubjectAccessReview(request));
  if (!created.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "cannot check permissions: SubjectAccessReview failed: ", created.status().message()));
  }
  absl::StatusOr<kube::AccessReviewStatus> status = kube::ParseSubjectAccessReview(*created);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot check permissions: ", status.status().message()));
  }
  return AccessDecision{.allowed = status->allowed, .reason = status->reason};
}

CallerGate::CallerGate(TokenReviewer* tokens, AccessReviewer* access,
                       std::function<absl::Time()> now, CallerGateOptions options)
    : tokens_(tokens), access_(access), now_(std::move(now)), options_(std::move(options)) {}

void CallerGate::Insert(Cache& cache, std::string key, Entry entry) {
  const absl::Time now = now_();
  if (cache.size() >= options_.max_entries) {
    std::erase_if(cache, [now](const auto& kv) { return kv.second.expires <= now; });
  }
  while (!cache.empty() && cache.size() >= std::max<size_t>(options_.max_entries, 1)) {
    cache.erase(std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
      return a.second.expires < b.second.expires;
    }));
  }
  cache.insert_or_assign(std::move(key), std::move(entry));
}

void CallerGate::Observe(std::string_view outcome) const {
  if (options_.observe) {
    options_.observe(outcome);
  }
}

absl::StatusOr<Caller> CallerGate::Authenticate(const std::string* authorization) {
  absl::StatusOr<Caller> caller = AuthenticateUncounted(authorization);
  Observe(caller.ok()                                ? "authenticated"
          : absl::IsUnauthenticated(caller.status()) ? "unauthenticated"
                                                     : "error");
  return caller;
}

absl::Status CallerGate::Authorize(const Caller& caller, const Permission& permission) {
  absl::Status allowed = AuthorizeUncounted(caller, permission);
  Observe(allowed.ok() ? "allowed" : absl::IsPermissionDenied(allowed) ? "denied" : "error");
  return allowed;
}

absl::StatusOr<Caller> CallerGate::AuthenticateUncounted(const std::string* authorization) {
  if (authorization == nullptr || authorization->empty()) {
    return absl::UnauthenticatedError(
        "no credentials: send a Kubernetes ServiceAccount token as the metadata "
        "\"authorization: Bearer <token>\"");
  }
  if (!authorization->starts_with(kBearer)) {
    return absl::UnauthenticatedError(
        "the authorization metadata is not \"Bearer <token>\" (only bearer tokens are accepted)");
  }
  std::string_view token = std::string_view(*authorization).substr(kBearer.size());
  if (token.empty() || token.size() > kMaxTokenBytes ||
      token.find_first_of(" \t\r\n") != std::string_view::npos) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the bearer token is malformed (empty, whitespace, or over ", kMaxTokenBytes, " bytes)"));
  }
  std::string key = Sha256(token);
  if (key.empty()) {
    return absl::InternalError("cannot hash the bearer token");
  }
  {
    absl::MutexLock lock(&mu_);
    if (auto it = token_cache_.find(key); it != token_cache_.end()) {
      if (it->second.expires > now_()) {
        return it->second.caller;
      }
      token_cache_.erase(it);
    }
  }
  absl::StatusOr<Caller> caller = tokens_->Review(token);
  if (caller.ok() || absl::IsUnauthenticated(caller.status())) {
    absl::Duration ttl = caller.ok() ? options_.token_ttl : options_.rejected_token_ttl;
    absl::MutexLock lock(&mu_);
    Insert(token_cache_, std::move(key),
           Entry{.caller = caller, .allowed = false, .reason = "", .expires = now_() + ttl});
  }
  return caller;
}

absl::Status CallerGate::AuthorizeUncounted(const Caller& caller, const Permission& permission) {
  std::string key =
      absl::StrCat(caller.username, "\n", caller.uid, "\n", absl::StrJoin(caller.groups, ","), "\n",
                   permission.verb, "\n", permission.group, "\n", permission.resource, "\n",
                   permission.subresource, "\n", permission.name);
  bool allowed = false;
  std::string reason;
  bool cached = false;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = decision_cache_.find(key); it != decision_cache_.end()) {
      if (it->second.expires > now_()) {
        allowed = it->second.allowed;
        reason = it->second.reason;
        cached = true;
      } else {
        decision_cache_.erase(it);
      }
    }
  }
  if (!cached) {
    absl::StatusOr<AccessDecision> decision = access_->Review(caller, permission);
    if (!decision.ok()) {
      return decision.status();
    }
    allowed = decision->allowed;
    reason = decision->reason;
    absl::MutexLock lock(&mu_);
    Insert(decision_cache_, std::move(key),
           Entry{.caller = caller,
                 .allowed = allowed,
                 .reason = reason,
                 .expires = now_() + options_.decision_ttl});
  }
  if (allowed) {
    return absl::OkStatus();
  }
  std::string message = absl::StrCat(
      caller.username, " may not ", permission.Describe(),
      ": grant it with an RBAC ClusterRole rule {apiGroups: [", permission.group, "], resources: [",
      permission.resource, permission.subresource.empty() ? "" : "/", permission.subresource,
      "], verbs: [", permission.verb, "]",
      permission.name.empty() ? "" : absl::StrCat(", resourceNames: [", permission.name, "]"),
      "} bound to the caller");
  if (!reason.empty()) {
    absl::StrAppend(&message, " (authorizer: ", reason, ")");
  }
  return absl::PermissionDeniedError(message);
}

grpc::Status CallerGate::AuthenticateCall(const grpc::ServerContext& context, Caller* caller) {
  const auto& metadata = context.client_metadata();
  std::string authorization;
  bool present = false;
  if (auto it = metadata.find("authorization"); it != metadata.end()) {
    authorization.assign(it->second.data(), it->second.size());
    present = true;
  }
  absl::StatusOr<Caller> who = Authenticate(present ? &authorization : nullptr);
  if (!who.ok()) {
    return ToGrpcStatus(who.status());
  }
  *caller = *std::move(who);
  return grpc::Status::OK;
}

grpc::Status CallerGate::Check(const grpc::ServerContext& context, const Permission& permission,
                               Caller* caller) {
  Caller who;
  if (grpc::Status authenticated = AuthenticateCall(context, &who); !authenticated.ok()) {
    return authenticated;
  }
  if (absl::Status allowed = Authorize(who, permission); !allowed.ok()) {
    return ToGrpcStatus(allowed);
  }
  if (caller != nullptr) {
    *caller = std::move(who);
  }
  return grpc::Status::OK;
}

size_t CallerGate::cached_tokens() const {
  absl::MutexLock lock(&mu_);
  return token_cache_.size();
}

size_t CallerGate::cached_decisions() const {
  absl::MutexLock lock(&mu_);
  return decision_cache_.size();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return grpc::Status::OK;
    case absl::StatusCode::kUnauthenticated:
      code = grpc::StatusCode::UNAUTHENTICATED;
      break;
    case absl::StatusCode::kPermissionDenied:
      code = grpc::StatusCode::PERMISSION_DENIED;
      break;
    case absl::StatusCode::kUnavailable:
      code = grpc::StatusCode::UNAVAILABLE;
      break;
    case absl::StatusCode::kInvalidArgument:
      code = grpc::StatusCode::INVALID_ARGUMENT;
      break;
    default:
      break;
  }
  return grpc::Status(code, std::string(status.message()));
}

}  // namespace bursar::signals
