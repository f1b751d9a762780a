#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace datarefresh::devprocess {

struct ChildOptions {
  std::vector<std::string> argv;                 // argv[0] is the executable path
  std::map<std::string, std::string> env;        // added to (and overriding) the parent's environment; "" unsets
  std::optional<std::filesystem::path> log_file; // stdout and stderr go here; inherited when empty
  bool die_with_parent = true;                   // PR_SET_PDEATHSIG: a SIGKILLed parent leaves no orphans
};

// One child process of the demo or a test, in its own process group. Owns the process: the
// destructor stops it (SIGTERM, then SIGKILL after the grace period) if it is still running.
// Not thread-safe; one owner.
class ChildProcess {
 public:
  explicit ChildProcess(ChildOptions options);
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  // Exit code once exited (128 + signal number if killed by a signal), nullopt while running.
  std::optional<int> exit_code();
  void signal(int sig);
  // Waits up to `timeout` for the child to exit; returns its exit code, or nullopt if still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, wait up to `grace`, then SIGKILL the group. Returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));

 private:
  void reap(int status);
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
};

// Waits until `path` exists and is non-empty, then returns its first line (trimmed). Throws
// datarefresh::Error naming the file and `what` on timeout, or when `child` exited first.
std::string wait_for_file_line(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                               ChildProcess* child, const std::string& what);

// The running executable (for re-invoking `datarefresh <subcommand>` as a child).
std::filesystem::path self_executable();

}  // namespace datarefresh::devprocess
