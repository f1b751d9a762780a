#include "producer/copy_sql.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/catalog/tag_rules.h"
#include "core/common/error.h"
#include "core/refresh/incremental.h"

namespace datarefresh::planner {

std::vector<pg::Identifier> shared_columns(const std::vector<std::string>& upstream_columns,
                                           const std::vector<std::string>& api_columns) {
  std::vector<pg::Identifier> out;
  for (const auto& c : api_columns) {
    if (c == "id") continue;
    if (std::find(upstream_columns.begin(), upstream_columns.end(), c) != upstream_columns.end()) {
      out.emplace_back(c, "column name");
    }
  }
  return out;
}

std::string uuid_split_point(int i, int n) {
  const auto top = static_cast<std::uint32_t>((static_cast<std::uint64_t>(i) << 32) / static_cast<std::uint64_t>(n));
  return fmt::format("{:08x}-0000-0000-0000-000000000000", top);
}

CopyPlan copy_plan(const TableCopy& copy, const FdwTarget& fdw, const std::vector<pg::Identifier>& columns,
                   int parts, bool filter_tags) {
  if (columns.empty()) {
    throw ConfigError("the upstream table " + copy.upstream.name() + " and the API table " + copy.live.name() +
                      " share no column: check media_types.*.table / extra_tables and the upstream schema");
  }
  const auto temp = copy.live.with_prefix("temp_import_");
  const auto seq = temp.with_suffix("_id_seq");
  const auto server = copy.fdw_server.quoted();
  const auto schema = copy.import_schema.quoted();
  const std::string count_column = pg::Identifier(kTagsRemovedColumn, "column name").quoted();
  std::vector<std::string> quoted;
  bool has_identifier = false, has_tags = false;
  for (const auto& c : columns) {
    quoted.push_back(c.quoted());
    has_identifier = has_identifier || c.name() == "identifier";
    has_tags = has_tags || c.name() == "tags";
  }
  const std::string cols = fmt::format("{}", fmt::join(quoted, ", "));
  if (copy.exclude_deleted && !has_identifier) {
    throw ConfigError("the advanced copy of " + copy.live.name() +
                      " needs an identifier column to skip deleted media; use copy: basic for this table");
  }
  if (filter_tags && !has_tags) {
    throw ConfigError("the upstream table " + copy.upstream.name() + " and the API table " + copy.live.name() +
                      " share no tags column, so their tags cannot be filtered: check media_types.*.table");
  }

  CopyPlan plan;
  plan.filters_tags = filter_tags;
  auto& s = plan.setup;
  s.push_back("CREATE EXTENSION IF NOT EXISTS postgres_fdw");
  s.push_back("DROP SERVER IF EXISTS " + server + " CASCADE");
  // fetch_size: postgres_fdw's default of 100 rows per round trip makes large copies crawl.
  s.push_back("CREATE SERVER " + server + " FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host " +
              pg::quote_literal(fdw.host) + ", port " + pg::quote_literal(std::to_string(fdw.port)) + ", dbname " +
              pg::quote_literal(fdw.dbname) + ", fetch_size '10000')");
  s.push_back("CREATE USER MAPPING FOR CURRENT_USER SERVER " + server + " OPTIONS (user " +
              pg::quote_literal(fdw.user) + ", password " + pg::quote_literal(fdw.password) + ")");
  s.push_back("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  s.push_back("CREATE SCHEMA " + schema);
  s.push_back("IMPORT FOREIGN SCHEMA public LIMIT TO (" + copy.upstream.quoted() + ") FROM SERVER " + server +
              " INTO " + schema);
  s.push_back("DROP TABLE IF EXISTS " + temp.quoted() + " CASCADE");
  s.push_back("CREATE TABLE " + temp.quoted() + " (LIKE " + copy.live.quoted() +
              " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
  s.push_back("ALTER TABLE " + temp.quoted() + " ADD COLUMN IF NOT EXISTS id integer");
  s.push_back("DROP SEQUENCE IF EXISTS " + seq.quoted());
  s.push_back("CREATE SEQUENCE " + seq.quoted() + " OWNED BY " + temp.quoted() + ".id");
  s.push_back("ALTER TABLE " + temp.quoted() + " ALTER COLUMN id SET DEFAULT nextval(" +
              pg::quote_literal(seq.quoted()) + "::regclass)");
  s.push_back(
      "DO $$ BEGIN "
      "IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = " +
      pg::quote_literal(temp.name()) + " AND column_name = 'created_on') THEN EXECUTE 'ALTER TABLE " + temp.quoted() +
      " ALTER COLUMN created_on SET DEFAULT CURRENT_TIMESTAMP'; END IF; "
      "IF EXISTS (SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = " +
      pg::quote_literal(temp.name()) + " AND column_name = 'updated_on') THEN EXECUTE 'ALTER TABLE " + temp.quoted() +
      " ALTER COLUMN updated_on SET DEFAULT CURRENT_TIMESTAMP'; END IF; END $$");
  if (filter_tags) s.push_back("ALTER TABLE " + temp.quoted() + " ADD COLUMN " + count_column + " integer");
  const bool versions = copy.baseline_into && filter_tags && has_identifier;
  const std::string version_column = pg::Identifier(kRowVersionTempColumn, "column name").quoted();
  const std::string foreign_version = "u." + pg::Identifier(refresh::kRowVersionColumn, "column name").quoted();
  if (versions) {
    s.push_back("ALTER FOREIGN TABLE " + schema + "." + copy.upstream.quoted() + " ADD COLUMN " +
                pg::Identifier(refresh::kRowVersionColumn, "column name").quoted() +
                " xid OPTIONS (column_name 'xmin')");
    s.push_back("ALTER TABLE " + temp.quoted() + " ADD COLUMN " + version_column + " bigint");
  }
  if (copy.stage_table) {
    if (!has_identifier) throw ConfigError("an incremental copy of " + copy.live.name() + " needs an identifier column");
    s.push_back("ALTER SEQUENCE " + seq.quoted() + " RESTART WITH " + std::to_string(std::max<std::int64_t>(1, copy.first_new_id)));
  }

  // A row limit copies the first rows by identifier: one ordered part.
  const bool limited = copy.row_limit && has_identifier && !copy.stage_table;
  const std::int64_t chunk = std::max<std::int64_t>(1, copy.stage_part_rows);
  const int n = copy.stage_table ? static_cast<int>(std::max<std::int64_t>(1, (copy.stage_rows + chunk - 1) / chunk))
                : (limited || !has_identifier || !copy.identifier_is_uuid) ? 1
                                                                           : std::max(1, parts);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> where;
    if (copy.stage_table) {
      // One array of identifiers per part, computed once (an InitPlan) and sent to the upstream as
      // a parameter of its query, which finds the rows by its identifier index.
      where.push_back(fmt::format("u.identifier = ANY (ARRAY(SELECT identifier FROM {} WHERE ord > {} AND ord <= {}))",
                                  *copy.stage_table, i * chunk, (i + 1) * chunk));
    } else if (i > 0) {
      where.push_back("u.identifier >= " + pg::quote_literal(uuid_split_point(i, n)) + "::uuid");
    }
    if (!copy.stage_table && i + 1 < n) {
      std::string below = "u.identifier < " + pg::quote_literal(uuid_split_point(i + 1, n)) + "::uuid";
      // No range holds a NULL identifier: the first part takes them, so no row is left out.
      where.push_back(i == 0 ? "(" + below + " OR u.identifier IS NULL)" : below);
    }
    if (copy.exclude_deleted) {
      where.push_back("NOT EXISTS (SELECT FROM " + copy.live.with_prefix("api_deleted").quoted() +
                      " AS d WHERE d.identifier = u.identifier)");
    }
    std::string from = schema + "." + copy.upstream.quoted() + " AS u";
    for (std::size_t w = 0; w < where.size(); ++w) from += (w ? " AND " : " WHERE ") + where[w];
    if (limited) from += " ORDER BY u.identifier LIMIT " + std::to_string(*copy.row_limit);
    std::string insert;
    if (filter_tags) {
      insert =
          "INSERT INTO " + temp.quoted() + " (" + cols + ", " + count_column + (versions ? ", " + version_column : "") +
          ") " +
          catalog::tags_filtered_select_sql(quoted, from, versions ? refresh::row_version_sql(foreign_version) : "") +
          " RETURNING " + count_column + " AS removed";
    } else {
      insert = "INSERT INTO " + temp.quoted() + " (" + cols + ") SELECT u." + fmt::format("{}", fmt::join(quoted, ", u.")) +
               " FROM " + from +
               " RETURNING NULL::integer AS removed";
    }
    plan.parts.push_back("WITH copied AS (" + insert +
                         ") SELECT count(*)::bigint, count(removed)::bigint, COALESCE(sum(removed), 0)::bigint "
                         "FROM copied");
  }
  if (versions) {
    const auto& snap = *copy.baseline_into;
    auto& f = plan.finish;
    f.push_back("INSERT INTO " + snap.versions + " (identifier, version, recent) SELECT identifier, " + version_column +
                ", false FROM " + temp.quoted() + " WHERE identifier IS NOT NULL AND " + version_column +
                " IS NOT NULL");
    f.push_back("ALTER TABLE " + snap.versions + " ADD PRIMARY KEY (identifier)");
    // The baseline's deleted list is what the baseline holds and the live table will not: the
    // upstream rows on the deleted list that the copy left out (the list may change while the
    // parts run). Their versions are read too: they are upstream rows, in their buckets.
    f.push_back("DELETE FROM " + snap.deleted);
    if (copy.exclude_deleted) {
      f.push_back("WITH fetched AS (INSERT INTO " + snap.versions +
                  " (identifier, version, recent) SELECT u.identifier, " + refresh::row_version_sql(foreign_version) +
                  ", false FROM " + schema + "." + copy.upstream.quoted() +
                  " AS u WHERE u.identifier = ANY (ARRAY(SELECT identifier FROM " +
                  copy.live.with_prefix("api_deleted").quoted() +
                  ")) ON CONFLICT (identifier) DO NOTHING RETURNING identifier) INSERT INTO " + snap.deleted +
                  " (identifier) SELECT identifier FROM fetched");
    }
    f.push_back("INSERT INTO " + snap.buckets + " (bucket, n, x) " +
                refresh::bucket_totals_sql(snap.versions, copy.bucket_bits));
    f.push_back("ALTER TABLE " + temp.quoted() + " DROP COLUMN " + version_column);
  }
  if (filter_tags) plan.finish.push_back("ALTER TABLE " + temp.quoted() + " DROP COLUMN " + count_column);
  plan.finish.push_back("ALTER TABLE " + temp.quoted() + " ADD PRIMARY KEY (id)");
  if (copy.stage_table) {
    // New ids are above every live id, so giving kept rows their live ids back never collides.
    plan.finish.push_back("UPDATE " + temp.quoted() + " AS t SET id = l.id FROM " + copy.live.quoted() +
                          " AS l WHERE l.identifier = t.identifier");
    plan.finish.push_back("ANALYZE " + temp.quoted());
  }
  return plan;
}

}  // namespace datarefresh::planner
