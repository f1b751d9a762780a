#include "core/refresh/status_view.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace datarefresh::refresh {
namespace {

nlohmann::json or_null(const std::optional<std::string>& v) { return v ? nlohmann::json(*v) : nlohmann::json(); }

}  // namespace

nlohmann::json run_changes(const ledger::Run& run) {
  if (run.status != ledger::RunStatus::kCompleted || !run.report.is_object()) return nullptr;
  auto it = run.report.find("changes");
  if (it == run.report.end() || !it->is_object()) return nullptr;
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"created", "updated", "deleted", "reflagged"}) out[key] = it->value(key, std::int64_t{0});
  return out;
}

std::string changes_text(const nlohmann::json& changes) {
  if (!changes.is_object()) return {};
  return fmt::format("created {}, updated {}, deleted {}, re-flagged {}", changes.value("created", std::int64_t{0}),
                     changes.value("updated", std::int64_t{0}), changes.value("deleted", std::int64_t{0}),
                     changes.value("reflagged", std::int64_t{0}));
}

std::string mode_text(const ledger::Run& run) {
  if (!run.mode_reason) return run.mode;
  return fmt::format("{} (auto: {})", run.mode, *run.mode_reason);
}

ShardTotals shard_totals(const std::vector<ledger::ShardRecord>& shards) {
  ShardTotals t;
  for (const auto& s : shards) {
    ++t.total;
    switch (s.status) {
      case ledger::ShardStatus::kPending: ++t.pending; break;
      case ledger::ShardStatus::kRunning: ++t.running; break;
      case ledger::ShardStatus::kCompleted: ++t.completed; break;
      case ledger::ShardStatus::kFailed: ++t.failed; break;
    }
    if (s.attempt > 1) ++t.retried;
    if (s.status == ledger::ShardStatus::kRunning && s.waiting) {
      ++t.waiting;
      t.waiting_for = *s.waiting;
    }
    t.counts.rows_read += s.counts.rows_read;
    t.counts.indexed += s.counts.indexed;
    t.counts.skipped_deleted += s.counts.skipped_deleted;
    t.counts.skipped_removed += s.counts.skipped_removed;
    t.counts.dead_lettered += s.counts.dead_lettered;
  }
  return t;
}

nlohmann::json refresh_summary_json(const ledger::Run& run) {
  return {{"refresh_id", run.refresh_id},
          {"media_type", run.media_type},
          {"status", std::string(ledger::to_string(run.status))},
          {"phase", run.phase},
          {"mode", run.mode},
          {"mode_reason", or_null(run.mode_reason)},
          {"requested_by", run.requested_by},
          {"options", run.options},
          {"created_at", run.created_at},
          {"updated_at", run.updated_at},
          {"finished_at", or_null(run.finished_at)},
          {"cancel_requested_at", or_null(run.cancel_requested_at)},
          {"cancel_requested_by", or_null(run.cancel_requested_by)},
          {"error", or_null(run.error)}};
}

