#pragma once

#include <string>
#include <vector>

#include "core/config/config.h"
#include "core/pg/database.h"
#include "core/search/client.h"

namespace datarefresh::refresh {

// The tables one refresh of `media` copies: the main table first, then the extra ones.
std::vector<std::string> refreshed_tables(const config::MediaTypeConfig& media);

// Removes everything a refresh created before its promotion: its new and filtered indices (only if
// no alias points at them), its temp tables (with their sequences), its FDW server and import
// schemas. The live table and aliases are never touched. Idempotent and best effort: every part is
// attempted; the problems met are returned (empty = clean).
std::vector<std::string> roll_back(pg::Database& api, search::Client& search, const config::MediaTypeConfig& media,
                                   const std::string& refresh_id);

// Drops the refresh's FDW server and import schemas (after the copy, and in rollback).
void drop_fdw_objects(pg::Database& api, const config::MediaTypeConfig& media, const std::string& refresh_id);

}  // namespace datarefresh::refresh
