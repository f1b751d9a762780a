#include "core/ledger/ledger.h"

#include <array>

#include "core/common/error.h"
#include "core/ledger/ledger_sql.h"

namespace datarefresh::ledger {
namespace {

using pg::SqlParam;

constexpr const char* kRunColumns = R"SQL(
  refresh_id::text, request_id::text, media_type, environment, lock_scope, status, phase, requested_by,
  options::text, new_index, filtered_index, old_index, old_filtered_index, alias, filtered_alias,
  id_min, id_max, shard_count, expected_rows, rows_copied, tags_rows_changed, tags_removed, report::text,
  error, holder_refresh_id::text,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created_at,
  to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS updated_at,
  to_char(finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS finished_at,
  to_char(cancel_requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS cancel_requested_at,
  cancel_requested_by, shard_jobs::text, mode, mode_reason)SQL";

struct UpdatableColumn {
  std::string_view name;
  std::string_view type;
};

constexpr std::array<UpdatableColumn, 18> kUpdatable = {{
    {"new_index", "text"},         {"filtered_index", "text"},     {"old_index", "text"},
    {"old_filtered_index", "text"}, {"alias", "text"},             {"filtered_alias", "text"},
    {"id_min", "bigint"},          {"id_max", "bigint"},           {"shard_count", "integer"},
    {"expected_rows", "bigint"},   {"rows_copied", "bigint"},      {"tags_rows_changed", "bigint"},
    {"tags_removed", "bigint"},    {"report", "jsonb"},            {"error", "text"},
    {"shard_jobs", "jsonb"},       {"mode", "text"},               {"mode_reason", "text"},
}};

std::optional<std::int64_t> opt_int(const std::optional<std::string>& v) {
  if (!v) return std::nullopt;
  return std::stoll(*v);
}

Run read_run(const pg::ResultSet& rs, std::size_t i) {
  const auto& r = rs.rows[i];
  auto at = [&](const char* name) -> const std::optional<std::string>& { return r[rs.column(name)]; };
  Run run;
  run.refresh_id = at("refresh_id").value_or("");
  run.request_id = at("request_id").value_or("");
  run.media_type = at("media_type").value_or("");
  run.environment = at("environment").value_or("");
  run.lock_scope = at("lock_scope").value_or("");
  run.status = parse_run_status(at("status").value_or("running"));
  run.phase = at("phase").value_or("");
  run.requested_by = at("requested_by").value_or("");
  run.options = nlohmann::json::parse(at("options").value_or("{}"));
  run.new_index = at("new_index");
  run.filtered_index = at("filtered_index");
  run.old_index = at("old_index");
  run.old_filtered_index = at("old_filtered_index");
  run.alias = at("alias");
  run.filtered_alias = at("filtered_alias");
  run.id_min = opt_int(at("id_min"));
  run.id_max = opt_int(at("id_max"));
  if (auto n = opt_int(at("shard_count"))) run.shard_count = static_cast<std::int32_t>(*n);
  run.expected_rows = opt_int(at("expected_rows"));
  run.rows_copied = opt_int(at("rows_copied"));
  run.tags_rows_changed = opt_int(at("tags_rows_changed"));
  run.tags_removed = opt_int(at("tags_removed"));
  if (at("report")) run.report = nlohmann::json::parse(*at("report"));
  run.error = at("error");
  run.holder_refresh_id = at("holder_refresh_id");
  run.created_at = at("created_at").value_or("");
  run.updated_at = at("updated_at").value_or("");
  run.finished_at = at("finished_at");
  run.cancel_requested_at = at("cancel_requested_at");
  run.cancel_requested_by = at("cancel_requested_by");
  if (at("shard_jobs")) run.shard_jobs = nlohmann::json::parse(*at("shard_jobs"));
  run.mode = at("mode").value_or("full");
  run.mode_reason = at("mode_reason");
  return run;
}

std::vector<Run> read_runs(const pg::ResultSet& rs) {
  std::vector<Run> out;
  for (std::size_t i = 0; i < rs.size(); ++i) out.push_back(read_run(rs, i));
  return out;
}

SqlParam num(std::int64_t v) { return std::to_string(v); }

// $1..$8 of the statements that record a shard's counts.
std::vector<SqlParam> counts_params(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt,
                                    const ShardCounts& c) {
  return {refresh_id,          num(shard),        num(attempt), num(c.rows_read), num(c.indexed), num(c.skipped_deleted),
          num(c.skipped_removed), num(c.dead_lettered)};
}

}  // namespace

std::string_view to_string(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning: return "running";
    case RunStatus::kCompleted: return "completed";
    case RunStatus::kFailed: return "failed";
    case RunStatus::kRefused: return "refused";
    case RunStatus::kCancelled: return "cancelled";
  }
  return "running";
}

std::string_view to_string(ShardStatus s) {
  switch (s) {
    case ShardStatus::kPending: return "pending";
    case ShardStatus::kRunning: return "running";
    case ShardStatus::kCompleted: return "completed";
    case ShardStatus::kFailed: return "failed";
  }
  return "pending";
}

RunStatus parse_run_status(std::string_view s) {
  for (auto v : {RunStatus::kRunning, RunStatus::kCompleted, RunStatus::kFailed, RunStatus::kRefused, RunStatus::kCancelled}) {
    if (to_string(v) == s) return v;
  }
  throw InvariantError("ledger: unknown run status '" + std::string(s) + "'");
}

ShardStatus parse_shard_status(std::string_view s) {
  for (auto v : {ShardStatus::kPending, ShardStatus::kRunning, ShardStatus::kCompleted, ShardStatus::kFailed}) {
    if (to_string(v) == s) return v;
  }
  throw InvariantError("ledger: unknown shard status '" + std::string(s) + "'");
}

Ledger::Ledger(pg::Database& db) : db_(db) {}

void Ledger::ensure_schema() {
  // Concurrent CREATE ... IF NOT EXISTS can still race on the catalog; an advisory lock serialises it.
  db_.transact([&](pg::Database& db) {
    db.exec("SELECT pg_advisory_xact_lock(hashtext('datarefresh.ledger.schema'))");
    db.exec(kLedgerSql);
  });
}

BeginOutcome Ledger::begin_run(const NewRun& n) {
  auto existing = db_.exec_params(std::string("SELECT ") + kRunColumns + " FROM datarefresh.runs WHERE request_id = $1::uuid",
                                  {n.request_id});
  if (!existing.empty()) {
    Run run = read_run(existing, 0);
    if (run.status == RunStatus::kRefused) {
      std::optional<Run> holder;
      if (run.holder_refresh_id) holder = this->run(*run.holder_refresh_id);
      return {BeginOutcome::Kind::kRefused, run, holder};
    }
    return {BeginOutcome::Kind::kResumed, run, std::nullopt};
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto inserted = db_.exec_params(
        "INSERT INTO datarefresh.runs (refresh_id, request_id, media_type, environment, lock_scope, status, phase, "
        "requested_by, options, mode) VALUES ($1::uuid, $2::uuid, $3, $4, $5, 'running', 'planning', $6, $7::jsonb, $8) "
        "ON CONFLICT DO NOTHING RETURNING refresh_id",
        {n.refresh_id, n.request_id, n.media_type, n.environment, n.lock_scope, n.requested_by, n.options.dump(),
         n.mode});
    if (!inserted.empty()) return {BeginOutcome::Kind::kStarted, *run(n.refresh_id), std::nullopt};
    // Either the same request raced us, or another refresh holds the scope.
    auto again = db_.exec_params(std::string("SELECT ") + kRunColumns + " FROM datarefresh.runs WHERE request_id = $1::uuid",
                                 {n.request_id});
    if (!again.empty()) return begin_run(n);
    auto holder_rs = db_.exec_params(std::string("SELECT ") + kRunColumns +
                                         " FROM datarefresh.runs WHERE lock_scope = $1 AND status = 'running'",
                                     {n.lock_scope});
    if (holder_rs.empty()) continue;  // the holder finished in between: try again
    Run holder = read_run(holder_rs, 0);
    std::string reason = "refresh " + holder.refresh_id + " (" + holder.media_type + ", phase " + holder.phase +
                         ") is running in lock scope " + n.lock_scope +
                         "; only one refresh runs per scope at a time: request again when it has finished";
    db_.exec_params(
        "INSERT INTO datarefresh.runs (refresh_id, request_id, media_type, environment, lock_scope, status, phase, "
        "requested_by, options, error, holder_refresh_id, finished_at, mode) VALUES ($1::uuid, $2::uuid, $3, $4, $5, "
        "'refused', 'refused', $6, $7::jsonb, $8, $9::uuid, now(), $10) ON CONFLICT DO NOTHING",
        {n.refresh_id, n.request_id, n.media_type, n.environment, n.lock_scope, n.requested_by, n.options.dump(), reason,
         holder.refresh_id, n.mode});
    auto refused = this->run(n.refresh_id);
    if (!refused) return begin_run(n);
    return {BeginOutcome::Kind::kRefused, *refused, holder};
  }
  throw Error("ledger: could not register refresh request " + n.request_id + " for " + n.media_type +
              " after 3 attempts: the lock scope " + n.lock_scope + " keeps changing hands");
}

std::optional<Run> Ledger::run(const std::string& refresh_id) {
  auto rs = db_.exec_params(std::string("SELECT ") + kRunColumns + " FROM datarefresh.runs WHERE refresh_id = $1::uuid",
                            {refresh_id});
  if (rs.empty()) return std::nullopt;
  return read_run(rs, 0);
}

std::vector<Run> Ledger::runs_with_status(RunStatus status) {
  return read_runs(db_.exec_params(
      std::string("SELECT ") + kRunColumns + " FROM datarefresh.runs WHERE status = $1 ORDER BY created_at",
      {std::string(to_string(status))}));
}

std::vector<Run> Ledger::recent_runs(const std::string& media_type, int limit, std::optional<RunStatus> status) {
  return read_runs(db_.exec_params(std::string("SELECT ") + kRunColumns +
                                       " FROM datarefresh.runs WHERE ($1 = '' OR media_type = $1) "
                                       "AND ($3 = '' OR status = $3) ORDER BY created_at DESC LIMIT $2::int",
                                   {media_type, std::to_string(limit), status ? std::string(to_string(*status)) : ""}));
}

std::optional<Run> Ledger::last_completed_refresh(const std::string& media_type) {
  auto runs = read_runs(db_.exec_params(std::string("SELECT ") + kRunColumns +
                                            " FROM datarefresh.runs WHERE media_type = $1 AND status = 'completed' "
                                            "AND mode IN ('full', 'incremental', 'rollback') ORDER BY created_at DESC "
                                            "LIMIT 1",
                                        {media_type}));
  if (runs.empty() || runs.front().mode == "rollback") return std::nullopt;
  return runs.front();
}

void Ledger::set_phase(const std::string& refresh_id, const std::string& phase) {
  db_.exec_params("UPDATE datarefresh.runs SET phase = $2, updated_at = now() WHERE refresh_id = $1::uuid",
                  {refresh_id, phase});
}

bool is_promotion_phase(std::string_view phase) {
  return phase == "promoting_table" || phase == "promoting_aliases" || phase == "cleaning_up" ||
         phase == "restoring_table";
}

CancelOutcome Ledger::request_cancel(const std::string& refresh_id, const std::string& requested_by) {
  // The phase test is re-evaluated on the row's newest version if a phase change races this
  // update (PostgreSQL re-checks an UPDATE's WHERE after waiting for the row lock).
  auto rs = db_.exec_params(
      "UPDATE datarefresh.runs SET cancel_requested_at = coalesce(cancel_requested_at, now()), "
      "cancel_requested_by = coalesce(cancel_requested_by, $2), updated_at = now() "
      "WHERE refresh_id = $1::uuid AND status = 'running' "
      "AND phase NOT IN ('promoting_table', 'promoting_aliases', 'cleaning_up', 'restoring_table') RETURNING "
      "refresh_id",
      {refresh_id, requested_by});
  auto now = run(refresh_id);
  if (!rs.empty()) return {CancelOutcome::Kind::kAccepted, now};
  if (!now) return {CancelOutcome::Kind::kUnknown, std::nullopt};
  if (now->status != RunStatus::kRunning) return {CancelOutcome::Kind::kFinished, now};
  return {CancelOutcome::Kind::kTooLate, now};
}

bool Ledger::cancel_requested_for_update(const std::string& refresh_id) {
  return db_
             .query_value("SELECT cancel_requested_at IS NOT NULL FROM datarefresh.runs WHERE refresh_id = $1::uuid "
                          "FOR UPDATE",
                          {refresh_id})
             .value_or("f") == "t";
}

void Ledger::update_run(const std::string& refresh_id, const nlohmann::json& fields) {
  std::string sql = "UPDATE datarefresh.runs SET updated_at = now()";
  std::vector<SqlParam> params{refresh_id};
  for (const auto& [key, value] : fields.items()) {
    const UpdatableColumn* col = nullptr;
    for (const auto& c : kUpdatable) {
      if (c.name == key) col = &c;
    }
    if (!col) throw InvariantError("ledger: run column '" + key + "' cannot be updated");
    params.push_back(value.is_null()   ? SqlParam{}
                     : value.is_string() ? SqlParam{value.get<std::string>()}
                                         : SqlParam{value.dump()});
    sql += ", " + std::string(col->name) + " = $" + std::to_string(params.size()) + "::" + std::string(col->type);
  }
  db_.exec_params(sql + " WHERE refresh_id = $1::uuid", params);
}

bool Ledger::finish_run(const std::string& refresh_id, RunStatus status, const std::optional<std::string>& error,
                        const nlohmann::json& report) {
  auto rs = db_.exec_params(
      "UPDATE datarefresh.runs SET status = $2, phase = $2, error = $3, report = $4::jsonb, finished_at = now(), "
      "updated_at = now() WHERE refresh_id = $1::uuid AND status = 'running' RETURNING refresh_id",
      {refresh_id, std::string(to_string(status)), error, report.is_null() ? SqlParam{} : SqlParam{report.dump()}});
  return !rs.empty();
}

bool Ledger::step_done(const std::string& refresh_id, const std::string& step) {
  return db_
      .query_value("SELECT 1 FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $2", {refresh_id, step})
      .has_value();
}

std::optional<nlohmann::json> Ledger::step_details(const std::string& refresh_id, const std::string& step) {
  auto v = db_.query_value("SELECT details::text FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $2",
                           {refresh_id, step});
  if (!v) return std::nullopt;
  return nlohmann::json::parse(*v);
}

void Ledger::mark_step(const std::string& refresh_id, const std::string& step, double seconds,
                       const nlohmann::json& details) {
  db_.exec_params(
      "INSERT INTO datarefresh.steps (refresh_id, step, seconds, details) VALUES ($1::uuid, $2, $3::float8, $4::jsonb) "
      "ON CONFLICT (refresh_id, step) DO NOTHING",
      {refresh_id, step, std::to_string(seconds), details.dump()});
}

std::vector<std::pair<std::string, double>> Ledger::step_seconds(const std::string& refresh_id) {
  auto rs = db_.exec_params(
      "SELECT step, coalesce(seconds, 0) FROM datarefresh.steps WHERE refresh_id = $1::uuid ORDER BY finished_at, step",
      {refresh_id});
  std::vector<std::pair<std::string, double>> out;
  for (const auto& r : rs.rows) out.emplace_back(r[0].value_or(""), std::stod(r[1].value_or("0")));
  return out;
}

void Ledger::record_shards(const std::string& refresh_id, const std::vector<catalog::ShardRange>& shards) {
  // One statement per call keeps a large plan fast: arrays unnested server-side.
  std::string numbers = "{", starts = "{", ends = "{", kinds = "{";
  for (std::size_t i = 0; i < shards.size(); ++i) {
    const char* sep = i ? "," : "";
    numbers += sep + std::to_string(shards[i].shard);
    starts += sep + std::to_string(shards[i].id_start);
    ends += sep + std::to_string(shards[i].id_end);
    kinds += std::string(sep) + (shards[i].deletes ? "delete" : "index");
  }
  numbers += "}";
  starts += "}";
  ends += "}";
  kinds += "}";
  db_.exec_params(
      "INSERT INTO datarefresh.shards (refresh_id, shard, id_start, id_end, status, kind) "
      "SELECT $1::uuid, s, a, b, 'pending', k FROM unnest($2::int[], $3::bigint[], $4::bigint[], $5::text[]) "
      "AS t(s, a, b, k) ON CONFLICT (refresh_id, shard) DO NOTHING",
      {refresh_id, numbers, starts, ends, kinds});
}

std::vector<ShardRecord> Ledger::shards(const std::string& refresh_id) {
  auto rs = db_.exec_params(
      "SELECT shard, id_start, id_end, status, attempt, worker, rows_read, indexed, skipped_deleted, skipped_removed, "
      "dead_lettered, error, extract(epoch FROM now() - greatest(published_at, started_at, last_progress_at))::float8, "
      "published_at IS NOT NULL, job_partition, job_offset, waiting, coalesce(retryable, true), kind "
      "FROM datarefresh.shards WHERE refresh_id = $1::uuid ORDER BY shard",
      {refresh_id});
  std::vector<ShardRecord> out;
  for (const auto& r : rs.rows) {
    ShardRecord s;
    s.shard = static_cast<std::int32_t>(std::stol(*r[0]));
    s.id_start = std::stoll(*r[1]);
    s.id_end = std::stoll(*r[2]);
    s.status = parse_shard_status(*r[3]);
    s.attempt = static_cast<std::int32_t>(std::stol(*r[4]));
    s.worker = r[5];
    s.counts = {std::stoll(*r[6]), std::stoll(*r[7]), std::stoll(*r[8]), std::stoll(*r[9]), std::stoll(*r[10])};
    s.error = r[11];
    s.idle_seconds = r[12] ? std::stod(*r[12]) : 0.0;
    s.published = r[13].value_or("f") == "t";
    if (r[14] && r[15]) s.job = JobPosition{static_cast<std::int32_t>(std::stol(*r[14])), std::stoll(*r[15])};
    s.waiting = r[16];
    s.retryable = r[17].value_or("t") == "t";
    s.deletes = r[18].value_or("index") == "delete";
    out.push_back(std::move(s));
  }
  return out;
}

void Ledger::mark_published(const std::string& refresh_id, const std::vector<PublishedJob>& jobs) {
  if (jobs.empty()) return;
  std::string shards = "{", partitions = "{", offsets = "{";
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    const char* sep = i ? "," : "";
    shards += sep + std::to_string(jobs[i].shard);
    partitions += sep + std::to_string(jobs[i].position.partition);
    offsets += sep + std::to_string(jobs[i].position.offset);
  }
  db_.exec_params(
      "UPDATE datarefresh.shards AS s SET published_at = now(), job_partition = j.p, job_offset = j.o "
      "FROM unnest($2::int[], $3::int[], $4::bigint[]) AS j(shard, p, o) "
      "WHERE s.refresh_id = $1::uuid AND s.shard = j.shard",
      {refresh_id, shards + "}", partitions + "}", offsets + "}"});
}

