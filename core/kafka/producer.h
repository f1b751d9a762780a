#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/common/duration.h"
#include "core/common/strong_id.h"
#include "core/kafka/client_options.h"
#include "core/kafka/kafka_error.h"

namespace datarefresh::kafka {

struct ProducerOptions {
  ClientOptions client;
  // How long librdkafka keeps retrying one message before reporting it failed (message.timeout.ms).
  Duration delivery_timeout{std::chrono::seconds(30)};
  Duration linger{std::chrono::milliseconds(5)};
  // The destructor flushes for at most this long, then purges what is left (those deliveries
  // report a retryable _PURGE_QUEUE error), then destroys the client, also within this long. Both
  // are shortened to what is left of a requested shutdown's grace (shutdown_deadline()); a client
  // whose destruction does not return in time is left behind.
  Duration close_timeout{std::chrono::seconds(10)};
};

// The broker's answer for one message: where it was written, or why not.
struct DeliveryResult {
  std::string topic;
  std::int32_t partition = -1;
  KafkaOffset offset{-1};
  std::optional<KafkaError> error;

  bool ok() const { return !error.has_value(); }
};

// An idempotent producer (enable.idempotence=true, acks=all: no duplicates or reordering from
// librdkafka's own retries). Every send yields a DeliveryResult once the broker acknowledged or
// librdkafka gave up. A background thread serves delivery reports. Thread-safe: any thread may
// produce. Destruction flushes and destroys the client, each bounded by close_timeout and by the
// shutdown grace, and stops the thread.
class Producer {
 public:
  explicit Producer(ProducerOptions options);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Queues the message; the future resolves with the delivery report. Never throws for expected
  // failures (queue full, unknown topic): the future then holds the error at once.
  std::future<DeliveryResult> produce(std::string_view topic, std::string_view key, std::string_view value);

  // Sends and waits for the broker's acknowledgement, at most `timeout`, and no later than the end
  // of a requested shutdown's grace. On timeout the result is a retryable error; the message may
  // still be delivered later (consumers tolerate duplicates).
  DeliveryResult produce_sync(std::string_view topic, std::string_view key, std::string_view value, Duration timeout);

  // Waits until every queued message got its delivery report; returns false if some were still
  // outstanding after `timeout`, or at the end of a requested shutdown's grace if sooner.
  bool flush(Duration timeout);

  // Messages queued or in flight, not yet reported.
  std::int64_t outstanding() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace datarefresh::kafka
