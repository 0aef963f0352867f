#include "controllers/values/uid.h"

#include <array>

namespace bursar::values {
namespace {

constexpr size_t kUuidLength = 36;
constexpr std::array<size_t, 4> kDashes = {8, 13, 18, 23};
constexpr char kHex[] = "0123456789abcdef";

bool IsDash(size_t i) {
  return i == kDashes[0] || i == kDashes[1] || i == kDashes[2] || i == kDashes[3];
}

// The value of a lower-case hex digit; -1 for anything else.
int LowerHexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  return -1;
}

}  // namespace

std::optional<PackedUid> PackUid(std::string_view text) {
  if (text.size() != kUuidLength) {
    return std::nullopt;
  }
  PackedUid uid;
  int digits = 0;
  for (size_t i = 0; i < kUuidLength; ++i) {
    if (IsDash(i)) {
      if (text[i] != '-') {
        return std::nullopt;
      }
      continue;
    }
    const int v = LowerHexValue(text[i]);
    if (v < 0) {
      return std::nullopt;
    }
    uint64_t& half = digits < 16 ? uid.hi : uid.lo;
    half = (half << 4) | static_cast<uint64_t>(v);
    ++digits;
  }
  return uid;
}

std::string UnpackUid(PackedUid uid) {
  std::string text(kUuidLength, '-');
  int digit = 31;  // from the last one
  for (size_t i = kUuidLength; i-- > 0;) {
    if (IsDash(i)) {
      continue;
    }
    const uint64_t half = digit >= 16 ? uid.lo : uid.hi;
    const int shift = 4 * (15 - digit % 16);
    text[i] = kHex[(half >> shift) & 0xf];
    --digit;
  }
  return text;
}

}  // namespace bursar::values
