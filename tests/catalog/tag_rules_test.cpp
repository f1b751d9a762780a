#include "core/catalog/tag_rules.h"

#include <gtest/gtest.h>

namespace datarefresh::catalog {
namespace {

TEST(TagRules, DefaultsAreTheCatalogsLists) {
  TagRules rules;
  EXPECT_DOUBLE_EQ(rules.min_accuracy, 0.90);
  EXPECT_EQ(rules.filtered_providers, std::vector<std::string>{"rekognition"});
  EXPECT_EQ(rules.exact_denylist.size(), 6u);
  EXPECT_EQ(rules.exact_denylist.back(), "by");
  EXPECT_EQ(rules.contains_denylist.size(), 11u);
}

TEST(ContainsLikePatterns, WrapsAndEscapesLikeWildcards) {
  TagRules rules;
  rules.contains_denylist = {"cc0", "50%", "a_b", "x\\y"};
  EXPECT_EQ(contains_like_patterns(rules), (std::vector<std::string>{"%cc0%", "%50\\%%", "%a\\_b%", "%x\\\\y%"}));
}

TEST(TextArrayLiteral, QuotesEveryElement) {
  EXPECT_EQ(text_array_literal({"no person", "a\"b", "c\\d"}), R"({"no person","a\"b","c\\d"})");
  EXPECT_EQ(text_array_literal({}), "{}");
}

TEST(TagsFilteredSelectSql, ReadsTheSourceOnceAndReplacesOnlyTheTagsColumn) {
  auto sql = tags_filtered_select_sql({"\"id\"", "\"tags\"", "\"title\""}, "\"s\".\"image\" AS u WHERE u.id > 0");
  EXPECT_EQ(sql.rfind("SELECT c.\"id\", CASE COALESCE(cardinality(c.dropped_ords), 0)\n      WHEN 0 THEN c.tags", 0),
            0u)
      << sql;
  EXPECT_NE(sql.find("END, c.\"title\",\n       NULLIF(COALESCE(cardinality(c.dropped_ords), 0), 0) AS tags_removed"),
            std::string::npos)
      << sql;
  EXPECT_NE(sql.find("SELECT u.\"id\", u.\"tags\", u.\"title\","), std::string::npos);
  EXPECT_NE(sql.find("FROM \"s\".\"image\" AS u WHERE u.id > 0\n  OFFSET 0"), std::string::npos) << sql;
}

TEST(TagsFilteredSelectSql, DeletesUpToEightTagsByIndexHighestFirstAndRebuildsBeyond) {
  auto sql = tags_filtered_select_sql({"\"tags\""}, "t AS u");
  EXPECT_NE(sql.find("WHEN 2 THEN ((c.tags - (c.dropped_ords[2] - 1)::integer) - (c.dropped_ords[1] - 1)::integer)"),
            std::string::npos);
  EXPECT_NE(sql.find("WHEN 8 THEN"), std::string::npos);
  EXPECT_EQ(sql.find("WHEN 9 THEN"), std::string::npos);
  EXPECT_NE(sql.find("ELSE (SELECT COALESCE(jsonb_agg(k.tag ORDER BY k.ord), '[]'::jsonb)"), std::string::npos);
}

}  // namespace
}  // namespace datarefresh::catalog
