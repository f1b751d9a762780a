#include "core/kafka/cancel_token.h"

#include <condition_variable>
#include <mutex>

namespace datarefresh::kafka {

struct CancelToken::State {
  mutable std::mutex mutex;
  std::condition_variable cv;
  CancelReason reason = CancelReason::kNone;
};

std::string_view to_string(CancelReason reason) {
  switch (reason) {
    case CancelReason::kNone:
      return "none";
    case CancelReason::kRevoked:
      return "revoked";
    case CancelReason::kStopping:
      return "stopping";
  }
  return "unknown";
}

bool CancelToken::cancelled() const {
  return reason() != CancelReason::kNone;
}

CancelReason CancelToken::reason() const {
  std::lock_guard lock(state_->mutex);
  return state_->reason;
}

bool CancelToken::wait_for(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mutex);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->reason != CancelReason::kNone; });
}

CancelSource::CancelSource() : state_(std::make_shared<CancelToken::State>()) {}

void CancelSource::cancel(CancelReason reason) {
  {
    std::lock_guard lock(state_->mutex);
    if (state_->reason != CancelReason::kNone) return;
    state_->reason = reason;
  }
  state_->cv.notify_all();
}

}  // namespace datarefresh::kafka
