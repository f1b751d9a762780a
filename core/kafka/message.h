#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>

#include "core/common/strong_id.h"

namespace datarefresh::kafka {

struct TopicPartition {
  std::string topic;
  std::int32_t partition = 0;
  auto operator<=>(const TopicPartition&) const = default;
  bool operator==(const TopicPartition&) const = default;
};

// "topic[partition]", for logs and error messages.
std::string to_string(const TopicPartition& tp);

// One consumed record as a plain value, detached from librdkafka's buffers so a job may keep it
// for as long as it runs.
struct Message {
  std::string topic;
  std::int32_t partition = 0;
  KafkaOffset offset{-1};
  std::string key;
  std::string payload;
  std::optional<std::chrono::system_clock::time_point> timestamp;

  TopicPartition topic_partition() const { return {topic, partition}; }
  bool operator==(const Message&) const = default;
};

// What a job handler reports back to the GroupConsumer.
enum class JobOutcome {
  kDone,   // processed: the offset is committed
  kRetry,  // not processed: nothing is committed and the message is delivered again
};

}  // namespace datarefresh::kafka
