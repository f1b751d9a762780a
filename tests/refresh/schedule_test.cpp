#include "producer/refresh_schedule.h"

#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/common/error.h"

namespace datarefresh::planner {
namespace {

using namespace std::chrono;
using TP = CronSchedule::TimePoint;

TP at(int y, unsigned mo, unsigned d, int h, int mi) {
  return TP{sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi)};
}

config::Config with_schedules(const std::string& image, const std::string& audio, const std::string& environment) {
  config::Config c;
  c.environment = environment;
  c.media_types["image"].name = "image";
  c.media_types["image"].schedule = image;
  c.media_types["audio"].name = "audio";
  c.media_types["audio"].schedule = audio;
  return c;
}

TEST(RefreshSchedules, ListsTheSlotsOfAWindowWithStableIds) {
  RefreshSchedules s(with_schedules("0 3 * * *", "", "production"));
  EXPECT_EQ(s.media_types(), std::vector<std::string>{"image"});
  auto slots = s.due("image", at(2026, 11, 29, 0, 0), at(2026, 12, 1, 3, 0));
  ASSERT_EQ(slots.size(), 3u);
  EXPECT_EQ(slots[0].slot, at(2026, 11, 29, 3, 0));
  EXPECT_EQ(slots[2].slot, at(2026, 12, 1, 3, 0));
  EXPECT_TRUE(s.due("audio", at(2026, 11, 29, 0, 0), at(2026, 12, 1, 0, 0)).empty());

  // Another planner (a restart) names the same slot the same; another slot or environment not.
  RefreshSchedules again(with_schedules("0 3 * * *", "", "production"));
  EXPECT_EQ(again.due("image", at(2026, 11, 29, 0, 0), at(2026, 11, 29, 3, 0))[0].request_id, slots[0].request_id);
  EXPECT_NE(slots[0].request_id, slots[1].request_id);
  RefreshSchedules staging(with_schedules("0 3 * * *", "", "staging"));
  EXPECT_NE(staging.due("image", at(2026, 11, 29, 0, 0), at(2026, 11, 29, 3, 0))[0].request_id, slots[0].request_id);
  EXPECT_EQ(slots[0].request_id.size(), 36u);
  EXPECT_EQ(slots[0].request_id[14], '8');  // a name-based (version 8) UUID
}

TEST(RefreshScheduler, RequestsTheSlotMissedWithinTheGraceAtOnceOnStart) {
  // Every minute: the current minute's slot lies within the grace, so it is requested at start.
  auto config = with_schedules("", "* * * * *", "local");
  config.refresh.schedule_misfire_grace = minutes(5);
  std::mutex mutex;
  std::vector<messages::RefreshRequested> requests;
  {
    RefreshScheduler scheduler(config, [&](const messages::RefreshRequested& r) {
      std::lock_guard lock(mutex);
      requests.push_back(r);
    });
    scheduler.start();
    for (int i = 0; i < 50; ++i) {
      {
        std::lock_guard lock(mutex);
        if (!requests.empty()) break;
      }
      std::this_thread::sleep_for(100ms);
    }
  }
  std::lock_guard lock(mutex);
  ASSERT_GE(requests.size(), 1u);
  // Several missed slots make one request: the newest.
  EXPECT_LE(requests.size(), 2u);
  EXPECT_EQ(requests[0].media_type, "audio");
  EXPECT_EQ(requests[0].options.requested_by, "schedule");
  EXPECT_FALSE(requests[0].options.row_limit.has_value());
}

TEST(RefreshScheduler, TriesAFailedSubmissionAgain) {
  auto config = with_schedules("* * * * *", "", "local");
  config.refresh.schedule_misfire_grace = minutes(1);
  std::atomic<int> calls{0};
  std::string first_id, second_id;
  minutes first_minute{}, second_minute{};
  auto minute_now = [] { return floor<minutes>(system_clock::now().time_since_epoch()); };
  {
    RefreshScheduler scheduler(config, [&](const messages::RefreshRequested& r) {
      if (calls++ == 0) {
        first_id = r.request_id;
        first_minute = minute_now();
        throw Error("broker down");
      }
      second_id = r.request_id;
      second_minute = minute_now();
    });
    scheduler.start();
    for (int i = 0; i < 40 && calls < 2; ++i) std::this_thread::sleep_for(100ms);
  }
  ASSERT_GE(calls.load(), 2);
  // The same slot again, unless a minute turned in between (then the newer slot replaces it).
  if (first_minute == second_minute) {
    EXPECT_EQ(first_id, second_id);
  }
}

}  // namespace
}  // namespace datarefresh::planner
