#pragma once

#include <chrono>
#include <memory>
#include <string_view>

namespace datarefresh::kafka {

enum class CancelReason {
  kNone,
  kRevoked,   // the partition moved to another group member; the message will be redelivered there
  kStopping,  // the consumer is shutting down and the grace period ran out
};

std::string_view to_string(CancelReason reason);

// Read side of a cancellation request, handed to a running job. The job polls cancelled() between
// units of work, or sleeps with wait_for() which returns early on cancellation. Thread-safe; cheap
// to copy (shares state with the CancelSource that made it).
class CancelToken {
 public:
  bool cancelled() const;
  CancelReason reason() const;
  // Waits up to `timeout`; returns true if cancelled (at once or meanwhile).
  bool wait_for(std::chrono::milliseconds timeout) const;

 private:
  friend class CancelSource;
  struct State;
  explicit CancelToken(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

// Write side: owned by whoever may cancel a job (the GroupConsumer). Thread-safe.
class CancelSource {
 public:
  CancelSource();
  CancelToken token() const { return CancelToken(state_); }
  // First reason wins; later calls do nothing.
  void cancel(CancelReason reason);

 private:
  std::shared_ptr<CancelToken::State> state_;
};

}  // namespace datarefresh::kafka
