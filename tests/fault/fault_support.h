#pragma once
// Shared by the fault suites (docs/reliability.md): reading topics, listing what exists, and the
// exact end-state checks every scenario ends with.
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "devstack/demo/dev_stack.h"

namespace datarefresh::fault {

// Starts a suite's dev stack (PostgreSQL with data, broker, devsearch, planner, `indexers`
// indexers, coordinator) and prints where the services' logs are.
demo::DevStack* start_suite_stack(demo::DevStackOptions options, int indexers);
// Stops the stack and deletes it; its logs are kept only when a test of the program failed.
void stop_suite_stack(demo::DevStack*& stack);

// Produces one message to datarefresh.<topic> and waits for the broker's acknowledgement.
void produce(demo::DevStack& stack, const std::string& topic, const std::string& key, const std::string& value);

// Every message on datarefresh.<topic> so far (read without a group, kafka::read_topic), read again
// until at least `at_least` are there or `timeout` passed. A payload that is not JSON is a
// discarded json value.
std::vector<nlohmann::json> read_topic(demo::DevStack& stack, const std::string& topic, std::size_t at_least,
                                       std::chrono::seconds timeout);
// The same, as the raw messages (key, payload), for re-producing them.
std::vector<std::pair<std::string, std::string>> read_raw(demo::DevStack& stack, const std::string& topic,
                                                          std::size_t at_least, std::chrono::seconds timeout);

// POSTs (or DELETEs) to an admin endpoint (the broker's, devsearch's /_devsearch/faults) and
// expects a 2xx answer; returns the body.
std::string admin(const std::string& base_url, const std::string& method, const std::string& path,
                  const std::string& body = "");

bool all_services_running(demo::DevStack& stack);
// Non-system indices.
std::set<std::string> indices(demo::DevStack& stack);
// The one index an alias points at ("" if none); fails the test if it points at several.
std::string alias_target(demo::DevStack& stack, const std::string& alias);
std::int64_t table_rows(demo::DevStack& stack, const std::string& table);
// Eligible rows of a live table: not removed from source and not deleted on request.
std::int64_t eligible_rows(demo::DevStack& stack, const std::string& table);
// Leftovers of any refresh: temp_import_* tables, datarefresh_fdw_* servers, datarefresh_upstream_* schemas.
std::vector<std::string> leftovers(demo::DevStack& stack);

// Sum of the ledger's shard counts of one refresh.
struct LedgerCounts {
  std::int64_t rows_read = 0, indexed = 0, skipped = 0, dead_lettered = 0;
};
LedgerCounts ledger_counts(demo::DevStack& stack, const std::string& refresh_id);

// The refresh completed and everything is exactly as promised: every row read once, every
// eligible row indexed exactly once and served by the alias, the filtered alias on the refresh's
// filtered index, the promoted table live, nothing left behind, every service running.
void expect_completed_exactly(demo::DevStack& stack, const std::string& refresh_id, const std::string& media);

// The refresh failed and nothing live changed: the aliases still point where they pointed, the
// live table has the rows it had, the indices are the ones before, nothing is left behind.
struct LiveState {
  std::string alias_target, filtered_alias_target;
  std::int64_t rows = 0;
  std::set<std::string> indices;
};
LiveState live_state(demo::DevStack& stack, const std::string& media);
// The text of a service's log in the stack's run directory (<name>.log).
std::string service_log(demo::DevStack& stack, const std::string& name);
// Waits for a process armed with a crash point (DATAREFRESH_CRASH_AT) to die there: false if it did
// not within `timeout`; expects SIGKILL and the crash point in its log `log`.
bool died_at(demo::DevStack& stack, devprocess::ChildProcess& process, const std::string& log,
             const std::string& point, std::chrono::seconds timeout);

// No index block (an incremental refresh's write block for its clone) is left on these indices.
void expect_no_write_block(demo::DevStack& stack, const std::vector<std::string>& indices);
// With `status` kCancelled: the same for a refresh an operator cancelled.
void expect_failed_cleanly(demo::DevStack& stack, const std::string& refresh_id, const LiveState& before,
                           const std::string& media, const std::string& error_contains,
                           ledger::RunStatus status = ledger::RunStatus::kFailed);

}  // namespace datarefresh::fault
