#include "consumer/coordinator/table_schema.h"

#include <set>

#include <fmt/format.h>

#include "core/common/crash_point.h"
#include "core/common/error.h"
#include "core/pg/identifier.h"

namespace datarefresh::coordinator {
namespace {

// Parses a text[] value such as {a,b} (our column names never need quoting; they are validated).
std::vector<std::string> parse_name_array(const std::optional<std::string>& text) {
  std::vector<std::string> out;
  if (!text || text->size() < 2) return out;
  std::string inner = text->substr(1, text->size() - 2);
  std::size_t start = 0;
  while (start <= inner.size() && !inner.empty()) {
    auto comma = inner.find(',', start);
    std::string name = inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty() && name.front() == '"') name = name.substr(1, name.size() - 2);
    out.push_back(pg::Identifier(name, "column name").name());
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string q(const std::string& name) { return pg::Identifier(name, "name").quoted(); }

const char* kFkColumns = R"SQL(
  (SELECT array_agg(a.attname ORDER BY k.n)::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n)
     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
  (SELECT array_agg(a.attname ORDER BY k.n)::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n)
     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum))SQL";

}  // namespace

TableSchema read_table_schema(pg::Database& db, const std::string& table) {
  pg::Identifier t(table, "table name");
  TableSchema s;
  s.table = table;
  const std::string rel = pg::quote_literal(t.quoted());
  auto exists = db.query_value("SELECT to_regclass(" + rel + ")::text");
  if (!exists) throw Error("table " + table + " does not exist in the API database");
  s.id_sequence = db.query_value("SELECT pg_get_serial_sequence(" + rel + ", 'id')");
  auto idx = db.exec(
      "SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
      "WHERE i.indrelid = " + rel + "::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
      "WHERE k.conindid = i.indexrelid AND k.conrelid = i.indrelid) ORDER BY ic.relname");
  for (const auto& r : idx.rows) s.indexes.push_back({r[0].value_or(""), r[1].value_or("")});
  auto cons = db.exec(std::string("SELECT c.conname, c.contype::text, pg_get_constraintdef(c.oid), ") + kFkColumns +
                      " FROM pg_constraint c WHERE c.conrelid = " + rel + "::regclass ORDER BY c.conname");
  for (const auto& r : cons.rows) {
    char type = r[1].value_or("u")[0];
    ConstraintDefinition d{r[0].value_or(""), type, table, r[2].value_or(""), {}, {}};
    if (type == 'p') {
      s.primary_key = d.name;
    } else if (type == 'f') {
      d.columns = parse_name_array(r[3]);
      d.referenced_columns = parse_name_array(r[4]);
      s.foreign_keys.push_back(d);
    } else if (type == 'u' || type == 'c' || type == 'x') {
      s.constraints.push_back(d);
    }
  }
  auto refs = db.exec(std::string("SELECT c.conname, c.conrelid::regclass::text, pg_get_constraintdef(c.oid), ") +
                      kFkColumns + " FROM pg_constraint c WHERE c.confrelid = " + rel +
                      "::regclass AND c.contype = 'f' AND c.conrelid <> c.confrelid ORDER BY c.conname");
  for (const auto& r : refs.rows) {
    std::string owner = r[1].value_or("");
    if (auto dot = owner.rfind('.'); dot != std::string::npos) owner = owner.substr(dot + 1);
    if (!owner.empty() && owner.front() == '"') owner = owner.substr(1, owner.size() - 2);
    s.referencing.push_back({r[0].value_or(""), 'f', owner, r[2].value_or(""), parse_name_array(r[3]),
                             parse_name_array(r[4])});
  }
  return s;
}

namespace {
nlohmann::json constraint_json(const ConstraintDefinition& c) {
  return {{"name", c.name}, {"type", std::string(1, c.type)}, {"table", c.table}, {"definition", c.definition},
          {"columns", c.columns}, {"referenced_columns", c.referenced_columns}};
}
ConstraintDefinition constraint_from(const nlohmann::json& j) {
  return {j.at("name"), j.at("type").get<std::string>()[0], j.at("table"), j.at("definition"),
          j.at("columns").get<std::vector<std::string>>(), j.at("referenced_columns").get<std::vector<std::string>>()};
}
}  // namespace

