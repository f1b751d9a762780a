#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::broker {

// Registers `datarefresh broker` on the root app.
std::unique_ptr<Command> make_broker_command(CLI::App& root);

}  // namespace datarefresh::broker
