#pragma once

#include <chrono>

namespace datarefresh {

// Process-wide stop request, set by SIGINT/SIGTERM once install_shutdown_handlers() ran, or by
// request_shutdown() (tests, fatal errors). Long-running loops poll shutdown_requested() or
// sleep with wait_for_shutdown(), which returns early when a stop is requested. Thread-safe.
void install_shutdown_handlers();
bool shutdown_requested();
void request_shutdown();
// Sleeps up to `timeout`; returns true if a shutdown was requested meanwhile.
bool wait_for_shutdown(std::chrono::milliseconds timeout);
// For tests that reuse a process: clears the flag.
void reset_shutdown_for_tests();

}  // namespace datarefresh
