#include "core/common/backoff.h"

#include <algorithm>
#include <cmath>

namespace datarefresh {

Duration backoff_delay(const BackoffPolicy& policy, std::uint32_t attempt, double random01) {
  if (attempt == 0) return Duration::zero();
  double base = static_cast<double>(policy.initial.count()) * std::pow(policy.multiplier, attempt - 1);
  base = std::min(base, static_cast<double>(policy.max.count()));
  double r = std::clamp(random01, 0.0, 1.0);
  double delay = base * (1.0 - std::clamp(policy.jitter, 0.0, 1.0) * r);
  return Duration(static_cast<Duration::rep>(std::llround(delay)));
}

}  // namespace datarefresh
