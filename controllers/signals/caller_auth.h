#pragma once

// Who is calling the gRPC services, and may they do what they ask.
//
// Callers present a Kubernetes bearer token (usually a ServiceAccount token) in the
// "authorization: Bearer <token>" metadata. CallerGate asks the API server who the token
// belongs to (TokenReview) and whether that user holds a permission (SubjectAccessReview), so
// access to Bursar's services is granted with ordinary RBAC, and revoked the same way.
//
// The permissions (docs/security.md explains the choice):
//   ReportModelDrift      create  bursar.dev models/drift         named for the model
//   Budgets.Get           get     bursar.dev computebudgets       named for the budget
//   Budgets.List / Watch  list / watch bursar.dev computebudgets
// models/drift is a virtual resource: nothing is stored under it, RBAC only matches its name.
//
// Both answers are cached (bounded, with a TTL) so that a busy reporter does not cost two API
// calls per report: a revoked token or binding keeps working for at most the TTL. Tokens are
// cached by their SHA-256, never in clear. A failure to reach the API server is Unavailable and
// never cached (the caller retries); it is never taken as a yes.
// Thread-safe; the reviewers must outlive the gate and be thread-safe themselves.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "operator/kube/client.h"

namespace bursar::signals {

// An authenticated user, as TokenReview names it.
struct Caller {
  std::string username;  // e.g. system:serviceaccount:ml:drift-reporter
  std::string uid;
  std::vector<std::string> groups;
};

// A cluster-scoped permission: verb on group/resource[/subresource], optionally one name.
struct Permission {
  std::string verb;
  std::string group;
  std::string resource;
  std::string subresource;
  std::string name;  // "" = any name (list, watch)

  // "create bursar.dev models/drift \"fraud\"": what an RBAC rule must grant.
  std::string Describe() const;
};

// The permission a modelDrift report for `model` needs.
Permission ReportDriftPermission(const std::string& model);
// The permission a Budgets call needs: verb "get" with a name, "list" or "watch" without.
Permission BudgetPermission(const std::string& verb, const std::string& name);

// Asks who a token belongs to. Returns the caller; Unauthenticated when the token is not valid
// (with the API server's reason when it gives one); another error when it could not ask.
class TokenReviewer {
 public:
  virtual ~TokenReviewer() = default;
  virtual absl::StatusOr<Caller> Review(std::string_view token) = 0;
};

struct AccessDecision {
  bool allowed = false;
  std::string reason;  // the authorizer's, may be empty
};

// Asks whether a caller holds a permission; an error when it could not ask.
class AccessReviewer {
 public:
  virtual ~AccessReviewer() = default;
  virtual absl::StatusOr<AccessDecision> Review(const Caller& caller,
                                                const Permission& permission) = 0;
};

// The reviewers backed by the API server (TokenReview and SubjectAccessReview, created through
// `client`, which must outlive them). `audiences` restricts the tokens accepted to those minted
// for one of them; empty accepts the API server's own audience (the default pod token).
class KubeTokenReviewer final : public TokenReviewer {
 public:
  KubeTokenReviewer(const kube::ApiClient& client, std::vector<std::string> audiences);
  absl::StatusOr<Caller> Review(std::string_view token) override;

 private:
  const kube::ApiClient& client_;
  const std::vector<std::string> audiences_;
};

class KubeAccessReviewer final : public AccessReviewer {
 public:
  explicit KubeAccessReviewer(const kube::ApiClient& client);
  absl::StatusOr<AccessDecision> Review(const Caller& caller,
                                        const Permission& permission) override;

 private:
  const kube::ApiClient& client_;
};

struct CallerGateOptions {
  size_t max_entries = 4096;                    // per cache; the oldest expiry goes first
  absl::Duration token_ttl = absl::Minutes(1);  // a valid token's identity
  absl::Duration rejected_token_ttl = absl::Seconds(10);
  absl::Duration decision_ttl = absl::Seconds(10);  // allowed and denied alike
  // Told every outcome, cached or not (for a metric): "authenticated", "unauthenticated",
  // "allowed", "denied", or "error" (the API server could not be asked). Thread-safe.
  std::function<void(std::string_view outcome)> observe;
};

class CallerGate {
 public:
  // `now` is called from gRPC threads and must be thread-safe.
  CallerGate(TokenReviewer* tokens, AccessReviewer* access, std::function<absl::Time()> now,
             CallerGateOptions options = {});
  CallerGate(const CallerGate&) = delete;
  CallerGate& operator=(const CallerGate&) = delete;

  // `authorization` is the metadata value ("Bearer <token>"), or nullptr when absent.
  // Unauthenticated with what is missing; Unavailable when the API server cannot be asked.
  absl::StatusOr<Caller> Authenticate(const std::string* authorization);
  // PermissionDenied naming the caller and the permission; Unavailable as above.
  absl::Status Authorize(const Caller& caller, const Permission& permission);

  // Authenticate with the call's "authorization" metadata, as a gRPC status (ToGrpcStatus).
  grpc::Status AuthenticateCall(const grpc::ServerContext& context, Caller* caller);
  // Both, for a gRPC call, with the status mapped to gRPC's codes (ToGrpcStatus).
  grpc::Status Check(const grpc::ServerContext& context, const Permission& permission,
                     Caller* caller);

  // Entries in the caches (for tests and a metric).
  size_t cached_tokens() const;
  size_t cached_decisions() const;

 private:
  struct Entry {
    absl::StatusOr<Caller> caller;  // tokens: the identity, or Unauthenticated
    bool allowed = false;           // decisions
    std::string reason;
    absl::Time expires;
  };
  using Cache = std::map<std::string, Entry>;
  void Insert(Cache& cache, std::string key, Entry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Observe(std::string_view outcome) const;
  absl::StatusOr<Caller> AuthenticateUncounted(const std::string* authorization);
  absl::Status AuthorizeUncounted(const Caller& caller, const Permission& permission);

  TokenReviewer* const tokens_;
  AccessReviewer* const access_;
  const std::function<absl::Time()> now_;
  const CallerGateOptions options_;
  mutable absl::Mutex mu_;
  Cache token_cache_ ABSL_GUARDED_BY(mu_);     // by SHA-256 of the token
  Cache decision_cache_ ABSL_GUARDED_BY(mu_);  // by caller and permission
};

// Unauthenticated -> UNAUTHENTICATED, PermissionDenied -> PERMISSION_DENIED, Unavailable ->
// UNAVAILABLE, InvalidArgument -> INVALID_ARGUMENT, anything else -> INTERNAL; message kept.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace bursar::signals
