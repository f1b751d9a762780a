#include "consumer/indexer/shard_indexer.h"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>

namespace datarefresh::indexer {

// One item of a bulk body: its two NDJSON lines, and where its source sits inside them.
struct BatchItem {
  std::size_t offset = 0;
  std::size_t length = 0;
  std::size_t source_offset = 0;
  std::size_t source_length = 0;
  std::int64_t id = 0;
  bool remove = false;  // a delete action (no source line)
};

struct Batch {
  std::string body;
  std::vector<BatchItem> items;
};

BatchPool::BatchPool(std::size_t max_kept) : kept_(max_kept) {}
BatchPool::~BatchPool() = default;

Batch BatchPool::take() {
  auto kept = kept_.take();
  return kept ? std::move(*kept) : Batch{};
}

void BatchPool::give(Batch&& batch) {
  batch.body.clear();
  batch.items.clear();
  kept_.give(std::move(batch));
}

std::size_t BatchPool::kept() const { return kept_.size(); }

namespace {

// A bounded hand-over between the row reader and the senders. close() lets the senders drain
// what is queued; abort() makes every waiter return at once.
class BatchQueue {
 public:
  explicit BatchQueue(std::size_t capacity) : capacity_(capacity) {}

  bool push(Batch batch) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return aborted_ || queue_.size() < capacity_; });
    if (aborted_) return false;
    queue_.push_back(std::move(batch));
    not_empty_.notify_one();
    return true;
  }

  std::optional<Batch> pop() {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return aborted_ || closed_ || !queue_.empty(); });
    if (aborted_ || queue_.empty()) return std::nullopt;
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    not_full_.notify_one();
    return b;
  }

  void close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    not_empty_.notify_all();
  }

  void abort() {
    std::lock_guard lock(mu_);
    aborted_ = true;
    queue_.clear();
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Batch> queue_;
  std::size_t capacity_;
  bool closed_ = false;
  bool aborted_ = false;
};

struct AtomicCounts {
  std::atomic<std::int64_t> rows_read{0}, indexed{0}, skipped_deleted{0}, skipped_removed{0}, dead_lettered{0};
  ShardCounts snapshot() const {
    return {rows_read.load(), indexed.load(), skipped_deleted.load(), skipped_removed.load(), dead_lettered.load()};
  }
};

