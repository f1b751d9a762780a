#include "consumer/coordinator/coordinator_service.h"

#include <algorithm>
#include <cstdlib>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include "consumer/coordinator/notifier.h"
#include "consumer/coordinator/table_schema.h"
#include "core/common/crash_point.h"
#include "core/common/log.h"
#include "core/common/shutdown.h"
#include "core/ledger/ledger.h"
#include "core/messages/codec.h"
#include "core/refresh/event_publisher.h"
#include "core/refresh/naming.h"
#include "core/refresh/retry_budget.h"
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

}  // namespace

struct Coordinator::Impl {
  Impl(service::ServiceContext& c, kafka::Producer& p)
      : context(c),
        config(c.config()),
        publisher(p, c.config()),
        search(service::search_client_options(c.config())),
        events_folded(prometheus::BuildCounter()
                          .Name("datarefresh_events_folded_total")
                          .Help("Events folded into the ledger, by type and whether they changed it")
                          .Register(*c.registry())),
        phase_gauge(prometheus::BuildGauge()
                        .Name("datarefresh_refresh_phase")
                        .Help("1 for the phase each running refresh is in")
                        .Register(*c.registry())),
        progress_gauge(prometheus::BuildGauge()
                           .Name("datarefresh_refresh_progress_ratio")
                           .Help("Shards completed / shards planned, per running refresh's media type")
                           .Register(*c.registry())),
        shards_gauge(prometheus::BuildGauge()
                         .Name("datarefresh_shards")
                         .Help("Shards of running refreshes by state")
                         .Register(*c.registry())),
        refreshes(prometheus::BuildCounter()
                      .Name("datarefresh_refreshes_total")
                      .Help("Refreshes finished, by media type and outcome")
                      .Register(*c.registry())),
        last_success(prometheus::BuildGauge()
                         .Name("datarefresh_last_successful_refresh_timestamp_seconds")
                         .Help("When the last refresh of each media type completed")
                         .Register(*c.registry())) {}

  service::ServiceContext& context;
  const config::Config& config;
  refresh::EventPublisher publisher;
  search::Client search;
  prometheus::Family<prometheus::Counter>& events_folded;
  prometheus::Family<prometheus::Gauge>& phase_gauge;
  prometheus::Family<prometheus::Gauge>& progress_gauge;
  prometheus::Family<prometheus::Gauge>& shards_gauge;
  prometheus::Family<prometheus::Counter>& refreshes;
  prometheus::Family<prometheus::Gauge>& last_success;
  std::optional<pg::Database> fold_db;
  std::optional<pg::Database> tick_db;
  refresh::RetryBudget retries{config.refresh.transient_retry_deadline};  // by refresh id
  Clock::time_point next_sweep{};                  // the first tick sweeps
  bool last_success_loaded = false;
  Logger log{"coordinator"};
  std::mutex work_mutex;
  std::condition_variable work_cv;
  bool work = false;  // an event was folded since the driver last woke

  pg::Database& connection(std::optional<pg::Database>& slot, const char* app) {
    if (!slot) {
      slot.emplace(pg::Database::connect(service::api_db_options(config, app)));
      ledger::Ledger(*slot).ensure_schema();
    }
    return *slot;
  }

  // ---------------------------------------------------------------- event folding

  void dead_letter(const kafka::Message& m, const std::string& reason, const std::optional<std::string>& refresh_id) {
    publisher.dead_letter(m, reason, refresh_id);
  }

