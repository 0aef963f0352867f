#include "operator/cmd/plugin.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "controllers/api/codec.h"
#include "operator/cmd/args.h"
#include "operator/cmd/plugin_view.h"
#include "operator/kube/client.h"
#include "operator/kube/cpprest_transport.h"
#include "operator/kube/kube_status.h"
#include "operator/kube/kubeconfig.h"
#include "operator/kube/resource.h"

namespace bursar::cmd {
namespace {

constexpr char kUsage[] =
    R"(kubectl bursar shows what Bursar's budgets spend and why it acts.

Usage:
  kubectl bursar status [--kubeconfig FILE] [--context NAME] [--output table|json]
      every ComputeBudget: phase, spent/limit, a spend-vs-pacing bar ([###|..  ]: # spent,
      . forecast to the period's end, | the Even pacing line now), forecast, exhausts,
      allowed GPUs; Ready=False budgets with their reason
  kubectl bursar why BUDGET [--kubeconfig FILE] [--context NAME]
      the spec, status numbers, conditions, recent actions and Events of one budget
  kubectl bursar simulate --scenario FILE ...   (as `bursar simulate`)

The cluster: --kubeconfig, else $KUBECONFIG, else ~/.kube/config. Colours only on a terminal
and when NO_COLOR is unset. The same commands run as `bursar kubectl ...`.
)";

int Fail(const absl::Status& status, int code) {
  std::cerr << "kubectl bursar: " << status.message() << "\n";
  return code;
}

// kubectl's short form `-o json` / `-ojson` as --output.
std::vector<std::string> ExpandShortOutput(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    if (a == "-o") {
      out.emplace_back("--output");
    } else if (a.size() > 2 && a.rfind("-o", 0) == 0 && a[2] != '-') {
      out.push_back(absl::StrCat("--output=", a.substr(a[2] == '=' ? 3 : 2)));
    } else {
      out.push_back(a);
    }
  }
  return out;
}

// Terminal columns of stdout; 0 when it is not a terminal (nothing is then truncated).
int TerminalWidth() {
  if (isatty(STDOUT_FILENO) != 1) {
    return 0;
  }
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
    return size.ws_col;
  }
  // A terminal that reports no size (e.g. some CI ptys): $COLUMNS, else the classic 80.
  int columns = 0;
  if (const char* env = std::getenv("COLUMNS");
      env != nullptr && absl::SimpleAtoi(env, &columns) && columns > 0) {
    return columns;
  }
  return 80;
}

ViewOptions TerminalViewOptions() {
  return {.width = TerminalWidth(),
          .color = isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr};
}

// A client for the cluster the flags name. Owns the transport the client refers to.
struct Connection {
  std::string server;
  std::unique_ptr<kube::CppRestTransport> transport;
  std::unique_ptr<kube::ApiClient> client;
};

absl::StatusOr<Connection> Connect(const Args& args) {
  std::string path;
  if (std::optional<std::string> flag = args.Get("kubeconfig"); flag.has_value()) {
    path = *flag;
  } else {
    absl::StatusOr<std::string> fallback = kube::DefaultKubeconfigPath();
    if (!fallback.ok()) {
      return fallback.status();
    }
    path = *fallback;
  }
  absl::StatusOr<kube::ClusterConfig> cluster =
      kube::LoadKubeconfig(path, args.GetOr("context", ""));
  if (!cluster.ok()) {
    return cluster.status();
  }
  absl::StatusOr<std::unique_ptr<kube::CppRestTransport>> transport = kube::TransportFor(*cluster);
  if (!transport.ok()) {
    return absl::Status(transport.status().code(),
                        absl::StrCat("kubeconfig ", path, ": server ", cluster->server, ": ",
                                     transport.status().message()));
  }
  Connection c;
  c.server = cluster->server;
  c.transport = *std::move(transport);
  kube::ApiClient::Options options;
  options.timeout = absl::Seconds(20);
  c.client = std::make_unique<kube::ApiClient>(*c.transport, options);
  return c;
}

// What went wrong reading `what`, with a hint for the usual causes.
absl::Status ReadError(const absl::Status& status, const Connection& c, std::string_view what) {
  std::string hint;
  if (kube::IsNotFound(status) && what == "ComputeBudgets") {
    hint = " (are Bursar's CRDs installed? kubectl apply -f crds/)";
  } else if (absl::IsPermissionDenied(status)) {
    hint = " (your user needs get/list on computebudgets.bursar.dev and events)";
  }
  return absl::Status(status.code(), absl::StrCat("cannot read ", std::string(what), " from ",
                                                  c.server, ": ", status.message(), hint));
}

api::DecodeOptions ApiServerDecode() {
  return {.source = "apiserver", .reject_unknown_fields = false};
}

int StatusCommand(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse(argv, {"kubeconfig", "context", "output"});
  if (!args.ok()) {
    return Fail(args.status(), 2);
  }
  if (!args->positional().empty()) {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("status takes no arguments, got \"", args->positional()[0], "\"")),
                2);
  }
  std::string output = args->GetOr("output", "table");
  if (output != "table" && output != "json") {
    return Fail(absl::InvalidArgumentError(
                    absl::StrCat("--output: \"", output, "\" is not one of table, json")),
                2);
  }
  absl::StatusOr<Connection> c = Connect(*args);
  if (!c.ok()) {
    return Fail(c.status(), 1);
  }
  absl::StatusOr<kube::ObjectList> list = c->client->ListAll(kube::kComputeBudgets, "");
  if (!list.ok()) {
    return Fail(ReadError(list.status(), *c, "ComputeBudgets"), 1);
  }
  std::vector<ListedBudget> budgets;
  for (const json::Value& item : list->items) {
    ListedBudget listed;
    const json::Value* name = item.FindPath("metadata.name");
    listed.name = name != nullptr && name->is_string() ? name->string_value() : "?";
    absl::StatusOr<api::ComputeBudget> budget = api::DecodeComputeBudget(item, ApiServerDecode());
    if (budget.ok()) {
      listed.budget = *std::move(budget);
    } else {
      listed.decode_error = std::string(budget.status().message());
    }
    budgets.push_back(std::move(listed));
  }
  absl::Time now = absl::Now();
  std::cout << (output == "json" ? RenderStatusJson(budgets, now)
                                 : RenderStatusTable(budgets, now, TerminalViewOptions()));
  return 0;
}

