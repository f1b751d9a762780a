#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace datarefresh::devsearch {

// An answer Elasticsearch gives as an error: HTTP status plus its JSON body
// ({"error":{"root_cause":[..],"type","reason",..},"status":N}). Thrown inside request handling
// only, and turned into the HTTP answer at the edge of DevSearchServer; never escapes it.
struct ApiError {
  int status;
  nlohmann::ordered_json body;
};

// The standard error body; `extra` fields (index, index_uuid, resource.id...) go on both the
// root cause and the error, as Elasticsearch does.
ApiError api_error(int status, const std::string& type, const std::string& reason,
                   const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                   const nlohmann::ordered_json& caused_by = nullptr);

ApiError index_not_found(const std::string& index);
ApiError illegal_argument(const std::string& reason);
ApiError parsing_error(const std::string& reason);

// The error object of a bulk item / reindex failure: {"type","reason",["caused_by"]}.
nlohmann::ordered_json error_object(const std::string& type, const std::string& reason,
                                    const nlohmann::ordered_json& caused_by = nullptr);

}  // namespace datarefresh::devsearch
