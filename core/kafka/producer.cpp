#include "core/kafka/producer.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/shutdown.h"
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
  // On the heap: left behind with the handle when destroying it does not return in time.
  std::unique_ptr<detail::ClientContext> context = std::make_unique<detail::ClientContext>();
  Logger logger{"kafka.producer"};
  detail::HandlePtr rk;
  std::atomic<bool> stopping{false};
  std::thread poller;
};

Producer::Producer(ProducerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->context->logger = impl_->logger;
  auto conf = detail::make_conf(impl_->options.client,
                                {{"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"message.timeout.ms", std::to_string(impl_->options.delivery_timeout.count())},
                                 {"linger.ms", std::to_string(impl_->options.linger.count())}},
                                *impl_->context);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), on_delivery);
  impl_->rk = detail::new_handle(RD_KAFKA_PRODUCER, std::move(conf), "producer");
  impl_->poller = std::thread([impl = impl_.get()] {
    while (!impl->stopping.load()) rd_kafka_poll(impl->rk.get(), 100);
  });
  impl_->logger.info("kafka producer created", {{"bootstrap_servers", impl_->options.client.bootstrap_servers},
                                                {"client_id", impl_->options.client.client_id},
                                                {"properties", redacted_properties(impl_->options.client)}});
}

Producer::~Producer() {
  auto& s = *impl_;
  if (!flush(s.options.close_timeout)) {
    s.logger.error("kafka producer closed with undelivered messages; they are purged and reported as failed",
                   {{"outstanding", outstanding()},
                    {"close_timeout_ms", s.options.close_timeout.count()},
                    {"shutdown_budget_ms", shutdown_budget(s.options.close_timeout).count()}});
    rd_kafka_purge(s.rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    // Serves the purge's delivery reports, which are local: no broker is waited for.
    rd_kafka_flush(s.rk.get(), static_cast<int>(std::max(shutdown_budget(Duration(1000)), Duration(100)).count()));
  }
  s.stopping.store(true);
  s.poller.join();
  rd_kafka_poll(s.rk.get(), 0);
  const auto budget = shutdown_budget(s.options.close_timeout);
  if (!detail::tear_down_within(std::move(s.rk), std::move(s.context), {}, budget).finished) {
    s.logger.error("the kafka producer's client did not close in time (brokers unreachable?) and is left behind",
                   {{"timeout_ms", budget.count()}});
  }
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
  const auto started = std::chrono::steady_clock::now();
  const auto until = started + timeout;
  // In slices, so that a shutdown requested meanwhile ends the wait at its deadline: a job blocked
  // here on a broker that went away would otherwise hold the process past its grace.
  for (;;) {
    const auto left = std::min(until, shutdown_deadline()) - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) break;
    if (future.wait_for(std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100))) ==
        std::future_status::ready) {
      return future.get();
    }
  }
  if (future.wait_for(std::chrono::seconds(0)) == std::future_status::ready) return future.get();
  DeliveryResult result;
  result.topic = std::string(topic);
  result.error = detail::make_error(
      RD_KAFKA_RESP_ERR__TIMED_OUT,
      fmt::format("no acknowledgement from kafka for topic {} within {} ms{}: the message may still be delivered; "
                  "retry (duplicates are tolerated) or check the brokers",
                  topic, std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - started).count(),
                  shutdown_requested() ? " (the process is stopping)" : ""));
  return result;
}

bool Producer::flush(Duration timeout) {
  const auto bounded = shutdown_budget(timeout);
  return rd_kafka_flush(impl_->rk.get(), static_cast<int>(bounded.count())) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

std::int64_t Producer::outstanding() const {
  return rd_kafka_outq_len(impl_->rk.get());
}

}  // namespace datarefresh::kafka
