#include "consumer/coordinator/coordinator_service.h"

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "consumer/coordinator/notifier.h"
#include "consumer/coordinator/refresh_driver.h"
#include "consumer/coordinator/refresh_steps.h"
#include "consumer/coordinator/shard_jobs_watch.h"
#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/kafka/group_offsets.h"
#include "core/ledger/ledger.h"
#include "core/messages/codec.h"
#include "core/refresh/event_publisher.h"
#include "core/refresh/kept_generation.h"
#include "core/refresh/naming.h"
#include "core/refresh/rollback.h"

namespace datarefresh::coordinator {
namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

struct Coordinator::Impl {
  Impl(service::ServiceContext& c, kafka::Producer& p)
      : context(c),
        config(c.config()),
        publisher(p, c.config()),
        search(service::search_client_options(c.config())),
        metrics(*c.registry()),
        services{c, c.config(), publisher, search, metrics, shard_jobs} {}

  service::ServiceContext& context;
  const config::Config& config;
  refresh::EventPublisher publisher;
  search::Client search;
  CoordinatorMetrics metrics;
  ShardJobsWatch shard_jobs;
  Services services;
  std::optional<kafka::GroupOffsetsReader> offsets_reader;
  Clock::time_point next_offsets_read{};
  std::optional<pg::Database> fold_db;
  std::optional<pg::Database> supervisor_db;
  Clock::time_point next_sweep{};  // the first pass sweeps
  bool last_success_loaded = false;
  Logger log{"coordinator"};
  std::mutex work_mutex;
  std::condition_variable work_cv;
  bool work = false;  // a refresh job was folded since the supervisor last woke
  // One driver per running refresh, by refresh id. Guarded by drivers_mutex: the consumer's
  // thread wakes drivers, the supervisor starts and reaps them.
  std::mutex drivers_mutex;
  std::map<std::string, std::unique_ptr<RefreshDriver>> drivers;

  pg::Database& connection(std::optional<pg::Database>& slot, const char* app) {
    if (!slot) {
      slot.emplace(pg::Database::connect(service::api_db_options(config, app)));
      ledger::Ledger(*slot).ensure_schema();
    }
    return *slot;
  }

  // ---------------------------------------------------------------- event folding

  void dead_letter(const kafka::Message& m, const std::string& reason, const std::optional<std::string>& refresh_id) {
    publisher.dead_letter(m, reason, refresh_id);
  }

