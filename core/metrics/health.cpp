#include "core/metrics/health.h"

#include <fmt/format.h>

namespace datarefresh::metrics {

HealthState::HealthState(std::chrono::milliseconds max_heartbeat_age)
    : max_heartbeat_age_(max_heartbeat_age), last_beat_(std::chrono::steady_clock::now()) {}

void HealthState::heartbeat() {
  std::lock_guard lock(mu_);
  last_beat_ = std::chrono::steady_clock::now();
}

void HealthState::add_readiness_check(std::string name, Check check) {
  std::lock_guard lock(mu_);
  checks_.emplace_back(std::move(name), std::move(check));
}

HealthState::Report HealthState::liveness() const {
  std::lock_guard lock(mu_);
  Report r;
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - last_beat_);
  if (age > max_heartbeat_age_) {
    r.ok = false;
    r.failures.emplace_back("heartbeat", fmt::format("main loop silent for {} ms (limit {} ms)", age.count(),
                                                     max_heartbeat_age_.count()));
  }
  return r;
}

HealthState::Report HealthState::readiness() const {
  Report r = liveness();
  std::vector<std::pair<std::string, Check>> checks;
  {
    std::lock_guard lock(mu_);
    checks = checks_;
  }
  for (const auto& [name, check] : checks) {
    std::string reason;
    try {
      reason = check();
    } catch (const std::exception& e) {
      reason = std::string("check threw: ") + e.what();
    }
    if (!reason.empty()) {
      r.ok = false;
      r.failures.emplace_back(name, reason);
    }
  }
  return r;
}

}  // namespace datarefresh::metrics