  kafka::JobOutcome fold(const kafka::Message& m) {
    auto& db = connection(fold_db, "datarefresh-coordinator-events");
    ledger::Ledger ledger(db);
    if (m.topic == publisher.topic(config::Topic::kRefreshJobs)) {
      auto plan = messages::decode<messages::RefreshPlanned>(m.payload);
      if (!plan.ok()) {
        dead_letter(m, plan.error().message, std::nullopt);
      } else if (!ledger.run(plan.value().refresh_id.value())) {
        dead_letter(m, "refresh.planned for unknown refresh " + plan.value().refresh_id.value(),
                    plan.value().refresh_id.value());
      } else {
        log.info("refresh planned", {{"refresh_id", plan.value().refresh_id.value()},
                                     {"shards", plan.value().shard_count}});
      }
      return kafka::JobOutcome::kDone;
    }
    auto event = messages::decode_event(m.payload);
    if (!event.ok()) {
      dead_letter(m, event.error().message, std::nullopt);
      return kafka::JobOutcome::kDone;
    }
    std::visit(
        [&](const auto& e) {
          using T = std::decay_t<decltype(e)>;
          if constexpr (std::is_same_v<T, messages::ShardStarted> || std::is_same_v<T, messages::ShardProgress> ||
                        std::is_same_v<T, messages::ShardCompleted> || std::is_same_v<T, messages::ShardFailed>) {
            const std::string id = e.refresh_id.value();
            if (!ledger.run(id)) {
              dead_letter(m, std::string(T::kType) + " for unknown refresh " + id, id);
              return;
            }
            bool changed = false;
            if constexpr (std::is_same_v<T, messages::ShardStarted>) {
              changed = ledger.shard_started(id, e.shard.value(), e.attempt, e.worker);
            } else if constexpr (std::is_same_v<T, messages::ShardProgress>) {
              changed = ledger.shard_progress(id, e.shard.value(), e.attempt, {e.rows_read, e.indexed, 0, 0, 0});
            } else if constexpr (std::is_same_v<T, messages::ShardCompleted>) {
              const auto& c = e.counts;
              changed = ledger.shard_completed(id, e.shard.value(), e.attempt,
                                               {c.rows_read, c.indexed, c.skipped_deleted, c.skipped_removed, c.dead_lettered});
            } else {
              changed = ledger.shard_failed(id, e.shard.value(), e.attempt, e.error);
            }
            events_folded.Add({{"type", std::string(T::kType)}, {"changed", changed ? "true" : "false"}}).Increment();
          }
        },
        event.value());
    return kafka::JobOutcome::kDone;
  }

  // ---------------------------------------------------------------- driving refreshes

  void enter_phase(ledger::Ledger& ledger, ledger::Run& run, const std::string& phase) {
    if (run.phase == phase) return;
    phase_gauge.Add({{"media_type", run.media_type}, {"phase", run.phase}}).Set(0);
    refresh::enter_phase(ledger, publisher, run, phase);
    phase_gauge.Add({{"media_type", run.media_type}, {"phase", phase}}).Set(1);
  }

  messages::ShardJob shard_job(const ledger::Run& run, const config::MediaTypeConfig& media, const ledger::ShardRecord& s) {
    messages::ShardJob job;
    job.refresh_id = RefreshId(run.refresh_id);
    job.media_type = media.name;
    job.shard = ShardNumber(s.shard);
    job.id_start = RowId(s.id_start);
    job.id_end = RowId(s.id_end);
    job.table = refresh::temp_table(pg::Identifier(media.table)).name();
    job.target_index = *run.new_index;
    job.attempt = s.attempt;
    job.expected_rows = s.id_end - s.id_start;
    job.published_at = messages::now_timestamp();
    return job;
  }

  // Returns true once every shard completed. Re-publishes failed and stalled shards.
  bool supervise_shards(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    auto shards = ledger.shards(run.refresh_id);
    const double stall = std::chrono::duration<double>(config.refresh.shard_stall_timeout).count();
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
      if (s.status == ledger::ShardStatus::kFailed) why = "failed: " + s.error.value_or("");
      if (s.status == ledger::ShardStatus::kRunning && s.idle_seconds > stall) {
        why = fmt::format("no progress from {} for {:.0f}s", s.worker.value_or("its indexer"), s.idle_seconds);
      }
      if (why) {
        if (s.attempt >= config.refresh.max_shard_attempts) {
          throw StepError(fmt::format("shard {} (ids [{}, {})) {} after {} attempts (refresh.max_shard_attempts)",
                                      s.shard, s.id_start, s.id_end, *why, s.attempt),
                          false);
        }
        if (ledger.retry_shard(run.refresh_id, s.shard, s.attempt)) {
          log.warn("shard re-published", {{"refresh_id", run.refresh_id}, {"shard", s.shard},
                                          {"attempt", s.attempt + 1}, {"reason", *why}});
          s.attempt += 1;
          s.published = false;
          s.status = ledger::ShardStatus::kPending;
        }
      }
      if (s.status == ledger::ShardStatus::kPending && !s.published) to_publish.push_back(shard_job(run, media, s));
    }
    if (!to_publish.empty()) {
      publisher.shard_jobs(to_publish);
      for (const auto& j : to_publish) ledger.mark_published(run.refresh_id, j.shard.value());
    }
    for (const auto& st : {"pending", "running", "completed", "failed"}) {
      shards_gauge.Add({{"media_type", run.media_type}, {"state", st}}).Set(states[st]);
    }
    progress_gauge.Add({{"media_type", run.media_type}})
        .Set(shards.empty() ? 1.0 : static_cast<double>(done) / static_cast<double>(shards.size()));
    return done == shards.size();
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

