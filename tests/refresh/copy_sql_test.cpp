#include "producer/copy_sql.h"

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::planner {
namespace {

TableCopy image_copy(std::optional<std::int64_t> limit = std::nullopt) {
  return {pg::Identifier("image"), pg::Identifier("image"), true, limit, pg::Identifier("datarefresh_fdw_abc"),
          pg::Identifier("datarefresh_upstream_abc_image"), true};
}

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + ";\n";
  return s;
}

TEST(SharedColumns, KeepsTheApiOrderAndNeverCopiesId) {
  auto cols = shared_columns({"title", "identifier", "url", "only_upstream"}, {"id", "identifier", "title", "only_api"});
  ASSERT_EQ(cols.size(), 2u);
  EXPECT_EQ(cols[0].name(), "identifier");
  EXPECT_EQ(cols[1].name(), "title");
}

TEST(CopyPlan, CopiesOnlyTheSharedColumnsSkippingDeletedMediaWithAFreshSequence) {
  auto plan = copy_plan(image_copy(), {"upstream.example", 5432, "openledger", "deploy", "pw'x"},
                        {pg::Identifier("identifier"), pg::Identifier("title")}, 1, false);
  auto setup = joined(plan.setup);
  EXPECT_NE(setup.find("CREATE TABLE \"temp_import_image\" (LIKE \"image\" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
            std::string::npos);
  EXPECT_NE(setup.find("CREATE SEQUENCE \"temp_import_image_id_seq\""), std::string::npos);
  EXPECT_NE(setup.find("password 'pw''x'"), std::string::npos) << "literals are quoted";
  EXPECT_NE(setup.find("fetch_size '10000'"), std::string::npos);
  EXPECT_EQ(setup.find("INSERT"), std::string::npos);
  EXPECT_EQ(setup.find(kTagsRemovedColumn), std::string::npos) << "no filter, no count column";
  ASSERT_EQ(plan.parts.size(), 1u);
  EXPECT_FALSE(plan.filters_tags);
  EXPECT_NE(plan.parts[0].find("INSERT INTO \"temp_import_image\" (\"identifier\", \"title\") SELECT u.\"identifier\", "
                               "u.\"title\" FROM \"datarefresh_upstream_abc_image\".\"image\" AS u WHERE NOT EXISTS "
                               "(SELECT FROM \"api_deletedimage\" AS d WHERE d.identifier = u.identifier)"),
            std::string::npos)
      << plan.parts[0];
  EXPECT_EQ(plan.parts[0].find("ORDER BY"), std::string::npos) << "no row limit, no ordering";
  EXPECT_EQ(plan.parts[0].find("u.identifier <"), std::string::npos) << "one part, no range";
  // The primary key comes after the insert, so the load does not maintain an index.
  EXPECT_EQ(joined(plan.finish), "ALTER TABLE \"temp_import_image\" ADD PRIMARY KEY (id);\n");
}

TEST(CopyPlan, PartsSplitTheIdentifiersIntoRangesThatCoverTheUuidSpaceOnce) {
  auto plan = copy_plan(image_copy(), {}, {pg::Identifier("identifier"), pg::Identifier("tags")}, 3, false);
  ASSERT_EQ(plan.parts.size(), 3u);
  EXPECT_EQ(uuid_split_point(1, 3), "55555555-0000-0000-0000-000000000000");
  EXPECT_EQ(uuid_split_point(2, 3), "aaaaaaaa-0000-0000-0000-000000000000");
  EXPECT_EQ(uuid_split_point(1, 2), "80000000-0000-0000-0000-000000000000");
  EXPECT_NE(plan.parts[0].find("WHERE (u.identifier < '55555555-0000-0000-0000-000000000000'::uuid OR u.identifier "
                               "IS NULL) AND NOT EXISTS"),
            std::string::npos)
      << plan.parts[0];
  EXPECT_EQ(plan.parts[0].find("u.identifier >="), std::string::npos) << "the first part has no lower bound";
  EXPECT_NE(plan.parts[1].find("WHERE u.identifier >= '55555555-0000-0000-0000-000000000000'::uuid AND "
                               "u.identifier < 'aaaaaaaa-0000-0000-0000-000000000000'::uuid AND NOT EXISTS"),
            std::string::npos)
      << plan.parts[1];
  EXPECT_NE(plan.parts[2].find("WHERE u.identifier >= 'aaaaaaaa-0000-0000-0000-000000000000'::uuid AND NOT EXISTS"),
            std::string::npos)
      << plan.parts[2];
  EXPECT_EQ(plan.parts[2].find("u.identifier <"), std::string::npos) << "the last part has no upper bound";
  for (const auto& part : plan.parts) {
    EXPECT_EQ(part.rfind("WITH copied AS (INSERT INTO \"temp_import_image\"", 0), 0u) << part;
    EXPECT_NE(part.find("SELECT count(*)::bigint, count(removed)::bigint, COALESCE(sum(removed), 0)::bigint"),
              std::string::npos);
  }
}

TEST(CopyPlan, AnIdentifierThatIsNotAUuidIsCopiedInOnePart) {
  auto copy = image_copy();
  copy.identifier_is_uuid = false;
  auto plan = copy_plan(copy, {}, {pg::Identifier("identifier"), pg::Identifier("tags")}, 4, false);
  ASSERT_EQ(plan.parts.size(), 1u);
  EXPECT_EQ(plan.parts[0].find("u.identifier <"), std::string::npos);
}

TEST(CopyPlan, FilteringTagsWritesTheirCountToAColumnDroppedBeforeThePrimaryKey) {
  auto plan = copy_plan(image_copy(), {}, {pg::Identifier("identifier"), pg::Identifier("tags")}, 2, true);
  EXPECT_TRUE(plan.filters_tags);
  EXPECT_NE(joined(plan.setup).find("ADD COLUMN \"datarefresh_tags_removed\" integer"), std::string::npos);
  ASSERT_EQ(plan.parts.size(), 2u);
  EXPECT_NE(plan.parts[0].find("INSERT INTO \"temp_import_image\" (\"identifier\", \"tags\", "
                               "\"datarefresh_tags_removed\") SELECT c.\"identifier\", CASE"),
            std::string::npos)
      << plan.parts[0];
  EXPECT_NE(plan.parts[0].find("RETURNING \"datarefresh_tags_removed\" AS removed"), std::string::npos);
  EXPECT_EQ(joined(plan.finish),
            "ALTER TABLE \"temp_import_image\" DROP COLUMN \"datarefresh_tags_removed\";\n"
            "ALTER TABLE \"temp_import_image\" ADD PRIMARY KEY (id);\n");
  EXPECT_THROW(copy_plan(image_copy(), {}, {pg::Identifier("identifier")}, 2, true), ConfigError)
      << "no tags column to filter";
}

TEST(CopyPlan, ARowLimitOrdersByIdentifierInOnePart) {
  auto plan = copy_plan(image_copy(100), {}, {pg::Identifier("identifier"), pg::Identifier("tags")}, 4, true);
  ASSERT_EQ(plan.parts.size(), 1u);
  EXPECT_NE(plan.parts[0].find("ORDER BY u.identifier LIMIT 100"), std::string::npos);
  EXPECT_EQ(plan.parts[0].find("u.identifier <"), std::string::npos);
}

TEST(CopyPlan, RefusesCopiesThatCannotWork) {
  EXPECT_THROW(copy_plan(image_copy(), {}, {}, 1, false), ConfigError);
  EXPECT_THROW(copy_plan(image_copy(), {}, {pg::Identifier("title")}, 1, false), ConfigError)
      << "the advanced copy needs identifier to skip deleted media";
}

}  // namespace
}  // namespace datarefresh::planner
