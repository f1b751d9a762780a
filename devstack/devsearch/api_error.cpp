#include "devstack/devsearch/api_error.h"

namespace datarefresh::devsearch {

nlohmann::ordered_json error_object(const std::string& type, const std::string& reason,
                                    const nlohmann::ordered_json& caused_by) {
  nlohmann::ordered_json e = {{"type", type}, {"reason", reason}};
  if (!caused_by.is_null()) e["caused_by"] = caused_by;
  return e;
}

ApiError api_error(int status, const std::string& type, const std::string& reason,
                   const nlohmann::ordered_json& extra, const nlohmann::ordered_json& caused_by) {
  nlohmann::ordered_json cause = {{"type", type}, {"reason", reason}};
  for (const auto& [k, v] : extra.items()) cause[k] = v;
  nlohmann::ordered_json error = cause;
  if (!caused_by.is_null()) error["caused_by"] = caused_by;
  nlohmann::ordered_json root_causes = nlohmann::ordered_json::array();
  root_causes.push_back(cause);
  nlohmann::ordered_json body;
  body["error"] = nlohmann::ordered_json::object();
  body["error"]["root_cause"] = root_causes;
  for (const auto& [k, v] : error.items()) body["error"][k] = v;
  body["status"] = status;
  return ApiError{status, std::move(body)};
}

ApiError index_not_found(const std::string& index) {
  return api_error(404, "index_not_found_exception", "no such index [" + index + "]",
                   {{"resource.type", "index_or_alias"}, {"resource.id", index}, {"index_uuid", "_na_"}, {"index", index}});
}

ApiError illegal_argument(const std::string& reason) { return api_error(400, "illegal_argument_exception", reason); }

ApiError parsing_error(const std::string& reason) {
  return api_error(400, "parsing_exception", reason, {{"line", 1}, {"col", 1}});
}

}  // namespace datarefresh::devsearch