bool Ledger::shard_started(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt,
                           const std::string& worker) {
  auto rs = db_.exec_params(
      "UPDATE datarefresh.shards SET status = 'running', worker = $4, started_at = now(), last_progress_at = now() "
      "WHERE refresh_id = $1::uuid AND shard = $2::int AND attempt = $3::int AND status IN ('pending', 'running') "
      "RETURNING shard",
      {refresh_id, num(shard), num(attempt), worker});
  return !rs.empty();
}

bool Ledger::shard_progress(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt,
                            const ShardCounts& c, const std::optional<std::string>& waiting) {
  auto params = counts_params(refresh_id, shard, attempt, c);
  params.push_back(waiting ? SqlParam{*waiting} : SqlParam{});
  auto rs = db_.exec_params(
      "UPDATE datarefresh.shards SET rows_read = $4::bigint, indexed = $5::bigint, skipped_deleted = $6::bigint, "
      "skipped_removed = $7::bigint, dead_lettered = $8::bigint, waiting = $9::text, "
      // Progress events come on a timer: one with the same counts is a heartbeat, not progress,
      // and must not hide a shard that is stuck (the stall timeout counts from the last change).
      // One that says what it waits for on the engine is alive: its own deadline bounds it.
      "last_progress_at = CASE WHEN $9::text IS NOT NULL OR (rows_read, indexed, skipped_deleted, skipped_removed, "
      "dead_lettered) IS DISTINCT FROM ($4::bigint, $5::bigint, $6::bigint, $7::bigint, $8::bigint) THEN now() "
      "ELSE last_progress_at END "
      "WHERE refresh_id = $1::uuid AND shard = $2::int AND attempt = $3::int AND status = 'running' RETURNING shard",
      params);
  return !rs.empty();
}

