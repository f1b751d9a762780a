#pragma once

// Internal to core/kafka and devstack/broker: RAII wrappers and configuration helpers over
// librdkafka's C API. Not for other modules; they use the Producer / GroupConsumer / ensure_topics
// interfaces, which keep librdkafka out of their headers.

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <librdkafka/rdkafka.h>

#include "core/common/duration.h"
#include "core/common/log.h"
#include "core/kafka/client_options.h"
#include "core/kafka/kafka_error.h"

namespace datarefresh::kafka::detail {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* conf) const { rd_kafka_conf_destroy(conf); }
};
struct HandleDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* list) const { rd_kafka_topic_partition_list_destroy(list); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* ev) const { rd_kafka_event_destroy(ev); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HandlePtr = std::unique_ptr<rd_kafka_t, HandleDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// State every handle's callbacks reach through rd_kafka opaque: the module logger, the statistics
// sink and the owning client (producer or consumer implementation). Must outlive the handle.
struct ClientContext {
  Logger logger{"kafka"};
  std::function<void(std::string_view)> on_statistics;
  void* owner = nullptr;
  // Set before a handle is deliberately left undestroyed (see GroupConsumer, tear_down_within):
  // its callbacks then do nothing, so a handle outliving its owner logs nothing and touches
  // nothing else.
  std::atomic<bool> silenced{false};
  // Set before a consumer is closed: a rebalance callback must then hand partitions back without
  // reaching the owner, which may be gone before a slow close returns.
  std::atomic<bool> closing{false};
};

// What tear_down_within() does with a handle, in order.
struct Teardown {
  bool close_consumer = false;  // rd_kafka_consumer_close: commit nothing more, leave the group
  bool destroy = true;          // rd_kafka_destroy_flags(destroy_flags); false leaves the handle
  int destroy_flags = 0;
};

struct TeardownResult {
  bool finished = false;  // every step returned within the timeout
  rd_kafka_resp_err_t close_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

// Runs `steps` on a helper thread and waits at most `timeout` (at least 100 ms) for them. librdkafka 2.0.2 can
// block in rd_kafka_consumer_close and rd_kafka_destroy for minutes, or for good, once the brokers
// are gone (librdkafka issues #4519, #4674); a process must still stop within its grace. If the
// steps do not finish in time, the handle is left behind: `context` is silenced and never freed
// (librdkafka threads may still call into it), the helper thread is detached, and the result says
// so; the caller logs what was not handed back. Otherwise `context` is freed here (or kept, and
// silenced, when the handle is not destroyed).
TeardownResult tear_down_within(HandlePtr rk, std::unique_ptr<ClientContext> context, Teardown steps, Duration timeout);

// A short-lived client (admin, offset reader, topic reader) and the context its callbacks use,
// torn down within `teardown_timeout` and what is left of a requested shutdown's grace.
class ScopedClient {
 public:
  // `role` names the client in errors ("admin client"), `logger` its log lines ("kafka.admin").
  ScopedClient(rd_kafka_type_t type, const ClientOptions& options, const std::map<std::string, std::string>& managed,
               std::string_view role, std::string logger, Teardown teardown, Duration teardown_timeout);
  ~ScopedClient();
  ScopedClient(const ScopedClient&) = delete;
  ScopedClient& operator=(const ScopedClient&) = delete;

  rd_kafka_t* get() const { return rk_.get(); }

 private:
  std::unique_ptr<ClientContext> context_;
  HandlePtr rk_;
  std::string role_;
  Teardown teardown_;
  Duration teardown_timeout_;
};

// Builds a configuration from the options (validated first), then the `managed` properties the
// client sets itself. Installs log, error and statistics callbacks bound to `context`. Throws
// ConfigError naming "kafka.properties.<key>" for a property librdkafka rejects (values of secret
// properties are never echoed).
ConfPtr make_conf(const ClientOptions& options, const std::map<std::string, std::string>& managed,
                  ClientContext& context);

// Sets one property; throws ConfigError naming `key_path` on failure.
void set_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, std::string_view key_path);

// Creates the handle (consumes conf on success). Throws Error naming the role on failure.
HandlePtr new_handle(rd_kafka_type_t type, ConfPtr conf, std::string_view role);

bool is_retryable(rd_kafka_resp_err_t err);
KafkaError make_error(rd_kafka_resp_err_t err, std::string message);

}  // namespace datarefresh::kafka::detail
