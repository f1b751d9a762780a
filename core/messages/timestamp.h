#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace datarefresh::messages {

// Instants in messages: millisecond precision, UTC, written as RFC 3339 ("2024-05-06T07:08:09.123Z").
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

std::string format_timestamp(Timestamp t);
// Accepts RFC 3339 date-times with a 'Z' or a numeric offset and 0-9 fraction digits (truncated to
// milliseconds); nullopt for anything else.
std::optional<Timestamp> parse_timestamp(std::string_view text);
Timestamp now_timestamp();

}  // namespace datarefresh::messages
