#include "core/refresh/step_error.h"

#include "core/pg/connection.h"

namespace datarefresh::refresh {

void check(const search::Status& status, const std::string& what) {
  if (!status.ok()) throw StepError(what + ": " + status.error().describe(), status.error().retryable);
}

bool is_retryable(const std::exception& e) {
  if (auto* s = dynamic_cast<const StepError*>(&e)) return s->retryable();
  if (auto* s = dynamic_cast<const pg::SqlError*>(&e)) return s->retryable();
  if (dynamic_cast<const pg::ConnectionError*>(&e)) return true;
  return false;
}

}  // namespace datarefresh::refresh
