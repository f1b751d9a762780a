#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <rapidjson/document.h>

namespace datarefresh::devsearch {

// What a document check needs to know of a field's type, decided once by set_type() instead of
// comparing type names for every value of every document.
enum class FieldKind : std::uint8_t { kObject, kInteger, kFloat, kDate, kBoolean, kRankFeature, kOther };

// One mapped field: an object (with properties) or a leaf (with optional multi-fields).
struct FieldMapping {
  std::string type = "object";  // set through set_type(), which keeps `kind` in step
  FieldKind kind = FieldKind::kObject;
  std::string analyzer = "standard";  // text fields
  int ignore_above = -1;              // keyword fields
  // std::less<>: looked up by a document's member names without copying them into strings.
  std::map<std::string, FieldMapping, std::less<>> properties;
  std::map<std::string, FieldMapping, std::less<>> fields;
  nlohmann::json original;  // as given, returned by GET /<index>

  void set_type(std::string t);
  bool is_object() const { return kind == FieldKind::kObject; }
};

// Remembers where member names were found in a mapping, for the documents of one bulk request:
// they mostly have the same members, so a hit costs one string comparison instead of a walk
// down the properties tree. It points into the mappings it was used with, which must outlive it
// unchanged (a request's mapping snapshots do).
class FieldLookupCache {
 public:
  // The child of `parent` named `name`, or null.
  const FieldMapping* find(const FieldMapping& parent, std::string_view name);

 private:
  struct Entry {
    const FieldMapping* parent = nullptr;
    const std::string* name = nullptr;
    const FieldMapping* child = nullptr;
  };
  std::array<Entry, 256> entries_{};
};

// An index mapping: `dynamic` ("true", "false", "strict") and the root properties. Not
// thread-safe; the owning index guards it.
class Mapping {
 public:
  // Validates types and analyzer names; throws ApiError 400 mapper_parsing_exception as
  // Elasticsearch does ("No handler for type [x] declared on field [y]").
  static Mapping parse(const nlohmann::json& mappings, const std::vector<std::string>& analyzers);
  static Mapping dynamic_default();

  // Checks one document source against the mapping. Returns nothing when it indexes, else the
  // item error ({"type":"mapper_parsing_exception",...}). With dynamic "true", new fields are
  // added to `additions` (applied by the caller only when the document succeeds).
  std::optional<nlohmann::ordered_json> check(const rapidjson::Value& source, const std::string& id,
                                              Mapping& additions, FieldLookupCache* cache = nullptr) const;
  void merge(const Mapping& additions);
  bool empty() const { return root_.properties.empty(); }

  // Resolves "tags.name.raw" to the leaf mapping and the source path ["tags","name"].
  struct Resolved {
    const FieldMapping* field = nullptr;
    std::vector<std::string> source_path;
  };
  Resolved resolve(std::string_view path) const;

  nlohmann::json to_json() const;
  const std::string& dynamic() const { return dynamic_; }

 private:
  std::optional<nlohmann::ordered_json> check_object(const rapidjson::Value& object, const FieldMapping& mapping,
                                                     const std::string& prefix, const std::string& id,
                                                     FieldMapping& additions, FieldLookupCache* cache) const;
  std::string dynamic_ = "true";
  FieldMapping root_;
};

// strict_date_optional_time || epoch_millis, as epoch milliseconds.
std::optional<std::int64_t> parse_date(std::string_view text);

}  // namespace datarefresh::devsearch
