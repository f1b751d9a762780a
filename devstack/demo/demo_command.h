#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::demo {

// Registers `datarefresh demo` on the root app.
std::unique_ptr<Command> make_demo_command(CLI::App& root);

}  // namespace datarefresh::demo
