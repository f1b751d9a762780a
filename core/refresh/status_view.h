#pragma once

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/refresh/copy_progress.h"

namespace datarefresh::refresh {

// The shards of one refresh added up, for status views (the API, `datarefresh status`).
struct ShardTotals {
  int total = 0, pending = 0, running = 0, completed = 0, failed = 0;
  int retried = 0;  // shards on their second attempt or later
  ledger::ShardCounts counts;
};
ShardTotals shard_totals(const std::vector<ledger::ShardRecord>& shards);

// One refresh as the HTTP API shows it in lists: ids, media type, status, phase, who asked, times,
// cancel request, and the error of a failed one.
nlohmann::json refresh_summary_json(const ledger::Run& run);

// One refresh in full (GET /v1/refreshes/{id}): the summary plus shards by state, documents
// (indexed, rows read, expected, dead-lettered, skipped), percent (rows read of expected while
// indexing; 100 once indexing is over), documents/s and ETA while indexing (from
// `indexing_seconds`, the time since indexing began), the copy's progress while copying (`copy`,
// null otherwise), the errors of failed shards, the indices, and the report once completed. Pure.
nlohmann::json refresh_status_json(const ledger::Run& run, const std::vector<ledger::ShardRecord>& shards,
                                   std::optional<double> indexing_seconds,
                                   const std::optional<CopyProgress>& copy = std::nullopt);

}  // namespace datarefresh::refresh
