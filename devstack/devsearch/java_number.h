#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace datarefresh::devsearch {

// Numbers given as strings to numeric fields, read as Elasticsearch reads them (its
// AbstractXContentParser): Java's own parsers, with their whitespace rules and grammar.

// Java's Double.parseDouble: characters up to U+0020 trimmed at both ends (String.trim()); a
// sign; "NaN" or "Infinity" (that case only); a decimal with an optional exponent and one
// optional type suffix (f, F, d, D); or a hexadecimal float (0x1.8p1). Magnitudes beyond a double
// give ±Infinity or ±0. nullopt where Java throws NumberFormatException.
std::optional<double> java_parse_double(std::string_view text);

// Java's Float.parseFloat: the same grammar, the decimal rounded to a float directly.
std::optional<float> java_parse_float(std::string_view text);

// Elasticsearch's (7.10) string -> long, coercing: Long.parseLong, or else a BigDecimal (no
// whitespace trimmed; no NaN, Infinity or suffix) cut toward zero, refused when beyond a long.
struct JavaLong {
  enum class Problem { kNone, kNotANumber, kOutOfRange };
  std::int64_t value = 0;
  Problem problem = Problem::kNone;
};
JavaLong elasticsearch_string_to_long(std::string_view text);

}  // namespace datarefresh::devsearch
