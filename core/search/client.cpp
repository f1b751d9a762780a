#include "core/search/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>

#include "core/common/error.h"
#include "core/common/kept_objects.h"

namespace datarefresh::search {
namespace {

std::once_flag g_curl_init;

size_t write_body(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

std::string format_seconds(Duration d) { return std::to_string(std::max<std::int64_t>(0, d.count())) + "ms"; }

}  // namespace

std::string url_encode(const std::string& text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '*' || c == ',' || c == ':') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  return out;
}

// Idle easy handles; a handle keeps its connection cache, so reusing it reuses the connection.
struct Client::Pool {
  struct Cleanup {
    void operator()(CURL* h) const noexcept { curl_easy_cleanup(h); }
  };
  KeptObjects<std::unique_ptr<CURL, Cleanup>> idle;

  CURL* acquire() {
    if (auto kept = idle.take()) {
      curl_easy_reset(kept->get());
      return kept->release();
    }
    return curl_easy_init();
  }
  void release(CURL* h) { idle.give(std::unique_ptr<CURL, Cleanup>(h)); }
};

Client::Client(ClientOptions options) : options_(std::move(options)), pool_(std::make_unique<Pool>()) {
  std::call_once(g_curl_init, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  while (!options_.url.empty() && options_.url.back() == '/') options_.url.pop_back();
  if (options_.url.rfind("http://", 0) != 0 && options_.url.rfind("https://", 0) != 0) {
    throw ConfigError("search url must start with http:// or https:// (got a value of " +
                      std::to_string(options_.url.size()) + " characters): set search.url");
  }
  if (options_.url.find('@') != std::string::npos) {
    throw ConfigError("search url must not contain credentials: set search.username/password or api_key instead");
  }
}

Client::~Client() = default;

Result<Client::Response> Client::perform(const std::string& method, const std::string& path, std::string_view body,
                                         const std::string& content_type, std::optional<Duration> timeout) {
  CURL* h = pool_->acquire();
  if (h == nullptr) return SearchError{0, "curl_init_failed", method + " " + path + ": curl_easy_init failed", true};
  std::string url = options_.url + path;
  std::string response_body;
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  headers = curl_slist_append(headers, "Expect:");
  if (options_.api_key) headers = curl_slist_append(headers, ("Authorization: ApiKey " + *options_.api_key).c_str());

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &response_body);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.value_or(options_.request_timeout).count()));
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, options_.tls_verify ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, options_.tls_verify ? 2L : 0L);
  if (!options_.ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, options_.ca_file.c_str());
  if (options_.username) {
    curl_easy_setopt(h, CURLOPT_USERNAME, options_.username->c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, options_.password.value_or("").c_str());
  }
  if (method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (method == "GET" && body.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(h);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    // A failed transfer may leave the connection in an unknown state: do not reuse the handle.
    curl_easy_cleanup(h);
    return SearchError{0, std::string("transport_error"),
                       method + " " + path + ": " + curl_easy_strerror(rc) + " (curl code " + std::to_string(rc) + ")",
                       true};
  }
  pool_->release(h);
  return Response{static_cast<int>(status), std::move(response_body)};
}

namespace {

// Turns a response into an error unless its status is in [200, 300).
std::optional<SearchError> check(const Client::Response& r, const std::string& what) {
  if (r.status >= 200 && r.status < 300) return std::nullopt;
  return error_from_response(r.status, r.body, what);
}

Result<nlohmann::json> parse_json(const Client::Response& r, const std::string& what) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_discarded()) return SearchError{r.status, "invalid_response", what + ": answer is not JSON", false};
  return j;
}

}  // namespace

