#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/config/config.h"
#include "core/kafka/producer.h"
#include "core/messages/messages.h"

namespace datarefresh::planner {

// The modes a refresh can be requested in (messages::RefreshOptions::mode), as the HTTP API and
// errors list them.
inline constexpr std::string_view kRefreshModes =
    "\"full\", \"incremental\", \"auto\", \"filtered_only\" or \"sample\"";
bool is_refresh_mode(std::string_view mode);

// A refresh request for `media_type`, stamped now. Its request id is also the refresh id, so
// whoever asked can follow the refresh under that id at once. `mode` is one of is_refresh_mode().
messages::RefreshRequested make_refresh_request(const std::string& media_type, std::optional<std::int64_t> row_limit,
                                                const std::string& requested_by, const std::string& request_id,
                                                const std::string& mode = "full");

// The size of a staging sample (mode "sample"): a percentage of the live main index or a number of
// documents, one of them.
struct SampleSize {
  std::optional<double> percent;     // above 0, at most 100
  std::optional<std::int64_t> rows;  // at least 1
};
// Reads `--sample`: "10%" (or "2.5%") is a percentage, "5000" a number of documents. Anything else
// (empty, 0, a negative, above 100%, a fraction of a document, trailing text) sets `error` to what
// is wrong and what to write instead, and returns nothing.
std::optional<SampleSize> parse_sample_size(std::string_view text, std::string& error);

// Produces `request` on the requests topic (key: media type) and waits for the broker's
// acknowledgement. Throws Error naming the broker and what to check when it is not acknowledged.
void submit_refresh_request(kafka::Producer& producer, const config::Config& config,
                            const messages::RefreshRequested& request);

}  // namespace datarefresh::planner
