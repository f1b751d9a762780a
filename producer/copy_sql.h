#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/pg/identifier.h"
#include "core/refresh/incremental.h"

namespace datarefresh::planner {

// The upstream database as the API database reaches it through postgres_fdw.
struct FdwTarget {
  std::string host;
  int port = 5432;
  std::string dbname;
  std::string user;
  std::string password;
};

// One table to copy: upstream (public schema of the catalog) -> temp_import_<live> in the API DB.
struct TableCopy {
  pg::Identifier upstream;
  pg::Identifier live;
  bool exclude_deleted = true;               // the "advanced" copy: skip api_deleted<live> identifiers
  std::optional<std::int64_t> row_limit;     // ORDER BY identifier LIMIT n (tables with an identifier)
  pg::Identifier fdw_server;
  pg::Identifier import_schema;
  // The upstream identifier column is a uuid, so the copy can be split into ranges of it.
  bool identifier_is_uuid = false;
  // An incremental refresh's copy: only the identifiers of this table (quoted, qualified; columns
  // identifier, ord 1..stage_rows), in parts of stage_part_rows; the temp table's new ids start at
  // first_new_id, and rows already live get their live ids back.
  std::optional<std::string> stage_table;
  std::int64_t stage_rows = 0;
  std::int64_t stage_part_rows = 10000;
  std::int64_t first_new_id = 1;
  // A full refresh's copy of the media table also records each upstream row's version (its xmin,
  // read through a foreign column mapped to it) into this snapshot's versions table, the versions
  // of the rows on the deleted list too (not copied), and then the buckets of all of them
  // (bucket_bits): the baseline of the next incremental refresh, read in the same pass.
  std::optional<refresh::BaselineTables> baseline_into;
  int bucket_bits = 0;
};

// Columns both sides share, in the API table's order, without `id` (always generated anew).
std::vector<pg::Identifier> shared_columns(const std::vector<std::string>& upstream_columns,
                                           const std::vector<std::string>& api_columns);

// The column the copy's parts write each row's number of dropped tags to (NULL: none), so that
// the parts can count what the filter did; dropped again before the primary key is added.
inline constexpr const char* kTagsRemovedColumn = "datarefresh_tags_removed";
// The column a full refresh's copy writes each row's upstream version to (TableCopy::baseline_into).
inline constexpr const char* kRowVersionTempColumn = "datarefresh_row_version";

// The statements of one table's copy, in three stages:
//  - setup, one transaction: FDW server and user mapping, the imported upstream table,
//    temp_import_<live> LIKE the live table with a fresh id sequence and timestamp defaults. Safe
//    to run again from the start (everything is dropped first).
//  - parts, one statement each, each in its own session and transaction: INSERT ... SELECT over the
//    shared columns of one range of upstream identifiers (the ranges split the uuid space evenly
//    and cover it together, the first one also taking NULL identifiers; one part when the copy has
//    a row limit or no uuid identifier). Each returns
//    one row: rows copied, rows whose tags the filter changed, tags removed (both 0 without it).
//  - finish, one transaction: the count column dropped, then the primary key.
// With filter_tags the parts filter the `tags` column on the way in (tags_filtered_select_sql();
// they then take tag_filter_params() as $1..$3), so no row is written twice. The FDW objects are
// dropped separately.
struct CopyPlan {
  std::vector<std::string> setup;
  std::vector<std::string> parts;
  bool filters_tags = false;
  std::vector<std::string> finish;
};
CopyPlan copy_plan(const TableCopy& copy, const FdwTarget& fdw, const std::vector<pg::Identifier>& columns,
                   int parts, bool filter_tags);

// The lower bound of part `i` of `n` in the uuid space (i in 1..n-1): the first 32 bits of
// i * 2^128 / n, the rest zero.
std::string uuid_split_point(int i, int n);

}  // namespace datarefresh::planner
