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

// The value of each byte as a lower-case hex digit; 0xff for anything else.
constexpr std::array<uint8_t, 256> kHexValue = [] {
  std::array<uint8_t, 256> table{};
  table.fill(0xff);
  for (int c = '0'; c <= '9'; ++c) {
    table[static_cast<size_t>(c)] = static_cast<uint8_t>(c - '0');
  }
  for (int c = 'a'; c <= 'f'; ++c) {
    table[static_cast<size_t>(c)] = static_cast<uint8_t>(c - 'a' + 10);
  }
  return table;
}();

// Shifts the hex digits text[from, to) into `half`; false when one is not a lower-case hex digit.
// No branch per character: PackUid runs for every running pod at every pass (the ledger's key).
bool ShiftIn(std::string_view text, size_t from, size_t to, uint64_t& half) {
  uint8_t seen = 0;
  for (size_t i = from; i < to; ++i) {
    const uint8_t v = kHexValue[static_cast<unsigned char>(text[i])];
    seen |= v;
    half = (half << 4) | (v & 0xf);
  }
  return (seen & 0xf0) == 0;
}

}  // namespace

std::optional<PackedUid> PackUid(std::string_view text) {
  if (text.size() != kUuidLength || text[kDashes[0]] != '-' || text[kDashes[1]] != '-' ||
      text[kDashes[2]] != '-' || text[kDashes[3]] != '-') {
    return std::nullopt;
  }
  PackedUid uid;
  // hi: the first three groups (8 + 4 + 4 digits); lo: the last two (4 + 12).
  const bool hex = ShiftIn(text, 0, 8, uid.hi) && ShiftIn(text, 9, 13, uid.hi) &&
                   ShiftIn(text, 14, 18, uid.hi) && ShiftIn(text, 19, 23, uid.lo) &&
                   ShiftIn(text, 24, 36, uid.lo);
  if (!hex) {
    return std::nullopt;
  }
  return uid;
}

std::optional<PackedUid> PackUidKey(std::string_view text) {
  std::optional<PackedUid> packed = PackUid(text);
  if (packed.has_value() && packed->hi == Uid::kText) {
    return std::nullopt;
  }
  return packed;
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
