#include "consumer/coordinator/refresh_steps.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "consumer/coordinator/sample_steps.h"
#include "consumer/coordinator/shard_jobs_watch.h"
#include "consumer/coordinator/table_schema.h"
#include "core/common/crash_point.h"
#include "core/common/shutdown.h"
#include "core/messages/codec.h"
#include "core/refresh/incremental.h"
#include "core/refresh/kept_generation.h"
#include "core/refresh/naming.h"
#include "core/refresh/rollback.h"
#include "core/refresh/run_control.h"
#include "core/refresh/step_error.h"

namespace datarefresh::coordinator {
namespace {

using refresh::StepError;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::map<std::string, std::int64_t> provider_counts(pg::Database& db, const std::string& table) {
  std::map<std::string, std::int64_t> out;
  auto rs = db.exec("SELECT coalesce(provider, ''), count(*) FROM " + pg::Identifier(table, "table name").quoted() +
                    " GROUP BY 1");
  for (const auto& r : rs.rows) out[r[0].value_or("")] = std::stoll(r[1].value_or("0"));
  return out;
}

std::vector<std::string> read_terms(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) {
    throw StepError("cannot read the sensitive terms file " + path.string() +
                        ": set refresh.sensitive_terms_file to a readable file (one term per line)",
                    false);
  }
  std::set<std::string> terms;
  std::string line;
  while (std::getline(in, line)) {
    auto b = line.find_first_not_of(" \t\r\n");
    auto e = line.find_last_not_of(" \t\r\n");
    if (b == std::string::npos || line[b] == '#') continue;  // blank lines and comments
    std::string term = line.substr(b, e - b + 1);
    // The .raw sub-fields hold lower-cased tokens, so only lower-case terms can match them.
    std::transform(term.begin(), term.end(), term.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    terms.insert(term);
  }
  return {terms.begin(), terms.end()};
}

// ------------------------------------------------------------------------------------- indexing

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// Seconds since any shard of a running refresh started, progressed or completed: the ledger's sign
// that some indexer consumes shard jobs (infinite when none ever did).
double indexer_activity_age(pg::Database& db) {
  auto v = db.query_value(
      "SELECT extract(epoch FROM now() - max(greatest(s.started_at, s.last_progress_at, s.completed_at)))::float8 "
      "FROM datarefresh.shards AS s JOIN datarefresh.runs AS r USING (refresh_id) WHERE r.status = 'running'");
  return v ? std::stod(*v) : std::numeric_limits<double>::infinity();
}

// How the shard jobs that were published and have not started stand in the shard-jobs group:
// recorded in the ledger for status views, exported as metrics, logged when nobody consumes them,
// and the refresh failed once nobody has for refresh.shard_unclaimed_timeout.
ShardJobsVerdict watch_waiting_jobs(StepContext& c, const std::vector<ledger::ShardRecord>& shards) {
  const auto& config = c.services.config;
  auto& metrics = c.services.metrics;
  const auto& media = c.run.media_type;
  ShardJobsVerdict v;
  bool any_waiting = std::any_of(shards.begin(), shards.end(), [](const auto& s) {
    return s.status == ledger::ShardStatus::kPending && s.published;
  });
  if (any_waiting) {
    auto snapshot = c.services.shard_jobs.snapshot();
    v = judge_shard_jobs(shards, snapshot.offsets, std::min(snapshot.commit_age, indexer_activity_age(c.db)));
  }
  const double timeout = seconds(config.refresh.shard_unclaimed_timeout);
  const double warn_after = std::min(300.0, timeout / 2);
  auto verdict = shard_jobs_json(v, warn_after);
  auto state = [](const nlohmann::json& j) { return j.is_object() ? j.value("state", "") : std::string(); };
  if (state(verdict) == "not_consumed" && state(c.run.shard_jobs) != "not_consumed") {
    c.log.warn("no indexer is consuming shard jobs", {{"refresh_id", c.run.refresh_id}, {"waiting", v.waiting},
                                                      {"idle_seconds", static_cast<std::int64_t>(v.idle_seconds)},
                                                      {"partitions", v.idle_partitions}});
  }
  if (verdict != c.run.shard_jobs) {
    c.ledger.update_run(c.run.refresh_id, {{"shard_jobs", verdict}});
    c.run.shard_jobs = verdict;
  }
  metrics.shard_jobs_waiting.Add({{"media_type", media}, {"state", "queued"}}).Set(v.queued);
  metrics.shard_jobs_waiting.Add({{"media_type", media}, {"state", "lost"}}).Set(v.lost);
  metrics.shard_jobs_idle.Add({{"media_type", media}}).Set(v.idle_seconds);
  if (v.idle_seconds > timeout) {
    throw StepError(fmt::format("{} shard jobs have waited {:.0f}s with no indexer consuming shard jobs (no committed "
                                "offset of consumer group {} moved and no shard started or progressed; partitions {}): "
                                "start indexers (with KEDA, check the ScaledObject), or raise "
                                "refresh.shard_unclaimed_timeout ({})",
                                v.waiting, v.idle_seconds, service::kIndexerGroup, fmt::join(v.idle_partitions, ","),
                                format_duration(config.refresh.shard_unclaimed_timeout)),
                    false);
  }
  return v;
}

// Re-publishes failed and stalled shards, and jobs the group passed without starting them
// (bounded attempts); done once every shard completed.
StepResult supervise_shards(StepContext& c) {
  const auto& config = c.services.config;
  const auto& run = c.run;
  auto& metrics = c.services.metrics;
  metrics.phase.Add({{"media_type", run.media_type}, {"phase", run.phase}}).Set(1);  // the planner set it
  auto shards = c.ledger.shards(run.refresh_id);
  const auto waiting = watch_waiting_jobs(c, shards);
  const double stall = seconds(config.refresh.shard_stall_timeout);
  std::size_t done = 0;
  std::map<std::string, int> states;
  std::vector<messages::ShardJob> to_publish;
  for (auto& s : shards) {
    states[std::string(ledger::to_string(s.status))]++;
    if (s.status == ledger::ShardStatus::kCompleted) {
      ++done;
      continue;
    }
    std::optional<std::string> why;
    if (s.status == ledger::ShardStatus::kFailed && !s.retryable) {
      throw StepError(fmt::format("shard {} (ids [{}, {})) failed for good: {}", s.shard, s.id_start, s.id_end,
                                  s.error.value_or("")),
                      false);
    }
    if (s.status == ledger::ShardStatus::kFailed) why = "failed: " + s.error.value_or("");
    if (s.status == ledger::ShardStatus::kRunning && s.idle_seconds > stall) {
      why = fmt::format("no progress from {} for {:.0f}s", s.worker.value_or("its indexer"), s.idle_seconds);
    }
    // Events are folded behind the commits they precede, so a job passed by the group is judged
    // lost only once the shard has been quiet for the stall timeout.
    bool lost = std::find(waiting.lost_shards.begin(), waiting.lost_shards.end(), s.shard) != waiting.lost_shards.end();
    if (lost && s.idle_seconds > stall) {
      why = fmt::format("its job at {}:{} was passed by consumer group {} (committed, or removed by retention) but "
                        "the shard never started",
                        s.job->partition, s.job->offset, service::kIndexerGroup);
    }
    if (why) {
      if (s.attempt >= config.refresh.max_shard_attempts) {
        throw StepError(fmt::format("shard {} (ids [{}, {})) {} after {} attempts (refresh.max_shard_attempts)",
                                    s.shard, s.id_start, s.id_end, *why, s.attempt),
                        false);
      }
      if (c.ledger.retry_shard(run.refresh_id, s.shard, s.attempt)) {
        c.log.warn("shard re-published", {{"refresh_id", run.refresh_id}, {"shard", s.shard},
                                          {"attempt", s.attempt + 1}, {"reason", *why}});
        s.attempt += 1;
        s.published = false;
        s.status = ledger::ShardStatus::kPending;
      }
    }
    if (s.status == ledger::ShardStatus::kPending && !s.published) to_publish.push_back(refresh::shard_job(run, c.media, s));
  }
  if (!to_publish.empty()) {
    c.ledger.mark_published(run.refresh_id, c.services.publisher.shard_jobs(to_publish));
  }
  for (const auto& st : {"pending", "running", "completed", "failed"}) {
    metrics.shards.Add({{"media_type", run.media_type}, {"state", st}}).Set(states[st]);
  }
  metrics.progress.Add({{"media_type", run.media_type}})
      .Set(shards.empty() ? 1.0 : static_cast<double>(done) / static_cast<double>(shards.size()));
  if (done != shards.size()) return StepResult::kWaiting;
  if (!c.run.shard_jobs.is_null()) c.ledger.update_run(run.refresh_id, {{"shard_jobs", nullptr}});
  auto published = c.db.query_value(
      "SELECT extract(epoch FROM now() - finished_at) FROM datarefresh.steps WHERE refresh_id = $1::uuid AND "
      "step = 'publish'",
      {run.refresh_id});
  c.ledger.mark_step(run.refresh_id, "indexing", published ? std::stod(*published) : 0.0);
  return StepResult::kDone;
}

ledger::ShardCounts shard_totals(ledger::Ledger& ledger, const std::string& refresh_id) {
  ledger::ShardCounts t;
  for (const auto& s : ledger.shards(refresh_id)) {
    t.rows_read += s.counts.rows_read;
    t.indexed += s.counts.indexed;
    t.skipped_deleted += s.counts.skipped_deleted;
    t.skipped_removed += s.counts.skipped_removed;
    t.dead_lettered += s.counts.dead_lettered;
  }
  return t;
}

void check_alias_names(StepContext& c) {
  auto& search = c.services.search;
  for (const auto& alias : {*c.run.alias, *c.run.filtered_alias}) {
    auto targets = refresh::check(search.get_alias(alias), "reading alias " + alias);
    if (targets.empty() && refresh::check(search.index_exists(alias), "checking " + alias)) {
      throw StepError("alias name " + alias + " is now an existing index: the aliases cannot be moved; delete or "
                      "rename that index, then request the refresh again",
                      false);
    }
  }
}

// --------------------------------------------------------------------------------------- verify

// The live table's rows per provider, and their total: what a refresh's report compares with.
nlohmann::json rows_before(pg::Database& db, const std::string& table, std::int64_t& total) {
  nlohmann::json before = nlohmann::json::object();
  total = 0;
  for (const auto& [p, n] : provider_counts(db, table)) {
    before[p] = n;
    total += n;
  }
  return before;
}

// An incremental refresh's checks, each costing what the delta costs, not what the catalog does:
//  - every staged row that can have a document was indexed or dead-lettered (counted in the
//    database, independently of the indexers);
//  - the new index (a clone of the live one) holds the live index's documents, less those of the
//    rows the delta touched (counted in the live index by id), plus what the delta indexed.
// Media deleted on request while the refresh ran may still have a document (that much slack). A
// dead-lettered row's old document was deleted by its shard. The report's rows per provider come
// from the last report and the delta's rows (a count of the whole table would cost the catalog).
StepResult verify_incremental(StepContext& c, std::int64_t documents, const ledger::ShardCounts& t,
                              Clock::time_point started) {
  const auto& run = c.run;
  auto& search = c.services.search;
  const auto live = pg::Identifier(c.media.table, "table name");
  const auto temp = refresh::temp_table(live);
  const auto deletes = refresh::delete_table(live);
  const auto deleted_list = live.with_prefix("api_deleted");
  const std::int64_t eligible =
      std::stoll(c.db.query_value("SELECT count(*) FROM " + temp.quoted() +
                                  " AS t WHERE NOT t.removed_from_source AND NOT EXISTS "
                                  "(SELECT 1 FROM " +
                                  deleted_list.quoted() + " AS d WHERE d.identifier = t.identifier)")
                     .value_or("0"));
  const std::int64_t deleted_meanwhile = std::stoll(
      c.db.query_value("SELECT count(*) FROM " + deleted_list.quoted() + " WHERE created_on >= $1::timestamptz",
                       {run.created_at})
          .value_or("0"));
  if (std::llabs(eligible - (t.indexed + t.dead_lettered)) > deleted_meanwhile) {
    throw StepError(fmt::format("the delta has {} rows to index but {} were indexed and {} dead-lettered ({} media "
                                "deleted on request meanwhile)",
                                eligible, t.indexed, t.dead_lettered, deleted_meanwhile),
                    false);
  }
  const auto& old_index = run.old_index.value_or("");
  const std::int64_t old_count = refresh::check(search.count(old_index), "counting " + old_index);
  auto ids = c.db.exec("SELECT id::text FROM " + temp.quoted() + " UNION SELECT id::text FROM " + deletes.quoted());
  std::int64_t touched = 0;
  constexpr std::size_t kIdsPerCount = 5000;
  for (std::size_t i = 0; i < ids.size(); i += kIdsPerCount) {
    nlohmann::json values = nlohmann::json::array();
    for (std::size_t j = i; j < std::min(ids.size(), i + kIdsPerCount); ++j) values.push_back(*ids.rows[j][0]);
    touched += refresh::check(search.count(old_index, nlohmann::json{{"ids", {{"values", values}}}}),
                              "counting the delta's documents in " + old_index);
  }
  const std::int64_t expected = old_count - touched + t.indexed;
  if (documents < expected - deleted_meanwhile || documents > expected + deleted_meanwhile) {
    throw StepError(
        fmt::format("index {} holds {} documents, but the live index's {} less the {} of the rows the delta "
                    "touched plus the {} it indexed make {} ({} media deleted on request meanwhile, {} "
                    "dead-lettered)",
                    *run.new_index, documents, old_count, touched, t.indexed, expected, deleted_meanwhile,
                    t.dead_lettered),
        false);
  }
  check_alias_names(c);
  // Rows per provider: before, from the last completed refresh's report (a count when it has
  // none); after, that less the live rows the delta replaces or removes, plus the rows it stages.
  std::map<std::string, std::int64_t> before;
  bool from_report = false;
  if (auto prev = c.ledger.last_completed_refresh(c.media.name)) {
    const auto& report = prev->report;
    if (report.is_object() && report.contains("per_provider") && report["per_provider"].is_array()) {
      for (const auto& p : report["per_provider"]) {
        if (p.value("after", std::int64_t{0}) != 0) before[p.value("provider", "")] = p.value("after", std::int64_t{0});
      }
      from_report = !report["per_provider"].empty();
    }
  }
  if (!from_report) before = provider_counts(c.db, c.media.table);
  auto after = before;
  auto moved = c.db.exec(
      "SELECT coalesce(l.provider, ''), -count(*) FROM (SELECT id FROM " + temp.quoted() + " UNION SELECT id FROM " +
      deletes.quoted() + ") AS x CROSS JOIN LATERAL (SELECT l.provider FROM " + live.quoted() +
      " AS l WHERE l.id = x.id OFFSET 0) AS l GROUP BY 1 UNION ALL SELECT coalesce(provider, ''), count(*) FROM " +
      temp.quoted() + " GROUP BY 1");
  for (const auto& r : moved.rows) after[r[0].value_or("")] += std::stoll(r[1].value_or("0"));
  nlohmann::json per_before = nlohmann::json::object(), per_after = nlohmann::json::object();
  std::int64_t total = 0;
  for (const auto& [p, n] : before) {
    per_before[p] = n;
    total += n;
  }
  for (const auto& [p, n] : after) {
    if (n != 0) per_after[p] = n;
  }
  c.ledger.mark_step(run.refresh_id, "verify", seconds_since(started),
                     {{"documents", documents},
                      {"rows_before", total},
                      {"per_provider_before", per_before},
                      {"per_provider_after", per_after},
                      {"indexed", t.indexed},
                      {"dead_lettered", t.dead_lettered},
                      {"live_documents", old_count},
                      {"touched_documents", touched},
                      {"eligible", eligible},
                      {"skipped_deleted", t.skipped_deleted},
                      {"skipped_removed", t.skipped_removed}});
  return StepResult::kDone;
}

StepResult verify(StepContext& c) {
  const auto& run = c.run;
  const auto& config = c.services.config;
  auto& search = c.services.search;
  c.enter_phase("verifying");
  auto started = Clock::now();
  refresh::check(search.refresh(*run.new_index), "refreshing " + *run.new_index);
  auto documents = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
  auto t = shard_totals(c.ledger, run.refresh_id);
  if (!run.expected_rows) {
    throw StepError("the ledger holds no expected row count for refresh " + run.refresh_id +
                        ": its plan was not recorded; request the refresh again",
                    false);
  }
  std::int64_t expected = *run.expected_rows;
  if (t.rows_read != expected) {
    throw StepError(fmt::format("the shards read {} rows but the temp table holds {}: rows were lost or read twice",
                                t.rows_read, expected),
                    false);
  }
  if (run.mode == "incremental") return verify_incremental(c, documents, t, started);
  if (documents != t.indexed) {
    throw StepError(fmt::format("index {} holds {} documents but the indexers had {} acknowledged", *run.new_index,
                                documents, t.indexed),
                    false);
  }
  // The temp table's eligible rows, counted independently of the indexers. Media deleted on
  // request while the refresh ran may be indexed yet no longer eligible: that much slack only.
  auto temp = refresh::temp_table(pg::Identifier(c.media.table, "table name"));
  auto deleted_table = pg::Identifier(c.media.table, "table name").with_prefix("api_deleted");
  std::int64_t eligible_now = std::stoll(c.db.query_value(
      "SELECT count(*) FROM " + temp.quoted() + " AS t WHERE NOT t.removed_from_source AND NOT EXISTS (SELECT 1 FROM " +
      deleted_table.quoted() + " AS d WHERE d.identifier = t.identifier)").value_or("0"));
  std::int64_t deleted_meanwhile = std::stoll(
      c.db.query_value("SELECT count(*) FROM " + deleted_table.quoted() + " WHERE created_on >= $1::timestamptz",
                       {run.created_at})
          .value_or("0"));
  std::int64_t eligible = t.indexed + t.dead_lettered;
  if (std::llabs(eligible_now - eligible) > deleted_meanwhile) {
    throw StepError(fmt::format("the temp table has {} eligible rows but {} were indexed or dead-lettered ({} media "
                                "deleted on request meanwhile)",
                                eligible_now, eligible, deleted_meanwhile),
                    false);
  }
  if (t.dead_lettered > 0 &&
      static_cast<double>(t.dead_lettered) > config.refresh.dead_letter_budget * static_cast<double>(eligible)) {
    throw StepError(fmt::format("{} of {} documents were dead-lettered, over the budget of {} "
                                "(refresh.dead_letter_budget); see the dead-letter topic for the reasons",
                                t.dead_lettered, eligible, config.refresh.dead_letter_budget),
                    false);
  }
  check_alias_names(c);
  std::int64_t total = 0;
  auto before = rows_before(c.db, c.media.table, total);
  c.ledger.mark_step(run.refresh_id, "verify", seconds_since(started),
                     {{"documents", documents}, {"rows_before", total}, {"per_provider_before", before},
                      {"indexed", t.indexed}, {"dead_lettered", t.dead_lettered},
                      {"skipped_deleted", t.skipped_deleted}, {"skipped_removed", t.skipped_removed}});
  return StepResult::kDone;
}

// ------------------------------------------------------------------------------- filtered index

constexpr const char* kFilteredTaskStep = "filtered_index:task";

void forget_filtered_task(StepContext& c) {
  c.db.exec_params("DELETE FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $2",
                   {c.run.refresh_id, kFilteredTaskStep});
}

// The sensitive-terms query of the filtered index: documents matching it stay out.
nlohmann::json sensitive_clauses(StepContext& c, std::size_t* count = nullptr) {
  auto terms = read_terms(c.services.context.resolve(c.services.config.refresh.sensitive_terms_file));
  if (count) *count = terms.size();
  nlohmann::json clauses = nlohmann::json::array();
  for (const auto* field : {"tags.name.raw", "title.raw", "description.raw"}) clauses.push_back({{"terms", {{field, terms}}}});
  return clauses;
}

// Runs one `_reindex` to its end (the engine's task, polled), for a chunk of the filtered delta.
void reindex_to_end(StepContext& c, const nlohmann::json& body) {
  auto& search = c.services.search;
  const auto& fc = c.services.config.refresh.filtered_index;
  auto task = refresh::check(search.start_reindex(body, fc.requests_per_second, fc.slices), "starting a filtered reindex");
  while (true) {
    auto status = search.get_task(task);
    if (!status.ok()) {
      throw StepError("polling reindex task " + task + ": " + status.error().describe(), true);
    }
    if (status.value().completed) {
      if (status.value().error || !status.value().failures.empty()) {
        throw StepError("a filtered reindex failed: " + status.value().error.value_or(status.value().failures.front()),
                        true);
      }
      return;
    }
    c.check_cancel();
    if (wait_for_shutdown(std::chrono::milliseconds(200))) {
      search.cancel_task(task);
      throw StepError("stopping", true);
    }
  }
}

// An incremental refresh's filtered index, cloned from the live one: the documents of every row the
// delta touched are deleted from it, then copied again from the new main index unless they match
// the sensitive terms (one throttled `_reindex` per chunk of ids, each recorded when done). Then
// the filtered index must hold exactly the main index's documents that do not match them.
StepResult filtered_delta(StepContext& c, Clock::time_point started) {
  const auto& run = c.run;
  auto& search = c.services.search;
  const auto live = pg::Identifier(c.media.table, "table name");
  const auto temp = refresh::temp_table(live);
  const auto deletes = refresh::delete_table(live);
  std::size_t term_count = 0;
  const auto clauses = sensitive_clauses(c, &term_count);
  constexpr std::int64_t kChunk = 5000;
  if (!c.ledger.step_done(run.refresh_id, "filtered_index:cleared")) {
    auto ids = c.db.exec("SELECT id FROM " + temp.quoted() + " UNION ALL SELECT id FROM " + deletes.quoted());
    for (std::size_t i = 0; i < ids.size(); i += kChunk) {
      search::BulkBodyBuilder body;
      for (std::size_t j = i; j < std::min(ids.size(), i + kChunk); ++j) body.add_delete(*run.filtered_index, *ids.rows[j][0]);
      auto answer = refresh::check(search.bulk(body.body(), search::BulkItems::kFailedOnly),
                                   "deleting the delta's documents from " + *run.filtered_index);
      if (answer.count_failed() > 0) {
        const auto& f = answer.items.front();
        throw StepError(fmt::format("deleting the delta's documents from {}: {} failed ({}: {})", *run.filtered_index,
                                    answer.count_failed(), f.error_type, f.error_reason),
                        true);
      }
      c.check_cancel();
    }
    c.ledger.mark_step(run.refresh_id, "filtered_index:cleared", seconds_since(started), {{"documents", ids.size()}});
    crash_point("coordinator.filtered_delta_cleared");
  }
  auto chunks = std::stoll(c.db.query_value("SELECT (count(*) + " + std::to_string(kChunk - 1) + ") / " +
                                            std::to_string(kChunk) + " FROM " + temp.quoted())
                               .value_or("0"));
  // Chunk k holds the next kChunk ids after chunk k-1's last (recorded with it): each chunk is one
  // index range read, whatever its number.
  std::optional<std::string> after;
  for (std::int64_t k = 0; k < chunks; ++k) {
    const std::string step = fmt::format("filtered_index:chunk:{}", k);
    if (auto done = c.ledger.step_details(run.refresh_id, step)) {
      after =
          done->contains("last_id") ? std::optional<std::string>((*done)["last_id"].get<std::string>()) : std::nullopt;
      if (after) continue;
    }
    auto chunk_started = Clock::now();
    auto ids = after
                   ? c.db.exec_params(fmt::format("SELECT id::text FROM {} WHERE id > $1::integer ORDER BY id LIMIT {}",
                                                  temp.quoted(), kChunk),
                                      {*after})
                   : c.db.exec(fmt::format("SELECT id::text FROM {} ORDER BY id OFFSET {} LIMIT {}", temp.quoted(),
                                           k * kChunk, kChunk));
    if (ids.empty()) break;
    after = *ids.rows.back()[0];
    if (c.ledger.step_done(run.refresh_id, step)) continue;  // done by a release that kept no last id
    nlohmann::json values = nlohmann::json::array();
    for (const auto& r : ids.rows) values.push_back(*r[0]);
    nlohmann::json query = {{"bool", {{"filter", {{{"ids", {{"values", values}}}}}}, {"must_not", clauses}}}};
    reindex_to_end(c, {{"source", {{"index", *run.new_index}, {"query", query}}}, {"dest", {{"index", *run.filtered_index}}}});
    c.ledger.mark_step(run.refresh_id, step, seconds_since(chunk_started),
                       {{"documents", ids.size()}, {"last_id", *after}});
  }
  refresh::check(search.refresh(*run.filtered_index), "refreshing " + *run.filtered_index);
  auto filtered = refresh::check(search.count(*run.filtered_index), "counting " + *run.filtered_index);
  auto main = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
  auto matching = refresh::check(search.count(*run.new_index, nlohmann::json{{"bool", {{"should", clauses}}}}),
                                 "counting the sensitive documents of " + *run.new_index);
  if (filtered != main - matching) {
    throw StepError(fmt::format("the filtered index {} holds {} documents, but the main index holds {} of which {} "
                                "match the sensitive terms",
                                *run.filtered_index, filtered, main, matching),
                    false);
  }
  c.ledger.mark_step(run.refresh_id, "filtered_index", seconds_since(started),
                     {{"documents", filtered}, {"filtered_out", matching}, {"delta_chunks", chunks}, {"terms", term_count}});
  return StepResult::kDone;
}

StepResult build_filtered_index(StepContext& c) {
  const auto& run = c.run;
  const auto& fc = c.services.config.refresh.filtered_index;
  auto& search = c.services.search;
  c.enter_phase("building_filtered_index");
  auto started = Clock::now();
  if (!fc.enabled) {
    c.ledger.mark_step(run.refresh_id, "filtered_index", 0, {{"skipped", true}});
    return StepResult::kDone;
  }
  if (run.mode == "incremental" &&
      !c.ledger.step_details(run.refresh_id, "create_index").value_or(nlohmann::json::object()).value("rebuild_filtered", true)) {
    return filtered_delta(c, started);
  }
  std::string task;
  if (auto d = c.ledger.step_details(run.refresh_id, kFilteredTaskStep)) task = (*d)["task"];
  if (task.empty()) {
    std::size_t terms = 0;
    const auto must_not = sensitive_clauses(c, &terms);
    auto path = c.services.context.resolve(c.services.config.refresh.index_settings_dir + "/" + c.media.index_settings);
    nlohmann::json overrides = {{"number_of_replicas", 0}, {"refresh_interval", "-1"}};
    if (c.media.number_of_shards > 0) overrides["number_of_shards"] = c.media.number_of_shards;
    auto created = search.create_index_from_file(*run.filtered_index, path.string(), overrides);
    if (!created.ok() && created.error().type != "resource_already_exists_exception") {
      throw StepError("creating " + *run.filtered_index + ": " + created.error().describe(), created.error().retryable);
    }
    nlohmann::json body = {{"source", {{"index", *run.new_index}, {"query", {{"bool", {{"must_not", must_not}}}}}}},
                           {"dest", {{"index", *run.filtered_index}}}};
    task = refresh::check(search.start_reindex(body, fc.requests_per_second, fc.slices),
                          "starting the filtered reindex into " + *run.filtered_index);
    c.ledger.mark_step(run.refresh_id, kFilteredTaskStep, 0, {{"task", task}, {"terms", terms}});
    c.log.info("filtered reindex started", {{"refresh_id", run.refresh_id}, {"task", task}, {"terms", terms}});
    crash_point("coordinator.filtered_index_running");
  }
  while (true) {
    auto status = search.get_task(task);
    if (!status.ok()) {
      if (status.error().http_status == 404) {
        // The engine lost the task (restarted): start over.
        forget_filtered_task(c);
        search.delete_index(*run.filtered_index);
        throw StepError("reindex task " + task + " is unknown to the engine; starting the filtered index again", true);
      }
      throw StepError("polling reindex task " + task + ": " + status.error().describe(), status.error().retryable);
    }
    if (status.value().completed) {
      if (status.value().error || !status.value().failures.empty()) {
        std::string why = status.value().error.value_or(status.value().failures.front());
        forget_filtered_task(c);
        throw StepError("the filtered reindex failed: " + why, true);
      }
      break;
    }
    // A cancel is handled by the rollback, whose compensation stops the engine's copy first.
    c.check_cancel();
    if (wait_for_shutdown(std::chrono::milliseconds(500))) throw StepError("stopping", true);
  }
  refresh::check(search.refresh(*run.filtered_index), "refreshing " + *run.filtered_index);
  auto filtered = refresh::check(search.count(*run.filtered_index), "counting " + *run.filtered_index);
  auto main = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
  if (run.mode == "filtered_only") {
    // Built from the live main index: it must hold exactly that index's documents that do not
    // match the sensitive terms, or the alias stays where it is.
    auto matching =
        refresh::check(search.count(*run.new_index, nlohmann::json{{"bool", {{"should", sensitive_clauses(c)}}}}),
                       "counting the sensitive documents of " + *run.new_index);
    if (filtered != main - matching) {
      forget_filtered_task(c);
      throw StepError(fmt::format("the new filtered index {} holds {} documents, but the live main index {} holds {} "
                                  "of which {} match the sensitive terms; the filtered alias was not moved",
                                  *run.filtered_index, filtered, *run.new_index, main, matching),
                      false);
    }
  }
  c.ledger.mark_step(run.refresh_id, "filtered_index", seconds_since(started),
                     {{"documents", filtered}, {"filtered_out", main - filtered}, {"main_documents", main}});
  return StepResult::kDone;
}

// Stops a reindex still running in the engine before the rollback deletes its destination: a
// running `_reindex` would otherwise write on and create the destination again.
void stop_filtered_reindex(StepContext& c) {
  if (c.ledger.step_done(c.run.refresh_id, "filtered_index")) return;
  auto d = c.ledger.step_details(c.run.refresh_id, kFilteredTaskStep);
  if (!d) return;
  cancel_engine_task(c, (*d)["task"], "filtered reindex");
}

// ----------------------------------------------------------------------------- restore settings

StepResult restore_settings(StepContext& c) {
  const auto& run = c.run;
  const auto& config = c.services.config;
  auto& search = c.services.search;
  c.enter_phase("restoring_settings");
  auto started = Clock::now();
  // A filtered-only run's main index is the live one, whose settings are left as they are; a
  // sample has no filtered index.
  std::vector<std::string> indices;
  if (run.mode != "filtered_only") indices.push_back(*run.new_index);
  if (config.refresh.filtered_index.enabled && run.mode != "sample") indices.push_back(*run.filtered_index);
  // Checked again: the cluster may have lost nodes since the preflight, and the wait for green
  // below would then last search.health_timeout for nothing.
  refresh::check_replicas_allocatable(search, config);
  nlohmann::json settings = {{"index",
                              {{"number_of_replicas", config.search.replicas_after_load},
                               {"refresh_interval", config.search.refresh_interval_after_load}}}};
  for (const auto& index : indices) {
    refresh::check(search.update_settings(index, settings), "restoring the settings of " + index);
  }
  auto deadline = Clock::now() + config.search.health_timeout;
  for (const auto& index : indices) {
    while (true) {
      auto h = search.cluster_health(index, std::string("green"), std::chrono::seconds(10));
      if (h.ok() && h.value().status == "green" && !h.value().timed_out) break;
      if (Clock::now() > deadline) {
        throw StepError(fmt::format("index {} did not turn green within {} (search.health_timeout); is "
                                    "search.replicas_after_load ({}) more than the cluster can allocate?",
                                    index, format_duration(config.search.health_timeout),
                                    config.search.replicas_after_load),
                        false);
      }
      if (!h.ok() && !h.error().retryable && h.error().http_status != 408) {
        throw StepError("waiting for " + index + " to turn green: " + h.error().describe(), false);
      }
      c.check_cancel();
      if (shutdown_requested()) throw StepError("stopping", true);
    }
  }
  c.ledger.mark_step(run.refresh_id, "restore_settings", seconds_since(started));
  return StepResult::kDone;
}

// -------------------------------------------------------------------------- reapply constraints

StepResult reapply_constraints(StepContext& c) {
  const auto& run = c.run;
  c.enter_phase("reapplying_constraints");
  auto started = Clock::now();
  if (run.mode == "incremental") {  // the live table stays; nothing to recreate
    c.ledger.mark_step(run.refresh_id, "reapply_constraints", 0, {{"tables", nlohmann::json::array()}});
    return StepResult::kDone;
  }
  nlohmann::json tables = nlohmann::json::array();
  auto names = refresh::refresh_names(c.media.name, run.refresh_id);
  int k = 0;
  for (const auto& table : refresh::refreshed_tables(c.media)) {
    auto schema = read_table_schema(c.db, table);
    auto temp = refresh::temp_table(pg::Identifier(table)).name();
    auto renames = reapply_schema(c.db, schema, temp, fmt::format("dr_{}_{}", names.suffix.substr(0, 12), k++));
    nlohmann::json r = nlohmann::json::array();
    for (const auto& x : renames) r.push_back({{"kind", x.kind}, {"temp_name", x.temp_name}, {"name", x.name}});
    tables.push_back({{"schema", to_json(schema)}, {"temp_table", temp}, {"renames", r}});
  }
  c.ledger.mark_step(run.refresh_id, "reapply_constraints", seconds_since(started), {{"tables", tables}});
  return StepResult::kDone;
}

// -------------------------------------------------------------------------------- promote table

// An incremental refresh's promotion, as statements for ONE transaction: the rows of related
// tables that point at removed rows go (as the full refresh's promotion deletes them), the removed
// rows go, changed rows are replaced in place keeping their ids, new rows are inserted with theirs,
// the id sequence moves past them; extra tables (small, copied whole) get their new contents. Only
// row locks and ROW EXCLUSIVE: readers of the live table are never blocked.
// For each unique index of `live` not on id or identifier (which an incremental refresh never
// changes): an UPDATE that moves the index's first text column of the rows whose key changes in
// `temp` out of the way. Indexes on expressions or without a text column are left alone.
std::vector<std::string> release_unique_keys_sql(StepContext& c, const pg::Identifier& live, const std::string& temp) {
  auto rs = c.db.exec_params(
      "SELECT json_agg(a.attname::text ORDER BY k.n)::text, (array_agg(a.attname::text ORDER BY k.n) "
      "FILTER (WHERE a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype)))[1], bool_and(a.attnum > "
      "0), (array_agg(NOT a.attnotnull ORDER BY k.n) FILTER (WHERE a.atttypid IN ('text'::regtype, 'varchar'::regtype, "
      "'bpchar'::regtype)))[1] FROM pg_index AS i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS "
      "k(attnum, "
      "n) LEFT JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum WHERE i.indrelid = "
      "to_regclass($1) AND i.indisunique GROUP BY i.indexrelid",
      {live.quoted()});
  std::vector<std::string> out;
  for (const auto& row : rs.rows) {
    if (!row[0] || !row[1] || row[2].value_or("f") != "t") continue;
    const auto names = nlohmann::json::parse(*row[0]).get<std::vector<std::string>>();
    if (std::find(names.begin(), names.end(), "id") != names.end() ||
        std::find(names.begin(), names.end(), "identifier") != names.end()) {
      continue;
    }
    std::vector<std::string> lcols, tcols;
    for (const auto& name : names) {
      const auto col = pg::Identifier(name, "column name").quoted();
      lcols.push_back("l." + col);
      tcols.push_back("t." + col);
    }
    const auto breaker = pg::Identifier(*row[1], "column name").quoted();
    const std::string value = row[3].value_or("f") == "t" ? "NULL" : "'datarefresh:moving:' || l.identifier::text";
    out.push_back(
        fmt::format("UPDATE {} AS l SET {} = {} FROM {} AS t WHERE l.id = t.id AND ({}) IS DISTINCT FROM ({})",
                    live.quoted(), breaker, value, temp, fmt::join(lcols, ", "), fmt::join(tcols, ", ")));
  }
  return out;
}

// The statements that make the live tables hold `source`'s rows (replacing rows of the same id,
// inserting the others) less the rows whose ids are in `removals`, and each extra table the
// contents of extra_source(extra): an incremental refresh's delta (temp tables) and the rollback
// of one (the kept rows).
std::vector<std::string> apply_rows_statements(StepContext& c, const std::string& source, const std::string& removals,
                                               const std::function<std::string(const std::string&)>& extra_source) {
  const auto live = pg::Identifier(c.media.table, "table name");
  auto schema = read_table_schema(c.db, c.media.table);
  std::vector<std::string> cols;
  for (const auto& col : c.db.table_columns(c.media.table)) {
    if (col != "id") cols.push_back(pg::Identifier(col, "column name").quoted());
  }
  std::vector<std::string> out;
  for (const auto& fk : schema.referencing) {
    if (fk.columns.size() != 1 || fk.referenced_columns.size() != 1) continue;
    out.push_back(
        fmt::format("DELETE FROM {} AS r WHERE r.{} IN (SELECT l.{} FROM {} AS l JOIN {} AS x ON x.id = l.id)",
                    pg::Identifier(fk.table).quoted(), pg::Identifier(fk.columns[0]).quoted(),
                    pg::Identifier(fk.referenced_columns[0]).quoted(), live.quoted(), removals));
  }
  out.push_back("DELETE FROM " + live.quoted() + " AS l USING " + removals + " AS x WHERE l.id = x.id");
  std::vector<std::string> sets, tcols;
  for (const auto& col : cols) {
    sets.push_back(col + " = t." + col);
    tcols.push_back("t." + col);
  }
  // PostgreSQL checks a unique index row by row, not at the end of the statement: two rows that
  // swap urls (or a chain of them) would collide mid-UPDATE. Rows whose unique key changes first
  // give up their old value (NULL where the column allows it, else a value no row has), so the
  // UPDATE that follows only ever writes keys nobody holds.
  for (const auto& s : release_unique_keys_sql(c, live, source)) out.push_back(s);
  out.push_back(fmt::format("UPDATE {} AS l SET {} FROM {} AS t WHERE l.id = t.id", live.quoted(),
                            fmt::join(sets, ", "), source));
  out.push_back(
      fmt::format("INSERT INTO {} (id, {}) SELECT t.id, {} FROM {} AS t WHERE NOT EXISTS (SELECT 1 FROM {} AS l "
                  "WHERE l.id = t.id)",
                  live.quoted(), fmt::join(cols, ", "), fmt::join(tcols, ", "), source, live.quoted()));
  if (schema.id_sequence) {
    out.push_back(fmt::format("SELECT setval({}, GREATEST((SELECT COALESCE(max(id), 0) FROM {}), (SELECT last_value FROM "
                              "{})), true)",
                              pg::quote_literal(*schema.id_sequence), live.quoted(), *schema.id_sequence));
  }
  for (const auto& extra : c.media.extra_tables) {
    const auto table = pg::Identifier(extra.downstream, "table name");
    std::vector<std::string> ecols;
    for (const auto& col : c.db.table_columns(extra.downstream)) {
      if (col != "id") ecols.push_back(pg::Identifier(col, "column name").quoted());
    }
    out.push_back("DELETE FROM " + table.quoted());
    out.push_back(fmt::format("INSERT INTO {} ({}) SELECT {} FROM {}", table.quoted(), fmt::join(ecols, ", "),
                              fmt::join(ecols, ", "), extra_source(extra.downstream)));
  }
  return out;
}

std::vector<std::string> apply_delta_statements(StepContext& c) {
  const auto live = pg::Identifier(c.media.table, "table name");
  return apply_rows_statements(
      c, refresh::temp_table(live).quoted(), refresh::delete_table(live).quoted(),
      [](const std::string& extra) { return refresh::temp_table(pg::Identifier(extra)).quoted(); });
}

StepResult promote_table(StepContext& c) {
  const auto& run = c.run;
  check_alias_names(c);
  c.enter_phase("promoting_table");
  auto started = Clock::now();
  auto details = c.ledger.step_details(run.refresh_id, "reapply_constraints");
  std::vector<PromotedTable> tables;
  for (const auto& t : (*details)["tables"]) {
    PromotedTable p{table_schema_from_json(t["schema"]), t["temp_table"], {}};
    for (const auto& r : t["renames"]) p.renames.push_back({r["kind"], r["temp_name"], r["name"]});
    tables.push_back(p);
  }
  // refresh.keep_previous: the generation this promotion replaces is kept for a rollback, in place
  // of what was kept before (which no longer restores the generation before this one).
  // (A first refresh replaces no generation that any index served: nothing to keep.)
  const bool keep = c.services.config.refresh.keep_previous > Duration(0) && run.old_index.has_value();
  const auto previously_kept = refresh::read_kept(c.db, c.media.name);
  std::vector<std::string> statements = refresh::discard_kept_sql(c.media);
  if (run.mode == "incremental") {
    if (keep) {
      const auto live = pg::Identifier(c.media.table, "table name");
      for (auto& s : refresh::keep_incremental_sql(c.media, refresh::temp_table(live).quoted(),
                                                   refresh::delete_table(live).quoted())) {
        statements.push_back(std::move(s));
      }
    }
    for (auto& s : apply_delta_statements(c)) statements.push_back(std::move(s));
  } else {
    for (auto& s :
         promotion_statements(tables, keep ? std::optional<std::string>(refresh::kKeptSchema) : std::nullopt)) {
      statements.push_back(std::move(s));
    }
  }
  if (keep) {
    statements.push_back(refresh::record_kept_sql(c.media, run.refresh_id, run.mode, run.old_index,
                                                  run.old_filtered_index, refresh::live_schema_of(c.db, c.media),
                                                  c.services.config.refresh.keep_previous));
  }
  // The indices of what was kept before: the cleanup deletes them.
  nlohmann::json discarded = nlohmann::json::array();
  if (previously_kept && previously_kept->refresh_id != run.refresh_id) {
    for (const auto& i : {previously_kept->index, previously_kept->filtered_index}) {
      if (i) discarded.push_back(*i);
    }
  }
  std::vector<std::string> baseline_statements;
  nlohmann::json timings;  // the live statements' times, in order
  // The snapshot this refresh took becomes what the next incremental refresh compares against; a
  // refresh that copied a sample leaves no baseline (an incremental one then asks for a full one).
  if (auto recorded = c.ledger.step_details(run.refresh_id, "baseline")) {
    const auto baseline = refresh::Baseline::from_json(*recorded);
    const auto snap = refresh::snapshot_tables(c.media.table, run.refresh_id);
    const bool taken = c.db.query_value("SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL",
                                        {snap.versions, snap.buckets})
                           .value_or("f") == "t";
    auto baseline_sql = taken && baseline.complete && baseline.bucket_bits > 0
                            ? refresh::promote_baseline_sql(c.media.table, run.refresh_id, run.mode == "incremental",
                                                            baseline.bucket_bits)
                            : refresh::drop_baseline_sql(c.media.table);
    baseline_statements = std::move(baseline_sql);
  }
  crash_point("coordinator.before_promote_table");
  c.db.transact(
      [&](pg::Database& tx) {
        // Holds the run's row until the promotion commits: a cancel request either came first
        // (and stops it here) or waits and then finds the refresh promoting (too late).
        if (ledger::Ledger(tx).cancel_requested_for_update(run.refresh_id)) {
          throw refresh::CancelRequested(run.refresh_id);
        }
        // The baseline first: its statements touch only the ledger's schema, so the live tables'
        // locks are held for the live statements alone.
        for (const auto& s : baseline_statements) tx.exec(s);
        auto locked = Clock::now();
        timings = nlohmann::json::array();
        for (const auto& s : statements) {
          auto statement_started = Clock::now();
          tx.exec(s);
          timings.push_back({{"statement", s.substr(0, 60)},
                             {"seconds", std::round(seconds_since(statement_started) * 1000) / 1000}});
        }
        ledger::Ledger(tx).mark_step(run.refresh_id, "promote_table", seconds_since(started),
                                     {{"statements", statements.size() + baseline_statements.size()},
                                      {"lock_seconds", seconds_since(locked)},
                                      {"statement_seconds", timings},
                                      {"kept", keep},
                                      {"discarded_kept_indices", discarded}});
      },
      pg::TransactionOptions{c.services.config.postgres.lock_timeout, 10});
  c.log.info("tables promoted", {{"refresh_id", run.refresh_id}, {"tables", tables.size()}});
  crash_point("coordinator.after_promote_table");
  return StepResult::kDone;
}

// ------------------------------------------------------------------------------ promote aliases

// Both aliases move in one `_aliases` call, built from what the engine says now: each alias's
// current indices are removed by name (never a remove of an alias that is not there, which ES 7.10
// ignores, 7.11-8.13 and OpenSearch refuse with 404, and 8.14+ may ignore), the new indices added,
// and the new index's load alias dropped. Then the aliases are read again: an engine that applied
// less than it acknowledged makes the step run again.
StepResult promote_aliases(StepContext& c) {
  const auto& run = c.run;
  auto& search = c.services.search;
  c.enter_phase("promoting_aliases");
  auto started = Clock::now();
  std::vector<search::AliasAction> actions;
  std::vector<std::pair<std::string, std::string>> pairs{
      {*run.alias, *run.new_index}};  // a sample's: the staging alias
  if (c.services.config.refresh.filtered_index.enabled && run.mode != "sample") {
    pairs.emplace_back(*run.filtered_alias, *run.filtered_index);
  }
  for (const auto& [alias, index] : pairs) {
    auto current = refresh::check(search.get_alias(alias), "reading alias " + alias);
    for (const auto& [old_index, _] : current) {
      if (old_index != index) actions.push_back(search::AliasAction::remove(old_index, alias));
    }
    if (!current.count(index)) actions.push_back(search::AliasAction::add(index, alias));
  }
  const auto load = refresh::load_alias(*run.new_index);
  auto new_index_aliases = refresh::check(search.get_index_aliases(*run.new_index), "reading aliases of " + *run.new_index);
  if (std::find(new_index_aliases.begin(), new_index_aliases.end(), load) != new_index_aliases.end()) {
    actions.push_back(search::AliasAction::remove(*run.new_index, load));
  }
  crash_point("coordinator.before_promote_aliases");
  if (!actions.empty()) refresh::check(search.update_aliases(actions), "moving the aliases");
  for (const auto& [alias, index] : pairs) {
    auto now = refresh::check(search.get_alias(alias), "reading alias " + alias + " after moving it");
    if (now.size() != 1 || !now.count(index)) {
      std::vector<std::string> on;
      for (const auto& [i, _] : now) on.push_back(i);
      throw StepError(fmt::format("alias {} points at [{}] after the move, not only at {}; moving it again", alias,
                                  fmt::join(on, ", "), index),
                      true);
    }
  }
  crash_point("coordinator.after_promote_aliases");
  c.ledger.mark_step(run.refresh_id, "promote_aliases", seconds_since(started), {{"actions", actions.size()}});
  c.log.info("aliases moved", {{"refresh_id", run.refresh_id}, {"actions", actions.size()}});
  return StepResult::kDone;
}

// -------------------------------------------------------------------------------------- cleanup

StepResult clean_up(StepContext& c) {
  const auto& run = c.run;
  auto& search = c.services.search;
  c.enter_phase("cleaning_up");
  auto started = Clock::now();
  std::set<std::string> keep;
  for (const auto& i : {run.new_index, run.filtered_index}) {
    if (i) keep.insert(*i);
  }
  for (const auto& other : c.ledger.runs_with_status(ledger::RunStatus::kRunning)) {
    if (other.new_index) keep.insert(*other.new_index);
    if (other.filtered_index) keep.insert(*other.filtered_index);
  }
  // What refresh.keep_previous keeps (this promotion's or an earlier one's) stays until its time is up.
  if (auto kept = refresh::read_kept(c.db, c.media.name)) {
    for (const auto& i : {kept->index, kept->filtered_index}) {
      if (i) keep.insert(*i);
    }
  }
  std::set<std::string> discarded;  // what was kept before this promotion replaced it
  if (auto promoted = c.ledger.step_details(run.refresh_id, "promote_table")) {
    for (const auto& i : promoted->value("discarded_kept_indices", nlohmann::json::array()))
      discarded.insert(i.get<std::string>());
  }
  std::vector<std::string> deleted;
  auto indices = refresh::check(search.cat_indices(), "listing indices");
  for (const auto& row : indices) {
    bool ours = row.index == run.old_index.value_or("") || row.index == run.old_filtered_index.value_or("") ||
                discarded.count(row.index) || refresh::is_refresh_index(c.media.name, row.index);
    if (!ours || keep.count(row.index)) continue;
    auto aliases = refresh::check(search.get_index_aliases(row.index), "reading aliases of " + row.index);
    if (!refresh::serving_aliases(aliases, row.index).empty()) continue;  // something serves from it: never delete
    crash_point("coordinator.before_delete_old_index");
    auto d = search.delete_index(row.index);
    if (!d.ok() && d.error().http_status != 404) refresh::check(d, "deleting " + row.index);
    deleted.push_back(row.index);
  }
  refresh::drop_fdw_objects(c.db, c.media, run.refresh_id);
  c.db.exec(refresh::drop_refresh_tables_sql(c.media.table, run.refresh_id));
  if (run.mode == "incremental") {  // the staged delta was applied to the live tables
    for (const auto& t : refresh::refreshed_tables(c.media)) {
      c.db.exec("DROP TABLE IF EXISTS " + refresh::temp_table(pg::Identifier(t, "table name")).quoted() + " CASCADE");
    }
  }
  c.ledger.mark_step(run.refresh_id, "cleanup", seconds_since(started), {{"deleted_indices", deleted}});
  c.log.info("old indices deleted", {{"refresh_id", run.refresh_id}, {"indices", deleted}});
  return StepResult::kDone;
}

// ------------------------------------------------------------------------------------- complete

StepResult complete(StepContext& c) {
  const auto& run = c.run;
  const auto& media = c.media;
  auto verify = c.ledger.step_details(run.refresh_id, "verify").value_or(nlohmann::json::object());
  auto filtered = c.ledger.step_details(run.refresh_id, "filtered_index").value_or(nlohmann::json::object());
  messages::RefreshCompleted done;
  done.refresh_id = RefreshId(run.refresh_id);
  done.media_type = media.name;
  auto& r = done.report;
  r.rows_before = verify.value("rows_before", std::int64_t{0});
  std::map<std::string, std::int64_t> after;
  if (verify.contains("per_provider_after")) {  // an incremental refresh's, from its delta
    for (const auto& [p, n] : verify["per_provider_after"].items()) after[p] = n.get<std::int64_t>();
  } else if (run.mode != "filtered_only" && run.mode != "sample") {  // those leave the table alone
    after = provider_counts(c.db, media.table);
  }
  std::set<std::string> providers;
  for (const auto& [p, _] : after) providers.insert(p);
  auto before = verify.value("per_provider_before", nlohmann::json::object());
  for (const auto& [p, _] : before.items()) providers.insert(p);
  for (const auto& p : providers) {
    std::int64_t a = after.count(p) ? after[p] : 0;
    r.rows_after += a;
    r.per_provider.push_back({p, before.value(p, std::int64_t{0}), a});
  }
  r.tags_filtered_rows = run.tags_rows_changed.value_or(0);
  r.tags_removed = run.tags_removed.value_or(0);
  r.documents_indexed = verify.value("indexed", std::int64_t{0});
  if (run.mode == "filtered_only") r.documents_indexed = filtered.value("documents", std::int64_t{0});
  if (run.mode == "sample") {
    r.documents_indexed = c.ledger.step_details(run.refresh_id, "sample_index")
                              .value_or(nlohmann::json::object())
                              .value("documents", std::int64_t{0});
  }
  r.dead_lettered = verify.value("dead_lettered", std::int64_t{0});
  r.filtered_out = filtered.value("filtered_out", std::int64_t{0});
  // In the order the steps finished; a table's copy steps add up to one "copy" phase.
  for (const auto& [step, secs] : c.ledger.step_seconds(run.refresh_id)) {
    std::string phase = step.substr(0, step.find(':'));
    if (step.find(':') != std::string::npos && phase != "copy") continue;  // per-batch rows are inside their step
    if (step == "baseline") continue;  // what the next incremental refresh compares with, not a phase
    auto it = std::find_if(r.phases.begin(), r.phases.end(), [&](const auto& p) { return p.name == phase; });
    if (it == r.phases.end()) r.phases.push_back({phase, secs});
    else it->seconds += secs;
  }
  done.mode = run.mode;
  if (run.mode == "incremental") {
    auto delta = c.ledger.step_details(run.refresh_id, "delta").value_or(nlohmann::json::object());
    const auto staged = delta.value("staged", std::int64_t{0});
    messages::RefreshReport::Changes ch;
    ch.created = delta.value("created", std::int64_t{0});
    ch.reflagged = delta.value("reflagged", std::int64_t{0});
    ch.updated = std::max<std::int64_t>(0, staged - ch.created - ch.reflagged);
    ch.deleted = delta.value("deleted", std::int64_t{0});
    r.changes = ch;
  }
  auto encoded = nlohmann::json::parse(messages::encode(done));
  // The event first, then the ledger: a crash in between repeats the event on restart (consumers
  // see it at least once) instead of losing it behind a run already marked completed.
  c.services.publisher.publish(done);
  crash_point("coordinator.before_finish_run");
  c.ledger.finish_run(run.refresh_id, ledger::RunStatus::kCompleted, std::nullopt, encoded["report"]);
  auto& metrics = c.services.metrics;
  metrics.refreshes.Add({{"media_type", media.name}, {"outcome", "completed"}, {"mode", run.mode}}).Increment();
  if (!messages::is_maintenance_mode(run.mode)) {  // how fresh the data is: only a refresh says
    metrics.last_success.Add({{"media_type", media.name}})
        .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  }
  metrics.clear(media.name, run.phase);
  c.log.info("refresh completed", {{"refresh_id", run.refresh_id}, {"media_type", media.name},
                                   {"rows_before", r.rows_before}, {"rows_after", r.rows_after},
                                   {"documents", r.documents_indexed}});
  return StepResult::kDone;
}

// -------------------------------------------------------------------------------------- rollback

// The generation a rollback restores, read again: the one the planner checked, still complete.
refresh::KeptGeneration kept_to_restore(StepContext& c) {
  const auto& run = c.run;
  auto kept = refresh::read_kept(c.db, c.media.name);
  const std::string expected = c.ledger.step_details(run.refresh_id, "preflight")
                                   .value_or(nlohmann::json::object())
                                   .value("kept_refresh_id", "");
  if (!kept || kept->refresh_id != expected) {
    throw StepError(fmt::format("the generation of {} kept by refresh {} is no longer kept{}: nothing was changed",
                                c.media.name, expected, kept ? " (refresh " + kept->refresh_id + " replaced it)" : ""),
                    false);
  }
  return *kept;
}

// Checks that the kept generation can still be restored, and records the live table's counts
// (the report's "before").
StepResult verify_kept(StepContext& c) {
  const auto& run = c.run;
  c.enter_phase("verifying");
  auto started = Clock::now();
  auto kept = kept_to_restore(c);
  auto problems =
      refresh::kept_problems(c.db, c.services.search, kept, c.services.config.refresh.filtered_index.enabled);
  if (!problems.empty()) {
    throw StepError(fmt::format("the generation of {} kept by refresh {} cannot be restored: {}; nothing was changed",
                                c.media.name, kept.refresh_id, fmt::join(problems, "; ")),
                    false);
  }
  std::int64_t total = 0;
  auto before = rows_before(c.db, c.media.table, total);
  c.ledger.mark_step(run.refresh_id, "verify", seconds_since(started),
                     {{"rows_before", total}, {"per_provider_before", before}, {"kept", kept.to_json()}});
  return StepResult::kDone;
}

// Restores the kept tables in one transaction: a full refresh's previous tables move back, an
// incremental one's replaced rows go back in place of its changes. The kept record goes with it,
// and the baseline, which described the rolled-back generation (the next incremental refresh
// asks for a full one).
StepResult restore_table(StepContext& c) {
  const auto& run = c.run;
  c.enter_phase("restoring_table");
  auto started = Clock::now();
  auto kept = kept_to_restore(c);
  std::vector<std::string> statements;
  if (kept.mode == "full") {
    std::vector<TableSchema> live;
    for (const auto& t : refresh::refreshed_tables(c.media)) live.push_back(read_table_schema(c.db, t));
    statements = restore_statements(live, refresh::kKeptSchema, kept.live_schema);
  } else {
    statements = apply_rows_statements(c, refresh::kept_table(c.media.table), refresh::added_rows_table(c.media.table),
                                       [](const std::string& extra) { return refresh::kept_table(extra); });
  }
  for (auto& s : refresh::discard_kept_sql(c.media)) statements.push_back(std::move(s));
  for (auto& s : refresh::drop_baseline_sql(c.media.table)) statements.push_back(std::move(s));
  crash_point("coordinator.before_restore_table");
  c.db.transact(
      [&](pg::Database& tx) {
        if (ledger::Ledger(tx).cancel_requested_for_update(run.refresh_id))
          throw refresh::CancelRequested(run.refresh_id);
        // The kept record, locked: the sweeper deletes it only through this row.
        // An expired one may be the sweeper's to delete at any moment: never restored.
        if (!tx.query_value("SELECT 1 FROM datarefresh.kept WHERE media_type = $1 AND refresh_id = $2::uuid AND "
                            "kept_until > now() FOR UPDATE",
                            {c.media.name, kept.refresh_id})) {
          throw StepError("the kept generation of " + c.media.name +
                              " expired or was deleted meanwhile (refresh.keep_previous); nothing was changed",
                          false);
        }
        auto locked = Clock::now();
        for (const auto& s : statements) tx.exec(s);
        ledger::Ledger(tx).mark_step(
            run.refresh_id, "restore_table", seconds_since(started),
            {{"statements", statements.size()}, {"lock_seconds", seconds_since(locked)}, {"kept_mode", kept.mode}});
      },
      pg::TransactionOptions{c.services.config.postgres.lock_timeout, 10});
  crash_point("coordinator.after_restore_table");
  c.log.info("kept tables restored",
             {{"refresh_id", run.refresh_id}, {"kept_by", kept.refresh_id}, {"mode", kept.mode}});
  return StepResult::kDone;
}

constexpr std::array<RefreshStep, 9> kSequence{{
    {"indexing", supervise_shards, nullptr},
    {"verify", verify, nullptr},
    {"filtered_index", build_filtered_index, stop_filtered_reindex},
    {"restore_settings", restore_settings, nullptr},
    {"reapply_constraints", reapply_constraints, nullptr},
    {kPointOfNoReturn, promote_table, nullptr},
    {"promote_aliases", promote_aliases, nullptr},
    {"cleanup", clean_up, nullptr},
    {"complete", complete, nullptr},
}};

constexpr std::array<RefreshStep, 5> kFilteredOnlySequence{{
    {"filtered_index", build_filtered_index, stop_filtered_reindex},
    {"restore_settings", restore_settings, nullptr},
    {"promote_aliases", promote_aliases, nullptr},
    {"cleanup", clean_up, nullptr},
    {"complete", complete, nullptr},
}};

constexpr std::array<RefreshStep, 5> kSampleSequence{{
    {"sample_index", build_sample_index, stop_sample_reindex},
    {"restore_settings", restore_settings, nullptr},
    {"promote_aliases", promote_aliases, nullptr},
    {"cleanup", clean_up, nullptr},
    {"complete", complete, nullptr},
}};

constexpr std::array<RefreshStep, 5> kRollbackSequence{{
    {"verify", verify_kept, nullptr},
    {"restore_table", restore_table, nullptr},
    {"promote_aliases", promote_aliases, nullptr},
    {"cleanup", clean_up, nullptr},
    {"complete", complete, nullptr},
}};

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(prometheus::Registry& registry)
    : events_folded(prometheus::BuildCounter()
                        .Name("datarefresh_events_folded_total")
                        .Help("Events folded into the ledger, by type and whether they changed it")
                        .Register(registry)),
      phase(prometheus::BuildGauge()
                .Name("datarefresh_refresh_phase")
                .Help("1 for the phase each running refresh is in")
                .Register(registry)),
      progress(prometheus::BuildGauge()
                   .Name("datarefresh_refresh_progress_ratio")
                   .Help("Shards completed / shards planned, per running refresh's media type")
                   .Register(registry)),
      shards(prometheus::BuildGauge()
                 .Name("datarefresh_shards")
                 .Help("Shards of running refreshes by state")
                 .Register(registry)),
      shard_jobs_waiting(prometheus::BuildGauge()
                             .Name("datarefresh_shard_jobs_waiting")
                             .Help("Shard jobs published and not started, per running refresh's media type: queued "
                                   "behind other jobs, or lost (the indexers' group passed them)")
                             .Register(registry)),
      shard_jobs_idle(prometheus::BuildGauge()
                          .Name("datarefresh_shard_jobs_idle_seconds")
                          .Help("How long shard jobs of a running refresh have waited with no indexer consuming any "
                                "(0 while they are consumed or none waits)")
                          .Register(registry)),
      refreshes(prometheus::BuildCounter()
                    .Name("datarefresh_refreshes_total")
                    .Help("Refreshes finished, by media type and outcome")
                    .Register(registry)),
      last_success(prometheus::BuildGauge()
                       .Name("datarefresh_last_successful_refresh_timestamp_seconds")
                       .Help("When the last refresh of each media type completed")
                       .Register(registry)) {}

void CoordinatorMetrics::clear(const std::string& media_type, const std::string& phase_name) {
  phase.Add({{"media_type", media_type}, {"phase", phase_name}}).Set(0);
  progress.Remove(&progress.Add({{"media_type", media_type}}));
  for (const auto& st : {"pending", "running", "completed", "failed"}) {
    shards.Remove(&shards.Add({{"media_type", media_type}, {"state", st}}));
  }
  for (const auto& st : {"queued", "lost"}) {
    shard_jobs_waiting.Remove(&shard_jobs_waiting.Add({{"media_type", media_type}, {"state", st}}));
  }
  shard_jobs_idle.Remove(&shard_jobs_idle.Add({{"media_type", media_type}}));
}

void StepContext::reload() {
  auto fresh = ledger.run(run.refresh_id);
  if (!fresh) throw StepError("refresh " + run.refresh_id + " is no longer in the ledger", false);
  run = std::move(*fresh);
}

void StepContext::check_cancel() {
  if (ledger.run(run.refresh_id).value_or(ledger::Run{}).cancel_requested_at) {
    throw refresh::CancelRequested(run.refresh_id);
  }
}

void StepContext::enter_phase(const std::string& phase) {
  if (run.phase == phase) return;
  services.metrics.phase.Add({{"media_type", run.media_type}, {"phase", run.phase}}).Set(0);
  refresh::enter_phase(ledger, services.publisher, run, phase);
  services.metrics.phase.Add({{"media_type", run.media_type}, {"phase", phase}}).Set(1);
}

void cancel_engine_task(StepContext& c, const std::string& task, std::string_view what) {
  auto status = c.services.search.get_task(task);
  if (!status.ok() && status.error().http_status == 404) return;  // the engine no longer knows it
  if (status.ok() && status.value().completed) return;
  auto cancelled = c.services.search.cancel_task(task);
  if (!cancelled.ok() && cancelled.error().http_status != 404) {
    refresh::check(cancelled, "cancelling " + std::string(what) + " task " + task);
  }
  c.log.info(std::string(what) + " cancelled", {{"refresh_id", c.run.refresh_id}, {"task", task}});
}

std::span<const RefreshStep> refresh_sequence() { return kSequence; }

std::span<const RefreshStep> sequence_for(std::string_view mode) {
  if (mode == "filtered_only") return kFilteredOnlySequence;
  if (mode == "sample") return kSampleSequence;
  if (mode == "rollback") return kRollbackSequence;
  return kSequence;
}

std::string_view point_of_no_return(std::string_view mode) {
  if (mode == "rollback") return "restore_table";
  if (mode == "filtered_only" || mode == "sample") return "promote_aliases";
  return kPointOfNoReturn;
}

}  // namespace datarefresh::coordinator
