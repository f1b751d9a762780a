#pragma once

#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace datarefresh::devsearch {

// Settings as Elasticsearch keeps them: flat "index."-prefixed keys with string values (arrays
// of strings stay arrays).
using FlatSettings = std::map<std::string, nlohmann::json>;

FlatSettings flatten_settings(const nlohmann::json& settings);
// The same flattening, keys kept as given (no "index." prefix added): cluster settings.
FlatSettings flatten_keys(const nlohmann::json& settings);
nlohmann::ordered_json unflatten_settings(const FlatSettings& flat);

// Why `name` cannot name an index (Elasticsearch's rules), or nullopt.
std::optional<std::string> invalid_index_name_reason(const std::string& name);

// A random identifier of `length` URL-safe base64 characters (uuids, node ids, auto _ids).
std::string random_id(std::size_t length);

// Whether `name` matches a pattern with '*' wildcards.
bool wildcard_match(const std::string& pattern, const std::string& name);

std::int64_t now_millis();

// Appends text as a JSON string literal.
void append_json_string(std::string& out, std::string_view text);

}  // namespace datarefresh::devsearch
