#pragma once

// Test helper: a JSON literal parsed with the project's facade; a parse error fails the
// current test (and yields null) instead of crashing it.

#include <gtest/gtest.h>

#include <string_view>

#include "operator/json/json.h"

namespace bursar {

inline json::Value JsonOrFail(std::string_view text) {
  absl::StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  return v.ok() ? *v : json::Value();
}

}  // namespace bursar
