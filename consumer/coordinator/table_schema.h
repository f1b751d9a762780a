#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/pg/database.h"

namespace datarefresh::coordinator {

struct IndexDefinition {
  std::string name;
  std::string definition;  // pg_get_indexdef
  bool operator==(const IndexDefinition&) const = default;
};

struct ConstraintDefinition {
  std::string name;
  char type = 'u';         // pg_constraint.contype: u unique, c check, x exclusion, f foreign key
  std::string table;       // the table the constraint is on
  std::string definition;  // pg_get_constraintdef
  std::vector<std::string> columns;             // for foreign keys: the referencing columns
  std::vector<std::string> referenced_columns;  // for foreign keys: the referenced columns
  bool operator==(const ConstraintDefinition&) const = default;
};

// What a live table has besides its rows, read from the catalog before promotion so that the
// promoted copy gets exactly the same indexes and constraints under the same names.
struct TableSchema {
  std::string table;
  std::optional<std::string> primary_key;   // constraint name, e.g. image_pkey
  std::optional<std::string> id_sequence;   // e.g. public.image_id_seq
  std::vector<IndexDefinition> indexes;     // indexes that back no constraint
  std::vector<ConstraintDefinition> constraints;  // unique / check / exclusion on the table
  std::vector<ConstraintDefinition> foreign_keys; // foreign keys declared on the table
  std::vector<ConstraintDefinition> referencing;  // foreign keys of other tables pointing at it
  bool operator==(const TableSchema&) const = default;
};

TableSchema read_table_schema(pg::Database& db, const std::string& table);

nlohmann::json to_json(const TableSchema& s);
TableSchema table_schema_from_json(const nlohmann::json& j);

// A reapplied index or constraint: created on the temp table under `temp_name`, renamed to
// `name` at promotion.
struct Reapplied {
  std::string kind;  // "index" | "constraint"
  std::string temp_name;
  std::string name;
};

// The statement that recreates `index` on `temp_table` as `temp_name` (IF NOT EXISTS).
std::string reapply_index_sql(const IndexDefinition& index, const std::string& temp_table, const std::string& temp_name);

// Creates the live table's indexes and constraints on its temp copy under temporary names,
// skipping those already there, so that running it again after a crash is harmless. Foreign keys
// are left to the promotion transaction. Returns the renames promotion must do.
std::vector<Reapplied> reapply_schema(pg::Database& db, const TableSchema& live, const std::string& temp_table,
                                      const std::string& name_prefix);

struct PromotedTable {
  TableSchema live;  // as read before promotion
  std::string temp_table;
  std::vector<Reapplied> renames;
};

// The promotion, as statements for ONE transaction: foreign keys pointing at the live tables are
// dropped, the live tables dropped, the temp tables (and their id sequences, primary keys,
// indexes and constraints) renamed to the live names, then every foreign key recreated from its
// recorded definition after deleting the rows it would reject (media absent from the new copy).
// With `keep_schema`, the live tables are moved into that schema instead of dropped (what
// refresh.keep_previous keeps for a rollback).
std::vector<std::string> promotion_statements(const std::vector<PromotedTable>& tables,
                                              const std::optional<std::string>& keep_schema = std::nullopt);

// A rollback of a full refresh, as statements for ONE transaction: the live tables (`live`, read
// now) are dropped and the kept ones moved back from `kept_schema` into `live_schema`, with their
// indexes, constraints and id sequences; foreign keys are dropped and recreated as a promotion
// does, after deleting the rows they would reject.
std::vector<std::string> restore_statements(const std::vector<TableSchema>& live, const std::string& kept_schema,
                                            const std::string& live_schema);

}  // namespace datarefresh::coordinator
