#include "devstack/devsearch/store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <functional>
#include <sstream>

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include "core/common/duration.h"
#include "devstack/devsearch/api_error.h"
#include "devstack/devsearch/id_set.h"
#include "devstack/devsearch/index_blocks.h"
#include "devstack/devsearch/query.h"
#include "devstack/devsearch/store_util.h"

namespace datarefresh::devsearch {
namespace {

constexpr const char* kClusterName = "devsearch";
constexpr std::chrono::seconds kDefaultMasterTimeout{30};

struct Doc {
  std::string source;
  std::int64_t version = 1;
  std::int64_t seq_no = 0;
};
using DocPtr = std::shared_ptr<const Doc>;

Answer json_answer(int status, const nlohmann::ordered_json& body) { return Answer{status, body.dump()}; }
Answer json_answer(const ApiError& e) { return Answer{e.status, e.body.dump()}; }

nlohmann::json parse_body(const std::string& body) {
  if (body.empty()) return nlohmann::json::object();
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded()) {
    throw api_error(400, "json_parse_exception", "Unexpected character in request body: it is not valid JSON");
  }
  return j;
}

std::optional<std::string> param(const Params& params, const std::string& key) {
  auto it = params.find(key);
  if (it == params.end()) return std::nullopt;
  return it->second;
}

// A requests_per_second parameter of _reindex and _rethrottle: a positive float, or -1 (unthrottled).
double requests_per_second(const std::string& text) {
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || (v <= 0 && v != -1)) {
    throw api_error(400, "action_request_validation_exception",
                    "Validation Failed: 1: [requests_per_second] must be a float greater than 0. Use -1 to disable "
                    "throttling.;");
  }
  return v;
}

bool param_true(const Params& params, const std::string& key, bool fallback) {
  auto v = param(params, key);
  if (!v) return fallback;
  return v->empty() || *v == "true";
}

// A time parameter (timeout, master_timeout) or `fallback`; 400 parse_exception when malformed.
std::chrono::milliseconds time_param(const Params& params, const std::string& key, std::chrono::milliseconds fallback) {
  auto v = param(params, key);
  if (!v) return fallback;
  if (*v == "-1") return std::chrono::hours(24 * 365);
  auto d = parse_duration(*v);
  if (!d) {
    throw api_error(400, "parse_exception",
                    "failed to parse setting [" + key + "] with value [" + *v +
                        "] as a time value: unit is missing or unrecognized");
  }
  return std::chrono::duration_cast<std::chrono::milliseconds>(*d);
}

// The error of a write refused because action.auto_create_index forbids creating its index.
nlohmann::ordered_json auto_create_refused(const std::string& index, const std::string& why) {
  return {{"type", "index_not_found_exception"},
          {"reason", "no such index [" + index + "] and " + why},
          {"index_uuid", "_na_"},
          {"index", index}};
}

// The error of a write with the require_alias flag whose target is not an alias.
nlohmann::ordered_json require_alias_refused(const std::string& target) {
  return {{"type", "index_not_found_exception"},
          {"reason", "no such index [" + target + "] and [require_alias] request flag is [true] and [" + target +
                         "] is not an alias"},
          {"resource.type", "index_or_alias"},
          {"resource.id", target},
          {"index_uuid", "_na_"},
          {"index", target}};
}

bool known_setting(const std::string& key) {
  static const char* kPrefixes[] = {
      "index.number_of_shards", "index.number_of_replicas", "index.refresh_interval", "index.auto_expand_replicas",
      "index.analysis.",        "index.max_",               "index.routing.",         "index.similarity.",
      "index.mapping.",         "index.codec",              "index.blocks.",          "index.search.",
      "index.translog.",        "index.queries.",           "index.hidden",           "index.sort.",
      "index.merge.",           "index.unassigned.",        "index.lifecycle.",       "index.priority",
      "index.default_pipeline", "index.final_pipeline",     "index.write.",           "index.shard.",
      "index.store.",           "index.indexing.",          "index.query_string.",    "index.highlight.",
      "index.gc_deletes",       "index.format",             "index.load_fixed_bitset_filters_eagerly"};
  return std::any_of(std::begin(kPrefixes), std::end(kPrefixes),
                     [&](const char* p) { return key.rfind(p, 0) == 0; });
}

bool dynamic_setting(const std::string& key) {
  return key != "index.number_of_shards" && key.rfind("index.analysis.", 0) != 0 && key != "index.codec" &&
         key.rfind("index.sort.", 0) != 0 && key != "index.shard.check_on_startup";
}

int int_setting(const FlatSettings& s, const std::string& key, int fallback, int minimum) {
  auto it = s.find(key);
  if (it == s.end() || it->second.is_null()) return fallback;
  std::string v = it->second.is_string() ? it->second.get<std::string>() : it->second.dump();
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || end != v.c_str() + v.size()) {
    throw illegal_argument("Failed to parse value [" + v + "] for setting [" + key + "]");
  }
  if (n < minimum) {
    throw illegal_argument("Failed to parse value [" + v + "] for setting [" + key + "] must be >= " +
                           std::to_string(minimum));
  }
  return static_cast<int>(n);
}

std::optional<std::chrono::milliseconds> refresh_interval_of(const FlatSettings& s) {
  auto it = s.find("index.refresh_interval");
  if (it == s.end() || it->second.is_null()) return std::chrono::seconds(1);
  std::string v = it->second.get<std::string>();
  if (v == "-1") return std::nullopt;
  auto d = parse_duration(v);
  if (!d || d->count() <= 0) {
    throw illegal_argument("failed to parse setting [index.refresh_interval] with value [" + v +
                           "] as a time value: unit is missing or unrecognized");
  }
  return *d;
}


}  // namespace

struct Store::Index {
  std::string name;
  std::string uuid = random_id(22);
  std::int64_t creation_ms = now_millis();
  FlatSettings settings;
  // Copy-on-write: replaced, never changed in place, so that bulk requests can check documents
  // against a snapshot outside the store's lock.
  std::shared_ptr<const Mapping> mapping = std::make_shared<const Mapping>();
  std::map<std::string, Analyzer> analyzers;
  int shards = 1;
  int replicas = 1;
  bool auto_expand = false;
  std::uint8_t blocks = 0;  // blocks::Bit set by index.blocks.*
  std::optional<std::chrono::milliseconds> refresh_interval{std::chrono::seconds(1)};
  Clock::time_point tick_origin = Clock::now();
  std::vector<std::int64_t> seq_no;

  std::unordered_map<std::string, DocPtr> latest;
  std::map<std::string, DocPtr> visible;
  struct Pending {
    Clock::time_point at;
    std::string id;
    DocPtr doc;  // null: delete
  };
  std::deque<Pending> pending;

  bool sink = false;
  IdSet ids;
  std::deque<std::pair<Clock::time_point, std::int64_t>> sink_pending;
  std::int64_t sink_visible = 0;

  void derive(int nodes) {
    shards = int_setting(settings, "index.number_of_shards", 1, 1);
    replicas = int_setting(settings, "index.number_of_replicas", 1, 0);
    auto ae = settings.find("index.auto_expand_replicas");
    auto_expand = ae != settings.end() && ae->second.is_string() && ae->second.get<std::string>() != "false";
    if (auto_expand) replicas = std::min(1, nodes - 1);
    refresh_interval = refresh_interval_of(settings);
    blocks = blocks::from_settings(settings);
    tick_origin = Clock::now();
    seq_no.resize(static_cast<std::size_t>(shards), 0);
  }

  int shard_of(const std::string& id) const {
    return static_cast<int>(std::hash<std::string>{}(id) % static_cast<std::size_t>(shards));
  }

  void refresh_until(Clock::time_point until) {
    while (!pending.empty() && pending.front().at <= until) {
      auto& p = pending.front();
      if (p.doc) {
        visible[p.id] = p.doc;
      } else {
        visible.erase(p.id);
      }
      pending.pop_front();
    }
    while (!sink_pending.empty() && sink_pending.front().first <= until) {
      sink_visible += sink_pending.front().second;
      sink_pending.pop_front();
    }
  }
  void refresh_now() { refresh_until(Clock::time_point::max()); }
  // The periodic refresh Elasticsearch runs every refresh_interval, evaluated lazily.
  void scheduled_refresh() {
    if (!refresh_interval) return;
    auto now = Clock::now();
    auto interval = std::chrono::duration_cast<Clock::duration>(*refresh_interval);
    auto ticks = (now - tick_origin) / interval;
    refresh_until(tick_origin + ticks * interval);
  }
  std::int64_t visible_count() const {
    return sink ? sink_visible : static_cast<std::int64_t>(visible.size());
  }
  bool contains(const std::string& id) const { return sink ? ids.contains(id) : latest.count(id) > 0; }
};

struct Store::Task {
  std::int64_t id = 0;
  std::string node;
  std::string description;
  std::int64_t start_ms = now_millis();
  Clock::time_point start = Clock::now();
  std::vector<std::string> sources;
  std::string dest;
  nlohmann::json query;
  int slices = 1;
  bool sliced = false;
  std::atomic<double> rps{-1};  // -1: unthrottled; _rethrottle changes it while the slices run
  bool refresh = false;
  int batch_size = 1000;
  std::int64_t max_docs = -1;  // -1: every matching document
  bool store_result = false;
  struct Slice {
    std::int64_t total = 0, created = 0, updated = 0, deleted = 0, batches = 0;
    double throttled_ms = 0;
  };
  std::vector<Slice> slice_status;
  bool completed = false;
  std::atomic<bool> cancelled{false};  // POST _tasks/<id>/_cancel: the slices stop after their batch
  std::atomic<bool> killed{false};     // its node restarted: it ends without a result
  bool show_cancelled = false;         // the profile shows "cancelled" on running tasks
  std::chrono::milliseconds timeout{std::chrono::minutes(1)};  // its bulk requests' `timeout`
  // Why it failed as a whole (it then has no response).
  std::optional<nlohmann::ordered_json> error;
  int error_status = 500;
  Clock::time_point end;
  nlohmann::ordered_json failures = nlohmann::ordered_json::array();

  nlohmann::ordered_json status_json(const Slice& s, double rps_value, bool human) const {
    nlohmann::ordered_json j;
    j["total"] = s.total;
    j["updated"] = s.updated;
    j["created"] = s.created;
    j["deleted"] = s.deleted;
    j["batches"] = s.batches;
    j["version_conflicts"] = 0;
    j["noops"] = 0;
    j["retries"] = {{"bulk", 0}, {"search", 0}};
    if (human) j["throttled"] = std::to_string(static_cast<std::int64_t>(s.throttled_ms)) + "ms";
    j["throttled_millis"] = static_cast<std::int64_t>(s.throttled_ms);
    j["requests_per_second"] = rps_value;
    if (human) j["throttled_until"] = "0s";
    j["throttled_until_millis"] = 0;
    if (cancelled) j["canceled"] = "by user request";
    return j;
  }
  Slice totals() const {
    Slice t;
    for (const auto& s : slice_status) {
      t.total += s.total;
      t.created += s.created;
      t.updated += s.updated;
      t.deleted += s.deleted;
      t.batches += s.batches;
      t.throttled_ms += s.throttled_ms;
    }
    return t;
  }
  nlohmann::ordered_json status(bool human) const {
    const double current = rps.load();
    double r = current < 0 ? -1.0 : current;
    auto j = status_json(totals(), r, human);
    if (sliced) {
      auto list = nlohmann::ordered_json::array();
      for (std::size_t i = 0; i < slice_status.size(); ++i) {
        nlohmann::ordered_json s;
        s["slice_id"] = i;
        auto fields = status_json(slice_status[i], current < 0 ? -1.0 : current / slices, human);
        for (auto& [k, v] : fields.items()) s[k] = v;
        list.push_back(s);
      }
      j["slices"] = list;
    }
    return j;
  }
  nlohmann::ordered_json response(bool human) const {
    nlohmann::ordered_json j;
    j["took"] = std::chrono::duration_cast<std::chrono::milliseconds>(end - start).count();
    j["timed_out"] = false;
    auto fields = status(human);
    for (auto& [k, v] : fields.items()) j[k] = v;
    j["failures"] = failures;
    return j;
  }
  nlohmann::ordered_json task_json() const {
    nlohmann::ordered_json t;
    t["node"] = node;
    t["id"] = id;
    t["type"] = "transport";
    t["action"] = "indices:data/write/reindex";
    t["status"] = status(false);
    t["description"] = description;
    t["start_time_in_millis"] = start_ms;
    auto running = (completed ? end : Clock::now()) - start;
    t["running_time_in_nanos"] = std::chrono::duration_cast<std::chrono::nanoseconds>(running).count();
    t["cancellable"] = true;
    // A finished task is read back from `.tasks`, stored without "cancelled".
    if (show_cancelled && !completed) t["cancelled"] = cancelled.load();
    t["headers"] = nlohmann::ordered_json::object();
    nlohmann::ordered_json out;
    out["completed"] = completed;
    out["task"] = t;
    if (completed && error) {
      out["error"] = *error;
    } else if (completed) {
      out["response"] = response(true);
    }
    return out;
  }
};

