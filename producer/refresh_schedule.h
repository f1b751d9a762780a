#pragma once

#include <chrono>
#include <atomic>
#include <functional>
#include <map>
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
  std::string request_id;        // a stable function of environment, media type and slot
};

// The refresh schedules of the configured media types (media_types.<name>.schedule), and which
// slots fall due in a window. Pure: time is passed in.
class RefreshSchedules {
 public:
  explicit RefreshSchedules(const config::Config& config);

  bool empty() const { return schedules_.empty(); }
  // The media types that have a schedule.
  std::vector<std::string> media_types() const;
  // The slots of `media_type` in (after, until], oldest first. A slot's request id is the same
  // whoever computes it, so a slot requested twice (a restarted planner catching up) is one refresh.
  std::vector<DueRefresh> due(const std::string& media_type, CronSchedule::TimePoint after,
                              CronSchedule::TimePoint until) const;

 private:
  std::string environment_;
  std::map<std::string, CronSchedule> schedules_;
};

// Requests scheduled refreshes as they fall due: a thread that wakes every second and hands each
// due slot to `submit` (which produces the request). A slot that could not be submitted is tried
// again on the next wake-up. At start it also requests the last slot missed within
// refresh.schedule_misfire_grace (a planner down at the time). start() after construction; stop()
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
