#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devstack/devsearch/analysis.h"
#include "devstack/devsearch/mapping.h"

namespace datarefresh::devsearch {

// Throws ApiError 400 (parsing_exception) for a query devsearch does not know, as Elasticsearch
// does for unknown query types. Supported: match_all, match_none, term, terms, ids, exists,
// match (OR of analysed tokens), bool (must, filter, must_not, should, minimum_should_match).
void validate_query(const nlohmann::json& query);

// Whether the document matches. `term`/`terms` compare the query value with the indexed form of
// the field: analysed tokens for text, the exact string for keyword (ignore_above respected),
// numbers numerically, dates as epoch millis. Unmapped fields match nothing.
bool query_matches(const nlohmann::json& query, const Mapping& mapping, const std::map<std::string, Analyzer>& analyzers,
                   const std::string& id, const nlohmann::json& source);

// Values of a mapped field in a source (arrays flattened), as the sort key for the field:
// numbers (dates as millis) or strings. Null when the document has no value.
nlohmann::json sort_value(const Mapping& mapping, const std::string& field, const nlohmann::json& source, bool descending);

// A terms aggregation on `field`: throws the ApiError Elasticsearch answers for a field it cannot
// aggregate on (400 search_phase_execution_exception caused by illegal_argument_exception for a
// text field). devsearch aggregates keyword, numeric and boolean fields; an unmapped field has no
// values. Returns whether the field is mapped.
bool check_terms_field(const Mapping& mapping, const std::string& field);
// The distinct bucket keys one document gives a terms aggregation on `field` (checked above):
// strings for keyword (values longer than ignore_above are not indexed), numbers otherwise
// (booleans as 0/1). Empty when the document has no indexed value.
std::vector<nlohmann::json> terms_keys(const Mapping& mapping, const std::string& field, const nlohmann::json& source);

}  // namespace datarefresh::devsearch
