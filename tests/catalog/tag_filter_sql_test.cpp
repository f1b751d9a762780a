// The tag filter's SQL against a real PostgreSQL, on hand-made tags covering every rule.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/catalog/tag_rules.h"
#include "core/pg/database.h"
#include "devstack/postgres/local_postgres.h"

namespace datarefresh::catalog {
namespace {

using nlohmann::json;

struct Case {
  const char* tags;
  const char* kept;  // nullptr: the row must not be rewritten
};

TEST(TagFilterSql, DropsExactlyTheTagsTheCatalogRulesDropAndRewritesOnlyChangedRows) {
  devpg::LocalPostgresOptions options;
  options.load_schemas = false;
  auto server = devpg::LocalPostgres::start(options);
  pg::ConnectionOptions o;
  o.dsn = server->dsn("postgres");
  auto db = pg::Database::connect(o);
  db.exec("CREATE TABLE t (id integer PRIMARY KEY, tags jsonb, touched boolean DEFAULT false)");
  db.exec("CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := true; RETURN NEW; END $$");
  db.exec("CREATE TRIGGER mark BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION mark()");
  const std::vector<Case> cases = {
      {R"([{"name": "cat"}, {"name": "dog", "accuracy": null}])", nullptr},
      {R"([{"name": "cat", "accuracy": 0.95, "provider": "clarifai"}, {"name": "dog", "accuracy": 0.5}])",
       R"([{"name": "cat", "accuracy": 0.95, "provider": "clarifai"}])"},
      {R"([{"name": "tree", "accuracy": 0.99, "provider": "rekognition"}, {"name": "sky"}])", R"([{"name": "sky"}])"},
      {R"([{"name": "No Person"}, {"name": "BY"}, {"name": "baby"}, {"name": "hobby"}])",
       R"([{"name": "baby"}, {"name": "hobby"}])"},
      {R"([{"name": "uploaded:by=flickrmobile"}, {"name": "CC0 licence"}, {"name": "by-nc 2.0"}, {"name": "a=b"}, {"name": "x"}])",
       R"([{"name": "x"}])"},
      {R"([{"accuracy": 0.99}, {"name": 5}, "text", {"name": "ok"}])", R"([{"name": "ok"}])"},
      {R"([{"name": "edge", "accuracy": 0.9}, {"name": "low", "accuracy": "0.3"}, {"name": "bad", "accuracy": "abc"}])",
       R"([{"name": "edge", "accuracy": 0.9}])"},
      {R"([{"name": "squareformat"}])", "[]"},
      {"[]", nullptr},
      {"null", nullptr},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    db.exec_params("INSERT INTO t (id, tags) VALUES ($1::int, $2::jsonb)", {std::to_string(i + 1), std::string(cases[i].tags)});
  }
  TagRules rules;
  auto rs = db.exec_params(tag_filter_sql("\"t\""),
                           {"1", std::to_string(cases.size() + 1), "0.9", text_array_literal(rules.filtered_providers),
                            text_array_literal(rules.exact_denylist), text_array_literal(contains_like_patterns(rules))});
  std::int64_t changed = 0;
  for (const auto& c : cases) changed += c.kept ? 1 : 0;
  EXPECT_EQ(std::stoll(*rs.rows[0][0]), changed);
  EXPECT_EQ(std::stoll(*rs.rows[0][1]), 1 + 1 + 2 + 4 + 3 + 2 + 1);
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto row = db.exec_params("SELECT tags::text, touched FROM t WHERE id = $1::int", {std::to_string(i + 1)});
    const auto& c = cases[i];
    EXPECT_EQ(*row.rows[0][1] == "t", c.kept != nullptr) << "row " << i + 1 << " " << c.tags;
    if (c.kept) {
      EXPECT_EQ(json::parse(*row.rows[0][0]), json::parse(c.kept)) << "row " << i + 1;
    }
  }
  // Running it again changes nothing: the filter is idempotent.
  auto again = db.exec_params(tag_filter_sql("\"t\""),
                              {"1", std::to_string(cases.size() + 1), "0.9", text_array_literal(rules.filtered_providers),
                               text_array_literal(rules.exact_denylist), text_array_literal(contains_like_patterns(rules))});
  EXPECT_EQ(*again.rows[0][0], "0");
}

}  // namespace
}  // namespace datarefresh::catalog
