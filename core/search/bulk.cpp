#include "core/search/bulk.h"

#include <optional>

#include <rapidjson/document.h>
#include <rapidjson/memorystream.h>
#include <rapidjson/reader.h>

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

namespace {

// Counts the items of an answer without building it: {"errors": <bool>, "items": [{...}, ...], ...}.
// Anything else at the top level is skipped. A top-level value always follows its own key, so the
// last top-level key read is the one a top-level value belongs to.
struct ItemCounter : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, ItemCounter> {
  enum class TopKey { kOther, kErrors, kItems };
  int depth = 0;                  // objects and arrays open
  TopKey key = TopKey::kOther;    // the last top-level key
  bool in_items = false;          // inside the top-level "items" array
  bool items_seen = false;        // "items" held an array
  bool items_ok = true;           // every element of "items" was an object
  std::optional<bool> errors;
  std::size_t count = 0;

  bool Default() {
    if (depth == 2 && in_items) items_ok = false;  // an item that is not an object
    return true;
  }
  bool Bool(bool b) {
    if (depth == 1 && key == TopKey::kErrors) errors = b;
    return Default();
  }
  bool Key(const char* s, rapidjson::SizeType n, bool) {
    if (depth == 1) {
      std::string_view k(s, n);
      key = k == "errors" ? TopKey::kErrors : k == "items" ? TopKey::kItems : TopKey::kOther;
    }
    return true;
  }
  bool StartObject() {
    if (depth == 2 && in_items) ++count;
    ++depth;
    return true;
  }
  bool EndObject(rapidjson::SizeType) {
    --depth;
    return true;
  }
  bool StartArray() {
    if (depth == 1 && key == TopKey::kItems) {
      in_items = true;
      items_seen = true;
    } else if (depth == 2 && in_items) {
      items_ok = false;
    }
    ++depth;
    return true;
  }
  bool EndArray(rapidjson::SizeType) {
    if (--depth == 1) in_items = false;
    return true;
  }
};

}  // namespace

Result<BulkResponse> parse_bulk_response(std::string_view body, BulkItems keep) {
  // On the indexers' hot path (one answer per bulk request, thousands of items each): parsed
  // with rapidjson, several times faster than a general-purpose JSON tree.
  auto permanent = [](std::string reason) {
    return SearchError{200, "invalid_bulk_response", std::move(reason), false};
  };
  if (keep == BulkItems::kFailedOnly) {
    // Elasticsearch sets "errors" when any item failed: an answer without it is only counted. Any
    // doubt (errors, a shape that is not a bulk answer) goes to the full parse below.
    ItemCounter counter;
    rapidjson::Reader reader;
    rapidjson::MemoryStream ms(body.data(), body.size());
    if (reader.Parse(ms, counter) && counter.errors == false && counter.items_seen && counter.items_ok) {
      BulkResponse out;
      out.item_count = counter.count;
      return out;
    }
  }
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) return permanent("_bulk answer is not a JSON object");
  auto items = doc.FindMember("items");
  if (items == doc.MemberEnd() || !items->value.IsArray()) return permanent("_bulk answer has no \"items\" array");
  auto string_of = [](const rapidjson::Value& object, const char* key) -> std::string {
    auto m = object.FindMember(key);
    return m != object.MemberEnd() && m->value.IsString()
               ? std::string(m->value.GetString(), m->value.GetStringLength())
               : std::string();
  };
  BulkResponse out;
  if (auto e = doc.FindMember("errors"); e != doc.MemberEnd() && e->value.IsBool()) out.errors = e->value.GetBool();
  if (keep == BulkItems::kEvery) out.items.reserve(items->value.Size());
  std::size_t position = 0;
  for (const auto& wrapper : items->value.GetArray()) {
    if (!wrapper.IsObject() || wrapper.MemberCount() != 1 || !wrapper.MemberBegin()->value.IsObject()) {
      return permanent("_bulk answer item " + std::to_string(position) + " is not {\"<action>\":{...}}");
    }
    const auto& entry = *wrapper.MemberBegin();
    const auto& item = entry.value;
    BulkItemResult r;
    r.position = position++;
    r.action.assign(entry.name.GetString(), entry.name.GetStringLength());
    r.index = string_of(item, "_index");
    r.id = string_of(item, "_id");
    if (auto st = item.FindMember("status"); st != item.MemberEnd() && st->value.IsInt()) r.status = st->value.GetInt();
    r.result = string_of(item, "result");
    if (auto err = item.FindMember("error"); err != item.MemberEnd()) {
      if (err->value.IsObject()) {
        r.error_type = string_of(err->value, "type");
        r.error_reason = string_of(err->value, "reason");
      } else if (err->value.IsString()) {
        r.error_reason.assign(err->value.GetString(), err->value.GetStringLength());
      }
    }
    r.retryable = !r.ok() && (r.status == 429 || r.status >= 500 || is_retryable(r.status, r.error_type));
    if (keep == BulkItems::kEvery || !r.ok()) out.items.push_back(std::move(r));
  }
  out.item_count = position;
  return out;
}

}  // namespace datarefresh::search