  // Folds one message into the ledger; returns the refresh it concerns (empty if none).
  std::string fold(const kafka::Message& m) {
    auto& db = connection(fold_db, "datarefresh-coordinator-events");
    ledger::Ledger ledger(db);
    if (m.topic == publisher.topic(config::Topic::kRefreshJobs)) {
      auto plan = messages::decode<messages::RefreshPlanned>(m.payload);
      if (!plan.ok()) {
        dead_letter(m, plan.error().message, std::nullopt);
      } else if (!ledger.run(plan.value().refresh_id.value())) {
        dead_letter(m, "refresh.planned for unknown refresh " + plan.value().refresh_id.value(),
                    plan.value().refresh_id.value());
      } else {
        log.info("refresh planned", {{"refresh_id", plan.value().refresh_id.value()},
                                     {"shards", plan.value().shard_count}});
        return plan.value().refresh_id.value();
      }
      return {};
    }
    auto event = messages::decode_event(m.payload);
    if (!event.ok()) {
      dead_letter(m, event.error().message, std::nullopt);
      return {};
    }
    std::string concerns;
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, messages::ShardStarted> || std::is_same_v<T, messages::ShardProgress> ||
                        std::is_same_v<T, messages::ShardCompleted> || std::is_same_v<T, messages::ShardFailed>) {
            const std::string id = e.refresh_id.value();
            if (!ledger.run(id)) {
              dead_letter(m, std::string(T::kType) + " for unknown refresh " + id, id);
              return;
            }
            bool changed = false;
            if constexpr (std::is_same_v<T, messages::ShardStarted>) {
              changed = ledger.shard_started(id, e.shard.value(), e.attempt, e.worker);
            } else if constexpr (std::is_same_v<T, messages::ShardProgress>) {
              changed = ledger.shard_progress(id, e.shard.value(), e.attempt, {e.rows_read, e.indexed, 0, 0, 0},
                                              e.waiting);
            } else if constexpr (std::is_same_v<T, messages::ShardCompleted>) {
              const auto& c = e.counts;
              changed = ledger.shard_completed(id, e.shard.value(), e.attempt,
                                               {c.rows_read, c.indexed, c.skipped_deleted, c.skipped_removed, c.dead_lettered});
            } else {
              changed = ledger.shard_failed(id, e.shard.value(), e.attempt, e.error, e.retryable);
            }
            metrics.events_folded.Add({{"type", std::string(T::kType)}, {"changed", changed ? "true" : "false"}})
                .Increment();
            concerns = id;
          }
        },
        event.value());
    return concerns;
  }

  // Wakes the driver of `refresh_id`, or the supervisor if there is none yet (a new refresh).
  void wake(const std::string& refresh_id) {
    {
      std::lock_guard lock(drivers_mutex);
      auto it = drivers.find(refresh_id);
      if (it != drivers.end()) {
        it->second->wake();
        return;
      }
    }
    {
      std::lock_guard lock(work_mutex);
      work = true;
    }
    work_cv.notify_one();
  }

  // ---------------------------------------------------------------- supervising the drivers

  // The last successful refresh per media type as the ledger remembers it, so the gauge (and the
  // alert on it) survives a coordinator restart.
  void load_last_success(pg::Database& db) {
    auto rs = db.exec(
        "SELECT media_type, extract(epoch FROM max(finished_at)) FROM datarefresh.runs "
        "WHERE status = 'completed' AND mode IN ('full', 'incremental') GROUP BY media_type");
    for (const auto& r : rs.rows) {
      if (r[1]) metrics.last_success.Add({{"media_type", r[0].value_or("")}}).Set(std::stod(*r[1]));
    }
  }

  // Starts a driver for every running refresh that has none, and forgets the drivers whose
  // refresh ended. Returns how many refreshes are running.
  int supervise(ledger::Ledger& ledger) {
    auto running = ledger.runs_with_status(ledger::RunStatus::kRunning);
    std::vector<std::unique_ptr<RefreshDriver>> ended;  // joined outside the lock
    {
      std::lock_guard lock(drivers_mutex);
      for (auto it = drivers.begin(); it != drivers.end();) {
        if (it->second->finished()) {
          ended.push_back(std::move(it->second));
          it = drivers.erase(it);
        } else {
          ++it;
        }
      }
      for (const auto& run : running) {
        if (shutdown_requested()) break;
        if (!drivers.count(run.refresh_id)) {
          drivers.emplace(run.refresh_id, std::make_unique<RefreshDriver>(services, run.refresh_id));
        }
      }
    }
    return static_cast<int>(running.size());
  }

  // Reads the indexers' committed offsets on the shard-jobs topic for the drivers to judge their
  // waiting jobs by, every kOffsetsInterval while refreshes run.
  void read_shard_job_offsets() {
    constexpr auto kOffsetsInterval = std::chrono::seconds(10);
    if (Clock::now() < next_offsets_read) return;
    next_offsets_read = Clock::now() + kOffsetsInterval;
    try {
      if (!offsets_reader) {
        offsets_reader.emplace(service::kafka_client_options(config), service::kIndexerGroup,
                               config.kafka.topic_name(config::Topic::kShardJobs));
      }
      shard_jobs.update(offsets_reader->read(std::chrono::seconds(5)));
    } catch (const std::exception& e) {
      shard_jobs.failed(e.what());
      log.warn("could not read the shard-jobs group's offsets; will try again", {{"error", e.what()}});
    }
  }

  void stop_drivers() {
    std::map<std::string, std::unique_ptr<RefreshDriver>> all;
    {
      std::lock_guard lock(drivers_mutex);
      all.swap(drivers);
    }
    all.clear();  // each destructor stops and joins its thread
  }

  // Removes what no running refresh owns, so that a rollback that could not finish (the engine
  // or the database was down when the refresh failed) is completed later and nothing is orphaned:
  // indices of finished refreshes that no alias points at and temp tables, both of media types
  // with no refresh running, FDW servers and import schemas of refreshes not running. Indices of refreshes
  // the ledger does not know are left alone (another installation may share the cluster).
  void sweep_leftovers(ledger::Ledger& ledger, pg::Database& db) {
    std::set<std::string> busy_media, busy_prefixes;
    for (const auto& r : ledger.runs_with_status(ledger::RunStatus::kRunning)) {
      busy_media.insert(r.media_type);
      busy_prefixes.insert(refresh::refresh_names(r.media_type, r.refresh_id).suffix.substr(0, 12));
    }
    std::vector<std::string> removed;
    // What refresh.keep_previous keeps stays until its time is up; then it goes, indices first (a
    // record whose indices could not all be deleted stays, and the next sweep tries again).
    std::set<std::string> kept_indices;
    for (const auto& kept : refresh::read_all_kept(db)) {
      auto media = config.media_types.find(kept.media_type);
      bool expire = kept.expired && media != config.media_types.end() && !busy_media.count(kept.media_type);
      if (expire) {
        auto problems = refresh::delete_kept(db, search, media->second, kept);
        if (problems.empty()) {
          removed.push_back("kept generation of " + kept.media_type + " (kept by refresh " + kept.refresh_id + ")");
          continue;
        }
        log.warn("could not delete an expired kept generation; trying again at the next sweep",
                 {{"media_type", kept.media_type}, {"problems", problems}});
      }
      for (const auto& i : {kept.index, kept.filtered_index}) {
        if (i) kept_indices.insert(*i);
      }
    }
    auto indices = search.cat_indices();
    for (const auto& row : indices.ok() ? indices.value() : std::vector<search::IndexRow>{}) {
      if (kept_indices.count(row.index)) continue;
      for (const auto& [name, media] : config.media_types) {
        // A running refresh's cleanup step deletes the old indices of its media type itself (and
        // records them); the sweeper takes what is left once none runs.
        if (busy_media.count(name)) continue;
        auto id = refresh::refresh_id_of_index(name, row.index);
        if (!id) continue;
        auto run = ledger.run(*id);
        if (!run || run->status == ledger::RunStatus::kRunning) continue;
        auto aliases = search.get_index_aliases(row.index);
        if (!aliases.ok() || !refresh::serving_aliases(aliases.value(), row.index).empty()) continue;  // served from
        auto d = search.delete_index(row.index);
        if (d.ok() || d.error().http_status == 404) removed.push_back("index " + row.index);
      }
    }
    for (const auto& [name, media] : config.media_types) {
      if (busy_media.count(name)) continue;
      for (const auto& t : refresh::refreshed_tables(media)) {
        auto temp = refresh::temp_table(pg::Identifier(t, "table name"));
        if (!db.query_value("SELECT to_regclass($1)::text", {temp.quoted()})) continue;
        // Checked again in the same statement: a refresh of this media type may have begun since.
        db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM datarefresh.runs WHERE status = 'running' AND media_type = " +
                pg::quote_literal(name) + ") THEN DROP TABLE IF EXISTS " + temp.quoted() + " CASCADE; END IF; END $$");
        removed.push_back("table " + temp.name());
      }
    }
    auto fdw = db.exec(
        "SELECT 'server', srvname, substr(srvname, 17, 12) FROM pg_foreign_server WHERE srvname LIKE "
        "'datarefresh\\_fdw\\_%' UNION ALL SELECT 'schema', nspname, substr(nspname, 22, 12) FROM pg_namespace "
        "WHERE nspname LIKE 'datarefresh\\_upstream\\_%'");
    for (const auto& r : fdw.rows) {
      if (busy_prefixes.count(r[2].value_or(""))) continue;
      db.exec("DROP " + r[0].value_or("") + " IF EXISTS " + pg::Identifier(r[1].value_or("")).quoted() + " CASCADE");
      removed.push_back(r[0].value_or("") + " " + r[1].value_or(""));
    }
    if (!removed.empty()) log.warn("removed leftovers of finished refreshes", {{"removed", removed}});
  }
};

