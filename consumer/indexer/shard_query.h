#pragma once

#include <string>
#include <vector>

#include "core/catalog/media_kind.h"
#include "core/pg/identifier.h"

namespace datarefresh::indexer {

// The SELECT the indexer streams for one shard: the columns DocumentEncoder reads (in its order),
// with the live deleted and sensitive lists joined in as booleans, over [id_start, id_end).
// Columns the temp table lacks (`available_columns`) are selected as NULL; created_on is rendered
// in UTC whatever the session's time zone.
std::string shard_query(catalog::MediaKind kind, const pg::Identifier& temp_table, const pg::Identifier& live_table,
                        const std::vector<std::string>& available_columns, std::int64_t id_start, std::int64_t id_end);

// The SELECT of a delete shard: the ids in [id_start, id_end) of an incremental refresh's table of
// removed rows (temp_delete_<table>), one column.
std::string delete_shard_query(const pg::Identifier& delete_table, std::int64_t id_start, std::int64_t id_end);

}  // namespace datarefresh::indexer
