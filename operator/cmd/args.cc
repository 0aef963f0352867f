#include "operator/cmd/args.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace bursar::cmd {

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& known,
                                 const std::vector<std::string>& switches) {
  Args args;
  auto contains = [](const std::vector<std::string>& list, const std::string& s) {
    return std::find(list.begin(), list.end(), s) != list.end();
  };
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a.rfind("--", 0) != 0 || a == "--") {
      args.positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::optional<std::string> value;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (contains(switches, name)) {
      if (value.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " takes no value"));
      }
      args.values_.emplace(name, "true");
      continue;
    }
    if (!contains(known, name)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
    if (!value.has_value()) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", name, " needs a value"));
      }
      value = argv[++i];
    }
    args.values_.emplace(name, *value);
  }
  return args;
}

std::optional<std::string> Args::Get(std::string_view flag) const {
  auto range = values_.equal_range(std::string(flag));
  if (range.first == range.second) {
    return std::nullopt;
  }
  return std::prev(range.second)->second;  // the last one wins
}

std::string Args::GetOr(std::string_view flag, std::string fallback) const {
  return Get(flag).value_or(std::move(fallback));
}

std::vector<std::string> Args::GetAll(std::string_view flag) const {
  std::vector<std::string> out;
  auto range = values_.equal_range(std::string(flag));
  for (auto it = range.first; it != range.second; ++it) {
    out.push_back(it->second);
  }
  return out;
}

}  // namespace bursar::cmd
