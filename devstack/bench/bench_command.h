#pragma once

#include <memory>

#include "core/cli/command.h"

namespace datarefresh::bench {

// Registers `datarefresh bench` (docs/performance.md): the refresh benchmark on the dev stack.
std::unique_ptr<Command> make_bench_command(CLI::App& root);

}  // namespace datarefresh::bench
