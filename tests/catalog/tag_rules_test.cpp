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

TEST(TagFilterSql, UpdatesOnlyTheGivenTableAndRange) {
  auto sql = tag_filter_sql("\"public\".\"temp_import_image\"");
  EXPECT_NE(sql.find("UPDATE \"public\".\"temp_import_image\" AS t"), std::string::npos);
  EXPECT_NE(sql.find("FROM \"public\".\"temp_import_image\" AS r"), std::string::npos);
  EXPECT_NE(sql.find("r.id >= $1 AND r.id < $2"), std::string::npos);
  EXPECT_NE(sql.find("t.ctid = c.row_tid"), std::string::npos);
}

TEST(TagFilterSql, DeletesUpToEightTagsByIndexHighestFirstAndRebuildsBeyond) {
  auto sql = tag_filter_sql("\"t\"");
  EXPECT_NE(sql.find("WHEN 2 THEN ((c.tags - (c.dropped_ords[2] - 1)::integer) - (c.dropped_ords[1] - 1)::integer)"),
            std::string::npos);
  EXPECT_NE(sql.find("WHEN 8 THEN"), std::string::npos);
  EXPECT_EQ(sql.find("WHEN 9 THEN"), std::string::npos);
  EXPECT_NE(sql.find("ELSE (SELECT COALESCE(jsonb_agg(k.tag ORDER BY k.ord), '[]'::jsonb)"), std::string::npos);
}

}  // namespace
}  // namespace datarefresh::catalog
