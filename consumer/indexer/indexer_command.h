#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::indexer {

// Registers `datarefresh indexer` on the root app.
std::unique_ptr<Command> make_indexer_command(CLI::App& root);

}  // namespace datarefresh::indexer
