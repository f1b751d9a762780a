#include "core/search/bulk.h"

#include <nlohmann/json.hpp>

namespace datarefresh::search {

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void BulkBodyBuilder::append_action(std::string_view action, std::string_view index, std::string_view id) {
  body_ += "{\"";
  body_ += action;
  body_ += "\":{\"_index\":";
  append_json_string(body_, index);
  body_ += ",\"_id\":";
  append_json_string(body_, id);
  body_ += "}}\n";
}

void BulkBodyBuilder::add_index(std::string_view index, std::string_view id, std::string_view source_json) {
  append_action("index", index, id);
  body_ += source_json;
  body_ += '\n';
  ++items_;
}

void BulkBodyBuilder::add_delete(std::string_view index, std::string_view id) {
  append_action("delete", index, id);
  ++items_;
}

std::string BulkBodyBuilder::take() {
  std::string out = std::move(body_);
  body_.clear();
  items_ = 0;
  return out;
}

std::size_t BulkResponse::count_failed() const {
  std::size_t n = 0;
  for (const auto& i : items) n += i.ok() ? 0 : 1;
  return n;
}

std::size_t BulkResponse::count_retryable() const {
  std::size_t n = 0;
  for (const auto& i : items) n += (!i.ok() && i.retryable) ? 1 : 0;
  return n;
}

Result<BulkResponse> parse_bulk_response(std::string_view body) {
  auto permanent = [](std::string reason) {
    return SearchError{200, "invalid_bulk_response", std::move(reason), false};
  };
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return permanent("_bulk answer is not a JSON object");
  auto items = doc.find("items");
  if (items == doc.end() || !items->is_array()) return permanent("_bulk answer has no \"items\" array");
  BulkResponse out;
  out.errors = doc.value("errors", false);
  out.items.reserve(items->size());
  std::size_t position = 0;
  for (const auto& wrapper : *items) {
    if (!wrapper.is_object() || wrapper.size() != 1) {
      return permanent("_bulk answer item " + std::to_string(position) + " is not {\"<action>\":{...}}");
    }
    auto action_entry = wrapper.begin();
    const std::string& action = action_entry.key();
    const auto& item = action_entry.value();
    BulkItemResult r;
    r.position = position++;
    r.action = action;
    r.index = item.value("_index", "");
    r.id = item.contains("_id") && item["_id"].is_string() ? item["_id"].get<std::string>() : "";
    r.status = item.value("status", 0);
    r.result = item.value("result", "");
    if (auto err = item.find("error"); err != item.end()) {
      if (err->is_object()) {
        r.error_type = err->value("type", "");
        r.error_reason = err->value("reason", "");
      } else if (err->is_string()) {
        r.error_reason = err->get<std::string>();
      }
    }
    r.retryable = !r.ok() && (r.status == 429 || r.status >= 500 || is_retryable(r.status, r.error_type));
    out.items.push_back(std::move(r));
  }
  return out;
}

}  // namespace datarefresh::search
