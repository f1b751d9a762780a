#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "consumer/coordinator/refresh_steps.h"
#include "core/refresh/retry_budget.h"

namespace datarefresh::coordinator {

// Drives one running refresh to its end over refresh_sequence(), on a thread and a database
// session of its own, so that a long step of one refresh (a filtered `_reindex`, an index build,
// a wait for green) never delays another. Every pass reads the run and its finished steps from
// the ledger afresh; each step reads the run again before it starts. A step that fails for good
// before the promotion rolls the refresh back (the compensations of the steps, newest first,
// then the planner's creations); a cancel does the same; after the promotion a failing step is
// retried until it succeeds. Transient failures are retried within
// refresh.transient_retry_deadline.
//
// Created by the Coordinator for each running refresh it finds; wake() is called (from the
// consumer's thread) when an event of this refresh was folded. The destructor stops the thread
// at its next wait and joins it; steps also stop on a process shutdown.
class RefreshDriver {
 public:
  RefreshDriver(Services& services, std::string refresh_id);
  ~RefreshDriver();
  RefreshDriver(const RefreshDriver&) = delete;
  RefreshDriver& operator=(const RefreshDriver&) = delete;

  const std::string& refresh_id() const { return refresh_id_; }
  // Something happened to this refresh: run a pass now instead of at the next poll.
  void wake();
  // The refresh ended (completed, failed, cancelled) or left the ledger: the thread has returned.
  bool finished() const { return finished_.load(); }

 private:
  enum class PassOutcome { kOver, kWaiting, kRetryLater };
  void loop(const std::stop_token& stop);
  PassOutcome pass();
  // Runs the steps not in `done` (the steps the ledger holds finished), adding each it finishes.
  PassOutcome advance(StepContext& c, std::set<std::string>& done);
  // Rolls the refresh back: compensations newest first, then the planner's creations.
  void roll_back(StepContext& c, const std::optional<std::string>& error);
  pg::Database& connection();
  void wait(const std::stop_token& stop, std::chrono::milliseconds timeout);

  Services& services_;
  const std::string refresh_id_;
  Logger log_{"coordinator"};
  refresh::RetryBudget retries_;
  std::optional<pg::Database> db_;
  bool unknown_media_logged_ = false;
  std::mutex mutex_;
  std::condition_variable_any cv_;
  bool woken_ = false;
  std::atomic<bool> finished_{false};
  std::jthread thread_;  // last: started once everything above exists
};

}  // namespace datarefresh::coordinator
