#include "core/catalog/python_values.h"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace datarefresh::catalog {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(PythonLowercaser, LowersAsciiTextByteForByte) {
  PythonLowercaser lower;
  EXPECT_EQ(lower.lower("BY-NC-SA"), "by-nc-sa");
  EXPECT_EQ(lower.lower("JpEg"), "jpeg");
  EXPECT_EQ(lower.lower(""), "");
  EXPECT_EQ(lower.lower("a-Z_0@[`{"), "a-z_0@[`{");
}

TEST(PythonLowercaser, LowersUnicodeAsPythonsStrLowerDoes) {
  PythonLowercaser lower;
  EXPECT_EQ(lower.lower("JPÉG"), "jpég");
  EXPECT_EQ(lower.lower("BY-\u212A"), "by-k");                // Kelvin sign
  EXPECT_EQ(lower.lower("\u0130STANBUL"), "i\u0307stanbul");  // İ: i + combining dot, no Turkish rule
  EXPECT_EQ(lower.lower("\u0391\u03A3"), "\u03B1\u03C2");     // final sigma at the end of a word
  EXPECT_EQ(lower.lower("\u03A3\u0391"), "\u03C3\u03B1");     // and not at its start
  EXPECT_EQ(lower.lower("\u1E9E"), "\u00DF");                 // capital sharp s
  EXPECT_EQ(lower.lower("\u01C4"), "\u01C6");                 // DŽ digraph
  EXPECT_EQ(lower.lower("ÉTÉ"), "été");
}

TEST(PythonLowercaser, GrowsItsBufferWhenLowerCasingLengthensTheText) {
  PythonLowercaser lower;
  std::string dotted;
  for (int i = 0; i < 500; ++i) dotted += "\u0130";  // 2 bytes each, 3 once lowered
  std::string expected;
  for (int i = 0; i < 500; ++i) expected += "i\u0307";
  EXPECT_EQ(lower.lower(dotted), expected);
  EXPECT_EQ(lower.lower("A"), "a");  // and the next text is not disturbed by the previous one
}

TEST(PythonFloat, ReadsNumbersAsPythonsFloatDoes) {
  EXPECT_EQ(python_float("42"), 42.0);
  EXPECT_EQ(python_float(" 42.5\n"), 42.5);
  EXPECT_EQ(python_float("\t\v\f\r 1e2 "), 100.0);
  EXPECT_EQ(python_float("+.5"), 0.5);
  EXPECT_EQ(python_float("-5."), -5.0);
  EXPECT_EQ(python_float("1E-2"), 0.01);
  EXPECT_EQ(python_float("4_2"), 42.0);
  EXPECT_EQ(python_float("1_000.000_5"), 1000.0005);
  EXPECT_EQ(python_float("1e1_0"), 1e10);
  EXPECT_EQ(python_float("\u00A042\u2003"), 42.0);  // Unicode whitespace
  EXPECT_EQ(python_float("\u0664\u0662"), 42.0);    // Arabic-Indic digits
  EXPECT_EQ(python_float("\uFF14\uFF12.5"), 42.5);  // fullwidth digits
}

TEST(PythonFloat, ReadsInfinityAndNanInAnyCaseWithASign) {
  EXPECT_EQ(python_float("inf"), kInf);
  EXPECT_EQ(python_float(" -Infinity "), -kInf);
  EXPECT_EQ(python_float("+INF"), kInf);
  EXPECT_TRUE(std::isnan(*python_float("nan")));
  EXPECT_TRUE(std::isnan(*python_float("-NaN")));
  EXPECT_EQ(python_float("1e400"), kInf);
  EXPECT_EQ(python_float("-1e400"), -kInf);
  EXPECT_EQ(python_float("1e-400"), 0.0);
  EXPECT_TRUE(std::signbit(*python_float("-1e-400")));
}

TEST(PythonFloat, RefusesWhatPythonRefuses) {
  for (const char* bad : {"", " ", "abc", "1e", "e5", ".", "+", "1__0", "_1", "1_", "1_.5", "1._5", "0x10", "infin",
                          "in_f", "nan1", "1 2", "\0341", "1\x1f", "\u00B2", "1,5", "--1", "\u0131nf"}) {
    EXPECT_FALSE(python_float(bad).has_value()) << '"' << bad << '"';
  }
  EXPECT_FALSE(python_float(std::string("1\0", 2)).has_value());
}

TEST(DecimalNumber, TakesASignedDecimalAndSaturatesBeyondADouble) {
  EXPECT_EQ(decimal_number("0.95"), 0.95);
  EXPECT_EQ(decimal_number("+1e+2"), 100.0);
  EXPECT_EQ(decimal_number("1e309"), kInf);
  EXPECT_EQ(decimal_number("-0.0001e-400"), -0.0);
  EXPECT_EQ(decimal_number("0e99999999999999999999"), 0.0);
  EXPECT_EQ(decimal_number("1e-310"), 1e-310);  // subnormal, not out of range
  EXPECT_EQ(decimal_number("0.000001e315"), kInf);
  EXPECT_FALSE(decimal_number(" 1").has_value());
  EXPECT_FALSE(decimal_number("inf").has_value());
  EXPECT_FALSE(decimal_number("1e").has_value());
}

TEST(JsonNumber, ReadsIntegersOfAnyLengthAndDecimalsAsPostgresWritesThem) {
  EXPECT_EQ(json_number("1" + std::string(400, '0')), kInf);
  EXPECT_EQ(json_number("-1" + std::string(400, '0')), -kInf);
  EXPECT_EQ(json_number("0." + std::string(399, '0') + "1"), 0.0);
  EXPECT_EQ(json_number("123456789012345678901234567890"), 1.2345678901234568e29);
  EXPECT_EQ(json_number("-0.5e-1"), -0.05);
  for (const char* bad : {"+1", "01", "1.", ".5", "1e", "-", "", "1 "}) {
    EXPECT_FALSE(json_number(bad).has_value()) << '"' << bad << '"';
  }
}

}  // namespace
}  // namespace datarefresh::catalog
