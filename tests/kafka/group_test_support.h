#pragma once

// Shared by the group consumer integration tests: an embedded cluster per test, a journal of
// what handlers saw, a consumer running on its own thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/kafka/topics.h"
#include "devstack/broker/embedded_broker.h"

namespace datarefresh::kafka::kafka_test {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

inline std::string unique_name(std::string_view what) {
  static std::atomic<int> counter{0};
  return fmt::format("test-{}-{}-{}", what, ::getpid(), counter++);
}

// Waits (bounded) until `ready` holds, polling.
template <typename F>
bool eventually(F ready, std::chrono::milliseconds timeout) {
  const auto deadline = SteadyClock::now() + timeout;
  while (!ready()) {
    if (SteadyClock::now() >= deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// What every handler saw, in order, by consumer name. Thread-safe.
class Journal {
 public:
  struct Entry {
    std::string consumer;
    Message message;
  };
  void add(std::string consumer, const Message& m) {
    std::lock_guard lock(mutex_);
    entries_.push_back({std::move(consumer), m});
  }
  std::vector<Entry> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

inline ConsumerOptions test_options(const std::string& bootstrap, const std::string& group, const std::string& topic) {
  ConsumerOptions o;
  o.client.bootstrap_servers = bootstrap;
  o.client.client_id = "kafka-group-test";
  o.group_id = group;
  o.topics = {topic};
  o.session_timeout = 3s;  // short, as the mock coordinator paces joins by it (2 s stalls JoinGroup in 2.0.2)
  o.heartbeat_interval = 500ms;
  o.max_poll_interval = 6s;
  o.revoke_wait = 3s;
  o.stop_grace = 2s;
  o.retry_delay = 200ms;
  return o;
}

// A GroupConsumer running on its own thread; stops and joins on destruction (also when a test
// assertion failed), so no test leaves threads or group members behind.
class RunningConsumer {
 public:
  RunningConsumer(ConsumerOptions options, GroupConsumer::Handler handler)
      : consumer_(std::move(options), std::move(handler)), thread_([this] {
          try {
            consumer_.run();
          } catch (const std::exception& e) {
            std::lock_guard lock(mutex_);
            failure_ = e.what();
          }
        }) {}
  ~RunningConsumer() { join(); }

  GroupConsumer* operator->() { return &consumer_; }
  // Lets several members leave at once instead of one rebalance after another.
  void request_stop() { consumer_.stop(); }
  void join() {
    consumer_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  GroupConsumer consumer_;
  mutable std::mutex mutex_;
  std::string failure_;
  std::thread thread_;
};

class GroupConsumerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topic_ = unique_name("topic");
    group_ = unique_name("group");
  }
  void produce(int count) {
    ProducerOptions po;
    po.client.bootstrap_servers = cluster_.bootstrap_servers();
    Producer producer(po);
    for (int i = 0; i < count; ++i) {
      const auto r = producer.produce_sync(topic_, fmt::format("key-{}", i), fmt::format("job-{}", i), 10s);
      ASSERT_TRUE(r.ok()) << r.error->message;
    }
  }
  std::int64_t committed(std::int32_t partition) {
    ClientOptions client;
    client.bootstrap_servers = cluster_.bootstrap_servers();
    return committed_offsets(client, group_, {{topic_, partition}}, 10s).at({topic_, partition});
  }

  broker::EmbeddedBroker cluster_;
  std::string topic_;
  std::string group_;
  Journal journal_;
};

}  // namespace datarefresh::kafka::kafka_test
