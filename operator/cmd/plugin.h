#pragma once

// `kubectl bursar`: the kubectl plugin, built into the `bursar` binary. kubectl runs any
// `kubectl-bursar` on PATH for `kubectl bursar ...`, so a symlink `kubectl-bursar -> bursar`
// installs it; `bursar kubectl ...` is the same without the symlink.
//   status [--kubeconfig F] [--context C] [--output table|json]   every budget at a glance
//   why BUDGET [--kubeconfig F] [--context C]   the last decisions and the inputs behind them
//   simulate ...                                 `bursar simulate`
// The cluster comes from --kubeconfig, else $KUBECONFIG, else ~/.kube/config (errors name the
// file). This file reads the API server and the terminal; what is printed is decided in
// plugin_view.h. Exit codes: 0 done, 1 the cluster could not be read, 2 bad arguments.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace bursar::cmd {

// A command that takes the arguments after its name and returns an exit code.
using CommandFn = std::function<int(const std::vector<std::string>& args)>;

// Whether the binary was started as the plugin: argv[0]'s basename is `kubectl-bursar`.
bool InvokedAsKubectlPlugin(std::string_view argv0);

// `args` follow `kubectl-bursar` (or `bursar kubectl`); `simulate` runs `bursar simulate`.
int KubectlPlugin(const std::vector<std::string>& args, const CommandFn& simulate);

}  // namespace bursar::cmd