Coordinator::Coordinator(service::ServiceContext& context, kafka::Producer& producer)
    : impl_(std::make_unique<Impl>(context, producer)) {}
Coordinator::~Coordinator() { impl_->stop_drivers(); }

void Coordinator::stop() { impl_->stop_drivers(); }

kafka::JobOutcome Coordinator::handle(const kafka::Message& message, const kafka::CancelToken&) {
  try {
    auto refresh_id = impl_->fold(message);
    if (!refresh_id.empty()) impl_->wake(refresh_id);
    return kafka::JobOutcome::kDone;
  } catch (const std::exception& e) {
    impl_->log.error("message not folded, will be redelivered", {{"topic", message.topic}, {"error", e.what()}});
    impl_->fold_db.reset();
    return kafka::JobOutcome::kRetry;
  }
}

int Coordinator::tick() {
  auto& m = *impl_;
  try {
    auto& db = m.connection(m.supervisor_db, "datarefresh-coordinator-supervisor");
    ledger::Ledger ledger(db);
    if (!m.last_success_loaded) {
      m.load_last_success(db);
      m.last_success_loaded = true;
    }
    int running = m.supervise(ledger);
    if (running > 0) m.read_shard_job_offsets();
    if (Clock::now() >= m.next_sweep) {
      m.next_sweep = Clock::now() + m.config.refresh.leftover_sweep_interval;
      try {
        m.sweep_leftovers(ledger, db);
      } catch (const std::exception& e) {
        m.log.warn("sweeping leftovers failed; will try again", {{"error", e.what()}});
      }
    }
    return running;
  } catch (const std::exception& e) {
    m.log.error("coordinator pass failed; reconnecting", {{"error", e.what()}});
    m.supervisor_db.reset();
    return -1;
  }
}

