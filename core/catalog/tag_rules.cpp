#include "core/catalog/tag_rules.h"

#include <algorithm>

#include <fmt/format.h>

namespace datarefresh::catalog {
namespace {

// Whether the tag `e.tag` is dropped (mirrors TagRules). An accuracy string is trimmed of the
// whitespace both Python's float() and Elasticsearch (Java's String.trim()) trim: " \t\n\v\f\r".
// The numeric regex keeps a non-numeric accuracy string from aborting the statement with a cast
// error (it is treated as malformed instead; so are the forms only Python reads, "inf", "nan" and
// "4_2", which a float field refuses). An accuracy beyond float8's range compares as the catalog's
// Python float() reads it (1e400 as infinity: kept; -1e400 as -infinity and 1e-400 as 0: below
// the minimum) instead of failing the whole refresh with "out of range"; strings with exponents of
// 5 or more digits count as malformed. The COALESCE makes an unknown result keep the tag: a NULL must never drop one.
// Cheapest first: the accuracy's type is looked up once (a missing key gives NULL, matching no
// WHEN: kept), the provider list is tested before the provider's type, and the name is lowered
// once for one LIKE ANY over the exact and the contains entries (name_like_patterns()).
constexpr const char* kTagDropped = R"SQL(COALESCE(jsonb_typeof(e.tag) IS DISTINCT FROM 'object'
     OR jsonb_typeof(e.tag -> 'name') IS DISTINCT FROM 'string'
     OR CASE jsonb_typeof(e.tag -> 'accuracy')
          WHEN 'number' THEN {number} < $1
          WHEN 'string' THEN CASE
              WHEN {trimmed} ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{{1,4}})?$'
                THEN {string} < $1
              ELSE true END
          WHEN 'object' THEN true
          WHEN 'array' THEN true
          WHEN 'boolean' THEN true
          ELSE false
        END
     OR ((e.tag ->> 'provider') = ANY($2::text[]) AND jsonb_typeof(e.tag -> 'provider') = 'string')
     OR lower(e.tag ->> 'name') LIKE ANY($3::text[]), false))SQL";

// `value` (numeric) as float8, with magnitudes float8 cannot hold clamped to ones that compare the
// same with any minimum accuracy float8 can hold.
std::string as_float8(const std::string& value) {
  return fmt::format("(CASE WHEN abs({0}) < 1e-300 THEN 0 ELSE least(greatest({0}, -1e308), 1e308) END)::float8",
                     value);
}

// The accuracy string without the whitespace around it that Python and Java both trim (E'' escapes:
// space, tab, newline, vertical tab, form feed, carriage return).
constexpr const char* kTrimmedAccuracy = R"SQL(btrim(e.tag ->> 'accuracy', E' \t\n\x0b\x0c\r'))SQL";

std::string tag_dropped_sql() {
  return fmt::format(kTagDropped, fmt::arg("number", as_float8("(e.tag -> 'accuracy')::numeric")),
                     fmt::arg("trimmed", kTrimmedAccuracy),
                     fmt::arg("string", as_float8(std::string(kTrimmedAccuracy) + "::numeric")));
}

// Rows with up to this many dropped tags get their kept array by deleting the dropped elements by
// index (`jsonb - integer`, highest index first so the lower ones do not move); rows with more
// rebuild it with jsonb_agg. Both give the array without those elements, in their order. Rows with
// none (or whose tags are not an array, so have no ordinals) keep their tags as they are.
constexpr int kDeletesByIndex = 8;
std::string kept_tags_sql() {
  std::string sql = "CASE COALESCE(cardinality(c.dropped_ords), 0)\n      WHEN 0 THEN c.tags";
  for (int n = 1; n <= kDeletesByIndex; ++n) {
    std::string kept = "c.tags";
    for (int i = n; i >= 1; --i) kept = fmt::format("({} - (c.dropped_ords[{}] - 1)::integer)", kept, i);
    sql += fmt::format("\n      WHEN {} THEN {}", n, kept);
  }
  sql += R"SQL(
      ELSE (SELECT COALESCE(jsonb_agg(k.tag ORDER BY k.ord), '[]'::jsonb)
            FROM jsonb_array_elements(c.tags) WITH ORDINALITY AS k(tag, ord)
            WHERE k.ord <> ALL (c.dropped_ords))
    END)SQL";
  return sql;
}

}  // namespace

