#include "core/kafka/producer.h"

#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/kafka/librdkafka_support.h"

namespace datarefresh::kafka {
namespace {

std::future<DeliveryResult> ready(DeliveryResult result) {
  std::promise<DeliveryResult> promise;
  promise.set_value(std::move(result));
  return promise.get_future();
}

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void*) {
  std::unique_ptr<std::promise<DeliveryResult>> promise(static_cast<std::promise<DeliveryResult>*>(msg->_private));
  if (!promise) return;
  DeliveryResult result;
  result.topic = rd_kafka_topic_name(msg->rkt);
  result.partition = msg->partition;
  if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    result.offset = KafkaOffset(msg->offset);
  } else {
    result.error = detail::make_error(
        msg->err, fmt::format("delivering to kafka topic {} failed: {}: {}", result.topic, rd_kafka_err2name(msg->err),
                              detail::is_retryable(msg->err) ? "retry later (the broker may be unavailable)"
                                                             : "this will not succeed by retrying"));
  }
  promise->set_value(std::move(result));
}

}  // namespace

struct Producer::Impl {
  ProducerOptions options;
  detail::ClientContext context;
  detail::HandlePtr rk;
  std::atomic<bool> stopping{false};
  std::thread poller;
};

Producer::Producer(ProducerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->context.logger = Logger("kafka.producer");
  auto conf = detail::make_conf(impl_->options.client,
                                {{"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"message.timeout.ms", std::to_string(impl_->options.delivery_timeout.count())},
                                 {"linger.ms", std::to_string(impl_->options.linger.count())}},
                                impl_->context);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  impl_->rk = detail::new_handle(RD_KAFKA_PRODUCER, std::move(conf), "producer");
  impl_->poller = std::thread([impl = impl_.get()] {
    while (!impl->stopping.load()) rd_kafka_poll(impl->rk.get(), 100);
  });
  impl_->context.logger.info("kafka producer created", {{"bootstrap_servers", impl_->options.client.bootstrap_servers},
                                                        {"client_id", impl_->options.client.client_id},
                                                        {"properties", redacted_properties(impl_->options.client)}});
}

Producer::~Producer() {
  if (!flush(impl_->options.close_timeout)) {
    const auto left = outstanding();
    impl_->context.logger.error(
        "kafka producer closed with undelivered messages; they are purged and reported "
        "as failed",
        {{"outstanding", left}, {"close_timeout_ms", impl_->options.close_timeout.count()}});
    rd_kafka_purge(impl_->rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(impl_->rk.get(), 1000);  // serves the purge delivery reports
  }
  impl_->stopping.store(true);
  impl_->poller.join();
  rd_kafka_poll(impl_->rk.get(), 0);
}

std::future<DeliveryResult> Producer::produce(std::string_view topic, std::string_view key, std::string_view value) {
  auto promise = std::make_unique<std::promise<DeliveryResult>>();
  auto future = promise->get_future();
  const std::string topic_name(topic);
  const auto err = rd_kafka_producev(
      impl_->rk.get(), RD_KAFKA_V_TOPIC(topic_name.c_str()), RD_KAFKA_V_KEY(const_cast<char*>(key.data()), key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
      RD_KAFKA_V_OPAQUE(promise.get()), RD_KAFKA_V_END);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    DeliveryResult result;
    result.topic = topic_name;
    result.error = detail::make_error(
        err,
        fmt::format("queueing a message for kafka topic {} failed: {}: {}", topic_name, rd_kafka_err2name(err),
                    err == RD_KAFKA_RESP_ERR__QUEUE_FULL ? "the local queue is full, retry after the broker catches up"
                                                         : "check the topic name and message size"));
    return ready(std::move(result));
  }
  (void)promise.release();  // on_delivery owns it now
  return future;
}

DeliveryResult Producer::produce_sync(std::string_view topic, std::string_view key, std::string_view value,
                                      Duration timeout) {
  auto future = produce(topic, key, value);
  if (future.wait_for(timeout) == std::future_status::ready) return future.get();
  DeliveryResult result;
  result.topic = std::string(topic);
  result.error = detail::make_error(
      RD_KAFKA_RESP_ERR__TIMED_OUT,
      fmt::format("no acknowledgement from kafka for topic {} within {} ms: the message may still be delivered; "
                  "retry (duplicates are tolerated) or check the brokers",
                  topic, timeout.count()));
  return result;
}

bool Producer::flush(Duration timeout) {
  return rd_kafka_flush(impl_->rk.get(), static_cast<int>(timeout.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::int64_t Producer::outstanding() const {
  return rd_kafka_outq_len(impl_->rk.get());
}

}  // namespace datarefresh::kafka
