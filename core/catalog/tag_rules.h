#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace datarefresh::catalog {

// The catalog's tag filter (spec §1.3). A tag is dropped when any rule holds:
//  - malformed: not an object, no `name`, or `name` not a string;
//  - it has an accuracy (present, not null) below min_accuracy; an accuracy that is not a number
//    (nor a string holding one) counts as malformed;
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

// The SQL that filters the tags of one id range [$1, $2) of `qualified_table` (already quoted)
// in one statement: it tests every tag of the range once, writes only the rows that change (their
// kept tags, in order) and returns one row (rows_changed bigint, tags_removed bigint). Changed rows
// are updated by ctid (the row versions the statement read), which holds because the planner's
// batches are disjoint id ranges and nothing else writes the temp table meanwhile. Parameters:
// $1 id_start, $2 id_end, $3 min accuracy (float8), $4 filtered providers (text[]),
// $5 name patterns (text[], from name_like_patterns()); tag_filter_params() builds them.
std::string tag_filter_sql(const std::string& qualified_table);
std::vector<std::string> tag_filter_params(std::int64_t id_start, std::int64_t id_end, const TagRules& rules);

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
