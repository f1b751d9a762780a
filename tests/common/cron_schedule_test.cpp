#include "core/common/cron_schedule.h"

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh {
namespace {

using namespace std::chrono;
using TP = CronSchedule::TimePoint;

TP at(int y, unsigned mo, unsigned d, int h, int mi) {
  return TP{sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi)};
}

std::optional<TP> next(std::string_view cron, TP after) { return CronSchedule::parse(cron).next_after(after); }

TEST(CronSchedule, FindsTheNextMinuteStrictlyAfter) {
  EXPECT_EQ(next("0 3 * * *", at(2026, 11, 30, 2, 59)), at(2026, 11, 30, 3, 0));
  EXPECT_EQ(next("0 3 * * *", at(2026, 11, 30, 3, 0)), at(2026, 12, 1, 3, 0));
  EXPECT_EQ(next("*/15 * * * *", at(2026, 11, 30, 10, 7)), at(2026, 11, 30, 10, 15));
  EXPECT_EQ(next("* * * * *", at(2026, 11, 30, 23, 59)), at(2026, 12, 1, 0, 0));
}

TEST(CronSchedule, CrossesMonthAndYearEnds) {
  EXPECT_EQ(next("30 1 1 * *", at(2026, 12, 15, 0, 0)), at(2027, 1, 1, 1, 30));
  EXPECT_EQ(next("0 0 29 2 *", at(2026, 3, 1, 0, 0)), at(2028, 2, 29, 0, 0));
  EXPECT_EQ(next("@yearly", at(2026, 6, 1, 0, 0)), at(2027, 1, 1, 0, 0));
}

TEST(CronSchedule, UnderstandsNamesRangesStepsAndLists) {
  // Mondays and Fridays at 08:00 and 18:30; 30 Nov 2026 is a Monday.
  auto s = CronSchedule::parse("0,30 8-18/10 * * Mon,fri");
  EXPECT_EQ(s.next_after(at(2026, 11, 30, 8, 0)), at(2026, 11, 30, 8, 30));
  EXPECT_EQ(s.next_after(at(2026, 11, 30, 8, 30)), at(2026, 11, 30, 18, 0));
  EXPECT_EQ(s.next_after(at(2026, 11, 30, 18, 30)), at(2026, 12, 4, 8, 0));
  EXPECT_EQ(next("0 0 1 jan-mar/2 *", at(2026, 2, 1, 0, 0)), at(2026, 3, 1, 0, 0));
}

TEST(CronSchedule, SundayIsZeroOrSeven) {
  // 6 Dec 2026 is a Sunday.
  EXPECT_EQ(next("0 12 * * 7", at(2026, 11, 30, 0, 0)), at(2026, 12, 6, 12, 0));
  EXPECT_EQ(next("0 12 * * 0", at(2026, 11, 30, 0, 0)), at(2026, 12, 6, 12, 0));
  EXPECT_EQ(next("@weekly", at(2026, 11, 30, 0, 0)), at(2026, 12, 6, 0, 0));
}

TEST(CronSchedule, EitherDayFieldMatchesWhenBothAreRestricted) {
  // The 1st of the month or any Friday: 4 Dec 2026 is a Friday, before 1 Jan.
  auto s = CronSchedule::parse("0 0 1 * fri");
  EXPECT_EQ(s.next_after(at(2026, 12, 1, 0, 0)), at(2026, 12, 4, 0, 0));
  EXPECT_TRUE(s.matches(at(2027, 1, 1, 0, 0)));
  // Only day-of-month restricted: weekdays do not widen it.
  EXPECT_EQ(next("0 0 13 * *", at(2026, 11, 30, 0, 0)), at(2026, 12, 13, 0, 0));
}

TEST(CronSchedule, ReportsADateThatNeverComes) {
  EXPECT_EQ(next("0 0 30 2 *", at(2026, 1, 1, 0, 0)), std::nullopt);
}

TEST(CronSchedule, FindsTheLastSlotWithinAHorizon) {
  auto s = CronSchedule::parse("0 3 * * *");
  EXPECT_EQ(s.last_at_or_before(at(2026, 11, 30, 3, 40), minutes(60)), at(2026, 11, 30, 3, 0));
  EXPECT_EQ(s.last_at_or_before(at(2026, 11, 30, 3, 0), minutes(0)), at(2026, 11, 30, 3, 0));
  EXPECT_EQ(s.last_at_or_before(at(2026, 11, 30, 4, 1), minutes(60)), std::nullopt);
}

TEST(CronSchedule, NamesTheFieldAndTheProblem) {
  auto problem = [](std::string_view t) { return CronSchedule::problem(t).value_or("(valid)"); };
  EXPECT_EQ(problem("61 * * * *"), "minute field '61': 61 is out of range 0-59");
  EXPECT_EQ(problem("0 24 * * *"), "hour field '24': 24 is out of range 0-23");
  EXPECT_EQ(problem("0 0 0 * *"), "day-of-month field '0': 0 is out of range 1-31");
  EXPECT_EQ(problem("0 0 * foo *"), "month field 'foo': 'foo' is not a number or a name");
  EXPECT_EQ(problem("0 0 * * 1-"), "day-of-week field '1-': '' is not a number or a name");
  EXPECT_EQ(problem("*/0 * * * *"), "minute field '*/0': a step of 0");
  EXPECT_EQ(problem("0 5-2 * * *"), "hour field '5-2': range 5-2 goes backwards");
  EXPECT_NE(problem("0 3 * *").find("has 4 fields; a cron schedule has 5"), std::string::npos);
  EXPECT_NE(problem("@often").find("not a cron macro"), std::string::npos);
  EXPECT_THROW(CronSchedule::parse("1,,2 * * * *"), ConfigError);
  EXPECT_EQ(problem("@daily"), "(valid)");
  EXPECT_EQ(problem(" 0  3 * * 1-5 "), "(valid)");
}

}  // namespace
}  // namespace datarefresh