nlohmann::json to_json(const TableSchema& s) {
  nlohmann::json j = {{"table", s.table}, {"primary_key", nullptr}, {"id_sequence", nullptr}};
  if (s.primary_key) j["primary_key"] = *s.primary_key;
  if (s.id_sequence) j["id_sequence"] = *s.id_sequence;
  j["indexes"] = nlohmann::json::array();
  for (const auto& i : s.indexes) j["indexes"].push_back({{"name", i.name}, {"definition", i.definition}});
  for (const auto& [key, list] : {std::pair{"constraints", &s.constraints}, std::pair{"foreign_keys", &s.foreign_keys},
                                  std::pair{"referencing", &s.referencing}}) {
    j[key] = nlohmann::json::array();
    for (const auto& c : *list) j[key].push_back(constraint_json(c));
  }
  return j;
}

TableSchema table_schema_from_json(const nlohmann::json& j) {
  TableSchema s;
  s.table = j.at("table");
  if (!j.at("primary_key").is_null()) s.primary_key = j.at("primary_key").get<std::string>();
  if (!j.at("id_sequence").is_null()) s.id_sequence = j.at("id_sequence").get<std::string>();
  for (const auto& i : j.at("indexes")) s.indexes.push_back({i.at("name"), i.at("definition")});
  for (const auto& c : j.at("constraints")) s.constraints.push_back(constraint_from(c));
  for (const auto& c : j.at("foreign_keys")) s.foreign_keys.push_back(constraint_from(c));
  for (const auto& c : j.at("referencing")) s.referencing.push_back(constraint_from(c));
  return s;
}

std::string reapply_index_sql(const IndexDefinition& index, const std::string& temp_table, const std::string& temp_name) {
  // pg_get_indexdef: "CREATE [UNIQUE] INDEX <name> ON [ONLY] <table> USING <method> (<columns>) [...]"
  auto on = index.definition.find(" ON ");
  auto using_pos = index.definition.find(" USING ", on == std::string::npos ? 0 : on);
  if (on == std::string::npos || using_pos == std::string::npos) {
    throw InvariantError("cannot read the definition of index " + index.name + ": " + index.definition);
  }
  bool unique = index.definition.rfind("CREATE UNIQUE INDEX", 0) == 0;
  return fmt::format("CREATE {}INDEX IF NOT EXISTS {} ON {}{}", unique ? "UNIQUE " : "", q(temp_name), q(temp_table),
                     index.definition.substr(using_pos));
}

std::vector<Reapplied> reapply_schema(pg::Database& db, const TableSchema& live, const std::string& temp_table,
                                      const std::string& name_prefix) {
  std::vector<Reapplied> renames;
  int n = 0;
  for (const auto& index : live.indexes) {
    std::string temp_name = fmt::format("{}_i{}", name_prefix, n++);
    db.exec(reapply_index_sql(index, temp_table, temp_name));
    renames.push_back({"index", temp_name, index.name});
    if (renames.size() == 1) crash_point("coordinator.constraints_half_applied");
  }
  const std::string rel = pg::quote_literal(q(temp_table));
  for (const auto& c : live.constraints) {
    // LIKE ... INCLUDING CONSTRAINTS already copied check constraints under their own names.
    bool same_name_there = db.query_value("SELECT 1 FROM pg_constraint WHERE conrelid = " + rel +
                                              "::regclass AND conname = $1",
                                          {c.name})
                               .has_value();
    if (c.type == 'c' && same_name_there) continue;
    std::string temp_name = fmt::format("{}_c{}", name_prefix, n++);
    bool exists = db.query_value("SELECT 1 FROM pg_constraint WHERE conrelid = " + rel + "::regclass AND conname = $1",
                                 {temp_name})
                      .has_value();
    if (!exists) db.exec(fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {}", q(temp_table), q(temp_name), c.definition));
    renames.push_back({"constraint", temp_name, c.name});
  }
  return renames;
}

namespace {

// Every foreign key that involves one of `schemas`' tables, each once (it may be listed on both ends).
std::vector<ConstraintDefinition> involved_foreign_keys(const std::vector<const TableSchema*>& schemas) {
  std::vector<ConstraintDefinition> fks;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto* t : schemas) {
    for (const auto* list : {&t->foreign_keys, &t->referencing}) {
      for (const auto& fk : *list) {
        if (seen.insert({fk.table, fk.name}).second) fks.push_back(fk);
      }
    }
  }
  return fks;
}

// Recreates `fks` from their recorded definitions, which name tables by their live names (now the
// promoted or restored ones). Rows the key would reject (pointing at media the new tables do not
// have) are removed first.
void recreate_foreign_keys(std::vector<std::string>& s, const std::vector<ConstraintDefinition>& fks,
                           const std::set<std::string>& refreshed) {
  for (const auto& fk : fks) {
    if (refreshed.count(fk.table) == 0 && !fk.columns.empty() && fk.columns.size() == fk.referenced_columns.size()) {
      auto ref = fk.definition.find("REFERENCES ");
      auto paren = fk.definition.find('(', ref);
      if (ref != std::string::npos && paren != std::string::npos) {
        std::string target = fk.definition.substr(ref + 11, paren - ref - 11);
        std::string not_null, match;
        for (std::size_t i = 0; i < fk.columns.size(); ++i) {
          not_null += fmt::format("{}fk.{} IS NOT NULL", i ? " AND " : "", q(fk.columns[i]));
          match += fmt::format("{}r.{} = fk.{}", i ? " AND " : "", q(fk.referenced_columns[i]), q(fk.columns[i]));
        }
        s.push_back(fmt::format("DELETE FROM {} AS fk WHERE {} AND NOT EXISTS (SELECT 1 FROM {} AS r WHERE {})",
                                q(fk.table), not_null, target, match));
      }
    }
    s.push_back(fmt::format("ALTER TABLE {} ADD CONSTRAINT {} {}", q(fk.table), q(fk.name), fk.definition));
  }
}

}  // namespace

