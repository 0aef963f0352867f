#pragma once

// Small string helpers every layer needs.
// - AbslView / StdView: Debian's Abseil has its own absl::string_view, not an alias of
//   std::string_view, so absl::StrCat, StrSplit and the hash maps do not accept a
//   std::string_view directly (and the other way round). The views share the bytes; no copy.
// - ASCII character classes for hand-written patterns (no locale, unlike <cctype>).

#include <string_view>

#include "absl/strings/string_view.h"

namespace bursar::values {

inline absl::string_view AbslView(std::string_view s) {
  return {s.data(), s.size()};
}
inline std::string_view StdView(absl::string_view s) {
  return {s.data(), s.size()};
}

constexpr bool IsDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || IsDigit(c);
}
constexpr bool IsLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool IsAlnum(char c) {
  return IsLetter(c) || IsDigit(c);
}

}  // namespace bursar::values
