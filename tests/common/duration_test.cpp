#include "core/common/duration.h"

#include <gtest/gtest.h>

namespace datarefresh {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("5m"), minutes(5));
  EXPECT_EQ(parse_duration("2h"), hours(2));
  EXPECT_EQ(parse_duration("1d"), hours(24));
}

TEST(ParseDuration, AcceptsSumsAndDecimals) {
  EXPECT_EQ(parse_duration("1h30m"), minutes(90));
  EXPECT_EQ(parse_duration("1.5s"), milliseconds(1500));
}

TEST(ParseDuration, RejectsBareNumbersUnknownUnitsAndJunk) {
  EXPECT_FALSE(parse_duration("30"));
  EXPECT_FALSE(parse_duration("30x"));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("-5s"));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("5 s"));
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (auto d : {milliseconds(0), milliseconds(1), milliseconds(90'000), milliseconds(86'400'000 + 1500)}) {
    EXPECT_EQ(parse_duration(format_duration(d)), d) << format_duration(d);
  }
  EXPECT_EQ(format_duration(milliseconds(90'000)), "1m30s");
}

}  // namespace
}  // namespace datarefresh
