#include "core/catalog/tag_rules.h"

namespace datarefresh::catalog {

std::string tag_filter_sql(const std::string& qualified_table) {
  // `dropped` mirrors TagRules; the numeric regex keeps a non-numeric accuracy string from
  // aborting the statement with a cast error (it is treated as malformed instead). Every test
  // must be null-safe: a NULL here would silently drop the tag from the kept list.
  return R"SQL(
WITH expanded AS (
  SELECT r.id, e.tag, e.ord,
    COALESCE(jsonb_typeof(e.tag) IS DISTINCT FROM 'object'
     OR jsonb_typeof(e.tag -> 'name') IS DISTINCT FROM 'string'
     OR (e.tag ? 'accuracy' AND jsonb_typeof(e.tag -> 'accuracy') <> 'null' AND (
           CASE
             WHEN jsonb_typeof(e.tag -> 'accuracy') = 'number' THEN (e.tag ->> 'accuracy')::float8 < $3
             WHEN jsonb_typeof(e.tag -> 'accuracy') = 'string'
                  AND btrim(e.tag ->> 'accuracy') ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$'
               THEN btrim(e.tag ->> 'accuracy')::float8 < $3
             ELSE true
           END))
     OR (jsonb_typeof(e.tag -> 'provider') IS NOT DISTINCT FROM 'string' AND (e.tag ->> 'provider') = ANY($4::text[]))
     OR lower(e.tag ->> 'name') = ANY($5::text[])
     OR lower(e.tag ->> 'name') LIKE ANY($6::text[]), false) AS dropped
  FROM )SQL" + qualified_table + R"SQL( AS r
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
  UPDATE )SQL" + qualified_table + R"SQL( AS t
  SET tags = c.kept
  FROM changed AS c
  WHERE t.id = c.id
  RETURNING c.removed
)
SELECT count(*)::bigint AS rows_changed, COALESCE(sum(removed), 0)::bigint AS tags_removed FROM updated
)SQL";
}

std::vector<std::string> contains_like_patterns(const TagRules& rules) {
  std::vector<std::string> out;
  for (const auto& s : rules.contains_denylist) {
    std::string p = "%";
    for (char c : s) {
      if (c == '%' || c == '_' || c == '\\') p += '\\';
      p += c;
    }
    p += '%';
    out.push_back(std::move(p));
  }
  return out;
}

std::string text_array_literal(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

}  // namespace datarefresh::catalog
