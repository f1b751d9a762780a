#pragma once

#include <ostream>
#include <string>

#include "core/config/config.h"

namespace datarefresh::config {

// What `datarefresh check-config FILE [--print]` does, writing to the given streams so tests can
// check exit code and output. Valid: "FILE: ok" on `out` (then the effective config, secrets
// redacted, with `print`), warnings on `err`, returns 0. Invalid: one "FILE: problem" line per
// problem on `err`, returns 1. Unreadable file: one line on `err`, returns 2.
int run_check_config(const std::string& file, bool print, const Environment& env, std::ostream& out, std::ostream& err);

}  // namespace datarefresh::config
