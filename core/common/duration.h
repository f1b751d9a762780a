#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace datarefresh {

using Duration = std::chrono::milliseconds;

// Parses durations as written in configuration: an integer or decimal followed by a unit,
// "250ms", "30s", "5m", "2h", "1d", or a sum of them ("1h30m"). Returns nullopt on anything else
// (bare numbers, negative values, unknown units) so the caller can name the key in its error.
std::optional<Duration> parse_duration(std::string_view text);

// The shortest exact spelling of a duration in the same syntax: 90000ms -> "1m30s".
std::string format_duration(Duration d);

}  // namespace datarefresh