#define DATAREFRESH_TRY_PERFORM(var, ...)         \
  auto var##_r = perform(__VA_ARGS__);            \
  if (!var##_r) return var##_r.error();           \
  const Client::Response& var = var##_r.value();

Result<ClusterInfo> Client::info() {
  DATAREFRESH_TRY_PERFORM(r, "GET", "/")
  if (auto e = check(r, "GET /")) return *e;
  auto j = parse_json(r, "GET /");
  if (!j) return j.error();
  ClusterInfo info;
  info.cluster_name = j->value("cluster_name", "");
  if (j->contains("version") && (*j)["version"].is_object()) info.version = (*j)["version"].value("number", "");
  return info;
}

Result<ClusterHealth> Client::cluster_health(const std::optional<std::string>& index,
                                             const std::optional<std::string>& wait_for_status, Duration timeout) {
  std::string path = "/_cluster/health";
  if (index) path += "/" + url_encode(*index);
  path += "?timeout=" + format_seconds(timeout);
  if (wait_for_status) path += "&wait_for_status=" + url_encode(*wait_for_status);
  DATAREFRESH_TRY_PERFORM(r, "GET", path, {}, "application/json",
                          std::max(options_.request_timeout, timeout + std::chrono::seconds(10)))
  // Elasticsearch answers 408 with a full health body when a wait times out.
  if (r.status != 408) {
    if (auto e = check(r, "GET " + path)) return *e;
  }
  auto j = parse_json(r, "GET " + path);
  if (!j) return j.error();
  return ClusterHealth{j->value("status", ""), j->value("timed_out", false), r.status,
                       j->value("number_of_data_nodes", 0)};
}

Status Client::create_index(const std::string& name, const nlohmann::json& body) {
  std::string path = "/" + url_encode(name);
  DATAREFRESH_TRY_PERFORM(r, "PUT", path, body.dump())
  if (auto e = check(r, "PUT " + path)) return *e;
  return Done{};
}

Status Client::create_index_from_file(const std::string& name, const std::string& path,
                                      const nlohmann::json& overrides, const std::vector<std::string>& aliases) {
  std::ifstream in(path);
  if (!in) throw ConfigError("cannot read index definition file " + path + ": check the path and permissions");
  auto body = nlohmann::json::parse(in, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw ConfigError("index definition file " + path + " is not a JSON object: fix the file");
  }
  if (!overrides.is_null() && !overrides.empty()) {
    auto& settings = body["settings"];
    if (!settings.is_object()) settings = nlohmann::json::object();
    auto& index = settings["index"];
    if (!index.is_object()) index = nlohmann::json::object();
    for (const auto& [key, value] : overrides.items()) {
      std::string k = key.rfind("index.", 0) == 0 ? key.substr(6) : key;
      settings.erase("index." + k);
      index[k] = value;
    }
  }
  for (const auto& alias : aliases) body["aliases"][alias] = nlohmann::json::object();
  return create_index(name, body);
}

Result<bool> Client::index_exists(const std::string& name) {
  std::string path = "/" + url_encode(name);
  DATAREFRESH_TRY_PERFORM(r, "HEAD", path)
  if (r.status == 200) return true;
  if (r.status == 404) return false;
  return error_from_response(r.status, r.body, "HEAD " + path);
}

Status Client::delete_index(const std::string& name) {
  std::string path = "/" + url_encode(name);
  DATAREFRESH_TRY_PERFORM(r, "DELETE", path)
  if (auto e = check(r, "DELETE " + path)) return *e;
  return Done{};
}

Status Client::update_settings(const std::string& name, const nlohmann::json& settings) {
  std::string path = "/" + url_encode(name) + "/_settings";
  DATAREFRESH_TRY_PERFORM(r, "PUT", path, settings.dump())
  if (auto e = check(r, "PUT " + path)) return *e;
  return Done{};
}

Status Client::set_write_block(const std::string& index, bool on) {
  nlohmann::json value = on ? nlohmann::json(true) : nlohmann::json(nullptr);
  return update_settings(index, {{"index", {{"blocks", {{"write", value}}}}}});
}

Status Client::clone_index(const std::string& source, const std::string& target, const nlohmann::json& body) {
  std::string path = "/" + url_encode(source) + "/_clone/" + url_encode(target);
  std::string text = body.is_null() || body.empty() ? std::string() : body.dump();
  DATAREFRESH_TRY_PERFORM(r, "POST", path, text)
  if (auto e = check(r, "POST " + path)) {
    if (e->type == "illegal_state_exception" && e->reason.find("must be read-only") != std::string::npos) {
      e->reason += " (set the write block on [" + source + "] first: Client::set_write_block)";
    }
    return *e;
  }
  return Done{};
}

Result<nlohmann::json> Client::get_settings(const std::string& name) {
  std::string path = "/" + url_encode(name) + "/_settings";
  DATAREFRESH_TRY_PERFORM(r, "GET", path)
  if (auto e = check(r, "GET " + path)) return *e;
  auto j = parse_json(r, "GET " + path);
  if (!j) return j.error();
  // An alias resolves to its index: take the single entry.
  if (!j->is_object() || j->empty()) return SearchError{r.status, "invalid_response", "GET " + path + ": empty", false};
  const auto& entry = j->contains(name) ? (*j)[name] : j->begin().value();
  return entry.value("settings", nlohmann::json::object());
}

Result<BulkResponse> Client::bulk(std::string_view ndjson, BulkItems keep, bool require_alias) {
  // Elasticsearch's filter_path keeps only these fields of the answer (items stay in request order).
  const auto engine_wait = std::max<std::int64_t>(1000, options_.request_timeout.count() / 2);
  const std::string path = "/_bulk?filter_path=errors,items.*.status,items.*.error&timeout=" +
                           std::to_string(engine_wait) + "ms" + (require_alias ? "&require_alias=true" : "");
  DATAREFRESH_TRY_PERFORM(r, "POST", path, ndjson, "application/x-ndjson")
  if (auto e = check(r, "POST /_bulk")) return *e;
  return parse_bulk_response(r.body, keep);
}

Status Client::update_aliases(const std::vector<AliasAction>& actions) {
  DATAREFRESH_TRY_PERFORM(r, "POST", "/_aliases", alias_actions_body(actions).dump())
  if (auto e = check(r, "POST /_aliases")) return *e;
  return Done{};
}

Result<AliasMap> Client::get_alias(const std::string& alias) {
  std::string path = "/_alias/" + url_encode(alias);
  DATAREFRESH_TRY_PERFORM(r, "GET", path)
  if (r.status == 404) return AliasMap{};
  if (auto e = check(r, "GET " + path)) return *e;
  auto j = parse_json(r, "GET " + path);
  if (!j) return j.error();
  AliasMap out;
  for (const auto& [index, entry] : j->items()) {
    auto& names = out[index];
    if (entry.contains("aliases") && entry["aliases"].is_object()) {
      for (const auto& [name, ignored] : entry["aliases"].items()) names.push_back(name);
    }
  }
  return out;
}

Result<std::vector<std::string>> Client::get_index_aliases(const std::string& index) {
  std::string path = "/" + url_encode(index) + "/_alias";
  DATAREFRESH_TRY_PERFORM(r, "GET", path)
  if (auto e = check(r, "GET " + path)) return *e;
  auto j = parse_json(r, "GET " + path);
  if (!j) return j.error();
  std::vector<std::string> out;
  for (const auto& [name, entry] : j->items()) {
    if (entry.contains("aliases") && entry["aliases"].is_object()) {
      for (const auto& [alias, ignored] : entry["aliases"].items()) out.push_back(alias);
    }
  }
  return out;
}

Result<std::string> Client::start_reindex(const nlohmann::json& body, std::optional<double> requests_per_second,
                                          const std::string& slices) {
  std::string path = "/_reindex?wait_for_completion=false&slices=" + url_encode(slices);
  if (requests_per_second) {
    std::ostringstream rps;
    rps << *requests_per_second;
    path += "&requests_per_second=" + rps.str();
  }
  DATAREFRESH_TRY_PERFORM(r, "POST", path, body.dump())
  if (auto e = check(r, "POST " + path)) return *e;
  auto j = parse_json(r, "POST " + path);
  if (!j) return j.error();
  if (!j->contains("task") || !(*j)["task"].is_string()) {
    return SearchError{r.status, "invalid_response", "POST " + path + ": answer has no \"task\"", false};
  }
  return (*j)["task"].get<std::string>();
}

Result<TaskStatus> Client::get_task(const std::string& task_id) {
  std::string path = "/_tasks/" + url_encode(task_id);
  DATAREFRESH_TRY_PERFORM(r, "GET", path)
  if (auto e = check(r, "GET " + path)) return *e;
  auto j = parse_json(r, "GET " + path);
  if (!j) return j.error();
  TaskStatus t;
  t.completed = j->value("completed", false);
  // A finished task carries the final counts in "response"; a running one in task.status.
  nlohmann::json counts;
  if (j->contains("response") && (*j)["response"].is_object()) {
    counts = (*j)["response"];
  } else if (j->contains("task") && (*j)["task"].contains("status")) {
    counts = (*j)["task"]["status"];
  }
  if (counts.is_object()) {
    t.total = counts.value("total", std::int64_t{0});
    t.created = counts.value("created", std::int64_t{0});
    t.updated = counts.value("updated", std::int64_t{0});
    t.deleted = counts.value("deleted", std::int64_t{0});
    if (counts.contains("failures") && counts["failures"].is_array()) {
      for (const auto& f : counts["failures"]) t.failures.push_back(f.dump());
    }
  }
  if (j->contains("error") && (*j)["error"].is_object()) {
    const auto& e = (*j)["error"];
    t.error = e.value("type", "") + ": " + e.value("reason", "");
  }
  if (counts.is_object() && counts.contains("canceled")) {
    t.cancelled = true;
    if (!t.error) t.error = "cancelled: " + counts.value("canceled", std::string("by user request"));
  }
  return t;
}

Status Client::cancel_task(const std::string& task_id) {
  std::string path = "/_tasks/" + url_encode(task_id) + "/_cancel";
  DATAREFRESH_TRY_PERFORM(r, "POST", path)
  if (r.status == 404) return Done{};
  if (auto e = check(r, "POST " + path)) return *e;
  return Done{};
}

Status Client::refresh(const std::string& index) {
  std::string path = "/" + url_encode(index) + "/_refresh";
  DATAREFRESH_TRY_PERFORM(r, "POST", path)
  if (auto e = check(r, "POST " + path)) return *e;
  return Done{};
}

Result<std::int64_t> Client::count(const std::string& index, const std::optional<nlohmann::json>& query) {
  std::string path = "/" + url_encode(index) + "/_count";
  std::string body = query ? nlohmann::json{{"query", *query}}.dump() : std::string();
  DATAREFRESH_TRY_PERFORM(r, body.empty() ? "GET" : "POST", path, body)
  if (auto e = check(r, "count " + path)) return *e;
  auto j = parse_json(r, path);
  if (!j) return j.error();
  return j->value("count", std::int64_t{-1});
}

Result<std::vector<IndexRow>> Client::cat_indices() {
  std::string path = "/_cat/indices?format=json&h=index,docs.count,health,status";
  DATAREFRESH_TRY_PERFORM(r, "GET", path)
  if (auto e = check(r, "GET /_cat/indices")) return *e;
  auto j = parse_json(r, "GET /_cat/indices");
  if (!j) return j.error();
  std::vector<IndexRow> out;
  for (const auto& row : *j) {
    IndexRow ir;
    ir.index = row.value("index", "");
    // docs.count is a string, or null for a closed index.
    const auto& dc = row.contains("docs.count") ? row["docs.count"] : nlohmann::json();
    if (dc.is_string()) {
      ir.docs_count = std::strtoll(dc.get_ref<const std::string&>().c_str(), nullptr, 10);
    } else if (dc.is_number()) {
      ir.docs_count = dc.get<std::int64_t>();
    }
    ir.health = row.value("health", "");
    ir.status = row.value("status", "");
    out.push_back(std::move(ir));
  }
  return out;
}

Result<TermsCounts> Client::terms_counts(const std::string& index, const std::string& field, int size,
                                         const std::optional<std::string>& missing) {
  std::string path = "/" + url_encode(index) + "/_search";
  nlohmann::json terms = {{"field", field}, {"size", size}};
  if (missing) terms["missing"] = *missing;
  nlohmann::json body = {{"size", 0}, {"aggs", {{"by", {{"terms", terms}}}}}};
  DATAREFRESH_TRY_PERFORM(r, "POST", path, body.dump())
  if (auto e = check(r, "POST " + path)) return *e;
  auto j = parse_json(r, "POST " + path);
  if (!j) return j.error();
  auto counts = parse_terms_aggregation(*j, "by");
  if (!counts) return SearchError{r.status, counts.error().type, "POST " + path + ": " + counts.error().reason, false};
  return counts;
}

#undef DATAREFRESH_TRY_PERFORM

Result<TermsCounts> parse_terms_aggregation(const nlohmann::json& answer, const std::string& name) {
  auto invalid = [&](const std::string& why) {
    return SearchError{200, "invalid_response", "aggregation [" + name + "] " + why, false};
  };
  if (!answer.is_object() || !answer.contains("aggregations") || !answer["aggregations"].is_object() ||
      !answer["aggregations"].contains(name) || !answer["aggregations"][name].is_object()) {
    return invalid("is not in the answer");
  }
  const auto& agg = answer["aggregations"][name];
  if (!agg.contains("buckets") || !agg["buckets"].is_array()) return invalid("has no buckets");
  TermsCounts out;
  const auto number = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_number_integer() ? j[key].get<std::int64_t>() : std::int64_t{0};
  };
  out.sum_other_doc_count = number(agg, "sum_other_doc_count");
  out.doc_count_error_upper_bound = number(agg, "doc_count_error_upper_bound");
  for (const auto& b : agg["buckets"]) {
    if (!b.is_object() || !b.contains("key") || !b.contains("doc_count") || !b["doc_count"].is_number_integer()) {
      return invalid("has a bucket without key and doc_count: " + b.dump());
    }
    const auto& key = b["key"];
    out.buckets[key.is_string() ? key.get<std::string>() : key.dump()] += b["doc_count"].get<std::int64_t>();
  }
  return out;
}

}  // namespace datarefresh::search
