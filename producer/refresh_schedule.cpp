#include "producer/refresh_schedule.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "core/refresh/naming.h"
#include "producer/refresh_request.h"

namespace datarefresh::planner {

using std::chrono::minutes;

RefreshSchedules::RefreshSchedules(const config::Config& config) : environment_(config.environment) {
  for (const auto& [name, media] : config.media_types) {
    if (!media.schedule.empty()) schedules_.emplace(name, CronSchedule::parse(media.schedule));
  }
}

std::vector<std::string> RefreshSchedules::media_types() const {
  std::vector<std::string> out;
  for (const auto& [media, _] : schedules_) out.push_back(media);
  return out;
}

std::vector<DueRefresh> RefreshSchedules::due(const std::string& media_type, CronSchedule::TimePoint after,
                                              CronSchedule::TimePoint until) const {
  std::vector<DueRefresh> out;
  auto it = schedules_.find(media_type);
  if (it == schedules_.end()) return out;
  for (auto slot = it->second.next_after(after); slot && *slot <= until; slot = it->second.next_after(*slot)) {
    auto name = fmt::format("datarefresh schedule {} {} {:%Y-%m-%dT%H:%M}Z", environment_, media_type, *slot);
    out.push_back({media_type, *slot, refresh::name_uuid(name)});
  }
  return out;
}

RefreshScheduler::RefreshScheduler(const config::Config& config, Submit submit)
    : schedules_(config),
      grace_(std::chrono::duration_cast<minutes>(config.refresh.schedule_misfire_grace)),
      submit_(std::move(submit)) {}

RefreshScheduler::~RefreshScheduler() { stop(); }

void RefreshScheduler::start() {
  if (schedules_.empty() || thread_.joinable()) return;
  thread_ = std::thread([this] { loop(); });
}

void RefreshScheduler::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void RefreshScheduler::loop() {
  auto now = [] { return std::chrono::floor<minutes>(std::chrono::system_clock::now()); };
  // Per media type, the slots up to this one were submitted (or fell before the misfire grace).
  std::map<std::string, CronSchedule::TimePoint> done;
  for (const auto& media : schedules_.media_types()) done[media] = now() - grace_ - minutes(1);
  while (!stopping_) {
    for (auto& [media, last] : done) {
      auto slots = schedules_.due(media, last, now());
      // Of several slots missed at once only the newest is requested: one refresh catches up.
      if (slots.size() > 1) slots.erase(slots.begin(), slots.end() - 1);
      for (const auto& d : slots) {
        try {
          submit_(make_refresh_request(d.media_type, std::nullopt, "schedule", d.request_id));
          log_.info("scheduled refresh requested",
                    {{"media_type", d.media_type}, {"slot", fmt::format("{:%Y-%m-%dT%H:%M}Z", d.slot)},
                     {"refresh_id", d.request_id}});
          last = d.slot;
        } catch (const std::exception& e) {
          log_.error("requesting a scheduled refresh failed; trying again in a second",
                     {{"media_type", d.media_type}, {"refresh_id", d.request_id}, {"error", e.what()}});
        }
      }
    }
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace datarefresh::planner
