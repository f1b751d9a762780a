#include "consumer/indexer/indexer_service.h"

#include <malloc.h>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "consumer/indexer/shard_indexer.h"
#include "consumer/indexer/shard_query.h"
#include "core/common/kept_objects.h"
#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/ledger/ledger.h"
#include "core/messages/codec.h"
#include "core/pg/copy_out_stream.h"
#include "core/refresh/event_publisher.h"
#include "core/refresh/naming.h"

namespace datarefresh::indexer {
namespace {

// Rows of the shard query as FieldViews, straight from the COPY stream's reused buffers.
class CopyRows final : public RowSource {
 public:
  CopyRows(pg::CopyConnection& connection, const std::string& query) : stream_(connection, query) {}
  bool next(std::vector<catalog::FieldView>& row) override {
    if (!stream_.next(view_)) return false;
    row.resize(view_.size());
    for (std::size_t i = 0; i < view_.size(); ++i) row[i] = {view_[i], view_.is_null(i)};
    return true;
  }
  std::uint64_t bytes_read() const { return stream_.bytes_read(); }

 private:
  pg::CopyOutStream stream_;
  pg::CopyRowView view_;
};

struct IndexerMetrics {
  explicit IndexerMetrics(prometheus::Registry& r)
      : documents(prometheus::BuildCounter()
                      .Name("datarefresh_documents_total")
                      .Help("Rows handled by indexers, by outcome (indexed, skipped_deleted, skipped_removed, dead_lettered)")
                      .Register(r)),
        rows_streamed(prometheus::BuildCounter()
                          .Name("datarefresh_rows_streamed_total")
                          .Help("Rows streamed from PostgreSQL by indexers")
                          .Register(r)),
        bulk_seconds(prometheus::BuildHistogram()
                         .Name("datarefresh_bulk_request_duration_seconds")
                         .Help("Duration of _bulk requests")
                         .Register(r)),
        bulk_bytes(prometheus::BuildCounter().Name("datarefresh_bulk_bytes_total").Help("Bytes sent in _bulk bodies").Register(r)),
        bulk_retried(prometheus::BuildCounter()
                         .Name("datarefresh_bulk_items_retried_total")
                         .Help("Bulk items the engine asked to send again (429/5xx)")
                         .Register(r)),
        in_flight(prometheus::BuildGauge().Name("datarefresh_bulk_requests_in_flight").Help("Bulk requests in flight").Register(r)),
        shards(prometheus::BuildCounter().Name("datarefresh_shards_total").Help("Shard jobs handled, by outcome").Register(r)),
        shard_seconds(prometheus::BuildHistogram()
                          .Name("datarefresh_shard_duration_seconds")
                          .Help("Time to index one shard")
                          .Register(r)) {}
  prometheus::Family<prometheus::Counter>& documents;
  prometheus::Family<prometheus::Counter>& rows_streamed;
  prometheus::Family<prometheus::Histogram>& bulk_seconds;
  prometheus::Family<prometheus::Counter>& bulk_bytes;
  prometheus::Family<prometheus::Counter>& bulk_retried;
  prometheus::Family<prometheus::Gauge>& in_flight;
  prometheus::Family<prometheus::Counter>& shards;
  prometheus::Family<prometheus::Histogram>& shard_seconds;
};

const prometheus::Histogram::BucketBoundaries kBulkBuckets{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
const prometheus::Histogram::BucketBoundaries kShardBuckets{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600};

// The search client as the shard pipeline's transport, measured.
class MeasuredTransport final : public BulkTransport {
 public:
  MeasuredTransport(search::Client& client, IndexerMetrics& metrics, const std::string& media)
      : client_(client),
        seconds_(metrics.bulk_seconds.Add({{"media_type", media}}, kBulkBuckets)),
        bytes_(metrics.bulk_bytes.Add({{"media_type", media}})),
        retried_(metrics.bulk_retried.Add({{"media_type", media}})),
        in_flight_(metrics.in_flight.Add({{"media_type", media}})) {}

  search::Result<search::BulkResponse> bulk(std::string_view body) override {
    bytes_.Increment(static_cast<double>(body.size()));
    in_flight_.Increment();
    auto start = std::chrono::steady_clock::now();
    auto r = client_.bulk(body, search::BulkItems::kFailedOnly, /*require_alias=*/true);
    seconds_.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    in_flight_.Decrement();
    if (r.ok()) retried_.Increment(static_cast<double>(r.value().count_retryable()));
    return r;
  }

 private:
  search::Client& client_;
  prometheus::Histogram& seconds_;
  prometheus::Counter& bytes_;
  prometheus::Counter& retried_;
  prometheus::Gauge& in_flight_;
};

class KafkaDeadLetters final : public DeadLetterSink {
 public:
  KafkaDeadLetters(refresh::EventPublisher& publisher, const kafka::Message& job, const std::string& refresh_id)
      : publisher_(publisher), job_(job), refresh_id_(refresh_id) {}
  bool record(const RejectedDocument& doc) override {
    messages::DeadLetter letter;
    letter.reason = doc.reason;
    letter.source_topic = job_.topic;
    letter.source_partition = job_.partition;
    letter.source_offset = job_.offset;
    letter.refresh_id = RefreshId(refresh_id_);
    letter.document_id = doc.document_id;
    messages::set_payload(letter, doc.source);
    letter.at = messages::now_timestamp();
    return publisher_.dead_letter(letter);
  }

 private:
  refresh::EventPublisher& publisher_;
  const kafka::Message& job_;
  std::string refresh_id_;
};

}  // namespace

struct IndexerService::Impl {
  Impl(service::ServiceContext& c, kafka::Producer& p, std::string w)
      : context(c),
        config(c.config()),
        producer(p),
        publisher(p, c.config()),
        search(service::search_client_options(c.config())),
        metrics(*c.registry()),
        worker(std::move(w)),
        // As many batches as the shards this process runs at once can have alive together.
        batches((2 * static_cast<std::size_t>(c.config().search.bulk.concurrency) + 1) *
                static_cast<std::size_t>(c.config().indexer.concurrency)) {}

