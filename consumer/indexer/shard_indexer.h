#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "core/catalog/document_encoder.h"
#include "core/common/backoff.h"
#include "core/common/kept_objects.h"
#include "core/search/bulk.h"
#include "core/search/result.h"

namespace datarefresh::indexer {

struct ShardCounts {
  std::int64_t rows_read = 0;
  std::int64_t indexed = 0;
  std::int64_t skipped_deleted = 0;
  std::int64_t skipped_removed = 0;
  std::int64_t dead_lettered = 0;
  bool operator==(const ShardCounts&) const = default;
};

// Where the rows of one shard come from (the shard query streamed by COPY in production).
class RowSource {
 public:
  virtual ~RowSource() = default;
  // Fills `row` with the next row's fields (views valid until the next call); false at the end.
  // Throws on a broken stream.
  virtual bool next(std::vector<catalog::FieldView>& row) = 0;
};

// Sends one `_bulk` body (search::Client in production).
class BulkTransport {
 public:
  virtual ~BulkTransport() = default;
  // The body stays the caller's: it is sent again on a retry. The answer's item_count counts
  // every item; its items must hold at least the failed ones (ok items in it are ignored).
  virtual search::Result<search::BulkResponse> bulk(std::string_view body) = 0;
};

// A document the engine rejected for good, on its way to the dead-letter topic.
struct RejectedDocument {
  std::string document_id;
  std::string reason;  // "<error type>: <reason>"
  std::string source;  // the document JSON
};

// Records rejected documents (the dead-letter topic in production). Returns false when a document
// could not be recorded; the shard then fails rather than lose it.
class DeadLetterSink {
 public:
  virtual ~DeadLetterSink() = default;
  virtual bool record(const RejectedDocument& doc) = 0;
};

struct BulkSettings {
  std::size_t max_bytes = 8 * 1024 * 1024;
  std::size_t max_docs = 5000;
  std::size_t concurrency = 4;  // bulk requests in flight
  BackoffPolicy backoff{std::chrono::milliseconds(500), std::chrono::seconds(60), 2.0, 0.5};
  // A transient refusal (429s, 5xx, lost connections, an index block) is retried with backoff for
  // this long; one that lasts longer fails the shard.
  Duration deadline = std::chrono::minutes(30);
};

// Injected time: sleeping for backoff and reading a monotonic clock.
struct Timing {
  std::function<void(Duration)> sleep;
  std::function<std::chrono::steady_clock::time_point()> now;
  static Timing real();
};

enum class ShardOutcome { kCompleted, kFailed, kCancelled };

struct ShardResult {
  ShardOutcome outcome = ShardOutcome::kCompleted;
  ShardCounts counts;
  std::string error;       // for kFailed: what went wrong, with the shard's index and document ids
  bool retryable = true;   // for kFailed: whether another attempt may succeed
};

struct Batch;  // one _bulk request body and its items (shard_indexer.cpp)

// Batches kept between requests and between shards, so that steady indexing builds each request
// in memory an earlier one used instead of mapping and faulting in fresh pages every time.
// Keeps at most `max_kept` (they are at most as many as a shard has alive at once, so memory is
// no higher than at the peak of a shard); thread-safe.
class BatchPool {
 public:
  explicit BatchPool(std::size_t max_kept);
  ~BatchPool();
  BatchPool(const BatchPool&) = delete;
  BatchPool& operator=(const BatchPool&) = delete;
  // An empty batch, with the capacity of a returned one when there is one.
  Batch take();
  // Empties `batch` and keeps it unless max_kept are kept already (then it is freed).
  void give(Batch&& batch);
  std::size_t kept() const;

 private:
  KeptObjects<Batch> kept_;
};

struct ShardWork {
  std::string index;                 // target index
  catalog::MediaKind kind = catalog::MediaKind::kImage;
  std::function<bool()> cancelled;   // polled between rows and between bulk attempts
  // Called from a background thread about every progress_interval with the counts so far.
  std::function<void(const ShardCounts&)> on_progress;
  Duration progress_interval = std::chrono::seconds(5);
  // Called from a sender thread when the shard starts waiting on the engine (the reason: the
  // engine unreachable, documents refused with 429, the index blocked) and with "" once it no
  // longer waits.
  std::function<void(const std::string& reason)> on_waiting;
  // Where batches come from and go back to; null: a pool for this shard only.
  BatchPool* batches = nullptr;
  // An incremental refresh's shard, whose target index already holds documents: a row that is
  // not indexed (deleted on request, removed from source) has its document deleted.
  bool delete_skipped = false;
  // Every row is one field, a document id to delete (an incremental refresh's removals).
  bool deletes_only = false;
};

// Indexes one shard: reads every row from `rows`, turns it into a document, and bulk-indexes the
// documents with up to settings.concurrency requests in flight. Memory is bounded by about
// (2 * concurrency + 1) * max_bytes of request bodies whatever the shard size.
// Items the engine rejects with a retryable status (429, 5xx, an index block) and requests it does
// not take are sent again with backoff and jitter until settings.deadline; items it rejects for
// good go to `dead_letters`; an item refused because the index no longer exists fails the shard
// for good; nothing is dropped: if an item can neither be indexed nor dead-lettered, the shard fails. Counts are exact for a completed shard.
// Thread-safety: call from one thread; it runs its sender and progress threads internally and
// joins them before returning.
ShardResult index_shard(RowSource& rows, BulkTransport& transport, DeadLetterSink& dead_letters,
                        const ShardWork& work, const BulkSettings& settings, const Timing& timing = Timing::real());

}  // namespace datarefresh::indexer
