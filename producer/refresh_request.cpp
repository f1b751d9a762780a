#include "producer/refresh_request.h"

#include "core/common/error.h"
#include "core/messages/codec.h"

namespace datarefresh::planner {

bool is_refresh_mode(std::string_view mode) {
  return mode == "full" || mode == "incremental" || mode == "auto" || mode == "filtered_only" || mode == "sample";
}

messages::RefreshRequested make_refresh_request(const std::string& media_type, std::optional<std::int64_t> row_limit,
                                                const std::string& requested_by, const std::string& request_id,
                                                const std::string& mode) {
  if (!is_refresh_mode(mode) && mode != "rollback") {
    throw InvariantError("refresh mode '" + mode + "' requested for " + media_type + ": must be " +
                         std::string(kRefreshModes));
  }
  messages::RefreshRequested request;
  request.request_id = request_id;
  request.media_type = media_type;
  request.options.row_limit = row_limit;
  request.options.requested_by = requested_by;
  request.options.mode = mode;
  request.requested_at = messages::now_timestamp();
  return request;
}

void submit_refresh_request(kafka::Producer& producer, const config::Config& config,
                            const messages::RefreshRequested& request) {
  auto r = producer.produce_sync(config.kafka.topic_name(config::Topic::kRequests), request.media_type,
                                 messages::encode(request), std::chrono::seconds(30));
  if (!r.ok()) {
    throw Error("the refresh request " + request.request_id + " was not acknowledged by " +
                config.kafka.bootstrap_servers + ": " + r.error->message +
                "; check kafka.bootstrap_servers and that the broker is up");
  }
}

}  // namespace datarefresh::planner
