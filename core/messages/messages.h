#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/common/strong_id.h"
#include "core/messages/timestamp.h"

// The values carried on the Kafka topics (DESIGN.md, "Kafka contract"), as plain structs. Each has
// a JSON Schema in schemas/messages/<kType>.schema.json; codec.h encodes and decodes them. Field
// names are the JSON names. Every encoded value carries "type" (kType) and "version" (kVersion).
namespace datarefresh::messages {

inline constexpr int kVersion = 1;
// Dead-lettered payloads are cut to this many bytes (on a UTF-8 boundary) to keep messages small.
inline constexpr std::size_t kMaxDeadLetterPayloadBytes = 64 * 1024;

// Whether `mode` is one of the maintenance runs: "filtered_only", "sample" or "rollback".
inline bool is_maintenance_mode(std::string_view mode) {
  return mode == "filtered_only" || mode == "sample" || mode == "rollback";
}

struct RefreshOptions {
  std::optional<std::int64_t> row_limit;  // copy at most this many rows
  std::string requested_by;               // who asked: a user, "schedule", "http-api", ...
  // "full" (the default: copy and index everything), "incremental" (only what changed since the
  // last completed refresh; refused when that cannot be exact) or "auto" (incremental when it can
  // be, full otherwise, saying why).
  // Besides refreshes, the maintenance runs of a media type that share their ledger, lock and
  // events: "filtered_only" (a new filtered index from the live main index), "sample" (a staging
  // sample of the live main index) and "rollback" (back to the generation kept by
  // refresh.keep_previous).
  std::string mode = "full";
  // For "sample": its size, as a percentage of the live main index or a number of documents (one
  // of the two), and the field whose values are represented in proportion ("provider" or "source").
  std::optional<double> sample_percent;
  std::optional<std::int64_t> sample_rows;
  std::string sample_by = "provider";
  bool operator==(const RefreshOptions&) const = default;
};

// Topic requests, key: media type. Someone asks for a refresh of one media type.
struct RefreshRequested {
  static constexpr std::string_view kType = "refresh.requested";
  std::string request_id;  // UUID chosen by the requester; refusals and plans refer to it
  std::string media_type;
  RefreshOptions options;
  Timestamp requested_at{};
  bool operator==(const RefreshRequested&) const = default;
};

struct TablePlan {
  std::string upstream;  // table or view in the upstream database
  std::string temp;      // temp_import_<live>, filled by the planner
  std::string live;      // the table the API reads, replaced at promotion
  bool operator==(const TablePlan&) const = default;
};

// Topic refresh-jobs, key: refresh id. The planner's plan, consumed by the coordinator.
struct RefreshPlanned {
  static constexpr std::string_view kType = "refresh.planned";
  RefreshId refresh_id;
  std::string request_id;
  std::string media_type;
  std::string environment;
  std::vector<TablePlan> tables;
  std::string new_index;
  std::string filtered_index;
  std::optional<std::string> old_index;           // null on the first refresh
  std::optional<std::string> old_filtered_index;  // null when there is none
  std::string alias;
  std::string filtered_alias;
  std::int32_t shard_count = 0;
  std::int64_t expected_rows = 0;
  std::int64_t id_min = 0;  // smallest id in the temp table
  std::int64_t id_max = 0;  // largest id in the temp table
  std::optional<std::int64_t> row_limit;
  Timestamp planned_at{};
  // "full" or "incremental": what the request's mode ("auto" included) resolved to. Absent in
  // plans written before incremental refreshes existed, which were all full.
  std::string mode = "full";
  bool operator==(const RefreshPlanned&) const = default;
};

// Topic shard-jobs, key: shard_job_key(). One id range [id_start, id_end) of one refresh.
struct ShardJob {
  static constexpr std::string_view kType = "shard.job";
  RefreshId refresh_id;
  std::string media_type;
  ShardNumber shard;
  RowId id_start;
  RowId id_end;  // exclusive, > id_start
  std::string table;         // the temp table to read
  std::string target_index;  // the new index to write
  std::int32_t attempt = 1;  // 1 for the first publication, +1 per retry
  std::optional<std::int64_t> expected_rows;
  Timestamp published_at{};
  // "index": write the documents of the rows in [id_start, id_end) of `table`; "delete": delete
  // the documents whose ids are the rows' ids (an incremental refresh's removals).
  std::string action = "index";
  // An incremental refresh's shard: the target index already holds documents, so a row that is
  // not indexed (deleted on request, removed from source) has its document deleted.
  bool incremental = false;
  bool operator==(const ShardJob&) const = default;
};

// "<refresh_id>/<shard>"
std::string shard_job_key(const RefreshId& refresh_id, ShardNumber shard);

// --- events (topic events, key: refresh id) ----------------------------------------------------

struct ShardStarted {
  static constexpr std::string_view kType = "shard.started";
  RefreshId refresh_id;
  ShardNumber shard;
  std::int32_t attempt = 1;
  std::string worker;
  Timestamp at{};
  bool operator==(const ShardStarted&) const = default;
};

struct ShardProgress {
  static constexpr std::string_view kType = "shard.progress";
  RefreshId refresh_id;
  ShardNumber shard;
  std::int32_t attempt = 1;
  std::string worker;
  std::int64_t rows_read = 0;
  std::int64_t indexed = 0;
  double docs_per_s = 0;
  // What the shard waits for while the search engine refuses transiently (unreachable, 429s, an
  // index block); the shard is alive and retries until search.bulk.deadline.
  std::optional<std::string> waiting;
  Timestamp at{};
  bool operator==(const ShardProgress&) const = default;
};

struct ShardCounts {
  std::int64_t rows_read = 0;
  std::int64_t indexed = 0;
  std::int64_t skipped_deleted = 0;  // in the deleted-media lists
  std::int64_t skipped_removed = 0;  // removed by the transform (e.g. unusable rows)
  std::int64_t dead_lettered = 0;    // rejected by the engine for good
  bool operator==(const ShardCounts&) const = default;
};

struct ShardCompleted {
  static constexpr std::string_view kType = "shard.completed";
  RefreshId refresh_id;
  ShardNumber shard;
  std::int32_t attempt = 1;
  std::string worker;
  ShardCounts counts;
  std::int64_t duration_ms = 0;
  Timestamp at{};
  bool operator==(const ShardCompleted&) const = default;
};

struct ShardFailed {
  static constexpr std::string_view kType = "shard.failed";
  RefreshId refresh_id;
  ShardNumber shard;
  std::int32_t attempt = 1;
  std::string worker;
  std::string error;
  bool retryable = false;
  Timestamp at{};
  bool operator==(const ShardFailed&) const = default;
};

struct RefreshPhaseChanged {
  static constexpr std::string_view kType = "refresh.phase_changed";
  RefreshId refresh_id;
  std::string media_type;
  std::string phase;
  std::optional<std::string> previous_phase;  // null for the first phase
  Timestamp at{};
  bool operator==(const RefreshPhaseChanged&) const = default;
};

struct RefreshRefused {
  static constexpr std::string_view kType = "refresh.refused";
  std::string request_id;
  std::string media_type;
  std::string reason;
  std::optional<RefreshId> running_refresh_id;  // the refresh holding the lock, if that is the reason
  Timestamp at{};
  bool operator==(const RefreshRefused&) const = default;
};

struct ProviderCount {
  std::string provider;
  std::int64_t before = 0;
  std::int64_t after = 0;
  bool operator==(const ProviderCount&) const = default;
};

struct PhaseTiming {
  std::string name;
  double seconds = 0;
  bool operator==(const PhaseTiming&) const = default;
};

struct RefreshReport {
  std::int64_t rows_before = 0;
  std::int64_t rows_after = 0;
  std::vector<ProviderCount> per_provider;
  std::int64_t tags_filtered_rows = 0;
  std::int64_t tags_removed = 0;
  std::int64_t documents_indexed = 0;
  std::int64_t filtered_out = 0;  // documents left out of the filtered index
  std::int64_t dead_lettered = 0;
  std::vector<PhaseTiming> phases;
  // What an incremental refresh changed in the serving table and indices, counted by the engine
  // that applied it; null for a full refresh, which rebuilds everything.
  struct Changes {
    std::int64_t created = 0;
    std::int64_t updated = 0;
    std::int64_t deleted = 0;
    std::int64_t reflagged = 0;  // documents re-flagged (e.g. sensitive) without a change of their row
    bool operator==(const Changes&) const = default;
  };
  std::optional<Changes> changes;
  bool operator==(const RefreshReport&) const = default;
};

struct RefreshCompleted {
  static constexpr std::string_view kType = "refresh.completed";
  RefreshId refresh_id;
  std::string media_type;
  RefreshReport report;
  Timestamp at{};
  std::string mode = "full";  // "full" or "incremental"; absent (full) in events of older releases
  bool operator==(const RefreshCompleted&) const = default;
};

struct RefreshFailed {
  static constexpr std::string_view kType = "refresh.failed";
  RefreshId refresh_id;
  std::string media_type;
  std::string phase;  // where it failed
  std::string error;
  bool rolled_back = false;  // new indices and temp tables removed, live untouched
  bool cancelled = false;    // ended on an operator's cancel request, not by an error
  Timestamp at{};
  // "full" or "incremental" (what "auto" had resolved to, "full" if it failed before resolving);
  // absent (full) in events of older releases.
  std::string mode = "full";
  bool operator==(const RefreshFailed&) const = default;
};

using Event = std::variant<ShardStarted, ShardProgress, ShardCompleted, ShardFailed, RefreshPhaseChanged, RefreshRefused,
                           RefreshCompleted, RefreshFailed>;

// The refresh an event belongs to (the events topic's key); "" for a refusal, which has none.
std::string event_key(const Event& event);

// --- dead letters (topic dead-letter, key: refresh id or "") ----------------------------------

struct DeadLetter {
  static constexpr std::string_view kType = "dead_letter";
  std::string reason;
  std::string source_topic;
  std::int32_t source_partition = 0;
  KafkaOffset source_offset{0};
  std::optional<RefreshId> refresh_id;
  std::optional<std::string> document_id;
  std::string payload;  // at most kMaxDeadLetterPayloadBytes; see set_payload()
  bool payload_truncated = false;
  std::int64_t payload_bytes = 0;  // size of the original payload
  Timestamp at{};
  bool operator==(const DeadLetter&) const = default;
};

// Stores `payload`, cut to kMaxDeadLetterPayloadBytes on a UTF-8 boundary, with its original size.
void set_payload(DeadLetter& letter, std::string_view payload);

}  // namespace datarefresh::messages
