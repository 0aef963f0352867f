#include "operator/cmd/report_drift.h"

#include <iostream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bursar/v1/signals.grpc.pb.h"
#include "controllers/signals/grpc_tls.h"
#include "controllers/values/duration.h"
#include "grpcpp/grpcpp.h"
#include "operator/cmd/args.h"

namespace bursar::cmd {
namespace {

// The token's text without surrounding whitespace (files written by `kubectl create token >`
// end with a newline).
std::string Trimmed(const std::string& text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string::npos) {
    return {};
  }
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

}  // namespace

int ReportDrift(const std::vector<std::string>& args) {
  absl::StatusOr<Args> parsed = Args::Parse(args,
                                            {"address", "model", "score", "metric", "source",
                                             "timeout", "ca-file", "token-file", "server-name"},
                                            {}, {"plaintext", "no-token"});
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
  const bool plaintext = parsed->GetOr("plaintext", "false") == "true";
  const bool no_token = parsed->GetOr("no-token", "false") == "true";

  // The ServiceAccount token the operator checks with TokenReview.
  std::string token;
  if (!no_token) {
    const std::string token_file = parsed->GetOr("token-file", kDefaultTokenFile);
    absl::StatusOr<std::string> text = signals::ReadWholeFile(token_file);
    if (!text.ok()) {
      std::cerr << "bursar report-drift: --token-file: " << text.status().message()
                << (parsed->Has("token-file")
                        ? ""
                        : " (outside a pod, pass --token-file with a token from `kubectl create "
                          "token`)")
                << "\n";
      return 2;
    }
    token = Trimmed(*text);
  }

  std::shared_ptr<grpc::Channel> channel;
  if (plaintext) {
    std::cerr << "bursar report-drift: warning: --plaintext sends the report"
              << (token.empty() ? "" : " and the token") << " unencrypted\n";
    channel = grpc::CreateChannel(*address, grpc::InsecureChannelCredentials());
  } else {
    std::string ca_pem;
    if (std::optional<std::string> ca_file = parsed->Get("ca-file"); ca_file.has_value()) {
      absl::StatusOr<std::string> pem = signals::ReadPemFile(*ca_file);
      if (!pem.ok()) {
        std::cerr << "bursar report-drift: --ca-file: " << pem.status().message() << "\n";
        return 2;
      }
      ca_pem = *std::move(pem);
    }
    channel = signals::VerifiedChannel(*address, ca_pem, parsed->GetOr("server-name", ""));
  }
  auto stub = bursar::v1::Signals::NewStub(channel);
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
  if (!token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  }
  grpc::Status status = stub->ReportModelDrift(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "bursar report-drift: " << *address << ": " << status.error_message() << "\n";
    return 1;
  }
  std::cout << (response.accepted() ? "accepted: " : "rejected: ") << response.message() << "\n";
  return response.accepted() ? 0 : 1;
}

}  // namespace bursar::cmd
