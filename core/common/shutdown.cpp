#include "core/common/shutdown.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace datarefresh {
namespace {

std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop.store(true); }

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
void request_shutdown() { g_stop.store(true); }
void reset_shutdown_for_tests() { g_stop.store(false); }

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

}  // namespace datarefresh
