#pragma once

// Kubernetes object UIDs held small. The API server assigns every object an RFC 4122 UUID in its
// canonical text: 36 characters, lower-case hex in groups of 8-4-4-4-12. As a std::string that is
// a 32-byte object and a 48-byte heap block; a 100,000-pod cluster holds one per running pod in
// a budget's ledger. PackUid keeps the 128 bits in 16 bytes. Only the canonical form is packed
// (upper-case hex, braces or any other text are not), so UnpackUid(*PackUid(s)) == s always.
//
// Uid: one object's UID in 16 bytes, as a pod cache holds one per pod: a canonical UUID packed,
// any other text (tests' "p1", the ledger's "node:<name>") in a CompactString. The form follows
// from the text, so two Uids are equal exactly when their texts are; they order as their texts.
//
// UidMap<V>: a hash map keyed by UID that stores canonical UUIDs packed and any other key
// (tests' "pod-a", the ledger's "node:<name>" accounts of idle nodes) as text, looked up by a
// UidKey: a Uid as it is, or text (packed by the same rule). Thread-compatible.

#include <compare>
#include <concepts>
#include <cstdint>
#include <new>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "controllers/values/compact_string.h"
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
// `text` packed as a Uid holds it: a canonical UUID whose first 16 digits are not all f (those
// are held as text, the mark of a Uid held as text).
std::optional<PackedUid> PackUidKey(std::string_view text);
// The canonical text of `uid`.
std::string UnpackUid(PackedUid uid);

class Uid {
 public:
  Uid() { new (&text_) CompactString(); }
  // Implicit, as std::string's: a field of this type is set like a std::string field.
  Uid(std::string_view text) { Set(text); }               // NOLINT
  Uid(const std::string& text) { Set(text); }             // NOLINT
  Uid(const char* text) { Set(std::string_view(text)); }  // NOLINT
  Uid(const Uid& o) : hi_(o.hi_) {
    if (o.is_text()) {
      new (&text_) CompactString(o.text_);
    } else {
      lo_ = o.lo_;
    }
  }
  Uid(Uid&& o) noexcept : hi_(o.hi_) {
    if (o.is_text()) {
      new (&text_) CompactString(std::move(o.text_));
    } else {
      lo_ = o.lo_;
    }
  }
  Uid& operator=(const Uid& o) {
    if (this != &o) {
      Uid copy(o);
      *this = std::move(copy);
    }
    return *this;
  }
  Uid& operator=(Uid&& o) noexcept {
    if (this != &o) {
      this->~Uid();
      new (this) Uid(std::move(o));
    }
    return *this;
  }
  ~Uid() {
    if (is_text()) {
      text_.~CompactString();
    }
  }

  // The packed UUID; nullopt when the uid is held as text.
  std::optional<PackedUid> packed() const {
    return is_text() ? std::nullopt : std::optional<PackedUid>(PackedUid{hi_, lo_});
  }
  // The text of a uid held as text ("" for a packed one: use str()).
  std::string_view text() const { return is_text() ? text_.view() : std::string_view(); }
  std::string str() const { return is_text() ? text_.str() : UnpackUid({hi_, lo_}); }
  bool empty() const { return is_text() && text_.empty(); }

  // Templates, so that comparing with text converts that to a view rather than to a Uid (the
  // two would be ambiguous).
  template <std::same_as<Uid> T>
  friend bool operator==(const T& a, const T& b) {
    return a.hi_ == b.hi_ && (a.is_text() ? a.text_ == b.text_ : a.lo_ == b.lo_);
  }
  friend bool operator==(const Uid& a, std::string_view b) { return a == Uid(b); }
  template <std::same_as<Uid> T>
  friend std::strong_ordering operator<=>(const T& a, const T& b) {
    if (!a.is_text() && !b.is_text()) {
      return PackedUid{a.hi_, a.lo_} <=> PackedUid{b.hi_, b.lo_};
    }
    return a.str() <=> b.str();
  }
  template <typename H>
  friend H AbslHashValue(H h, const Uid& uid) {
    return uid.is_text() ? H::combine(std::move(h), uid.hi_, uid.text_)
                         : H::combine(std::move(h), uid.hi_, uid.lo_);
  }
  friend std::ostream& operator<<(std::ostream& os, const Uid& uid) { return os << uid.str(); }

 private:
  friend std::optional<PackedUid> PackUidKey(std::string_view text);
  // hi_ of a uid held as text. A canonical UUID whose first 16 digits are all f is held as
  // text too, so the form still follows from the text.
  static constexpr uint64_t kText = ~uint64_t{0};

  bool is_text() const { return hi_ == kText; }
  void Set(std::string_view text) {
    if (std::optional<PackedUid> packed = PackUidKey(text)) {
      hi_ = packed->hi;
      lo_ = packed->lo;
    } else {
      hi_ = kText;
      new (&text_) CompactString(text);
    }
  }

  uint64_t hi_ = kText;
  union {
    uint64_t lo_;
    CompactString text_;  // when is_text()
  };
};
static_assert(sizeof(Uid) == 16);

// A uid to look up or store, from a Uid or its text, with no copy: what UidMap and the ledger
// take (a pod's Uid costs no parse; text is packed by the same rule). Refers to the text it was
// made from: use it at once.
class UidKey {
 public:
  UidKey(const Uid& uid) : packed_(uid.packed()), text_(uid.text()) {}       // NOLINT: implicit
  UidKey(std::string_view text) : packed_(PackUidKey(text)), text_(text) {}  // NOLINT
  UidKey(const std::string& text) : UidKey(std::string_view(text)) {}        // NOLINT
  UidKey(const char* text) : UidKey(std::string_view(text)) {}               // NOLINT

  const std::optional<PackedUid>& packed() const { return packed_; }
  std::string_view text() const { return text_; }  // when not packed

 private:
  std::optional<PackedUid> packed_;
  std::string_view text_;
};

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
  V* Find(const UidKey& uid) { return const_cast<V*>(static_cast<const UidMap*>(this)->Find(uid)); }
  const V* Find(const UidKey& uid) const {
    if (std::optional<PackedUid> packed = uid.packed()) {
      auto it = packed_.find(*packed);
      return it == packed_.end() ? nullptr : &it->second;
    }
    auto it = text_.find(AbslView(uid.text()));
    return it == text_.end() ? nullptr : &it->second;
  }
  // Stores `value` under `uid` unless a value is there already; returns the stored one.
  V& Emplace(const UidKey& uid, V value) {
    if (std::optional<PackedUid> packed = uid.packed()) {
      return packed_.try_emplace(*packed, std::move(value)).first->second;
    }
    return text_.try_emplace(AbslView(uid.text()), std::move(value)).first->second;
  }
  // Removes the value under `uid`, if any.
  void Erase(const UidKey& uid) {
    if (std::optional<PackedUid> packed = uid.packed()) {
      packed_.erase(*packed);
    } else {
      text_.erase(AbslView(uid.text()));
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
