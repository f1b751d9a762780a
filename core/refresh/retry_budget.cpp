#include "core/refresh/retry_budget.h"

namespace datarefresh::refresh {

bool RetryBudget::may_retry(const std::string& key, Clock::time_point now) {
  auto [it, fresh] = failing_.try_emplace(key, Failing{now, 0});
  ++it->second.attempts;
  if (now - it->second.since <= deadline_) return true;
  failing_.erase(it);
  return false;
}

int RetryBudget::attempts(const std::string& key) const {
  auto it = failing_.find(key);
  return it == failing_.end() ? 0 : it->second.attempts;
}

}  // namespace datarefresh::refresh
