#pragma once

#include <bitset>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace datarefresh {

// A cron schedule in the classic five-field syntax (minute hour day-of-month month day-of-week),
// evaluated in UTC: `*`, lists `1,15`, ranges `1-5`, steps `*/10` and `8-18/2`, month and day
// names (`jan`, `mon`), 0 or 7 for Sunday, and the macros @hourly, @daily (@midnight), @weekly,
// @monthly, @yearly (@annually). As in Vixie cron, when both day-of-month and day-of-week are
// restricted a day matches if either does. A value, parsed once; thread-safe to share.
class CronSchedule {
 public:
  using TimePoint = std::chrono::sys_time<std::chrono::minutes>;

  // Throws ConfigError naming the field and what is wrong, e.g.
  // "minute field '61': 61 is out of range 0-59".
  static CronSchedule parse(std::string_view text);
  // The problem parse() would report, or nullopt when the text is valid.
  static std::optional<std::string> problem(std::string_view text);

  // The first matching minute strictly after `after`; nullopt if none within the next 5 years
  // (e.g. "0 0 30 2 *": February never has a 30th).
  std::optional<TimePoint> next_after(TimePoint after) const;
  // The last matching minute at or before `at`, searching back at most `horizon`.
  std::optional<TimePoint> last_at_or_before(TimePoint at, std::chrono::minutes horizon) const;
  bool matches(TimePoint t) const;

  const std::string& text() const { return text_; }

 private:
  bool day_matches(std::chrono::sys_days day) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;    // 1-31
  std::bitset<13> months_;  // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_restricted_ = false;
  bool weekdays_restricted_ = false;
};

}  // namespace datarefresh
