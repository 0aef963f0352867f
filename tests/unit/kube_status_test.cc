#include "operator/kube/kube_status.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "tests/unit/json_or_fail.h"

namespace bursar::kube {
namespace {

// Bodies as the API server sends them (kube-apiserver 1.29, captured with kubectl -v=8).
constexpr char kNotFound[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"pods \"web-0\" not found","reason":"NotFound",)"
    R"("details":{"name":"web-0","kind":"pods"},"code":404})";
constexpr char kAlreadyExists[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"leases.coordination.k8s.io \"bursar\" already exists",)"
    R"("reason":"AlreadyExists","details":{"name":"bursar","group":"coordination.k8s.io",)"
    R"("kind":"leases"},"code":409})";
constexpr char kUpdateConflict[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"Operation cannot be fulfilled on computebudgets.bursar.dev \"team-a\": the )"
    R"(object has been modified; please apply your changes to the latest version and try )"
    R"(again","reason":"Conflict","details":{"name":"team-a","group":"bursar.dev",)"
    R"("kind":"computebudgets"},"code":409})";
constexpr char kApplyConflict[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"Apply failed with 1 conflict: conflict with \"kubectl-edit\" using )"
    R"(bursar.dev/v1alpha1: .spec.limit.amount","reason":"Conflict","details":{"causes":[)"
    R"({"reason":"FieldManagerConflict","message":"conflict with \"kubectl-edit\" using )"
    R"(bursar.dev/v1alpha1","field":".spec.limit.amount"}]},"code":409})";
constexpr char kInvalid[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"ComputeBudget.bursar.dev \"team-a\" is invalid: [spec.limit.amount: Invalid )"
    R"(value: \"-5\": spec.limit.amount in body should match '^[0-9]+(\\.[0-9]+)?$', )"
    R"(spec.period.type: Unsupported value: \"Yearly\"]","reason":"Invalid","details":{)"
    R"("name":"team-a","group":"bursar.dev","kind":"ComputeBudget","causes":[)"
    R"({"reason":"FieldValueInvalid","message":"Invalid value: \"-5\"",)"
    R"("field":"spec.limit.amount"},{"reason":"FieldValueNotSupported",)"
    R"("message":"Unsupported value: \"Yearly\"","field":"spec.period.type"}]},"code":422})";
constexpr char kExpired[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"The provided continue parameter is too old to display a consistent list )"
    R"(result. You can start a new list without the continue parameter, or use the continue )"
    R"(token in this response to retrieve the remainder of the results.",)"
    R"("reason":"Expired","code":410})";
constexpr char kForbidden[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"jobs.batch is forbidden: User \"system:serviceaccount:bursar-system:bursar\" )"
    R"(cannot list resource \"jobs\" in API group \"batch\" at the cluster scope",)"
    R"("reason":"Forbidden","details":{"group":"batch","kind":"jobs"},"code":403})";
constexpr char kUnauthorized[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"Unauthorized","reason":"Unauthorized","code":401})";
constexpr char kTooManyRequests[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"Too many requests, please try again later.","reason":"TooManyRequests",)"
    R"("details":{"causes":[{"message":"client rate limiter Wait returned an error"}],)"
    R"("retryAfterSeconds":1},"code":429})";
constexpr char kLeaderChanged[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"etcdserver: leader changed","code":500})";
constexpr char kTimeout[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
    R"("message":"Timeout: request did not complete within requested timeout - context )"
    R"(deadline exceeded","reason":"Timeout","details":{},"code":504})";

struct Case {
  std::string name;
  int http_status;
  std::string body;
  absl::StatusCode code;
  std::string reason;
  bool not_found = false;
  bool conflict = false;
  bool already_exists = false;
  bool gone = false;
  bool retryable = false;
};

