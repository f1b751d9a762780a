#pragma once

#include <optional>
#include <string>
#include <string_view>

struct UCaseMap;

namespace datarefresh::catalog {

// The catalog's document transform is Python; these give its values as Python computes them,
// where C++'s own functions differ (docs/documents.md).

// Lower-cases UTF-8 text as Python's str.lower() does: full Unicode case mapping of the root
// locale (no Turkish dotless i; "İ" becomes "i̇", the Kelvin sign "k", a final sigma "ς"), by
// ICU. Text of ASCII bytes only - nearly every license and url extension - is lowered without
// ICU. Owns an ICU case map and a scratch buffer: one per thread (DocumentEncoder holds one).
class PythonLowercaser {
 public:
  PythonLowercaser();  // throws InvariantError if ICU cannot open its root case map
  ~PythonLowercaser();
  PythonLowercaser(const PythonLowercaser&) = delete;
  PythonLowercaser& operator=(const PythonLowercaser&) = delete;

  // The lower-cased text; valid until the next call.
  std::string_view lower(std::string_view text);

 private:
  UCaseMap* map_ = nullptr;
  std::string out_;
};

// Python's float(str): ASCII whitespace (and any Unicode whitespace) around it trimmed, single
// underscores between digits, Unicode decimal digits, a sign, "inf"/"infinity"/"nan" in any
// case; magnitudes beyond a double become ±infinity (or ±0), as in Python. nullopt where Python
// raises ValueError.
std::optional<double> python_float(std::string_view text);

// A decimal as both Python's float() and Java's Double.parseDouble read one, nothing around it:
// an optional sign, digits with an optional point (at least one digit), an optional exponent.
// Magnitudes beyond a double's range give ±infinity (too large) or ±0 (too small), as both do.
// nullopt for any other text.
std::optional<double> decimal_number(std::string_view text);

// A number in JSON's grammar as a double, beyond a double's range as decimal_number() gives it.
// PostgreSQL writes a jsonb 1e400 as an integer of 401 digits: Python's json reads that as an
// int, which its float() refuses (OverflowError); we take it as infinity (docs/documents.md).
// nullopt if `text` is not a JSON number.
std::optional<double> json_number(std::string_view text);

}  // namespace datarefresh::catalog
