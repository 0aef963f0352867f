#pragma once

// A small command-line reader for `bursar <command> [--flag value | --flag=value]...`.
// Three kinds of flag: value flags (`--tick 15s` or `--tick=15s`), switches that take no value
// (`--quiet`), and boolean flags that take an optional `=value` (`--leader-elect` means true,
// `--leader-elect=false`; as in Go's flag package, `--leader-elect false` leaves "false" as a
// positional argument, which commands reject). Unknown flags, missing values and values given
// to switches are errors that read `--flag: reason` (an unknown flag takes the next argument
// along, if it is not a flag, as its value); repeated flags are kept in order (for lists such as
// --team). Thread-compatible.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace bursar::cmd {

// True when `argv` asks for help: "--help" or "-h" anywhere before a lone "--". Commands check
// it before Parse(), so that help wins over whatever else is on the line (unknown flags, missing
// required ones) and prints the command's usage with exit code 0.
bool AsksForHelp(const std::vector<std::string>& argv);

class Args {
 public:
  // `known` lists the value flags the command accepts, `switches` those that take no value and
  // `booleans` those with an optional `=value` (stored as given; "true" when absent). Fails with
  // every problem of `argv`, one per line.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& known,
                                    const std::vector<std::string>& switches = {},
                                    const std::vector<std::string>& booleans = {});
  // Like Parse, but keeps what it could read: each problem is appended to `errors`.
  static Args ParseAll(const std::vector<std::string>& argv, const std::vector<std::string>& known,
                       const std::vector<std::string>& switches,
                       const std::vector<std::string>& booleans, std::vector<std::string>* errors);

  std::optional<std::string> Get(std::string_view flag) const;
  std::string GetOr(std::string_view flag, std::string fallback) const;
  std::vector<std::string> GetAll(std::string_view flag) const;
  bool Has(std::string_view flag) const { return values_.count(std::string(flag)) > 0; }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace bursar::cmd