Store::Store(StoreOptions options)
    : options_(std::move(options)),
      node_id_(random_id(22)),
      cluster_uuid_(random_id(22)),
      cluster_settings_(options_.node_settings) {}

Store::~Store() { stop(); }

void Store::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(task_threads_);
  }
  blocks_changed_.notify_all();
  for (auto& t : threads) {
    if (t.joinable()) t.join();
  }
}

Answer Store::info() const {
  nlohmann::ordered_json j;
  j["name"] = "devsearch-node-1";
  j["cluster_name"] = kClusterName;
  j["cluster_uuid"] = cluster_uuid_;
  const auto& p = options_.profile;
  j["version"] = {{"number", p.version_number},
                  {"build_flavor", "default"},
                  {"build_type", "tar"},
                  {"build_hash", p.build_hash},
                  {"build_date", p.build_date},
                  {"build_snapshot", false},
                  {"lucene_version", p.lucene_version},
                  {"minimum_wire_compatibility_version", p.minimum_wire_compatibility_version},
                  {"minimum_index_compatibility_version", p.minimum_index_compatibility_version}};
  j["tagline"] = "You Know, for Search";
  return json_answer(200, j);
}

Answer Store::get_cluster_settings(const Params& params) {
  std::lock_guard lock(mutex_);
  return json_answer(200, cluster_settings_.get(param_true(params, "flat_settings", false),
                                                param_true(params, "include_defaults", false)));
}