double jitter_draw() {
  thread_local std::mt19937 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Shared by the reader, the senders and the progress thread of one shard.
class ShardRun {
 public:
  ShardRun(BulkTransport& transport, DeadLetterSink& dead_letters, const ShardWork& work,
           const BulkSettings& settings, const Timing& timing)
      : transport_(transport),
        dead_letters_(dead_letters),
        work_(work),
        settings_(settings),
        timing_(timing),
        queue_(std::max<std::size_t>(1, settings.concurrency)),
        own_pool_(work.batches ? 0 : 2 * std::max<std::size_t>(1, settings.concurrency) + 1),
        pool_(work.batches ? *work.batches : own_pool_) {}

  AtomicCounts counts;
  BatchQueue& queue() { return queue_; }
  BatchPool& pool() { return pool_; }

  bool cancelled() const { return work_.cancelled && work_.cancelled(); }
  bool failed() const { return failed_.load(); }

  void fail(std::string error, bool retryable) {
    {
      std::lock_guard lock(mu_);
      if (failed_.load()) return;
      error_ = std::move(error);
      retryable_ = retryable;
      failed_ = true;
    }
    queue_.abort();
  }

  std::pair<std::string, bool> failure() const {
    std::lock_guard lock(mu_);
    return {error_, retryable_};
  }

  void sender_loop() {
    while (auto batch = queue_.pop()) {
      bool sent = send(*batch);
      pool_.give(std::move(*batch));
      if (!sent) {
        // Failed or cancelled: let a reader waiting for room in the queue go, too.
        queue_.abort();
        return;
      }
    }
  }

 private:
  // Sends one batch until every item is indexed or dead-lettered. Returns false if the shard must stop.
  // A transient refusal (the engine unreachable or answering 5xx, 429s, an index block) is retried
  // with backoff until settings.deadline: it costs time, not a shard attempt; only what the
  // deadline could not cure fails the shard.
  bool send(Batch& batch) {
    std::optional<std::chrono::steady_clock::time_point> trouble_since;
    std::uint32_t fruitless_attempts = 0;
    std::string last_problem;
    WaitingGuard waiting(*this);
    while (true) {
      if (cancelled()) return false;
      if (failed()) return false;
      auto answer = transport_.bulk(batch.body);
      std::vector<std::size_t> again;
      bool progress = false;
      if (!answer.ok()) {
        const auto& err = answer.error();
        if (!err.retryable) {
          fail(fmt::format("bulk request to index {} failed for good: {}", work_.index, err.describe()), false);
          return false;
        }
        last_problem = fmt::format("the search engine did not take the bulk request: {}", err.describe());
      } else {
        const auto& response = answer.value();
        if (response.item_count != batch.items.size()) {
          fail(fmt::format("bulk answer for index {} listed {} items for {} sent", work_.index, response.item_count,
                           batch.items.size()),
               true);
          return false;
        }
        // Every item not listed as failed was indexed (or, for a delete, removed).
        std::size_t failed = 0, deletes = 0, failed_deletes = 0;
        // In an incremental shard the index already holds the row's old document: one whose new
        // version is rejected for good must go, as a full refresh would not have it either.
        std::vector<std::int64_t> stale;
        if (work_.delete_skipped || work_.deletes_only) {
          for (const auto& it : batch.items) deletes += it.remove ? 1 : 0;
        }
        for (const auto& r : response.items) {
          if (r.ok()) continue;
          ++failed;
          const std::size_t i = r.position;
          if (i < batch.items.size() && batch.items[i].remove) ++failed_deletes;
          if (i >= batch.items.size()) {
            fail(fmt::format("bulk answer for index {} placed a failed item at {} of {} sent", work_.index, i,
                             batch.items.size()),
                 true);
            return false;
          }
          if (r.error_type == "index_not_found_exception") {
            // The index is gone (deleted while the shard ran): no document of it can be indexed,
            // and none is to blame.
            fail(fmt::format("index {} no longer exists: {}", work_.index, r.error_reason), false);
            return false;
          }
          if (r.retryable) {
            again.push_back(i);
            last_problem = r.error_type == "cluster_block_exception"
                               ? fmt::format("index {} is blocked: {}", work_.index, r.error_reason)
                               : fmt::format("the search engine refuses documents: HTTP {} {}: {}", r.status,
                                             r.error_type, r.error_reason);
          } else {
            const BatchItem& it = batch.items[i];
            RejectedDocument doc{std::to_string(it.id), fmt::format("{}: {}", r.error_type, r.error_reason),
                                 batch.body.substr(it.source_offset, it.source_length)};
            if (!dead_letters_.record(doc)) {
              fail(fmt::format("document {} was rejected by index {} ({}) and could not be dead-lettered", it.id,
                               work_.index, doc.reason),
                   true);
              return false;
            }
            counts.dead_lettered.fetch_add(1, std::memory_order_relaxed);
            if (work_.delete_skipped && !it.remove) stale.push_back(it.id);
            progress = true;
          }
        }
        if (response.item_count > failed) {
          // Deletes are counted as the rows they came from (skipped, or a delete shard's rows read).
          counts.indexed.fetch_add(response.item_count - failed - (deletes - failed_deletes), std::memory_order_relaxed);
          progress = true;
        }
        if (!stale.empty()) {
          Batch next = subset(batch, again);
          for (auto id : stale) append_delete(next, id);
          batch = std::move(next);
          if (again.empty()) continue;  // the deletes go at once
        } else {
          if (again.empty()) return true;
          batch = subset(batch, again);
        }
      }
      auto now = timing_.now();
      if (!trouble_since) trouble_since = now;
      fruitless_attempts = progress ? 0 : fruitless_attempts + 1;
      waiting.set(last_problem);
      if (now - *trouble_since > settings_.deadline) {
        fail(fmt::format("index {} kept refusing {} documents (first id {}) for {} (search.bulk.deadline); last "
                         "error: {}",
                         work_.index, batch.items.size(), batch.items.front().id,
                         format_duration(std::chrono::duration_cast<Duration>(now - *trouble_since)), last_problem),
             true);
        return false;
      }
      timing_.sleep(backoff_delay(settings_.backoff, std::max<std::uint32_t>(1, fruitless_attempts), jitter_draw()));
    }
  }

  // What the senders are waiting for, reported through ShardWork::on_waiting: the newest reason
  // while any sender waits, "" once none does.
  void waiting_changed(const std::string* reason) {
    std::string report;
    {
      std::lock_guard lock(mu_);
      if (reason) {
        if (*reason == waiting_reason_) return;
        waiting_reason_ = *reason;
      } else {
        if (--waiting_senders_ > 0 || waiting_reason_.empty()) return;
        waiting_reason_.clear();
      }
      report = waiting_reason_;
    }
    if (work_.on_waiting) work_.on_waiting(report);
  }

  // One sender's part in waiting_changed(): set() while its batch is refused, cleared when its
  // send ends whichever way.
  class WaitingGuard {
   public:
    explicit WaitingGuard(ShardRun& run) : run_(run) {}
    ~WaitingGuard() {
      if (counted_) run_.waiting_changed(nullptr);
    }
    WaitingGuard(const WaitingGuard&) = delete;
    WaitingGuard& operator=(const WaitingGuard&) = delete;
    void set(const std::string& reason) {
      if (!counted_) {
        std::lock_guard lock(run_.mu_);
        ++run_.waiting_senders_;
        counted_ = true;
      }
      run_.waiting_changed(&reason);
    }

   private:
    ShardRun& run_;
    bool counted_ = false;
  };

  void append_delete(Batch& b, std::int64_t id) const {
    BatchItem item;
    item.offset = b.body.size();
    item.id = id;
    item.remove = true;
    b.body += "{\"delete\":{\"_index\":";
    search::append_json_string(b.body, work_.index);
    b.body += ",\"_id\":\"" + std::to_string(id) + "\"}}\n";
    item.source_offset = b.body.size();
    item.source_length = 0;
    item.length = b.body.size() - item.offset;
    b.items.push_back(item);
  }

  static Batch subset(const Batch& from, const std::vector<std::size_t>& positions) {
    Batch out;
    std::size_t bytes = 0;
    for (auto p : positions) bytes += from.items[p].length;
    out.body.reserve(bytes);
    for (auto p : positions) {
      const BatchItem& it = from.items[p];
      BatchItem moved = it;
      moved.offset = out.body.size();
      moved.source_offset = moved.offset + (it.source_offset - it.offset);
      out.body.append(from.body, it.offset, it.length);
      out.items.push_back(moved);
    }
    return out;
  }

  BulkTransport& transport_;
  DeadLetterSink& dead_letters_;
  const ShardWork& work_;
  const BulkSettings& settings_;
  const Timing& timing_;
  BatchQueue queue_;
  BatchPool own_pool_;
  BatchPool& pool_;
  mutable std::mutex mu_;
  std::atomic<bool> failed_{false};
  std::string error_;
  bool retryable_ = true;
  int waiting_senders_ = 0;
  std::string waiting_reason_;
};

}  // namespace

