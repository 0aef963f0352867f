#include "controllers/reconcilers/pod_labels.h"

#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"

namespace bursar::reconcilers {

using KeyList = std::vector<kube::InternedString>;

struct PodLabels::Header {
  const KeyList* keys = nullptr;  // interned: shared by every pod with the same keys
  uint32_t values_size = 0;
};
// Where a value lies in the values. Stored as two uint16 (4 bytes) when the values total at
// most 65,535 bytes, as they always do under the API server's limits (63 characters a value),
// else as two uint32.
struct PodLabels::Range {
  uint32_t offset = 0;
  uint32_t size = 0;
};

namespace {

size_t RangeBytes(uint32_t values_size) {
  return values_size <= UINT16_MAX ? 2 * sizeof(uint16_t) : 2 * sizeof(uint32_t);
}

// The process's key lists, one copy of each.
class KeyLists {
 public:
  const KeyList* Intern(const KeyList& keys) {
    absl::MutexLock lock(&mu_);
    auto it = lists_.find(keys);
    if (it == lists_.end()) {
      it = lists_.insert(std::make_unique<const KeyList>(keys)).first;
    }
    return it->get();
  }

 private:
  // Hashes and compares a list by its keys' identities (interned strings: one pointer each).
  struct Hash {
    using is_transparent = void;
    size_t operator()(const KeyList& keys) const {
      size_t h = keys.size();
      for (kube::InternedString key : keys) {
        h = absl::Hash<std::pair<size_t, const char*>>()({h, key.view().data()});
      }
      return h;
    }
    size_t operator()(const std::unique_ptr<const KeyList>& keys) const { return (*this)(*keys); }
  };
  struct Eq {
    using is_transparent = void;
    static const KeyList& Of(const KeyList& keys) { return keys; }
    static const KeyList& Of(const std::unique_ptr<const KeyList>& keys) { return *keys; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Of(a) == Of(b);
    }
  };

  absl::Mutex mu_;
  absl::flat_hash_set<std::unique_ptr<const KeyList>, Hash, Eq> lists_ ABSL_GUARDED_BY(mu_);
};

KeyLists& Pool() {
  static auto* pool = new KeyLists();  // never destroyed: views outlive static destructors
  return *pool;
}

}  // namespace

PodLabels::PodLabels(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  std::vector<Entry> entries;
  for (const auto& [key, value] : labels) {
    entries.emplace_back(kube::InternedString(key), value);
  }
  AssignEntries(entries);
}

PodLabels::PodLabels(const PodLabels& o) {
  if (o.block_ != nullptr) {
    const uint32_t values_size = o.header().values_size;
    const size_t bytes = sizeof(Header) + o.size() * RangeBytes(values_size) + values_size;
    block_ = static_cast<char*>(::operator new(bytes));
    std::memcpy(block_, o.block_, bytes);
  }
}

PodLabels::~PodLabels() {
  ::operator delete(block_);
}

PodLabels::Header PodLabels::header() const {
  Header header;
  std::memcpy(&header, block_, sizeof(Header));
  return header;
}

size_t PodLabels::size() const {
  return block_ == nullptr ? 0 : header().keys->size();
}

std::string_view PodLabels::ValueAt(size_t i) const {
  const Header h = header();
  const size_t range_bytes = RangeBytes(h.values_size);
  const char* at = block_ + sizeof(Header) + i * range_bytes;
  Range range;
  if (range_bytes == 2 * sizeof(uint16_t)) {
    uint16_t narrow[2];
    std::memcpy(narrow, at, sizeof(narrow));
    range = {.offset = narrow[0], .size = narrow[1]};
  } else {
    std::memcpy(&range, at, sizeof(Range));
  }
  const char* values = block_ + sizeof(Header) + h.keys->size() * range_bytes;
  return std::string_view(values + range.offset, range.size);
}

std::optional<std::string_view> PodLabels::Find(std::string_view key) const {
  if (block_ == nullptr) {
    return std::nullopt;
  }
  const KeyList& keys = *header().keys;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (keys[i].view() == key) {
      return ValueAt(i);
    }
  }
  return std::nullopt;
}

std::vector<std::pair<std::string_view, std::string_view>> PodLabels::Entries() const {
  std::vector<std::pair<std::string_view, std::string_view>> out;
  if (block_ == nullptr) {
    return out;
  }
  const KeyList& keys = *header().keys;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    out.emplace_back(keys[i].view(), ValueAt(i));
  }
  return out;
}

void PodLabels::Set(kube::InternedString key, std::string_view value) {
  std::vector<Entry> entries;
  if (block_ != nullptr) {
    const KeyList& keys = *header().keys;
    for (size_t i = 0; i < keys.size(); ++i) {
      entries.emplace_back(keys[i], ValueAt(i));
    }
  }
  entries.emplace_back(key, value);
  // The block is replaced only after the new one is built from views into it.
  AssignEntries(entries);
}

void PodLabels::AssignEntries(const std::vector<Entry>& given) {
  // Equal keys: the first place, the last value.
  KeyList keys;
  std::vector<std::string_view> values;
  for (const auto& [key, value] : given) {
    size_t i = 0;
    while (i < keys.size() && !(keys[i] == key)) {
      ++i;
    }
    if (i == keys.size()) {
      keys.push_back(key);
      values.push_back(value);
    } else {
      values[i] = value;
    }
  }
  char* block = nullptr;
  if (!keys.empty()) {
    // Where each value lies: after an equal earlier value's bytes, or appended.
    std::vector<Range> ranges(keys.size());
    std::string packed;
    for (size_t i = 0; i < values.size(); ++i) {
      size_t same = 0;
      while (same < i && values[same] != values[i]) {
        ++same;
      }
      ranges[i].size = static_cast<uint32_t>(values[i].size());
      if (same < i) {
        ranges[i].offset = ranges[same].offset;
      } else {
        if (packed.size() + values[i].size() > UINT32_MAX) {
          throw std::length_error("pod labels larger than 4 GiB");
        }
        ranges[i].offset = static_cast<uint32_t>(packed.size());
        packed.append(values[i]);
      }
    }
    const Header header{.keys = Pool().Intern(keys),
                        .values_size = static_cast<uint32_t>(packed.size())};
    const size_t range_bytes = RangeBytes(header.values_size);
    block = static_cast<char*>(
        ::operator new(sizeof(Header) + ranges.size() * range_bytes + packed.size()));
    std::memcpy(block, &header, sizeof(Header));
    char* at = block + sizeof(Header);
    for (const Range& range : ranges) {
      if (range_bytes == 2 * sizeof(uint16_t)) {
        const uint16_t narrow[2] = {static_cast<uint16_t>(range.offset),
                                    static_cast<uint16_t>(range.size)};
        std::memcpy(at, narrow, sizeof(narrow));
      } else {
        std::memcpy(at, &range, sizeof(Range));
      }
      at += range_bytes;
    }
    std::memcpy(at, packed.data(), packed.size());
  }
  ::operator delete(block_);
  block_ = block;
}

}  // namespace bursar::reconcilers
