#include "core/refresh/incremental.h"

#include <cstdint>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/refresh/naming.h"

namespace datarefresh::refresh {
namespace {

std::string in_ledger_schema(const std::string& name) {
  return "datarefresh." + pg::Identifier(name, "table name").quoted();
}

std::string short_suffix(const std::string& refresh_id) {
  return refresh_names("x", refresh_id).suffix.substr(0, 12);
}

}  // namespace

BaselineTables baseline_tables(const std::string& table) {
  return {in_ledger_schema("rowhash_" + table), in_ledger_schema("sensitive_" + table)};
}

BaselineTables snapshot_tables(const std::string& table, const std::string& refresh_id) {
  const auto s = short_suffix(refresh_id);
  return {in_ledger_schema("snap_" + table + "_" + s), in_ledger_schema("snapsens_" + table + "_" + s)};
}

std::string stage_table(const std::string& table, const std::string& refresh_id) {
  return in_ledger_schema("stage_" + table + "_" + short_suffix(refresh_id));
}

std::vector<std::string> promote_baseline_sql(const std::string& table, const std::string& refresh_id) {
  const auto base = baseline_tables(table);
  const auto snap = snapshot_tables(table, refresh_id);
  return {"DROP TABLE IF EXISTS " + base.row_hashes,
          "ALTER TABLE " + snap.row_hashes + " RENAME TO " + pg::Identifier("rowhash_" + table).quoted(),
          "DROP TABLE IF EXISTS " + base.sensitive,
          "ALTER TABLE " + snap.sensitive + " RENAME TO " + pg::Identifier("sensitive_" + table).quoted()};
}

std::string drop_refresh_tables_sql(const std::string& table, const std::string& refresh_id) {
  const auto snap = snapshot_tables(table, refresh_id);
  return fmt::format("DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {};",
                     snap.row_hashes, snap.sensitive, stage_table(table, refresh_id),
                     delete_table(pg::Identifier(table, "table name")).quoted());
}

std::string row_hash_sql(const std::vector<std::string>& quoted_columns) {
  std::vector<std::string> cols;
  for (const auto& c : quoted_columns) cols.push_back("u." + c);
  return fmt::format("hashtextextended(ROW({})::text, 0)", fmt::join(cols, ", "));
}

std::vector<std::pair<std::string, std::string>> row_text_settings() {
  return {{"TimeZone", "UTC"},       {"DateStyle", "ISO, YMD"}, {"IntervalStyle", "postgres"},
          {"extra_float_digits", "1"}, {"bytea_output", "hex"}};
}

std::string fingerprint(std::string_view text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

nlohmann::json Baseline::to_json() const {
  return {{"watermark", watermark},
          {"index_settings", index_settings},
          {"tag_rules", tag_rules},
          {"sensitive_terms", sensitive_terms}};
}

Baseline Baseline::from_json(const nlohmann::json& j) {
  Baseline b;
  b.watermark = j.value("watermark", "");
  b.index_settings = j.value("index_settings", "");
  b.tag_rules = j.value("tag_rules", "");
  b.sensitive_terms = j.value("sensitive_terms", "");
  return b;
}

}  // namespace datarefresh::refresh
