// The tag filter's SQL against a real PostgreSQL: hand-made tags covering every rule and edge
// case, and generated tags on which it must match the reference statement row for row.
#include <random>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/catalog/tag_rules.h"
#include "core/pg/connection.h"
#include "core/pg/database.h"
#include "devstack/postgres/local_postgres.h"

namespace datarefresh::catalog {
namespace {

using nlohmann::json;

// The first statement of the filter (an UPDATE after the copy): it expands every tag of the range,
// aggregates the kept ones back per row and joins them to the UPDATE by id. Kept as the reference
// semantics, verbatim but for the whitespace trimmed around accuracy strings (now what Python's
// float() and Elasticsearch both trim, spaces only before).
std::string reference_tag_filter_sql(const std::string& table) {
  return fmt::format(R"SQL(
WITH expanded AS (
  SELECT r.id, e.tag, e.ord,
    COALESCE(jsonb_typeof(e.tag) IS DISTINCT FROM 'object'
     OR jsonb_typeof(e.tag -> 'name') IS DISTINCT FROM 'string'
     OR (e.tag ? 'accuracy' AND jsonb_typeof(e.tag -> 'accuracy') <> 'null' AND (
           CASE
             WHEN jsonb_typeof(e.tag -> 'accuracy') = 'number' THEN (e.tag ->> 'accuracy')::float8 < $3
             WHEN jsonb_typeof(e.tag -> 'accuracy') = 'string'
                  AND btrim(e.tag ->> 'accuracy', E' \t\n\x0b\x0c\r') ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$'
               THEN btrim(e.tag ->> 'accuracy', E' \t\n\x0b\x0c\r')::float8 < $3
             ELSE true
           END))
     OR (jsonb_typeof(e.tag -> 'provider') IS NOT DISTINCT FROM 'string' AND (e.tag ->> 'provider') = ANY($4::text[]))
     OR lower(e.tag ->> 'name') = ANY($5::text[])
     OR lower(e.tag ->> 'name') LIKE ANY($6::text[]), false) AS dropped
  FROM {table} AS r
  CROSS JOIN LATERAL jsonb_array_elements(r.tags) WITH ORDINALITY AS e(tag, ord)
  WHERE r.id >= $1 AND r.id < $2 AND jsonb_typeof(r.tags) = 'array'
), changed AS (
  SELECT id,
         COALESCE(jsonb_agg(tag ORDER BY ord) FILTER (WHERE NOT dropped), '[]'::jsonb) AS kept,
         count(*) FILTER (WHERE dropped) AS removed
  FROM expanded
  GROUP BY id
  HAVING bool_or(dropped)
), updated AS (
  UPDATE {table} AS t
  SET tags = c.kept
  FROM changed AS c
  WHERE t.id = c.id
  RETURNING c.removed
)
SELECT count(*)::bigint AS rows_changed, COALESCE(sum(removed), 0)::bigint AS tags_removed FROM updated
)SQL",
                     fmt::arg("table", table));
}

// The reference statement's parameters: the two name lists apart, unpruned.
std::vector<pg::SqlParam> reference_params(std::int64_t id_start, std::int64_t id_end, const TagRules& rules) {
  return {std::to_string(id_start),
          std::to_string(id_end),
          fmt::format("{}", rules.min_accuracy),
          text_array_literal(rules.filtered_providers),
          text_array_literal(rules.exact_denylist),
          text_array_literal(contains_like_patterns(rules))};
}

struct Counts {
  std::int64_t rows_changed = 0;
  std::int64_t tags_removed = 0;
  bool operator==(const Counts&) const = default;
};

// Runs `sql` over [1, id_end) in batches of `batch` ids, as the planner does.
using ParamsFn = std::vector<pg::SqlParam> (*)(std::int64_t, std::int64_t, const TagRules&);
Counts run_batches(pg::Database& db, const std::string& sql, ParamsFn bind, std::int64_t id_end, std::int64_t batch,
                   const TagRules& rules) {
  Counts total;
  for (std::int64_t start = 1; start < id_end; start += batch) {
    auto rs = db.exec_params(sql, bind(start, std::min(start + batch, id_end), rules));
    total.rows_changed += std::stoll(*rs.rows[0][0]);
    total.tags_removed += std::stoll(*rs.rows[0][1]);
  }
  return total;
}

std::int64_t count_of(pg::Database& db, const std::string& sql) {
  return std::stoll(db.query_value(sql).value_or("-1"));
}

// Copies (id, tags) of `src` into a new table `dst` as the copy's parts do, filtering the tags on the
// way in; `dst.removed` is the number of tags each row lost (NULL: none, the row is as it was).
Counts filter_copy(pg::Database& db, const std::string& src, const std::string& dst, const TagRules& rules) {
  db.exec("DROP TABLE IF EXISTS " + dst);
  db.exec("CREATE TABLE " + dst + " (id integer PRIMARY KEY, tags jsonb, removed integer)");
  auto p = tag_filter_params(rules);
  auto rs = db.exec_params("WITH copied AS (INSERT INTO " + dst + " (id, tags, removed) " +
                               tags_filtered_select_sql({"\"id\"", "\"tags\""}, src + " AS u") +
                               " RETURNING removed) SELECT count(removed), COALESCE(sum(removed), 0) FROM copied",
                           {p.begin(), p.end()});
  return {std::stoll(*rs.rows[0][0]), std::stoll(*rs.rows[0][1])};
}

// A table whose trigger marks every row an UPDATE writes, so tests see which rows were rewritten.
void create_marked_table(pg::Database& db, const std::string& name) {
  db.exec("DROP TABLE IF EXISTS " + name);
  db.exec("CREATE TABLE " + name + " (id integer PRIMARY KEY, tags jsonb, touched boolean DEFAULT false)");
  db.exec("CREATE TRIGGER mark BEFORE UPDATE ON " + name + " FOR EACH ROW EXECUTE FUNCTION mark()");
}

class TagFilterSql : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    devpg::LocalPostgresOptions options;
    options.load_schemas = false;
    shared_server = devpg::LocalPostgres::start(options);
    auto db = connect();
    db.exec(
        "CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.touched := true; RETURN NEW; END $$");
  }
  static void TearDownTestSuite() { shared_server.reset(); }

  static pg::Database connect() {
    pg::ConnectionOptions o;
    o.dsn = shared_server->dsn("postgres");
    return pg::Database::connect(o);
  }

  inline static std::unique_ptr<devpg::LocalPostgres> shared_server;
};

