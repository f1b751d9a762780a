#include "devstack/devsearch/java_number.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <string>

namespace datarefresh::devsearch {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Consumes [+-]?digits+ (an exponent) from `s` at `i`; false if there is no digit.
bool skip_exponent_digits(std::string_view s, std::size_t& i) {
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  const std::size_t start = i;
  while (i < s.size() && is_digit(s[i])) ++i;
  return i > start;
}

// The number a Java floating-point literal string holds, split up for from_chars.
struct JavaFloatText {
  enum class Kind { kNaN, kInfinity, kDecimal, kHex };
  Kind kind = Kind::kDecimal;
  bool negative = false;
  std::string_view body;  // decimal or hexadecimal digits, without sign, 0x prefix and suffix
};

std::optional<JavaFloatText> scan(std::string_view s) {
  // String.trim(): every character up to U+0020 at either end.
  while (!s.empty() && static_cast<unsigned char>(s.front()) <= 0x20) s.remove_prefix(1);
  while (!s.empty() && static_cast<unsigned char>(s.back()) <= 0x20) s.remove_suffix(1);
  JavaFloatText t;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    t.negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "NaN") {
    t.kind = JavaFloatText::Kind::kNaN;
    return t;
  }
  if (s == "Infinity") {
    t.kind = JavaFloatText::Kind::kInfinity;
    return t;
  }
  const bool hex = s.size() >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  if (hex) s.remove_prefix(2);
  if (!s.empty() && (s.back() == 'f' || s.back() == 'F' || s.back() == 'd' || s.back() == 'D') &&
      (hex || s.size() > 1)) {
    // One type suffix; in hex it can only follow the (decimal) binary exponent, which is required.
    if (!hex || (s.size() >= 2 && is_digit(s[s.size() - 2]))) s.remove_suffix(1);
  }
  auto digit = hex ? is_hex_digit : is_digit;
  std::size_t i = 0, digits = 0;
  for (; i < s.size() && digit(s[i]); ++i) ++digits;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && digit(s[i]); ++i) ++digits;
  }
  if (digits == 0) return std::nullopt;
  const char exponent_mark = hex ? 'p' : 'e';
  if (i < s.size() && (s[i] == exponent_mark || s[i] == exponent_mark - ('a' - 'A'))) {
    ++i;
    if (!skip_exponent_digits(s, i)) return std::nullopt;
  } else if (hex) {
    return std::nullopt;  // a hexadecimal float needs its binary exponent
  }
  if (i != s.size()) return std::nullopt;
  t.kind = hex ? JavaFloatText::Kind::kHex : JavaFloatText::Kind::kDecimal;
  t.body = s;
  return t;
}

// Whether a number from_chars found out of range is too large (else too small): the exponent of
// its first significant digit, in the text's radix, is not negative.
bool too_large(std::string_view body, bool hex) {
  const int radix_log = hex ? 4 : 1;  // a hex digit is worth 4 binary exponents; decimals compare alike
  auto digit = hex ? is_hex_digit : is_digit;
  long long first = std::numeric_limits<long long>::min();
  std::size_t int_digits = 0;
  while (int_digits < body.size() && digit(body[int_digits])) ++int_digits;
  for (std::size_t k = 0; k < int_digits && first == std::numeric_limits<long long>::min(); ++k) {
    if (body[k] != '0') first = static_cast<long long>(int_digits - k - 1) * radix_log;
  }
  std::size_t i = int_digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    for (long long position = -1; i < body.size() && digit(body[i]); ++i, --position) {
      if (first == std::numeric_limits<long long>::min() && body[i] != '0') first = position * radix_log;
    }
  }
  if (first == std::numeric_limits<long long>::min()) return false;
  long long exponent = 0;
  if (i < body.size()) {
    ++i;
    const bool negative = i < body.size() && body[i] == '-';
    if (i < body.size() && (body[i] == '+' || body[i] == '-')) ++i;
    for (; i < body.size(); ++i) exponent = std::min(exponent * 10 + (body[i] - '0'), 1'000'000'000'000LL);
    if (negative) exponent = -exponent;
  }
  return first + exponent >= 0;
}

