#include "core/refresh/run_control.h"

#include <fmt/format.h>

#include "core/common/log.h"
#include "core/messages/timestamp.h"
#include "core/refresh/naming.h"
#include "core/refresh/rollback.h"
#include "core/refresh/step_error.h"

namespace datarefresh::refresh {

std::string lock_scope(const config::Config& config, const std::string& media_type) {
  return config.refresh.lock_scope == config::LockScope::kEnvironment ? config.environment
                                                                       : config.environment + ":" + media_type;
}

std::optional<ledger::Run> running_in_scope(ledger::Ledger& ledger, const config::Config& config,
                                            const std::string& media_type) {
  const auto scope = lock_scope(config, media_type);
  for (auto& run : ledger.runs_with_status(ledger::RunStatus::kRunning)) {
    if (run.lock_scope == scope) return run;
  }
  return std::nullopt;
}

void enter_phase(ledger::Ledger& ledger, EventPublisher& publisher, ledger::Run& run, const std::string& phase) {
  if (run.phase == phase) return;
  std::optional<std::string> previous = run.phase;
  // The event before the ledger: a crash in between repeats it rather than losing it.
  publisher.phase_changed(run.refresh_id, run.media_type, phase, previous);
  ledger.set_phase(run.refresh_id, phase);
  run.phase = phase;
}

namespace {

std::string end_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search, EventPublisher& publisher,
                        const ledger::Run& run, const config::MediaTypeConfig& media, const std::string& error,
                        bool cancelled) {
  Logger log("refresh");
  auto problems = roll_back(api, search, media, run.refresh_id);
  std::string message = error;
  if (!problems.empty()) message += fmt::format(" (rollback incomplete: {})", fmt::join(problems, "; "));
  messages::RefreshFailed f;
  f.refresh_id = RefreshId(run.refresh_id);
  f.media_type = media.name;
  f.phase = run.phase;
  f.error = message;
  f.rolled_back = problems.empty();
  f.cancelled = cancelled;
  f.at = messages::now_timestamp();
  f.mode = run.mode;
  try {
    publisher.publish(f);
  } catch (const std::exception& e) {
    // The ledger is the truth and a dead broker must not keep a failed refresh running; the
    // event is the notification of it, published before the ledger changes so that a crash in
    // between repeats it on restart instead of losing it.
    log.error("refresh.failed event not published", {{"refresh_id", run.refresh_id}, {"error", e.what()}});
  }
  ledger.finish_run(run.refresh_id, cancelled ? ledger::RunStatus::kCancelled : ledger::RunStatus::kFailed, message,
                    nullptr);
  if (cancelled) {
    log.warn("refresh cancelled", {{"refresh_id", run.refresh_id}, {"phase", run.phase}, {"reason", message}});
  } else {
    log.error("refresh failed", {{"refresh_id", run.refresh_id}, {"phase", run.phase}, {"error", message}});
  }
  return message;
}

}  // namespace

std::string fail_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search, EventPublisher& publisher,
                         const ledger::Run& run, const config::MediaTypeConfig& media, const std::string& error) {
  return end_refresh(ledger, api, search, publisher, run, media, error, false);
}

std::string cancel_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search,
                           EventPublisher& publisher, const ledger::Run& run, const config::MediaTypeConfig& media) {
  return end_refresh(ledger, api, search, publisher, run, media, cancel_reason(run), true);
}

messages::ShardJob shard_job(const ledger::Run& run, const config::MediaTypeConfig& media,
                             const ledger::ShardRecord& shard) {
  messages::ShardJob job;
  job.refresh_id = RefreshId(run.refresh_id);
  job.media_type = media.name;
  job.shard = ShardNumber(shard.shard);
  job.id_start = RowId(shard.id_start);
  job.id_end = RowId(shard.id_end);
  job.table = shard.deletes ? delete_table(pg::Identifier(media.table)).name()
                            : temp_table(pg::Identifier(media.table)).name();
  job.target_index = run.new_index.value_or("");
  job.attempt = shard.attempt;
  // An incremental refresh's ids are sparse (the live ids of updated rows): the range bounds them.
  if (run.mode != "incremental") job.expected_rows = shard.id_end - shard.id_start;
  job.action = shard.deletes ? "delete" : "index";
  job.incremental = run.mode == "incremental";
  job.published_at = messages::now_timestamp();
  return job;
}

void check_replicas_allocatable(search::Client& search, const config::Config& config) {
  auto health = check(search.cluster_health(std::nullopt, std::nullopt, std::chrono::seconds(10)),
                      "reading the search cluster's health");
  const int replicas = config.search.replicas_after_load;
  if (health.data_nodes > 0 && replicas > health.data_nodes - 1) {
    throw StepError(fmt::format("search.replicas_after_load is {} but the search cluster has {} data node{}: a "
                                "replica never shares a node with its primary, so the new indices could never turn "
                                "green; set search.replicas_after_load to at most {}, or add data nodes",
                                replicas, health.data_nodes, health.data_nodes == 1 ? "" : "s", health.data_nodes - 1),
                    false);
  }
}

std::string cancel_reason(const ledger::Run& run) {
  return fmt::format("cancelled by {} at {}", run.cancel_requested_by.value_or("an operator"),
                     run.cancel_requested_at.value_or("an unknown time"));
}

}  // namespace datarefresh::refresh
