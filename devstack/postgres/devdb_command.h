#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::devpg {

// Registers `datarefresh devdb` on the root app.
std::unique_ptr<Command> make_devdb_command(CLI::App& root);

}  // namespace datarefresh::devpg
