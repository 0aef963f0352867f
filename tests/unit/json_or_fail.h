#pragma once

// Test helpers: a JSON literal parsed with the project's facade, and the fields of a parsed
// value. A parse error or a missing field fails the current test (and yields null) instead of
// crashing the test binary on a null pointer.

#include <gtest/gtest.h>

#include <string_view>

#include "operator/json/json.h"

namespace bursar {

inline json::Value JsonOrFail(std::string_view text) {
  absl::StatusOr<json::Value> v = json::Parse(text);
  EXPECT_TRUE(v.ok()) << v.status() << "\n" << text;
  return v.ok() ? *v : json::Value();
}

// v.Find(key), or null (and a test failure) when `v` has no such field.
inline const json::Value& FieldOrFail(const json::Value& v, std::string_view key) {
  static const json::Value* const kNull = new json::Value();
  const json::Value* field = v.Find(key);
  EXPECT_NE(field, nullptr) << "no field \"" << key << "\"";
  return field != nullptr ? *field : *kNull;
}

// v.FindPath(dotted_path), or null (and a test failure) when there is no such field.
inline const json::Value& PathOrFail(const json::Value& v, std::string_view dotted_path) {
  static const json::Value* const kNull = new json::Value();
  const json::Value* field = v.FindPath(dotted_path);
  EXPECT_NE(field, nullptr) << "no field \"" << dotted_path << "\"";
  return field != nullptr ? *field : *kNull;
}

}  // namespace bursar
