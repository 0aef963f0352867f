#pragma once

// Runs the real `bursar` binary (BURSAR_BINARY, set by tests/CMakeLists.txt) for the sim tests
// and captures its output and exit code.

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace bursar::simtest {

struct Output {
  int exit_code = -1;
  std::string out;
};

enum class Capture { kStdout, kStdoutAndStderr, kStderr };

// Runs bursar with `args` (already shell-quoted where needed) and captures what `capture` says.
inline Output RunBursar(const std::string& args, Capture capture) {
  constexpr const char* kRedirect[] = {" 2>/dev/null", " 2>&1", " 2>&1 >/dev/null"};
  std::string command =
      std::string(BURSAR_BINARY) + " " + args + kRedirect[static_cast<int>(capture)];
  Output run;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return run;
  }
  std::array<char, 65536> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) {
    run.out.append(buf.data(), n);
  }
  int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// Runs bursar with `args`; stderr is captured with stdout when `merge_stderr` is set.
inline Output Bursar(const std::string& args, bool merge_stderr = false) {
  return RunBursar(args, merge_stderr ? Capture::kStdoutAndStderr : Capture::kStdout);
}

}  // namespace bursar::simtest