std::vector<std::string> promotion_statements(const std::vector<PromotedTable>& tables,
                                              const std::optional<std::string>& keep_schema) {
  std::vector<std::string> s;
  std::set<std::string> refreshed;
  std::vector<const TableSchema*> schemas;
  for (const auto& t : tables) {
    refreshed.insert(t.live.table);
    schemas.push_back(&t.live);
  }
  const auto fks = involved_foreign_keys(schemas);
  for (const auto& fk : fks) s.push_back(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", q(fk.table), q(fk.name)));
  if (keep_schema) s.push_back("CREATE SCHEMA IF NOT EXISTS " + q(*keep_schema));
  for (const auto& t : tables) {
    // Kept: the table moves with its indexes, constraints and owned id sequence, whose names then
    // no longer clash with the promoted copy's.
    s.push_back(keep_schema ? fmt::format("ALTER TABLE {} SET SCHEMA {}", q(t.live.table), q(*keep_schema))
                            : "DROP TABLE " + q(t.live.table));
  }
  for (const auto& t : tables) {
    s.push_back(fmt::format("ALTER TABLE {} RENAME TO {}", q(t.temp_table), q(t.live.table)));
    if (t.live.id_sequence) {
      std::string seq = *t.live.id_sequence;
      if (auto dot = seq.rfind('.'); dot != std::string::npos) seq = seq.substr(dot + 1);
      if (!seq.empty() && seq.front() == '"') seq = seq.substr(1, seq.size() - 2);
      s.push_back(fmt::format("ALTER SEQUENCE IF EXISTS {} RENAME TO {}", q(t.temp_table + "_id_seq"), q(seq)));
    }
    if (t.live.primary_key) {
      s.push_back(fmt::format("ALTER TABLE {} RENAME CONSTRAINT {} TO {}", q(t.live.table), q(t.temp_table + "_pkey"),
                              q(*t.live.primary_key)));
    }
    for (const auto& r : t.renames) {
      if (r.kind == "index") {
        s.push_back(fmt::format("ALTER INDEX {} RENAME TO {}", q(r.temp_name), q(r.name)));
      } else {
        s.push_back(fmt::format("ALTER TABLE {} RENAME CONSTRAINT {} TO {}", q(t.live.table), q(r.temp_name), q(r.name)));
      }
    }
  }
  recreate_foreign_keys(s, fks, refreshed);
  return s;
}

std::vector<std::string> restore_statements(const std::vector<TableSchema>& live, const std::string& kept_schema,
                                            const std::string& live_schema) {
  std::vector<std::string> s;
  std::set<std::string> refreshed;
  std::vector<const TableSchema*> schemas;
  for (const auto& t : live) {
    refreshed.insert(t.table);
    schemas.push_back(&t);
  }
  const auto fks = involved_foreign_keys(schemas);
  for (const auto& fk : fks) s.push_back(fmt::format("ALTER TABLE {} DROP CONSTRAINT {}", q(fk.table), q(fk.name)));
  for (const auto& t : live) s.push_back("DROP TABLE " + q(t.table));
  for (const auto& t : live)
    s.push_back(fmt::format("ALTER TABLE {}.{} SET SCHEMA {}", q(kept_schema), q(t.table), q(live_schema)));
  recreate_foreign_keys(s, fks, refreshed);
  return s;
}

}  // namespace datarefresh::coordinator