template <class T>
std::optional<T> parse_java_float(std::string_view text) {
  auto t = scan(text);
  if (!t) return std::nullopt;
  T v = 0;
  switch (t->kind) {
    case JavaFloatText::Kind::kNaN:
      return std::numeric_limits<T>::quiet_NaN();
    case JavaFloatText::Kind::kInfinity:
      v = std::numeric_limits<T>::infinity();
      break;
    case JavaFloatText::Kind::kDecimal:
    case JavaFloatText::Kind::kHex: {
      const bool hex = t->kind == JavaFloatText::Kind::kHex;
      const char* first = t->body.data();
      const char* last = first + t->body.size();
      auto [end, ec] = std::from_chars(first, last, v, hex ? std::chars_format::hex : std::chars_format::general);
      if (end != last) return std::nullopt;
      if (ec == std::errc::result_out_of_range) {
        v = too_large(t->body, hex) ? std::numeric_limits<T>::infinity() : T(0);
      } else if (ec != std::errc()) {
        return std::nullopt;
      }
      break;
    }
  }
  return t->negative ? -v : v;
}

}  // namespace

std::optional<double> java_parse_double(std::string_view text) {
  return parse_java_float<double>(text);
}

std::optional<float> java_parse_float(std::string_view text) {
  return parse_java_float<float>(text);
}

JavaLong elasticsearch_string_to_long(std::string_view s) {
  using Problem = JavaLong::Problem;
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) ++i;
  // Long.parseLong: a sign and digits only, within range.
  const std::string_view unsigned_part = s.substr(i);
  if (!unsigned_part.empty() && std::all_of(unsigned_part.begin(), unsigned_part.end(), is_digit)) {
    std::int64_t v = 0;
    const char* first = negative ? s.data() : unsigned_part.data();
    if (auto [end, ec] = std::from_chars(first, s.data() + s.size(), v); ec == std::errc()) return {v, Problem::kNone};
  }
  // new BigDecimal(s): [sign] (digits [. digits] | . digits) [e [sign] digits], exponent an int.
  std::string digits;
  std::size_t fraction_digits = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) digits += s[i];
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && is_digit(s[i]); ++i, ++fraction_digits) digits += s[i];
  }
  if (digits.empty()) return {0, Problem::kNotANumber};
  long long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    const bool exponent_negative = i < s.size() && s[i] == '-';
    const std::size_t start = i + ((i < s.size() && (s[i] == '+' || s[i] == '-')) ? 1 : 0);
    i = start;
    while (i < s.size() && is_digit(s[i])) {
      exponent = exponent * 10 + (s[i++] - '0');
      if (exponent > std::numeric_limits<std::int32_t>::max()) return {0, Problem::kNotANumber};
    }
    if (i == start) return {0, Problem::kNotANumber};
    if (exponent_negative) exponent = -exponent;
  }
  if (i != s.size()) return {0, Problem::kNotANumber};
  // toLong (7.10): the BigDecimal cut toward zero must fit a long. Beyond 19 digits of scale either
  // way it is 0 or, unless all its digits are zero, too large; no need to build it.
  const long long scale = static_cast<long long>(fraction_digits) - exponent;
  const bool zero = digits.find_first_not_of('0') == std::string::npos;
  if (scale < -19) return {0, zero ? Problem::kNone : Problem::kOutOfRange};
  if (scale > 19) return {0, Problem::kNone};
  std::string integer = scale <= 0 ? digits + std::string(static_cast<std::size_t>(-scale), '0')
                                   : digits.substr(0, digits.size() > static_cast<std::size_t>(scale)
                                                          ? digits.size() - static_cast<std::size_t>(scale)
                                                          : 0);
  integer.erase(0, std::min(integer.find_first_not_of('0'), integer.size()));
  if (integer.empty()) return {0, Problem::kNone};
  const std::string_view limit = negative ? "9223372036854775808" : "9223372036854775807";
  if (integer.size() > limit.size() || (integer.size() == limit.size() && integer > limit)) {
    return {0, Problem::kOutOfRange};
  }
  std::uint64_t magnitude = 0;
  std::from_chars(integer.data(), integer.data() + integer.size(), magnitude);
  const auto value = negative ? static_cast<std::int64_t>(0 - magnitude) : static_cast<std::int64_t>(magnitude);
  return {value, Problem::kNone};
}

}  // namespace datarefresh::devsearch
