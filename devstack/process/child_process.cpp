#include "devstack/process/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/common/error.h"

namespace datarefresh::devprocess {

ChildProcess::ChildProcess(ChildOptions options) {
  if (options.argv.empty()) throw InvariantError("ChildProcess needs at least argv[0]");
  int log_fd = -1;
  if (options.log_file) {
    log_fd = ::open(options.log_file->c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw Error("cannot open log file " + options.log_file->string() + ": " + std::strerror(errno));
  }
  // Prepare everything that allocates before fork(): the child may only call async-signal-safe functions.
  std::vector<char*> argv;
  for (auto& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (auto& [k, v] : options.env) {
    if (v.empty()) merged.erase(k);
    else merged[k] = v;
  }
  for (auto& [k, v] : merged) env_storage.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& kv : env_storage) envp.push_back(kv.data());
  envp.push_back(nullptr);
  pid_t parent = ::getpid();

  pid_ = ::fork();
  if (pid_ < 0) {
    if (log_fd >= 0) ::close(log_fd);
    throw Error(std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    ::setpgid(0, 0);
    if (options.die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
    }
    if (log_fd >= 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
    }
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    // Only async-signal-safe calls after fork: say why in the child's log, then exit.
    const char* why = ::strerrordesc_np(errno);  // a static string: safe after fork, unlike strerror
    const char* parts[] = {"cannot execute ", argv[0], ": ", why, " (give the executable's path)\n"};
    for (const char* p : parts) {
      if (::write(STDERR_FILENO, p, ::strlen(p)) < 0) break;
    }
    ::_exit(127);
  }
  ::setpgid(pid_, pid_);
  if (log_fd >= 0) ::close(log_fd);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept : pid_(other.pid_), exit_code_(other.exit_code_) {
  other.pid_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_code_) stop(std::chrono::seconds(10));
}

void ChildProcess::reap(int status) {
  if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
  else if (WIFSIGNALED(status)) exit_code_ = 128 + WTERMSIG(status);
  else exit_code_ = -1;
}

std::optional<int> ChildProcess::exit_code() {
  if (exit_code_ || pid_ <= 0) return exit_code_;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) reap(status);
  return exit_code_;
}

bool ChildProcess::running() { return pid_ > 0 && !exit_code(); }

void ChildProcess::signal(int sig) {
  if (running()) ::kill(pid_, sig);
}

std::optional<int> ChildProcess::wait_for(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!exit_code()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return exit_code_;
}

int ChildProcess::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (!exit_code()) {
    ::kill(pid_, SIGTERM);
    if (!wait_for(grace)) {
      ::kill(-pid_, SIGKILL);
      ::kill(pid_, SIGKILL);
      int status = 0;
      if (::waitpid(pid_, &status, 0) == pid_) reap(status);
    }
  }
  // Anything the child left in its process group goes with it.
  ::kill(-pid_, SIGKILL);
  return exit_code_.value_or(-1);
}

std::string wait_for_file_line(const std::filesystem::path& path, std::chrono::milliseconds timeout,
                               ChildProcess* child, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(path);
    std::string line;
    if (in && std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty()) return line;
    }
    if (child && !child->running()) {
      throw Error(what + " exited with code " + std::to_string(child->exit_code().value_or(-1)) +
                  " before writing " + path.string() + ": see its log");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  throw Error(what + " did not write " + path.string() + " within " + std::to_string(timeout.count()) + " ms");
}

std::filesystem::path self_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

}  // namespace datarefresh::devprocess