  void check_alias_names(const ledger::Run& run) {
    for (const auto& alias : {*run.alias, *run.filtered_alias}) {
      auto targets = refresh::check(search.get_alias(alias), "reading alias " + alias);
      if (targets.empty() && refresh::check(search.index_exists(alias), "checking " + alias)) {
        throw StepError("alias name " + alias + " is now an existing index: the aliases cannot be moved; delete or "
                        "rename that index, then request the refresh again",
                        false);
      }
    }
  }

  void verify(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "verify")) return;
    enter_phase(ledger, run, "verifying");
    auto started = Clock::now();
    refresh::check(search.refresh(*run.new_index), "refreshing " + *run.new_index);
    auto documents = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
    auto t = shard_totals(ledger, run.refresh_id);
    std::int64_t expected = run.expected_rows.value_or(0);
    if (t.rows_read != expected) {
      throw StepError(fmt::format("the shards read {} rows but the temp table holds {}: rows were lost or read twice",
                                  t.rows_read, expected),
                      false);
    }
    if (documents != t.indexed) {
      throw StepError(fmt::format("index {} holds {} documents but the indexers had {} acknowledged", *run.new_index,
                                  documents, t.indexed),
                      false);
    }
    // The temp table's eligible rows, counted independently of the indexers. Media deleted on
    // request while the refresh ran may be indexed yet no longer eligible: that much slack only.
    auto temp = refresh::temp_table(pg::Identifier(media.table, "table name"));
    auto deleted_table = pg::Identifier(media.table, "table name").with_prefix("api_deleted");
    std::int64_t eligible_now = std::stoll(db.query_value(
        "SELECT count(*) FROM " + temp.quoted() + " AS t WHERE NOT t.removed_from_source AND NOT EXISTS (SELECT 1 FROM " +
        deleted_table.quoted() + " AS d WHERE d.identifier = t.identifier)").value_or("0"));
    std::int64_t deleted_meanwhile = std::stoll(
        db.query_value("SELECT count(*) FROM " + deleted_table.quoted() + " WHERE created_on >= $1::timestamptz",
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
    check_alias_names(run);
    nlohmann::json before = nlohmann::json::object();
    std::int64_t rows_before = 0;
    for (const auto& [p, n] : provider_counts(db, media.table)) {
      before[p] = n;
      rows_before += n;
    }
    ledger.mark_step(run.refresh_id, "verify", seconds_since(started),
                     {{"documents", documents}, {"rows_before", rows_before}, {"per_provider_before", before},
                      {"indexed", t.indexed}, {"dead_lettered", t.dead_lettered},
                      {"skipped_deleted", t.skipped_deleted}, {"skipped_removed", t.skipped_removed}});
  }

  void build_filtered_index(ledger::Ledger& ledger, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "filtered_index")) return;
    enter_phase(ledger, run, "building_filtered_index");
    auto started = Clock::now();
    const auto& fc = config.refresh.filtered_index;
    if (!fc.enabled) {
      ledger.mark_step(run.refresh_id, "filtered_index", 0, {{"skipped", true}});
      return;
    }
    std::string task;
    if (auto d = ledger.step_details(run.refresh_id, "filtered_index:task")) task = (*d)["task"];
    if (task.empty()) {
      auto terms = read_terms(context.resolve(config.refresh.sensitive_terms_file));
      auto path = context.resolve(config.refresh.index_settings_dir + "/" + media.index_settings);
      nlohmann::json overrides = {{"number_of_replicas", 0}, {"refresh_interval", "-1"}};
      if (media.number_of_shards > 0) overrides["number_of_shards"] = media.number_of_shards;
      auto created = search.create_index_from_file(*run.filtered_index, path.string(), overrides);
      if (!created.ok() && created.error().type != "resource_already_exists_exception") {
        throw StepError("creating " + *run.filtered_index + ": " + created.error().describe(), created.error().retryable);
      }
      nlohmann::json must_not = nlohmann::json::array();
      for (const auto* field : {"tags.name.raw", "title.raw", "description.raw"}) {
        must_not.push_back({{"terms", {{field, terms}}}});
      }
      nlohmann::json body = {{"source", {{"index", *run.new_index}, {"query", {{"bool", {{"must_not", must_not}}}}}}},
                             {"dest", {{"index", *run.filtered_index}}}};
      task = refresh::check(search.start_reindex(body, fc.requests_per_second, fc.slices),
                            "starting the filtered reindex into " + *run.filtered_index);
      ledger.mark_step(run.refresh_id, "filtered_index:task", 0, {{"task", task}, {"terms", terms.size()}});
      log.info("filtered reindex started", {{"refresh_id", run.refresh_id}, {"task", task}, {"terms", terms.size()}});
      crash_point("coordinator.filtered_index_running");
    }
    while (true) {
      auto status = search.get_task(task);
      if (!status.ok()) {
        if (status.error().http_status == 404) {
          // The engine lost the task (restarted): start over.
          ledger.db().exec_params("DELETE FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $2",
                                  {run.refresh_id, "filtered_index:task"});
          search.delete_index(*run.filtered_index);
          throw StepError("reindex task " + task + " is unknown to the engine; starting the filtered index again", true);
        }
        throw StepError("polling reindex task " + task + ": " + status.error().describe(), status.error().retryable);
      }
      if (status.value().completed) {
        if (status.value().error || !status.value().failures.empty()) {
          std::string why = status.value().error.value_or(status.value().failures.front());
          ledger.db().exec_params("DELETE FROM datarefresh.steps WHERE refresh_id = $1::uuid AND step = $2",
                                  {run.refresh_id, "filtered_index:task"});
          throw StepError("the filtered reindex failed: " + why, true);
        }
        break;
      }
      if (ledger.run(run.refresh_id)->cancel_requested_at) {
        // Stop the engine's copy before the rollback deletes its destination, which a running
        // reindex would otherwise create again.
        refresh::check(search.cancel_task(task), "cancelling reindex task " + task);
        throw refresh::CancelRequested(run.refresh_id);
      }
      if (wait_for_shutdown(std::chrono::milliseconds(500))) throw StepError("stopping", true);
    }
    refresh::check(search.refresh(*run.filtered_index), "refreshing " + *run.filtered_index);
    auto filtered = refresh::check(search.count(*run.filtered_index), "counting " + *run.filtered_index);
    auto main = refresh::check(search.count(*run.new_index), "counting " + *run.new_index);
    ledger.mark_step(run.refresh_id, "filtered_index", seconds_since(started),
                     {{"documents", filtered}, {"filtered_out", main - filtered}});
  }

  void restore_settings(ledger::Ledger& ledger, ledger::Run& run) {
    if (ledger.step_done(run.refresh_id, "restore_settings")) return;
    enter_phase(ledger, run, "restoring_settings");
    auto started = Clock::now();
    std::vector<std::string> indices{*run.new_index};
    if (config.refresh.filtered_index.enabled) indices.push_back(*run.filtered_index);
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
        if (shutdown_requested()) throw StepError("stopping", true);
      }
    }
    ledger.mark_step(run.refresh_id, "restore_settings", seconds_since(started));
  }

  void reapply_constraints(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run,
                           const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "reapply_constraints")) return;
    enter_phase(ledger, run, "reapplying_constraints");
    auto started = Clock::now();
    nlohmann::json tables = nlohmann::json::array();
    auto names = refresh::refresh_names(media.name, run.refresh_id);
    int k = 0;
    for (const auto& table : refresh::refreshed_tables(media)) {
      auto schema = read_table_schema(db, table);
      auto temp = refresh::temp_table(pg::Identifier(table)).name();
      auto renames = reapply_schema(db, schema, temp, fmt::format("dr_{}_{}", names.suffix.substr(0, 12), k++));
      nlohmann::json r = nlohmann::json::array();
      for (const auto& x : renames) r.push_back({{"kind", x.kind}, {"temp_name", x.temp_name}, {"name", x.name}});
      tables.push_back({{"schema", to_json(schema)}, {"temp_table", temp}, {"renames", r}});
    }
    ledger.mark_step(run.refresh_id, "reapply_constraints", seconds_since(started), {{"tables", tables}});
  }

  void promote_table(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run) {
    if (ledger.step_done(run.refresh_id, "promote_table")) return;
    check_alias_names(run);
    enter_phase(ledger, run, "promoting_table");
    auto started = Clock::now();
    auto details = ledger.step_details(run.refresh_id, "reapply_constraints");
    std::vector<PromotedTable> tables;
    for (const auto& t : (*details)["tables"]) {
      PromotedTable p{table_schema_from_json(t["schema"]), t["temp_table"], {}};
      for (const auto& r : t["renames"]) p.renames.push_back({r["kind"], r["temp_name"], r["name"]});
      tables.push_back(p);
    }
    auto statements = promotion_statements(tables);
    crash_point("coordinator.before_promote_table");
    db.transact(
        [&](pg::Database& tx) {
          // Holds the run's row until the promotion commits: a cancel request either came first
          // (and stops it here) or waits and then finds the refresh promoting (too late).
          if (ledger::Ledger(tx).cancel_requested_for_update(run.refresh_id)) {
            throw refresh::CancelRequested(run.refresh_id);
          }
          for (const auto& s : statements) tx.exec(s);
          ledger::Ledger(tx).mark_step(run.refresh_id, "promote_table", seconds_since(started),
                                       {{"statements", statements.size()}});
        },
        pg::TransactionOptions{config.postgres.lock_timeout, 10});
    log.info("tables promoted", {{"refresh_id", run.refresh_id}, {"tables", tables.size()}});
    crash_point("coordinator.after_promote_table");
  }

  void promote_aliases(ledger::Ledger& ledger, ledger::Run& run) {
    if (ledger.step_done(run.refresh_id, "promote_aliases")) return;
    enter_phase(ledger, run, "promoting_aliases");
    auto started = Clock::now();
    std::vector<search::AliasAction> actions;
    std::vector<std::pair<std::string, std::string>> pairs{{*run.alias, *run.new_index}};
    if (config.refresh.filtered_index.enabled) pairs.emplace_back(*run.filtered_alias, *run.filtered_index);
    for (const auto& [alias, index] : pairs) {
      auto current = refresh::check(search.get_alias(alias), "reading alias " + alias);
      for (const auto& [old_index, _] : current) {
        if (old_index != index) actions.push_back(search::AliasAction::remove(old_index, alias));
      }
      if (!current.count(index)) actions.push_back(search::AliasAction::add(index, alias));
    }
    crash_point("coordinator.before_promote_aliases");
    if (!actions.empty()) refresh::check(search.update_aliases(actions), "moving the aliases");
    crash_point("coordinator.after_promote_aliases");
    ledger.mark_step(run.refresh_id, "promote_aliases", seconds_since(started), {{"actions", actions.size()}});
    log.info("aliases moved", {{"refresh_id", run.refresh_id}, {"actions", actions.size()}});
  }

  void clean_up(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    if (ledger.step_done(run.refresh_id, "cleanup")) return;
    enter_phase(ledger, run, "cleaning_up");
    auto started = Clock::now();
    std::set<std::string> keep{*run.new_index, *run.filtered_index};
    for (const auto& other : ledger.runs_with_status(ledger::RunStatus::kRunning)) {
      if (other.new_index) keep.insert(*other.new_index);
      if (other.filtered_index) keep.insert(*other.filtered_index);
    }
    std::vector<std::string> deleted;
    auto indices = refresh::check(search.cat_indices(), "listing indices");
    for (const auto& row : indices) {
      bool ours = row.index == run.old_index.value_or("") || row.index == run.old_filtered_index.value_or("") ||
                  refresh::is_refresh_index(media.name, row.index);
      if (!ours || keep.count(row.index)) continue;
      auto aliases = refresh::check(search.get_index_aliases(row.index), "reading aliases of " + row.index);
      if (!aliases.empty()) continue;  // something still serves from it: never delete
      crash_point("coordinator.before_delete_old_index");
      auto d = search.delete_index(row.index);
      if (!d.ok() && d.error().http_status != 404) refresh::check(d, "deleting " + row.index);
      deleted.push_back(row.index);
    }
    refresh::drop_fdw_objects(db, media, run.refresh_id);
    ledger.mark_step(run.refresh_id, "cleanup", seconds_since(started), {{"deleted_indices", deleted}});
    log.info("old indices deleted", {{"refresh_id", run.refresh_id}, {"indices", deleted}});
  }

  // A finished refresh leaves no progress or shard gauges behind (alerts on stalled progress
  // would otherwise fire for a refresh that is over) and its phase reads 0.
  void clear_gauges(const std::string& media_type, const std::string& phase) {
    phase_gauge.Add({{"media_type", media_type}, {"phase", phase}}).Set(0);
    progress_gauge.Remove(&progress_gauge.Add({{"media_type", media_type}}));
    for (const auto& st : {"pending", "running", "completed", "failed"}) {
      shards_gauge.Remove(&shards_gauge.Add({{"media_type", media_type}, {"state", st}}));
    }
  }

  // The last successful refresh per media type as the ledger remembers it, so the gauge (and the
  // alert on it) survives a coordinator restart.
  void load_last_success(pg::Database& db) {
    auto rs = db.exec("SELECT media_type, extract(epoch FROM max(finished_at)) FROM datarefresh.runs "
                      "WHERE status = 'completed' GROUP BY media_type");
    for (const auto& r : rs.rows) {
      if (r[1]) last_success.Add({{"media_type", r[0].value_or("")}}).Set(std::stod(*r[1]));
    }
  }

  void complete(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media) {
    auto verify = ledger.step_details(run.refresh_id, "verify").value_or(nlohmann::json::object());
    auto filtered = ledger.step_details(run.refresh_id, "filtered_index").value_or(nlohmann::json::object());
    messages::RefreshCompleted done;
    done.refresh_id = RefreshId(run.refresh_id);
    done.media_type = media.name;
    auto& r = done.report;
    r.rows_before = verify.value("rows_before", std::int64_t{0});
    auto after = provider_counts(db, media.table);
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
    r.dead_lettered = verify.value("dead_lettered", std::int64_t{0});
    r.filtered_out = filtered.value("filtered_out", std::int64_t{0});
    // In the order the steps finished; a table's copy steps add up to one "copy" phase.
    for (const auto& [step, secs] : ledger.step_seconds(run.refresh_id)) {
      std::string phase = step.substr(0, step.find(':'));
      if (step.find(':') != std::string::npos && phase != "copy") continue;  // per-batch rows are inside their step
      auto it = std::find_if(r.phases.begin(), r.phases.end(), [&](const auto& p) { return p.name == phase; });
      if (it == r.phases.end()) r.phases.push_back({phase, secs});
      else it->seconds += secs;
    }
    auto encoded = nlohmann::json::parse(messages::encode(done));
    // The event first, then the ledger: a crash in between repeats the event on restart (consumers
    // see it at least once) instead of losing it behind a run already marked completed.
    publisher.publish(done);
    crash_point("coordinator.before_finish_run");
    ledger.finish_run(run.refresh_id, ledger::RunStatus::kCompleted, std::nullopt, encoded["report"]);
    refreshes.Add({{"media_type", media.name}, {"outcome", "completed"}}).Increment();
    last_success.Add({{"media_type", media.name}})
        .Set(std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
    clear_gauges(media.name, run.phase);
    log.info("refresh completed", {{"refresh_id", run.refresh_id}, {"media_type", media.name},
                                   {"rows_before", r.rows_before}, {"rows_after", r.rows_after},
                                   {"documents", r.documents_indexed}});
  }

  void fail(ledger::Ledger& ledger, pg::Database& db, ledger::Run& run, const config::MediaTypeConfig& media,
            const std::string& error) {
    if (ledger.step_done(run.refresh_id, "promote_table")) {
      // The live table is already the new one: never roll back past this point; keep trying.
      log.error("step failed after table promotion; will retry", {{"refresh_id", run.refresh_id}, {"error", error}});
      return;
    }
    refresh::fail_refresh(ledger, db, search, publisher, run, media, error);
    refreshes.Add({{"media_type", media.name}, {"outcome", "failed"}}).Increment();
    clear_gauges(media.name, run.phase);
  }

  // Rolls back a refresh an operator cancelled (never one promoting: request_cancel refuses then).
  void cancel(ledger::Ledger& ledger, pg::Database& db, const ledger::Run& requested,
              const config::MediaTypeConfig& media) {
    auto run = *ledger.run(requested.refresh_id);  // with who cancelled and when
    refresh::cancel_refresh(ledger, db, search, publisher, run, media);
    refreshes.Add({{"media_type", media.name}, {"outcome", "cancelled"}}).Increment();
    clear_gauges(media.name, run.phase);
  }

  // Removes what no running refresh owns, so that a rollback that could not finish (the engine
  // or the database was down when the refresh failed) is completed later and nothing is orphaned:
  // indices of finished refreshes that no alias points at, temp tables of media types with no
  // refresh running, FDW servers and import schemas of refreshes not running. Indices of refreshes
  // the ledger does not know are left alone (another installation may share the cluster).
  void sweep_leftovers(ledger::Ledger& ledger, pg::Database& db) {
    std::set<std::string> busy_media, busy_prefixes;
    for (const auto& r : ledger.runs_with_status(ledger::RunStatus::kRunning)) {
      busy_media.insert(r.media_type);
      busy_prefixes.insert(refresh::refresh_names(r.media_type, r.refresh_id).suffix.substr(0, 12));
    }
    std::vector<std::string> removed;
    auto indices = search.cat_indices();
    for (const auto& row : indices.ok() ? indices.value() : std::vector<search::IndexRow>{}) {
      for (const auto& [name, media] : config.media_types) {
        auto id = refresh::refresh_id_of_index(name, row.index);
        if (!id) continue;
        auto run = ledger.run(*id);
        if (!run || run->status == ledger::RunStatus::kRunning) continue;
        auto aliases = search.get_index_aliases(row.index);
        if (!aliases.ok() || !aliases.value().empty()) continue;  // served from: never delete
        auto d = search.delete_index(row.index);
        if (d.ok() || d.error().http_status == 404) removed.push_back("index " + row.index);
      }
    }
    for (const auto& [name, media] : config.media_types) {
      if (busy_media.count(name)) continue;
      for (const auto& t : refresh::refreshed_tables(media)) {
        auto temp = refresh::temp_table(pg::Identifier(t, "table name"));
        if (!db.query_value("SELECT to_regclass($1)::text", {temp.quoted()})) continue;
        // Checked again in the same statement: a refresh of this media type may have begun since.
        db.exec("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM datarefresh.runs WHERE status = 'running' AND media_type = " +
                pg::quote_literal(name) + ") THEN DROP TABLE IF EXISTS " + temp.quoted() + " CASCADE; END IF; END $$");
        removed.push_back("table " + temp.name());
      }
    }
    auto fdw = db.exec(
        "SELECT 'server', srvname, substr(srvname, 17, 12) FROM pg_foreign_server WHERE srvname LIKE "
        "'datarefresh\\_fdw\\_%' UNION ALL SELECT 'schema', nspname, substr(nspname, 22, 12) FROM pg_namespace "
        "WHERE nspname LIKE 'datarefresh\\_upstream\\_%'");
    for (const auto& r : fdw.rows) {
      if (busy_prefixes.count(r[2].value_or(""))) continue;
      db.exec("DROP " + r[0].value_or("") + " IF EXISTS " + pg::Identifier(r[1].value_or("")).quoted() + " CASCADE");
      removed.push_back(r[0].value_or("") + " " + r[1].value_or(""));
    }
    if (!removed.empty()) log.warn("removed leftovers of finished refreshes", {{"removed", removed}});
  }

  void advance(ledger::Ledger& ledger, pg::Database& db, ledger::Run run) {
    if (!ledger.step_done(run.refresh_id, "publish")) return;  // still the planner's
    auto media_it = config.media_types.find(run.media_type);
    if (media_it == config.media_types.end()) {
      log.error("running refresh of a media type this coordinator does not know", {{"refresh_id", run.refresh_id},
                                                                                    {"media_type", run.media_type}});
      return;
    }
    const auto& media = media_it->second;
    if (run.cancel_requested_at && !ledger.step_done(run.refresh_id, "promote_table")) {
      cancel(ledger, db, run, media);
      return;
    }
    try {
      if (!ledger.step_done(run.refresh_id, "indexing")) {
        phase_gauge.Add({{"media_type", run.media_type}, {"phase", run.phase}}).Set(1);  // the planner set it
        if (!supervise_shards(ledger, run, media)) return;
        auto published = db.query_value(
            "SELECT extract(epoch FROM now() - finished_at) FROM datarefresh.steps WHERE refresh_id = $1::uuid AND "
            "step = 'publish'",
            {run.refresh_id});
        ledger.mark_step(run.refresh_id, "indexing", published ? std::stod(*published) : 0.0);
      }
      verify(ledger, db, run, media);
      build_filtered_index(ledger, run, media);
      restore_settings(ledger, run);
      reapply_constraints(ledger, db, run, media);
      promote_table(ledger, db, run);
      promote_aliases(ledger, run);
      clean_up(ledger, db, run, media);
      complete(ledger, db, run, media);
      retries.reset(run.refresh_id);
    } catch (const refresh::CancelRequested&) {
      cancel(ledger, db, run, media);
    } catch (const std::exception& e) {
      bool retryable = refresh::is_retryable(e);
      if (retryable && retries.may_retry(run.refresh_id)) {
        log.warn("refresh step will be retried", {{"refresh_id", run.refresh_id}, {"phase", run.phase},
                                                  {"attempt", retries.attempts(run.refresh_id)}, {"error", e.what()}});
        return;
      }
      fail(ledger, db, run, media, e.what());
    }
  }
};

