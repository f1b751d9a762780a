#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/config.h"
#include "core/pg/identifier.h"

namespace datarefresh::refresh {

// What an incremental refresh starts from, per media table, kept in the ledger's schema:
//  - the row hashes: datarefresh."rowhash_<table>" (identifier uuid PRIMARY KEY, hash bigint, recent
//    boolean): one 64-bit hash per upstream row (of the columns the table shares with the upstream,
//    rendered as text), as of the snapshot the last completed refresh took before its copy;
//  - the sensitive list: datarefresh."sensitive_<table>" (identifier uuid): api_mature<table> when
//    that refresh began.
// Every refresh (full or incremental) takes its own snapshot (snapshot_tables()) and promotes it
// into these in the transaction that promotes the live table, so they always describe the live
// table. An upstream row whose hash differs from its baseline hash changed, whether or not its
// updated_on moved (Openverse's popularity refresh sets updated_on, but batched_update runs any
// SET a maintainer writes).
struct BaselineTables {
  std::string row_hashes;  // quoted, schema-qualified
  std::string sensitive;
};
BaselineTables baseline_tables(const std::string& table);
// One refresh's snapshot, promoted into the baseline.
BaselineTables snapshot_tables(const std::string& table, const std::string& refresh_id);
// The identifiers an incremental refresh copies again (quoted, schema-qualified): identifier, ord.
std::string stage_table(const std::string& table, const std::string& refresh_id);

// The statements (one transaction, the promotion's) that make a refresh's snapshot the baseline.
std::vector<std::string> promote_baseline_sql(const std::string& table, const std::string& refresh_id);
// Drops a refresh's snapshot, stage and delete (temp_delete_<table>) tables: rollback and cleanup;
// never the baseline.
std::string drop_refresh_tables_sql(const std::string& table, const std::string& refresh_id);

// The 64-bit hash of one upstream row over `columns` (quoted names, alias u), as the upstream
// computes it: hashtextextended(ROW(u.a, u.b, ...)::text, 0). Rendered under row_text_settings().
std::string row_hash_sql(const std::vector<std::string>& quoted_columns);
// Session settings under which a row's text is the same in every session and release.
std::vector<std::pair<std::string, std::string>> row_text_settings();

// A stable fingerprint (64-bit FNV-1a, hex) of some text: what the baseline records of the index
// settings, the tag rules and the sensitive terms, to tell whether they changed.
std::string fingerprint(std::string_view text);

// What the planner records of a refresh for the next incremental one (ledger step "baseline"):
// the watermark (the upstream's clock when the snapshot began, UTC), and the fingerprints.
struct Baseline {
  std::string watermark;  // "YYYY-MM-DD HH:MM:SS.ffffff", UTC
  std::string index_settings;
  std::string tag_rules;
  std::string sensitive_terms;
  nlohmann::json to_json() const;
  static Baseline from_json(const nlohmann::json& j);
};

}  // namespace datarefresh::refresh
