#include "controllers/values/uid.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace bursar::values {
namespace {

TEST(UidTest, ACanonicalUuidPacksAndUnpacksToTheSameText) {
  for (const char* text :
       {"3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21", "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff", "0123abcd-4567-89ef-0a1b-2c3d4e5f6789"}) {
    std::optional<PackedUid> packed = PackUid(text);
    ASSERT_TRUE(packed.has_value()) << text;
    EXPECT_EQ(UnpackUid(*packed), text);
  }
  EXPECT_EQ(PackUid("00000000-0000-0000-0000-000000000001")->lo, 1u);
  EXPECT_EQ(PackUid("10000000-0000-0000-0000-000000000000")->hi, uint64_t{1} << 60);
}

TEST(UidTest, AnythingButTheCanonicalFormStaysText) {
  for (const char* text :
       {"", "pod-a", "node:gpu-1",
        "3F0C9A4E-5B1D-4C8E-9F2A-7D6E5C4B3A21",     // upper case: would not unpack the same
        "3f0c9a4e5b1d4c8e9f2a7d6e5c4b3a21",         // no dashes
        "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a2",      // one digit short
        "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a211",    // one too many
        "3f0c9a4e-5b1d-4c8e-9f2a_7d6e5c4b3a21",     // a dash elsewhere
        "3f0c9a4e-5b1d-4c8e-9f2g-7d6e5c4b3a21",     // not hex
        "gf0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21",     // not hex, first of the first group
        "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a-1",     // a dash for a digit, in the last group
        "3f0c9a4e-5b1d-4:8e-9f2a-7d6e5c4b3a21",     // the byte after '9', in the third
        "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a2\xff",  // a byte above 127
        "{3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a2}"}) {
    EXPECT_FALSE(PackUid(text).has_value()) << text;
  }
}

TEST(UidTest, PackedUidsOrderAsTheirText) {
  std::vector<std::string> texts = {
      "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21", "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a20",
      "a0000000-0000-0000-0000-000000000000", "90000000-0000-0000-0000-000000000000",
      "3f0c9a4e-5b1e-0000-0000-000000000000"};
  std::vector<PackedUid> packed;
  for (const std::string& t : texts) {
    packed.push_back(*PackUid(t));
  }
  std::sort(texts.begin(), texts.end());
  std::sort(packed.begin(), packed.end());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(UnpackUid(packed[i]), texts[i]);
  }
}

TEST(UidTest, AUidMapFindsPackedAndTextKeysByTheirText) {
  UidMap<int> map;
  const std::string uuid = "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21";
  EXPECT_EQ(map.Emplace(uuid, 1), 1);
  EXPECT_EQ(map.Emplace("pod-a", 2), 2);
  EXPECT_EQ(map.Emplace(uuid, 3), 1);  // present: kept
  EXPECT_EQ(map.size(), 2u);
  ASSERT_NE(map.Find(uuid), nullptr);
  EXPECT_EQ(*map.Find(uuid), 1);
  ASSERT_NE(map.Find("pod-a"), nullptr);
  EXPECT_EQ(*map.Find("pod-a"), 2);
  EXPECT_EQ(map.Find("3F0C9A4E-5B1D-4C8E-9F2A-7D6E5C4B3A21"), nullptr);  // another key
  EXPECT_EQ(map.Find("pod-b"), nullptr);
  *map.Find("pod-a") = 4;
  std::set<std::pair<std::string, int>> seen;
  map.ForEach([&](UidMap<int>::Key key, int value) { seen.insert({key.ToString(), value}); });
  EXPECT_EQ(seen, (std::set<std::pair<std::string, int>>{{uuid, 1}, {"pod-a", 4}}));
  map.Erase(uuid);
  map.Erase("pod-b");  // absent: nothing happens
  EXPECT_EQ(map.Find(uuid), nullptr);
  EXPECT_EQ(map.size(), 1u);
  map.Erase("pod-a");
  EXPECT_TRUE(map.empty());
}

TEST(UidTest, AUidHoldsACanonicalUuidPackedAndAnyOtherTextAsText) {
  const std::string uuid = "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21";
  const Uid packed = uuid;
  ASSERT_TRUE(packed.packed().has_value());
  EXPECT_EQ(packed.str(), uuid);
  EXPECT_EQ(packed, uuid);
  EXPECT_FALSE(packed.empty());
  const Uid text = "pod-a";
  EXPECT_FALSE(text.packed().has_value());
  EXPECT_EQ(text.text(), "pod-a");
  EXPECT_EQ(text.str(), "pod-a");
  EXPECT_TRUE(Uid().empty());
  EXPECT_EQ(Uid(), "");
  // Upper case is another text, not the same uid.
  EXPECT_NE(Uid("3F0C9A4E-5B1D-4C8E-9F2A-7D6E5C4B3A21"), packed);
  // The first 16 digits all f: held as text, so the form still follows from the text.
  const std::string marked = "ffffffff-ffff-ffff-0000-000000000001";
  EXPECT_FALSE(Uid(marked).packed().has_value());
  EXPECT_EQ(Uid(marked).str(), marked);
  EXPECT_EQ(Uid(marked), Uid(marked));
}

TEST(UidTest, UidsCopyMoveCompareAndHashAsTheirTexts) {
  const std::vector<std::string> texts = {"pod-b", "3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21",
                                          "00000000-0000-4000-8000-000000000001", "node:a100-0",
                                          "ffffffff-ffff-ffff-0000-000000000001"};
  std::vector<Uid> uids(texts.begin(), texts.end());
  std::vector<std::string> sorted = texts;
  std::sort(sorted.begin(), sorted.end());
  std::sort(uids.begin(), uids.end());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(uids[i].str(), sorted[i]);
  }
  Uid a = "pod-b";
  Uid b = a;
  Uid c = std::move(a);
  EXPECT_EQ(b, c);
  b = uids[0];
  EXPECT_EQ(b, uids[0]);
  c = Uid("00000000-0000-4000-8000-000000000002");
  EXPECT_TRUE(c.packed().has_value());
  absl::flat_hash_set<Uid> set(uids.begin(), uids.end());
  for (const std::string& t : texts) {
    EXPECT_TRUE(set.contains(Uid(t))) << t;
  }
  EXPECT_FALSE(set.contains(Uid("pod-c")));
}

TEST(UidTest, AUidMapFindsAUidAsItsText) {
  UidMap<int> map;
  map.Emplace("3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21", 1);
  map.Emplace(Uid("node:a100-0"), 2);
  map.Emplace(Uid("ffffffff-ffff-ffff-0000-000000000001"), 3);
  ASSERT_NE(map.Find(Uid("3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21")), nullptr);
  EXPECT_EQ(*map.Find(Uid("3f0c9a4e-5b1d-4c8e-9f2a-7d6e5c4b3a21")), 1);
  EXPECT_EQ(*map.Find("node:a100-0"), 2);
  EXPECT_EQ(*map.Find("ffffffff-ffff-ffff-0000-000000000001"), 3);
  map.Erase(Uid("ffffffff-ffff-ffff-0000-000000000001"));
  EXPECT_EQ(map.size(), 2u);
}

}  // namespace
}  // namespace bursar::values
