#include "core/kafka/topics.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/kafka/librdkafka_support.h"

namespace datarefresh::kafka {
namespace {

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};

std::map<std::string, int> read_topics(rd_kafka_t* rk, const ClientOptions& options, Duration timeout) {
  const rd_kafka_metadata_t* raw = nullptr;
  const auto err = rd_kafka_metadata(rk, 1, nullptr, &raw, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw Error(
        fmt::format("listing kafka topics at {} failed: {}: check kafka.bootstrap_servers and that the "
                    "brokers are up",
                    options.bootstrap_servers, rd_kafka_err2str(err)));
  }
  std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
  std::map<std::string, int> topics;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const auto& t = md->topics[i];
    if (t.err == RD_KAFKA_RESP_ERR_NO_ERROR) topics[t.topic] = t.partition_cnt;
  }
  return topics;
}

// Short-lived clients answer within their own timeouts; destroying one after the brokers went away
// may still block (see tear_down_within), so it is bounded too.
constexpr Duration kTeardownTimeout{std::chrono::seconds(5)};

detail::ScopedClient admin_client(const ClientOptions& options) {
  return detail::ScopedClient(RD_KAFKA_PRODUCER, options, {{"allow.auto.create.topics", "false"}}, "admin client",
                              "kafka.admin", {}, kTeardownTimeout);
}

// TopicAdmin over one librdkafka admin client (a producer handle, as librdkafka's Admin API wants).
class LibrdkafkaTopicAdmin final : public TopicAdmin {
 public:
  explicit LibrdkafkaTopicAdmin(const ClientOptions& options) : options_(options), client_(admin_client(options)) {}

  std::map<std::string, TopicMetadata> describe_topics(Duration timeout) override {
    const rd_kafka_metadata_t* raw = nullptr;
    const auto err = rd_kafka_metadata(client_.get(), 1, nullptr, &raw, static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(
          fmt::format("listing kafka topics at {} failed: {}: check kafka.bootstrap_servers and that the "
                      "brokers are up",
                      options_.bootstrap_servers, rd_kafka_err2str(err)));
    }
    std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter> md(raw);
    std::map<std::string, TopicMetadata> topics;
    for (int i = 0; i < md->topic_cnt; ++i) {
      const auto& t = md->topics[i];
      TopicMetadata topic;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) topic.error = rd_kafka_err2name(t.err);
      topic.partitions = t.partition_cnt;
      for (int p = 0; p < t.partition_cnt; ++p) {
        const auto& part = t.partitions[p];
        if (part.leader < 0 || part.err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE) ++topic.leaderless;
      }
      topics[t.topic] = std::move(topic);
    }
    return topics;
  }

  std::map<std::string, bool> create_topics(const std::vector<TopicSpec>& topics, Duration timeout) override {
    std::vector<rd_kafka_NewTopic_t*> to_create;
    struct NewTopicsGuard {
      std::vector<rd_kafka_NewTopic_t*>& list;
      ~NewTopicsGuard() {
        for (auto* t : list) rd_kafka_NewTopic_destroy(t);
      }
    } guard{to_create};
    std::string names;
    for (const auto& spec : topics) {
      names += (names.empty() ? "" : ", ") + spec.name;
      char errstr[512];
      auto* nt =
          rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions, spec.replication_factor, errstr, sizeof(errstr));
      if (nt == nullptr) {
        throw ConfigError(fmt::format("kafka topic {} ({} partitions, replication {}) is invalid: {}", spec.name,
                                      spec.partitions, spec.replication_factor, errstr));
      }
      to_create.push_back(nt);
    }

    detail::QueuePtr queue(rd_kafka_queue_new(client_.get()));
    std::unique_ptr<rd_kafka_AdminOptions_t, decltype(&rd_kafka_AdminOptions_destroy)> admin_options(
        rd_kafka_AdminOptions_new(client_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS), rd_kafka_AdminOptions_destroy);
    char errstr[512];
    rd_kafka_AdminOptions_set_operation_timeout(admin_options.get(), static_cast<int>(timeout.count()), errstr,
                                                sizeof(errstr));
    rd_kafka_AdminOptions_set_request_timeout(admin_options.get(), static_cast<int>(timeout.count()), errstr,
                                              sizeof(errstr));
    rd_kafka_CreateTopics(client_.get(), to_create.data(), to_create.size(), admin_options.get(), queue.get());
    detail::EventPtr event(rd_kafka_queue_poll(queue.get(), static_cast<int>(timeout.count()) + 1000));
    if (!event) {
      throw Error(fmt::format("creating kafka topics {} timed out after {} ms: check the brokers at {}", names,
                              timeout.count(), options_.bootstrap_servers));
    }
    if (rd_kafka_event_error(event.get()) == RD_KAFKA_RESP_ERR__TIMED_OUT) {
      // Also what librdkafka's mock cluster (the embedded broker) answers: it has no controller and
      // does not implement CreateTopics.
      throw Error(
          fmt::format("creating kafka topics {} failed: no controller answered within {} ms ({}): create "
                      "them by hand, or on the embedded broker pass --topic name:partitions, which does not "
                      "support CreateTopics",
                      names, timeout.count(), rd_kafka_event_error_string(event.get())));
    }
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(
          fmt::format("creating kafka topics {} failed: {}: create them by hand (or, on the embedded "
                      "broker, with --topic name:partitions)",
                      names, rd_kafka_event_error_string(event.get())));
    }
    const auto* result = rd_kafka_event_CreateTopics_result(event.get());
    size_t count = 0;
    const auto** results = rd_kafka_CreateTopics_result_topics(result, &count);
    std::map<std::string, bool> out;
    for (size_t r = 0; r < count; ++r) {
      const std::string name = rd_kafka_topic_result_name(results[r]);
      const auto err = rd_kafka_topic_result_error(results[r]);
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        out[name] = err == RD_KAFKA_RESP_ERR_NO_ERROR;
        continue;
      }
      const auto spec = std::find_if(topics.begin(), topics.end(), [&](const TopicSpec& t) { return t.name == name; });
      const char* why = rd_kafka_topic_result_error_string(results[r]);
      throw Error(fmt::format(
          "creating kafka topic {} ({} partitions, replication {}) failed: {}: {}: create it by hand or fix the "
          "broker's permissions and limits",
          name, spec != topics.end() ? spec->partitions : 0, spec != topics.end() ? spec->replication_factor : 0,
          rd_kafka_err2name(err), why != nullptr ? why : ""));
    }
    return out;
  }

 private:
  ClientOptions options_;
  detail::ScopedClient client_;
};

}  // namespace

