#include "core/refresh/rollback.h"

#include <fmt/format.h>

#include "core/common/log.h"
#include "core/ledger/ledger.h"
#include "core/refresh/incremental.h"
#include "core/refresh/naming.h"

namespace datarefresh::refresh {

std::vector<std::string> refreshed_tables(const config::MediaTypeConfig& media) {
  std::vector<std::string> tables{media.table};
  for (const auto& extra : media.extra_tables) tables.push_back(extra.downstream);
  return tables;
}

void drop_fdw_objects(pg::Database& api, const config::MediaTypeConfig& media, const std::string& refresh_id) {
  auto names = refresh_names(media.name, refresh_id);
  std::string sql;
  for (const auto& t : refreshed_tables(media)) {
    sql += "DROP SCHEMA IF EXISTS " + import_schema(pg::Identifier(t, "table name"), refresh_id).quoted() + " CASCADE;\n";
  }
  sql += "DROP SERVER IF EXISTS " + names.fdw_server.quoted() + " CASCADE;";
  api.exec(sql);
}

std::vector<std::string> roll_back(pg::Database& api, search::Client& search, const config::MediaTypeConfig& media,
                                   const std::string& refresh_id) {
  Logger log("rollback");
  std::vector<std::string> problems;
  auto names = refresh_names(media.name, refresh_id);
  // An incremental refresh put write blocks on the live indices to clone them: none may stay.
  try {
    if (auto blocked = ledger::Ledger(api).step_details(refresh_id, "clone:blocks")) {
      for (const auto& index : (*blocked)["indices"]) {
        const std::string name = index.get<std::string>();
        if (name.empty()) continue;
        auto lifted = search.set_write_block(name, false);
        if (!lifted.ok() && lifted.error().http_status != 404) {
          problems.push_back("lifting the write block of " + name + ": " + lifted.error().describe());
        }
      }
    }
  } catch (const std::exception& e) {
    problems.push_back(std::string("reading the write blocks to lift: ") + e.what());
  }
  for (const auto& index : {names.filtered_index, names.new_index}) {
    auto aliases = search.get_index_aliases(index);
    if (!aliases.ok()) {
      if (aliases.error().http_status != 404) problems.push_back("index " + index + ": " + aliases.error().describe());
      continue;
    }
    if (auto serving = serving_aliases(aliases.value(), index); !serving.empty()) {
      problems.push_back(fmt::format("index {} is not deleted: alias {} points at it (the refresh was promoted)", index,
                                     serving.front()));
      continue;
    }
    auto deleted = search.delete_index(index);
    if (!deleted.ok() && deleted.error().http_status != 404) {
      problems.push_back("deleting index " + index + ": " + deleted.error().describe());
    }
  }
  for (const auto& t : refreshed_tables(media)) {
    try {
      api.exec("DROP TABLE IF EXISTS " + temp_table(pg::Identifier(t, "table name")).quoted() + " CASCADE");
    } catch (const std::exception& e) {
      problems.push_back("dropping temp_import_" + t + ": " + e.what());
    }
  }
  try {
    api.exec(drop_refresh_tables_sql(media.table, refresh_id));
  } catch (const std::exception& e) {
    problems.push_back(std::string("dropping the refresh's snapshot and delta tables: ") + e.what());
  }
  try {
    drop_fdw_objects(api, media, refresh_id);
  } catch (const std::exception& e) {
    problems.push_back(std::string("dropping FDW objects: ") + e.what());
  }
  log.info("rolled back", {{"refresh_id", refresh_id}, {"media_type", media.name}, {"problems", problems}});
  return problems;
}

}  // namespace datarefresh::refresh