  service::ServiceContext& context;
  const config::Config& config;
  kafka::Producer& producer;
  refresh::EventPublisher publisher;
  search::Client search;
  IndexerMetrics metrics;
  std::string worker;
  BatchPool batches;
  Logger log{"indexer"};

  // Connections kept between shards, one of each per shard running at once (a new backend costs
  // a fork, authentication and cold caches).
  KeptObjects<pg::Database> idle_metadata{static_cast<std::size_t>(config.indexer.concurrency)};
  KeptObjects<std::unique_ptr<pg::CopyConnection>> idle_copy{static_cast<std::size_t>(config.indexer.concurrency)};

  // A kept metadata connection; one that died while idle is noticed by a trivial query and dropped.
  pg::Database take_metadata_connection() {
    while (auto kept = idle_metadata.take()) {
      try {
        kept->query_value("SELECT 1");
        return std::move(*kept);
      } catch (const std::exception&) {
        // closed by the server meanwhile: dropped
      }
    }
    return pg::Database::connect(service::api_db_options(config, "datarefresh-indexer"));
  }

  // A kept stream connection for one shard, handed back when the shard is done. The connection
  // itself reconnects when it finds its backend gone.
  class KeptCopyConnection {
   public:
    explicit KeptCopyConnection(Impl& impl) : impl_(impl) {
      if (auto kept = impl_.idle_copy.take()) {
        conn_ = std::move(*kept);
      } else {
        auto options = service::api_db_options(impl_.config, "datarefresh-indexer-stream");
        // A range scan streamed once: compiling it (PostgreSQL's JIT, on for plans this costly)
        // costs more than it saves.
        options.settings.emplace_back("jit", "off");
        conn_ = std::make_unique<pg::CopyConnection>(std::move(options));
      }
    }
    ~KeptCopyConnection() { impl_.idle_copy.give(std::move(conn_)); }
    KeptCopyConnection(const KeptCopyConnection&) = delete;
    KeptCopyConnection& operator=(const KeptCopyConnection&) = delete;
    pg::CopyConnection& get() { return *conn_; }

   private:
    Impl& impl_;
    std::unique_ptr<pg::CopyConnection> conn_;
  };

  void dead_letter_message(const kafka::Message& m, const std::string& reason, std::optional<std::string> refresh_id) {
    publisher.dead_letter(m, reason, refresh_id);
  }

