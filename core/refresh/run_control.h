#pragma once

#include <string>

#include "core/config/config.h"
#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/refresh/event_publisher.h"
#include "core/search/client.h"

namespace datarefresh::refresh {

// Moves `run` to `phase` in the ledger and publishes refresh.phase_changed (no-op if already there).
void enter_phase(ledger::Ledger& ledger, EventPublisher& publisher, ledger::Run& run, const std::string& phase);

// Ends a refresh that failed before its promotion: rolls it back (roll_back), records it failed
// with the reason (and any rollback problem) and publishes refresh.failed. Returns the message
// recorded. The planner and the coordinator both end failed refreshes through here.
std::string fail_refresh(ledger::Ledger& ledger, pg::Database& api, search::Client& search, EventPublisher& publisher,
                         const ledger::Run& run, const config::MediaTypeConfig& media, const std::string& error);

}  // namespace datarefresh::refresh
