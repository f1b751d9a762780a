#include "consumer/indexer/shard_query.h"

#include <algorithm>

#include <fmt/format.h>

namespace datarefresh::indexer {

std::string shard_query(catalog::MediaKind kind, const pg::Identifier& temp_table, const pg::Identifier& live_table,
                        const std::vector<std::string>& available_columns, std::int64_t id_start, std::int64_t id_end) {
  auto has = [&](const std::string& c) {
    return std::find(available_columns.begin(), available_columns.end(), c) != available_columns.end();
  };
  std::string select;
  for (const auto& c : catalog::document_source_columns(kind)) {
    std::string expr;
    if (c == "deleted") {
      expr = "EXISTS (SELECT 1 FROM " + live_table.with_prefix("api_deleted").quoted() +
             " AS d WHERE d.identifier = t.identifier)";
    } else if (c == "mature") {
      expr = "EXISTS (SELECT 1 FROM " + live_table.with_prefix("api_mature").quoted() +
             " AS m WHERE m.identifier = t.identifier)";
    } else if (!has(c)) {
      expr = "NULL";
    } else if (c == "created_on") {
      expr = "(t.created_on AT TIME ZONE 'UTC')::text || '+00'";
    } else {
      expr = "t." + pg::Identifier(c, "column name").quoted();
    }
    select += (select.empty() ? "" : ", ") + expr;
  }
  return fmt::format("SELECT {} FROM {} AS t WHERE t.id >= {} AND t.id < {}", select, temp_table.quoted(), id_start,
                     id_end);
}

std::string delete_shard_query(const pg::Identifier& delete_table, std::int64_t id_start, std::int64_t id_end) {
  return fmt::format("SELECT id FROM {} WHERE id >= {} AND id < {}", delete_table.quoted(), id_start, id_end);
}

}  // namespace datarefresh::indexer
