#include "core/refresh/kept_generation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/common/duration.h"
#include "core/pg/identifier.h"
#include "core/refresh/naming.h"
#include "core/refresh/rollback.h"
#include "core/refresh/run_control.h"

namespace datarefresh::refresh {
namespace {

constexpr const char* kKeptColumns =
    "media_type, refresh_id::text, mode, index_name, filtered_index, live_schema, tables::text, "
    "to_char(kept_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), "
    "to_char(kept_until AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), kept_until <= now()";

std::vector<KeptGeneration> read(const pg::ResultSet& rs) {
  std::vector<KeptGeneration> out;
  for (const auto& r : rs.rows) {
    KeptGeneration k;
    k.media_type = r[0].value_or("");
    k.refresh_id = r[1].value_or("");
    k.mode = r[2].value_or("full");
    k.index = r[3];
    k.filtered_index = r[4];
    k.live_schema = r[5].value_or("public");
    k.tables = nlohmann::json::parse(r[6].value_or("[]")).get<std::vector<std::string>>();
    k.kept_at = r[7].value_or("");
    k.kept_until = r[8].value_or("");
    k.expired = r[9].value_or("f") == "t";
    out.push_back(std::move(k));
  }
  return out;
}

std::string kept_name(const std::string& table, std::string_view suffix) {
  return pg::Identifier(kKeptSchema).quoted() + "." + pg::Identifier(table, "table name").with_suffix(suffix).quoted();
}

}  // namespace

nlohmann::json KeptGeneration::to_json() const {
  return {{"refresh_id", refresh_id},
          {"mode", mode},
          {"index", index ? nlohmann::json(*index) : nlohmann::json()},
          {"filtered_index", filtered_index ? nlohmann::json(*filtered_index) : nlohmann::json()},
          {"tables", tables},
          {"kept_at", kept_at},
          {"kept_until", kept_until},
          {"expired", expired}};
}

std::string kept_table(const std::string& table) {
  return kept_name(table, "");
}
std::string added_rows_table(const std::string& table) {
  return kept_name(table, "__added");
}

std::optional<KeptGeneration> read_kept(pg::Database& db, const std::string& media_type) {
  auto all = read(db.exec_params(std::string("SELECT ") + kKeptColumns + " FROM datarefresh.kept WHERE media_type = $1",
                                 {media_type}));
  if (all.empty()) return std::nullopt;
  return all.front();
}

std::vector<KeptGeneration> read_all_kept(pg::Database& db) {
  return read(db.exec(std::string("SELECT ") + kKeptColumns + " FROM datarefresh.kept ORDER BY media_type"));
}

std::vector<std::string> discard_kept_sql(const config::MediaTypeConfig& media) {
  std::vector<std::string> out;
  for (const auto& t : refreshed_tables(media)) out.push_back("DROP TABLE IF EXISTS " + kept_table(t) + " CASCADE");
  out.push_back("DROP TABLE IF EXISTS " + added_rows_table(media.table));
  out.push_back("DELETE FROM datarefresh.kept WHERE media_type = " + pg::quote_literal(media.name));
  return out;
}

std::string record_kept_sql(const config::MediaTypeConfig& media, const std::string& refresh_id,
                            const std::string& mode, const std::optional<std::string>& index,
                            const std::optional<std::string>& filtered_index, const std::string& live_schema,
                            Duration keep) {
  auto literal_or_null = [](const std::optional<std::string>& v) {
    return v ? pg::quote_literal(*v) : std::string("NULL");
  };
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(keep).count();
  return fmt::format(
      "INSERT INTO datarefresh.kept (media_type, refresh_id, mode, index_name, filtered_index, live_schema, tables, "
      "kept_until) VALUES ({}, {}::uuid, {}, {}, {}, {}, {}::jsonb, now() + {} * interval '1 millisecond')",
      pg::quote_literal(media.name), pg::quote_literal(refresh_id), pg::quote_literal(mode), literal_or_null(index),
      literal_or_null(filtered_index), pg::quote_literal(live_schema),
      pg::quote_literal(nlohmann::json(refreshed_tables(media)).dump()), millis);
}

std::vector<std::string> keep_incremental_sql(const config::MediaTypeConfig& media, const std::string& temp,
                                              const std::string& deletes) {
  const auto live = pg::Identifier(media.table, "table name").quoted();
  std::vector<std::string> out{"CREATE SCHEMA IF NOT EXISTS " + pg::Identifier(kKeptSchema).quoted()};
  out.push_back(
      fmt::format("CREATE TABLE {} AS SELECT l.* FROM {} AS l WHERE l.id IN (SELECT id FROM {} UNION ALL "
                  "SELECT id FROM {})",
                  kept_table(media.table), live, temp, deletes));
  out.push_back(
      fmt::format("CREATE TABLE {} AS SELECT t.id FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS l "
                  "WHERE l.id = t.id)",
                  added_rows_table(media.table), temp, live));
  for (const auto& extra : media.extra_tables) {
    out.push_back(fmt::format("CREATE TABLE {} AS SELECT * FROM {}", kept_table(extra.downstream),
                              pg::Identifier(extra.downstream, "table name").quoted()));
  }
  return out;
}

std::string live_schema_of(pg::Database& db, const config::MediaTypeConfig& media) {
  return db
      .query_value(
          "SELECT n.nspname FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = "
          "to_regclass($1)",
          {pg::Identifier(media.table, "table name").quoted()})
      .value_or("public");
}

std::vector<std::string> kept_problems(pg::Database& db, search::Client& search, const KeptGeneration& kept,
                                       bool filtered_index_enabled) {
  std::vector<std::string> problems;
  if (kept.expired) problems.push_back("its time ran out at " + kept.kept_until + " (refresh.keep_previous)");
  auto index_there = [&](const std::optional<std::string>& index, const char* what) {
    if (!index) {
      problems.push_back(fmt::format("the previous {} index was not recorded (there was none)", what));
      return;
    }
    auto exists = search.index_exists(*index);
    if (!exists.ok()) {
      problems.push_back(fmt::format("checking the previous {} index {}: {}", what, *index, exists.error().describe()));
    } else if (!exists.value()) {
      problems.push_back(fmt::format("the previous {} index {} is gone", what, *index));
    }
  };
  index_there(kept.index, "main");
  if (filtered_index_enabled) index_there(kept.filtered_index, "filtered");
  std::vector<std::string> tables;
  for (const auto& t : kept.tables) tables.push_back(kept_table(t));
  if (kept.mode == "incremental" && !kept.tables.empty()) tables.push_back(added_rows_table(kept.tables.front()));
  for (const auto& t : tables) {
    if (!db.query_value("SELECT to_regclass($1)::text", {t})) problems.push_back("the kept table " + t + " is gone");
  }
  return problems;
}

std::optional<std::string> rollback_refusal(pg::Database& db, search::Client& search, const config::Config& config,
                                            const config::MediaTypeConfig& media) {
  auto kept = read_kept(db, media.name);
  if (!kept) {
    return fmt::format(
        "nothing of {} is kept to roll back to: a promotion keeps the previous generation for refresh.keep_previous "
        "(now {}), and none is kept now (none was promoted since it was set, it expired, or it was restored already)",
        media.name, format_duration(config.refresh.keep_previous));
  }
  auto problems = kept_problems(db, search, *kept, config.refresh.filtered_index.enabled);
  if (!problems.empty()) {
    return fmt::format("the generation of {} kept by refresh {} cannot be restored: {}", media.name, kept->refresh_id,
                       fmt::join(problems, "; "));
  }
  return std::nullopt;
}

std::optional<std::string> rollback_request_refusal(pg::Database& db, search::Client& search,
                                                    const config::Config& config,
                                                    const config::MediaTypeConfig& media) {
  ledger::Ledger ledger(db);
  if (auto run = running_in_scope(ledger, config, media.name)) {
    return fmt::format("{} {} of {} is running (phase {}): roll back when it has ended", run->mode, run->refresh_id,
                       run->media_type, run->phase);
  }
  return rollback_refusal(db, search, config, media);
}

std::vector<std::string> delete_kept(pg::Database& db, search::Client& search, const config::MediaTypeConfig& media,
                                     const KeptGeneration& kept) {
  std::vector<std::string> problems;
  for (const auto& index : {kept.index, kept.filtered_index}) {
    if (!index) continue;
    auto aliases = search.get_index_aliases(*index);
    if (!aliases.ok()) {
      if (aliases.error().http_status != 404) problems.push_back("index " + *index + ": " + aliases.error().describe());
      continue;
    }
    if (!serving_aliases(aliases.value(), *index).empty()) continue;  // live again: not ours to delete
    auto deleted = search.delete_index(*index);
    if (!deleted.ok() && deleted.error().http_status != 404) {
      problems.push_back("deleting index " + *index + ": " + deleted.error().describe());
    }
  }
  if (!problems.empty()) return problems;  // the record stays, so the indices are tried again
  db.transact([&](pg::Database& tx) {
    // Only the generation read: a promotion may have replaced it meanwhile.
    auto mine =
        tx.query_value("SELECT 1 FROM datarefresh.kept WHERE media_type = $1 AND refresh_id = $2::uuid FOR UPDATE",
                       {media.name, kept.refresh_id});
    if (!mine) return;
    for (const auto& s : discard_kept_sql(media)) tx.exec(s);
  });
  return problems;
}

}  // namespace datarefresh::refresh
