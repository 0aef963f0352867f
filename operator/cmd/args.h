#pragma once

// A small command-line reader for `bursar <command> [--flag value | --flag=value]...`.
// Unknown flags and missing values are errors naming the flag; repeated flags are kept in
// order (for lists such as --team). Thread-compatible.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace bursar::cmd {

class Args {
 public:
  // `known` lists the flags the command accepts; `switches` those that take no value.
  static absl::StatusOr<Args> Parse(const std::vector<std::string>& argv,
                                    const std::vector<std::string>& known,
                                    const std::vector<std::string>& switches = {});

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
