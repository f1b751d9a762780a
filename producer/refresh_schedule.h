#pragma once

#include <chrono>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/common/cron_schedule.h"
#include "core/common/log.h"
#include "core/config/config.h"
#include "core/messages/messages.h"

namespace datarefresh::planner {

// One scheduled refresh that has come due.
struct DueRefresh {
  std::string media_type;
  CronSchedule::TimePoint slot;  // the schedule's minute it is for
  std::string request_id;        // a stable function of environment, media type, mode and slot
  std::string mode = "full";     // "full" (schedule) or "incremental" (incremental_schedule)
};

// The refresh schedules of the configured media types (media_types.<name>.schedule for full
// refreshes, incremental_schedule for incremental ones), and which slots fall due in a window.
// Pure: time is passed in.
class RefreshSchedules {
 public:
  explicit RefreshSchedules(const config::Config& config);

  bool empty() const { return schedules_.empty(); }
  // The media types that have a schedule.
  std::vector<std::string> media_types() const;
  // The slots of `media_type` in (after, until], oldest first, full and incremental merged; where
  // both fall on the same minute only the full one (it brings everything up to date). A slot's
  // request id is the same whoever computes it, so a slot requested twice (a restarted planner
  // catching up) is one refresh.
  std::vector<DueRefresh> due(const std::string& media_type, CronSchedule::TimePoint after,
                              CronSchedule::TimePoint until) const;

  // Of several slots missed at once, the one to request so that one refresh catches up: the newest
  // full slot if there is one (a full refresh also brings what an incremental one would), else the
  // newest incremental slot; nullopt for none.
  static std::optional<DueRefresh> catch_up(const std::vector<DueRefresh>& missed);

 private:
  struct MediaSchedules {
    std::optional<CronSchedule> full;
    std::optional<CronSchedule> incremental;
  };
  std::string environment_;
  std::map<std::string, MediaSchedules> schedules_;
};

// Requests scheduled refreshes as they fall due: a thread that wakes every second and hands each
// due slot to `submit` (which produces the request, with options.mode "full" or "incremental").
// A slot that could not be submitted is tried again on the next wake-up. At start it also requests
// one slot missed within refresh.schedule_misfire_grace (a planner down at the time; see
// RefreshSchedules::catch_up). start() after construction; stop()
// (also the destructor) joins the thread. `submit` runs on that thread.
class RefreshScheduler {
 public:
  using Submit = std::function<void(const messages::RefreshRequested&)>;
  RefreshScheduler(const config::Config& config, Submit submit);
  ~RefreshScheduler();
  RefreshScheduler(const RefreshScheduler&) = delete;
  RefreshScheduler& operator=(const RefreshScheduler&) = delete;

  void start();
  void stop();

 private:
  void loop();

  RefreshSchedules schedules_;
  std::chrono::minutes grace_;
  Submit submit_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  Logger log_{"scheduler"};
};

}  // namespace datarefresh::planner
