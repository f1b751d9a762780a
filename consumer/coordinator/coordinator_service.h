#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/service/service_context.h"

namespace datarefresh::coordinator {

// The coordinator: folds refresh jobs and shard events into the ledger (handle(), on the consumer's
// job thread), and drives every planned refresh to its end (tick(), on its own thread): it re-publishes
// shards that failed or stalled (bounded attempts), and once every shard completed it verifies the
// counts, builds the filtered index, restores replicas and refresh interval, reapplies the live
// tables' indexes and constraints to the temp tables, promotes the tables in one transaction, moves
// both aliases in one call, deletes the old indices and reports. Every step is recorded in the
// ledger and skipped when done, so a restarted coordinator resumes where the last one stopped. A
// failure it cannot retry before the table promotion rolls the refresh back; after it, the
// remaining steps are retried until they succeed (they can only fail transiently by design).
class Coordinator {
 public:
  Coordinator(service::ServiceContext& context, kafka::Producer& producer);
  ~Coordinator();

  kafka::JobOutcome handle(const kafka::Message& message, const kafka::CancelToken& cancel);
  // One pass over the running refreshes; returns how many are still running.
  int tick();
  // Sleeps until an event was folded since the last call (a refresh may be able to move on),
  // `timeout` passed or a shutdown was requested: the driver ticks right after the last shard
  // completes instead of up to a whole period later.
  void wait_for_work(std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

int run_coordinator(const std::string& config_file);

}  // namespace datarefresh::coordinator
