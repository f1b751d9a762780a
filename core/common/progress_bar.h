#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

namespace datarefresh {

// "#####-----" for a fraction in [0, 1], for terminal progress views (demo, status).
inline std::string progress_bar(double fraction, int width = 28) {
  fraction = std::clamp(fraction, 0.0, 1.0);
  int filled = static_cast<int>(fraction * width + 0.5);
  return std::string(static_cast<std::size_t>(filled), '#') + std::string(static_cast<std::size_t>(width - filled), '-');
}

// A smoothed rate (per second) of a growing count, updated at most once a second.
struct RateTracker {
  using Clock = std::chrono::steady_clock;
  std::int64_t last_count = -1;
  Clock::time_point last_time = Clock::now();
  double rate = 0;
  void update(std::int64_t count, Clock::time_point now = Clock::now()) {
    if (last_count < 0) {
      last_count = count;
      last_time = now;
      return;
    }
    double dt = std::chrono::duration<double>(now - last_time).count();
    if (dt < 1.0) return;
    double instant = static_cast<double>(count - last_count) / dt;
    rate = rate == 0 ? instant : 0.6 * rate + 0.4 * instant;
    last_count = count;
    last_time = now;
  }
};

}  // namespace datarefresh
