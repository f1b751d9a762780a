#include "core/refresh/event_publisher.h"

#include <fmt/format.h>

#include "core/messages/codec.h"
#include "core/refresh/step_error.h"

namespace datarefresh::refresh {

EventPublisher::EventPublisher(kafka::Producer& producer, const config::Config& config)
    : producer_(producer),
      timeout_(config.kafka.producer.delivery_timeout + std::chrono::seconds(5)),
      requests_(config.kafka.topic_name(config::Topic::kRequests)),
      refresh_jobs_(config.kafka.topic_name(config::Topic::kRefreshJobs)),
      shard_jobs_(config.kafka.topic_name(config::Topic::kShardJobs)),
      events_(config.kafka.topic_name(config::Topic::kEvents)),
      dead_letter_(config.kafka.topic_name(config::Topic::kDeadLetter)) {}

const std::string& EventPublisher::topic(config::Topic t) const {
  switch (t) {
    case config::Topic::kRequests: return requests_;
    case config::Topic::kRefreshJobs: return refresh_jobs_;
    case config::Topic::kShardJobs: return shard_jobs_;
    case config::Topic::kEvents: return events_;
    case config::Topic::kDeadLetter: return dead_letter_;
  }
  return events_;
}

void EventPublisher::send(const std::string& topic, const std::string& key, const std::string& value,
                          const std::string& what) {
  auto r = producer_.produce_sync(topic, key, value, timeout_);
  if (!r.ok()) {
    throw StepError(fmt::format("publishing {} to {} was not acknowledged: {}", what, topic, r.error->message), true);
  }
}

void EventPublisher::publish(const messages::Event& event) {
  std::string type = std::visit([](const auto& e) { return std::string(std::decay_t<decltype(e)>::kType); }, event);
  send(events_, messages::event_key(event), messages::encode(event), type);
}

void EventPublisher::phase_changed(const std::string& refresh_id, const std::string& media_type,
                                   const std::string& phase, const std::optional<std::string>& previous) {
  messages::RefreshPhaseChanged e;
  e.refresh_id = RefreshId(refresh_id);
  e.media_type = media_type;
  e.phase = phase;
  e.previous_phase = previous;
  e.at = messages::now_timestamp();
  publish(e);
  log_.info("phase changed", {{"refresh_id", refresh_id}, {"media_type", media_type}, {"phase", phase}});
}

void EventPublisher::refresh_planned(const messages::RefreshPlanned& plan) {
  send(refresh_jobs_, plan.refresh_id.value(), messages::encode(plan), "refresh.planned");
}

std::vector<ledger::PublishedJob> EventPublisher::shard_jobs(const std::vector<messages::ShardJob>& jobs) {
  std::vector<std::future<kafka::DeliveryResult>> pending;
  pending.reserve(jobs.size());
  for (const auto& job : jobs) {
    pending.push_back(producer_.produce(shard_jobs_, messages::shard_job_key(job.refresh_id, job.shard),
                                        messages::encode(job)));
  }
  std::vector<ledger::PublishedJob> written;
  written.reserve(jobs.size());
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (pending[i].wait_for(timeout_) != std::future_status::ready) {
      throw StepError(fmt::format("shard job {} was not acknowledged within {}", jobs[i].shard.value(),
                                  format_duration(timeout_)),
                      true);
    }
    auto r = pending[i].get();
    if (!r.ok()) {
      throw StepError(fmt::format("shard job {} of refresh {} was not acknowledged: {}", jobs[i].shard.value(),
                                  jobs[i].refresh_id.value(), r.error->message),
                      true);
    }
    written.push_back({jobs[i].shard.value(), {r.partition, r.offset.value()}});
  }
  return written;
}

bool EventPublisher::dead_letter(const messages::DeadLetter& letter) {
  auto r = producer_.produce_sync(dead_letter_, letter.refresh_id ? letter.refresh_id->value() : std::string(),
                                  messages::encode(letter), timeout_);
  if (!r.ok()) log_.error("dead letter not acknowledged", {{"reason", letter.reason}, {"error", r.error->message}});
  return r.ok();
}

}  // namespace datarefresh::refresh

namespace datarefresh::refresh {

void EventPublisher::dead_letter(const kafka::Message& source, const std::string& reason,
                                 const std::optional<std::string>& refresh_id) {
  messages::DeadLetter letter;
  letter.reason = reason;
  letter.source_topic = source.topic;
  letter.source_partition = source.partition;
  letter.source_offset = source.offset;
  if (refresh_id) letter.refresh_id = RefreshId(*refresh_id);
  messages::set_payload(letter, source.payload);
  letter.at = messages::now_timestamp();
  log_.warn("message dead-lettered", {{"topic", source.topic}, {"offset", source.offset.value()}, {"reason", reason}});
  if (!dead_letter(letter)) throw Error("the dead-letter topic did not acknowledge a message rejected for: " + reason);
}

}  // namespace datarefresh::refresh
