#include "devstack/devsearch/faults.h"

#include "core/common/error.h"

namespace datarefresh::devsearch {
namespace {

double fraction(const nlohmann::json& j, const char* key) {
  if (!j.contains(key)) return 0;
  const auto& v = j[key];
  if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) {
    throw ConfigError(std::string("fault ") + key + " must be a number between 0 and 1, got " + v.dump());
  }
  return v.get<double>();
}

std::optional<Duration> duration_of(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::nullopt;
  const auto& v = j[key];
  auto d = v.is_string() ? parse_duration(v.get<std::string>()) : std::nullopt;
  if (!d) throw ConfigError(std::string("fault ") + key + " must be a duration such as \"50ms\" or \"60s\", got " + v.dump());
  return d;
}

}  // namespace

FaultConfig FaultConfig::from_json(const nlohmann::json& j) {
  if (!j.is_object()) throw ConfigError("faults must be a JSON object");
  for (const auto& [key, value] : j.items()) {
    if (key != "bulk_reject_fraction" && key != "fail_fraction" && key != "drop_fraction" &&
        key != "mapping_reject_fraction" && key != "latency" && key != "duration" && key != "unavailable") {
      throw ConfigError("unknown fault [" + key +
                        "]: use bulk_reject_fraction, fail_fraction, drop_fraction, mapping_reject_fraction, "
                        "latency, duration or unavailable");
    }
  }
  FaultConfig c;
  c.bulk_reject_fraction = fraction(j, "bulk_reject_fraction");
  c.fail_fraction = fraction(j, "fail_fraction");
  c.drop_fraction = fraction(j, "drop_fraction");
  c.mapping_reject_fraction = fraction(j, "mapping_reject_fraction");
  c.latency = duration_of(j, "latency").value_or(Duration{0});
  c.duration = duration_of(j, "duration");
  c.unavailable = duration_of(j, "unavailable");
  return c;
}

nlohmann::json FaultConfig::to_json() const {
  nlohmann::json j = {{"bulk_reject_fraction", bulk_reject_fraction},
                      {"fail_fraction", fail_fraction},
                      {"drop_fraction", drop_fraction},
                      {"mapping_reject_fraction", mapping_reject_fraction},
                      {"latency", format_duration(latency)}};
  j["duration"] = duration ? nlohmann::json(format_duration(*duration)) : nlohmann::json(nullptr);
  return j;
}

FaultInjector::FaultInjector(std::uint64_t seed) : rng_(seed) {}

void FaultInjector::set(const FaultConfig& config, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  config_ = config;
  expires_.reset();
  if (config.duration) expires_ = now + *config.duration;
}

void FaultInjector::clear() {
  std::lock_guard lock(mutex_);
  config_ = FaultConfig{};
  expires_.reset();
}

FaultConfig FaultInjector::active_locked(Clock::time_point now) const {
  if (expires_ && now >= *expires_) return FaultConfig{};
  return config_;
}

nlohmann::json FaultInjector::describe(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto j = active_locked(now).to_json();
  if (expires_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*expires_ - now).count();
    j["expires_in_ms"] = std::max<std::int64_t>(0, left);
  } else {
    j["expires_in_ms"] = nullptr;
  }
  return j;
}

bool FaultInjector::draw_locked(double fraction) {
  if (fraction <= 0) return false;
  if (fraction >= 1) return true;
  return std::uniform_real_distribution<double>(0, 1)(rng_) < fraction;
}

Duration FaultInjector::latency(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  return active_locked(now).latency;
}

bool FaultInjector::drop(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return draw_locked(active_locked(now).drop_fraction);
}

bool FaultInjector::fail(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return draw_locked(active_locked(now).fail_fraction);
}

bool FaultInjector::item_faults_active(Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  auto active = active_locked(now);
  return active.bulk_reject_fraction > 0 || active.mapping_reject_fraction > 0;
}

bool FaultInjector::reject_bulk_item(Clock::time_point now) {
  std::lock_guard lock(mutex_);
  return draw_locked(active_locked(now).bulk_reject_fraction);
}

bool FaultInjector::reject_mapping(std::string_view id, Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  double f = active_locked(now).mapping_reject_fraction;
  if (f <= 0) return false;
  // FNV-1a: stable across runs and processes, unlike std::hash.
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ULL;
  return static_cast<double>(h % 1'000'000) / 1'000'000.0 < f;
}

}  // namespace datarefresh::devsearch
