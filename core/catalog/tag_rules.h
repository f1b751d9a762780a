#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace datarefresh::catalog {

// The catalog's tag filter (spec §1.3). A tag is dropped when any rule holds:
//  - malformed: not an object, no `name`, or `name` not a string;
//  - it has an accuracy (present, not null) below min_accuracy; an accuracy that is not a number
//    (nor a string holding a decimal, with any of " \t\n\v\f\r" around it, which both Python's
//    float() and Elasticsearch trim) counts as malformed;
//  - its provider is one of filtered_providers (exact match);
//  - lower(name) is in exact_denylist;
//  - lower(name) contains any of contains_denylist.
// Kept tags keep their order. A row is rewritten only when at least one tag is dropped.
struct TagRules {
  double min_accuracy = 0.90;
  std::vector<std::string> filtered_providers = {"rekognition"};
  std::vector<std::string> exact_denylist = {"no person",  "squareformat", "uploaded:by=flickrmobile",
                                             "uploaded:by=instagram", "flickriosapp:filter=flamingo", "by"};
  std::vector<std::string> contains_denylist = {"flickriosapp", "uploaded", ":",       "=",        "cc0", "by-nc",
                                                "by-nd",        "by-sa",    "by-nc-nd", "by-nc-sa", "pdm"};
};

// The SELECT the copy inserts from, filtering tags on the way in so that no row is written twice:
// `quoted_columns` (quoted names, in the INSERT's column order, `"tags"` among them) read from
// `from_sql` (a FROM item aliased `u`, with any WHERE / ORDER BY / LIMIT after it), every tag of
// each `tags` array tested once and the dropped ones left out (the kept ones in order; tags that
// are not an array, or lose nothing, pass as they are), plus one last column `tags_removed`
// (integer): how many tags the row lost, NULL when none. Parameters: $1 min accuracy (float8),
// $2 filtered providers (text[]), $3 name patterns (text[], from name_like_patterns());
// tag_filter_params() builds them.
// With `extra_sql` (an expression over u's columns), its value follows as a last column, extra.
std::string tags_filtered_select_sql(const std::vector<std::string>& quoted_columns, const std::string& from_sql,
                                     const std::string& extra_sql = "");
std::vector<std::string> tag_filter_params(const TagRules& rules);

// LIKE patterns ('%' + escaped substring + '%') for the contains denylist.
std::vector<std::string> contains_like_patterns(const TagRules& rules);

// One LIKE pattern list for both name rules, matched against lower(name): each exact entry as a
// literal pattern and each contains entry as '%' + entry + '%', leaving out entries another
// contains entry already covers (an entry holding a contains entry, e.g. "uploaded:by=instagram"
// holding ":"), and duplicates. A name matches one of them exactly when it matches the two rules.
std::vector<std::string> name_like_patterns(const TagRules& rules);

// A PostgreSQL array literal ('{"a","b"}') for a text[] parameter.
std::string text_array_literal(const std::vector<std::string>& values);

}  // namespace datarefresh::catalog
