#include "core/refresh/incremental.h"

#include <algorithm>
#include <cmath>
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

const char* const kBaselinePrefixes[] = {"rowversion_", "rowbucket_", "sensitive_", "deleted_"};

}  // namespace

BaselineTables baseline_tables(const std::string& table) {
  return {in_ledger_schema("rowversion_" + table), in_ledger_schema("rowbucket_" + table),
          in_ledger_schema("sensitive_" + table), in_ledger_schema("deleted_" + table)};
}

BaselineTables snapshot_tables(const std::string& table, const std::string& refresh_id) {
  const auto s = "_" + short_suffix(refresh_id);
  return {in_ledger_schema("snapver_" + table + s), in_ledger_schema("snapbkt_" + table + s),
          in_ledger_schema("snapsens_" + table + s), in_ledger_schema("snapdel_" + table + s)};
}

std::string stage_table(const std::string& table, const std::string& refresh_id) {
  return in_ledger_schema("stage_" + table + "_" + short_suffix(refresh_id));
}

std::string legacy_row_hashes_table(const std::string& table) {
  return in_ledger_schema("rowhash_" + table);
}

std::vector<std::string> promote_baseline_sql(const std::string& table, const std::string& refresh_id, bool incremental,
                                              int bucket_bits) {
  const auto base = baseline_tables(table);
  const auto snap = snapshot_tables(table, refresh_id);
  std::vector<std::string> out{"DROP TABLE IF EXISTS " + legacy_row_hashes_table(table)};
  if (incremental) {
    // The mismatched buckets' rows were all read again: theirs replace the baseline's, and so do
    // the recent rows' versions. The snapshot's buckets already count the recent rows.
    // Only what differs is written: most rows of a mismatched bucket did not change.
    out.push_back(
        fmt::format("DELETE FROM {} AS v USING (SELECT {} AS lo, {} AS hi FROM {} WHERE mismatched) AS m "
                    "WHERE v.identifier BETWEEN m.lo AND m.hi AND NOT EXISTS (SELECT 1 FROM {} AS s WHERE "
                    "s.identifier = v.identifier)",
                    base.versions, bucket_low_sql("bucket", bucket_bits), bucket_high_sql("bucket", bucket_bits),
                    snap.buckets, snap.versions));
    out.push_back(
        fmt::format("INSERT INTO {} AS v (identifier, version, recent) SELECT identifier, version, recent FROM {} "
                    "ON CONFLICT (identifier) DO UPDATE SET version = EXCLUDED.version, recent = EXCLUDED.recent "
                    "WHERE v.version IS DISTINCT FROM EXCLUDED.version",
                    base.versions, snap.versions));
    out.push_back("DROP TABLE " + snap.versions);
  } else {
    out.push_back("DROP TABLE IF EXISTS " + base.versions);
    out.push_back("ALTER TABLE " + snap.versions + " RENAME TO " + pg::Identifier("rowversion_" + table).quoted());
  }
  const std::pair<std::string, std::string> renamed[] = {
      {snap.buckets, "rowbucket_"}, {snap.sensitive, "sensitive_"}, {snap.deleted, "deleted_"}};
  for (const auto& [from, prefix] : renamed) {
    out.push_back("DROP TABLE IF EXISTS " + in_ledger_schema(prefix + table));
    out.push_back("ALTER TABLE " + from + " RENAME TO " + pg::Identifier(prefix + table).quoted());
  }
  return out;
}

std::vector<std::string> drop_baseline_sql(const std::string& table) {
  std::vector<std::string> out{"DROP TABLE IF EXISTS " + legacy_row_hashes_table(table)};
  for (const char* prefix : kBaselinePrefixes)
    out.push_back("DROP TABLE IF EXISTS " + in_ledger_schema(prefix + table));
  return out;
}

std::string drop_refresh_tables_sql(const std::string& table, const std::string& refresh_id) {
  const auto snap = snapshot_tables(table, refresh_id);
  return fmt::format(
      "DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE IF EXISTS {}; DROP TABLE "
      "IF EXISTS {}; DROP TABLE IF EXISTS {};",
      snap.versions, snap.buckets, snap.sensitive, snap.deleted, stage_table(table, refresh_id),
      delete_table(pg::Identifier(table, "table name")).quoted());
}

std::string row_version_sql(const std::string& xmin_expr) {
  return "(" + xmin_expr + ")::text::bigint";
}

std::string version_hash_sql(const std::string& identifier_expr, const std::string& version_expr) {
  return "uuid_hash_extended(" + identifier_expr + ", " + version_expr + ")";
}

std::string bucket_totals_sql(const std::string& versions, int bits) {
  return fmt::format("SELECT {}, count(*), bit_xor({}) FROM {} GROUP BY 1", bucket_sql("identifier", bits),
                     version_hash_sql("identifier", "version"), versions);
}

std::string bucket_sql(const std::string& identifier_expr, int bits) {
  return fmt::format("((('x' || substr(({})::text, 1, 8))::bit(32)::bigint >> {})::integer)", identifier_expr,
                     32 - bits);
}

std::string bucket_low_sql(const std::string& bucket_expr, int bits) {
  return fmt::format("(lpad(to_hex(({})::bigint << {}), 8, '0') || '-0000-0000-0000-000000000000')::uuid", bucket_expr,
                     32 - bits);
}

std::string bucket_high_sql(const std::string& bucket_expr, int bits) {
  return fmt::format("(lpad(to_hex(((({})::bigint + 1) << {}) - 1), 8, '0') || '-ffff-ffff-ffff-ffffffffffff')::uuid",
                     bucket_expr, 32 - bits);
}

std::string bucket_low(std::int64_t b, int bits) {
  return fmt::format("{:08x}-0000-0000-0000-000000000000", static_cast<std::uint64_t>(b) << (32 - bits));
}

std::string bucket_high(std::int64_t b, int bits) {
  return fmt::format("{:08x}-ffff-ffff-ffff-ffffffffffff", ((static_cast<std::uint64_t>(b) + 1) << (32 - bits)) - 1);
}

int choose_bucket_bits(double rows) {
  const double buckets = std::max(1.0, rows / 16.0);
  return std::clamp(static_cast<int>(std::ceil(std::log2(buckets))), 8, 26);
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
  return {{"watermark", watermark},     {"index_settings", index_settings},
          {"tag_rules", tag_rules},     {"sensitive_terms", sensitive_terms},
          {"bucket_bits", bucket_bits}, {"complete", complete}};
}

Baseline Baseline::from_json(const nlohmann::json& j) {
  Baseline b;
  b.watermark = j.value("watermark", "");
  b.index_settings = j.value("index_settings", "");
  b.tag_rules = j.value("tag_rules", "");
  b.sensitive_terms = j.value("sensitive_terms", "");
  b.bucket_bits = j.value("bucket_bits", 0);
  b.complete = j.value("complete", true);
  return b;
}

}  // namespace datarefresh::refresh
