#include "core/catalog/python_values.h"

#include <charconv>
#include <cmath>
#include <limits>

#include <unicode/ucasemap.h>
#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "core/common/error.h"

namespace datarefresh::catalog {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Python's Py_ISSPACE: the bytes float() trims (0x1c-0x1f are not among them).
bool is_python_ascii_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// Python's str.isspace() beyond ASCII: bidirectional class WS, B or S, or category Zs.
bool is_python_unicode_space(UChar32 c) {
  const auto direction = u_charDirection(c);
  return direction == U_WHITE_SPACE_NEUTRAL || direction == U_BLOCK_SEPARATOR || direction == U_SEGMENT_SEPARATOR ||
         u_charType(c) == U_SPACE_SEPARATOR;
}

// The decimal exponent of the first significant digit of a decimal_number() text that is not
// zero (saturated far beyond any double's range): >= 0 means too large for a double, < 0 too small.
long long leading_exponent(std::string_view s) {
  std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  std::size_t int_digits = 0;
  while (i + int_digits < s.size() && is_digit(s[i + int_digits])) ++int_digits;
  long long first = std::numeric_limits<long long>::min();
  for (std::size_t k = 0; k < int_digits; ++k) {
    if (s[i + k] != '0') {
      first = static_cast<long long>(int_digits - k) - 1;
      break;
    }
  }
  i += int_digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    for (long long position = -1; i < s.size() && is_digit(s[i]); ++i, --position) {
      if (first == std::numeric_limits<long long>::min() && s[i] != '0') first = position;
    }
  }
  if (first == std::numeric_limits<long long>::min()) return -1;  // zero: never out of range
  long long exponent = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative = i < s.size() && s[i] == '-';
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    for (; i < s.size(); ++i) exponent = std::min(exponent * 10 + (s[i] - '0'), 1'000'000'000'000LL);
    if (negative) exponent = -exponent;
  }
  return first + exponent;
}

}  // namespace

PythonLowercaser::PythonLowercaser() {
  UErrorCode status = U_ZERO_ERROR;
  // "": the root locale, whose mappings are the language-independent ones Python applies.
  map_ = ucasemap_open("", U_FOLD_CASE_DEFAULT, &status);
  if (U_FAILURE(status)) {
    throw InvariantError(std::string("ICU could not open the root locale's case map (") + u_errorName(status) +
                         "): check that ICU's data library (libicu) is installed");
  }
}

PythonLowercaser::~PythonLowercaser() {
  ucasemap_close(map_);
}

std::string_view PythonLowercaser::lower(std::string_view text) {
  out_.resize(text.size());
  unsigned char seen = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    seen |= c;
    out_[i] = static_cast<char>(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
  }
  if ((seen & 0x80) == 0) return out_;
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max() / 3)) {
    throw InvariantError("text of " + std::to_string(text.size()) + " bytes is too long to lower-case with ICU");
  }
  const auto length = static_cast<std::int32_t>(text.size());
  // Lower-casing can grow UTF-8 text (İ, two bytes, becomes i + U+0307, three); retried once with
  // the size ICU reports when it does not fit.
  out_.resize(text.size() + text.size() / 2 + 4);
  for (int attempt = 0; attempt < 2; ++attempt) {
    UErrorCode status = U_ZERO_ERROR;
    const std::int32_t n =
        ucasemap_utf8ToLower(map_, out_.data(), static_cast<std::int32_t>(out_.size()), text.data(), length, &status);
    if (status == U_BUFFER_OVERFLOW_ERROR && attempt == 0) {
      out_.resize(static_cast<std::size_t>(n));
      continue;
    }
    if (U_FAILURE(status)) {
      throw InvariantError(std::string("ICU could not lower-case a text of ") + std::to_string(text.size()) +
                           " bytes: " + u_errorName(status));
    }
    out_.resize(static_cast<std::size_t>(n));
    break;
  }
  return out_;
}

std::optional<double> decimal_number(std::string_view s) {
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) ++i;
  const std::size_t start = i;
  std::size_t digits = 0;
  for (; i < s.size() && is_digit(s[i]); ++i) ++digits;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && is_digit(s[i]); ++i) ++digits;
  }
  if (digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t exponent_start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == exponent_start) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  // from_chars takes no '+' (and the sign of a result out of range is ours to give anyway).
  const char* first = s.data() + start;
  const char* last = s.data() + s.size();
  double v = 0;
  auto [end, ec] = std::from_chars(first, last, v, std::chars_format::general);
  if (end != last) return std::nullopt;
  if (ec == std::errc::result_out_of_range) {
    v = leading_exponent(s) >= 0 ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (ec != std::errc()) {
    return std::nullopt;
  }
  return negative ? -v : v;
}

std::optional<double> json_number(std::string_view s) {
  // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; decimal_number() takes the rest.
  std::size_t i = !s.empty() && s[0] == '-' ? 1 : 0;
  if (i >= s.size() || !is_digit(s[i])) return std::nullopt;
  if (s[i] == '0' && i + 1 < s.size() && is_digit(s[i + 1])) return std::nullopt;
  while (i < s.size() && is_digit(s[i])) ++i;
  if (i < s.size() && s[i] == '.' && (i + 1 >= s.size() || !is_digit(s[i + 1]))) return std::nullopt;
  return decimal_number(s);
}

std::optional<double> python_float(std::string_view text) {
  // As CPython's float(str): non-ASCII whitespace becomes a space and Unicode decimal digits their
  // ASCII digit (any other non-ASCII character fails); underscores are dropped where each sits
  // between two digits (anywhere else it fails); ASCII whitespace is trimmed; then a sign and
  // inf/infinity/nan in any case, or a decimal.
  std::string s;
  s.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      s += static_cast<char>(byte);
      ++i;
      continue;
    }
    UChar32 c = 0;
    U8_NEXT(text.data(), i, text.size(), c);
    if (c < 0) return std::nullopt;
    if (is_python_unicode_space(c)) {
      s += ' ';
    } else if (u_charType(c) == U_DECIMAL_DIGIT_NUMBER) {
      s += static_cast<char>('0' + u_charDigitValue(c));
    } else {
      return std::nullopt;
    }
  }
  if (s.find('\0') != std::string::npos) return std::nullopt;
  if (s.find('_') != std::string::npos) {
    std::string kept;
    char prev = '\0';
    for (char c : s) {
      if (c == '_' ? !is_digit(prev) : (prev == '_' && !is_digit(c))) return std::nullopt;
      if (c != '_') kept += c;
      prev = c;
    }
    if (prev == '_') return std::nullopt;
    s = std::move(kept);
  }
  std::string_view v(s);
  while (!v.empty() && is_python_ascii_space(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_python_ascii_space(v.back())) v.remove_suffix(1);
  std::string_view word = v;
  const bool negative = !word.empty() && word[0] == '-';
  if (!word.empty() && (word[0] == '+' || word[0] == '-')) word.remove_prefix(1);
  auto equals_ignoring_case = [](std::string_view a, std::string_view lower) {
    if (a.size() != lower.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      char c = a[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + ('a' - 'A'));
      if (c != lower[i]) return false;
    }
    return true;
  };
  if (equals_ignoring_case(word, "inf") || equals_ignoring_case(word, "infinity")) {
    return negative ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }
  if (equals_ignoring_case(word, "nan")) return std::numeric_limits<double>::quiet_NaN();
  return decimal_number(v);
}

}  // namespace datarefresh::catalog
