#include "devstack/demo/dev_stack.h"

#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/net.h"
#include "core/config/config.h"
#include "core/kafka/producer.h"
#include "core/messages/codec.h"
#include "core/pg/database.h"
#include "core/refresh/naming.h"
#include "core/service/service_context.h"

namespace datarefresh::demo {

std::filesystem::path DevStack::find_source_dir() {
  auto holds = [](const std::filesystem::path& p) { return std::filesystem::exists(p / "schemas" / "image.index.json"); };
  if (const char* env = std::getenv("DATAREFRESH_SOURCE_DIR"); env && holds(env)) return env;
  for (auto start : {std::filesystem::current_path(), devprocess::self_executable().parent_path()}) {
    for (auto p = start; !p.empty(); p = p.parent_path()) {
      if (holds(p)) return p;
      if (p == p.root_path()) break;
    }
  }
  throw ConfigError("cannot find the datarefresh source tree (schemas/image.index.json): run from the repository "
                    "or set DATAREFRESH_SOURCE_DIR");
}

DevStack::DevStack(DevStackOptions options) : options_(std::move(options)) {
  if (options_.source_dir.empty()) options_.source_dir = find_source_dir();
  options_.source_dir = std::filesystem::absolute(options_.source_dir);
  if (options_.config_file.empty()) options_.config_file = options_.source_dir / "config" / "local.yaml";
  if (options_.executable.empty()) {
    const char* env = std::getenv("DATAREFRESH_BINARY");
    options_.executable = env && *env ? std::filesystem::path(env) : devprocess::self_executable();
  }
  if (options_.run_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "datarefresh-run-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw Error("cannot create a run directory under " + tmpl);
    options_.run_dir = tmpl;
    owns_run_dir_ = true;
  }
  std::filesystem::create_directories(options_.run_dir);
}

DevStack::~DevStack() { stop(); }

devprocess::ChildProcess DevStack::spawn(const std::vector<std::string>& args, const std::string& log_name,
                                        const std::map<std::string, std::string>& extra_env) {
  devprocess::ChildOptions o;
  o.argv.push_back(options_.executable.string());
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env_;
  for (const auto& [k, v] : extra_env) o.env[k] = v;
  o.log_file = options_.run_dir / (log_name + ".log");
  return devprocess::ChildProcess(std::move(o));
}

datagen::GenerateCounts DevStack::start_infrastructure() {
  postgres_ = devpg::LocalPostgres::start();
  const auto& ep = postgres_->endpoint();
  datagen::GenerateOptions gen;
  gen.seed = options_.seed;
  gen.image_rows = options_.image_rows;
  gen.audio_rows = options_.audio_rows;
  gen.sensitive_terms_path = options_.source_dir / "devstack" / "datagen" / "sensitive_terms.txt";
  auto counts = datagen::generate_catalog(postgres_->catalog_dsn(), postgres_->api_dsn(), gen);

  env_ = {
      {"API_DATABASE_URL", postgres_->api_dsn()},
      {"UPSTREAM_DATABASE_URL", postgres_->catalog_dsn()},
      {"DATAREFRESH_POSTGRES_FDW_HOST", ep.host},
      {"DATAREFRESH_POSTGRES_FDW_PORT", std::to_string(ep.port)},
      {"DATAREFRESH_POSTGRES_FDW_DBNAME", ep.catalog_dbname},
      {"DATAREFRESH_POSTGRES_FDW_USER", ep.user},
      {"DATAREFRESH_POSTGRES_FDW_PASSWORD", ep.password},
      {"DATAREFRESH_REFRESH_SENSITIVE_TERMS_FILE", gen.sensitive_terms_path.string()},
      {"DATAREFRESH_REFRESH_INDEX_SETTINGS_DIR", (options_.source_dir / "schemas").string()},
      {"DATAREFRESH_SOURCE_DIR", options_.source_dir.string()},
  };
  auto broker_file = options_.run_dir / "broker.bootstrap";
  auto broker_admin_file = options_.run_dir / "broker.admin";
  broker_.emplace(spawn({"broker", "--bootstrap-file", broker_file.string(), "--admin-port", "0", "--admin-port-file",
                         broker_admin_file.string()},
                        "broker"));
  bootstrap_ = devprocess::wait_for_file_line(broker_file, std::chrono::seconds(30), &*broker_, "the broker");
  broker_admin_url_ = "http://127.0.0.1:" + devprocess::wait_for_file_line(broker_admin_file, std::chrono::seconds(30),
                                                                          &*broker_, "the broker's admin endpoint");
  auto search_file = options_.run_dir / "devsearch.port";
  std::vector<std::string> search_args{"devsearch", "--port", "0", "--port-file", search_file.string(), "--nodes",
                                       std::to_string(options_.search_nodes)};
  if (options_.search_sink) search_args.push_back("--sink");
  if (options_.search_es_major) {
    search_args.push_back("--es-major");
    search_args.push_back(std::to_string(*options_.search_es_major));
  }
  search_args.insert(search_args.end(), options_.devsearch_args.begin(), options_.devsearch_args.end());
  devsearch_.emplace(spawn(search_args, "devsearch"));
  auto port = devprocess::wait_for_file_line(search_file, std::chrono::seconds(30), &*devsearch_, "devsearch");
  search_url_ = "http://127.0.0.1:" + port;
  env_["DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap_;
  env_["DATAREFRESH_SEARCH_URL"] = search_url_;
  // A fixed port for the planner's API, so that a restarted planner keeps its address.
  env_["DATAREFRESH_HTTP_API_PORT"] = std::to_string(pick_free_loopback_port());
  for (const auto& [k, v] : options_.env) env_[k] = v;
  api_url_ = "http://127.0.0.1:" + env_["DATAREFRESH_HTTP_API_PORT"];
  return counts;
}

devprocess::ChildProcess& DevStack::start_planner(const std::map<std::string, std::string>& extra_env) {
  if (planner_) planner_->stop(std::chrono::seconds(15));
  planner_.emplace(spawn({"planner", "--config", options_.config_file.string()}, "planner", extra_env));
  return *planner_;
}

devprocess::ChildProcess& DevStack::start_coordinator(const std::map<std::string, std::string>& extra_env) {
  if (coordinator_) coordinator_->stop(std::chrono::seconds(15));
  coordinator_.emplace(spawn({"coordinator", "--config", options_.config_file.string()}, "coordinator", extra_env));
  return *coordinator_;
}

devprocess::ChildProcess& DevStack::start_indexer(const std::map<std::string, std::string>& extra_env) {
  std::string id = fmt::format("indexer-{}", next_indexer_++);
  indexers_.push_back(spawn({"indexer", "--config", options_.config_file.string(), "--worker-id", id}, id, extra_env));
  indexer_ids_.push_back(id);
  return indexers_.back();
}

devprocess::ChildProcess* DevStack::indexer(const std::string& worker_id) {
  for (std::size_t i = 0; i < indexers_.size(); ++i) {
    if (indexer_ids_[i] == worker_id) return &indexers_[i];
  }
  return nullptr;
}

std::size_t DevStack::forget_exited_indexers() {
  std::vector<devprocess::ChildProcess> alive;
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < indexers_.size(); ++i) {
    if (!indexers_[i].running()) continue;
    alive.push_back(std::move(indexers_[i]));
    ids.push_back(indexer_ids_[i]);
  }
  std::size_t forgotten = indexers_.size() - alive.size();
  indexers_ = std::move(alive);
  indexer_ids_ = std::move(ids);
  return forgotten;
}

void DevStack::start_services(int indexers) {
  start_planner();
  start_coordinator();
  for (int i = 0; i < indexers; ++i) start_indexer();
}

std::string DevStack::trigger(const std::string& media_type, std::optional<std::int64_t> row_limit,
                              const std::string& mode) {
  kafka::ProducerOptions o;
  o.client.bootstrap_servers = bootstrap_;
  o.client.client_id = "datarefresh-demo";
  kafka::Producer producer(o);
  messages::RefreshRequested request;
  request.request_id = refresh::new_uuid();
  request.media_type = media_type;
  request.options.row_limit = row_limit;
  request.options.requested_by = "demo";
  request.options.mode = mode;
  request.requested_at = messages::now_timestamp();
  std::string prefix = "datarefresh.";
  if (auto it = env_.find("DATAREFRESH_KAFKA_TOPIC_PREFIX"); it != env_.end()) prefix = it->second;
  auto r = producer.produce_sync(prefix + "requests", media_type, messages::encode(request), std::chrono::seconds(30));
  if (!r.ok()) throw Error("refresh request for " + media_type + " not acknowledged: " + r.error->message);
  return request.request_id;
}

pg::ConnectionOptions DevStack::api_db_options() const {
  pg::ConnectionOptions o;
  o.dsn = postgres_->api_dsn();
  o.connect_attempts = 3;
  o.search_path = {"public"};
  return o;
}

pg::ConnectionOptions DevStack::catalog_db_options() const {
  pg::ConnectionOptions o;
  o.dsn = postgres_->catalog_dsn();
  o.connect_attempts = 3;
  return o;
}

search::ClientOptions DevStack::search_options() const {
  search::ClientOptions o;
  o.url = search_url_;
  return o;
}

RefreshProgress DevStack::progress(const std::string& refresh_id) {
  // One connection for all the polls, kept: a new one every poll (a backend fork, authentication,
  // cold caches) cost PostgreSQL about 85 ms of CPU each, 14% of the two cores during the
  // benchmark's indexing phase. A kept connection that broke (server restarted) is replaced once;
  // a failure on a fresh one propagates, as before.
  while (true) {
    const bool kept = progress_db_.has_value();
    try {
      if (!kept) progress_db_.emplace(pg::Database::connect(api_db_options()));
      return read_progress(*progress_db_, refresh_id);
    } catch (const std::exception&) {
      progress_db_.reset();
      if (!kept) throw;
    }
  }
}

RefreshProgress DevStack::read_progress(pg::Database& db, const std::string& refresh_id) {
  RefreshProgress p;
  auto has_ledger = db.query_value("SELECT to_regclass('datarefresh.runs')::text");
  if (!has_ledger) {
    p.run.refresh_id = refresh_id;
    p.run.phase = "requested";
    return p;
  }
  ledger::Ledger ledger(db);
  auto run = ledger.run(refresh_id);
  if (!run) {
    p.run.refresh_id = refresh_id;
    p.run.phase = "requested";
    return p;
  }
  p.run = *run;
  p.rows_expected = run->expected_rows.value_or(0);
  for (const auto& s : ledger.shards(refresh_id)) {
    ++p.shards_total;
    if (s.status == ledger::ShardStatus::kCompleted) ++p.shards_done;
    p.rows_read += s.counts.rows_read;
    p.indexed += s.counts.indexed;
  }
  return p;
}

RefreshProgress DevStack::wait(const std::string& refresh_id, std::chrono::milliseconds timeout,
                               const std::function<void(const RefreshProgress&)>& on_tick) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto p = progress(refresh_id);
    if (on_tick) on_tick(p);
    if (p.finished()) return p;
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(fmt::format("refresh {} still {} after {} s: see the logs in {}", refresh_id, p.run.phase,
                              std::chrono::duration_cast<std::chrono::seconds>(timeout).count(),
                              options_.run_dir.string()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

void DevStack::stop() {
  progress_db_.reset();
  // Services first (they hand back work), then the infrastructure.
  for (auto& i : indexers_) i.stop(std::chrono::seconds(30));
  if (coordinator_) coordinator_->stop(std::chrono::seconds(15));
  if (planner_) planner_->stop(std::chrono::seconds(15));
  if (devsearch_) devsearch_->stop(std::chrono::seconds(10));
  if (broker_) broker_->stop(std::chrono::seconds(10));
  indexers_.clear();
  indexer_ids_.clear();
  coordinator_.reset();
  planner_.reset();
  devsearch_.reset();
  broker_.reset();
  if (postgres_) postgres_->stop();
  postgres_.reset();
  if (owns_run_dir_ && options_.remove_run_dir) {
    std::error_code ignored;  // best effort: a leftover log directory harms nothing
    std::filesystem::remove_all(options_.run_dir, ignored);
    owns_run_dir_ = false;
  }
}

}  // namespace datarefresh::demo
