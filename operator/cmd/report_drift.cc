#include "operator/cmd/report_drift.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/values/duration.h"
#include "grpcpp/grpcpp.h"
#include "operator/cmd/args.h"

namespace bursar::cmd {

int ReportDrift(const std::vector<std::string>& args) {
  absl::StatusOr<Args> parsed =
      Args::Parse(args, {"address", "model", "score", "metric", "source", "timeout"});
  if (!parsed.ok()) {
    std::cerr << "bursar report-drift: " << parsed.status().message() << "\n";
    return 2;
  }
  std::optional<std::string> address = parsed->Get("address");
  std::optional<std::string> model = parsed->Get("model");
  std::optional<std::string> score_text = parsed->Get("score");
  double score = 0;
  if (!address || !model || !score_text || !absl::SimpleAtod(*score_text, &score)) {
    std::cerr << "bursar report-drift: --address, --model and a numeric --score are required\n"
              << "usage:\n"
              << kReportDriftUsage;
    return 2;
  }
  absl::StatusOr<absl::Duration> timeout = values::ParseDuration(parsed->GetOr("timeout", "10s"));
  if (!timeout.ok()) {
    std::cerr << "bursar report-drift: --timeout: " << timeout.status().message() << "\n";
    return 2;
  }
  // The operator's gRPC port is plaintext (meant for in-cluster use behind a NetworkPolicy).
  auto stub = bursar::v1::Signals::NewStub(
      grpc::CreateChannel(*address, grpc::InsecureChannelCredentials()));
  bursar::v1::ReportModelDriftRequest request;
  request.set_model(*model);
  request.set_score(score);
  request.set_metric(parsed->GetOr("metric", ""));
  request.set_source(parsed->GetOr("source", "bursar-cli"));
  absl::Time now = absl::Now();
  request.mutable_time()->set_seconds(absl::ToUnixSeconds(now));
  bursar::v1::ReportModelDriftResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(now + *timeout));
  grpc::Status status = stub->ReportModelDrift(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "bursar report-drift: " << *address << ": " << status.error_message() << "\n";
    return 1;
  }
  std::cout << (response.accepted() ? "accepted: " : "rejected: ") << response.message() << "\n";
  return response.accepted() ? 0 : 1;
}

}  // namespace bursar::cmd
