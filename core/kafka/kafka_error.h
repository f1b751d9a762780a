#pragma once

#include <string>

namespace datarefresh::kafka {

// An expected Kafka failure as a value: which error (librdkafka's name, e.g. "_MSG_TIMED_OUT"),
// a message that says what failed and what to do, and whether retrying the same operation can
// succeed (a leader change, a timeout) or not (a message too large, an unknown topic, a fatal
// producer state).
struct KafkaError {
  int code = 0;
  std::string name;
  std::string message;
  bool retryable = false;
};

}  // namespace datarefresh::kafka
