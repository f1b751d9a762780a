#include "producer/refresh_request.h"

#include <algorithm>
#include <cstdlib>

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

std::optional<SampleSize> parse_sample_size(std::string_view text, std::string& error) {
  const std::string hint =
      "write a percentage of the live index such as 10% (above 0, at most 100) or a number of "
      "documents such as 5000";
  std::string t(text);
  const bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  const bool digits_only = !t.empty() && t.find_first_not_of("0123456789") == std::string::npos;
  const bool decimal = !t.empty() && t.find_first_not_of("0123456789.") == std::string::npos &&
                       std::count(t.begin(), t.end(), '.') <= 1 && t != "." && t.front() != '.' && t.back() != '.';
  SampleSize out;
  if (percent && decimal) {
    double v = std::strtod(t.c_str(), nullptr);
    if (v > 0 && v <= 100) {
      out.percent = v;
      return out;
    }
    error = "--sample " + std::string(text) + " is not a percentage above 0 and at most 100: " + hint;
    return std::nullopt;
  }
  if (!percent && digits_only && t.size() <= 18) {
    auto v = std::stoll(t);
    if (v >= 1) {
      out.rows = v;
      return out;
    }
    error = "--sample " + std::string(text) + " asks for no document: " + hint;
    return std::nullopt;
  }
  error = "--sample '" + std::string(text) + "' is neither a percentage nor a number of documents: " + hint;
  return std::nullopt;
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
