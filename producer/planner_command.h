#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::planner {

// Registers `datarefresh planner` on the root app.
std::unique_ptr<Command> make_planner_command(CLI::App& root);
// Registers `datarefresh trigger <media> [--limit N]`.
std::unique_ptr<Command> make_trigger_command(CLI::App& root);
// Registers `datarefresh rollback <media>`.
std::unique_ptr<Command> make_rollback_command(CLI::App& root);

int run_planner(const std::string& config_file);

}  // namespace datarefresh::planner