int WhyCommand(const std::vector<std::string>& argv) {
  absl::StatusOr<Args> args = Args::Parse(argv, {"kubeconfig", "context"});
  if (!args.ok()) {
    return Fail(args.status(), 2);
  }
  if (args->positional().size() != 1) {
    return Fail(absl::InvalidArgumentError("why needs exactly one BUDGET name"), 2);
  }
  const std::string& name = args->positional()[0];
  absl::StatusOr<Connection> c = Connect(*args);
  if (!c.ok()) {
    return Fail(c.status(), 1);
  }
  absl::StatusOr<json::Value> object = c->client->Get(kube::kComputeBudgets, "", name);
  if (!object.ok()) {
    if (kube::IsNotFound(object.status())) {
      return Fail(
          absl::NotFoundError(absl::StrCat("computebudget \"", name, "\" not found on ", c->server,
                                           " (kubectl bursar status lists "
                                           "them)")),
          1);
    }
    return Fail(ReadError(object.status(), *c, absl::StrCat("computebudget ", name)), 1);
  }
  absl::StatusOr<api::ComputeBudget> budget = api::DecodeComputeBudget(*object, ApiServerDecode());
  if (!budget.ok()) {
    return Fail(
        absl::InvalidArgumentError(absl::StrCat("computebudget \"", name, "\" cannot be decoded:\n",
                                                budget.status().message())),
        1);
  }
  // Events of cluster-scoped objects land in "default" (see runtime/event_recorder.h).
  kube::ListOptions options;
  options.field_selector =
      absl::StrCat("involvedObject.name=", name, ",involvedObject.kind=ComputeBudget");
  absl::StatusOr<kube::ObjectList> events = c->client->ListAll(kube::kEvents, "default", options);
  std::vector<BudgetEvent> decoded;
  if (events.ok()) {
    for (const json::Value& e : events->items) {
      decoded.push_back(DecodeBudgetEvent(e));
    }
  }
  std::cout << RenderWhy(*budget, decoded, absl::Now(), TerminalViewOptions());
  if (!events.ok()) {
    std::cout << "  (" << ReadError(events.status(), *c, "Events").message() << ")\n";
  }
  return 0;
}

}  // namespace

bool InvokedAsKubectlPlugin(std::string_view argv0) {
  size_t slash = argv0.rfind('/');
  std::string_view base = slash == std::string_view::npos ? argv0 : argv0.substr(slash + 1);
  return base == "kubectl-bursar";
}

int KubectlPlugin(const std::vector<std::string>& args, const CommandFn& simulate) {
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  for (const std::string& a : rest) {
    if (command != "simulate" && (a == "--help" || a == "-h")) {
      std::cout << kUsage;
      return 0;
    }
  }
  if (command == "status") {
    return StatusCommand(ExpandShortOutput(rest));
  }
  if (command == "why") {
    return WhyCommand(rest);
  }
  if (command == "simulate") {
    return simulate(rest);
  }
  std::cerr << "kubectl bursar: unknown command \"" << command << "\"\n\n" << kUsage;
  return 2;
}

}  // namespace bursar::cmd
