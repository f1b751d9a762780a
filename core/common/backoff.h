#pragma once

#include <chrono>
#include <cstdint>

#include "core/common/duration.h"

namespace datarefresh {

// Exponential backoff with full jitter. Pure: the random draw is passed in (a value in [0, 1)),
// so the schedule is testable without a clock or a random source.
struct BackoffPolicy {
  Duration initial{std::chrono::milliseconds(200)};
  Duration max{std::chrono::seconds(30)};
  double multiplier = 2.0;
  double jitter = 0.5;  // fraction of the delay that is randomised: delay * (1 - jitter * random)
};

// Delay before retry number `attempt` (1 for the first retry).
Duration backoff_delay(const BackoffPolicy& policy, std::uint32_t attempt, double random01);

}  // namespace datarefresh
