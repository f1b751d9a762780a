#include "producer/copy_sql.h"

#include <algorithm>

#include "core/common/error.h"

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

std::vector<std::string> copy_statements(const TableCopy& copy, const FdwTarget& fdw,
                                         const std::vector<pg::Identifier>& columns) {
  if (columns.empty()) {
    throw ConfigError("the upstream table " + copy.upstream.name() + " and the API table " + copy.live.name() +
                      " share no column: check media_types.*.table / extra_tables and the upstream schema");
  }
  const auto temp = copy.live.with_prefix("temp_import_");
  const auto seq = temp.with_suffix("_id_seq");
  const auto server = copy.fdw_server.quoted();
  const auto schema = copy.import_schema.quoted();
  std::string cols;
  std::string src_cols;
  bool has_identifier = false;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    cols += (i ? ", " : "") + columns[i].quoted();
    src_cols += (i ? ", u." : "u.") + columns[i].quoted();
    has_identifier = has_identifier || columns[i].name() == "identifier";
  }
  if (copy.exclude_deleted && !has_identifier) {
    throw ConfigError("the advanced copy of " + copy.live.name() +
                      " needs an identifier column to skip deleted media; use copy: basic for this table");
  }

  std::vector<std::string> s;
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
  std::string insert = "INSERT INTO " + temp.quoted() + " (" + cols + ") SELECT " + src_cols + " FROM " + schema +
                       "." + copy.upstream.quoted() + " AS u";
  if (copy.exclude_deleted) {
    insert += " WHERE NOT EXISTS (SELECT FROM " + copy.live.with_prefix("api_deleted").quoted() +
              " AS d WHERE d.identifier = u.identifier)";
  }
  if (copy.row_limit && has_identifier) insert += " ORDER BY u.identifier LIMIT " + std::to_string(*copy.row_limit);
  s.push_back(insert);
  s.push_back("ALTER TABLE " + temp.quoted() + " ADD PRIMARY KEY (id)");
  return s;
}

}  // namespace datarefresh::planner
