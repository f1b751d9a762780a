#include "producer/refresh_schedule.h"

#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "core/common/error.h"
#include "core/refresh/naming.h"

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

TEST(RefreshSchedules, AFullSlotKeepsTheRequestIdItHadBeforeIncrementalSchedules) {
  RefreshSchedules s(with_schedules("0 3 * * *", "", "production"));
  auto slots = s.due("image", at(2026, 11, 29, 0, 0), at(2026, 11, 29, 3, 0));
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].mode, "full");
  EXPECT_EQ(slots[0].request_id, refresh::name_uuid("datarefresh schedule production image 2026-11-29T03:00Z"));
}

TEST(RefreshSchedules, IncrementalSlotsGiveWayToAFullSlotOnTheSameMinute) {
  auto config = with_schedules("0 3 * * *", "", "production");
  config.media_types["image"].incremental_schedule = "0 */6 * * *";  // 00:00, 06:00, 12:00, 18:00 ...
  config.media_types["audio"].incremental_schedule = "30 * * * *";
  RefreshSchedules s(config);
  EXPECT_EQ(s.media_types(), (std::vector<std::string>{"audio", "image"}));
  auto slots = s.due("image", at(2026, 11, 29, 0, 0), at(2026, 11, 29, 12, 0));
  ASSERT_EQ(slots.size(), 3u);
  EXPECT_EQ(slots[0].slot, at(2026, 11, 29, 3, 0));
  EXPECT_EQ(slots[0].mode, "full");
  EXPECT_EQ(slots[1].slot, at(2026, 11, 29, 6, 0));
  EXPECT_EQ(slots[1].mode, "incremental");
  EXPECT_EQ(slots[2].mode, "incremental");

  // Both on 03:00: only the full refresh is requested, under the full slot's id.
  config.media_types["image"].incremental_schedule = "0 * * * *";
  RefreshSchedules hourly(config);
  auto three = hourly.due("image", at(2026, 11, 29, 2, 30), at(2026, 11, 29, 3, 30));
  ASSERT_EQ(three.size(), 1u);
  EXPECT_EQ(three[0].mode, "full");
  EXPECT_EQ(three[0].request_id, slots[0].request_id);

  // The id is a function of media type, mode and slot: stable across planners, distinct per mode.
  RefreshSchedules again(config);
  auto four = again.due("image", at(2026, 11, 29, 3, 30), at(2026, 11, 29, 4, 0));
  ASSERT_EQ(four.size(), 1u);
  EXPECT_EQ(four[0].request_id, hourly.due("image", at(2026, 11, 29, 3, 59), at(2026, 11, 29, 4, 0))[0].request_id);
  auto only_incremental = with_schedules("", "", "production");
  only_incremental.media_types["image"].incremental_schedule = "0 3 * * *";
  auto incremental_three =
      RefreshSchedules(only_incremental).due("image", at(2026, 11, 29, 2, 0), at(2026, 11, 29, 3, 0));
  ASSERT_EQ(incremental_three.size(), 1u);
  EXPECT_EQ(incremental_three[0].mode, "incremental");
  EXPECT_NE(incremental_three[0].request_id, slots[0].request_id) << "same minute, other mode: another refresh";
  EXPECT_EQ(incremental_three[0].request_id.size(), 36u);
}

TEST(RefreshSchedules, CatchingUpPrefersTheNewestFullSlotElseTheNewestIncrementalOne) {
  auto slot = [](int hour, std::string mode) {
    return DueRefresh{"image", at(2026, 11, 29, hour, 0), "id", std::move(mode)};
  };
  EXPECT_FALSE(RefreshSchedules::catch_up({}).has_value());
  auto newest = RefreshSchedules::catch_up({slot(1, "incremental"), slot(2, "incremental")});
  ASSERT_TRUE(newest.has_value());
  EXPECT_EQ(newest->slot, at(2026, 11, 29, 2, 0));
  auto full = RefreshSchedules::catch_up({slot(1, "full"), slot(2, "full"), slot(3, "incremental")});
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->mode, "full");
  EXPECT_EQ(full->slot, at(2026, 11, 29, 2, 0));
}

TEST(RefreshScheduler, RequestsAnIncrementalSlotInIncrementalMode) {
  auto config = with_schedules("", "", "local");
  config.media_types["image"].incremental_schedule = "* * * * *";
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
  EXPECT_EQ(requests[0].media_type, "image");
  EXPECT_EQ(requests[0].options.mode, "incremental");
  EXPECT_EQ(requests[0].options.requested_by, "schedule");
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
  EXPECT_EQ(requests[0].options.mode, "full");
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
