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
  EXPECT_NE(sql.find("UPDATE \"public\".\"temp_import_image\""), std::string::npos);
  EXPECT_NE(sql.find("r.id >= $1 AND r.id < $2"), std::string::npos);
  EXPECT_NE(sql.find("HAVING bool_or(dropped)"), std::string::npos);
}

}  // namespace
}  // namespace datarefresh::catalog