struct Case {
  const char* tags;  // nullptr: SQL NULL
  const char* kept;  // nullptr: the row must not be rewritten
};

TEST_F(TagFilterSql, DropsExactlyTheTagsTheCatalogRulesDropAndCountsOnlyChangedRows) {
  auto db = connect();
  db.exec("DROP TABLE IF EXISTS t");
  db.exec("CREATE TABLE t (id integer PRIMARY KEY, tags jsonb)");
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
      // Case and whitespace: lower() before comparing; "by" is an exact match only.
      {R"([{"name": "SQUAREFORMAT"}, {"name": "Uploaded by me"}, {"name": "ÉTÉ"}, {"name": "Café"}])",
       R"([{"name": "ÉTÉ"}, {"name": "Café"}])"},
      {R"([{"name": "by"}, {"name": "By "}, {"name": " by"}, {"name": "bypass"}])",
       R"([{"name": "By "}, {"name": " by"}, {"name": "bypass"}])"},
      {R"([{"name": "a\"b"}, {"name": "c\\d"}, {"name": "line\nbreak"}, {"name": "x:y"}, {"name": "50%"}])",
       R"([{"name": "a\"b"}, {"name": "c\\d"}, {"name": "line\nbreak"}, {"name": "50%"}])"},
      // Accuracy strings: trimmed of what Python's float() and Elasticsearch both trim (" \t\n\v\f\r"),
      // numeric forms compared, anything else malformed.
      {R"([{"name": "a", "accuracy": " 0.5 "}, {"name": "b", "accuracy": " 0.95 "}, {"name": "c", "accuracy": "1e-1"},
          {"name": "d", "accuracy": "9.5e-1"}, {"name": "e", "accuracy": "0.9"}, {"name": "f", "accuracy": "\t0.95"}])",
       R"([{"name": "b", "accuracy": " 0.95 "}, {"name": "d", "accuracy": "9.5e-1"}, {"name": "e", "accuracy": "0.9"},
          {"name": "f", "accuracy": "\t0.95"}])"},
      {R"([{"name": "a", "accuracy": "0.95\n"}, {"name": "b", "accuracy": "\r\n0.99\u000b\f"}, {"name": "c", "accuracy": "0.5\n"},
          {"name": "d", "accuracy": "0.95\u001c"}, {"name": "e", "accuracy": "\u00a00.95"}, {"name": "f", "accuracy": "0.9_5"},
          {"name": "g", "accuracy": "inf"}, {"name": "h", "accuracy": "\n"}, {"name": "k"}])",
       R"([{"name": "a", "accuracy": "0.95\n"}, {"name": "b", "accuracy": "\r\n0.99\u000b\f"}, {"name": "k"}])"},
      {R"([{"name": "f", "accuracy": "NaN"}, {"name": "g", "accuracy": ""}, {"name": "h", "accuracy": true},
          {"name": "i", "accuracy": [0.95]}, {"name": "j", "accuracy": {"v": 1}}, {"name": "k", "accuracy": null},
          {"name": "l", "accuracy": 1}, {"name": "m", "accuracy": 0.8999999999}, {"name": "n", "accuracy": -1}])",
       R"([{"name": "k", "accuracy": null}, {"name": "l", "accuracy": 1}])"},
      // Providers: only a string equal to a filtered one.
      {R"([{"name": "a", "provider": ["rekognition"]}, {"name": "b", "provider": null}, {"name": "c", "provider": 5},
          {"name": "d", "provider": "Rekognition"}, {"name": "e", "provider": "rekognition "}, {"name": "f", "provider": "rekognition"}])",
       R"([{"name": "a", "provider": ["rekognition"]}, {"name": "b", "provider": null}, {"name": "c", "provider": 5},
          {"name": "d", "provider": "Rekognition"}, {"name": "e", "provider": "rekognition "}])"},
      // Elements that are not tags, and names that are not strings.
      {R"([null, [], [{"name": "x"}], {"name": null}, {"name": ["x"]}, {"Name": "x"}, {"name": ""}, 7, true])",
       R"([{"name": ""}])"},
      // Tags that are not an array are never touched.
      {R"({"name": "by"})", nullptr},
      {R"("by")", nullptr},
      {"5", nullptr},
      {nullptr, nullptr},
      // Many drops: more than the statement deletes by index, exactly as many, and duplicates.
      {R"([{"name": "by"}, {"name": "by"}, {"name": "k3"}, {"name": "by"}, {"name": "by"}, {"name": "k6"},
          {"name": "by"}, {"name": "by"}, {"name": "k9"}, {"name": "by"}, {"name": "by"}, {"name": "by"}])",
       R"([{"name": "k3"}, {"name": "k6"}, {"name": "k9"}])"},
      {R"([{"name": "a:1"}, {"name": "k2"}, {"name": "a:3"}, {"name": "a:4"}, {"name": "k5"}, {"name": "a:6"},
          {"name": "a:7"}, {"name": "a:8"}, {"name": "a:9"}, {"name": "k10"}, {"name": "a:11"}])",
       R"([{"name": "k2"}, {"name": "k5"}, {"name": "k10"}])"},
      {R"([{"name": "dup"}, {"name": "cc0"}, {"name": "dup"}, {"name": "cc0"}, {"name": "dup"}])",
       R"([{"name": "dup"}, {"name": "dup"}, {"name": "dup"}])"},
      {R"([{"name": "pdm"}, {"name": "PDM"}, {"name": "x=1"}, {"name": "by-sa"}, {"name": "=", "accuracy": 0.99}])",
       "[]"},
  };
  std::int64_t changed = 0, removed = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    pg::SqlParam tags = cases[i].tags ? pg::SqlParam(cases[i].tags) : std::nullopt;
    db.exec_params("INSERT INTO t (id, tags) VALUES ($1::int, $2::jsonb)", {std::to_string(i + 1), tags});
    if (cases[i].kept) {
      ++changed;
      removed += static_cast<std::int64_t>(json::parse(cases[i].tags).size() - json::parse(cases[i].kept).size());
    }
  }
  TagRules rules;
  EXPECT_EQ(filter_copy(db, "t", "out", rules), (Counts{changed, removed}));
  for (std::size_t i = 0; i < cases.size(); ++i) {
    auto row = db.exec_params("SELECT tags::text, removed IS NOT NULL FROM out WHERE id = $1::int",
                              {std::to_string(i + 1)});
    const auto& c = cases[i];
    EXPECT_EQ(*row.rows[0][1] == "t", c.kept != nullptr) << "row " << i + 1 << " " << (c.tags ? c.tags : "NULL");
    if (c.kept) {
      EXPECT_EQ(json::parse(*row.rows[0][0]), json::parse(c.kept)) << "row " << i + 1;
    } else if (c.tags) {
      EXPECT_EQ(json::parse(*row.rows[0][0]), json::parse(c.tags)) << "row " << i + 1;
    } else {
      EXPECT_FALSE(row.rows[0][0].has_value()) << "row " << i + 1;
    }
  }
  // Filtering its output again changes nothing: the filter is idempotent.
  EXPECT_EQ(filter_copy(db, "out", "again", rules), (Counts{0, 0}));
  EXPECT_EQ(count_of(db, "SELECT count(*) FROM out JOIN again USING (id) WHERE out.tags::text IS DISTINCT FROM "
                         "again.tags::text"),
            0);
}