Coordinator::Coordinator(service::ServiceContext& context, kafka::Producer& producer)
    : impl_(std::make_unique<Impl>(context, producer)) {}
Coordinator::~Coordinator() = default;

kafka::JobOutcome Coordinator::handle(const kafka::Message& message, const kafka::CancelToken&) {
  try {
    auto outcome = impl_->fold(message);
    if (outcome == kafka::JobOutcome::kDone) {
      {
        std::lock_guard lock(impl_->work_mutex);
        impl_->work = true;
      }
      impl_->work_cv.notify_one();
    }
    return outcome;
  } catch (const std::exception& e) {
    impl_->log.error("message not folded, will be redelivered", {{"topic", message.topic}, {"error", e.what()}});
    impl_->fold_db.reset();
    return kafka::JobOutcome::kRetry;
  }
}

int Coordinator::tick() {
  auto& m = *impl_;
  try {
    auto& db = m.connection(m.tick_db, "datarefresh-coordinator");
    ledger::Ledger ledger(db);
    if (!m.last_success_loaded) {
      m.load_last_success(db);
      m.last_success_loaded = true;
    }
    auto running = ledger.runs_with_status(ledger::RunStatus::kRunning);
    for (auto& run : running) {
      if (shutdown_requested()) break;
      m.advance(ledger, db, run);
    }
    if (Clock::now() >= m.next_sweep) {
      m.next_sweep = Clock::now() + m.config.refresh.leftover_sweep_interval;
      try {
        m.sweep_leftovers(ledger, db);
      } catch (const std::exception& e) {
        m.log.warn("sweeping leftovers failed; will try again", {{"error", e.what()}});
      }
    }
    return static_cast<int>(running.size());
  } catch (const std::exception& e) {
    m.log.error("coordinator pass failed; reconnecting", {{"error", e.what()}});
    m.tick_db.reset();
    return -1;
  }
}

