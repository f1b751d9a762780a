#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/refresh/copy_progress.h"

namespace datarefresh::refresh {

// The shards of one refresh added up, for status views (the API, `datarefresh status`).
struct ShardTotals {
  int total = 0, pending = 0, running = 0, completed = 0, failed = 0;
  int retried = 0;  // shards on their second attempt or later
  int waiting = 0;  // running shards waiting on the search engine (a transient refusal)
  std::string waiting_for;  // what one of them waits for
  ledger::ShardCounts counts;
};
ShardTotals shard_totals(const std::vector<ledger::ShardRecord>& shards);

// One refresh as the HTTP API shows it in lists: ids, media type, status, phase, mode ("full" or
// "incremental") and mode_reason (why a request for "auto" ran full; null otherwise), who asked,
// times, cancel request, and the error of a failed one.
nlohmann::json refresh_summary_json(const ledger::Run& run);

// What a completed incremental refresh changed, from its report:
// {"created": N, "updated": N, "deleted": N, "reflagged": N}; null for a full refresh, a refresh
// that has not completed, or a report without changes. Pure.
nlohmann::json run_changes(const ledger::Run& run);

// "created 12, updated 3, deleted 1, re-flagged 0" for run_changes(); empty for null. Pure.
std::string changes_text(const nlohmann::json& changes);

// The run's mode for one line of text: "full", "incremental", or "full (auto: <mode_reason>)"
// when a request for "auto" ran full. Pure.
std::string mode_text(const ledger::Run& run);

// One refresh in full (GET /v1/refreshes/{id}): the summary plus shards by state, documents
// (indexed, rows read, expected, dead-lettered, skipped), percent (rows read of expected while
// indexing; 100 once indexing is over), documents/s and ETA while indexing (from
// `indexing_seconds`, the time since indexing began), the copy's progress while copying (`copy`,
// null otherwise), running shards waiting on the search engine (`waiting_for_engine`: how many and
// why; null when none), the shard jobs waiting to start while indexing (`shard_jobs`: waiting, queued, lost,
// jobs_ahead, idle_seconds, state queued|lost|not_consumed; null otherwise), the errors of failed shards, the indices, the report once completed,
// and `changes` (run_changes()). Pure.
nlohmann::json refresh_status_json(const ledger::Run& run, const std::vector<ledger::ShardRecord>& shards,
                                   std::optional<double> indexing_seconds,
                                   const std::optional<CopyProgress>& copy = std::nullopt);

// Every shard of a refresh for the console's grid (GET /v1/refreshes/{id}/shards), in shard order:
// [{"shard", "status", "attempt", "rows_read", "indexed", "dead_lettered", "worker", "error"}].
// Pure.
nlohmann::json shards_json(const std::vector<ledger::ShardRecord>& shards);

// One line on the shard jobs waiting to start (run.shard_jobs, written by the coordinator):
// "12 jobs queued (340 ahead)", "12 jobs NOT CONSUMED for 420s: no indexer is taking shard jobs",
// "3 jobs lost (the indexers' group passed them)"; empty when nothing waits. Pure.
std::string shard_jobs_text(const nlohmann::json& shard_jobs);

}  // namespace datarefresh::refresh
