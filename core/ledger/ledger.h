#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/catalog/shard_plan.h"
#include "core/pg/database.h"

namespace datarefresh::ledger {

enum class RunStatus { kRunning, kCompleted, kFailed, kRefused, kCancelled };
enum class ShardStatus { kPending, kRunning, kCompleted, kFailed };

std::string_view to_string(RunStatus s);
std::string_view to_string(ShardStatus s);
RunStatus parse_run_status(std::string_view s);
ShardStatus parse_shard_status(std::string_view s);

struct ShardCounts {
  std::int64_t rows_read = 0;
  std::int64_t indexed = 0;
  std::int64_t skipped_deleted = 0;
  std::int64_t skipped_removed = 0;
  std::int64_t dead_lettered = 0;
  bool operator==(const ShardCounts&) const = default;
};

struct Run {
  std::string refresh_id;
  std::string request_id;
  std::string media_type;
  std::string environment;
  std::string lock_scope;
  RunStatus status = RunStatus::kRunning;
  std::string phase;
  std::string requested_by;
  nlohmann::json options = nlohmann::json::object();
  std::optional<std::string> new_index, filtered_index, old_index, old_filtered_index, alias, filtered_alias;
  std::optional<std::int64_t> id_min, id_max, expected_rows, rows_copied, tags_rows_changed, tags_removed;
  std::optional<std::int32_t> shard_count;
  nlohmann::json report;  // null until finished
  std::optional<std::string> error;
  std::optional<std::string> holder_refresh_id;
  std::string created_at, updated_at;
  std::optional<std::string> finished_at;
  std::optional<std::string> cancel_requested_at;  // an operator asked to cancel it (RFC 3339)
  std::optional<std::string> cancel_requested_by;
  // While indexing: where the shard jobs stand in the shard-jobs group (the coordinator's
  // ShardJobsWatch verdict: queued, lost, nobody consuming); null otherwise.
  nlohmann::json shard_jobs;
  // "full" or "incremental" (what a request for "auto" resolved to), and why "auto" chose a full
  // refresh (null otherwise).
  std::string mode = "full";
  std::optional<std::string> mode_reason;
};

// The phases from which a refresh can no longer be cancelled: the live table is being or has
// been replaced.
bool is_promotion_phase(std::string_view phase);

// What request_cancel() came to.
struct CancelOutcome {
  enum class Kind {
    kAccepted,  // recorded (or already recorded): the planner or coordinator rolls it back
    kTooLate,   // the refresh is promoting: it completes
    kFinished,  // it already ended (completed, failed, refused or cancelled)
    kUnknown,   // no such refresh
  } kind;
  std::optional<Run> run;  // as it is after the request
};

// Where a shard job was written on the shard-jobs topic.
struct JobPosition {
  std::int32_t partition = 0;
  std::int64_t offset = 0;
  bool operator==(const JobPosition&) const = default;
};

struct PublishedJob {
  std::int32_t shard = 0;
  JobPosition position;
};

struct ShardRecord {
  std::int32_t shard = 0;
  std::int64_t id_start = 0;
  std::int64_t id_end = 0;
  ShardStatus status = ShardStatus::kPending;
  std::int32_t attempt = 1;
  std::optional<std::string> worker;
  ShardCounts counts;
  std::optional<std::string> error;
  // Seconds since the shard was last heard of (published, started or progressed), per the DB clock.
  double idle_seconds = 0;
  bool published = false;  // its current attempt's job was acknowledged by the broker
  std::optional<JobPosition> job;  // where that job was written (unknown for rows of older releases)
  // While running: what it waits for while the engine refuses transiently (it is alive).
  std::optional<std::string> waiting;
  // For a failed shard: false when another attempt cannot succeed (the refresh must fail).
  bool retryable = true;
  bool deletes = false;  // a shard of documents to delete (incremental refresh)
};

struct NewRun {
  std::string refresh_id;
  std::string request_id;
  std::string media_type;
  std::string environment;
  std::string lock_scope;
  std::string requested_by;
  nlohmann::json options = nlohmann::json::object();
  std::string mode = "full";  // "full" | "incremental"; "auto" is resolved later (update_run "mode")
};

// What begin_run() found.
struct BeginOutcome {
  enum class Kind { kStarted, kResumed, kRefused } kind;
  Run run;                     // the started/resumed run, or the refused request's own row
  std::optional<Run> holder;   // for kRefused: the running refresh holding the lock
};

// The refresh ledger (schemas/sql/ledger.sql) in the API database: runs, shards, finished steps.
// Every mutation is idempotent so that redelivered messages and restarted processes are harmless:
// a completed shard is never re-counted, a finished step is recorded once. Wraps one
// pg::Database session; one thread at a time.
class Ledger {
 public:
  explicit Ledger(pg::Database& db);

