#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace datarefresh::metrics {

// What /healthz and /readyz answer. Liveness is "the process's main loop is still turning": the
// owner calls heartbeat() from its loop and the state is unhealthy once the last beat is older
// than the allowed staleness. Readiness is the conjunction of named checks (broker reachable,
// database connected, ...), each a function returning an empty string when fine or the reason.
// Thread-safe; checks run on the HTTP server's threads, so they must be cheap and non-blocking.
class HealthState {
 public:
  using Check = std::function<std::string()>;

  explicit HealthState(std::chrono::milliseconds max_heartbeat_age = std::chrono::minutes(2));
  void heartbeat();
  void add_readiness_check(std::string name, Check check);

  struct Report {
    bool ok = true;
    std::vector<std::pair<std::string, std::string>> failures;  // name, reason
  };
  Report liveness() const;
  Report readiness() const;

 private:
  mutable std::mutex mu_;
  std::chrono::milliseconds max_heartbeat_age_;
  std::chrono::steady_clock::time_point last_beat_;
  std::vector<std::pair<std::string, Check>> checks_;
};

}  // namespace datarefresh::metrics