nlohmann::json refresh_status_json(const ledger::Run& run, const std::vector<ledger::ShardRecord>& shards,
                                   std::optional<double> indexing_seconds, const std::optional<CopyProgress>& copy) {
  auto j = refresh_summary_json(run);
  auto t = shard_totals(shards);
  const std::int64_t expected = run.expected_rows.value_or(0);
  const bool indexing = run.status == ledger::RunStatus::kRunning && run.phase == "indexing";
  const bool indexed_all = run.status == ledger::RunStatus::kCompleted ||
                           (run.status == ledger::RunStatus::kRunning && t.total > 0 && t.completed == t.total);
  double percent = 0;
  if (indexed_all) {
    percent = 100;
  } else if (expected > 0) {
    percent = std::min(100.0, 100.0 * static_cast<double>(t.counts.rows_read) / static_cast<double>(expected));
  }
  nlohmann::json rate = nullptr, eta = nullptr;
  if (indexing && indexing_seconds && *indexing_seconds > 0) {
    double rows_per_s = static_cast<double>(t.counts.rows_read) / *indexing_seconds;
    rate = std::round(static_cast<double>(t.counts.indexed) / *indexing_seconds * 10) / 10;
    if (rows_per_s > 0) eta = std::ceil(static_cast<double>(std::max<std::int64_t>(0, expected - t.counts.rows_read)) / rows_per_s);
  }
  j["shards"] = {{"total", t.total},         {"completed", t.completed}, {"running", t.running},
                 {"pending", t.pending},     {"failed", t.failed},       {"retried", t.retried},
                 {"waiting", t.waiting}};
  // Running shards the search engine refuses transiently (unreachable, 429s, an index block): they
  // retry until search.bulk.deadline; null when none waits.
  j["waiting_for_engine"] = t.waiting > 0 ? nlohmann::json{{"shards", t.waiting}, {"reason", t.waiting_for}}
                                          : nlohmann::json();
  j["documents"] = {{"indexed", t.counts.indexed},
                    {"rows_read", t.counts.rows_read},
                    {"expected", run.expected_rows ? nlohmann::json(*run.expected_rows) : nlohmann::json()},
                    {"dead_lettered", t.counts.dead_lettered},
                    {"skipped_deleted", t.counts.skipped_deleted},
                    {"skipped_removed", t.counts.skipped_removed}};
  j["percent"] = std::round(percent * 10) / 10;
  j["documents_per_second"] = rate;
  j["eta_seconds"] = eta;
  const bool copying = run.status == ledger::RunStatus::kRunning && run.phase == "copying";
  j["copy"] = copying && copy ? copy_progress_json(*copy) : nlohmann::json();
  j["shard_jobs"] = indexing ? run.shard_jobs : nlohmann::json();
  auto errors = nlohmann::json::array();
  if (run.error) errors.push_back({{"scope", "refresh"}, {"error", *run.error}});
  for (const auto& s : shards) {
    if (s.error) errors.push_back({{"scope", "shard"}, {"shard", s.shard}, {"attempt", s.attempt}, {"error", *s.error}});
  }
  j["errors"] = errors;
  j["indices"] = {{"new", or_null(run.new_index)},
                  {"filtered", or_null(run.filtered_index)},
                  {"old", or_null(run.old_index)},
                  {"old_filtered", or_null(run.old_filtered_index)}};
  j["report"] = run.status == ledger::RunStatus::kCompleted ? run.report : nlohmann::json();
  j["changes"] = run_changes(run);
  return j;
}

nlohmann::json shards_json(const std::vector<ledger::ShardRecord>& shards) {
  auto out = nlohmann::json::array();
  for (const auto& s : shards) {
    out.push_back({{"shard", s.shard},
                   {"status", std::string(ledger::to_string(s.status))},
                   {"attempt", s.attempt},
                   {"rows_read", s.counts.rows_read},
                   {"indexed", s.counts.indexed},
                   {"dead_lettered", s.counts.dead_lettered},
                   {"worker", or_null(s.worker)},
                   {"error", or_null(s.error)}});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a["shard"] < b["shard"]; });
  return out;
}

std::string shard_jobs_text(const nlohmann::json& shard_jobs) {
  if (!shard_jobs.is_object() || shard_jobs.value("waiting", 0) == 0) return {};
  const auto waiting = shard_jobs.value("waiting", 0);
  const auto state = shard_jobs.value("state", "");
  if (state == "not_consumed") {
    return fmt::format("{} jobs NOT CONSUMED for {}s: no indexer is taking shard jobs", waiting,
                       shard_jobs.value("idle_seconds", std::int64_t{0}));
  }
  std::string text = fmt::format("{} jobs queued ({} ahead)", shard_jobs.value("queued", 0),
                                 shard_jobs.value("jobs_ahead", std::int64_t{0}));
  if (shard_jobs.value("lost", 0) > 0) {
    text += fmt::format(", {} lost (the indexers' group passed them)", shard_jobs.value("lost", 0));
  }
  return text;
}

}  // namespace datarefresh::refresh
