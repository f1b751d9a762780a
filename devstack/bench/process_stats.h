#pragma once

#include <sys/types.h>

#include <optional>

namespace datarefresh::bench {

// What /proc tells about a live process: CPU time used so far (user + system) and its peak
// resident set (VmHWM). nullopt once the process is gone.
struct ProcessStats {
  double cpu_seconds = 0;
  double peak_rss_mb = 0;
};
// With `with_children`, CPU time of waited-for children (cutime + cstime) is included.
std::optional<ProcessStats> read_process_stats(pid_t pid, bool with_children = false);

}  // namespace datarefresh::bench
