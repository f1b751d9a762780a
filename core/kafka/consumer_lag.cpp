#include "core/kafka/consumer_lag.h"

#include <nlohmann/json.hpp>

namespace datarefresh::kafka {

std::vector<PartitionLag> consumer_lag_from_statistics(std::string_view statistics_json) {
  std::vector<PartitionLag> out;
  auto stats = nlohmann::json::parse(statistics_json, nullptr, false);
  if (!stats.is_object() || !stats.contains("topics") || !stats["topics"].is_object()) return out;
  auto number = [](const nlohmann::json& p, const char* key) -> std::int64_t {
    auto it = p.find(key);
    return it != p.end() && it->is_number_integer() ? it->get<std::int64_t>() : -1;
  };
  for (const auto& [topic, t] : stats["topics"].items()) {
    if (!t.is_object() || !t.contains("partitions") || !t["partitions"].is_object()) continue;
    for (const auto& [id, p] : t["partitions"].items()) {
      // -1 is librdkafka's internal unassigned partition.
      if (!p.is_object() || id.empty() || id.find_first_not_of("0123456789") != std::string::npos) continue;
      bool assigned = p.value("desired", false) || p.value("fetch_state", std::string()) == "active";
      if (!assigned) continue;
      std::int64_t hi = number(p, "hi_offset");
      if (hi < 0) continue;
      std::int64_t from = number(p, "committed_offset");
      if (from < 0) from = std::max<std::int64_t>(0, number(p, "lo_offset"));
      out.push_back({topic, static_cast<std::int32_t>(std::stol(id)), std::max<std::int64_t>(0, hi - from)});
    }
  }
  return out;
}

}  // namespace datarefresh::kafka
