#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/pg/database.h"

namespace datarefresh::refresh {

// How far the copy of a table has got, for status views while a refresh is in phase copying (on
// a large table the longest phase before indexing). An estimate by size: the temp table's heap
// now against the upstream table's heap when the copy began (their rows carry the same columns;
// deleted media and filtered tags make the copy a little smaller).
struct CopyProgress {
  int parts = 0;       // 0: the copy's setup has not committed yet
  int parts_done = 0;  // parts committed (each is all or nothing)
  std::int64_t bytes_written = 0;
  std::int64_t upstream_bytes = 0;  // 0: unknown
  bool done = false;                // the copy is recorded

  // Bytes written of the upstream's, kept below 100 until the copy is recorded; nullopt when the
  // upstream's size is unknown.
  std::optional<double> percent() const;
};

// {"parts", "parts_done", "bytes_written", "upstream_bytes", "percent"}.
nlohmann::json copy_progress_json(const CopyProgress& p);

// One line for terminals: "copy 50.1% (353 MB written, parts 0/2)" ("copy ?" without a percentage).
std::string copy_progress_text(const CopyProgress& p);

// Reads the progress of `table`'s copy in refresh `refresh_id` from the ledger (the copy's setup,
// parts and final steps) and the API database (the size of temp_import_<table>).
CopyProgress read_copy_progress(pg::Database& api_db, const std::string& refresh_id, const std::string& table);

}  // namespace datarefresh::refresh
