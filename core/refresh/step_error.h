#pragma once

#include <string>

#include "core/common/error.h"
#include "core/search/result.h"

namespace datarefresh::refresh {

// A refresh step failed. `retryable` says whether running the step again later may succeed
// (a lost connection, a 503) or whether the refresh must fail and roll back (a refused alias,
// a count that does not reconcile).
class StepError : public Error {
 public:
  StepError(const std::string& message, bool retryable) : Error(message), retryable_(retryable) {}
  bool retryable() const { return retryable_; }

 private:
  bool retryable_;
};

// An operator asked to cancel the refresh (ledger::Ledger::request_cancel): the step stops and the
// refresh is rolled back and recorded as cancelled, not failed.
class CancelRequested : public Error {
 public:
  explicit CancelRequested(const std::string& refresh_id)
      : Error("refresh " + refresh_id + " was cancelled by an operator") {}
};

// Throws StepError for a failed search call, naming `what` was attempted.
void check(const search::Status& status, const std::string& what);
// Returns the value by value: callers usually pass a temporary Result.
template <typename T>
T check(search::Result<T> result, const std::string& what) {
  if (!result.ok()) throw StepError(what + ": " + result.error().describe(), result.error().retryable);
  return std::move(result).value();
}

// Whether an exception thrown by a step is worth retrying: StepError says so itself; lost
// database connections and retryable SQL errors are; everything else is not.
bool is_retryable(const std::exception& e);

}  // namespace datarefresh::refresh
