#include "core/kafka/librdkafka_support.h"

#include <array>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "core/common/error.h"
#include "core/common/shutdown.h"

namespace datarefresh::kafka::detail {
namespace {

void on_log(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  auto* context = static_cast<ClientContext*>(rd_kafka_opaque(rk));
  if (context == nullptr || context->silenced.load()) return;
  nlohmann::json fields = {{"client", rd_kafka_name(rk)}, {"facility", facility}};
  if (level <= 3) {
    context->logger.error(text, fields);
  } else if (level == 4) {
    context->logger.warn(text, fields);
  } else if (level <= 6) {
    context->logger.info(text, fields);
  } else {
    context->logger.debug(text, fields);
  }
}

void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* context = static_cast<ClientContext*>(opaque);
  if (context->silenced.load()) return;
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  nlohmann::json fields = {{"client", rd_kafka_name(rk)}, {"error", rd_kafka_err2name(code)}, {"reason", reason}};
  if (code == RD_KAFKA_RESP_ERR__FATAL) {
    char detail[512];
    rd_kafka_fatal_error(rk, detail, sizeof(detail));
    fields["fatal"] = detail;
    context->logger.error("kafka client hit a fatal error and must be recreated", fields);
  } else if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) {
    context->logger.error("all kafka brokers are down: check bootstrap_servers and that the cluster is up", fields);
  } else {
    // librdkafka retries transport errors itself; these are informative.
    context->logger.warn("kafka client error", fields);
  }
}

int on_stats(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
  auto* context = static_cast<ClientContext*>(opaque);
  if (context->silenced.load()) return 0;
  if (context->on_statistics) context->on_statistics(std::string_view(json, json_len));
  return 0;  // librdkafka frees json
}

}  // namespace

void set_property(rd_kafka_conf_t* conf, const std::string& key, const std::string& value, std::string_view key_path) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
    if (is_secret_property(key)) {
      throw ConfigError(
          fmt::format("{} was rejected by librdkafka (value not shown: it is a secret): check "
                      "the property name and value against librdkafka's CONFIGURATION.md",
                      key_path));
    }
    throw ConfigError(
        fmt::format("{} was rejected by librdkafka: {}: check the property name and value "
                    "against librdkafka's CONFIGURATION.md",
                    key_path, errstr));
  }
}

ConfPtr make_conf(const ClientOptions& options, const std::map<std::string, std::string>& managed,
                  ClientContext& context) {
  validate(options);
  ConfPtr conf(rd_kafka_conf_new());
  set_property(conf.get(), "bootstrap.servers", options.bootstrap_servers, "kafka.bootstrap_servers");
  set_property(conf.get(), "client.id", options.client_id, "kafka.client_id");
  for (const auto& [key, value] : options.properties) {
    set_property(conf.get(), key, value, "kafka.properties." + key);
  }
  for (const auto& [key, value] : managed) set_property(conf.get(), key, value, key);
  context.on_statistics = options.on_statistics;
  if (options.statistics_interval.count() > 0 && options.on_statistics) {
    set_property(conf.get(), "statistics.interval.ms", std::to_string(options.statistics_interval.count()),
                 "kafka.statistics_interval");
    rd_kafka_conf_set_stats_cb(conf.get(), on_stats);
  }
  rd_kafka_conf_set_log_cb(conf.get(), on_log);
  rd_kafka_conf_set_error_cb(conf.get(), on_error);
  rd_kafka_conf_set_opaque(conf.get(), &context);
  return conf;
}

HandlePtr new_handle(rd_kafka_type_t type, ConfPtr conf, std::string_view role) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    throw Error(fmt::format("creating the kafka {} failed: {}: check the kafka settings", role, errstr));
  }
  (void)conf.release();  // owned by rk now
  return HandlePtr(rk);
}

TeardownResult tear_down_within(HandlePtr rk, std::unique_ptr<ClientContext> context, Teardown steps,
                                Duration timeout) {
  struct Progress {
    std::mutex mutex;
    std::condition_variable cv;
    bool finished = false;
    rd_kafka_resp_err_t close_error = RD_KAFKA_RESP_ERR_NO_ERROR;
  };
  if (!rk) return TeardownResult{true, RD_KAFKA_RESP_ERR_NO_ERROR};
  auto progress = std::make_shared<Progress>();
  std::thread helper([handle = rk.release(), steps, progress] {
    auto close_error = RD_KAFKA_RESP_ERR_NO_ERROR;
    if (steps.close_consumer) close_error = rd_kafka_consumer_close(handle);
    if (steps.destroy) rd_kafka_destroy_flags(handle, steps.destroy_flags);
    {
      std::lock_guard lock(progress->mutex);
      progress->finished = true;
      progress->close_error = close_error;
    }
    progress->cv.notify_all();
  });
  TeardownResult result;
  {
    std::unique_lock lock(progress->mutex);
    // At least a moment, even with no budget left: a client that closes at once is not left behind.
    progress->cv.wait_for(lock, std::max(timeout, Duration(100)), [&] { return progress->finished; });
    result.finished = progress->finished;
    result.close_error = progress->close_error;
  }
  if (result.finished) {
    helper.join();
  } else {
    helper.detach();
  }
  if (!result.finished || !steps.destroy) {
    // The handle lives on, and may still call back: its context must too, doing nothing.
    if (context) {
      context->silenced.store(true);
      (void)context.release();
    }
  }
  return result;
}

ScopedClient::ScopedClient(rd_kafka_type_t type, const ClientOptions& options,
                           const std::map<std::string, std::string>& managed, std::string_view role, std::string logger,
                           Teardown teardown, Duration teardown_timeout)
    : context_(std::make_unique<ClientContext>()),
      role_(role),
      teardown_(teardown),
      teardown_timeout_(teardown_timeout) {
  context_->logger = Logger(std::move(logger));
  auto conf = make_conf(options, managed, *context_);
  rk_ = new_handle(type, std::move(conf), role);
}

ScopedClient::~ScopedClient() {
  const auto budget = shutdown_budget(teardown_timeout_);
  const auto logger = context_->logger;
  if (!tear_down_within(std::move(rk_), std::move(context_), teardown_, budget).finished) {
    logger.warn("a kafka client did not close in time and is left behind (brokers unreachable?)",
                {{"client", role_}, {"timeout_ms", budget.count()}});
  }
}

bool is_retryable(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
      return true;
    default:
      return false;
  }
}

KafkaError make_error(rd_kafka_resp_err_t err, std::string message) {
  return KafkaError{static_cast<int>(err), rd_kafka_err2name(err), std::move(message), is_retryable(err)};
}

}  // namespace datarefresh::kafka::detail
