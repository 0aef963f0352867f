#pragma once

// TokenReview (authentication.k8s.io/v1) and SubjectAccessReview (authorization.k8s.io/v1):
// how Bursar asks the API server who a bearer token belongs to and whether that user may do
// something. Pure: the objects to create are built here and the answers parsed here; sending
// them is ApiClient::Create's job (both are create-only, cluster-scoped, never stored).
//
// Pitfalls: a TokenReview with no audiences checks the token against the API server's own
// audiences, so a token minted for Bursar alone (TokenRequest with audiences ["bursar"]) is only
// accepted when the same audience is passed here. A SubjectAccessReview for a cluster-scoped
// resource leaves namespace empty; RBAC then consults ClusterRoleBindings only.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "operator/json/json.h"
#include "operator/kube/resource.h"

namespace bursar::kube {

inline constexpr ResourceType kTokenReviews{"authentication.k8s.io", "v1", "tokenreviews",
                                            "TokenReview", false};
inline constexpr ResourceType kSubjectAccessReviews{
    "authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", false};

// status of a TokenReview. When authenticated is false, error may say why (the API server
// often leaves it empty).
struct TokenReviewStatus {
  bool authenticated = false;
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::vector<std::string> audiences;
  std::string error;
};

// The TokenReview to create for `token`; `audiences` may be empty (the API server's own).
json::Value BuildTokenReview(std::string_view token, const std::vector<std::string>& audiences);
// The status of a created TokenReview; InvalidArgument when it has none.
absl::StatusOr<TokenReviewStatus> ParseTokenReview(const json::Value& review);

// What a SubjectAccessReview asks about: a user (with groups and uid, as TokenReview gave them)
// doing verb on group/resource[/subresource] named `name` in `namespace_name` ("" = cluster).
struct AccessRequest {
  std::string user;
  std::string uid;
  std::vector<std::string> groups;
  std::string verb;
  std::string group;
  std::string resource;
  std::string subresource;
  std::string name;
  std::string namespace_name;
};

struct AccessReviewStatus {
  bool allowed = false;
  bool denied = false;  // an authorizer said no explicitly (RBAC never does)
  std::string reason;
  std::string evaluation_error;
};

json::Value BuildSubjectAccessReview(const AccessRequest& request);
// The status of a created SubjectAccessReview; InvalidArgument when it has none.
absl::StatusOr<AccessReviewStatus> ParseSubjectAccessReview(const json::Value& review);

}  // namespace bursar::kube
