// Numbers given as strings, read as Elasticsearch's Java parsers read them.
#include "devstack/devsearch/java_number.h"

#include <cmath>
#include <limits>
#include <string>

#include <gtest/gtest.h>

namespace datarefresh::devsearch {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(JavaParseDouble, TrimsEveryCharacterUpToASpaceAtBothEnds) {
  EXPECT_EQ(java_parse_double("0.95\n"), 0.95);
  EXPECT_EQ(java_parse_double(" \t\r\n\v\f0.95 "), 0.95);
  EXPECT_EQ(java_parse_double(std::string("\x01\x1f"
                                          "0.95\x1c\x00",
                                          8)),
            0.95);                                            // String.trim(): all <= U+0020
  EXPECT_FALSE(java_parse_double("\u00A00.95").has_value());  // no-break space is not trimmed
  EXPECT_FALSE(java_parse_double("0.95\u2003").has_value());
  EXPECT_FALSE(java_parse_double(" ").has_value());
  EXPECT_FALSE(java_parse_double("").has_value());
}

TEST(JavaParseDouble, ReadsJavasFloatingPointLiterals) {
  EXPECT_EQ(java_parse_double("+.5"), 0.5);
  EXPECT_EQ(java_parse_double("-5."), -5.0);
  EXPECT_EQ(java_parse_double("1E-2"), 0.01);
  EXPECT_EQ(java_parse_double("0.95f"), 0.95);
  EXPECT_EQ(java_parse_double("2D"), 2.0);
  EXPECT_EQ(java_parse_double("0x1.8p1"), 3.0);
  EXPECT_EQ(java_parse_double("-0X10P-4d"), -1.0);
  EXPECT_EQ(java_parse_double("Infinity"), kInf);
  EXPECT_EQ(java_parse_double("-Infinity"), -kInf);
  EXPECT_TRUE(std::isnan(*java_parse_double("NaN")));
  EXPECT_EQ(java_parse_double("1e400"), kInf);
  EXPECT_EQ(java_parse_double("-1e400"), -kInf);
  EXPECT_EQ(java_parse_double("1e-400"), 0.0);
  EXPECT_EQ(java_parse_double("0x1p2000"), kInf);
  for (const char* bad : {"inf", "infinity", "nan", "NAN", "1_0", "0x10", "0x1.8", "1e", "e1", ".", "f", "1ff", "1 2",
                          "++1", "0x", "1e5x", "١"}) {
    EXPECT_FALSE(java_parse_double(bad).has_value()) << '"' << bad << '"';
  }
}

TEST(JavaParseFloat, RoundsTheDecimalToAFloatAndOverflowsToInfinity) {
  EXPECT_EQ(java_parse_float("0.95\n"), 0.95F);
  EXPECT_EQ(java_parse_float("3.4028235e38"), std::numeric_limits<float>::max());
  EXPECT_EQ(java_parse_float("3.5e38"), std::numeric_limits<float>::infinity());
  EXPECT_EQ(java_parse_float("-1e39"), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(java_parse_float("1e-50"), 0.0F);
  EXPECT_FALSE(java_parse_float("abc").has_value());
}

TEST(ElasticsearchStringToLong, ParsesLongsThenBigDecimalsCutTowardZero) {
  auto value = [](const char* s) {
    auto l = elasticsearch_string_to_long(s);
    EXPECT_EQ(l.problem, JavaLong::Problem::kNone) << s;
    return l.value;
  };
  EXPECT_EQ(value("42"), 42);
  EXPECT_EQ(value("+42"), 42);
  EXPECT_EQ(value("-9223372036854775808"), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(value("9223372036854775807"), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(value("42.9"), 42);
  EXPECT_EQ(value("-42.9"), -42);
  EXPECT_EQ(value("4.2e1"), 42);
  EXPECT_EQ(value("1e18"), 1000000000000000000);
  EXPECT_EQ(value(".5"), 0);
  EXPECT_EQ(value("1e-25"), 0);
  EXPECT_EQ(value("0e20"), 0);
  EXPECT_EQ(value("9223372036854775807.9"), std::numeric_limits<std::int64_t>::max());
}

TEST(ElasticsearchStringToLong, RefusesWhitespaceAndJavaFloatFormsAndValuesBeyondALong) {
  for (const char* bad : {"42\n", " 42", "Infinity", "NaN", "42f", "0x10", "", "-", "1e", "abc", "1_0"}) {
    EXPECT_EQ(elasticsearch_string_to_long(bad).problem, JavaLong::Problem::kNotANumber) << '"' << bad << '"';
  }
  for (const char* big : {"9223372036854775808", "-9223372036854775809", "1e19", "1e20", "1e400", "1e999999999"}) {
    EXPECT_EQ(elasticsearch_string_to_long(big).problem, JavaLong::Problem::kOutOfRange) << big;
  }
}

}  // namespace
}  // namespace datarefresh::devsearch
