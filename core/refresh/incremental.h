#pragma once

#include <cstdint>
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
//  - the row versions: datarefresh."rowversion_<table>" (identifier uuid PRIMARY KEY, version
//    bigint, recent boolean): each upstream row's version, its xmin (the transaction that wrote
//    it; every UPDATE writes a new one, whatever it sets, and VACUUM FREEZE keeps the raw value),
//    as of the snapshot of the last completed refresh;
//  - the buckets: datarefresh."rowbucket_<table>" (bucket integer PRIMARY KEY, n bigint, x bigint,
//    mismatched boolean): the same rows grouped by the first bucket_bits bits of their identifier,
//    with their count and the XOR of version_hash_sql() of each;
//  - the sensitive list and the deleted list: datarefresh."sensitive_<table>" /
//    "deleted_<table>" (identifier uuid): api_mature<table> / api_deleted<table> at that snapshot.
// Every refresh takes its own snapshot (snapshot_tables()) and promotes it into these in the
// transaction that promotes the live table, so they always describe the live table.
//
// An incremental refresh has the upstream send each row whose updated_on is past the watermark
// minus the overlap (a "recent" row) with its version, and for all other rows only each bucket's
// count and XOR. A bucket whose count or XOR differs from what the baseline predicts holds a row
// changed without touching updated_on, a row deleted, or a row committed late: its rows are read
// one by one. So the upstream sends what changed plus one line per bucket, and its work is one
// scan that hashes two integers a row.
struct BaselineTables {
  std::string versions;  // each quoted, schema-qualified
  std::string buckets;
  std::string sensitive;
  std::string deleted;
};
BaselineTables baseline_tables(const std::string& table);
// One refresh's snapshot, promoted into the baseline.
BaselineTables snapshot_tables(const std::string& table, const std::string& refresh_id);
// The identifiers an incremental refresh copies again (quoted, schema-qualified): identifier, ord.
std::string stage_table(const std::string& table, const std::string& refresh_id);
// The baseline table of releases before row versions (hashes of row text): dropped on promotion.
std::string legacy_row_hashes_table(const std::string& table);

// The statements (one transaction, the promotion's) that make a refresh's snapshot the baseline.
// A full refresh's snapshot holds every upstream row and replaces the baseline; an incremental
// one's holds the recent rows and the mismatched buckets' rows, which replace theirs in it.
std::vector<std::string> promote_baseline_sql(const std::string& table, const std::string& refresh_id, bool incremental,
                                              int bucket_bits);
// The statements that drop the baseline: a refresh that copied a sample leaves none.
std::vector<std::string> drop_baseline_sql(const std::string& table);
// Drops a refresh's snapshot, stage and delete (temp_delete_<table>) tables: rollback and cleanup;
// never the baseline.
std::string drop_refresh_tables_sql(const std::string& table, const std::string& refresh_id);

// A row's version as a bigint, from its xmin (or a column mapped to the upstream's xmin).
std::string row_version_sql(const std::string& xmin_expr);
// The 64-bit hash of one row's identifier and version that buckets XOR together.
std::string version_hash_sql(const std::string& identifier_expr, const std::string& version_expr);
// Each bucket's row count and XOR of version hashes (bucket, n, x) over `versions` (a table with
// identifier and version columns, optionally followed by a WHERE clause): the sums the baseline
// keeps, computed alike by a full copy and by an incremental refresh's fold of its recent rows.
std::string bucket_totals_sql(const std::string& versions, int bits);
// The bucket (0 .. 2^bits - 1) of a uuid expression: its first `bits` bits.
std::string bucket_sql(const std::string& identifier_expr, int bits);
// The first and last uuid of bucket `bucket_expr` (an integer SQL expression), as uuid expressions.
std::string bucket_low_sql(const std::string& bucket_expr, int bits);
std::string bucket_high_sql(const std::string& bucket_expr, int bits);
// The same in C++, for bucket b.
std::string bucket_low(std::int64_t b, int bits);
std::string bucket_high(std::int64_t b, int bits);
// How many identifier bits make the buckets of a catalog of about `rows` rows: about 16 rows a
// bucket (so that changes made without updated_on, scattered at random, make few buckets read
// again), from 2^8 to 2^26 buckets.
int choose_bucket_bits(double rows);
// The oldest upstream PostgreSQL an incremental refresh reads from (bit_xor is 14's).
inline constexpr int kMinUpstreamVersionNum = 140000;

// The foreign column that a full copy adds to the imported upstream table: its xmin.
inline constexpr const char* kRowVersionColumn = "datarefresh_row_version";

// A stable fingerprint (64-bit FNV-1a, hex) of some text: what the baseline records of the index
// settings, the tag rules and the sensitive terms, to tell whether they changed.
std::string fingerprint(std::string_view text);

// What the planner records of a refresh for the next incremental one (ledger step "baseline"):
// the watermark (the upstream's clock when the snapshot began, UTC), the fingerprints, the
// buckets' size, and whether the snapshot covers the whole catalog (a row limit copies a sample).
struct Baseline {
  std::string watermark;  // "YYYY-MM-DD HH:MM:SS.ffffff", UTC
  std::string index_settings;
  std::string tag_rules;
  std::string sensitive_terms;
  int bucket_bits = 0;
  bool complete = true;
  nlohmann::json to_json() const;
  static Baseline from_json(const nlohmann::json& j);
};

}  // namespace datarefresh::refresh
