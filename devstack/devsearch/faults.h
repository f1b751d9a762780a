#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string_view>

#include <nlohmann/json.hpp>

#include "core/common/duration.h"

namespace datarefresh::devsearch {

// Faults devsearch injects into ordinary (non-admin) requests.
struct FaultConfig {
  double bulk_reject_fraction = 0;  // bulk items answered 429 es_rejected_execution_exception
  double fail_fraction = 0;         // whole requests answered 503
  double drop_fraction = 0;         // connections closed without an answer
  // Documents refused for good with 400 mapper_parsing_exception, chosen by a hash of the
  // document id: the same documents on every attempt, as a real mapping conflict would be.
  double mapping_reject_fraction = 0;
  Duration latency{0};              // added before every request
  std::optional<Duration> duration;  // faults expire this long after being set
  // Not a lasting fault but an event the server acts on when it is set: the node restarts and
  // stays down this long (connections refused), then comes back with its data.
  std::optional<Duration> unavailable;

  // Parses {"bulk_reject_fraction":0.5,"fail_fraction":..,"drop_fraction":..,
  // "mapping_reject_fraction":..,"latency":"50ms","duration":"60s","unavailable":"10s"}; throws
  // ConfigError naming the bad key.
  static FaultConfig from_json(const nlohmann::json& j);
  nlohmann::json to_json() const;
};

// The active faults and the random draws deciding them. Thread-safe. Time is passed in so tests
// can check expiry without sleeping.
class FaultInjector {
 public:
  using Clock = std::chrono::steady_clock;
  explicit FaultInjector(std::uint64_t seed = std::random_device{}());

  void set(const FaultConfig& config, Clock::time_point now = Clock::now());
  void clear();
  // The active config (all zero once expired) and the remaining time, for GET /_devsearch/faults.
  nlohmann::json describe(Clock::time_point now = Clock::now()) const;

  Duration latency(Clock::time_point now = Clock::now()) const;
  bool drop(Clock::time_point now = Clock::now());
  bool fail(Clock::time_point now = Clock::now());
  // Whether any per-item bulk fault (429 rejections, mapping rejections) is active: when none is,
  // a bulk request skips asking for every item.
  bool item_faults_active(Clock::time_point now = Clock::now()) const;
  bool reject_bulk_item(Clock::time_point now = Clock::now());
  // Whether the document with this id is refused for good (mapping_reject_fraction).
  bool reject_mapping(std::string_view id, Clock::time_point now = Clock::now()) const;

 private:
  FaultConfig active_locked(Clock::time_point now) const;
  bool draw_locked(double fraction);
  mutable std::mutex mutex_;
  FaultConfig config_;
  std::optional<Clock::time_point> expires_;
  std::mt19937_64 rng_;
};

}  // namespace datarefresh::devsearch
