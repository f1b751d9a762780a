#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/search/result.h"

namespace datarefresh::search {

// Appends `_bulk` NDJSON lines from already-encoded document sources, without re-parsing them.
// The caller guarantees each source is one line of valid JSON (no raw newlines). Not thread-safe;
// one builder per batch.
class BulkBodyBuilder {
 public:
  // {"index":{"_index":index,"_id":id}}\n<source>\n
  void add_index(std::string_view index, std::string_view id, std::string_view source_json);
  // {"delete":{"_index":index,"_id":id}}\n
  void add_delete(std::string_view index, std::string_view id);

  std::size_t items() const { return items_; }
  std::size_t bytes() const { return body_.size(); }
  bool empty() const { return items_ == 0; }
  const std::string& body() const { return body_; }
  // Hands the body over and leaves the builder empty for the next batch.
  std::string take();
  void reserve(std::size_t bytes) { body_.reserve(bytes); }

 private:
  void append_action(std::string_view action, std::string_view index, std::string_view id);
  std::string body_;
  std::size_t items_ = 0;
};

// Appends `text` as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view text);

// One item of a `_bulk` answer, in request order.
// One item of a _bulk answer. Client::bulk asks for a filtered answer (status and error only), so
// index, id and result are empty there: items are matched to the request by position.
struct BulkItemResult {
  std::size_t position = 0;  // index of the action in the request
  std::string action;        // index | create | delete | update
  std::string index;
  std::string id;
  int status = 0;
  std::string result;  // created | updated | deleted | not_found | noop; empty on error
  std::string error_type;
  std::string error_reason;
  bool retryable = false;  // 429 / 5xx / es_rejected_execution_exception: send this item again

  // A delete of a missing document answers 404 with `result: not_found` and no error, and
  // Elasticsearch leaves the answer's `errors` false for it: the document is gone, as asked.
  bool ok() const { return (status >= 200 && status < 300) || not_found_delete(); }
  bool not_found_delete() const {
    return action == "delete" && status == 404 && error_type.empty() && error_reason.empty();
  }
};

// Which items of a `_bulk` answer parse_bulk_response() keeps.
enum class BulkItems {
  kEvery,       // every item, in request order
  kFailedOnly,  // only the items that failed (their `position` places them in the request)
};

struct BulkResponse {
  bool errors = false;
  std::size_t item_count = 0;  // items in the answer, kept or not
  std::vector<BulkItemResult> items;

  std::size_t count_failed() const;
  std::size_t count_retryable() const;
};

// Parses the body of a 200 `_bulk` answer. A body that is not a bulk answer is a permanent
// SearchError naming what was wrong. With kFailedOnly an answer saying `"errors": false` is only
// counted, not built item by item (the indexers' hot path: thousands of items per answer).
Result<BulkResponse> parse_bulk_response(std::string_view body, BulkItems keep = BulkItems::kEvery);

}  // namespace datarefresh::search
