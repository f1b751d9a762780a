#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common/duration.h"
#include "core/search/alias_action.h"
#include "core/search/bulk.h"
#include "core/search/result.h"

namespace datarefresh::search {

struct ClientOptions {
  std::string url = "http://127.0.0.1:9200";  // base URL, no trailing path
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> api_key;  // sent as "Authorization: ApiKey <key>"
  bool tls_verify = true;
  std::string ca_file;
  Duration connect_timeout{std::chrono::seconds(5)};
  Duration request_timeout{std::chrono::seconds(60)};
};

struct ClusterInfo {
  std::string cluster_name;
  std::string version;  // version.number
};

struct ClusterHealth {
  std::string status;  // green | yellow | red
  bool timed_out = false;
  int http_status = 200;  // 408 when a wait timed out
  int data_nodes = 0;     // number_of_data_nodes
};

struct IndexRow {
  std::string index;
  std::int64_t docs_count = 0;
  std::string health;
  std::string status;
};

struct TaskStatus {
  bool completed = false;
  std::int64_t total = 0;
  std::int64_t created = 0;
  std::int64_t updated = 0;
  std::int64_t deleted = 0;
  std::vector<std::string> failures;  // each failure as compact JSON
  std::optional<std::string> error;   // the task's own error ("type: reason"), if it failed
  bool cancelled = false;             // it was cancelled (its counts are partial)
};

// A terms aggregation's answer: the document count of each bucket key (a number's key as its
// JSON text), and what the buckets left out (sum_other_doc_count).
struct TermsCounts {
  std::map<std::string, std::int64_t> buckets;
  std::int64_t sum_other_doc_count = 0;
  std::int64_t doc_count_error_upper_bound = 0;
};

// Reads aggregation `name` of a _search answer ({"aggregations": {name: {"buckets": [...]}}});
// an answer without it, or buckets that are not {"key", "doc_count"}, is an invalid_response.
Result<TermsCounts> parse_terms_aggregation(const nlohmann::json& answer, const std::string& name);

// index name -> alias names
using AliasMap = std::map<std::string, std::vector<std::string>>;

// An Elasticsearch/OpenSearch REST client over libcurl. Owns a pool of CURL easy handles that
// are reused across requests (keep-alive); every method is thread-safe, and several threads may
// have requests in flight on one Client. Each operation is one HTTP call and returns a value or a
// SearchError (never throws for server or network failures). The constructor throws ConfigError
// for an unusable URL. Credentials never appear in errors or logs.
class Client {
 public:
  explicit Client(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<ClusterInfo> info();
  Result<ClusterHealth> cluster_health(const std::optional<std::string>& index = std::nullopt,
                                       const std::optional<std::string>& wait_for_status = std::nullopt,
                                       Duration timeout = std::chrono::seconds(30));

  Status create_index(const std::string& name, const nlohmann::json& body);
  // Reads an index definition ({"settings":..,"mappings":..}) and applies overrides given as
  // index settings without the "index." prefix ({"number_of_shards": 1, "refresh_interval": "1s"}).
  // `aliases` are created with the index, in the same request. Throws ConfigError if the file
  // cannot be read or parsed.
  Status create_index_from_file(const std::string& name, const std::string& path,
                                const nlohmann::json& overrides = nlohmann::json::object(),
                                const std::vector<std::string>& aliases = {});
  Result<bool> index_exists(const std::string& name);
  Status delete_index(const std::string& name);
  Status update_settings(const std::string& name, const nlohmann::json& settings);
  Result<nlohmann::json> get_settings(const std::string& name);  // the "settings" object of `name`
  // PUT <index>/_settings {"index":{"blocks":{"write":true}}}, or `"write": null` to lift it (null
  // resets the setting to its default, as Elasticsearch's update-settings API documents).
  Status set_write_block(const std::string& index, bool on);
  // POST <source>/_clone/<target> with `body` ({"settings":{..},"aliases":{..}}; may be empty).
  // The source must carry a write block (set_write_block) or Elasticsearch refuses with HTTP 500
  // illegal_state_exception, which is permanent here. The target copies the source's settings,
  // the write block included, except number_of_replicas and auto_expand_replicas: give
  // "index.blocks.write": null in `body` settings (or lift it afterwards) to write to the target.
  Status clone_index(const std::string& source, const std::string& target, const nlohmann::json& body);

  // A whole-request failure (HTTP 429/5xx, transport) is a retryable SearchError; item failures
  // are in the BulkResponse.
  // POST /_bulk?filter_path=... : the answer is cut to what parse_bulk_response() reads (errors,
  // and each item's status and error), several times smaller than the full one.
  // With `require_alias` every action must target an alias (Elasticsearch 7.10+, OpenSearch): an
  // action whose alias is gone is refused (404 index_not_found_exception) instead of creating an
  // index through auto-create. The engine waits at most half the request timeout for what a write
  // waits on (a primary, a retryable block), so that it answers before this client gives up.
  Result<BulkResponse> bulk(std::string_view ndjson, BulkItems keep = BulkItems::kEvery, bool require_alias = false);

  // One atomic `_aliases` call.
  Status update_aliases(const std::vector<AliasAction>& actions);
  Result<AliasMap> get_alias(const std::string& alias);  // 404 -> empty map
  Result<std::vector<std::string>> get_index_aliases(const std::string& index);

  // wait_for_completion=false; returns the task id "<node>:<n>". slices: "auto" or a number.
  Result<std::string> start_reindex(const nlohmann::json& body, std::optional<double> requests_per_second,
                                    const std::string& slices = "1");
  Result<TaskStatus> get_task(const std::string& task_id);
  // POST _tasks/<id>/_cancel. A task that is not running (finished or unknown) counts as done.
  Status cancel_task(const std::string& task_id);

  Status refresh(const std::string& index);
  Result<std::int64_t> count(const std::string& index, const std::optional<nlohmann::json>& query = std::nullopt);
  Result<std::vector<IndexRow>> cat_indices();
  // POST <index>/_search {"size": 0, "aggs": {"by": {"terms": {"field", "size", ["missing"]}}}}:
  // the number of documents per value of `field` (a keyword field). With `missing`, documents
  // without a value count under that key. Check sum_other_doc_count: `size` buckets at most.
  Result<TermsCounts> terms_counts(const std::string& index, const std::string& field, int size,
                                   const std::optional<std::string>& missing = std::nullopt);

  // The raw exchange, for callers that need an endpoint not wrapped above (and for tests).
  struct Response {
    int status = 0;
    std::string body;
  };
  Result<Response> perform(const std::string& method, const std::string& path, std::string_view body = {},
                           const std::string& content_type = "application/json",
                           std::optional<Duration> timeout = std::nullopt);

 private:
  struct Pool;
  ClientOptions options_;
  std::unique_ptr<Pool> pool_;
};

// Percent-encodes one path segment or query value.
std::string url_encode(const std::string& text);

}  // namespace datarefresh::search
