#pragma once

// Kubernetes object UIDs held small. The API server assigns every object an RFC 4122 UUID in its
// canonical text: 36 characters, lower-case hex in groups of 8-4-4-4-12. As a std::string that is
// a 32-byte object and a 48-byte heap block; a 100,000-pod cluster holds one per running pod in
// a budget's ledger. PackUid keeps the 128 bits in 16 bytes. Only the canonical form is packed
// (upper-case hex, braces or any other text are not), so UnpackUid(*PackUid(s)) == s always.
//
// UidMap<V>: a hash map keyed by UID text that stores canonical UUIDs packed and any other key
// (tests' "pod-a", the ledger's "node:<name>" accounts of idle nodes) as text. Same lookups by
// text either way. Thread-compatible.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "controllers/values/strings.h"

namespace bursar::values {

struct PackedUid {
  uint64_t hi = 0;  // the first 16 hex digits, in order
  uint64_t lo = 0;  // the last 16
  friend bool operator==(const PackedUid&, const PackedUid&) = default;
  // Orders as the canonical text does ('0'-'9' sort before 'a'-'f', dashes sit at fixed places).
  friend auto operator<=>(const PackedUid&, const PackedUid&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const PackedUid& uid) {
    return H::combine(std::move(h), uid.hi, uid.lo);
  }
};

// `text` packed when it is a canonical UUID; nullopt otherwise.
std::optional<PackedUid> PackUid(std::string_view text);
// The canonical text of `uid`.
std::string UnpackUid(PackedUid uid);

template <typename V>
class UidMap {
 public:
  // One entry's key, as a reference into the map (valid until the map changes).
  class Key {
   public:
    std::string ToString() const { return packed_ != nullptr ? UnpackUid(*packed_) : *text_; }

   private:
    friend class UidMap;
    explicit Key(const PackedUid* packed) : packed_(packed) {}
    explicit Key(const std::string* text) : text_(text) {}
    const PackedUid* packed_ = nullptr;
    const std::string* text_ = nullptr;
  };

  // The value under `uid`; nullptr when there is none.
  V* Find(std::string_view uid) {
    return const_cast<V*>(static_cast<const UidMap*>(this)->Find(uid));
  }
  const V* Find(std::string_view uid) const {
    if (std::optional<PackedUid> packed = PackUid(uid)) {
      auto it = packed_.find(*packed);
      return it == packed_.end() ? nullptr : &it->second;
    }
    auto it = text_.find(AbslView(uid));
    return it == text_.end() ? nullptr : &it->second;
  }
  // Stores `value` under `uid` unless a value is there already; returns the stored one.
  V& Emplace(std::string_view uid, V value) {
    if (std::optional<PackedUid> packed = PackUid(uid)) {
      return packed_.try_emplace(*packed, std::move(value)).first->second;
    }
    return text_.try_emplace(AbslView(uid), std::move(value)).first->second;
  }
  // Removes the value under `uid`, if any.
  void Erase(std::string_view uid) {
    if (std::optional<PackedUid> packed = PackUid(uid)) {
      packed_.erase(*packed);
    } else {
      text_.erase(AbslView(uid));
    }
  }

  size_t size() const { return packed_.size() + text_.size(); }
  bool empty() const { return size() == 0; }

  // Calls fn(Key, const V&) for every entry, in no particular order.
  template <typename F>
  void ForEach(F&& fn) const {
    for (const auto& [uid, value] : packed_) {
      fn(Key(&uid), value);
    }
    for (const auto& [uid, value] : text_) {
      fn(Key(&uid), value);
    }
  }

 private:
  absl::flat_hash_map<PackedUid, V> packed_;
  absl::flat_hash_map<std::string, V> text_;
};

}  // namespace bursar::values