bool Ledger::shard_completed(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt,
                             const ShardCounts& c) {
  // A shard fully indexed by any attempt is complete: its documents are in the index. Only the
  // first completion counts.
  auto rs = db_.exec_params(
      "UPDATE datarefresh.shards SET status = 'completed', attempt = greatest(attempt, $3::int), "
      "rows_read = $4::bigint, indexed = $5::bigint, skipped_deleted = $6::bigint, skipped_removed = $7::bigint, "
      "dead_lettered = $8::bigint, error = NULL, waiting = NULL, retryable = NULL, completed_at = now(), "
      "last_progress_at = now() "
      "WHERE refresh_id = $1::uuid AND shard = $2::int AND status <> 'completed' RETURNING shard",
      counts_params(refresh_id, shard, attempt, c));
  return !rs.empty();
}

bool Ledger::shard_failed(const std::string& refresh_id, std::int32_t shard, std::int32_t attempt,
                          const std::string& error, bool retryable) {
  auto rs = db_.exec_params(
      "UPDATE datarefresh.shards SET status = 'failed', error = $4, retryable = $5::boolean, waiting = NULL, "
      "last_progress_at = now() "
      "WHERE refresh_id = $1::uuid AND shard = $2::int AND attempt = $3::int AND status IN ('pending', 'running') "
      "RETURNING shard",
      {refresh_id, num(shard), num(attempt), error, std::string(retryable ? "true" : "false")});
  return !rs.empty();
}

bool Ledger::retry_shard(const std::string& refresh_id, std::int32_t shard, std::int32_t from_attempt) {
  auto rs = db_.exec_params(
      "UPDATE datarefresh.shards SET attempt = attempt + 1, status = 'pending', worker = NULL, published_at = NULL, "
      "job_partition = NULL, job_offset = NULL, waiting = NULL, retryable = NULL, "
      "started_at = NULL, rows_read = 0, indexed = 0, skipped_deleted = 0, skipped_removed = 0, dead_lettered = 0 "
      "WHERE refresh_id = $1::uuid AND shard = $2::int AND attempt = $3::int AND status <> 'completed' RETURNING shard",
      {refresh_id, num(shard), num(from_attempt)});
  return !rs.empty();
}

}  // namespace datarefresh::ledger
