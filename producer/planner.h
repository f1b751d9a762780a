#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/ledger/ledger.h"
#include "core/messages/messages.h"
#include "core/refresh/event_publisher.h"
#include "core/search/client.h"
#include "core/service/service_context.h"

namespace datarefresh::planner {

// What handling one refresh request came to.
enum class PlanOutcome {
  kPlanned,    // shard jobs published; the indexers and the coordinator take over
  kRefused,    // another refresh holds the lock, or the request was invalid
  kDuplicate,  // the request was handled before (redelivery)
  kFailed,     // failed for good and rolled back
  kRetryLater,  // a transient failure: handle the same request again later
  kCancelled    // an operator cancelled it; rolled back
};

// The planner: turns a refresh request into a planned refresh. For one request it takes the lock
// (ledger), copies the upstream tables into temp tables through postgres_fdw, filters tags,
// creates the new index with load settings, cuts the id space into shards, records them and
// publishes the plan and the shard jobs. Every step is recorded in the ledger and skipped when
// already done, so a redelivered request after a crash resumes where the last attempt stopped.
// A step that fails for good rolls the refresh back (nothing live is touched before promotion).
// Owned by the planner process; handle() runs on the consumer's job thread, one at a time.
class Planner {
 public:
  Planner(service::ServiceContext& context, kafka::Producer& producer);
  ~Planner();

  // The consumer's handler for the requests topic.
  kafka::JobOutcome handle(const kafka::Message& message, const kafka::CancelToken& cancel);
  PlanOutcome plan(const messages::RefreshRequested& request, const kafka::CancelToken* cancel = nullptr);

  // A cancel request for a refresh whose request is still queued (not yet in the ledger): it is
  // cancelled as soon as the planner takes the request. Kept in memory; thread-safe.
  void cancel_before_start(const std::string& request_id, const std::string& requested_by);
  // Interrupts the statement the planner is running for `refresh_id` (copy, tag filtering), so
  // that a cancel request takes effect at once rather than after a step of hours. Thread-safe.
  void interrupt(const std::string& refresh_id);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::planner