void Coordinator::wait_for_work(std::chrono::milliseconds timeout) {
  // In slices, so that a shutdown (which does not notify work_cv) is seen within one.
  constexpr std::chrono::milliseconds kSlice{100};
  const auto deadline = Clock::now() + timeout;
  std::unique_lock lock(impl_->work_mutex);
  while (!impl_->work && !shutdown_requested() && Clock::now() < deadline) {
    impl_->work_cv.wait_until(lock, std::min(deadline, Clock::now() + kSlice));
  }
  impl_->work = false;
}

int run_coordinator(const std::string& config_file) {
  service::ServiceContext context(config_file, service::ServiceContext::load(config_file), "coordinator");
  context.require_endpoints(service::kApiDatabase | service::kSearchEngine | service::kKafka);
  const auto& cfg = context.config();
  Logger log("coordinator");
  context.start_ops_server();
  context.ensure_topics();
  kafka::Producer producer(service::kafka_producer_options(cfg));
  Coordinator coordinator(context, producer);
  auto options = context.consumer_options(
      "datarefresh-coordinator",
      {cfg.kafka.topic_name(config::Topic::kRefreshJobs), cfg.kafka.topic_name(config::Topic::kEvents)});
  options.retry_delay = std::chrono::seconds(2);
  kafka::GroupConsumer consumer(options, [&](const kafka::Message& m, const kafka::CancelToken& t) {
    return coordinator.handle(m, t);
  });
  std::thread driver([&] {
    while (!shutdown_requested()) {
      coordinator.tick();
      context.health().heartbeat();
      coordinator.wait_for_work(std::chrono::seconds(1));
    }
  });
  // Notifications read the events in a group of their own, so a slow webhook never delays folding.
  std::optional<Notifier> notifier;
  std::optional<kafka::GroupConsumer> notifier_consumer;
  std::thread notifier_thread;
  if (!cfg.notify.slack_webhook.empty()) {
    notifier.emplace(cfg, *context.registry());
    auto o = context.consumer_options("datarefresh-notifier", {cfg.kafka.topic_name(config::Topic::kEvents)});
    notifier_consumer.emplace(o, [&](const kafka::Message& m, const kafka::CancelToken&) { return notifier->handle(m); });
    notifier_thread = std::thread([&] { notifier_consumer->run(); });
  }
  log.info("coordinator started", {{"metrics_port", context.ops_port()}, {"notifications", notifier.has_value()}});
  context.run_consumer(consumer, false);  // the driver loop beats
  request_shutdown();
  driver.join();
  if (notifier_thread.joinable()) notifier_thread.join();
  producer.flush(std::chrono::seconds(10));
  log.info("coordinator stopped");
  return 0;
}

}  // namespace datarefresh::coordinator