TEST(KubeStatusTest, MapsRealApiServerErrors) {
  const std::vector<Case> cases = {
      {"NotFound", 404, kNotFound, absl::StatusCode::kNotFound, "NotFound", true},
      {"AlreadyExists", 409, kAlreadyExists, absl::StatusCode::kAlreadyExists, "AlreadyExists",
       false, false, true},
      {"Conflict on update", 409, kUpdateConflict, absl::StatusCode::kAborted, "Conflict", false,
       true},
      {"Conflict on apply", 409, kApplyConflict, absl::StatusCode::kAborted, "Conflict", false,
       true},
      {"Invalid", 422, kInvalid, absl::StatusCode::kInvalidArgument, "Invalid"},
      {"Expired", 410, kExpired, absl::StatusCode::kOutOfRange, "Expired", false, false, false,
       true},
      {"Forbidden", 403, kForbidden, absl::StatusCode::kPermissionDenied, "Forbidden"},
      {"Unauthorized", 401, kUnauthorized, absl::StatusCode::kUnauthenticated, "Unauthorized"},
      {"TooManyRequests", 429, kTooManyRequests, absl::StatusCode::kUnavailable, "TooManyRequests",
       false, false, false, false, true},
      {"etcd leader changed", 500, kLeaderChanged, absl::StatusCode::kUnavailable, "", false, false,
       false, false, true},
      {"Timeout", 504, kTimeout, absl::StatusCode::kDeadlineExceeded, "Timeout", false, false,
       false, false, true},
      {"discovery 404 text", 404, "404 page not found\n", absl::StatusCode::kNotFound, "NotFound",
       true},
      {"proxy 502 html", 502, "<html><body>Bad Gateway</body></html>",
       absl::StatusCode::kUnavailable, "", false, false, false, false, true},
      {"empty 503", 503, "", absl::StatusCode::kUnavailable, "ServiceUnavailable", false, false,
       false, false, true},
      {"method not allowed", 405, "", absl::StatusCode::kUnimplemented, "MethodNotAllowed"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::Status error = ErrorFromResponse(c.http_status, c.body);
    ASSERT_FALSE(error.ok());
    EXPECT_EQ(error.code(), c.code) << error;
    std::optional<KubeStatus> status = KubeStatusOf(error);
    ASSERT_TRUE(status.has_value()) << error;
    EXPECT_EQ(status->code, c.http_status);
    EXPECT_EQ(status->reason, c.reason);
    EXPECT_EQ(status->status, "Failure");
    EXPECT_FALSE(status->message.empty());
    EXPECT_EQ(kube::IsNotFound(error), c.not_found);
    EXPECT_EQ(IsConflict(error), c.conflict);
    EXPECT_EQ(kube::IsAlreadyExists(error), c.already_exists);
    EXPECT_EQ(IsGone(error), c.gone);
    EXPECT_EQ(IsRetryable(error), c.retryable);
  }
}

TEST(KubeStatusTest, KeepsTheRawStatusAsPayload) {
  absl::Status error = ErrorFromResponse(409, kApplyConflict);
  absl::optional<absl::Cord> payload = error.GetPayload(kKubeStatusTypeUrl.data());
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(std::string(*payload), kApplyConflict);

  std::optional<KubeStatus> status = KubeStatusOf(error);
  ASSERT_TRUE(status.has_value());
  const json::Value* causes = status->details.Find("causes");
  ASSERT_NE(causes, nullptr);
  ASSERT_EQ(causes->elements().size(), 1u);
  EXPECT_EQ(FieldOrFail(causes->elements()[0], "field").string_value(), ".spec.limit.amount");
  EXPECT_EQ(FieldOrFail(causes->elements()[0], "reason").string_value(), "FieldManagerConflict");
}

TEST(KubeStatusTest, MessageNamesCodeReasonAndText) {
  EXPECT_EQ(ErrorFromResponse(404, kNotFound).message(), "404 NotFound: pods \"web-0\" not found");
  EXPECT_EQ(ErrorFromResponse(500, kLeaderChanged).message(), "500: etcdserver: leader changed");
  EXPECT_EQ(ErrorFromResponse(503, "").message(),
            "503 ServiceUnavailable: the server responded with HTTP 503");
  // A huge non-Status body is cut.
  const std::string page(10'000, 'x');
  EXPECT_LT(ErrorFromResponse(502, page).message().size(), 300u);
}

TEST(KubeStatusTest, InvalidKeepsEveryCause) {
  std::optional<KubeStatus> status = KubeStatusOf(ErrorFromResponse(422, kInvalid));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(FieldOrFail(status->details, "causes").elements().size(), 2u);
  EXPECT_EQ(FieldOrFail(status->details, "kind").string_value(), "ComputeBudget");
}

TEST(KubeStatusTest, SuccessIsOk) {
  EXPECT_TRUE(ErrorFromResponse(200, "{}").ok());
  EXPECT_TRUE(ErrorFromResponse(201, "").ok());
}

TEST(KubeStatusTest, OtherErrorsAreNotKubernetesErrors) {
  const absl::Status not_found = absl::NotFoundError("no such file");
  EXPECT_FALSE(KubeStatusOf(not_found).has_value());
  EXPECT_FALSE(kube::IsNotFound(not_found));
  EXPECT_FALSE(IsGone(absl::OutOfRangeError("x")));
  EXPECT_FALSE(IsConflict(absl::AbortedError("x")));
  // Transport failures are worth retrying.
  EXPECT_TRUE(IsRetryable(absl::UnavailableError("connection refused")));
  EXPECT_TRUE(IsRetryable(absl::DeadlineExceededError("timeout")));
  EXPECT_FALSE(IsRetryable(absl::OkStatus()));
  EXPECT_FALSE(KubeStatusOf(absl::OkStatus()).has_value());
}

TEST(KubeStatusTest, RetryAfterComesFromDetails) {
  std::optional<absl::Duration> after = RetryAfter(ErrorFromResponse(429, kTooManyRequests));
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(*after, absl::Seconds(1));
  EXPECT_FALSE(RetryAfter(ErrorFromResponse(404, kNotFound)).has_value());
}

TEST(KubeStatusTest, WatchErrorStatusMapsByItsCode) {
  KubeStatus gone;
  gone.code = 410;
  gone.status = "Failure";
  gone.reason = "Expired";
  gone.message = "too old resource version: 123 (456)";
  absl::Status error = ErrorFromKubeStatus(gone);
  EXPECT_TRUE(IsGone(error));
  EXPECT_EQ(error.code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(KubeStatusOf(error)->message, "too old resource version: 123 (456)");

  KubeStatus no_code;
  no_code.message = "internal error";
  EXPECT_EQ(ErrorFromKubeStatus(no_code).code(), absl::StatusCode::kUnavailable);
}

TEST(KubeStatusTest, ParsesOnlyStatusObjects) {
  EXPECT_FALSE(ParseKubeStatus(std::string_view(R"({"kind":"Pod"})")).has_value());
  EXPECT_FALSE(ParseKubeStatus(std::string_view("not json")).has_value());
  std::optional<KubeStatus> s = ParseKubeStatus(std::string_view(kForbidden));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->code, 403);
  // ToJson round-trips.
  std::optional<KubeStatus> again = ParseKubeStatus(std::string_view(s->ToJson()));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->message, s->message);
  EXPECT_EQ(again->details, s->details);
}

}  // namespace
}  // namespace bursar::kube