  // Creates the schema if missing (schemas/sql/ledger.sql, built into the binary); safe to run
  // concurrently from several processes.
  void ensure_schema();

  // Registers a request. Same request_id again -> kResumed with the existing run. Another running
  // run in the same lock scope -> kRefused: a 'refused' row is recorded with the holder's id.
  BeginOutcome begin_run(const NewRun& run);

  std::optional<Run> run(const std::string& refresh_id);
  std::vector<Run> runs_with_status(RunStatus status);
  // Newest first; media_type "" = all; status nullopt = any.
  std::vector<Run> recent_runs(const std::string& media_type, int limit,
                               std::optional<RunStatus> status = std::nullopt);

  // The newest completed full or incremental refresh of `media_type`: what an incremental refresh
  // starts from and compares with. nullopt when there is none, or when a rollback completed after
  // it (the live generation is then an older one, which no baseline describes).
  std::optional<Run> last_completed_refresh(const std::string& media_type);
  void set_phase(const std::string& refresh_id, const std::string& phase);
  // Records an operator's request to cancel a running refresh, unless it is already promoting.
  // Serialised with the promotion by the run's row lock (see cancel_requested_for_update()).
  CancelOutcome request_cancel(const std::string& refresh_id, const std::string& requested_by);
  // Whether a cancel was requested; locks the run's row until the transaction ends, so that the
  // promotion and a concurrent cancel request cannot both succeed. Call inside a transaction.
  bool cancel_requested_for_update(const std::string& refresh_id);
  // Sets named nullable columns of the run (index names, counts...). Only whitelisted columns.
  void update_run(const std::string& refresh_id, const nlohmann::json& fields);
  // Final status; a run that is no longer running is left as it is (returns false).
  bool finish_run(const std::string& refresh_id, RunStatus status, const std::optional<std::string>& error,
                  const nlohmann::json& report);

  bool step_done(const std::string& refresh_id, const std::string& step);
  std::optional<nlohmann::json> step_details(const std::string& refresh_id, const std::string& step);
  void mark_step(const std::string& refresh_id, const std::string& step, double seconds,
                 const nlohmann::json& details = nlohmann::json::object());
  std::vector<std::pair<std::string, double>> step_seconds(const std::string& refresh_id);

  // Records the planned shards (idempotent: existing rows are kept as they are).
  void record_shards(const std::string& refresh_id, const std::vector<catalog::ShardRange>& shards);
  std::vector<ShardRecord> shards(const std::string& refresh_id);
  // Records that these shards' current jobs were acknowledged by the broker, and where.
  void mark_published(const std::string& refresh_id, const std::vector<PublishedJob>& jobs);

  // Event folding. Each returns whether it changed anything. Events of an older attempt than the
  // shard's current one are ignored; a completed shard never changes again.
  bool shard_started(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt, const std::string& worker);
  // `waiting`: what the shard waits for on the engine; a shard that says it waits is alive, so
  // the report counts as progress for the stall timeout.
  bool shard_progress(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt, const ShardCounts& counts,
                      const std::optional<std::string>& waiting = std::nullopt);
  bool shard_completed(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt, const ShardCounts& counts);
  bool shard_failed(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt, const std::string& error,
                    bool retryable = true);
  // Moves a shard to a new attempt (pending, not yet published); false if it completed meanwhile
  // or the attempt was already bumped.
  bool retry_shard(const std::string& refresh_id, std::int32_t shard, std::int32_t from_attempt);

  pg::Database& db() { return db_; }

 private:
  pg::Database& db_;
};

}  // namespace datarefresh::ledger
