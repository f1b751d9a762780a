#include "devstack/bench/process_stats.h"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace datarefresh::bench {

std::optional<ProcessStats> read_process_stats(pid_t pid, bool with_children) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return std::nullopt;
  // Fields after the command name (which may hold spaces) start after the last ')'.
  auto close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0, cutime = 0, cstime = 0;
  for (int i = 3; rest >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
    if (i == 16) cutime = std::stod(field);
    if (i == 17) {
      cstime = std::stod(field);
      break;
    }
  }
  if (with_children) {
    utime += cutime;
    stime += cstime;
  }
  ProcessStats s;
  s.cpu_seconds = (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) s.peak_rss_mb = std::stod(line.substr(6)) / 1024.0;  // kB
  }
  return s;
}

}  // namespace datarefresh::bench
