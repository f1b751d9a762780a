#include "devstack/postgres/child_process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"

namespace datarefresh::devpg {
namespace {

std::vector<char*> to_argv(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

void close_other_fds() {
  // Nothing of ours (sockets, the watchdog pipe, other servers' fds) may leak into children.
  long max = sysconf(_SC_OPEN_MAX);
  if (max < 0 || max > 65536) max = 65536;
  for (int fd = 3; fd < max; ++fd) ::close(fd);
}

int wait_with_timeout(pid_t pid, Duration timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return 128 + SIGKILL;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

std::optional<RunAs> unprivileged_account() {
  if (::geteuid() != 0) return std::nullopt;
  for (const char* name : {"postgres", "nobody"}) {
    if (const passwd* pw = ::getpwnam(name)) return RunAs{pw->pw_uid, pw->pw_gid, name};
  }
  throw Error("running as root and neither the 'postgres' nor the 'nobody' account exists: PostgreSQL refuses to run "
              "as root; create a 'postgres' user or run as an unprivileged user");
}

int run_process(const std::vector<std::string>& argv_in, const std::optional<RunAs>& run_as,
                const std::filesystem::path& cwd, const std::filesystem::path& log, Duration timeout) {
  // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
  std::vector<std::string> argv_strings = argv_in;
  std::vector<char*> argv = to_argv(argv_strings);
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C", "LC_ALL=C", "TZ=UTC"};
  if (run_as) env_strings.push_back("HOME=" + cwd.string());
  std::vector<char*> envp = to_argv(env_strings);
  std::string cwd_string = cwd.string();

  int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) throw Error(fmt::format("cannot open log file {}: {}", log.string(), std::strerror(errno)));
  if (run_as && ::fchown(log_fd, run_as->uid, run_as->gid) != 0) {
    ::close(log_fd);
    throw Error(fmt::format("cannot hand log file {} to user {}: {}", log.string(), run_as->name, std::strerror(errno)));
  }

  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(log_fd);
    throw Error(fmt::format("fork() failed starting {}: {}", argv_in.front(), std::strerror(errno)));
  }
  if (pid == 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    close_other_fds();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    ::setsid();  // keep terminal ^C away from it: its owner decides when it stops
    if (run_as) {
      if (::setgroups(0, nullptr) != 0 || ::setgid(run_as->gid) != 0 || ::setuid(run_as->uid) != 0) _exit(126);
    }
    if (::chdir(cwd_string.c_str()) != 0) _exit(126);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(log_fd);
  return wait_with_timeout(pid, timeout);
}

Watchdog start_watchdog(const std::string& script, const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw Error(fmt::format("pipe2() failed for the server watchdog: {}", std::strerror(errno)));
  std::vector<std::string> argv_strings = {"/bin/sh", "-c", script, "datarefresh-pg-watchdog"};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv = to_argv(argv_strings);
  std::vector<std::string> env_strings = {"PATH=/usr/local/bin:/usr/bin:/bin"};
  std::vector<char*> envp = to_argv(env_strings);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw Error(fmt::format("fork() failed for the server watchdog: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::dup2(fds[0], 0);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    close_other_fds();
    ::setsid();
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGHUP, SIG_IGN);
    ::execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  ::close(fds[0]);
  return Watchdog{pid, fds[1]};
}

void release_watchdog(Watchdog& watchdog, Duration timeout) {
  if (watchdog.write_fd >= 0) {
    ::close(watchdog.write_fd);
    watchdog.write_fd = -1;
  }
  if (watchdog.pid > 0) {
    wait_with_timeout(watchdog.pid, timeout);
    watchdog.pid = -1;
  }
}

std::string tail_of_file(const std::filesystem::path& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log at " + path.string() + ")";
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::size_t>(in.tellg());
  auto start = size > max_bytes ? size - max_bytes : 0;
  in.seekg(static_cast<std::streamoff>(start));
  std::string out(size - start, '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

}  // namespace datarefresh::devpg