// Tags a generator draws from: every rule, near misses of every rule, malformed elements,
// characters that need escaping, and Unicode whose lower() depends on the locale.
const std::vector<std::string>& tag_pool() {
  static const std::vector<std::string> pool = {R"({"name": "cat"})",
                                                R"({"name": "Dog", "accuracy": null})",
                                                R"({"name": "tree", "accuracy": 0.95, "provider": "clarifai"})",
                                                R"({"name": "x", "accuracy": 0.9})",
                                                R"({"name": "x", "accuracy": 0.89999999999999999})",
                                                R"({"name": "x", "accuracy": 0.90000000000000001})",
                                                R"({"name": "x", "accuracy": 0.8999999999999999})",
                                                R"({"name": "x", "accuracy": 1})",
                                                R"({"name": "x", "accuracy": 1e300})",
                                                R"({"name": "x", "accuracy": -1})",
                                                R"({"name": "x", "accuracy": 0})",
                                                R"({"name": "x", "accuracy": 0.5})",
                                                R"({"name": "x", "accuracy": "0.95"})",
                                                R"({"name": "x", "accuracy": " 0.5 "})",
                                                R"({"name": "x", "accuracy": "1e-1"})",
                                                R"({"name": "x", "accuracy": "abc"})",
                                                R"({"name": "x", "accuracy": "NaN"})",
                                                R"({"name": "x", "accuracy": "Infinity"})",
                                                R"({"name": "x", "accuracy": ""})",
                                                R"({"name": "x", "accuracy": true})",
                                                R"({"name": "x", "accuracy": [0.95]})",
                                                R"({"name": "x", "accuracy": {"v": 0.95}})",
                                                R"({"name": "x", "accuracy": "+.95"})",
                                                R"({"name": "x", "accuracy": "95."})",
                                                R"({"name": "x", "accuracy": "0.95e0 "})",
                                                R"({"name": "x", "accuracy": "0.95\n"})",
                                                R"({"name": "x", "accuracy": "\t0.5\r"})",
                                                R"({"name": "x", "accuracy": "\u000b0.95\f"})",
                                                R"({"name": "x", "accuracy": "0.95\u001f"})",
                                                R"({"name": "x", "accuracy": "0.95\u00a0"})",
                                                R"({"name": "x", "provider": "rekognition"})",
                                                R"({"name": "x", "provider": "Rekognition"})",
                                                R"({"name": "x", "provider": ["rekognition"]})",
                                                R"({"name": "x", "provider": null})",
                                                R"({"name": "x", "provider": 5})",
                                                R"({"name": "x", "provider": "rekognition "})",
                                                R"({"name": "cat", "provider": "rekognition", "accuracy": 0.95})",
                                                R"({"name": null})",
                                                R"({"name": 5})",
                                                R"({"name": ["cat"]})",
                                                R"({"name": {"a": "b"}})",
                                                R"({"name": true})",
                                                R"({})",
                                                R"({"accuracy": 0.99})",
                                                R"({"Name": "cat"})",
                                                R"("text")",
                                                R"(5)",
                                                R"(null)",
                                                R"(true)",
                                                R"([])",
                                                R"([{"name": "cat"}])",
                                                R"([[{"name": "cat"}]])",
                                                R"({"name": ""})",
                                                R"({"name": "BY"})",
                                                R"({"name": "by"})",
                                                R"({"name": " by"})",
                                                R"({"name": "baby"})",
                                                R"({"name": "By "})",
                                                R"({"name": "no person"})",
                                                R"({"name": "NO PERSON"})",
                                                R"({"name": "no  person"})",
                                                R"({"name": "SquareFormat"})",
                                                R"({"name": "uploaded:by=flickrmobile"})",
                                                R"({"name": "a:b"})",
                                                R"({"name": "a=b"})",
                                                R"({"name": "CC0"})",
                                                R"({"name": "xcc0x"})",
                                                R"({"name": "By-Nc-Nd"})",
                                                R"({"name": "PDM"})",
                                                R"({"name": "FLICKRIOSAPP"})",
                                                R"({"name": "flic\u212ariosapp"})",
                                                R"({"name": "\u212a"})",
                                                R"({"name": "\u0130"})",
                                                R"({"name": "b\u0130y"})",
                                                R"({"name": "ΑΣ"})",
                                                R"({"name": "σ"})",
                                                R"({"name": "ς"})",
                                                R"({"name": "a\nσ"})",
                                                R"({"name": "a\tΣ"})",
                                                R"({"name": "ß"})",
                                                R"({"name": "ẞ"})",
                                                R"({"name": "a\"b"})",
                                                R"({"name": "a\\b"})",
                                                R"({"name": "a%b"})",
                                                R"({"name": "a_b"})",
                                                R"({"name": "100%"})",
                                                R"({"name": "\"by\""})",
                                                R"({"name": "été"})",
                                                R"({"name": "ÉTÉ"})",
                                                R"({"name": "x", "name2": "by"})",
                                                R"({"name": "cat", "note": "cc0"})",
                                                R"({"name": "cat", "tags": [{"name": "by"}]})",
                                                R"({"name": "x", "accuracy": 1e-300})",
                                                R"({"name": "x", "accuracy": 9e-1})",
                                                R"({"name": "ﬀ"})",
                                                R"({"name": "Ǆ"})",
                                                R"({"name": "İstanbul"})",
                                                R"({"name": "\u0007"})"};
  return pool;
}

