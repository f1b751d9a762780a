#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::planner {

// Registers `datarefresh status [--watch]`: running refreshes with progress from the ledger, and
// the last refresh of each media type with its report.
std::unique_ptr<Command> make_status_command(CLI::App& root);

}  // namespace datarefresh::planner
