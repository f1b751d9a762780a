#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/pg/identifier.h"

namespace datarefresh::refresh {

// Names derived from a refresh id, shared by the planner, indexers and coordinator so that each
// can find what another created (and rollback can find leftovers).
struct RefreshNames {
  std::string suffix;          // the refresh id without dashes (32 hex digits)
  std::string new_index;       // <media>-<suffix>
  std::string filtered_index;  // <media>-<suffix>-filtered
  pg::Identifier fdw_server;   // datarefresh_fdw_<first 12 hex>
};

RefreshNames refresh_names(const std::string& media_type, const std::string& refresh_id);

// The alias the indexers write a refresh's new index through: <index>-load. They write with
// require_alias, so that a bulk after the index was deleted is refused instead of creating it again
// through the engine's auto-create. Added when the index is created, removed at promotion.
std::string load_alias(const std::string& index);

// The aliases of `index` that serve searches: all but its load alias. An index with none may be
// deleted by a rollback, cleanup or the sweeper.
std::vector<std::string> serving_aliases(const std::vector<std::string>& aliases, const std::string& index);

// temp_import_<live>, the table a refresh fills and promotes.
pg::Identifier temp_table(const pg::Identifier& live);
// temp_delete_<live>: an incremental refresh's rows to remove from the live table (id, identifier).
pg::Identifier delete_table(const pg::Identifier& live);

// The schema the upstream table is imported into, for one refresh.
pg::Identifier import_schema(const pg::Identifier& live, const std::string& refresh_id);

// Whether `index` is a main or filtered index of `media_type` made by a refresh: <media>-<32 hex>[-filtered].
bool is_refresh_index(const std::string& media_type, const std::string& index);

// The refresh id (a UUID, as text) an index of is_refresh_index() was made by; nullopt otherwise.
std::optional<std::string> refresh_id_of_index(const std::string& media_type, const std::string& index);

// A new random UUID (version 4), as text.
std::string new_uuid();

// A UUID (version 8, RFC 9562) that is a stable function of `name`: the same name gives the same
// id in every process and build, so a request derived from it (e.g. one scheduled slot) is
// recognised as the same request when produced again.
std::string name_uuid(std::string_view name);

}  // namespace datarefresh::refresh
