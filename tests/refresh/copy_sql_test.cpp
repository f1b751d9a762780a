#include "producer/copy_sql.h"

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::planner {
namespace {

TableCopy image_copy(std::optional<std::int64_t> limit = std::nullopt) {
  return {pg::Identifier("image"), pg::Identifier("image"), true, limit, pg::Identifier("datarefresh_fdw_abc"),
          pg::Identifier("datarefresh_upstream_abc_image")};
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

TEST(CopyStatements, CopyOnlyTheSharedColumnsSkippingDeletedMediaWithAFreshSequence) {
  auto sql = joined(copy_statements(image_copy(), {"upstream.example", 5432, "openledger", "deploy", "pw'x"},
                                    {pg::Identifier("identifier"), pg::Identifier("title")}));
  EXPECT_NE(sql.find("CREATE TABLE \"temp_import_image\" (LIKE \"image\" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"),
            std::string::npos);
  EXPECT_NE(sql.find("INSERT INTO \"temp_import_image\" (\"identifier\", \"title\") SELECT u.\"identifier\", u.\"title\" "
                     "FROM \"datarefresh_upstream_abc_image\".\"image\" AS u WHERE NOT EXISTS (SELECT FROM "
                     "\"api_deletedimage\" AS d WHERE d.identifier = u.identifier)"),
            std::string::npos)
      << sql;
  EXPECT_NE(sql.find("CREATE SEQUENCE \"temp_import_image_id_seq\""), std::string::npos);
  EXPECT_NE(sql.find("password 'pw''x'"), std::string::npos) << "literals are quoted";
  EXPECT_NE(sql.find("fetch_size '10000'"), std::string::npos);
  // The primary key comes after the insert, so the load does not maintain an index.
  EXPECT_LT(sql.find("INSERT INTO"), sql.find("ADD PRIMARY KEY (id)"));
  EXPECT_EQ(sql.find("ORDER BY"), std::string::npos) << "no row limit, no ordering";
}

TEST(CopyStatements, ARowLimitOrdersByIdentifier) {
  auto sql = joined(copy_statements(image_copy(100), {}, {pg::Identifier("identifier")}));
  EXPECT_NE(sql.find("ORDER BY u.identifier LIMIT 100"), std::string::npos);
}

TEST(CopyStatements, RefusesCopiesThatCannotWork) {
  EXPECT_THROW(copy_statements(image_copy(), {}, {}), ConfigError);
  EXPECT_THROW(copy_statements(image_copy(), {}, {pg::Identifier("title")}), ConfigError)
      << "the advanced copy needs identifier to skip deleted media";
}

}  // namespace
}  // namespace datarefresh::planner
