#include "consumer/coordinator/sample_steps.h"

#include "core/refresh/step_error.h"

namespace datarefresh::coordinator {

StepResult build_sample_index(StepContext& c) {
  throw refresh::StepError("sample runs are not built yet (refresh " + c.run.refresh_id + ")", false);
}

void stop_sample_reindex(StepContext&) {}

}  // namespace datarefresh::coordinator
