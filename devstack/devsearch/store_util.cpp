#include "devstack/devsearch/store_util.h"

#include <chrono>
#include <mutex>
#include <random>

namespace datarefresh::devsearch {
namespace {

nlohmann::json stringify(const nlohmann::json& v) {
  if (v.is_string()) return v;
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& e : v) out.push_back(stringify(e));
    return out;
  }
  if (v.is_null()) return nullptr;
  return v.dump();
}

void flatten(const nlohmann::json& v, const std::string& prefix, FlatSettings& out) {
  for (const auto& [k, child] : v.items()) {
    std::string key = prefix.empty() ? k : prefix + "." + k;
    if (child.is_object()) {
      flatten(child, key, out);
    } else {
      out[key] = stringify(child);
    }
  }
}

}  // namespace

FlatSettings flatten_keys(const nlohmann::json& settings) {
  FlatSettings raw;
  if (settings.is_object()) flatten(settings, "", raw);
  return raw;
}

FlatSettings flatten_settings(const nlohmann::json& settings) {
  FlatSettings raw = flatten_keys(settings);
  FlatSettings out;
  for (auto& [k, v] : raw) out[k.rfind("index.", 0) == 0 ? k : "index." + k] = std::move(v);
  return out;
}

nlohmann::ordered_json unflatten_settings(const FlatSettings& flat) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [key, value] : flat) {
    nlohmann::ordered_json* node = &out;
    std::size_t start = 0;
    while (true) {
      std::size_t dot = key.find('.', start);
      std::string seg = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (dot == std::string::npos) {
        (*node)[seg] = value;
        break;
      }
      node = &(*node)[seg];
      start = dot + 1;
    }
  }
  return out;
}

std::optional<std::string> invalid_index_name_reason(const std::string& name) {
  if (name.empty()) return "must not be empty";
  for (char c : name) {
    if (c >= 'A' && c <= 'Z') return "must be lowercase";
  }
  if (name == "." || name == "..") return "must not be '.' or '..'";
  if (name[0] == '_' || name[0] == '-' || name[0] == '+') return "must not start with '_', '-', or '+'";
  for (char c : name) {
    if (std::string_view("\\/*?\"<>| ,#:").find(c) != std::string_view::npos) {
      return "must not contain the following characters [ , \", *, \\, <, |, ,, >, /, ?]";
    }
  }
  if (name.size() > 255) return "index name is too long, (" + std::to_string(name.size()) + " > 255)";
  return std::nullopt;
}

std::string random_id(std::size_t length) {
  static constexpr char kChars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  static std::mutex mutex;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard lock(mutex);
  std::string out(length, 'A');
  for (auto& c : out) c = kChars[rng() % 64];
  return out;
}

bool wildcard_match(const std::string& pattern, const std::string& name) {
  std::size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p;
      ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

std::int64_t now_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u < 0x20) {
      out += "\\u00";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 0xF]);
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

}  // namespace datarefresh::devsearch
