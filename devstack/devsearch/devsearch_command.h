#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::devsearch {

// Registers `datarefresh devsearch` on the root app.
std::unique_ptr<Command> make_devsearch_command(CLI::App& root);

}  // namespace datarefresh::devsearch