Timing Timing::real() {
  return Timing{[](Duration d) { std::this_thread::sleep_for(d); }, [] { return std::chrono::steady_clock::now(); }};
}

ShardResult index_shard(RowSource& rows, BulkTransport& transport, DeadLetterSink& dead_letters, const ShardWork& work,
                        const BulkSettings& settings, const Timing& timing) {
  ShardRun run(transport, dead_letters, work, settings, timing);

  std::vector<std::thread> senders;
  for (std::size_t i = 0; i < std::max<std::size_t>(1, settings.concurrency); ++i) {
    senders.emplace_back([&run] { run.sender_loop(); });
  }

  std::mutex progress_mu;
  std::condition_variable progress_cv;
  bool done = false;
  std::thread progress;
  if (work.on_progress) {
    progress = std::thread([&] {
      std::unique_lock lock(progress_mu);
      while (!progress_cv.wait_for(lock, work.progress_interval, [&] { return done; })) {
        lock.unlock();
        work.on_progress(run.counts.snapshot());
        lock.lock();
      }
    });
  }

  std::optional<std::string> read_error;
  bool read_error_retryable = true;
  try {
    catalog::DocumentEncoder encoder(work.kind);
    std::string action_prefix = "{\"index\":{\"_index\":";
    search::append_json_string(action_prefix, work.index);
    action_prefix += ",\"_id\":\"";
    std::string delete_prefix = "{\"delete\":{\"_index\":";
    search::append_json_string(delete_prefix, work.index);
    delete_prefix += ",\"_id\":\"";
    const std::string action_suffix = "\"}}\n";

    std::vector<catalog::FieldView> row;
    std::string source;
    const std::size_t body_capacity = settings.max_bytes + settings.max_bytes / 8;
    Batch batch = run.pool().take();
    batch.body.reserve(body_capacity);
    char id_text[24];
    while (!run.failed()) {
      if (run.cancelled()) break;
      if (!rows.next(row)) break;
      run.counts.rows_read.fetch_add(1, std::memory_order_relaxed);
      source.clear();
      std::int64_t id = 0;
      bool remove = false;
      if (work.deletes_only) {
        if (row.size() != 1 || row[0].is_null) throw catalog::RowError("a delete shard's row must be one id");
        id = std::stoll(std::string(row[0].text));
        remove = true;
      } else {
        switch (encoder.encode(row, source, id)) {
          case catalog::RowOutcome::kSkippedDeleted:
            run.counts.skipped_deleted.fetch_add(1, std::memory_order_relaxed);
            remove = true;
            break;
          case catalog::RowOutcome::kSkippedRemoved:
            run.counts.skipped_removed.fetch_add(1, std::memory_order_relaxed);
            remove = true;
            break;
          case catalog::RowOutcome::kIndexed:
            break;
        }
        if (remove && !work.delete_skipped) continue;
      }
      BatchItem item;
      item.offset = batch.body.size();
      item.id = id;
      item.remove = remove;
      auto [end, ec] = std::to_chars(id_text, id_text + sizeof id_text, id);
      batch.body += remove ? delete_prefix : action_prefix;
      batch.body.append(id_text, end);
      batch.body += action_suffix;
      item.source_offset = batch.body.size();
      item.source_length = remove ? 0 : source.size();
      if (!remove) {
        batch.body += source;
        batch.body += '\n';
      }
      item.length = batch.body.size() - item.offset;
      batch.items.push_back(item);
      if (batch.items.size() >= settings.max_docs || batch.body.size() >= settings.max_bytes) {
        if (!run.queue().push(std::move(batch))) break;
        batch = run.pool().take();
        batch.body.reserve(body_capacity);
      }
    }
    if (!batch.items.empty() && !run.failed() && !run.cancelled()) run.queue().push(std::move(batch));
  } catch (const catalog::RowError& e) {
    read_error = fmt::format("shard row unreadable for index {}: {}", work.index, e.what());
    read_error_retryable = false;
  } catch (const std::exception& e) {
    read_error = fmt::format("reading the shard's rows for index {} failed: {}", work.index, e.what());
  }

  if (read_error || run.cancelled()) run.queue().abort();
  else run.queue().close();
  for (auto& t : senders) t.join();
  {
    std::lock_guard lock(progress_mu);
    done = true;
  }
  progress_cv.notify_all();
  if (progress.joinable()) progress.join();

  ShardResult result;
  result.counts = run.counts.snapshot();
  if (read_error) {
    run.fail(*read_error, read_error_retryable);
  }
  if (run.failed()) {
    auto [error, retryable] = run.failure();
    result.outcome = ShardOutcome::kFailed;
    result.error = error;
    result.retryable = retryable;
  } else if (run.cancelled()) {
    result.outcome = ShardOutcome::kCancelled;
    result.error = "cancelled";
  } else {
    result.outcome = ShardOutcome::kCompleted;
  }
  return result;
}

}  // namespace datarefresh::indexer