Answer Store::put_cluster_settings(const std::string& body, const Params& params) {
  try {
    auto j = parse_body(body);
    std::lock_guard lock(mutex_);
    return json_answer(200, cluster_settings_.update(j, param_true(params, "flat_settings", false)));
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

void Store::restart() {
  std::lock_guard lock(mutex_);
  for (auto& [name, idx] : indices_) idx->refresh_now();
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    if (it->second->completed) {
      ++it;
      continue;
    }
    it->second->killed = true;
    it->second->cancelled = true;  // its slices stop at their next batch
    it = tasks_.erase(it);
  }
  cluster_settings_.forget_transient();
  ++generation_;
  blocks_changed_.notify_all();
}

Store::Index* Store::find_locked(const std::string& name) {
  auto it = indices_.find(name);
  return it == indices_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Store::resolve_locked(const std::string& expr, bool allow_missing_wildcards) {
  std::vector<std::string> out;
  std::stringstream ss(expr);
  std::string part;
  while (std::getline(ss, part, ',')) {
    if (part.empty()) continue;
    if (part == "_all" || part.find('*') != std::string::npos) {
      std::string pattern = part == "_all" ? "*" : part;
      bool any = false;
      for (const auto& [name, idx] : indices_) {
        if (wildcard_match(pattern, name) && (name[0] != '.' || pattern[0] == '.')) {
          out.push_back(name);
          any = true;
        }
      }
      if (!any && !allow_missing_wildcards) throw index_not_found(part);
      continue;
    }
    if (indices_.count(part) > 0) {
      out.push_back(part);
    } else if (auto a = aliases_.find(part); a != aliases_.end()) {
      out.insert(out.end(), a->second.begin(), a->second.end());
    } else {
      throw index_not_found(part);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Store::Index* Store::write_target_locked(const std::string& name) {
  if (Index* idx = find_locked(name)) return idx;
  if (auto a = aliases_.find(name); a != aliases_.end() && a->second.size() == 1)
    return find_locked(*a->second.begin());
  return nullptr;
}

void Store::blocks_changed_locked() {
  retryable_blocked_indices_ = 0;
  for (const auto& [name, idx] : indices_) {
    if ((idx->blocks & blocks::kReadOnlyAllowDelete) != 0) ++retryable_blocked_indices_;
  }
  blocks_changed_.notify_all();
}

void Store::check_read_locked(const std::vector<std::string>& indices) {
  for (const auto& n : indices) {
    if (auto set = blocks::at_level(indices_.at(n)->blocks, blocks::Level::kRead, options_.profile)) {
      throw blocks::error({{n, set}});
    }
  }
}

void Store::check_metadata_read_locked(const std::vector<std::string>& indices) {
  std::vector<std::pair<std::string, std::uint8_t>> blocked;
  for (const auto& n : indices) {
    if (auto set = blocks::at_level(indices_.at(n)->blocks, blocks::Level::kMetadataRead, options_.profile)) {
      blocked.emplace_back(n, set);
    }
  }
  if (!blocked.empty()) throw blocks::error(blocked);
}

void Store::check_metadata_write_locked(Lock& lock, const std::vector<std::string>& indices, const Params& params) {
  auto deadline = Clock::now() + time_param(params, "master_timeout", kDefaultMasterTimeout);
  const auto generation = generation_.load();
  while (true) {
    std::vector<std::pair<std::string, std::uint8_t>> blocked;
    std::uint8_t all = 0;
    for (const auto& n : indices) {
      auto it = indices_.find(n);
      if (it == indices_.end()) continue;
      if (auto set = blocks::at_level(it->second->blocks, blocks::Level::kMetadataWrite, options_.profile)) {
        blocked.emplace_back(n, set);
        all |= set;
      }
    }
    if (blocked.empty()) return;
    if (!blocks::all_retryable(all)) throw blocks::error(blocked);
    // A master-node action retries a retryable block until master_timeout, then gives up with
    // master_not_discovered_exception caused by the block.
    if (stopping_ || generation_ != generation ||
        blocks_changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      auto cause = error_object("cluster_block_exception", blocks::reason(blocked));
      throw api_error(503, "master_not_discovered_exception", "ClusterBlockException[" + blocks::reason(blocked) + "]",
                      nlohmann::ordered_json::object(), cause);
    }
  }
}

Store::Index& Store::create_locked(const std::string& name, const nlohmann::json& body, bool auto_created) {
  if (auto reason = invalid_index_name_reason(name)) {
    throw api_error(400, "invalid_index_name_exception", "Invalid index name [" + name + "], " + *reason,
                    {{"index_uuid", "_na_"}, {"index", name}});
  }
  if (auto* existing = find_locked(name)) {
    throw api_error(400, "resource_already_exists_exception",
                    "index [" + name + "/" + existing->uuid + "] already exists",
                    {{"index_uuid", existing->uuid}, {"index", name}});
  }
  if (aliases_.count(name) > 0) {
    throw api_error(400, "invalid_index_name_exception", "Invalid index name [" + name + "], already exists as alias",
                    {{"index_uuid", "_na_"}, {"index", name}});
  }
  for (const auto& [key, value] : body.items()) {
    if (key != "settings" && key != "mappings" && key != "aliases") {
      throw api_error(400, "parse_exception", "unknown key [" + key + "] for create index");
    }
  }
  auto index = std::make_unique<Index>();
  index->name = name;
  index->sink = options_.sink;
  index->settings = flatten_settings(body.value("settings", nlohmann::json::object()));
  for (const auto& [key, value] : index->settings) {
    if (!known_setting(key)) {
      throw illegal_argument("unknown setting [" + key +
                             "] please check that any required plugins are installed, or check the breaking changes "
                             "documentation for removed settings");
    }
  }
  if (auto_created) {
    index->settings["index.number_of_shards"] = "1";
    index->settings["index.number_of_replicas"] = "1";
  }
  index->derive(options_.nodes);
  auto nested = unflatten_settings(index->settings);
  nlohmann::json analysis = nlohmann::json::object();
  if (nested.contains("index") && nested["index"].contains("analysis")) {
    analysis = nlohmann::json::parse(nested["index"]["analysis"].dump());
  }
  index->analyzers = build_analyzers(analysis);
  std::vector<std::string> analyzer_names;
  for (const auto& [n, a] : index->analyzers) analyzer_names.push_back(n);
  index->mapping = std::make_shared<const Mapping>(Mapping::parse(body.value("mappings", nlohmann::json()), analyzer_names));
  std::set<std::string> new_aliases;
  if (body.contains("aliases")) {
    for (const auto& [alias, ignored] : body["aliases"].items()) {
      if (indices_.count(alias) > 0) {
        throw api_error(400, "invalid_alias_name_exception",
                        "Invalid alias name [" + alias + "], an index exists with the same name as the alias",
                        {{"index_uuid", indices_[alias]->uuid}, {"index", alias}});
      }
      new_aliases.insert(alias);
    }
  }
  for (const auto& alias : new_aliases) aliases_[alias].insert(name);
  auto& ref = *index;
  indices_[name] = std::move(index);
  if (ref.blocks != 0) blocks_changed_locked();
  return ref;
}

Answer Store::create_index(const std::string& name, const std::string& body) {
  try {
    auto j = parse_body(body);
    std::lock_guard lock(mutex_);
    create_locked(name, j, false);
    nlohmann::ordered_json out;
    out["acknowledged"] = true;
    out["shards_acknowledged"] = true;
    out["index"] = name;
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::index_exists(const std::string& name) {
  std::lock_guard lock(mutex_);
  try {
    auto names = resolve_locked(name, false);
    check_metadata_read_locked(names);  // HEAD is a get-index request: 403 on a metadata block
    return Answer{names.empty() ? 404 : 200, ""};
  } catch (const ApiError& e) {
    return Answer{e.status, ""};
  }
}

namespace {
nlohmann::ordered_json get_settings_locked_body(const Store::Index& idx, const EngineProfile& profile);
}  // namespace

Answer Store::get_index(const std::string& name) {
  std::lock_guard lock(mutex_);
  try {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    auto names = resolve_locked(name, false);
    check_metadata_read_locked(names);
    for (const auto& n : names) {
      const auto& idx = *indices_.at(n);
      nlohmann::ordered_json aliases = nlohmann::ordered_json::object();
      for (const auto& [alias, members] : aliases_) {
        if (members.count(n) > 0) aliases[alias] = nlohmann::ordered_json::object();
      }
      out[n]["aliases"] = aliases;
      out[n]["mappings"] = nlohmann::ordered_json::parse(idx.mapping->to_json().dump());
      out[n]["settings"] = nlohmann::ordered_json::parse(get_settings_locked_body(idx, options_.profile).dump());
    }
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

namespace {

nlohmann::ordered_json get_settings_locked_body(const Store::Index& idx, const EngineProfile& profile) {
  FlatSettings flat = idx.settings;
  flat["index.routing.allocation.include._tier_preference"] = "data_content";
  flat.emplace("index.number_of_shards", std::to_string(idx.shards));
  flat.emplace("index.number_of_replicas", "1");
  flat["index.provided_name"] = idx.name;
  flat["index.creation_date"] = std::to_string(idx.creation_ms);
  flat["index.uuid"] = idx.uuid;
  flat["index.version.created"] = profile.index_version_created;
  return unflatten_settings(flat);
}

}  // namespace

Answer Store::delete_index(const std::string& name) {
  std::lock_guard lock(mutex_);
  try {
    std::vector<std::string> names;
    std::stringstream ss(name);
    std::string part;
    while (std::getline(ss, part, ',')) {
      if (aliases_.count(part) > 0 && indices_.count(part) == 0) {
        throw illegal_argument("The provided expression [" + part +
                               "] matches an alias, specify the corresponding concrete indices instead.");
      }
    }
    names = resolve_locked(name, true);
    // Deleting is a metadata write; the flood-stage block lets it through (it frees disk).
    std::vector<std::pair<std::string, std::uint8_t>> blocked;
    for (const auto& n : names) {
      auto set = blocks::preventing_deletion(
          blocks::at_level(indices_.at(n)->blocks, blocks::Level::kMetadataWrite, options_.profile));
      if (set != 0) blocked.emplace_back(n, set);
    }
    if (!blocked.empty()) throw blocks::error(blocked);
    for (const auto& n : names) {
      indices_.erase(n);
      for (auto it = aliases_.begin(); it != aliases_.end();) {
        it->second.erase(n);
        it = it->second.empty() ? aliases_.erase(it) : std::next(it);
      }
    }
    blocks_changed_locked();
    return json_answer(200, {{"acknowledged", true}});
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::get_settings(const std::string& name) {
  std::lock_guard lock(mutex_);
  try {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    auto names = resolve_locked(name, true);
    check_metadata_read_locked(names);
    for (const auto& n : names) {
      out[n]["settings"] = get_settings_locked_body(*indices_.at(n), options_.profile);
    }
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::put_settings(const std::string& name, const std::string& body, const Params& params) {
  try {
    auto j = parse_body(body);
    if (j.contains("settings") && j.size() == 1) j = j["settings"];
    FlatSettings changes = flatten_settings(j);
    if (changes.empty()) {
      throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;");
    }
    std::vector<std::string> keys_as_sent;
    for (const auto& [key, value] : flatten_keys(j)) keys_as_sent.push_back(key);
    Lock lock(mutex_);
    auto names = resolve_locked(name, true);
    // Blocks first, as Elasticsearch checks them before the settings; an update that lifts a
    // block must stay possible on a blocked index.
    if (!blocks::update_lifts_blocks(keys_as_sent)) check_metadata_write_locked(lock, names, params);
    for (const auto& [key, value] : changes) {
      if (!known_setting(key)) {
        throw illegal_argument("unknown setting [" + key +
                               "] please check that any required plugins are installed, or check the breaking "
                               "changes documentation for removed settings");
      }
      if (!dynamic_setting(key)) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n + "/" + indices_.at(n)->uuid;
        throw illegal_argument("Can't update non dynamic settings [[" + key + "]] for open indices [[" + list + "]]");
      }
    }
    // Validate on copies first so that a bad value changes nothing.
    std::vector<std::pair<Index*, FlatSettings>> updated;
    for (const auto& n : names) {
      Index* idx = indices_.at(n).get();
      FlatSettings s = idx->settings;
      for (const auto& [key, value] : changes) {
        if (value.is_null()) {
          s.erase(key);
        } else {
          s[key] = value;
        }
      }
      Index probe;
      probe.settings = s;
      probe.derive(options_.nodes);
      updated.emplace_back(idx, std::move(s));
    }
    bool blocks_changed = false;
    for (auto& [idx, s] : updated) {
      idx->scheduled_refresh();
      auto before = idx->blocks;
      idx->settings = std::move(s);
      idx->derive(options_.nodes);
      blocks_changed = blocks_changed || before != idx->blocks;
    }
    if (blocks_changed) blocks_changed_locked();
    return json_answer(200, {{"acknowledged", true}});
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::clone_index(const std::string& source, const std::string& target, const std::string& body) {
  try {
    auto j = parse_body(body);
    // The REST layer parses the body before the action runs: only `settings` and `aliases`
    // (ResizeRequest's parser; mappings always come from the source).
    for (const auto& [key, value] : j.items()) {
      if (key != "settings" && key != "aliases") {
        throw api_error(400, "x_content_parse_exception", "[resize_request] unknown field [" + key + "]");
      }
    }
    FlatSettings requested = flatten_settings(j.value("settings", nlohmann::json::object()));
    Lock lock(mutex_);
    // TransportResizeAction reads the source by its concrete name: an alias is not resolved.
    Index* src = find_locked(source);
    if (src == nullptr) {
      throw api_error(404, "index_not_found_exception", "no such index [" + source + "]",
                      {{"index_uuid", "_na_"}, {"index", source}});
    }
    if (auto it = requested.find("index.number_of_shards"); it != requested.end() && !it->second.is_null()) {
      int wanted = int_setting(requested, "index.number_of_shards", src->shards, 1);
      if (wanted != src->shards) {
        // Elasticsearch's message, spacing included (IndexMetadata.selectCloneShard).
        throw illegal_argument("the number of target shards (" + std::to_string(wanted) +
                               ") must be the same as the number of  source shards ( " +
                               std::to_string(src->shards) + ")");
      }
    }
    if (auto reason = invalid_index_name_reason(target)) {
      throw api_error(400, "invalid_index_name_exception", "Invalid index name [" + target + "], " + *reason,
                      {{"index_uuid", "_na_"}, {"index", target}});
    }
    if (auto* existing = find_locked(target)) {
      throw api_error(400, "resource_already_exists_exception",
                      "index [" + target + "/" + existing->uuid + "] already exists",
                      {{"index_uuid", existing->uuid}, {"index", target}});
    }
    if (blocks::at_level(src->blocks, blocks::Level::kWrite, options_.profile) == 0) {
      // An IllegalStateException, which Elasticsearch answers with 500 (ExceptionsHelper.status).
      throw api_error(500, "illegal_state_exception",
                      "index " + source + " must be read-only to resize index. use \"index.blocks.write=true\"");
    }
    // The source's settings, except the replica count (Elasticsearch's default applies unless the
    // request sets one), under the request's; a null in the request keeps a setting from being
    // copied (how a shrink or clone drops the copied index.blocks.write).
    FlatSettings settings = src->settings;
    settings.erase("index.number_of_replicas");
    settings.erase("index.auto_expand_replicas");
    settings.erase("index.resize.source.name");  // a clone of a clone names its own source
    settings.erase("index.resize.source.uuid");
    for (const auto& [key, value] : requested) {
      if (value.is_null()) {
        settings.erase(key);
      } else {
        settings[key] = value;
      }
    }
    settings["index.number_of_shards"] = std::to_string(src->shards);
    nlohmann::json create = {{"settings", nlohmann::json::parse(unflatten_settings(settings).dump())}};
    if (j.contains("aliases")) create["aliases"] = j["aliases"];
    Index& dst = create_locked(target, create, false);
    dst.settings["index.resize.source.name"] = src->name;
    dst.settings["index.resize.source.uuid"] = src->uuid;
    dst.mapping = src->mapping;
    // The clone recovers from the source's last commit (flushed first), like a closed index
    // re-opened: every acknowledged document is there and visible, versions and sequence numbers
    // kept.
    dst.seq_no = src->seq_no;
    if (dst.sink) {
      dst.ids = src->ids;
      dst.sink_visible = static_cast<std::int64_t>(dst.ids.size());
    } else {
      dst.latest = src->latest;
      dst.visible = std::map<std::string, DocPtr>(src->latest.begin(), src->latest.end());
    }
    nlohmann::ordered_json out;
    out["acknowledged"] = true;
    out["shards_acknowledged"] = true;
    out["index"] = target;
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

namespace {
// Sink mode keeps one visibility entry per bulk request, not per document.
void add_sink_delta(Store::Index& idx, std::chrono::steady_clock::time_point now, std::int64_t delta);
}  // namespace

namespace {

void merge_mapping(Store::Index& idx, const Mapping& additions) {
  if (additions.empty()) return;
  auto merged = std::make_shared<Mapping>(*idx.mapping);
  merged->merge(additions);
  idx.mapping = std::move(merged);
}

// Elasticsearch's reason for a document that is not JSON, with where it broke.
std::string source_parse_error(std::string_view source, rapidjson::ParseErrorCode code, std::size_t offset) {
  return std::string(rapidjson::GetParseError_En(code)) + " at offset " + std::to_string(offset) + " of [" +
         std::string(source.substr(0, 100)) + "]";
}

}  // namespace

Answer Store::bulk(std::string_view body, const std::string& default_index,
                   const std::function<ItemFault(std::string_view id)>& item_fault, BulkCounters& counters,
                   const FilterPath::BulkFields* keep, std::chrono::milliseconds timeout, bool require_alias) {
  auto start = Clock::now();
  struct Item {
    std::string action;
    std::string index;
    std::string id;
    std::string_view source;
    bool has_id = false;
    bool require_alias = false;
  };
  std::vector<Item> items;
  // Pass 1: parse every action line; a malformed action fails the whole request as in Elasticsearch.
  std::size_t pos = 0;
  std::size_t line_no = 0;
  auto next_line = [&](std::string_view& line) {
    while (pos < body.size()) {
      std::size_t nl = body.find('\n', pos);
      std::size_t end = nl == std::string_view::npos ? body.size() : nl;
      line = body.substr(pos, end - pos);
      pos = nl == std::string_view::npos ? body.size() : nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) return true;
    }
    return false;
  };
  try {
    std::string_view line;
    rapidjson::Document action_doc;
    while (next_line(line)) {
      action_doc.Parse(line.data(), line.size());
      if (action_doc.HasParseError() || !action_doc.IsObject() || action_doc.MemberCount() != 1) {
        throw illegal_argument("Malformed action/metadata line [" + std::to_string(line_no) +
                               "], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]");
      }
      auto& m = *action_doc.MemberBegin();
      Item item;
      item.action.assign(m.name.GetString(), m.name.GetStringLength());
      if (item.action != "index" && item.action != "create" && item.action != "delete" && item.action != "update") {
        throw illegal_argument("Malformed action/metadata line [" + std::to_string(line_no) +
                               "], expected field [create], [delete], [index] or [update] but found [" + item.action +
                               "]");
      }
      if (item.action == "update") {
        throw illegal_argument("devsearch does not implement bulk [update] actions (line " + std::to_string(line_no) +
                               "): use [index]");
      }
      if (!m.value.IsObject()) {
        throw illegal_argument("Malformed action/metadata line [" + std::to_string(line_no) +
                               "], expected START_OBJECT but found [" + std::string("VALUE") + "]");
      }
      item.index = default_index;
      for (auto f = m.value.MemberBegin(); f != m.value.MemberEnd(); ++f) {
        std::string key(f->name.GetString(), f->name.GetStringLength());
        if (key == "_index" && f->value.IsString()) item.index.assign(f->value.GetString(), f->value.GetStringLength());
        if (key == "require_alias" && f->value.IsBool()) item.require_alias = f->value.GetBool();
        if (key == "_id") {
          item.has_id = true;
          if (f->value.IsString()) {
            item.id.assign(f->value.GetString(), f->value.GetStringLength());
          } else if (f->value.IsNumber()) {
            item.id = std::to_string(f->value.GetInt64());
          }
        }
      }
      if (item.index.empty()) {
        throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: index is missing;");
      }
      if (item.action == "delete" && item.id.empty()) {
        throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: id is missing;");
      }
      if (item.action != "delete") {
        std::string_view src;
        if (!next_line(src)) {
          throw illegal_argument("The bulk request must be terminated by a newline [\\n]");
        }
        item.source = src;
        if (item.id.empty()) item.id = random_id(20);
      }
      items.push_back(std::move(item));
    }
    if (items.empty()) {
      throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;");
    }
  } catch (const ApiError& e) {
    return json_answer(e);
  }

  // Every source is parsed and checked against its index's mapping here, before the store's lock,
  // so that concurrent requests use every core; under the lock the verdict is used if the
  // mapping is still the one checked against (nothing in this request added fields before it).
  struct Verdict {
    const Mapping* against = nullptr;  // null: not checked here (no such index yet)
    std::string parse_error;
    std::optional<nlohmann::ordered_json> mapping_error;
    Mapping additions;
  };
  std::vector<Verdict> verdicts(items.size());
  // Parses `item`'s source into `doc` and checks it against `mapping`. The source is parsed in
  // place in `text`, a null-terminated copy that must live as long as `doc` is used.
  auto judge = [](Verdict& v, const Mapping& mapping, const Item& item, rapidjson::Document& doc, std::string& text,
                  FieldLookupCache* cache) {
    v.against = &mapping;
    // The document's pool would otherwise keep every source of the request until it ends.
    doc.SetNull();
    doc.GetAllocator().Clear();
    if (item.source.find('\0') == std::string_view::npos) {
      text.assign(item.source);
      doc.ParseInsitu(text.data());
    } else {
      doc.Parse(item.source.data(), item.source.size());  // a NUL byte must fail the parse, not end it
    }
    if (doc.HasParseError()) {
      v.parse_error = source_parse_error(item.source, doc.GetParseError(), doc.GetErrorOffset());
    } else {
      v.mapping_error = mapping.check(doc, item.id, v.additions, cache);
    }
  };
  // Held to the end: a verdict's mapping must not be freed (and its address reused) meanwhile.
  std::map<std::string, std::shared_ptr<const Mapping>> snapshots;
  {
    {
      std::lock_guard lock(mutex_);
      const std::string* last = nullptr;  // items mostly name one index: skip the lookup for a repeat
      for (const auto& item : items) {
        if (item.action == "delete" || (last && *last == item.index)) continue;
        last = &item.index;
        if (snapshots.count(item.index)) continue;
        Index* idx = find_locked(item.index);
        if (idx == nullptr) {
          if (auto a = aliases_.find(item.index); a != aliases_.end() && a->second.size() == 1) {
            idx = find_locked(*a->second.begin());
          }
        }
        snapshots[item.index] = idx ? idx->mapping : nullptr;
      }
    }
    rapidjson::Document parsed;
    std::string parsed_text;
    FieldLookupCache lookups;  // points into the snapshots, which outlive it
    const std::string* last = nullptr;
    const Mapping* snapshot = nullptr;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const auto& item = items[i];
      if (item.action == "delete") continue;
      if (!last || *last != item.index) {
        last = &item.index;
        snapshot = snapshots.at(item.index).get();
      }
      if (snapshot) judge(verdicts[i], *snapshot, item, parsed, parsed_text, &lookups);
    }
  }

  // Pass 2: execute the items in order. Each item's answer is written with the fields `keep`
  // (filter_path) lets through, in Elasticsearch's order; an item left with none is omitted.
  std::string out;
  out.reserve(items.size() * (keep ? 32 : 200) + 64);
  out += "{";
  std::size_t took_pos = std::string::npos, errors_pos = std::string::npos;
  if (!keep || keep->took) {
    out += "\"took\":";
    took_pos = out.size();
    out += "          ";
  }
  if (!keep || keep->errors) {
    if (out.size() > 1) out += ',';
    out += "\"errors\":";
    errors_pos = out.size();
    out += "false";
  }
  const bool any_item_field = !keep || !keep->item_fields.empty();
  std::size_t items_pos = std::string::npos;
  if (any_item_field) {
    if (out.size() > 1) out += ',';
    items_pos = out.size();
    out += "\"items\":[";
  }
  bool errors = false;
  bool first = true;
  std::string fields;  // one item's fields, then wrapped
  // Which item fields filter_path keeps, decided once per request, not per item.
  enum ItemField { kIndex, kType, kId, kStatus, kError, kVersion, kResult, kShards, kSeqNo, kPrimaryTerm, kFieldCount };
  static constexpr std::array<const char*, kFieldCount> kFieldNames = {
      "_index", "_type", "_id", "status", "error", "_version", "result", "_shards", "_seq_no", "_primary_term"};
  std::array<bool, kFieldCount> kept{};
  for (int f = 0; f < kFieldCount; ++f) kept[f] = !keep || keep->keeps(kFieldNames[f]);
  if (!options_.profile.type_in_responses) kept[kType] = false;
  auto field = [&](ItemField f, auto&& write_value) {
    if (!kept[f]) return;
    const char* name = kFieldNames[f];
    if (!fields.empty()) fields += ',';
    fields += '"';
    fields += name;
    fields += "\":";
    write_value();
  };
  auto finish_item = [&](const Item& item) {
    if (!any_item_field || fields.empty()) return;
    if (!first) out += ',';
    first = false;
    out += "{\"";
    out += item.action;
    out += "\":{";
    out += fields;
    out += "}}";
  };
  Lock lock(mutex_);
  if (retryable_blocked_indices_ > 0) {
    // Elasticsearch's shard requests retry a retryable block (the flood-stage one) until the bulk
    // `timeout`, and then fail. Here the whole request waits while any of its indices has only
    // retryable write blocks; the items are then executed (or refused) as below.
    auto deadline = start + timeout;
    const auto generation = generation_.load();
    auto waits_for_block = [&] {
      const std::string* last = nullptr;
      for (const auto& item : items) {
        if (last && *last == item.index) continue;
        last = &item.index;
        const Index* idx = write_target_locked(item.index);
        if (idx && blocks::all_retryable(blocks::at_level(idx->blocks, blocks::Level::kWrite, options_.profile))) {
          return true;
        }
      }
      return false;
    };
    while (!stopping_ && generation_ == generation && waits_for_block()) {
      if (blocks_changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
    }
  }
  auto now = Clock::now();
  rapidjson::Document source_doc;
  std::string source_text;
  // The index the previous item resolved to, by the name it gave: most requests name one index.
  const std::string* last_name = nullptr;
  Index* last_idx = nullptr;
  // The write blocks of the index of the previous run of items, checked once per run.
  const Index* block_checked = nullptr;
  std::uint8_t write_blocks = 0;
  std::string block_error;  // the item error of write_blocks, as JSON
  // The missing index auto-creation was last refused for, and the item error saying so.
  std::string refused_name, refused_error;
  for (std::size_t n = 0; n < items.size(); ++n) {
    auto& item = items[n];
    fields.clear();
    // Answers name the concrete index once the item reached one (not the alias it was sent to).
    const std::string* answer_index = &item.index;
    auto head = [&] {
      field(kIndex, [&] { append_json_string(fields, *answer_index); });
      field(kType, [&] { fields += "\"_doc\""; });
      field(kId, [&] { append_json_string(fields, item.id); });
    };
    auto fail_json = [&](int status, std::string_view error) {
      head();
      field(kStatus, [&] { fields += std::to_string(status); });
      field(kError, [&] { fields += error; });
      finish_item(item);
      errors = true;
      if (status == 429) {
        ++counters.rejected;
      } else {
        ++counters.failed;
      }
    };
    auto fail = [&](int status, const nlohmann::ordered_json& error) { fail_json(status, error.dump()); };
    auto succeed = [&](std::int64_t version, const char* result, const Index& idx, std::int64_t seq, int status) {
      head();
      field(kVersion, [&] { fields += std::to_string(version); });
      field(kResult, [&] {
        fields += '"';
        fields += result;
        fields += '"';
      });
      field(kShards, [&] {
        int assigned = std::min(idx.replicas, options_.nodes - 1);
        fields += "{\"total\":" + std::to_string(1 + idx.replicas) + ",\"successful\":" + std::to_string(1 + assigned) +
                  ",\"failed\":0}";
      });
      field(kSeqNo, [&] { fields += std::to_string(seq); });
      field(kPrimaryTerm, [&] { fields += '1'; });
      field(kStatus, [&] { fields += std::to_string(status); });
      finish_item(item);
    };
    if ((require_alias || item.require_alias) && !aliases_.count(item.index)) {
      // Checked before any auto-create: a write that must go through an alias never makes an index.
      fail_json(404, require_alias_refused(item.index).dump());
      continue;
    }
    Index* idx = last_name && *last_name == item.index ? last_idx : find_locked(item.index);
    if (idx == nullptr) {
      if (auto a = aliases_.find(item.index); a != aliases_.end()) {
        if (a->second.size() != 1) {
          fail(400, error_object("illegal_argument_exception",
                                 "no write index is defined for alias [" + item.index +
                                     "]. The write index may be explicitly disabled using is_write_index=false or the "
                                     "alias points to multiple indices without one being designated as a write index"));
          continue;
        }
        idx = find_locked(*a->second.begin());
      }
    }
    if (idx == nullptr && item.action == "delete") {
      auto e = index_not_found(item.index).body["error"];
      e.erase("root_cause");
      fail(404, e);
      continue;
    }
    if (idx == nullptr && refused_name == item.index) {
      fail_json(404, refused_error);
      continue;
    }
    if (idx == nullptr) {
      if (auto why = cluster_settings_.auto_create().refusal(item.index)) {
        refused_name = item.index;
        refused_error = auto_create_refused(item.index, *why).dump();
        fail_json(404, refused_error);
        continue;
      }
      try {
        idx = &create_locked(item.index, nlohmann::json::object(), true);
      } catch (const ApiError& e) {
        auto err = e.body["error"];
        err.erase("root_cause");
        fail(e.status, err);
        continue;
      }
    }
    last_name = &item.index;
    last_idx = idx;
    answer_index = &idx->name;
    if (idx != block_checked) {
      block_checked = idx;
      write_blocks = blocks::at_level(idx->blocks, blocks::Level::kWrite, options_.profile);
      if (write_blocks != 0) block_error = blocks::error_object(idx->name, write_blocks).dump();
    }
    if (write_blocks != 0) {
      fail_json(blocks::status_of(write_blocks), block_error);
      continue;
    }
    const ItemFault injected = item_fault ? item_fault(item.id) : ItemFault::kNone;
    if (injected == ItemFault::kMapping400 && item.action != "delete") {
      fail(400, error_object("mapper_parsing_exception",
                             "failed to parse field [popularity] of type [rank_feature] in document with id '" +
                                 item.id + "'. Preview of field's value: '-1' (devsearch fault injection)"));
      continue;
    }
    if (injected == ItemFault::kReject429) {
      fail(429, error_object("es_rejected_execution_exception",
                             "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
                             "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=" +
                                 std::to_string(item.source.size()) + ", max_coordinating_and_primary_bytes=0] "
                                 "(devsearch fault injection)"));
      continue;
    }
    int shard = idx->shard_of(item.id);
    bool exists = idx->contains(item.id);
    if (item.action == "delete") {
      std::int64_t version = 1;
      if (exists) {
        if (!idx->sink) version = idx->latest[item.id]->version + 1;
        if (idx->sink) {
          idx->ids.erase(item.id);
          add_sink_delta(*idx, now, -1);
        } else {
          idx->latest.erase(item.id);
          idx->pending.push_back({now, item.id, nullptr});
        }
        ++counters.deleted;
      } else {
        ++counters.not_found;
      }
      std::int64_t seq = idx->seq_no[static_cast<std::size_t>(shard)]++;
      succeed(version, exists ? "deleted" : "not_found", *idx, seq, exists ? 200 : 404);
      continue;
    }
    if (item.action == "create" && exists) {
      fail(409, nlohmann::ordered_json{{"type", "version_conflict_engine_exception"},
                                       {"reason", "[" + item.id + "]: version conflict, document already exists (current version [1])"},
                                       {"index_uuid", idx->uuid},
                                       {"shard", std::to_string(shard)},
                                       {"index", idx->name}});
      continue;
    }
    auto& verdict = verdicts[n];
    if (verdict.against == nullptr || verdict.against != idx->mapping.get()) {
      // Not checked before the lock (a new index), or the mapping changed since: check now.
      verdict = Verdict{};
      judge(verdict, *idx->mapping, item, source_doc, source_text, nullptr);  // this mapping may change: no cache
    }
    if (!verdict.parse_error.empty()) {
      fail(400, error_object("mapper_parsing_exception", "failed to parse",
                             error_object("json_parse_exception", verdict.parse_error)));
      continue;
    }
    if (verdict.mapping_error) {
      fail(400, *verdict.mapping_error);
      continue;
    }
    merge_mapping(*idx, verdict.additions);
    std::int64_t version = 1;
    std::int64_t seq = idx->seq_no[static_cast<std::size_t>(shard)]++;
    if (idx->sink) {
      if (!exists) {
        idx->ids.insert(item.id);
        add_sink_delta(*idx, now, 1);
      } else {
        version = 2;
      }
    } else {
      if (exists) version = idx->latest[item.id]->version + 1;
      auto doc = std::make_shared<Doc>(Doc{std::string(item.source), version, seq});
      idx->latest[item.id] = doc;
      idx->pending.push_back({now, item.id, doc});
    }
    (exists ? counters.updated : counters.created)++;
    succeed(version, exists ? "updated" : "created", *idx, seq, exists ? 200 : 201);
  }
  if (any_item_field) {
    if (first && keep) {
      // Every item was filtered away: Elasticsearch drops the empty array with its key.
      out.erase(items_pos > 1 ? items_pos - 1 : items_pos);
    } else {
      out += "]";
    }
  }
  out += "}";
  if (errors && errors_pos != std::string::npos) out.replace(errors_pos, 5, "true ");
  if (took_pos != std::string::npos) {
    auto took = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count());
    out.replace(took_pos, took.size(), took);
  }
  return Answer{200, std::move(out)};
}

namespace {
void add_sink_delta(Store::Index& idx, std::chrono::steady_clock::time_point now, std::int64_t delta) {
  if (!idx.sink_pending.empty() && idx.sink_pending.back().first == now) {
    idx.sink_pending.back().second += delta;
  } else {
    idx.sink_pending.emplace_back(now, delta);
  }
}
}  // namespace

Answer Store::get_doc(const std::string& index, const std::string& id) {
  std::lock_guard lock(mutex_);
  try {
    auto names = resolve_locked(index, false);
    if (names.size() != 1) throw illegal_argument("alias [" + index + "] has more than one index associated with it");
    check_read_locked(names);
    const Index& idx = *indices_.at(names[0]);
    nlohmann::ordered_json out;
    out["_index"] = idx.name;
    if (options_.profile.type_in_responses) out["_type"] = "_doc";
    out["_id"] = id;
    auto it = idx.latest.find(id);
    if (idx.sink && idx.ids.contains(id)) {
      throw illegal_argument("devsearch runs in --sink mode and keeps no sources: GET [" + index + "/_doc/" + id +
                             "] cannot be answered");
    }
    if (it == idx.latest.end()) {
      out["found"] = false;
      return json_answer(404, out);
    }
    out["_version"] = it->second->version;
    out["_seq_no"] = it->second->seq_no;
    out["_primary_term"] = 1;
    out["found"] = true;
    out["_source"] = nlohmann::ordered_json::parse(it->second->source);
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::refresh(const std::string& index_expr) {
  std::lock_guard lock(mutex_);
  try {
    int shards = 0;
    for (const auto& n : resolve_locked(index_expr.empty() ? "_all" : index_expr, true)) {
      auto& idx = *indices_.at(n);
      idx.refresh_now();
      shards += idx.shards * (1 + std::min(idx.replicas, options_.nodes - 1));
    }
    nlohmann::ordered_json out;
    out["_shards"] = {{"total", shards}, {"successful", shards}, {"failed", 0}};
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

namespace {

struct Hit {
  const Store::Index* index;
  std::string id;
  std::shared_ptr<const Doc> doc;
  std::vector<nlohmann::json> sort;
};

// The ids a query can only match among, when it says so: an ids query, or a bool with one in its
// filter or must. Elasticsearch finds those documents by _id; devsearch then looks them up instead
// of reading every source (the answer is the same, the full query is still applied to each).
std::optional<std::vector<std::string>> restricting_ids(const nlohmann::json& query) {
  if (!query.is_object()) return std::nullopt;
  if (auto it = query.find("ids"); it != query.end() && it->is_object() && it->contains("values") &&
                                   (*it)["values"].is_array()) {
    std::vector<std::string> out;
    for (const auto& v : (*it)["values"]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
    return out;
  }
  if (auto it = query.find("bool"); it != query.end() && it->is_object()) {
    for (const char* key : {"filter", "must"}) {
      if (!it->contains(key)) continue;
      const auto& clauses = (*it)[key];
      if (clauses.is_object()) {
        if (auto ids = restricting_ids(clauses)) return ids;
      } else if (clauses.is_array()) {
        for (const auto& c : clauses) {
          if (auto ids = restricting_ids(c)) return ids;
        }
      }
    }
  }
  return std::nullopt;
}

// Calls `each(id, doc)` for the visible documents of `idx` that match `query`.
template <typename F>
void for_each_match(const Store::Index& idx, const nlohmann::json& query, F&& each) {
  auto test = [&](const std::string& id, const DocPtr& doc) {
    auto source = nlohmann::json::parse(doc->source);
    if (query_matches(query, *idx.mapping, idx.analyzers, id, source)) each(id, doc);
  };
  if (auto ids = restricting_ids(query)) {
    std::set<std::string> seen;
    for (const auto& id : *ids) {
      auto it = idx.visible.find(id);
      if (it != idx.visible.end() && seen.insert(id).second) test(it->first, it->second);
    }
    return;
  }
  for (const auto& [id, doc] : idx.visible) test(id, doc);
}

// One `terms` aggregation of a search: what it asks for and, once the matches were read, the
// document count of each key.
struct TermsAgg {
  std::string name;
  std::string field;
  std::int64_t size = 10;
  std::optional<nlohmann::json> missing;
  std::map<nlohmann::json, std::int64_t> counts;

  // Elasticsearch's answer: the `size` buckets with the most documents (ties by key, ascending),
  // the documents of the others in sum_other_doc_count.
  nlohmann::ordered_json result() const {
    std::vector<std::pair<nlohmann::json, std::int64_t>> buckets(counts.begin(), counts.end());
    std::stable_sort(buckets.begin(), buckets.end(), [](const auto& x, const auto& y) {
      if (x.second != y.second) return x.second > y.second;
      return x.first < y.first;
    });
    nlohmann::ordered_json out;
    out["doc_count_error_upper_bound"] = 0;
    std::int64_t other = 0;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (static_cast<std::int64_t>(i) >= size) {
        other += buckets[i].second;
        continue;
      }
      nlohmann::ordered_json b;
      b["key"] = nlohmann::ordered_json::parse(buckets[i].first.dump());
      b["doc_count"] = buckets[i].second;
      list.push_back(std::move(b));
    }
    out["sum_other_doc_count"] = other;
    out["buckets"] = std::move(list);
    return out;
  }
};

// The `aggs` (or `aggregations`) of a search body. devsearch knows the terms aggregation with
// field, size and missing; anything else is refused as Elasticsearch refuses what it does not know.
std::vector<TermsAgg> parse_terms_aggs(const nlohmann::json& body) {
  std::vector<TermsAgg> out;
  if (body.contains("aggs") && body.contains("aggregations")) {
    throw parsing_error("Found two aggregation definitions: [aggs] and [aggregations]");
  }
  const char* key = body.contains("aggs") ? "aggs" : "aggregations";
  if (!body.contains(key)) return out;
  const auto& aggs = body[key];
  if (!aggs.is_object())
    throw parsing_error("Expected [START_OBJECT] under [" + std::string(key) + "], but got a value");
  for (const auto& [name, def] : aggs.items()) {
    if (!def.is_object()) {
      throw parsing_error("Expected [START_OBJECT] under [" + name + "], but got a value in [" + name + "]");
    }
    if (def.empty()) throw parsing_error("Missing definition for aggregation [" + name + "]");
    TermsAgg a;
    a.name = name;
    bool typed = false;
    for (const auto& [type, spec] : def.items()) {
      if (type == "aggs" || type == "aggregations") {
        throw illegal_argument("devsearch does not run sub-aggregations (under [" + name + "])");
      }
      if (type == "meta") continue;
      if (typed) {
        throw parsing_error("Found two aggregation type definitions in [" + name + "]: [terms] and [" + type + "]");
      }
      if (type != "terms") throw parsing_error("Unknown aggregation type [" + type + "] did you mean [terms]?");
      typed = true;
      if (!spec.is_object()) throw parsing_error("[terms] expects an object in [" + name + "]");
      for (const auto& [param, value] : spec.items()) {
        if (param == "field") {
          if (!value.is_string())
            throw parsing_error("[terms] field doesn't support values of type: " + std::string(value.type_name()));
          a.field = value.get<std::string>();
        } else if (param == "size") {
          if (!value.is_number_integer())
            throw parsing_error("[terms] size doesn't support values of type: " + std::string(value.type_name()));
          a.size = value.get<std::int64_t>();
          if (a.size <= 0) {
            throw illegal_argument("[size] must be greater than 0. Found [" + std::to_string(a.size) + "] in [" + name +
                                   "]");
          }
        } else if (param == "missing") {
          if (!value.is_primitive() || value.is_null()) throw parsing_error("[terms] missing must be a value");
          a.missing = value;
        } else {
          throw parsing_error("[terms] unknown field [" + param + "]");
        }
      }
      if (a.field.empty()) throw illegal_argument("Required one of fields [field, script], but none were specified.");
    }
    if (!typed) throw parsing_error("Missing definition for aggregation [" + name + "]");
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace

Answer Store::count(const std::string& index_expr, const std::string& body) {
  try {
    auto j = parse_body(body);
    nlohmann::json query = j.value("query", nlohmann::json{{"match_all", nlohmann::json::object()}});
    validate_query(query);
    bool match_all = query.contains("match_all");
    std::lock_guard lock(mutex_);
    std::int64_t count = 0;
    int shards = 0;
    auto names = resolve_locked(index_expr, true);
    check_read_locked(names);
    for (const auto& n : names) {
      auto& idx = *indices_.at(n);
      idx.scheduled_refresh();
      shards += idx.shards;
      if (match_all) {
        count += idx.visible_count();
        continue;
      }
      if (idx.sink) {
        // Sink mode keeps the ids, not the sources: an ids query is all it can count (the ids of
        // documents not yet refreshed count too: sink mode tracks visibility as a number only).
        if (query.is_object() && query.size() == 1 && query.contains("ids") && query["ids"].contains("values")) {
          for (const auto& v : query["ids"]["values"]) {
            if (v.is_string() && idx.ids.contains(v.get<std::string>())) ++count;
          }
          continue;
        }
        throw illegal_argument(
            "devsearch runs in --sink mode and keeps no sources: only match_all and ids queries can "
            "be counted");
      }
      for_each_match(idx, query, [&](const std::string&, const DocPtr&) { ++count; });
    }
    nlohmann::ordered_json out;
    out["count"] = count;
    out["_shards"] = {{"total", shards}, {"successful", shards}, {"skipped", 0}, {"failed", 0}};
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::search(const std::string& index_expr, const std::string& body, const Params& params) {
  auto start = Clock::now();
  try {
    auto j = parse_body(body);
    nlohmann::json query = j.value("query", nlohmann::json{{"match_all", nlohmann::json::object()}});
    validate_query(query);
    std::int64_t size = j.value("size", std::int64_t{10});
    std::int64_t from = j.value("from", std::int64_t{0});
    if (auto s = param(params, "size")) size = std::stoll(*s);
    if (auto f = param(params, "from")) from = std::stoll(*f);
    if (from + size > 10000) {
      throw illegal_argument("Result window is too large, from + size must be less than or equal to: [10000] but was [" +
                             std::to_string(from + size) +
                             "]. See the scroll api for a more efficient way to request large data sets.");
    }
    bool with_source = !(j.contains("_source") && j["_source"].is_boolean() && !j["_source"].get<bool>());
    struct SortKey {
      std::string field;
      bool desc = false;
    };
    std::vector<SortKey> sort;
    if (j.contains("sort")) {
      for (const auto& s : (j["sort"].is_array() ? j["sort"] : nlohmann::json::array({j["sort"]}))) {
        if (s.is_string()) {
          sort.push_back({s.get<std::string>(), s.get<std::string>() == "_score"});
        } else if (s.is_object() && s.size() == 1) {
          auto field_entry = s.begin();
          const std::string& field = field_entry.key();
          const auto& spec = field_entry.value();
          std::string order = spec.is_string() ? spec.get<std::string>() : spec.value("order", "asc");
          if (order != "asc" && order != "desc") throw parsing_error("[sort] unknown order [" + order + "]");
          sort.push_back({field, order == "desc"});
        } else {
          throw parsing_error("[sort] malformed sort element");
        }
      }
    }
    bool scored = sort.empty() || std::any_of(sort.begin(), sort.end(), [](const SortKey& k) { return k.field == "_score"; });
    auto aggs = parse_terms_aggs(j);
    std::lock_guard lock(mutex_);
    std::vector<Hit> hits;
    int shards = 0;
    auto names = resolve_locked(index_expr, true);
    check_read_locked(names);
    for (const auto& n : names) {
      auto& idx = *indices_.at(n);
      idx.scheduled_refresh();
      shards += idx.shards;
      if (idx.sink) {
        throw illegal_argument("devsearch runs in --sink mode and keeps no sources: _search is not available");
      }
      std::vector<bool> mapped;
      std::vector<std::optional<nlohmann::json>> missing;  // as the field indexes it
      for (const auto& a : aggs) {
        mapped.push_back(check_terms_field(*idx.mapping, a.field));
        auto m = a.missing;
        if (m && mapped.back() && idx.mapping->resolve(a.field).field->type == "keyword" && !m->is_string()) {
          m = m->is_boolean() ? nlohmann::json(m->get<bool>() ? "true" : "false") : nlohmann::json(m->dump());
        }
        missing.push_back(std::move(m));
      }
      for (const auto& [id, doc] : idx.visible) {
        auto source = nlohmann::json::parse(doc->source);
        if (!query_matches(query, *idx.mapping, idx.analyzers, id, source)) continue;
        for (std::size_t a = 0; a < aggs.size(); ++a) {
          auto keys = mapped[a] ? terms_keys(*idx.mapping, aggs[a].field, source) : std::vector<nlohmann::json>{};
          if (keys.empty() && missing[a]) keys.push_back(*missing[a]);
          for (const auto& k : keys) ++aggs[a].counts[k];
        }
        Hit h{&idx, id, doc, {}};
        for (const auto& k : sort) {
          if (k.field == "_score") {
            h.sort.emplace_back(1.0);
          } else if (k.field == "_doc") {
            h.sort.emplace_back(doc->seq_no);
          } else {
            h.sort.push_back(sort_value(*idx.mapping, k.field, source, k.desc));
          }
        }
        hits.push_back(std::move(h));
      }
    }
    if (!sort.empty()) {
      std::stable_sort(hits.begin(), hits.end(), [&](const Hit& a, const Hit& b) {
        for (std::size_t i = 0; i < sort.size(); ++i) {
          const auto& x = a.sort[i];
          const auto& y = b.sort[i];
          if (x == y) continue;
          if (x.is_null()) return false;  // missing values sort last
          if (y.is_null()) return true;
          return sort[i].desc ? y < x : x < y;
        }
        return false;
      });
    }
    auto total = static_cast<std::int64_t>(hits.size());
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (std::int64_t i = from; i < std::min<std::int64_t>(total, from + size); ++i) {
      const auto& h = hits[static_cast<std::size_t>(i)];
      nlohmann::ordered_json hit;
      hit["_index"] = h.index->name;
      if (options_.profile.type_in_responses) hit["_type"] = "_doc";
      hit["_id"] = h.id;
      hit["_score"] = scored ? nlohmann::ordered_json(1.0) : nlohmann::ordered_json(nullptr);
      if (with_source) hit["_source"] = nlohmann::ordered_json::parse(h.doc->source);
      if (!sort.empty()) {
        nlohmann::ordered_json values = nlohmann::ordered_json::array();
        for (std::size_t k = 0; k < sort.size(); ++k) {
          const auto& v = h.sort[k];
          if (v.is_null()) {
            values.push_back(sort[k].desc ? std::numeric_limits<std::int64_t>::min()
                                          : std::numeric_limits<std::int64_t>::max());
          } else {
            values.push_back(nlohmann::ordered_json::parse(v.dump()));
          }
        }
        hit["sort"] = values;
      }
      list.push_back(std::move(hit));
    }
    nlohmann::ordered_json out;
    out["took"] = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    out["timed_out"] = false;
    out["_shards"] = {{"total", shards}, {"successful", shards}, {"skipped", 0}, {"failed", 0}};
    out["hits"]["total"] = {{"value", std::min<std::int64_t>(total, 10000)}, {"relation", total > 10000 ? "gte" : "eq"}};
    out["hits"]["max_score"] = (scored && total > 0) ? nlohmann::ordered_json(1.0) : nlohmann::ordered_json(nullptr);
    out["hits"]["hits"] = list;
    if (!aggs.empty()) {
      for (const auto& a : aggs) out["aggregations"][a.name] = a.result();
    }
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

namespace {

// Elasticsearch's "[line:column]" of the first `"field"` in `body` and of the value after it.
std::pair<std::string, std::string> field_locations(const std::string& body, const std::string& field) {
  auto at = [&](std::size_t pos) {
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i < pos && i < body.size(); ++i) {
      if (body[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return "[" + std::to_string(line) + ":" + std::to_string(col) + "]";
  };
  std::size_t name = body.find("\"" + field + "\"");
  if (name == std::string::npos) return {"[1:1]", "[1:1]"};
  std::size_t value = body.find(':', name + field.size() + 2);
  if (value != std::string::npos) value = body.find_first_not_of(" \t\r\n", value + 1);
  return {at(name), at(value == std::string::npos ? name : value)};
}

// The 400 Elasticsearch's alias action parser answers for a field it does not know, nested as
// its ObjectParsers report it.
ApiError unknown_alias_action_field(const std::string& body, const std::string& type, const std::string& field) {
  auto [name_at, value_at] = field_locations(body, field);
  auto inner = error_object("x_content_parse_exception", name_at + " [" + type + "] unknown field [" + field + "]");
  auto middle = error_object("x_content_parse_exception",
                             value_at + " [alias_action] failed to parse field [" + type + "]", inner);
  auto e = api_error(400, "x_content_parse_exception", value_at + " [aliases] failed to parse field [actions]",
                     nlohmann::ordered_json::object(), middle);
  e.body["error"]["root_cause"][0] = inner;
  return e;
}

ApiError aliases_not_found(const std::vector<std::string>& aliases) {
  std::string list;
  for (const auto& a : aliases) list += (list.empty() ? "" : ", ") + a;
  nlohmann::ordered_json id =
      aliases.size() == 1 ? nlohmann::ordered_json(aliases[0]) : nlohmann::ordered_json(aliases);
  return api_error(404, "aliases_not_found_exception", "aliases [" + list + "] missing",
                   {{"resource.type", "aliases"}, {"resource.id", id}});
}

}  // namespace

Answer Store::update_aliases(const std::string& body, const Params& params) {
  try {
    auto j = parse_body(body);
    if (!j.contains("actions") || !j["actions"].is_array() || j["actions"].empty()) {
      throw api_error(400, "action_request_validation_exception",
                      "Validation Failed: 1: Must specify at least one alias action;");
    }
    auto names_of = [](const nlohmann::json& spec, const char* one, const char* many) {
      std::vector<std::string> out;
      if (spec.contains(one)) out.push_back(spec[one].get<std::string>());
      if (spec.contains(many)) {
        for (const auto& v : spec[many]) out.push_back(v.get<std::string>());
      }
      return out;
    };
    // Parsing and validation, before any lookup (Elasticsearch's REST layer and request validation).
    for (const auto& action : j["actions"]) {
      if (!action.is_object() || action.size() != 1) throw parsing_error("[aliases] malformed action");
      const std::string& type = action.begin().key();
      const auto& spec = action.begin().value();
      if (type != "add" && type != "remove" && type != "remove_index") {
        throw api_error(400, "x_content_parse_exception", "[1:1] [alias_action] unknown field [" + type + "]");
      }
      if (!spec.is_object()) throw parsing_error("[" + type + "] malformed action");
      for (const auto& [key, value] : spec.items()) {
        bool common = key == "index" || key == "indices" || key == "alias" || key == "aliases";
        bool add_only = key == "filter" || key == "routing" || key == "index_routing" || key == "search_routing" ||
                        key == "is_write_index" || key == "is_hidden";
        bool remove_only = key == "must_exist" && options_.profile.alias_remove_accepts_must_exist;
        if (!(common || (type == "add" && add_only) || (type == "remove" && remove_only))) {
          throw unknown_alias_action_field(body, type, key);
        }
      }
      if (names_of(spec, "index", "indices").empty()) {
        throw api_error(400, "action_request_validation_exception",
                        "Validation Failed: 1: One of [index] or [indices] is required;");
      }
      if (type != "remove_index" && names_of(spec, "alias", "aliases").empty()) {
        throw api_error(400, "action_request_validation_exception",
                        "Validation Failed: 1: One of [alias] or [aliases] is required;");
      }
    }
    Lock lock(mutex_);
    // Blocks are checked on the index names as the actions give them (concrete names only), as
    // TransportIndicesAliasesAction.checkBlock does.
    std::vector<std::string> named;
    for (const auto& action : j["actions"]) {
      for (const auto& n : names_of(action.begin().value(), "index", "indices")) {
        if (indices_.count(n) > 0 && std::find(named.begin(), named.end(), n) == named.end()) named.push_back(n);
      }
    }
    check_metadata_write_locked(lock, named, params);
    // Validate everything against a copy; commit only if every action applies (atomic).
    auto aliases = aliases_;
    std::set<std::string> removed_indices;
    for (const auto& action : j["actions"]) {
      if (action.begin().key() != "remove_index") continue;
      for (const auto& n : names_of(action.begin().value(), "index", "indices")) {
        if (indices_.count(n) == 0 && aliases_.count(n) > 0) {
          throw illegal_argument("The provided expression [" + n +
                                 "] matches an alias, specify the corresponding concrete indices instead.");
        }
        for (const auto& r : resolve_locked(n, false)) removed_indices.insert(r);
      }
    }
    for (auto& [alias, members] : aliases) {
      for (const auto& r : removed_indices) members.erase(r);
    }
    // Actions that change something; Elasticsearch answers 404 when no action of the request does.
    std::size_t effective = removed_indices.size();
    std::vector<std::string> all_aliases;
    for (const auto& action : j["actions"]) {
      const std::string& type = action.begin().key();
      const auto& spec = action.begin().value();
      if (type == "remove_index") continue;
      std::vector<std::string> concrete;
      for (const auto& n : names_of(spec, "index", "indices")) {
        for (const auto& r : resolve_locked(n, false)) {
          if (removed_indices.count(r) == 0) concrete.push_back(r);
        }
      }
      auto alias_names = names_of(spec, "alias", "aliases");
      for (const auto& a : alias_names) {
        if (std::find(all_aliases.begin(), all_aliases.end(), a) == all_aliases.end()) all_aliases.push_back(a);
      }
      if (type == "add") {
        for (const auto& alias : alias_names) {
          if (auto it = indices_.find(alias); it != indices_.end() && removed_indices.count(alias) == 0) {
            throw api_error(400, "invalid_alias_name_exception",
                            "Invalid alias name [" + alias + "], an index exists with the same name as the alias",
                            {{"index_uuid", it->second->uuid}, {"index", alias}});
          }
          if (auto reason = invalid_index_name_reason(alias)) {
            throw api_error(400, "invalid_alias_name_exception", "Invalid alias name [" + alias + "], " + *reason);
          }
          for (const auto& c : concrete) aliases[alias].insert(c);
          effective += concrete.size();
        }
        continue;
      }
      // remove: the aliases of each index matching the names (wildcards allowed).
      std::optional<bool> must_exist;
      if (spec.contains("must_exist") && spec["must_exist"].is_boolean()) must_exist = spec["must_exist"].get<bool>();
      for (const auto& c : concrete) {
        std::vector<std::string> matched;
        for (const auto& [alias, members] : aliases) {
          if (members.count(c) == 0) continue;
          bool wanted = std::any_of(alias_names.begin(), alias_names.end(), [&](const std::string& a) {
            return a == "_all" || a == "*" || wildcard_match(a, alias);
          });
          if (wanted) matched.push_back(alias);
        }
        if (matched.empty()) {
          bool strict = options_.profile.alias_remove_strict && must_exist != std::optional<bool>(false);
          if (must_exist.value_or(false) || strict) throw aliases_not_found(alias_names);
          continue;
        }
        for (const auto& alias : matched) aliases[alias].erase(c);
        effective += matched.size();
      }
    }
    if (effective == 0) throw aliases_not_found(all_aliases);
    for (const auto& r : removed_indices) indices_.erase(r);
    for (auto it = aliases.begin(); it != aliases.end();) it = it->second.empty() ? aliases.erase(it) : std::next(it);
    aliases_ = std::move(aliases);
    if (!removed_indices.empty()) blocks_changed_locked();
    return json_answer(200, {{"acknowledged", true}});
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::get_alias(const std::string& alias) {
  std::lock_guard lock(mutex_);
  // GET _alias/<name> asks every index (TransportGetAliasesAction checks METADATA_READ on all):
  // one index with a metadata block makes it fail.
  std::vector<std::string> all;
  for (const auto& [name, idx] : indices_) all.push_back(name);
  try {
    check_metadata_read_locked(all);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  std::stringstream ss(alias);
  std::string part;
  std::vector<std::string> wanted;
  while (std::getline(ss, part, ',')) wanted.push_back(part);
  for (const auto& [name, members] : aliases_) {
    bool match = std::any_of(wanted.begin(), wanted.end(), [&](const std::string& w) {
      return w == "_all" || wildcard_match(w, name);
    });
    if (!match) continue;
    for (const auto& index : members) out[index]["aliases"][name] = nlohmann::ordered_json::object();
  }
  if (out.empty()) {
    nlohmann::ordered_json e;
    e["error"] = "alias [" + alias + "] missing";
    e["status"] = 404;
    return json_answer(404, e);
  }
  return json_answer(200, out);
}

Answer Store::index_aliases(const std::string& index) {
  std::lock_guard lock(mutex_);
  try {
    nlohmann::ordered_json out = nlohmann::ordered_json::object();
    auto names = resolve_locked(index, true);
    check_metadata_read_locked(names);
    for (const auto& n : names) {
      out[n]["aliases"] = nlohmann::ordered_json::object();
      for (const auto& [alias, members] : aliases_) {
        if (members.count(n) > 0) out[n]["aliases"][alias] = nlohmann::ordered_json::object();
      }
    }
    return json_answer(200, out);
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

std::string Store::health_status_locked(const Index& idx) const {
  return idx.replicas > options_.nodes - 1 ? "yellow" : "green";
}

nlohmann::ordered_json Store::health_body_locked(const std::vector<std::string>& indices, bool missing,
                                                 bool timed_out) const {
  std::int64_t primaries = 0, active = 0, unassigned = 0;
  std::string status = "green";
  for (const auto& n : indices) {
    const Index& idx = *indices_.at(n);
    int assigned = std::min(idx.replicas, options_.nodes - 1);
    primaries += idx.shards;
    active += static_cast<std::int64_t>(idx.shards) * (1 + assigned);
    unassigned += static_cast<std::int64_t>(idx.shards) * (idx.replicas - assigned);
    if (health_status_locked(idx) == "yellow") status = "yellow";
  }
  if (missing) status = "red";
  nlohmann::ordered_json j;
  j["cluster_name"] = kClusterName;
  j["status"] = status;
  j["timed_out"] = timed_out;
  j["number_of_nodes"] = options_.nodes;
  j["number_of_data_nodes"] = options_.nodes;
  j["active_primary_shards"] = primaries;
  j["active_shards"] = active;
  j["relocating_shards"] = 0;
  j["initializing_shards"] = 0;
  j["unassigned_shards"] = unassigned;
  j["delayed_unassigned_shards"] = 0;
  j["number_of_pending_tasks"] = 0;
  j["number_of_in_flight_fetch"] = 0;
  j["task_max_waiting_in_queue_millis"] = 0;
  j["active_shards_percent_as_number"] =
      active + unassigned == 0 ? 100.0 : 100.0 * static_cast<double>(active) / static_cast<double>(active + unassigned);
  return j;
}

Answer Store::health(const std::string& index_expr, const Params& params) {
  auto rank = [](const std::string& s) { return s == "green" ? 2 : s == "yellow" ? 1 : 0; };
  std::optional<std::string> wait = param(params, "wait_for_status");
  if (wait && *wait != "green" && *wait != "yellow" && *wait != "red") {
    return json_answer(illegal_argument("unknown cluster health status [" + *wait + "]"));
  }
  std::chrono::milliseconds timeout{30000};
  if (auto t = param(params, "timeout")) {
    auto d = parse_duration(*t);
    if (!d) {
      return json_answer(api_error(400, "parse_exception",
                                   "failed to parse setting [timeout] with value [" + *t +
                                       "] as a time value: unit is missing or unrecognized"));
    }
    timeout = *d;
  }
  auto deadline = Clock::now() + timeout;
  const auto generation = generation_.load();
  while (true) {
    {
      std::lock_guard lock(mutex_);
      std::vector<std::string> names;
      bool missing = false;
      if (index_expr.empty()) {
        for (const auto& [n, idx] : indices_) names.push_back(n);
      } else {
        try {
          names = resolve_locked(index_expr, false);
        } catch (const ApiError&) {
          missing = true;  // Elasticsearch waits for the index to appear, then answers red
        }
      }
      auto body = health_body_locked(names, missing, false);
      bool satisfied = !missing && (!wait || rank(body["status"].get<std::string>()) >= rank(*wait));
      if (satisfied) return json_answer(200, body);
      if (Clock::now() >= deadline || stopping_ || generation_ != generation) {
        body["timed_out"] = true;
        return json_answer(408, body);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Answer Store::cat_indices(const std::string& index_expr, const Params& params) {
  std::lock_guard lock(mutex_);
  try {
    std::vector<std::string> names;
    if (index_expr.empty()) {
      for (const auto& [n, idx] : indices_) names.push_back(n);
    } else {
      names = resolve_locked(index_expr, true);
    }
    check_metadata_read_locked(names);
    std::vector<std::string> columns = {"health", "status", "index", "uuid", "pri", "rep", "docs.count",
                                        "docs.deleted", "store.size", "pri.store.size"};
    if (auto h = param(params, "h")) {
      columns.clear();
      std::stringstream ss(*h);
      std::string c;
      while (std::getline(ss, c, ',')) columns.push_back(c);
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& n : names) {
      auto& idx = *indices_.at(n);
      idx.scheduled_refresh();
      std::vector<std::string> row;
      for (const auto& c : columns) {
        if (c == "health" || c == "h") {
          row.push_back(health_status_locked(idx));
        } else if (c == "status" || c == "s") {
          row.push_back("open");
        } else if (c == "index" || c == "i" || c == "idx") {
          row.push_back(idx.name);
        } else if (c == "uuid" || c == "id") {
          row.push_back(idx.uuid);
        } else if (c == "pri" || c == "p") {
          row.push_back(std::to_string(idx.shards));
        } else if (c == "rep" || c == "r") {
          row.push_back(std::to_string(idx.replicas));
        } else if (c == "docs.count" || c == "dc") {
          row.push_back(std::to_string(idx.visible_count()));
        } else if (c == "docs.deleted" || c == "dd") {
          row.push_back("0");
        } else if (c == "store.size" || c == "pri.store.size") {
          std::size_t bytes = 0;
          for (const auto& [id, doc] : idx.visible) bytes += doc->source.size() + id.size();
          row.push_back(std::to_string(bytes) + "b");
        } else {
          throw illegal_argument("header [" + c + "] is not recognized");
        }
      }
      rows.push_back(std::move(row));
    }
    auto fmt = param(params, "format");
    if (fmt && *fmt == "json") {
      nlohmann::ordered_json out = nlohmann::ordered_json::array();
      for (const auto& row : rows) {
        nlohmann::ordered_json o;
        for (std::size_t i = 0; i < columns.size(); ++i) o[columns[i]] = row[i];
        out.push_back(o);
      }
      return json_answer(200, out);
    }
    std::string text;
    bool header = param(params, "v").has_value();
    if (header) rows.insert(rows.begin(), columns);
    std::vector<std::size_t> widths(columns.size(), 0);
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    for (const auto& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        text += row[i];
        if (i + 1 < row.size()) text += std::string(widths[i] - row[i].size() + 1, ' ');
      }
      text += "\n";
    }
    return Answer{200, text, "text/plain; charset=UTF-8"};
  } catch (const ApiError& e) {
    return json_answer(e);
  }
}

Answer Store::cancel_task(const std::string& id) {
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->completed) {
    // Elasticsearch answers for a task that is not running (unknown or finished) with a node
    // failure naming it.
    nlohmann::ordered_json cause{{"type", "resource_not_found_exception"}, {"reason", "task [" + id + "] is not found"}};
    nlohmann::ordered_json failure{{"type", "failed_node_exception"},
                                   {"reason", "Failed node [" + node_id_ + "]"},
                                   {"node_id", node_id_},
                                   {"caused_by", cause}};
    nlohmann::ordered_json body{{"node_failures", nlohmann::ordered_json::array({failure})},
                                {"nodes", nlohmann::ordered_json::object()}};
    return json_answer(404, body);
  }
  it->second->cancelled = true;
  auto task = it->second->task_json()["task"];
  task["cancelled"] = true;
  nlohmann::ordered_json node{{"name", "devsearch-node-1"},
                              {"transport_address", "127.0.0.1:9300"},
                              {"host", "127.0.0.1"},
                              {"ip", "127.0.0.1:9300"},
                              {"roles", {"data", "ingest", "master"}},
                              {"tasks", {{id, task}}}};
  return json_answer(200, nlohmann::ordered_json{{"nodes", {{node_id_, node}}}});
}

Answer Store::rethrottle(const std::string& id, const Params& params) {
  auto r = param(params, "requests_per_second");
  if (!r) {
    throw api_error(400, "action_request_validation_exception",
                    "Validation Failed: 1: requests_per_second must be set;");
  }
  const double rps = requests_per_second(*r);
  std::lock_guard lock(mutex_);
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second->completed) {
    nlohmann::ordered_json cause{{"type", "resource_not_found_exception"}, {"reason", "task [" + id + "] is missing"}};
    nlohmann::ordered_json failure{{"type", "failed_node_exception"},
                                   {"reason", "Failed node [" + node_id_ + "]"},
                                   {"node_id", node_id_},
                                   {"caused_by", cause}};
    return json_answer(404, nlohmann::ordered_json{{"node_failures", nlohmann::ordered_json::array({failure})},
                                                   {"nodes", nlohmann::ordered_json::object()}});
  }
  it->second->rps = rps;
  nlohmann::ordered_json node{{"name", "devsearch-node-1"},
                              {"transport_address", "127.0.0.1:9300"},
                              {"host", "127.0.0.1"},
                              {"ip", "127.0.0.1:9300"},
                              {"roles", {"data", "ingest", "master"}},
                              {"tasks", {{id, it->second->task_json()["task"]}}}};
  return json_answer(200, nlohmann::ordered_json{{"nodes", {{node_id_, node}}}});
}

Answer Store::get_task(const std::string& id) {
  auto colon = id.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == id.size()) {
    return json_answer(illegal_argument("malformed task id " + id));
  }
  std::lock_guard lock(mutex_);
  std::string node = id.substr(0, colon);
  auto it = tasks_.find(id);
  if (it == tasks_.end()) {
    if (node != node_id_) {
      return json_answer(api_error(404, "resource_not_found_exception",
                                   "task [" + id + "] belongs to the node [" + node + "] which isn't part of the cluster and there is no record of the task"));
    }
    return json_answer(api_error(404, "resource_not_found_exception",
                                 "task [" + id + "] isn't running and hasn't stored its results"));
  }
  return json_answer(200, it->second->task_json());
}

Answer Store::reindex(const std::string& body, const Params& params) {
  auto task = std::make_shared<Task>();
  task->show_cancelled = options_.profile.task_shows_cancelled;
  bool wait = param_true(params, "wait_for_completion", true);
  try {
    task->timeout = time_param(params, "timeout", std::chrono::minutes(1));
    auto j = parse_body(body);
    if (!j.contains("source") || !j["source"].contains("index")) {
      throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: use _all if you really want to copy from all existing indexes;");
    }
    if (!j.contains("dest") || !j["dest"].contains("index")) {
      throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: index must be specified;");
    }
    const auto& src = j["source"];
    std::string source_expr;
    if (src["index"].is_array()) {
      for (const auto& s : src["index"]) source_expr += (source_expr.empty() ? "" : ",") + s.get<std::string>();
    } else {
      source_expr = src["index"].get<std::string>();
    }
    task->dest = j["dest"]["index"].get<std::string>();
    task->query = src.value("query", nlohmann::json{{"match_all", nlohmann::json::object()}});
    validate_query(task->query);
    task->batch_size = src.value("size", 1000);
    // max_docs, or its deprecated name `size` at the top level (the same value if both are given).
    for (const char* key : {"max_docs", "size"}) {
      if (!j.contains(key)) continue;
      const auto& v = j[key];
      if (!v.is_number_integer()) {
        throw parsing_error("[reindex] failed to parse field [" + std::string(key) + "]");
      }
      auto n = v.get<std::int64_t>();
      if (task->max_docs >= 0 && task->max_docs != n) {
        throw illegal_argument("[max_docs] set to two different values [" + std::to_string(task->max_docs) + "] and [" +
                               std::to_string(n) + "]");
      }
      if (n < 0) throw illegal_argument("[max_docs] parameter cannot be negative, found [" + std::to_string(n) + "]");
      task->max_docs = n;
    }
    task->refresh = param_true(params, "refresh", false);
    task->store_result = !wait;
    if (auto r = param(params, "requests_per_second")) task->rps = requests_per_second(*r);
    std::lock_guard lock(mutex_);
    task->sources = resolve_locked(source_expr, true);
    if (task->sources.empty()) throw index_not_found(source_expr);
    std::string dest_concrete = task->dest;
    if (auto a = aliases_.find(task->dest); a != aliases_.end() && a->second.size() == 1) dest_concrete = *a->second.begin();
    if (std::find(task->sources.begin(), task->sources.end(), dest_concrete) != task->sources.end()) {
      throw api_error(400, "action_request_validation_exception",
                      "Validation Failed: 1: reindex cannot write into an index its reading from [" + dest_concrete + "];");
    }
    task->dest = dest_concrete;
    if (options_.sink && !task->query.contains("match_all")) {
      throw illegal_argument("devsearch runs in --sink mode and keeps no sources: _reindex can copy only with match_all");
    }
    std::string slices = param(params, "slices").value_or("1");
    if (slices == "auto") {
      int min_shards = 1 << 30;
      for (const auto& s : task->sources) min_shards = std::min(min_shards, indices_.at(s)->shards);
      task->slices = min_shards;
      task->sliced = true;
    } else {
      char* end = nullptr;
      long n = std::strtol(slices.c_str(), &end, 10);
      if (end != slices.c_str() + slices.size() || n < 1) {
        throw illegal_argument("Failed to parse int parameter [slices] with value [" + slices + "]");
      }
      task->slices = static_cast<int>(n);
      task->sliced = n > 1;
      if (task->max_docs >= 0 && task->max_docs < n) throw illegal_argument("[max_docs] should be >= [slices]");
    }
    task->slice_status.resize(static_cast<std::size_t>(task->slices));
    task->id = next_task_++;
    task->node = node_id_;
    std::string from;
    for (const auto& s : task->sources) from += (from.empty() ? "" : ", ") + s;
    task->description = "reindex from [" + from + "] to [" + task->dest + "]" +
                        (options_.profile.reindex_description_names_type ? "[_doc]" : "");
    tasks_[node_id_ + ":" + std::to_string(task->id)] = task;
    if (!wait) {
      task_threads_.emplace_back([this, task] { run_reindex(task); });
      return json_answer(200, {{"task", node_id_ + ":" + std::to_string(task->id)}});
    }
  } catch (const ApiError& e) {
    return json_answer(e);
  }
  run_reindex(task);
  std::lock_guard lock(mutex_);
  tasks_.erase(node_id_ + ":" + std::to_string(task->id));  // synchronous runs leave no task record
  if (task->error) {
    // The whole reindex failed (e.g. its search was refused): the request answers the error.
    return json_answer(api_error(task->error_status, task->error->value("type", ""), task->error->value("reason", "")));
  }
  return json_answer(200, task->response(false));
}

void Store::run_reindex(std::shared_ptr<Task> task) {
  // Snapshot what the source shows to searches (refreshed documents only), split into slices.
  std::vector<std::vector<std::pair<std::string, DocPtr>>> slices(static_cast<std::size_t>(task->slices));
  {
    std::lock_guard lock(mutex_);
    try {
      check_read_locked(task->sources);  // the source is read by a search
    } catch (const ApiError& e) {
      auto error = e.body["error"];
      error.erase("root_cause");
      task->error = error;
      task->error_status = e.status;
      slices.assign(slices.size(), {});
    }
    for (const auto& s : task->sources) {
      if (task->error) break;
      auto it = indices_.find(s);
      if (it == indices_.end()) continue;
      Index& idx = *it->second;
      idx.scheduled_refresh();
      auto slice_of = [&](std::string_view id) {
        return static_cast<std::size_t>(std::hash<std::string_view>{}(id) % static_cast<std::size_t>(task->slices));
      };
      if (idx.sink) {
        idx.ids.for_each([&](std::string_view id) { slices[slice_of(id)].emplace_back(std::string(id), nullptr); });
      } else {
        for_each_match(idx, task->query,
                       [&](const std::string& id, const DocPtr& doc) { slices[slice_of(id)].emplace_back(id, doc); });
      }
    }
    if (task->max_docs >= 0) {
      // Elasticsearch splits max_docs between the slices, rounding down: each slice copies at most
      // max_docs / slices of its documents, in the order it reads them.
      const auto per_slice = static_cast<std::size_t>(task->max_docs / task->slices);
      for (auto& slice : slices) {
        if (slice.size() > per_slice) slice.resize(per_slice);
      }
    }
    for (std::size_t i = 0; i < slices.size(); ++i) {
      task->slice_status[i].total = static_cast<std::int64_t>(slices[i].size());
    }
  }
  auto run_slice = [&](std::size_t s) {
    auto& status = task->slice_status[s];
    const auto& docs = slices[s];
    std::size_t done = 0;
    rapidjson::Document parsed;
    while (done < docs.size() && !stopping_ && !task->cancelled) {
      const auto batch_start = Clock::now();
      std::size_t end = std::min(docs.size(), done + static_cast<std::size_t>(task->batch_size));
      {
        Lock lock(mutex_);
        if (!task->failures.empty()) return;
        // Each batch is one bulk request into the destination: it auto-creates a missing one (as
        // action.auto_create_index allows) and meets its write blocks; a refused batch fails
        // every one of its documents and ends the reindex.
        auto fail_batch = [&](int http_status, const nlohmann::ordered_json& cause) {
          for (std::size_t i = done; i < end; ++i) {
            nlohmann::ordered_json f;
            f["index"] = task->dest;
            if (options_.profile.type_in_responses) f["type"] = "_doc";
            f["id"] = docs[i].first;
            f["cause"] = cause;
            f["status"] = http_status;
            task->failures.push_back(f);
          }
        };
        Index* dest = find_locked(task->dest);
        if (dest == nullptr) {
          if (auto why = cluster_settings_.auto_create().refusal(task->dest)) {
            fail_batch(404, auto_create_refused(task->dest, *why));
            return;
          }
          try {
            dest = &create_locked(task->dest, nlohmann::json::object(), true);
          } catch (const ApiError& e) {
            auto err = e.body["error"];
            err.erase("root_cause");
            fail_batch(e.status, err);
            return;
          }
        }
        auto write_blocks = [&] {
          Index* d = find_locked(task->dest);
          return d == nullptr ? std::uint8_t{0} : blocks::at_level(d->blocks, blocks::Level::kWrite, options_.profile);
        };
        auto deadline = Clock::now() + task->timeout;
        while (blocks::all_retryable(write_blocks()) && !stopping_ && !task->killed) {
          if (blocks_changed_.wait_until(lock, deadline) == std::cv_status::timeout) break;
        }
        dest = find_locked(task->dest);
        if (dest == nullptr) {
          auto err = index_not_found(task->dest).body["error"];
          err.erase("root_cause");
          fail_batch(404, err);
          return;
        }
        if (auto set = write_blocks()) {
          fail_batch(blocks::status_of(set), blocks::error_object(dest->name, set));
          return;
        }
        auto now = Clock::now();
        for (std::size_t i = done; i < end; ++i) {
          const auto& [id, doc] = docs[i];
          bool exists = dest->contains(id);
          if (dest->sink || !doc) {
            if (!exists) {
              dest->ids.insert(id);
              add_sink_delta(*dest, now, 1);
            }
          } else {
            parsed.Parse(doc->source.data(), doc->source.size());
            Mapping additions;
            if (auto err = dest->mapping->check(parsed, id, additions)) {
              nlohmann::ordered_json f;
              f["index"] = dest->name;
              if (options_.profile.type_in_responses) f["type"] = "_doc";
              f["id"] = id;
              f["cause"] = *err;
              f["status"] = 400;
              task->failures.push_back(f);
              return;
            }
            merge_mapping(*dest, additions);
            std::int64_t version = exists ? dest->latest[id]->version + 1 : 1;
            std::int64_t seq = dest->seq_no[static_cast<std::size_t>(dest->shard_of(id))]++;
            auto copy = std::make_shared<Doc>(Doc{doc->source, version, seq});
            dest->latest[id] = copy;
            dest->pending.push_back({now, id, copy});
          }
          (exists ? status.updated : status.created)++;
        }
        ++status.batches;
      }
      const std::size_t batch = end - done;
      done = end;
      // Elasticsearch throttles by waiting after each batch until batch size / rate seconds have
      // passed since it began; a _rethrottle applies to the wait in progress.
      while (done < docs.size() && !stopping_ && !task->cancelled) {
        const double rate = task->rps.load();
        if (rate <= 0) break;
        auto target = batch_start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                                        static_cast<double>(batch) * task->slices / rate));
        auto now = Clock::now();
        if (target <= now) break;
        auto step = std::min<Clock::duration>(target - now, std::chrono::milliseconds(50));
        status.throttled_ms += std::chrono::duration<double, std::milli>(step).count();
        std::this_thread::sleep_for(step);
      }
    }
  };
  if (task->slices == 1) {
    run_slice(0);
  } else {
    std::vector<std::thread> workers;
    for (std::size_t s = 0; s < slices.size(); ++s) workers.emplace_back(run_slice, s);
    for (auto& w : workers) w.join();
  }
  std::lock_guard lock(mutex_);
  if (task->killed) return;  // its node restarted meanwhile: no result, no record
  if (task->refresh) {
    if (Index* dest = find_locked(task->dest)) dest->refresh_now();
  }
  task->end = Clock::now();
  task->completed = true;
  if (task->store_result) {
    // Elasticsearch stores the result of a task run with wait_for_completion=false in `.tasks`.
    Index* tasks_index = find_locked(".tasks");
    if (tasks_index == nullptr) {
      nlohmann::json settings = {{"settings", {{"index", {{"number_of_shards", 1}, {"auto_expand_replicas", "0-1"}}}}},
                                 {"mappings", {{"dynamic", "false"}}}};
      tasks_index = &create_locked(".tasks", settings, false);
    }
    std::string id = node_id_ + ":" + std::to_string(task->id);
    auto record = task->task_json().dump();
    bool exists = tasks_index->contains(id);
    if (tasks_index->sink) {
      if (!exists) {
        tasks_index->ids.insert(id);
        add_sink_delta(*tasks_index, task->end, 1);
      }
    } else {
      auto doc = std::make_shared<Doc>(Doc{record, 1, tasks_index->seq_no[0]++});
      tasks_index->latest[id] = doc;
      tasks_index->pending.push_back({task->end, id, doc});
    }
  }
}

}  // namespace datarefresh::devsearch
