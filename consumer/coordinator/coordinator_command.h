#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::coordinator {

// Registers `datarefresh coordinator` on the root app.
std::unique_ptr<Command> make_coordinator_command(CLI::App& root);

}  // namespace datarefresh::coordinator
