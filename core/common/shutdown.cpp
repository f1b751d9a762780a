#include "core/common/shutdown.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <stop_token>

#include <signal.h>
#include <unistd.h>

#include "core/common/log.h"

namespace datarefresh {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::atomic<bool> g_stop{false};
// When the stop was first requested (steady clock ticks; 0: not yet). Lock-free, so that the
// signal handler may set it; clock_gettime, behind steady_clock::now(), is async-signal-safe.
std::atomic<SteadyClock::rep> g_requested_at{0};
std::atomic<std::chrono::milliseconds::rep> g_grace_ms{0};

void note_request() {
  SteadyClock::rep none = 0;
  g_requested_at.compare_exchange_strong(none, SteadyClock::now().time_since_epoch().count());
  g_stop.store(true);
}

void on_signal(int) {
  note_request();
}

SteadyClock::time_point requested_at() {
  return SteadyClock::time_point(SteadyClock::duration(g_requested_at.load()));
}

// Sleeps up to `d`; false when `stop` was requested meanwhile.
bool sleep_unless_stopped(std::stop_token stop, SteadyClock::duration d) {
  std::mutex mutex;
  std::condition_variable_any cv;
  std::unique_lock lock(mutex);
  cv.wait_for(lock, stop, d, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace

void install_shutdown_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

bool shutdown_requested() { return g_stop.load(); }
void request_shutdown() {
  note_request();
}
void reset_shutdown_for_tests() {
  g_stop.store(false);
  g_requested_at.store(0);
}

bool wait_for_shutdown(std::chrono::milliseconds timeout) {
  // Signal handlers may only touch the atomic, so poll it in short slices.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!g_stop.load()) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds::zero()) return false;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(20)));
  }
  return true;
}

void set_shutdown_grace(std::chrono::milliseconds grace) {
  g_grace_ms.store(std::max<std::int64_t>(0, grace.count()));
}

SteadyClock::time_point shutdown_deadline() {
  const std::chrono::milliseconds grace(g_grace_ms.load());
  if (grace.count() == 0 || g_requested_at.load() == 0) return SteadyClock::time_point::max();
  const auto reserve = std::min<std::chrono::milliseconds>(grace / 5, std::chrono::seconds(1));
  return requested_at() + grace - reserve;
}

std::chrono::milliseconds shutdown_budget(std::chrono::milliseconds wanted) {
  const auto deadline = shutdown_deadline();
  if (deadline == SteadyClock::time_point::max()) return wanted;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::clamp(left, std::chrono::milliseconds(0), std::max(wanted, std::chrono::milliseconds(0)));
}

ShutdownWatchdog::ShutdownWatchdog(std::chrono::milliseconds grace, std::string name) {
  if (grace.count() <= 0) return;
  set_shutdown_grace(grace);
  thread_ = std::jthread([grace, name = std::move(name)](std::stop_token stop) {
    while (!g_stop.load()) {
      if (!sleep_unless_stopped(stop, std::chrono::milliseconds(50))) return;
    }
    const auto hard_deadline = requested_at() + grace;
    while (SteadyClock::now() < hard_deadline) {
      if (!sleep_unless_stopped(stop, std::min<SteadyClock::duration>(hard_deadline - SteadyClock::now(),
                                                                      std::chrono::milliseconds(100)))) {
        return;
      }
    }
    Logger("shutdown")
        .error(
            "the process did not stop within service.shutdown_grace: exiting now, leaving what it had not handed "
            "back to the others (jobs not committed are delivered again; a consumer that did not leave its group "
            "loses its partitions after the session timeout)",
            {{"service", name}, {"shutdown_grace_ms", grace.count()}, {"exit_code", kExitCode}});
    std::fflush(stdout);
    std::fflush(stderr);
    ::_exit(kExitCode);
  });
}

ShutdownWatchdog::~ShutdownWatchdog() {
  if (thread_.joinable()) {
    thread_.request_stop();
    thread_.join();
    set_shutdown_grace(std::chrono::milliseconds(0));
  }
}

}  // namespace datarefresh