void Coordinator::wait_for_work(std::chrono::milliseconds timeout) {
  // In slices, so that a shutdown (which does not notify work_cv) is seen within one.
  constexpr std::chrono::milliseconds kSlice{100};
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(impl_->work_mutex);
  while (!impl_->work && !shutdown_requested() && Clock::now() < deadline) {
    impl_->work_cv.wait_until(lock, std::min(deadline, Clock::now() + kSlice));
  }
  impl_->work = false;
}

int run_coordinator(const std::string& config_file) {
  service::ServiceContext context(config_file, service::ServiceContext::load(config_file), "coordinator");
  context.require_endpoints(service::kApiDatabase | service::kSearchEngine | service::kKafka);
  const auto& cfg = context.config();
  Logger log("coordinator");
  context.start_ops_server();
  context.ensure_topics();
  kafka::Producer producer(service::kafka_producer_options(cfg));
  Coordinator coordinator(context, producer);
  auto options = context.consumer_options(
      "datarefresh-coordinator",
      {cfg.kafka.topic_name(config::Topic::kRefreshJobs), cfg.kafka.topic_name(config::Topic::kEvents)});
  options.retry_delay = std::chrono::seconds(2);
  kafka::GroupConsumer consumer(options, [&](const kafka::Message& m, const kafka::CancelToken& t) {
    return coordinator.handle(m, t);
  });
  std::thread driver([&] {
    while (!shutdown_requested()) {
      coordinator.tick();
      context.health().heartbeat();
      coordinator.wait_for_work(std::chrono::seconds(1));
    }
  });
  // Notifications read the events in a group of their own, so a slow webhook never delays folding.
  std::optional<Notifier> notifier;
  std::optional<kafka::GroupConsumer> notifier_consumer;
  std::thread notifier_thread;
  if (!cfg.notify.slack_webhook.empty()) {
    notifier.emplace(cfg, *context.registry());
    auto o = context.consumer_options("datarefresh-notifier", {cfg.kafka.topic_name(config::Topic::kEvents)});
    notifier_consumer.emplace(o, [&](const kafka::Message& m, const kafka::CancelToken&) { return notifier->handle(m); });
    notifier_thread = std::thread([&] { notifier_consumer->run(); });
  }
  log.info("coordinator started", {{"metrics_port", context.ops_port()}, {"notifications", notifier.has_value()}});
  context.run_consumer(consumer, false);  // the driver loop beats
  request_shutdown();
  driver.join();
  coordinator.stop();
  if (notifier_thread.joinable()) notifier_thread.join();
  producer.flush(std::chrono::seconds(10));
  log.info("coordinator stopped");
  return 0;
}

}  // namespace datarefresh::coordinator
