#pragma once

// CompactString: an immutable string in 8 bytes, for the text a big cache holds once per object
// (a pod's uid, name, node and Job name; a cache's keys). A std::string is 32 bytes and, past 15
// characters, a heap block besides; a CompactString is one pointer to a block holding the size
// and the bytes ("" holds none). Reads as a std::string_view; copies allocate, moves do not.
// Thread-compatible, like std::string.
//
// CompactStringHash and CompactStringEq let a hash map keyed by CompactString be searched with
// any string view, without making a key.

#include <concepts>
#include <cstdint>
#include <cstring>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"
#include "controllers/values/strings.h"

namespace bursar::values {

class CompactString {
 public:
  CompactString() = default;
  // Implicit, as std::string's: a field of this type is set like a std::string field.
  CompactString(std::string_view s) : p_(Make(s)) {}               // NOLINT
  CompactString(const std::string& s) : p_(Make(s)) {}             // NOLINT
  CompactString(const char* s) : p_(Make(std::string_view(s))) {}  // NOLINT
  CompactString(const CompactString& o) : p_(Make(o.view())) {}
  CompactString(CompactString&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  CompactString& operator=(CompactString o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~CompactString() { ::operator delete(p_); }

  std::string_view view() const {
    if (p_ == nullptr) {
      return {};
    }
    uint32_t size = 0;
    std::memcpy(&size, p_, sizeof(size));
    return {p_ + sizeof(size), size};
  }
  operator std::string_view() const { return view(); }  // NOLINT: reads as the string it is
  std::string str() const { return std::string(view()); }
  bool empty() const { return p_ == nullptr; }
  size_t size() const { return view().size(); }

  // Templates, so that comparing with a literal or a std::string converts that to a view
  // rather than to a CompactString (the two would be ambiguous).
  template <std::same_as<CompactString> T>
  friend bool operator==(const T& a, const T& b) {
    return a.view() == b.view();
  }
  friend bool operator==(const CompactString& a, std::string_view b) { return a.view() == b; }
  template <std::same_as<CompactString> T>
  friend auto operator<=>(const T& a, const T& b) {
    return a.view() <=> b.view();
  }
  friend auto operator<=>(const CompactString& a, std::string_view b) { return a.view() <=> b; }
  template <typename H>
  friend H AbslHashValue(H h, const CompactString& s) {
    return H::combine(std::move(h), AbslView(s.view()));
  }
  friend std::ostream& operator<<(std::ostream& os, const CompactString& s) {
    return os << s.view();
  }

 private:
  static char* Make(std::string_view s) {
    if (s.empty()) {
      return nullptr;
    }
    if (s.size() > UINT32_MAX) {
      throw std::length_error("CompactString larger than 4 GiB");
    }
    const auto size = static_cast<uint32_t>(s.size());
    char* p = static_cast<char*>(::operator new(sizeof(size) + s.size()));
    std::memcpy(p, &size, sizeof(size));
    std::memcpy(p + sizeof(size), s.data(), s.size());
    return p;
  }

  char* p_ = nullptr;  // the size (4 bytes, unaligned), then the bytes; null when empty
};

// The text of any string type a CompactString map is searched with.
inline std::string_view TextOf(std::string_view s) {
  return s;
}
inline std::string_view TextOf(absl::string_view s) {
  return StdView(s);
}
inline std::string_view TextOf(const std::string& s) {
  return s;
}
inline std::string_view TextOf(const char* s) {
  return s;
}
inline std::string_view TextOf(const CompactString& s) {
  return s.view();
}

struct CompactStringHash {
  using is_transparent = void;
  template <typename S>
  size_t operator()(const S& s) const {
    return absl::Hash<absl::string_view>()(AbslView(TextOf(s)));
  }
};

struct CompactStringEq {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return TextOf(a) == TextOf(b);
  }
};

}  // namespace bursar::values
