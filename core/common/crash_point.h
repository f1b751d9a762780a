#pragma once

#include <string_view>

namespace datarefresh {

// Fault injection for the crash tests (docs/reliability.md, scenarios 4 and 5): a named point in
// a multi-step operation where a process may die. When the environment variable
// DATAREFRESH_CRASH_AT lists `name` (comma-separated), crash_point(name) writes one line to stderr
// and kills the process with SIGKILL, exactly as an OOM kill or a lost node would: no destructors,
// no flushing, no goodbye. Unset (production), it costs one comparison.
void crash_point(std::string_view name);

}  // namespace datarefresh
