#pragma once

#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace datarefresh::devsearch {

// Elasticsearch's response filtering (the filter_path parameter of every API): comma-separated
// dotted paths; `*` in a name matches any characters, a `**` segment any number of levels, and a
// leading `-` excludes instead of includes. Arrays are transparent (a path applies to their
// elements). What is left empty after filtering (objects, arrays) disappears; a response with
// nothing left is `{}`. A value; thread-safe to share.
class FilterPath {
 public:
  static FilterPath parse(std::string_view text);

  bool empty() const { return includes_.empty() && excludes_.empty(); }
  nlohmann::ordered_json apply(const nlohmann::ordered_json& body) const;

  // For _bulk, where the answer is written directly: the fields of the top level (took, errors,
  // items) and of each item's action object that the filter keeps, when it can be decided per
  // field (patterns such as "errors", "items.*.status", "items.**"); nullopt otherwise, and the
  // answer is then built in full and filtered with apply().
  struct BulkFields {
    bool took = false;
    bool errors = false;
    std::set<std::string> item_fields;  // e.g. status, error; "*" = all
    bool keeps(const std::string& field) const { return item_fields.count("*") || item_fields.count(field); }
  };
  std::optional<BulkFields> bulk_fields() const;

 private:
  using Path = std::vector<std::string>;
  std::vector<Path> includes_;
  std::vector<Path> excludes_;
};

}  // namespace datarefresh::devsearch
