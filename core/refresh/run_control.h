#pragma once

#include <optional>
#include <string>

#include "core/config/config.h"
#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/refresh/event_publisher.h"
#include "core/search/client.h"

namespace datarefresh::refresh {

// The lock scope of a refresh of `media_type`: the environment, or environment:media_type with
// refresh.lock_scope media_type. One refresh runs per scope at a time.
std::string lock_scope(const config::Config& config, const std::string& media_type);

// The run holding the lock scope of `media_type` now, if any: what a new request would be refused for.
std::optional<ledger::Run> running_in_scope(ledger::Ledger& ledger, const config::Config& config,
                                            const std::string& media_type);

// Moves `run` to `phase` in the ledger and publishes refresh.phase_changed (no-op if already there).
void enter_phase(ledger::Ledger& ledger, EventPublisher& publisher, ledger::Run& run, const std::string& phase);

// Ends a refresh that failed before its promotion: rolls it back (roll_back), records it failed
// with the reason (and any rollback problem) and publishes refresh.failed. Returns the message
// recorded. The planner and the coordinator both end failed refreshes through here.
std::string fail_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search, EventPublisher& publisher,
                         const ledger::Run& run, const config::MediaTypeConfig& media, const std::string& error);

// The same for a refresh an operator cancelled: rolled back, recorded as cancelled, and
// refresh.failed published with cancelled = true.
std::string cancel_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search,
                           EventPublisher& publisher, const ledger::Run& run, const config::MediaTypeConfig& media);

// The job of one shard's current attempt, as the planner publishes it and the coordinator
// re-publishes it: the shard's id range of the refresh's temp table, into its new index.
messages::ShardJob shard_job(const ledger::Run& run, const config::MediaTypeConfig& media,
                             const ledger::ShardRecord& shard);

// Refuses search.replicas_after_load when the cluster has too few data nodes to place that many
// copies of a shard (each on a node of its own): the new indices could never turn green. Throws a
// StepError (not retryable) naming the setting and the node count.
void check_replicas_allocatable(search::Client& search, const config::Config& config);

// "cancelled by <who> at <when>" for a run whose cancel was requested.
std::string cancel_reason(const ledger::Run& run);

}  // namespace datarefresh::refresh
