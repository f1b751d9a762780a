#pragma once

#include <memory>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/service/service_context.h"

namespace datarefresh::indexer {

// One indexer process's work: for each shard job the consumer group hands it, checks the ledger
// (a shard already completed, a stale attempt or a refresh no longer running is acknowledged
// without work), streams the shard's rows from PostgreSQL, bulk-indexes them (index_shard) and
// reports shard.started / progress / completed / failed on the events topic. The offset is
// committed only after the completion (or failure) event was acknowledged by the broker; a
// cancelled job (partition revoked, process stopping) is not committed and goes to another
// indexer. handle() runs on the consumer's job threads, possibly several at once.
class IndexerService {
 public:
  IndexerService(service::ServiceContext& context, kafka::Producer& producer, std::string worker_id);
  ~IndexerService();

  kafka::JobOutcome handle(const kafka::Message& message, const kafka::CancelToken& cancel);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// `datarefresh indexer --config FILE`: runs until SIGTERM/SIGINT, then hands back its shard.
int run_indexer(const std::string& config_file, const std::string& worker_id);

}  // namespace datarefresh::indexer
