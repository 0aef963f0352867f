// AdmissionReview bodies from the API server (controllers/admission): the decoder, then the
// Job and Pod decisions against two budgets sharing a namespace (one held, one with cpu, memory
// and GPU allowances). Properties: the encoded answer parses, echoes the uid, and a patch is a
// JSON array.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "controllers/admission/admission_decider.h"
#include "controllers/admission/admission_review.h"
#include "tests/fuzz/fuzz_files.h"

namespace {

using bursar::admission::AdmissionView;

AdmissionView MakeView() {
  namespace api = bursar::api;
  namespace values = bursar::values;
  AdmissionView view;
  for (const char* team : {"a", "b"}) {
    api::ComputeBudget b;
    b.metadata.name = std::string("team-") + team;
    b.spec.scope.namespaces = {"ml"};
    b.spec.scope.pod_selector = values::LabelSelector{.match_labels = {{"team", team}}};
    b.spec.quota.mode = api::QuotaMode::kWebhook;
    b.spec.quota.resources = {values::kGpuResource, "cpu", "memory"};
    b.status.admission = api::AdmissionAllowance{};
    view.budgets.push_back(b);
  }
  view.budgets[0].status.admission->hold_new_work = true;
  auto& allowed = view.budgets[1].status.admission->allowed;
  allowed[values::kGpuResource] = values::Quantity::FromUnits(4);
  allowed["cpu"] = values::Quantity::FromMilli(8000);
  allowed["memory"] = values::Quantity::FromUnits(int64_t{16} << 30);
  view.usage["team-b"].gpus = 2;
  return view;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const AdmissionView kView = MakeView();
  absl::StatusOr<bursar::admission::AdmissionRequest> request =
      bursar::admission::DecodeAdmissionReview(bursar::fuzz::AsText(data, size));
  if (!request.ok()) {
    return 0;
  }
  bursar::admission::AdmissionResponse response = bursar::admission::Decide(*request, kView);
  absl::StatusOr<bursar::json::Value> encoded =
      bursar::json::Parse(bursar::admission::EncodeAdmissionReview(response));
  if (!encoded.ok() || bursar::json::StringAt(*encoded, "response.uid").empty()) {
    std::abort();  // the answer must parse and echo the (non-empty) uid
  }
  if (!response.json_patch.empty()) {
    absl::StatusOr<bursar::json::Value> patch = bursar::json::Parse(response.json_patch);
    if (!patch.ok() || !patch->is_array()) {
      std::abort();
    }
  }
  return 0;
}
