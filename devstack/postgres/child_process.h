#pragma once

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/common/duration.h"

namespace datarefresh::devpg {

// The account a child runs as. Root cannot run initdb/postgres, so LocalPostgres drops to an
// unprivileged account (the Debian `postgres` user, else `nobody`) in the forked child.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
};

// The account to run the server as: nullopt when we are not root (run as ourselves).
std::optional<RunAs> unprivileged_account();

// Runs argv[0] (an absolute path) to completion with stdout+stderr appended to `log`, as `run_as`
// when given, in `cwd`, with a minimal environment. Kills it after `timeout`. Returns the exit
// status (128+signal if killed). Throws Error if it cannot be started.
int run_process(const std::vector<std::string>& argv, const std::optional<RunAs>& run_as,
                const std::filesystem::path& cwd, const std::filesystem::path& log, Duration timeout);

// Starts `/bin/sh -c script sh args...` in a new session with its stdin the read end of a pipe
// whose write end the caller keeps (close-on-exec, so no other child inherits it). When the
// caller's process dies, however it dies, the pipe closes and the script's `read` returns: that is
// how the server is stopped if its owner is SIGKILLed. Returns the watchdog pid and write fd.
struct Watchdog {
  pid_t pid = -1;
  int write_fd = -1;
};
Watchdog start_watchdog(const std::string& script, const std::vector<std::string>& args);

// Closes the pipe (letting the script run) and reaps the watchdog, waiting at most `timeout`.
void release_watchdog(Watchdog& watchdog, Duration timeout);

// The last `max_bytes` of a log file, for error messages.
std::string tail_of_file(const std::filesystem::path& path, std::size_t max_bytes = 2000);

}  // namespace datarefresh::devpg