std::map<std::string, int> list_topics(const ClientOptions& options, Duration timeout) {
  auto admin = admin_client(options);
  return read_topics(admin.get(), options, timeout);
}

std::vector<TopicReport> ensure_topics(const ClientOptions& options, const std::vector<TopicSpec>& topics,
                                       Duration timeout) {
  LibrdkafkaTopicAdmin admin(options);
  return ensure_topics(admin, topics, timeout);
}

std::map<TopicPartition, std::int64_t> committed_offsets(const ClientOptions& options, const std::string& group_id,
                                                         const std::vector<TopicPartition>& partitions,
                                                         Duration timeout) {
  // Closing a consumer that never subscribed has nothing to revoke; skip the close handshake.
  detail::ScopedClient rk(
      RD_KAFKA_CONSUMER, options, {{"group.id", group_id}, {"enable.auto.commit", "false"}}, "offset reader",
      "kafka.admin", {.close_consumer = false, .destroy = true, .destroy_flags = RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE},
      kTeardownTimeout);
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& tp : partitions) rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition);
  const auto err = rd_kafka_committed(rk.get(), list.get(), static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw Error(fmt::format("reading committed offsets of kafka group {} failed: {}: check the brokers at {}", group_id,
                            rd_kafka_err2str(err), options.bootstrap_servers));
  }
  std::map<TopicPartition, std::int64_t> out;
  for (int i = 0; i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    out[TopicPartition{e.topic, e.partition}] = e.offset < 0 ? -1 : e.offset;
  }
  return out;
}

std::vector<Message> read_topic(const ClientOptions& options, const std::string& topic, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const auto topics = list_topics(options, timeout);
  auto it = topics.find(topic);
  if (it == topics.end()) {
    throw Error(fmt::format("kafka topic {} does not exist at {}", topic, options.bootstrap_servers));
  }
  // A group id is required by the consumer handle but never joined: partitions are assigned.
  detail::ScopedClient rk(
      RD_KAFKA_CONSUMER, options,
      {{"group.id", "datarefresh-topic-reader"},
       {"enable.auto.commit", "false"},
       {"enable.auto.offset.store", "false"},
       {"enable.partition.eof", "true"}},
      "topic reader", "kafka.reader",
      {.close_consumer = false, .destroy = true, .destroy_flags = RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE},
      kTeardownTimeout);
  rd_kafka_poll_set_consumer(rk.get());
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(it->second));
  std::map<std::int32_t, std::int64_t> end;  // partition -> high watermark, for partitions with data
  for (std::int32_t p = 0; p < it->second; ++p) {
    std::int64_t low = 0, high = 0;
    const auto err = rd_kafka_query_watermark_offsets(rk.get(), topic.c_str(), p, &low, &high,
                                                      static_cast<int>(timeout.count()));
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw Error(fmt::format("reading the offsets of {}[{}] failed: {}", topic, p, rd_kafka_err2str(err)));
    }
    if (high > low) {
      end[p] = high;
      rd_kafka_topic_partition_list_add(list.get(), topic.c_str(), p)->offset = low;
    }
  }
  std::vector<Message> out;
  if (end.empty()) return out;
  if (const auto err = rd_kafka_assign(rk.get(), list.get()); err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw Error(fmt::format("assigning {} failed: {}", topic, rd_kafka_err2str(err)));
  }
  while (!end.empty()) {
    if (std::chrono::steady_clock::now() > deadline) {
      throw Error(fmt::format("reading kafka topic {} did not reach its end within {} ms", topic, timeout.count()));
    }
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR || m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      const std::int32_t p = m->partition;
      const std::int64_t next = m->offset + (m->err == RD_KAFKA_RESP_ERR_NO_ERROR ? 1 : 0);
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        Message msg;
        msg.topic = topic;
        msg.partition = p;
        msg.offset = KafkaOffset(m->offset);
        if (m->key != nullptr) msg.key.assign(static_cast<const char*>(m->key), m->key_len);
        if (m->payload != nullptr) msg.payload.assign(static_cast<const char*>(m->payload), m->len);
        out.push_back(std::move(msg));
      }
      if (auto e = end.find(p); e != end.end() && next >= e->second) end.erase(e);
    }
    rd_kafka_message_destroy(m);
  }
  return out;
}

}  // namespace datarefresh::kafka
