#include "core/search/result.h"

#include <nlohmann/json.hpp>

namespace datarefresh::search {

std::string SearchError::describe() const {
  std::string out = http_status == 0 ? std::string("transport failure") : "HTTP " + std::to_string(http_status);
  if (!type.empty()) out += " " + type;
  if (!reason.empty()) out += ": " + reason;
  out += retryable ? " (retryable)" : " (permanent)";
  return out;
}

bool is_retryable(int http_status, const std::string& error_type) {
  if (error_type == "es_rejected_execution_exception") return true;
  // An index or cluster block (index.blocks.write, the read_only_allow_delete block Elasticsearch
  // sets at the disk flood-stage watermark) is lifted by an operator or by the engine itself.
  if (error_type == "cluster_block_exception") return true;
  if (http_status == 0 || http_status == 429) return true;
  return http_status == 502 || http_status == 503 || http_status == 504;
}

SearchError error_from_response(int http_status, const std::string& body, const std::string& what) {
  SearchError e;
  e.http_status = http_status;
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("error")) {
    const auto& err = parsed["error"];
    if (err.is_object()) {
      e.type = err.value("type", "");
      e.reason = err.value("reason", "");
    } else if (err.is_string()) {
      e.reason = err.get<std::string>();
    }
  } else if (!body.empty()) {
    e.reason = body.substr(0, 300);
  }
  if (e.type.empty() && http_status == 404) e.type = "not_found";
  e.reason = what + ": " + (e.reason.empty() ? "HTTP " + std::to_string(http_status) : e.reason);
  e.retryable = is_retryable(http_status, e.type);
  return e;
}

}  // namespace datarefresh::search