// Fills `table` with `rows` rows: NULL, non-array values, and arrays of 0-14 tags from the pool.
void fill_generated(pg::Database& db, const std::string& table, int rows, unsigned seed) {
  std::mt19937 rng(seed);
  const auto& pool = tag_pool();
  std::uniform_int_distribution<std::size_t> pick(0, pool.size() - 1);
  std::uniform_int_distribution<int> length(0, 14), kind(0, 19);
  for (int id = 1; id <= rows; ++id) {
    pg::SqlParam tags;
    int k = kind(rng);
    if (k == 0) {
      tags = std::nullopt;
    } else if (k == 1) {
      tags = pool[pick(rng)];  // not an array (or an array of one element when the pool entry is one)
    } else {
      std::string a = "[";
      for (int n = length(rng), i = 0; i < n; ++i) a += (i ? ", " : "") + pool[pick(rng)];
      tags = a + "]";
    }
    db.exec_params("INSERT INTO " + table + " (id, tags) VALUES ($1::int, $2::jsonb)", {std::to_string(id), tags});
  }
}

TEST_F(TagFilterSql, MatchesTheExpandAndAggregateStatementRowForRowOnGeneratedTags) {
  auto db = connect();
  TagRules other;  // non-default rules: Unicode, LIKE wildcards, quotes and backslashes in the lists
  other.min_accuracy = 0.5;
  other.filtered_providers = {"rekognition", "clarifai", "Rekognition"};
  other.exact_denylist = {"ß", "σ", "ς", "i̇", "a\"b", "a\\b", "100%", "a_b", "été", "\"by\"", ""};
  other.contains_denylist = {"%", "_", "\\", "\"", "ǆ", "k", "é", "\n"};
  const std::vector<std::pair<const char*, TagRules>> rule_sets = {{"default rules", TagRules{}},
                                                                   {"other rules", other}};
  constexpr int kRows = 3000;
  for (const auto& [label, rules] : rule_sets) {
    SCOPED_TRACE(label);
    create_marked_table(db, "ref");
    fill_generated(db, "ref", kRows, 7);
    db.exec("DROP TABLE IF EXISTS src");
    db.exec("CREATE TABLE src AS SELECT id, tags FROM ref");
    Counts expected = run_batches(db, reference_tag_filter_sql("\"ref\""), reference_params, kRows + 1, 250, rules);
    Counts actual = filter_copy(db, "src", "cur", rules);
    EXPECT_GT(expected.rows_changed, kRows / 3);
    EXPECT_LT(expected.rows_changed, kRows);
    EXPECT_EQ(actual, expected);
    // Same tags (as jsonb and as text: same elements in the same order), and the same rows changed.
    EXPECT_EQ(count_of(db,
                       "SELECT count(*) FROM (SELECT id, tags::text, touched FROM ref EXCEPT "
                       "SELECT id, tags::text, removed IS NOT NULL FROM cur) d"),
              0);
    EXPECT_EQ(count_of(db,
                       "SELECT count(*) FROM (SELECT id, tags::text, removed IS NOT NULL FROM cur EXCEPT "
                       "SELECT id, tags::text, touched FROM ref) d"),
              0);
    EXPECT_EQ(count_of(db, "SELECT count(*) FROM ref JOIN cur USING (id) WHERE ref.tags IS DISTINCT FROM cur.tags"), 0);
    EXPECT_EQ(count_of(db, "SELECT count(*) FROM cur"), kRows);
  }
}

