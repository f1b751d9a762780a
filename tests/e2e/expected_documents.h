#pragma once

// An independent statement of what the refresh must produce, written from the spec
// (openverse-data-refresh.md §1.3 and §1.5) and Openverse's indexer worker, Python's semantics
// included (str.lower(), float(), isoformat()), with the deviations docs/documents.md lists, for
// the tests: it shares no code with the production transform, the SQL tag filter or devsearch's
// analyzer.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace datarefresh::e2e {

// One catalog row as text (NULL = nullopt), keyed by column name.
struct CatalogRow {
  std::map<std::string, std::optional<std::string>> columns;
  const std::optional<std::string>& at(const std::string& name) const;
};

// The tags after the catalog's tag filter (drops malformed, low-accuracy, rekognition and denylisted tags).
nlohmann::json filter_tags(const nlohmann::json& tags);

// The expected search document of a row (without "id", which the refresh regenerates), or nullopt
// when the row must not be indexed (deleted or removed from source).
std::optional<nlohmann::json> expected_document(const std::string& media, const CatalogRow& row, bool deleted,
                                                bool sensitive_listed);

// Lower-cased tokens as the `standard` analyzer makes them (UAX #29 word boundaries, simplified).
std::vector<std::string> standard_tokens(const std::string& text);

// Whether a document belongs in the filtered index: no token of its title, description or tag
// names is one of the (lower-cased) sensitive terms.
bool passes_sensitive_filter(const nlohmann::json& doc, const std::set<std::string>& terms);

// Compares two documents field by field; returns the differences (empty when equal). Numbers are
// compared with a relative tolerance, everything else (created_on's text included) exactly.
std::vector<std::string> diff_documents(const nlohmann::json& expected, const nlohmann::json& actual);

}  // namespace datarefresh::e2e
