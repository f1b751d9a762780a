#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "devstack/devsearch/analysis.h"
#include "devstack/devsearch/cluster_settings.h"
#include "devstack/devsearch/engine_profile.h"
#include "devstack/devsearch/filter_path.h"
#include "devstack/devsearch/mapping.h"

namespace datarefresh::devsearch {

// What an endpoint answers: HTTP status and body (JSON text unless the endpoint says otherwise).
struct Answer {
  int status = 200;
  std::string body;
  std::string content_type = "application/json; charset=UTF-8";
  bool filtered = false;  // filter_path was applied while building it
};

using Params = std::multimap<std::string, std::string>;

// Per-item outcome counters of `_bulk`, read by GET /_devsearch/stats.
struct BulkCounters {
  std::atomic<std::int64_t> created{0}, updated{0}, deleted{0}, not_found{0}, rejected{0}, failed{0};
};

struct StoreOptions {
  int nodes = 1;      // simulated data nodes: replicas beyond nodes-1 stay unassigned (yellow)
  bool sink = false;  // keep ids only, no sources
  EngineProfile profile = EngineProfile::for_major(8);
  FlatSettings node_settings;  // the node's own cluster settings (action.auto_create_index)
};

// The in-memory cluster behind devsearch: indices (settings, blocks, mapping, documents with
// refresh visibility), aliases, cluster settings and reindex tasks. Each public method is one REST
// endpoint; it returns the answer the profile's Elasticsearch release would give, errors included.
// Thread-safe (one mutex; reindex tasks run on their own threads and take it per batch; requests
// waiting for a retryable block to go wait on a condition variable, without the lock). stop()
// wakes the waiters and joins the task threads.
class Store {
 public:
  explicit Store(StoreOptions options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  void stop();

  Answer info() const;
  Answer get_cluster_settings(const Params& params);
  Answer put_cluster_settings(const std::string& body, const Params& params);
  Answer health(const std::string& index_expr, const Params& params);
  Answer create_index(const std::string& name, const std::string& body);
  Answer index_exists(const std::string& name);
  Answer get_index(const std::string& name);
  Answer delete_index(const std::string& name);
  Answer get_settings(const std::string& name);
  Answer put_settings(const std::string& name, const std::string& body, const Params& params = {});
  // POST|PUT <source>/_clone/<target>: a new index with the source's mappings, settings (but for
  // number_of_replicas and auto_expand_replicas; the body's `settings` override, null drops one)
  // and every document (same _id, _source, _version, all visible), plus the body's `aliases`.
  // Refused as Elasticsearch's resize action refuses it, in its order: source missing (404),
  // shard count differing (400), target invalid or existing (400), source without a WRITE-level
  // block (500 illegal_state_exception).
  Answer clone_index(const std::string& source, const std::string& target, const std::string& body);
  // What the fault injector does to one bulk item, given its document id.
  enum class ItemFault { kNone, kReject429, kMapping400 };
  // `keep`: the fields filter_path lets through (nullptr: the whole answer). `timeout`: how long
  // items wait for a retryable block (the flood-stage block) to go, as the bulk `timeout`
  // parameter (default 1m) bounds Elasticsearch's shard requests.
  // `require_alias` (the request's flag; an action may also say "require_alias": true): items whose
  // target is not an alias are refused with 404, never auto-creating an index.
  Answer bulk(std::string_view body, const std::string& default_index,
              const std::function<ItemFault(std::string_view id)>& item_fault, BulkCounters& counters,
              const FilterPath::BulkFields* keep = nullptr,
              std::chrono::milliseconds timeout = std::chrono::minutes(1), bool require_alias = false);
  Answer get_doc(const std::string& index, const std::string& id);
  Answer refresh(const std::string& index_expr);
  Answer count(const std::string& index_expr, const std::string& body);
  Answer search(const std::string& index_expr, const std::string& body, const Params& params);
  Answer update_aliases(const std::string& body, const Params& params = {});
  Answer get_alias(const std::string& alias);
  Answer index_aliases(const std::string& index);
  Answer reindex(const std::string& body, const Params& params);
  Answer get_task(const std::string& id);
  Answer cancel_task(const std::string& id);
  // POST _reindex/<task>/_rethrottle?requests_per_second=N: the new rate applies to the running
  // task's current wait.
  Answer rethrottle(const std::string& id, const Params& params);
  Answer cat_indices(const std::string& index_expr, const Params& params);

  // What a node restart does to the cluster's state: acknowledged documents become visible
  // (recovery ends with a refresh), running tasks are gone without a stored result, transient
  // cluster settings are forgotten. Indices, documents and persistent settings stay.
  void restart();

  const std::string& node_id() const { return node_id_; }
  const EngineProfile& profile() const { return options_.profile; }

  struct Index;
  struct Task;

 private:
  using Clock = std::chrono::steady_clock;
  using Lock = std::unique_lock<std::mutex>;
  std::vector<std::string> resolve_locked(const std::string& expr, bool allow_missing_wildcards = true);
  // The index a write to `name` goes to (an index, or an alias with one index); nullptr if none.
  Index* write_target_locked(const std::string& name);
  // The METADATA_WRITE blocks of `indices`, waited on (up to master_timeout, 30s by default) while
  // all of them are retryable as Elasticsearch's master-node actions do; throws the
  // cluster_block_exception (403/429), or 503 master_not_discovered_exception after the wait.
  void check_metadata_write_locked(Lock& lock, const std::vector<std::string>& indices, const Params& params);
  // Throws the cluster_block_exception of the first of `indices` with a READ block.
  void check_read_locked(const std::vector<std::string>& indices);
  // Throws the cluster_block_exception listing every one of `indices` blocked at METADATA_READ.
  void check_metadata_read_locked(const std::vector<std::string>& indices);
  // After index blocks changed or an index went: recounts the flood-stage blocks, wakes waiters.
  void blocks_changed_locked();
  Index* find_locked(const std::string& name);
  Index& create_locked(const std::string& name, const nlohmann::json& body, bool auto_created);
  std::string health_status_locked(const Index& index) const;
  nlohmann::ordered_json health_body_locked(const std::vector<std::string>& indices, bool missing,
                                            bool timed_out) const;
  void run_reindex(std::shared_ptr<Task> task);

  StoreOptions options_;
  std::string node_id_;
  std::string cluster_uuid_;
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Index>> indices_;
  std::map<std::string, std::set<std::string>> aliases_;  // alias -> indices
  std::map<std::string, std::shared_ptr<Task>> tasks_;
  ClusterSettings cluster_settings_;
  // Notified whenever index blocks change or an index goes: requests waiting for a retryable
  // block to be lifted look again.
  std::condition_variable blocks_changed_;
  int retryable_blocked_indices_ = 0;  // indices with the flood-stage block: 0 skips the waits
  // Bumped by restart(): requests waiting across it give up (their node went away).
  std::atomic<std::uint64_t> generation_{0};
  std::int64_t next_task_ = 100;
  std::vector<std::thread> task_threads_;
  std::atomic<bool> stopping_{false};
};

}  // namespace datarefresh::devsearch
