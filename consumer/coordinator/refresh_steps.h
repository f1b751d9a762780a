#pragma once

#include <span>
#include <string>
#include <string_view>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "core/common/log.h"
#include "core/config/config.h"
#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/refresh/event_publisher.h"
#include "core/search/client.h"
#include "core/service/service_context.h"

namespace datarefresh::coordinator {

class ShardJobsWatch;

// The metric families the coordinator exports. prometheus-cpp families are thread-safe, so every
// refresh driver writes its own series.
struct CoordinatorMetrics {
  explicit CoordinatorMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& events_folded;
  prometheus::Family<prometheus::Gauge>& phase;
  prometheus::Family<prometheus::Gauge>& progress;
  prometheus::Family<prometheus::Gauge>& shards;
  prometheus::Family<prometheus::Gauge>& shard_jobs_waiting;
  prometheus::Family<prometheus::Gauge>& shard_jobs_idle;
  prometheus::Family<prometheus::Counter>& refreshes;
  prometheus::Family<prometheus::Gauge>& last_success;

  // A finished refresh leaves no progress or shard gauges behind (alerts on stalled progress would
  // otherwise fire for a refresh that is over) and its phase reads 0.
  void clear(const std::string& media_type, const std::string& phase);
};

// What every refresh driver shares with the others. Each member is thread-safe.
struct Services {
  service::ServiceContext& context;
  const config::Config& config;
  refresh::EventPublisher& publisher;
  search::Client& search;
  CoordinatorMetrics& metrics;
  ShardJobsWatch& shard_jobs;
};

// One step's view of its refresh: the ledger on the driver's own database session, and the run as
// the ledger holds it now. The driver re-reads the run before every step, so no step works from
// what was true before another step, thread or process changed it. One thread.
struct StepContext {
  Services& services;
  ledger::Ledger& ledger;
  pg::Database& db;
  ledger::Run run;
  const config::MediaTypeConfig& media;
  Logger& log;

  // Reads the run again from the ledger.
  void reload();
  // Throws refresh::CancelRequested if an operator asked to cancel the refresh (read from the ledger).
  void check_cancel();
  // Moves the run to `phase` (ledger, refresh.phase_changed, the phase gauge).
  void enter_phase(const std::string& phase);
};

enum class StepResult {
  kDone,     // recorded in the ledger; the next step may run
  kWaiting,  // not yet (shards still running): the driver comes back when something happened
};

// One step of the coordinator's part of a refresh. `run` is idempotent: it checks the ledger and
// does only what is left. `compensate` undoes what the step may have left half-done in the
// engine or the database when the refresh is rolled back (nullptr: nothing of its own; the
// refresh's rollback removes the indices and tables the planner created).
struct RefreshStep {
  std::string_view name;  // the ledger step recorded when it is done
  StepResult (*run)(StepContext&);
  void (*compensate)(StepContext&);
};

// The coordinator's steps of a full refresh, in order: indexing (shard supervision), verify,
// filtered_index, restore_settings, reapply_constraints, promote_table, promote_aliases, cleanup,
// complete. Once promote_table is done the live table is the new one: later steps are retried
// until they succeed, never rolled back.
std::span<const RefreshStep> refresh_sequence();

// The step after which a refresh is never rolled back.
inline constexpr std::string_view kPointOfNoReturn = "promote_table";

// Cancels the engine's task `task` unless the engine finished it or no longer knows it: a
// compensation's first act before the rollback deletes the task's destination index (a running
// `_reindex` would write on and create it again).
void cancel_engine_task(StepContext& c, const std::string& task, std::string_view what);

// The steps of a run of `mode`: a refresh's (full, incremental) above; a filtered-only run's
// filtered_index, restore_settings, promote_aliases, cleanup, complete; a sample's sample_index,
// restore_settings, promote_aliases (the staging alias), cleanup, complete; a rollback's verify
// (the kept generation can be restored), restore_table, promote_aliases, cleanup, complete.
std::span<const RefreshStep> sequence_for(std::string_view mode);
// The step of `mode`'s sequence after which the run is never rolled back: live data changed.
std::string_view point_of_no_return(std::string_view mode);

}  // namespace datarefresh::coordinator
