#include "producer/refresh_schedule.h"

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "core/refresh/naming.h"
#include "producer/refresh_request.h"

namespace datarefresh::planner {

using std::chrono::minutes;

RefreshSchedules::RefreshSchedules(const config::Config& config) : environment_(config.environment) {
  for (const auto& [name, media] : config.media_types) {
    MediaSchedules s;
    if (!media.schedule.empty()) s.full = CronSchedule::parse(media.schedule);
    if (!media.incremental_schedule.empty()) s.incremental = CronSchedule::parse(media.incremental_schedule);
    if (s.full || s.incremental) schedules_.emplace(name, std::move(s));
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
  std::map<CronSchedule::TimePoint, DueRefresh> slots;
  auto add = [&](const CronSchedule& schedule, const std::string& mode) {
    for (auto slot = schedule.next_after(after); slot && *slot <= until; slot = schedule.next_after(*slot)) {
      // A full slot keeps the name it had before incremental schedules existed, so a planner
      // upgraded within a slot's minute recognises the request its predecessor made.
      auto name = mode == "full"
                      ? fmt::format("datarefresh schedule {} {} {:%Y-%m-%dT%H:%M}Z", environment_, media_type, *slot)
                      : fmt::format("datarefresh schedule {} {} {} {:%Y-%m-%dT%H:%M}Z", environment_, media_type, mode,
                                    *slot);
      slots.emplace(*slot, DueRefresh{media_type, *slot, refresh::name_uuid(name), mode});  // the full one stays
    }
  };
  if (it->second.full) add(*it->second.full, "full");
  if (it->second.incremental) add(*it->second.incremental, "incremental");
  for (auto& [_, d] : slots) out.push_back(std::move(d));
  return out;
}

std::optional<DueRefresh> RefreshSchedules::catch_up(const std::vector<DueRefresh>& missed) {
  for (auto it = missed.rbegin(); it != missed.rend(); ++it) {
    if (it->mode == "full") return *it;
  }
  if (missed.empty()) return std::nullopt;
  return missed.back();
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
      // Of several slots missed at once only one is requested: one refresh catches up.
      auto d = RefreshSchedules::catch_up(slots);
      if (!d) continue;
      try {
        submit_(make_refresh_request(d->media_type, std::nullopt, "schedule", d->request_id, d->mode));
        log_.info("scheduled refresh requested",
                  {{"media_type", d->media_type}, {"mode", d->mode},
                   {"slot", fmt::format("{:%Y-%m-%dT%H:%M}Z", d->slot)}, {"refresh_id", d->request_id}});
        last = slots.back().slot;  // the slots passed over for it are not requested later
      } catch (const std::exception& e) {
        log_.error("requesting a scheduled refresh failed; trying again in a second",
                   {{"media_type", d->media_type}, {"mode", d->mode}, {"refresh_id", d->request_id},
                    {"error", e.what()}});
      }
    }
    for (int i = 0; i < 10 && !stopping_; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace datarefresh::planner
