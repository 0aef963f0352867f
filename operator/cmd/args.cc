#include "operator/cmd/args.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "controllers/api/field_reader.h"

namespace bursar::cmd {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// " (did you mean --x?)" for the nearest flag within two edits, else "".
std::string Suggestion(const std::string& name,
                       std::initializer_list<const std::vector<std::string>*> lists) {
  const std::string* best = nullptr;
  size_t best_distance = 3;
  for (const std::vector<std::string>* list : lists) {
    for (const std::string& candidate : *list) {
      if (size_t d = api::EditDistance(name, candidate); d < best_distance) {
        best = &candidate;
        best_distance = d;
      }
    }
  }
  return best == nullptr ? "" : absl::StrCat(" (did you mean --", *best, "?)");
}

}  // namespace

bool AsksForHelp(const std::vector<std::string>& argv) {
  for (const std::string& a : argv) {
    if (a == "--") {
      return false;
    }
    if (a == "--help" || a == "-h") {
      return true;
    }
  }
  return false;
}

absl::StatusOr<Args> Args::Parse(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& known,
                                 const std::vector<std::string>& switches,
                                 const std::vector<std::string>& booleans) {
  std::vector<std::string> errors;
  Args args = ParseAll(argv, known, switches, booleans, &errors);
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  }
  return args;
}

Args Args::ParseAll(const std::vector<std::string>& argv, const std::vector<std::string>& known,
                    const std::vector<std::string>& switches,
                    const std::vector<std::string>& booleans, std::vector<std::string>* errors) {
  Args args;
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
    if (Contains(switches, name)) {
      if (value.has_value()) {
        errors->push_back(absl::StrCat("--", name, ": takes no value"));
        continue;
      }
      args.values_.emplace(name, "true");
      continue;
    }
    if (Contains(booleans, name)) {
      args.values_.emplace(name, value.value_or("true"));
      continue;
    }
    if (!Contains(known, name)) {
      // Most likely a value flag: its value is not a positional argument to complain about.
      if (!value.has_value() && i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0) {
        ++i;
      }
      errors->push_back(absl::StrCat("--", name, ": unknown flag",
                                     Suggestion(name, {&known, &switches, &booleans})));
      continue;
    }
    if (!value.has_value()) {
      if (i + 1 >= argv.size()) {
        errors->push_back(absl::StrCat("--", name, ": needs a value"));
        continue;
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
