#pragma once

#include <optional>
#include <string>

#include "core/common/log.h"
#include "core/config/config.h"
#include "core/kafka/message.h"
#include "core/ledger/ledger.h"
#include "core/kafka/producer.h"
#include "core/messages/messages.h"

namespace datarefresh::refresh {

// Publishes the facts of a refresh on the events topic (and the plan and shard jobs on theirs),
// waiting for the broker's acknowledgement: a fact that was not acknowledged throws a retryable
// StepError, so the caller's step is retried instead of the fact being lost. Thread-safe (the
// producer is).
class EventPublisher {
 public:
  EventPublisher(kafka::Producer& producer, const config::Config& config);

  void publish(const messages::Event& event);
  void phase_changed(const std::string& refresh_id, const std::string& media_type, const std::string& phase,
                     const std::optional<std::string>& previous);
  void refresh_planned(const messages::RefreshPlanned& plan);
  // Publishes all jobs, then waits for every acknowledgement; returns where each was written.
  std::vector<ledger::PublishedJob> shard_jobs(const std::vector<messages::ShardJob>& jobs);
  // Best effort for a message that cannot be processed; returns false if the broker did not take it.
  bool dead_letter(const messages::DeadLetter& letter);
  // Dead-letters a consumed message with the reason; throws Error if the broker did not take it
  // (the caller must then not commit the message).
  void dead_letter(const kafka::Message& source, const std::string& reason, const std::optional<std::string>& refresh_id);

  const std::string& topic(config::Topic t) const;

 private:
  void send(const std::string& topic, const std::string& key, const std::string& value, const std::string& what);
  kafka::Producer& producer_;
  Duration timeout_;
  std::string requests_, refresh_jobs_, shard_jobs_, events_, dead_letter_;
  Logger log_{"events"};
};

}  // namespace datarefresh::refresh