TEST_F(TagFilterSql, AccuraciesBeyondFloat8CompareAsPythonReadsThemInsteadOfFailingTheRefresh) {
  // The statement it replaced failed the whole refresh with SQLSTATE 22003 on any of these. The
  // catalog's Python reads 1e400 as infinity (kept), -1e400 as -infinity and 1e-400 as 0 (dropped).
  auto db = connect();
  TagRules rules;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"([{"name": "x", "accuracy": 1e400}])", R"([{"name": "x", "accuracy": 1e400}])"},
      {R"([{"name": "by"}, {"name": "x", "accuracy": 1e400}])", R"([{"name": "x", "accuracy": 1e400}])"},
      {R"([{"name": "x", "accuracy": "1e400"}, {"name": "y", "accuracy": " 1E9999 "}])",
       R"([{"name": "x", "accuracy": "1e400"}, {"name": "y", "accuracy": " 1E9999 "}])"},
      {R"([{"name": "x", "accuracy": -1e400}, {"name": "k"}])", R"([{"name": "k"}])"},
      {R"([{"name": "x", "accuracy": 1e-400}, {"name": "k"}])", R"([{"name": "k"}])"},
      {R"([{"name": "x", "accuracy": "-1e400"}, {"name": "y", "accuracy": "1e-9999"}, {"name": "k"}])",
       R"([{"name": "k"}])"},
      // In range: exactly as a float8 cast (0.89999999999999999 is 0.9 as a double).
      {R"([{"name": "x", "accuracy": 0.89999999999999999}, {"name": "y", "accuracy": 0.8999999999999999}])",
       R"([{"name": "x", "accuracy": 0.89999999999999999}])"},
      {R"([{"name": "x", "accuracy": 1e-310}, {"name": "y", "accuracy": 1e308}])",
       R"([{"name": "y", "accuracy": 1e308}])"},
      // An exponent of five digits or more in a string counts as malformed.
      {R"([{"name": "x", "accuracy": "1e10000"}, {"name": "k"}])", R"([{"name": "k"}])"},
  };
  for (const auto& [tags, kept] : cases) {
    SCOPED_TRACE(tags);
    db.exec("DROP TABLE IF EXISTS f");
    db.exec("CREATE TABLE f (id integer PRIMARY KEY, tags jsonb)");
    db.exec_params("INSERT INTO f (id, tags) VALUES (1, $1::jsonb)", {tags});
    ASSERT_NO_THROW(filter_copy(db, "f", "g", rules));
    EXPECT_EQ(db.query_value("SELECT tags = $1::jsonb FROM g", {kept}), "t")
        << db.query_value("SELECT tags::text FROM g").value_or("NULL");
  }
}

}  // namespace
}  // namespace datarefresh::catalog

namespace datarefresh::catalog {
namespace {

TEST(NameLikePatterns, LeaveOutEntriesAContainsEntryCoversAndEscapeWildcards) {
  TagRules rules;
  // "uploaded:by=…" and "flickriosapp:filter=flamingo" hold ":"; "by-nc-nd" and "by-nc-sa" hold "by-nc".
  EXPECT_EQ(name_like_patterns(rules),
            (std::vector<std::string>{"%:%", "%=%", "%by-nc%", "%by-nd%", "%by-sa%", "%cc0%", "%flickriosapp%",
                                      "%pdm%", "%uploaded%", "by", "no person", "squareformat"}));
  rules.exact_denylist = {"100%", "a_b", "x\\y", "same", ""};
  rules.contains_denylist = {"dup", "dup", "same"};
  EXPECT_EQ(name_like_patterns(rules), (std::vector<std::string>{"", "%dup%", "%same%", "100\\%", "a\\_b", "x\\\\y"}));
  rules.contains_denylist = {"", "abc"};  // "" is in every name: it covers everything else
  EXPECT_EQ(name_like_patterns(rules), (std::vector<std::string>{"%%"}));
}

}  // namespace
}  // namespace datarefresh::catalog
