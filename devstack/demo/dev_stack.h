#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/ledger/ledger.h"
#include "core/pg/connection.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/datagen/catalog_generator.h"
#include "devstack/postgres/local_postgres.h"
#include "devstack/process/child_process.h"

namespace datarefresh::demo {

struct DevStackOptions {
  std::filesystem::path source_dir;   // the repository (schemas/, config/); found when empty
  std::filesystem::path config_file;  // default: <source_dir>/config/local.yaml
  std::filesystem::path run_dir;      // logs and port files; a fresh temp dir when empty
  // The `datarefresh` binary to run the parts with: $DATAREFRESH_BINARY, else this executable.
  std::filesystem::path executable;
  std::uint64_t image_rows = 100'000;
  std::uint64_t audio_rows = 20'000;
  std::uint64_t seed = 42;
  int search_nodes = 2;               // devsearch --nodes: replicas after load can be allocated
  bool search_sink = false;
  // devsearch --es-major: the Elasticsearch major it answers as (7: 7.10.2); unset: devsearch's
  // default (8).
  std::optional<int> search_es_major;
  std::vector<std::string> devsearch_args;      // more devsearch flags (faults)
  std::map<std::string, std::string> env;       // more DATAREFRESH_* overrides for the services
  // Remove run_dir (logs) when the stack stops, if this stack created it. Tests set it when they
  // passed; the demo keeps the logs.
  bool remove_run_dir = false;
};

// Progress of one refresh as the ledger shows it.
struct RefreshProgress {
  ledger::Run run;
  std::int32_t shards_total = 0;
  std::int32_t shards_done = 0;
  std::int64_t rows_expected = 0;
  std::int64_t rows_read = 0;
  std::int64_t indexed = 0;
  bool finished() const { return run.status != ledger::RunStatus::kRunning; }
};

// The whole embedded stack as separate processes, for the demo and the end-to-end tests: a
// throwaway PostgreSQL with generated catalog data, the Kafka-protocol broker and devsearch as
// `datarefresh broker|devsearch` children, then the planner, indexers and coordinator as
// `datarefresh planner|indexer|coordinator` children configured through the environment
// (config/local.yaml + DATAREFRESH_* overrides). Everything it starts is stopped by stop() or the
// destructor, and children die with this process (PR_SET_PDEATHSIG). One thread.
class DevStack {
 public:
  explicit DevStack(DevStackOptions options);
  ~DevStack();

  // PostgreSQL + data, broker, devsearch. Returns the generator's counts.
  datagen::GenerateCounts start_infrastructure();
  // Planner, `indexers` indexers and the coordinator.
  void start_services(int indexers);
  // Each (re)starts one service; `extra_env` adds to the stack's environment for that process
  // only (the fault tests arm crash points with DATAREFRESH_CRASH_AT). Starting the coordinator
  // or the planner again replaces the previous process (stopped first if it still runs).
  devprocess::ChildProcess& start_indexer(const std::map<std::string, std::string>& extra_env = {});
  devprocess::ChildProcess& start_coordinator(const std::map<std::string, std::string>& extra_env = {});
  devprocess::ChildProcess& start_planner(const std::map<std::string, std::string>& extra_env = {});

  // Produces a refresh request; returns the refresh id (= request id).
  std::string trigger(const std::string& media_type, std::optional<std::int64_t> row_limit = std::nullopt,
                      const std::string& mode = "full");
  RefreshProgress progress(const std::string& refresh_id);
  // Polls until the refresh is no longer running (or timeout); calls on_tick every poll.
  RefreshProgress wait(const std::string& refresh_id, std::chrono::milliseconds timeout,
                       const std::function<void(const RefreshProgress&)>& on_tick = {});

  void stop();
  void set_remove_run_dir(bool remove) { options_.remove_run_dir = remove; }

  const std::filesystem::path& source_dir() const { return options_.source_dir; }
  const std::filesystem::path& run_dir() const { return options_.run_dir; }
  const std::filesystem::path& config_file() const { return options_.config_file; }
  const std::map<std::string, std::string>& env() const { return env_; }
  const devpg::LocalPostgres& postgres() const { return *postgres_; }
  const std::string& search_url() const { return search_url_; }
  // The planner's HTTP API (POST/GET /v1/refreshes...).
  const std::string& api_url() const { return api_url_; }
  // How to reach the stack's parts from this process (tests, the demo's own checks).
  pg::ConnectionOptions api_db_options() const;
  pg::ConnectionOptions catalog_db_options() const;
  search::ClientOptions search_options() const;
  const std::string& bootstrap_servers() const { return bootstrap_; }
  // The embedded broker's admin endpoint (brokers down/up, partition leaders), for fault tests.
  const std::string& broker_admin_url() const { return broker_admin_url_; }
  std::vector<devprocess::ChildProcess>& indexers() { return indexers_; }
  // The indexer started with this worker id (`indexer-<n>`), if it is still known.
  devprocess::ChildProcess* indexer(const std::string& worker_id);
  // Forgets indexers that have exited (killed by a test); returns how many were forgotten.
  std::size_t forget_exited_indexers();
  devprocess::ChildProcess* coordinator() { return coordinator_ ? &*coordinator_ : nullptr; }
  devprocess::ChildProcess* planner() { return planner_ ? &*planner_ : nullptr; }
  devprocess::ChildProcess* devsearch() { return devsearch_ ? &*devsearch_ : nullptr; }
  devprocess::ChildProcess* broker() { return broker_ ? &*broker_ : nullptr; }
  // A `datarefresh` child with the stack's environment, logging to run_dir/<log_name>.log.
  devprocess::ChildProcess spawn(const std::vector<std::string>& args, const std::string& log_name,
                                 const std::map<std::string, std::string>& extra_env = {});

  // Finds the repository root (holding schemas/image.index.json) upwards from the working
  // directory and from the executable.
  static std::filesystem::path find_source_dir();

 private:
  RefreshProgress read_progress(pg::Database& db, const std::string& refresh_id);

  DevStackOptions options_;
  std::unique_ptr<devpg::LocalPostgres> postgres_;
  // progress()'s connection, kept across polls (declared after postgres_: closed before it stops).
  std::optional<pg::Database> progress_db_;
  std::optional<devprocess::ChildProcess> broker_, devsearch_, planner_, coordinator_;
  std::vector<devprocess::ChildProcess> indexers_;
  std::vector<std::string> indexer_ids_;  // parallel to indexers_
  std::map<std::string, std::string> env_;
  std::string search_url_;
  std::string api_url_;
  std::string bootstrap_;
  std::string broker_admin_url_;
  bool owns_run_dir_ = false;
  int next_indexer_ = 1;  // worker ids stay unique across restarts
};

}  // namespace datarefresh::demo