std::string tags_filtered_select_sql(const std::vector<std::string>& quoted_columns, const std::string& from_sql,
                                     const std::string& extra_sql) {
  // The inner query tests each tag of each array once, giving the row's ascending ordinals of
  // dropped tags (ORDER BY e.ord costs no sort: WITH ORDINALITY output is already in that order).
  // OFFSET 0 keeps it from being flattened into the outer query, which would evaluate the
  // ARRAY(...) again for the kept tags and for the count.
  std::string inner, outer, outer_extra;
  for (std::size_t i = 0; i < quoted_columns.size(); ++i) {
    const auto& col = quoted_columns[i];
    inner += fmt::format("{}u.{}", i ? ", " : "", col);
    outer += (i ? ", " : "") + (col == "\"tags\"" ? kept_tags_sql() : "c." + col);
  }
  if (!extra_sql.empty()) {
    inner += ", " + extra_sql + " AS extra";
    outer_extra = ", c.extra";
  }
  return fmt::format(R"SQL(SELECT {outer},
       NULLIF(COALESCE(cardinality(c.dropped_ords), 0), 0) AS tags_removed{outer_extra}
FROM (
  SELECT {inner},
         CASE WHEN jsonb_typeof(u.tags) = 'array' THEN
           ARRAY(SELECT e.ord
                 FROM jsonb_array_elements(u.tags) WITH ORDINALITY AS e(tag, ord)
                 WHERE {dropped}
                 ORDER BY e.ord)
         END AS dropped_ords
  FROM {from}
  OFFSET 0
) AS c)SQL",
                     fmt::arg("outer", outer), fmt::arg("outer_extra", outer_extra), fmt::arg("inner", inner), fmt::arg("dropped", tag_dropped_sql()),
                     fmt::arg("from", from_sql));
}

namespace {

// `s` as a LIKE pattern matching it literally (backslash is LIKE's default escape).
std::string like_literal(const std::string& s) {
  std::string p;
  for (char c : s) {
    if (c == '%' || c == '_' || c == '\\') p += '\\';
    p += c;
  }
  return p;
}

}  // namespace

std::vector<std::string> contains_like_patterns(const TagRules& rules) {
  std::vector<std::string> out;
  for (const auto& s : rules.contains_denylist) out.push_back('%' + like_literal(s) + '%');
  return out;
}

std::vector<std::string> name_like_patterns(const TagRules& rules) {
  const auto& contains = rules.contains_denylist;
  // `s` holds a contains entry other than the one at `self`: a name matching `s` (exactly, or
  // containing it) matches that entry too, so `s` adds nothing to the OR of all the rules.
  auto covered = [&](const std::string& s, std::size_t self) {
    for (std::size_t j = 0; j < contains.size(); ++j) {
      if (j == self) continue;
      const auto& c = contains[j];
      // Of two equal entries the first stays.
      if (c == s ? j < self : s.find(c) != std::string::npos) return true;
    }
    return false;
  };
  std::vector<std::string> out;
  for (const auto& e : rules.exact_denylist) {
    if (!covered(e, contains.size())) out.push_back(like_literal(e));
  }
  const auto contains_patterns = contains_like_patterns(rules);
  for (std::size_t i = 0; i < contains.size(); ++i) {
    if (!covered(contains[i], i)) out.push_back(contains_patterns[i]);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> tag_filter_params(const TagRules& rules) {
  return {fmt::format("{}", rules.min_accuracy), text_array_literal(rules.filtered_providers),
          text_array_literal(name_like_patterns(rules))};
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
