#include "devstack/devsearch/id_set.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace datarefresh::devsearch {
namespace {

std::set<std::string> members(const IdSet& ids) {
  std::set<std::string> out;
  ids.for_each([&](std::string_view id) { out.emplace(id); });
  return out;
}

TEST(IdSet, InsertsEachIdOnceAndFindsIt) {
  IdSet ids;
  EXPECT_FALSE(ids.contains("a"));
  EXPECT_TRUE(ids.insert("a"));
  EXPECT_FALSE(ids.insert("a"));
  EXPECT_TRUE(ids.insert(""));
  EXPECT_TRUE(ids.insert("ab"));
  EXPECT_TRUE(ids.contains("a"));
  EXPECT_TRUE(ids.contains(""));
  EXPECT_FALSE(ids.contains("b"));
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(members(ids), (std::set<std::string>{"", "a", "ab"}));
}

TEST(IdSet, ErasedIdsAreGoneAndCanComeBack) {
  IdSet ids;
  EXPECT_FALSE(ids.erase("x"));
  ids.insert("x");
  ids.insert("y");
  EXPECT_TRUE(ids.erase("x"));
  EXPECT_FALSE(ids.erase("x"));
  EXPECT_FALSE(ids.contains("x"));
  EXPECT_TRUE(ids.contains("y"));
  EXPECT_TRUE(ids.insert("x"));
  EXPECT_EQ(ids.size(), 2u);
  EXPECT_EQ(members(ids), (std::set<std::string>{"x", "y"}));
}

// Many ids through growth, with erasures between: the set agrees with std::set at every step.
TEST(IdSet, AgreesWithAnOrderedSetThroughGrowthAndErasure) {
  IdSet ids;
  std::set<std::string> expected;
  for (int i = 0; i < 20000; ++i) {
    std::string id = "doc-" + std::to_string(i * 7919 % 10007);
    EXPECT_EQ(ids.insert(id), expected.insert(id).second) << id;
    if (i % 3 == 0) {
      std::string gone = "doc-" + std::to_string(i % 10007);
      EXPECT_EQ(ids.erase(gone), expected.erase(gone) == 1) << gone;
    }
  }
  EXPECT_EQ(ids.size(), expected.size());
  EXPECT_EQ(members(ids), expected);
  for (int i = 0; i < 10007; ++i) {
    std::string id = "doc-" + std::to_string(i);
    EXPECT_EQ(ids.contains(id), expected.count(id) == 1) << id;
  }
}

}  // namespace
}  // namespace datarefresh::devsearch
