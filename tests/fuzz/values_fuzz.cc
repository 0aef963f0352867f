// The value grammars every spec field goes through (controllers/values and api::ParseTime):
// Quantity, Money, Go durations, RFC 3339 times, period types, DNS names, label values and
// host:port. Properties: no crash or undefined behaviour on any text, and every canonical form
// parses back to the same value.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "controllers/api/codec.h"
#include "controllers/values/duration.h"
#include "controllers/values/host_port.h"
#include "controllers/values/money.h"
#include "controllers/values/period.h"
#include "controllers/values/quantity.h"
#include "controllers/values/validation.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

using namespace bursar;  // NOLINT(google-build-using-namespace): a fuzz target's one function

void Check(bool ok) {
  if (!ok) {
    std::abort();
  }
}

void FuzzQuantity(std::string_view text) {
  absl::StatusOr<values::Quantity> q = values::Quantity::Parse(text);
  if (!q.ok()) {
    return;
  }
  (void)q->Value();
  (void)q->MilliValue();
  (void)q->ToDouble();
  absl::StatusOr<values::Quantity> again = values::Quantity::Parse(q->ToString());
  Check(again.ok() && *again == *q);
}

void FuzzMoney(std::string_view text) {
  absl::StatusOr<values::Money> m = values::Money::Parse(text);
  if (!m.ok()) {
    return;
  }
  absl::StatusOr<values::Money> again = values::Money::Parse(m->ToString());
  Check(again.ok() && *again == *m);
  (void)m->MulDiv(3600, 7);
}

void FuzzDuration(std::string_view text) {
  absl::StatusOr<absl::Duration> d = values::ParseDuration(text);
  if (!d.ok()) {
    return;
  }
  absl::StatusOr<absl::Duration> again = values::ParseDuration(values::FormatDuration(*d));
  Check(again.ok() && *again == *d);
}

void FuzzTime(std::string_view text) {
  absl::StatusOr<absl::Time> t = api::ParseTime(text);
  if (!t.ok()) {
    return;
  }
  // FormatTime keeps whole seconds.
  absl::StatusOr<absl::Time> again = api::ParseTime(api::FormatTime(*t));
  Check(again.ok() && *again == absl::FromUnixSeconds(absl::ToUnixSeconds(*t)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  FuzzQuantity(text);
  FuzzMoney(text);
  FuzzDuration(text);
  FuzzTime(text);
  (void)values::ParsePeriodType(text);
  (void)values::ValidateDns1123Subdomain(text);
  (void)values::ValidateDns1123Label(text);
  (void)values::ValidateQualifiedName(text);
  (void)values::ValidateLabelValue(text);
  if (std::optional<values::HostPortText> hp = values::SplitHostPort(text); hp.has_value()) {
    (void)values::UnbracketHost(hp->host);
    (void)values::ParsePort(hp->port);
  }
  return 0;
}
