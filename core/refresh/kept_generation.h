#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/pg/database.h"
#include "core/search/client.h"

namespace datarefresh::refresh {

// The schema that holds what a promotion kept of the previous generation (refresh.keep_previous).
inline constexpr const char* kKeptSchema = "datarefresh_kept";

// The previous generation of one media type, kept by the promotion of `refresh_id` so that a
// rollback can bring it back at once (ledger table datarefresh.kept). A full refresh keeps the
// previous tables themselves (moved into kKeptSchema, indexes, constraints and id sequence with
// them); an incremental one keeps the rows it replaced or removed, the ids it added and the
// previous extra tables. Both keep the previous main and filtered indices (not deleted by the
// cleanup). A later promotion replaces it; the sweeper deletes it after kept_until.
struct KeptGeneration {
  std::string media_type;
  std::string refresh_id;  // the refresh whose promotion kept it
  std::string mode;        // that refresh's: "full" or "incremental"
  std::optional<std::string> index, filtered_index;
  std::string live_schema;          // where the live tables are
  std::vector<std::string> tables;  // the refreshed tables, the media table first
  std::string kept_at, kept_until;  // RFC 3339
  bool expired = false;             // kept_until has passed (the database's clock)

  nlohmann::json to_json() const;
};

// "datarefresh_kept"."<table>": a full refresh's previous table, an incremental one's replaced rows.
std::string kept_table(const std::string& table);
// "datarefresh_kept"."<table>__added": the ids of the rows an incremental refresh added.
std::string added_rows_table(const std::string& table);

std::optional<KeptGeneration> read_kept(pg::Database& db, const std::string& media_type);
std::vector<KeptGeneration> read_all_kept(pg::Database& db);

// Statements for the promotion's transaction, before it changes the live tables: drop what was
// kept of `media` before (its tables and record; its indices are the cleanup's to delete).
std::vector<std::string> discard_kept_sql(const config::MediaTypeConfig& media);

// The statement that records what the promotion keeps, kept for `keep` from now.
std::string record_kept_sql(const config::MediaTypeConfig& media, const std::string& refresh_id,
                            const std::string& mode, const std::optional<std::string>& index,
                            const std::optional<std::string>& filtered_index, const std::string& live_schema,
                            Duration keep);

// An incremental promotion's keep, before its live statements: the live rows it will replace or
// remove (ids in `temp` or `deletes`), the ids it will add, and the extra tables as they are.
std::vector<std::string> keep_incremental_sql(const config::MediaTypeConfig& media, const std::string& temp,
                                              const std::string& deletes);

// The schema the live table of `media` is in.
std::string live_schema_of(pg::Database& db, const config::MediaTypeConfig& media);

// Why `kept` cannot be restored now (empty = it can): expired, an index or a kept table missing.
std::vector<std::string> kept_problems(pg::Database& db, search::Client& search, const KeptGeneration& kept,
                                       bool filtered_index_enabled);

// Why `media` cannot be rolled back to what is kept (nullopt = it can): nothing is kept, or what
// is kept cannot be restored (kept_problems). A running refresh is the ledger's lock to refuse.
std::optional<std::string> rollback_refusal(pg::Database& db, search::Client& search, const config::Config& config,
                                            const config::MediaTypeConfig& media);

// What the API and the CLI check before they send a rollback request: a run of the lock scope
// running, then rollback_refusal().
std::optional<std::string> rollback_request_refusal(pg::Database& db, search::Client& search,
                                                    const config::Config& config, const config::MediaTypeConfig& media);

// Deletes a kept generation: its indices (never one an alias serves, which a rollback or a later
// promotion may have made live again), then its tables and record in one transaction. Best
// effort; returns the problems met (empty = gone).
std::vector<std::string> delete_kept(pg::Database& db, search::Client& search, const config::MediaTypeConfig& media,
                                     const KeptGeneration& kept);

}  // namespace datarefresh::refresh
