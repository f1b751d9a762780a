#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/cli/command.h"
#include "core/config/config.h"

namespace datarefresh::config {

// Reaches the endpoints a configuration names; returns one problem per unreachable endpoint.
// Given by the application (the config library does not know the clients).
using EndpointProbe = std::function<std::vector<std::string>(const Config&)>;

// Registers `datarefresh check-config` on the root app; `--connect` uses `probe`.
std::unique_ptr<Command> make_check_config_command(CLI::App& root, EndpointProbe probe);

}  // namespace datarefresh::config
