#include "devstack/devsearch/cluster_settings.h"

#include <algorithm>
#include <array>
#include <sstream>

#include "devstack/devsearch/api_error.h"

namespace datarefresh::devsearch {
namespace {

constexpr const char* kAutoCreate = "action.auto_create_index";

// Settings accepted and shown but without effect in devsearch (so that scripts written for a
// real cluster run unchanged). Any other key is refused as Elasticsearch refuses unknown ones.
constexpr std::array<const char*, 10> kKeptOnly = {
    "action.destructive_requires_name",
    "cluster.max_shards_per_node",
    "cluster.routing.allocation.enable",
    "cluster.routing.allocation.disk.threshold_enabled",
    "cluster.routing.allocation.disk.watermark.low",
    "cluster.routing.allocation.disk.watermark.high",
    "cluster.routing.allocation.disk.watermark.flood_stage",
    "cluster.routing.rebalance.enable",
    "indices.recovery.max_bytes_per_sec",
    "search.max_buckets",
};

bool known(const std::string& key) {
  return key == kAutoCreate || std::find(kKeptOnly.begin(), kKeptOnly.end(), key) != kKeptOnly.end();
}

std::string text_of(const nlohmann::json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

nlohmann::ordered_json render(const FlatSettings& settings, bool flat) {
  if (!flat) return unflatten_settings(settings);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [k, v] : settings) out[k] = v;
  return out;
}

}  // namespace

AutoCreateRule AutoCreateRule::parse(const std::string& value) {
  AutoCreateRule rule;
  rule.text_ = value;
  if (value == "true" || value == "false") {
    rule.enabled_ = value == "true";
    return rule;
  }
  // Strings.commaDelimitedListToStringArray keeps empty elements: "a,,b" and "a," are refused.
  std::vector<std::string> parts;
  std::string part;
  std::stringstream ss(value);
  while (std::getline(ss, part, ',')) parts.push_back(part);
  if (!value.empty() && value.back() == ',') parts.emplace_back();
  if (value.empty()) parts.emplace_back();
  for (const auto& raw : parts) {
    std::string p = trim(raw);
    if (p.empty()) {
      throw illegal_argument("Can't parse [" + value +
                             "] for setting [action.auto_create_index] must be either [true, false, or a comma "
                             "separated list of index patterns]");
    }
    if (p[0] == '-' || p[0] == '+') {
      if (p.size() == 1) {
        throw illegal_argument("Can't parse [" + value +
                               "] for setting [action.auto_create_index] must contain an index name after [" + p + "]");
      }
      rule.patterns_.emplace_back(p.substr(1), p[0] == '+');
    } else {
      rule.patterns_.emplace_back(p, true);
    }
  }
  return rule;
}

std::optional<std::string> AutoCreateRule::refusal(const std::string& index) const {
  if (!enabled_) return std::string("[action.auto_create_index] is [false]");
  if (patterns_.empty()) return std::nullopt;
  for (const auto& [pattern, allow] : patterns_) {
    if (!wildcard_match(pattern, index)) continue;
    if (allow) return std::nullopt;
    return "[action.auto_create_index] contains [-" + pattern + "] which forbids automatic creation of the index";
  }
  return "[action.auto_create_index] ([" + text_ + "]) doesn't match";
}

ClusterSettings::ClusterSettings(FlatSettings node) : node_(std::move(node)) {
  for (const auto& [key, value] : node_) {
    if (!known(key)) throw illegal_argument("node setting [" + key + "], not recognized");
  }
  derive();
}

void ClusterSettings::derive() {
  std::string value = "true";
  for (const FlatSettings* layer : {&node_, &persistent_, &transient_}) {
    if (auto it = layer->find(kAutoCreate); it != layer->end()) value = text_of(it->second);
  }
  auto_create_ = AutoCreateRule::parse(value);
}

nlohmann::ordered_json ClusterSettings::update(const nlohmann::json& body, bool flat) {
  if (!body.is_object()) throw parsing_error("request body must be an object");
  for (const auto& [key, value] : body.items()) {
    if (key != "persistent" && key != "transient") {
      throw api_error(400, "x_content_parse_exception",
                      "[1:2] [cluster_update_settings_request] unknown field [" + key + "]");
    }
  }
  FlatSettings transient_changes = flatten_keys(body.value("transient", nlohmann::json::object()));
  FlatSettings persistent_changes = flatten_keys(body.value("persistent", nlohmann::json::object()));
  if (transient_changes.empty() && persistent_changes.empty()) {
    throw api_error(400, "action_request_validation_exception", "Validation Failed: 1: no settings to update;");
  }
  // Elasticsearch applies (and so validates) transient settings before persistent ones.
  auto apply = [](FlatSettings target, const FlatSettings& changes, const char* scope, FlatSettings& applied) {
    for (const auto& [key, value] : changes) {
      if (value.is_null()) {
        if (!key.empty() && key.back() == '*') {
          std::string pattern = key;
          std::erase_if(target, [&](const auto& kv) { return wildcard_match(pattern, kv.first); });
          continue;
        }
        if (!known(key)) throw illegal_argument(std::string(scope) + " setting [" + key + "], not recognized");
        target.erase(key);
        continue;
      }
      if (!known(key)) throw illegal_argument(std::string(scope) + " setting [" + key + "], not recognized");
      if (key == kAutoCreate) AutoCreateRule::parse(text_of(value));
      target[key] = text_of(value);
      applied[key] = text_of(value);
    }
    return target;
  };
  FlatSettings transient_applied, persistent_applied;
  FlatSettings new_transient = apply(transient_, transient_changes, "transient", transient_applied);
  FlatSettings new_persistent = apply(persistent_, persistent_changes, "persistent", persistent_applied);
  transient_ = std::move(new_transient);
  persistent_ = std::move(new_persistent);
  derive();
  nlohmann::ordered_json out;
  out["acknowledged"] = true;
  out["persistent"] = render(persistent_applied, flat);
  out["transient"] = render(transient_applied, flat);
  return out;
}

nlohmann::ordered_json ClusterSettings::get(bool flat, bool include_defaults) const {
  nlohmann::ordered_json out;
  out["persistent"] = render(persistent_, flat);
  out["transient"] = render(transient_, flat);
  if (include_defaults) {
    FlatSettings defaults;
    if (persistent_.count(kAutoCreate) == 0 && transient_.count(kAutoCreate) == 0) {
      auto it = node_.find(kAutoCreate);
      defaults[kAutoCreate] = it == node_.end() ? nlohmann::json("true") : it->second;
    }
    out["defaults"] = render(defaults, flat);
  }
  return out;
}

void ClusterSettings::forget_transient() {
  transient_.clear();
  derive();
}

}  // namespace datarefresh::devsearch
