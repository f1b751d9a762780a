#pragma once

#include <chrono>
#include <string>
#include <thread>

namespace datarefresh {

// Process-wide stop request, set by SIGINT/SIGTERM once install_shutdown_handlers() ran, or by
// request_shutdown() (tests, fatal errors). Long-running loops poll shutdown_requested() or
// sleep with wait_for_shutdown(), which returns early when a stop is requested. Thread-safe.
void install_shutdown_handlers();
bool shutdown_requested();
void request_shutdown();
// Sleeps up to `timeout`; returns true if a shutdown was requested meanwhile.
bool wait_for_shutdown(std::chrono::milliseconds timeout);
// For tests that reuse a process: clears the flag (and the time it was set).
void reset_shutdown_for_tests();

// The process's shutdown grace: once a stop is requested, everything must be done within it
// (service.shutdown_grace; zero, the default, sets no bound). Set by the ShutdownWatchdog.
void set_shutdown_grace(std::chrono::milliseconds grace);
// When the clean-up of a requested shutdown must be done: the time of the stop request plus the
// grace, less a reserve for exiting (a fifth of the grace, at most 1 s). time_point::max() while
// no stop is requested or no grace is set. Clean-ups that can block on the network (a Kafka
// consumer's close, a producer's flush, destroying a client) bound themselves by it and leave
// what they could not hand back.
std::chrono::steady_clock::time_point shutdown_deadline();
// `wanted`, shortened to what is left before shutdown_deadline() (never negative).
std::chrono::milliseconds shutdown_budget(std::chrono::milliseconds wanted);

// Makes a requested shutdown end within the grace whatever blocks: once a stop is requested
// (signal or request_shutdown()), a thread waits out the grace and, if the process is still
// there, logs that the grace was exceeded and ends it with _exit(kExitCode), without running
// destructors that could block again. Owned by the ServiceContext of a service process: armed
// from its construction to its destruction (the destructor disarms it and stops the thread).
class ShutdownWatchdog {
 public:
  static constexpr int kExitCode = 3;
  // `name` says in the log which process exceeded its grace. A zero grace arms nothing.
  ShutdownWatchdog(std::chrono::milliseconds grace, std::string name);
  ~ShutdownWatchdog();
  ShutdownWatchdog(const ShutdownWatchdog&) = delete;
  ShutdownWatchdog& operator=(const ShutdownWatchdog&) = delete;

 private:
  std::jthread thread_;
};

}  // namespace datarefresh
