#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/duration.h"
#include "core/pg/identifier.h"

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
};

// Columns both sides share, in the API table's order, without `id` (always generated anew).
std::vector<pg::Identifier> shared_columns(const std::vector<std::string>& upstream_columns,
                                           const std::vector<std::string>& api_columns);

// The statements of the copy, in order, for one transaction: FDW server and user mapping, the
// imported upstream table, temp_import_<live> LIKE the live table with a fresh id sequence and
// timestamp defaults, the INSERT ... SELECT over the shared columns, then the primary key. Safe to
// run again from the start (everything is dropped first). The FDW objects are dropped separately.
std::vector<std::string> copy_statements(const TableCopy& copy, const FdwTarget& fdw,
                                         const std::vector<pg::Identifier>& columns);

}  // namespace datarefresh::planner
