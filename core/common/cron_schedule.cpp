#include "core/common/cron_schedule.h"

#include <array>
#include <cctype>
#include <vector>

#include <fmt/format.h>

#include "core/common/error.h"

namespace datarefresh {
namespace {

using namespace std::chrono;

struct Field {
  const char* name;
  int min;
  int max;
  std::vector<std::string_view> names;  // names[i] stands for min + i (months: jan = 1)
};

const std::array<Field, 5> kFields = {{
    {"minute", 0, 59, {}},
    {"hour", 0, 23, {}},
    {"day-of-month", 1, 31, {}},
    {"month", 1, 12, {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
    {"day-of-week", 0, 7, {"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}};

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

[[noreturn]] void fail(const Field& f, std::string_view text, const std::string& why) {
  throw ConfigError(fmt::format("{} field '{}': {}", f.name, text, why));
}

int value_of(const Field& f, std::string_view whole, std::string_view token) {
  std::string t = lower(token);
  for (std::size_t i = 0; i < f.names.size(); ++i) {
    if (t == f.names[i]) return f.min + static_cast<int>(i);
  }
  if (t.empty() || t.find_first_not_of("0123456789") != std::string::npos || t.size() > 4) {
    fail(f, whole, fmt::format("'{}' is not a number{}", token, f.names.empty() ? "" : " or a name"));
  }
  int v = std::stoi(t);
  if (v < f.min || v > f.max) fail(f, whole, fmt::format("{} is out of range {}-{}", v, f.min, f.max));
  return v;
}

// Returns the set bits and whether the field was restricted (anything but a bare '*').
template <std::size_t N>
bool parse_field(const Field& f, std::string_view text, std::bitset<N>& bits) {
  if (text.empty()) fail(f, text, "empty");
  for (auto part : split(text, ',')) {
    if (part.empty()) fail(f, text, "an empty list item");
    int step = 1;
    auto slash = split(part, '/');
    if (slash.size() > 2) fail(f, text, "more than one '/'");
    if (slash.size() == 2) {
      std::string s(slash[1]);
      if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 3) {
        fail(f, text, fmt::format("step '{}' is not a positive number", slash[1]));
      }
      step = std::stoi(s);
      if (step < 1) fail(f, text, "a step of 0");
    }
    int lo = f.min, hi = f.max;
    if (slash[0] != "*") {
      auto dash = split(slash[0], '-');
      if (dash.size() > 2) fail(f, text, "more than one '-'");
      lo = value_of(f, text, dash[0]);
      hi = dash.size() == 2 ? value_of(f, text, dash[1]) : (slash.size() == 2 ? f.max : lo);
      if (hi < lo) fail(f, text, fmt::format("range {}-{} goes backwards", lo, hi));
    } else if (f.max == 7) {
      hi = 6;  // '*' in day-of-week: 0-6 (7 is Sunday again)
    }
    for (int v = lo; v <= hi; v += step) bits.set(static_cast<std::size_t>(f.max == 7 && v == 7 ? 0 : v));
  }
  return text != "*";
}

std::string_view expand_macro(std::string_view text) {
  if (text == "@yearly" || text == "@annually") return "0 0 1 1 *";
  if (text == "@monthly") return "0 0 1 * *";
  if (text == "@weekly") return "0 0 * * 0";
  if (text == "@daily" || text == "@midnight") return "0 0 * * *";
  if (text == "@hourly") return "0 * * * *";
  return text;
}

}  // namespace

CronSchedule CronSchedule::parse(std::string_view text) {
  CronSchedule s;
  s.text_ = std::string(text);
  std::string_view body = expand_macro(text);
  if (!body.empty() && body[0] == '@') {
    throw ConfigError(fmt::format("'{}' is not a cron macro: use @hourly, @daily, @weekly, @monthly or @yearly", text));
  }
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < body.size()) {
    while (i < body.size() && std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    std::size_t start = i;
    while (i < body.size() && !std::isspace(static_cast<unsigned char>(body[i]))) ++i;
    if (i > start) fields.push_back(body.substr(start, i - start));
  }
  if (fields.size() != 5) {
    throw ConfigError(fmt::format("'{}' has {} fields; a cron schedule has 5: minute hour day-of-month month "
                                  "day-of-week (e.g. '0 3 * * 1' = Mondays at 03:00 UTC)",
                                  text, fields.size()));
  }
  parse_field(kFields[0], fields[0], s.minutes_);
  parse_field(kFields[1], fields[1], s.hours_);
  s.days_restricted_ = parse_field(kFields[2], fields[2], s.days_);
  parse_field(kFields[3], fields[3], s.months_);
  s.weekdays_restricted_ = parse_field(kFields[4], fields[4], s.weekdays_);
  return s;
}

std::optional<std::string> CronSchedule::problem(std::string_view text) {
  try {
    parse(text);
    return std::nullopt;
  } catch (const ConfigError& e) {
    return e.what();
  }
}

bool CronSchedule::day_matches(sys_days day) const {
  year_month_day ymd{day};
  bool dom = days_[static_cast<unsigned>(ymd.day())];
  bool dow = weekdays_[weekday{day}.c_encoding()];
  return (days_restricted_ && weekdays_restricted_) ? (dom || dow) : (dom && dow);
}

bool CronSchedule::matches(TimePoint t) const {
  auto day = floor<days>(t);
  auto hm = hh_mm_ss<minutes>(t - day);
  return months_[static_cast<unsigned>(year_month_day{day}.month())] && day_matches(day) &&
         hours_[static_cast<std::size_t>(hm.hours().count())] && minutes_[static_cast<std::size_t>(hm.minutes().count())];
}

std::optional<CronSchedule::TimePoint> CronSchedule::next_after(TimePoint after) const {
  const auto limit = after + days(5 * 366);
  TimePoint t = after + minutes(1);
  while (t <= limit) {
    auto day = floor<days>(t);
    year_month_day ymd{day};
    if (!months_[static_cast<unsigned>(ymd.month())]) {
      t = sys_days{(ymd.year() / ymd.month() + months(1)) / 1};
      continue;
    }
    if (!day_matches(day)) {
      t = day + days(1);
      continue;
    }
    auto since_midnight = t - day;
    auto hour = duration_cast<hours>(since_midnight);
    if (!hours_[static_cast<std::size_t>(hour.count())]) {
      t = day + hour + hours(1);
      continue;
    }
    if (!minutes_[static_cast<std::size_t>((since_midnight - hour).count())]) {
      t += minutes(1);
      continue;
    }
    return t;
  }
  return std::nullopt;
}

std::optional<CronSchedule::TimePoint> CronSchedule::last_at_or_before(TimePoint at, minutes horizon) const {
  for (TimePoint t = at; t >= at - horizon; t -= minutes(1)) {
    if (matches(t)) return t;
  }
  return std::nullopt;
}

}  // namespace datarefresh
