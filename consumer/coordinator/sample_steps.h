#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "consumer/coordinator/refresh_steps.h"

namespace datarefresh::coordinator {

// A sample run's index (mode "sample"): a new index (run.new_index) built cluster-side from the
// live main index (step "preflight" details: source_index) holding options.sample (percent or
// rows) of its documents, each value of options.sample_by (provider or source) represented in
// proportion to its share of the source. Records step "sample_index" with {"documents", ...}.
StepResult build_sample_index(StepContext& c);
// Stops a sample's copy still running in the engine before the rollback deletes its index.
void stop_sample_reindex(StepContext& c);

// The documents of a sample of `target` documents out of groups of `counts` documents (target at
// most their sum), by the largest-remainder method: each group gets the floor of its exact share
// target * count / total, and the documents left go one each to the groups with the largest
// remainders (ties: the larger group, then the earlier one). The quotas sum to `target`, each is
// within 1 of its exact share and at most its group's count.
std::vector<std::int64_t> sample_quotas(const std::vector<std::int64_t>& counts, std::int64_t target);

// The size of a sample of `total` documents: round(percent% of total), or min(rows, total).
std::int64_t sample_target(std::int64_t total, std::optional<double> percent, std::optional<std::int64_t> rows);

}  // namespace datarefresh::coordinator
