#pragma once

#include <chrono>
#include <map>
#include <string>

#include "core/common/duration.h"

namespace datarefresh::refresh {

// How long a refresh's steps may keep failing transiently (the database or the search engine
// unreachable, a lock timeout) before the refresh fails: refresh.transient_retry_deadline after
// the first of an unbroken run of failures. A success starts the count again. One thread.
class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryBudget(Duration deadline) : deadline_(deadline) {}

  // Records a transient failure of `key` (a refresh id); true while it may still be retried.
  bool may_retry(const std::string& key, Clock::time_point now = Clock::now());
  // Failures in the current run (1 after the first).
  int attempts(const std::string& key) const;
  void reset(const std::string& key) { failing_.erase(key); }

 private:
  struct Failing {
    Clock::time_point since;
    int attempts = 0;
  };
  Duration deadline_;
  std::map<std::string, Failing> failing_;
};

}  // namespace datarefresh::refresh
