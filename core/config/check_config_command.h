#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::config {

// Registers `datarefresh check-config` on the root app.
std::unique_ptr<Command> make_check_config_command(CLI::App& root);

}  // namespace datarefresh::config