  // Whether the refresh is over or an operator asked to cancel it; false when the ledger cannot
  // be read (the shard goes on; the coordinator decides).
  bool refresh_ended(std::optional<pg::Database>& db, const std::string& refresh_id) {
    try {
      if (!db) {
        auto options = service::api_db_options(config, "datarefresh-indexer-watch");
        options.connect_attempts = 1;  // on the progress thread: never hold progress events back
        db.emplace(pg::Database::connect(options));
      }
      auto v = db->query_value(
          "SELECT status <> 'running' OR cancel_requested_at IS NOT NULL FROM datarefresh.runs WHERE refresh_id = "
          "$1::uuid",
          {refresh_id});
      return v.value_or("f") == "t";
    } catch (const std::exception& e) {
      log.warn("could not check whether the refresh still runs; the shard goes on",
               {{"refresh_id", refresh_id}, {"error", e.what()}});
      db.reset();
      return false;
    }
  }

  kafka::JobOutcome handle(const kafka::Message& message, const kafka::CancelToken& cancel) {
    auto decoded = messages::decode<messages::ShardJob>(message.payload);
    if (!decoded.ok()) {
      dead_letter_message(message, decoded.error().message, std::nullopt);
      return kafka::JobOutcome::kDone;
    }
    const auto& job = decoded.value();
    const std::string refresh_id = job.refresh_id.value();
    const std::int32_t shard = job.shard.value();
    auto media_it = config.media_types.find(job.media_type);
    if (media_it == config.media_types.end()) {
      dead_letter_message(message, "shard job for unknown media type '" + job.media_type + "'", refresh_id);
      return kafka::JobOutcome::kDone;
    }
    const auto& media = media_it->second;
    std::vector<std::string> columns;
    {
      auto db = take_metadata_connection();
      ledger::Ledger ledger(db);
      auto run = ledger.run(refresh_id);
      if (!run) {
        dead_letter_message(message, "shard job for unknown refresh " + refresh_id, refresh_id);
        return kafka::JobOutcome::kDone;
      }
      if (run->status != ledger::RunStatus::kRunning) {
        log.info("shard job of a finished refresh acknowledged", {{"refresh_id", refresh_id}, {"shard", shard}});
        metrics.shards.Add({{"outcome", "skipped"}}).Increment();
        return kafka::JobOutcome::kDone;
      }
      for (const auto& s : ledger.shards(refresh_id)) {
        if (s.shard != shard) continue;
        if (s.status == ledger::ShardStatus::kCompleted) {
          log.info("shard already completed; job acknowledged", {{"refresh_id", refresh_id}, {"shard", shard}});
          metrics.shards.Add({{"outcome", "skipped"}}).Increment();
          return kafka::JobOutcome::kDone;
        }
        if (s.attempt > job.attempt) {
          log.info("stale shard job acknowledged", {{"refresh_id", refresh_id}, {"shard", shard},
                                                    {"job_attempt", job.attempt}, {"ledger_attempt", s.attempt}});
          metrics.shards.Add({{"outcome", "skipped"}}).Increment();
          return kafka::JobOutcome::kDone;
        }
      }
      columns = db.table_columns(job.table);
      if (columns.empty()) {
        dead_letter_message(message, "shard job names table " + job.table + ", which does not exist", refresh_id);
        return kafka::JobOutcome::kDone;
      }
      idle_metadata.give(std::move(db));
    }

    messages::ShardStarted started;
    started.refresh_id = job.refresh_id;
    started.shard = job.shard;
    started.attempt = job.attempt;
    started.worker = worker;
    started.at = messages::now_timestamp();
    publisher.publish(started);
    log.info("shard started", {{"refresh_id", refresh_id}, {"shard", shard}, {"attempt", job.attempt},
                               {"ids", fmt::format("[{}, {})", job.id_start.value(), job.id_end.value())}});

    auto begin = std::chrono::steady_clock::now();
    // Set when the refresh ended (failed, cancelled) while this shard runs: its index is being
    // deleted, and writing on would only make the engine create it again.
    std::atomic<bool> refresh_over{false};
    std::optional<pg::Database> watch_db;
    ShardWork work;
    // Through the index's load alias with require_alias: a bulk after the index was deleted is
    // refused instead of creating it again through auto-create.
    work.index = refresh::load_alias(job.target_index);
    work.kind = service::media_kind(media);
    work.cancelled = [&] { return cancel.cancelled() || refresh_over.load(); };
    work.progress_interval = config.refresh.progress_interval;
    work.batches = &batches;
    work.deletes_only = job.action == "delete";
    work.delete_skipped = job.incremental;
    // What the shard waits for while the engine refuses transiently, for the progress events (the
    // coordinator then knows the shard is alive though its counts do not move) and the logs.
    std::mutex waiting_mu;
    std::string waiting;
    work.on_waiting = [&](const std::string& reason) {
      {
        std::lock_guard lock(waiting_mu);
        waiting = reason;
      }
      if (reason.empty()) {
        log.info("the search engine takes the shard's documents again", {{"refresh_id", refresh_id}, {"shard", shard}});
      } else {
        log.warn("waiting for the search engine; retrying until search.bulk.deadline",
                 {{"refresh_id", refresh_id}, {"shard", shard}, {"reason", reason},
                  {"deadline", format_duration(config.search.bulk.deadline)}});
      }
    };
    work.on_progress = [&](const ShardCounts& c) {
      if (refresh_ended(watch_db, refresh_id)) refresh_over = true;
      messages::ShardProgress p;
      p.refresh_id = job.refresh_id;
      p.shard = job.shard;
      p.attempt = job.attempt;
      p.worker = worker;
      p.rows_read = c.rows_read;
      p.indexed = c.indexed;
      double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
      p.docs_per_s = secs > 0 ? static_cast<double>(c.indexed) / secs : 0;
      p.at = messages::now_timestamp();
      {
        std::lock_guard lock(waiting_mu);
        if (!waiting.empty()) p.waiting = waiting;
      }
      // Progress is informational: a lost one is replaced by the next.
      producer.produce(publisher.topic(config::Topic::kEvents), refresh_id, messages::encode(messages::Event(p)));
    };
    BulkSettings settings;
    settings.max_bytes = static_cast<std::size_t>(config.search.bulk.max_bytes);
    settings.max_docs = static_cast<std::size_t>(config.search.bulk.max_docs);
    settings.concurrency = static_cast<std::size_t>(config.search.bulk.concurrency);
    settings.backoff = BackoffPolicy{config.search.bulk.backoff_initial, config.search.bulk.backoff_max, 2.0, 0.5};
    settings.deadline = config.search.bulk.deadline;

    ShardResult result;
    std::uint64_t bytes_read = 0;
    try {
      auto live = pg::Identifier(media.table, "table name");
      auto query = work.deletes_only
                       ? delete_shard_query(pg::Identifier(job.table, "table name"), job.id_start.value(),
                                            job.id_end.value())
                       : shard_query(work.kind, pg::Identifier(job.table, "table name"), live, columns,
                                     job.id_start.value(), job.id_end.value());
      KeptCopyConnection connection(*this);
      CopyRows rows(connection.get(), query);
      MeasuredTransport transport(search, metrics, media.name);
      KafkaDeadLetters dead_letters(publisher, message, refresh_id);
      result = index_shard(rows, transport, dead_letters, work, settings);
      bytes_read = rows.bytes_read();
    } catch (const std::exception& e) {
      result.outcome = ShardOutcome::kFailed;
      result.error = fmt::format("shard {} of refresh {}: {}", shard, refresh_id, e.what());
      result.retryable = true;
    }
    const auto& c = result.counts;
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();

    if (result.outcome == ShardOutcome::kCancelled && refresh_over && !cancel.cancelled()) {
      log.warn("refresh ended (failed or cancelled) while the shard ran; shard abandoned",
               {{"refresh_id", refresh_id}, {"shard", shard}, {"rows", c.rows_read}});
      metrics.shards.Add({{"outcome", "abandoned"}}).Increment();
      return kafka::JobOutcome::kDone;
    }
    if (result.outcome == ShardOutcome::kCancelled) {
      log.info("shard handed back", {{"refresh_id", refresh_id}, {"shard", shard}, {"reason", std::string(kafka::to_string(cancel.reason()))}});
      metrics.shards.Add({{"outcome", "handed_back"}}).Increment();
      return kafka::JobOutcome::kRetry;
    }
    metrics.rows_streamed.Add({{"media_type", media.name}}).Increment(static_cast<double>(c.rows_read));
    if (result.outcome == ShardOutcome::kCompleted) {
      messages::ShardCompleted done;
      done.refresh_id = job.refresh_id;
      done.shard = job.shard;
      done.attempt = job.attempt;
      done.worker = worker;
      done.counts = {c.rows_read, c.indexed, c.skipped_deleted, c.skipped_removed, c.dead_lettered};
      done.duration_ms = static_cast<std::int64_t>(seconds * 1000);
      done.at = messages::now_timestamp();
      publisher.publish(done);  // throws if not acknowledged: the job is then retried, not committed
      for (auto [name, v] : {std::pair{"indexed", c.indexed}, {"skipped_deleted", c.skipped_deleted},
                             {"skipped_removed", c.skipped_removed}, {"dead_lettered", c.dead_lettered}}) {
        metrics.documents.Add({{"media_type", media.name}, {"outcome", name}}).Increment(static_cast<double>(v));
      }
      metrics.shards.Add({{"outcome", "completed"}}).Increment();
      metrics.shard_seconds.Add({{"media_type", media.name}}, kShardBuckets).Observe(seconds);
      log.info("shard completed", {{"refresh_id", refresh_id}, {"shard", shard}, {"rows", c.rows_read},
                                   {"indexed", c.indexed}, {"seconds", seconds}, {"bytes_read", bytes_read}});
      return kafka::JobOutcome::kDone;
    }
    messages::ShardFailed failed;
    failed.refresh_id = job.refresh_id;
    failed.shard = job.shard;
    failed.attempt = job.attempt;
    failed.worker = worker;
    failed.error = result.error;
    failed.retryable = result.retryable;
    failed.at = messages::now_timestamp();
    publisher.publish(failed);
    metrics.shards.Add({{"outcome", "failed"}}).Increment();
    log.error("shard failed", {{"refresh_id", refresh_id}, {"shard", shard}, {"error", result.error}});
    return kafka::JobOutcome::kDone;
  }
};

IndexerService::IndexerService(service::ServiceContext& context, kafka::Producer& producer, std::string worker_id)
    : impl_(std::make_unique<Impl>(context, producer, std::move(worker_id))) {}
IndexerService::~IndexerService() = default;

kafka::JobOutcome IndexerService::handle(const kafka::Message& message, const kafka::CancelToken& cancel) {
  try {
    return impl_->handle(message, cancel);
  } catch (const std::exception& e) {
    impl_->log.error("shard job not handled, will be redelivered", {{"error", e.what()}, {"offset", message.offset.value()}});
    return kafka::JobOutcome::kRetry;
  }
}

int run_indexer(const std::string& config_file, const std::string& worker_id_option) {
  // Bulk bodies are large (search.bulk.max_bytes) and built on several threads: with glibc's
  // dynamic mmap threshold they would come from per-thread arenas that keep the memory after it
  // is freed, and the resident set would grow with the shards seen. With mmap, memory stays
  // bounded by the batches alive, which the BatchPool reuses instead of mapping new ones.
  ::mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ::mallopt(M_ARENA_MAX, 4);
  service::ServiceContext context(config_file, service::ServiceContext::load(config_file), "indexer");
  context.require_endpoints(service::kApiDatabase | service::kSearchEngine | service::kKafka);
  const auto& cfg = context.config();
  std::string worker_id = worker_id_option.empty() ? cfg.indexer.worker_id : worker_id_option;
  if (worker_id.empty()) {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    worker_id = fmt::format("{}-{}", host, ::getpid());
  }
  Logger log("indexer");
  context.start_ops_server();
  context.ensure_topics();
  kafka::Producer producer(service::kafka_producer_options(cfg));
  IndexerService indexer(context, producer, worker_id);
  auto options = context.consumer_options(service::kIndexerGroup, {cfg.kafka.topic_name(config::Topic::kShardJobs)});
  options.max_in_flight = static_cast<std::size_t>(std::max(1, cfg.indexer.concurrency));
  options.stop_grace = std::chrono::seconds(20);
  kafka::GroupConsumer consumer(options, [&](const kafka::Message& m, const kafka::CancelToken& t) {
    return indexer.handle(m, t);
  });
  log.info("indexer started", {{"worker", worker_id}, {"metrics_port", context.ops_port()}});
  context.run_consumer(consumer, true);
  producer.flush(std::chrono::seconds(10));
  log.info("indexer stopped", {{"worker", worker_id}});
  return 0;
}

}  // namespace datarefresh::indexer
