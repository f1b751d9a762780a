#pragma once

#include "consumer/coordinator/refresh_steps.h"

namespace datarefresh::coordinator {

// A sample run's index (mode "sample"): a new index (run.new_index) built cluster-side from the
// live main index (step "preflight" details: source_index) holding options.sample (percent or
// rows) of its documents, each value of options.sample_by (provider or source) represented in
// proportion to its share of the source. Records step "sample_index" with {"documents", ...}.
StepResult build_sample_index(StepContext& c);
// Stops a sample's copy still running in the engine before the rollback deletes its index.
void stop_sample_reindex(StepContext& c);

}  // namespace datarefresh::coordinator
