#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/service/service_context.h"

namespace datarefresh::coordinator {

// The coordinator: folds refresh jobs and shard events into the ledger (handle(), on the consumer's
// job thread) and wakes the driver of the refresh each concerns; supervises one RefreshDriver per
// running refresh (tick(), on the supervisor's thread), each driving its refresh over
// refresh_sequence() on a thread of its own: shard supervision, verification, the filtered index,
// settings, constraints, the table promotion, the alias move, cleanup and the report. Every step is
// recorded in the ledger and skipped when done, so a restarted coordinator resumes where the last
// one stopped; refreshes of different media types advance independently. tick() also sweeps what
// failed rollbacks left behind. stop() (or the destructor) stops and joins every driver.
class Coordinator {
 public:
  Coordinator(service::ServiceContext& context, kafka::Producer& producer);
  ~Coordinator();

  kafka::JobOutcome handle(const kafka::Message& message, const kafka::CancelToken& cancel);
  // Starts a driver for each running refresh that has none, forgets those whose refresh ended and
  // sweeps leftovers when due; returns how many refreshes are running (-1: the ledger could not
  // be read).
  int tick();
  // Sleeps until a new refresh was planned since the last call, `timeout` passed or a shutdown was
  // requested, so that its driver starts at once.
  void wait_for_work(std::chrono::milliseconds timeout);
  // Stops every driver at its next wait and joins them.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

int run_coordinator(const std::string& config_file);

}  // namespace datarefresh::coordinator
