#include "devstack/devsearch/filter_path.h"

namespace datarefresh::devsearch {
namespace {

using nlohmann::ordered_json;
using Path = std::vector<std::string>;
// A pattern and the index of its next segment to match.
using State = std::pair<const Path*, std::size_t>;

bool glob(std::string_view pattern, std::string_view name) {
  if (pattern.empty()) return name.empty();
  if (pattern[0] == '*') {
    for (std::size_t skip = 0; skip <= name.size(); ++skip) {
      if (glob(pattern.substr(1), name.substr(skip))) return true;
    }
    return false;
  }
  return !name.empty() && pattern[0] == name[0] && glob(pattern.substr(1), name.substr(1));
}

// Matches `key` against every state: `full` when some pattern ends on it (everything below is
// matched), `next` the states that go on below it.
void step(const std::vector<State>& states, const std::string& key, bool& full, std::vector<State>& next) {
  for (const auto& [path, i] : states) {
    if (i >= path->size()) continue;
    const std::string& segment = (*path)[i];
    if (segment == "**") {
      if (i + 1 == path->size()) {
        full = true;  // a trailing ** takes everything below
        continue;
      }
      next.push_back({path, i});              // ** takes this level and maybe more
      step({{path, i + 1}}, key, full, next);  // or none
      continue;
    }
    if (!glob(segment, key)) continue;
    if (i + 1 == path->size()) {
      full = true;
    } else {
      next.push_back({path, i + 1});
    }
  }
}

bool is_empty_container(const ordered_json& v) { return (v.is_object() || v.is_array()) && v.empty(); }

ordered_json include(const ordered_json& node, const std::vector<State>& states) {
  if (node.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& e : node) {
      if (!e.is_object() && !e.is_array()) continue;
      auto kept = include(e, states);
      if (!is_empty_container(kept)) out.push_back(std::move(kept));
    }
    return out;
  }
  ordered_json out = ordered_json::object();
  for (const auto& [key, value] : node.items()) {
    bool full = false;
    std::vector<State> next;
    step(states, key, full, next);
    if (full) {
      out[key] = value;
    } else if (!next.empty() && (value.is_object() || value.is_array())) {
      auto kept = include(value, next);
      if (!is_empty_container(kept)) out[key] = std::move(kept);
    }
  }
  return out;
}

ordered_json exclude(const ordered_json& node, const std::vector<State>& states) {
  if (node.is_array()) {
    ordered_json out = ordered_json::array();
    for (const auto& e : node) out.push_back((e.is_object() || e.is_array()) ? exclude(e, states) : e);
    return out;
  }
  ordered_json out = ordered_json::object();
  for (const auto& [key, value] : node.items()) {
    bool full = false;
    std::vector<State> next;
    step(states, key, full, next);
    if (full) continue;
    if (!next.empty() && (value.is_object() || value.is_array())) {
      auto kept = exclude(value, next);
      if (is_empty_container(kept) && !value.empty()) continue;  // emptied by the exclusion
      out[key] = std::move(kept);
    } else {
      out[key] = value;
    }
  }
  return out;
}

Path split_path(std::string_view text) {
  Path out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto dot = text.find('.', start);
    auto part = text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!part.empty()) out.emplace_back(part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

}  // namespace

FilterPath FilterPath::parse(std::string_view text) {
  FilterPath f;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto comma = text.find(',', start);
    auto item = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    bool negate = !item.empty() && item.front() == '-';
    if (negate) item.remove_prefix(1);
    auto path = split_path(item);
    if (!path.empty()) (negate ? f.excludes_ : f.includes_).push_back(std::move(path));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return f;
}

ordered_json FilterPath::apply(const ordered_json& body) const {
  if (!body.is_object() && !body.is_array()) return body;
  ordered_json out = body;
  if (!includes_.empty()) {
    std::vector<State> states;
    for (const auto& p : includes_) states.push_back({&p, 0});
    out = include(out, states);
  }
  if (!excludes_.empty()) {
    std::vector<State> states;
    for (const auto& p : excludes_) states.push_back({&p, 0});
    out = exclude(out, states);
  }
  return is_empty_container(out) ? ordered_json::object() : out;
}

std::optional<FilterPath::BulkFields> FilterPath::bulk_fields() const {
  if (!excludes_.empty()) return std::nullopt;
  BulkFields f;
  auto all = [&] {
    f.took = f.errors = true;
    f.item_fields.insert("*");
  };
  for (const auto& p : includes_) {
    auto plain = [](const std::string& s) { return s.find('*') == std::string::npos; };
    if (p.size() == 1 && (p[0] == "*" || p[0] == "**")) {
      all();
    } else if (p.size() == 1 && plain(p[0])) {
      if (p[0] == "took") f.took = true;
      if (p[0] == "errors") f.errors = true;
      if (p[0] == "items") f.item_fields.insert("*");
    } else if (p[0] == "items" && p.size() == 2 && (p[1] == "*" || p[1] == "**")) {
      f.item_fields.insert("*");
    } else if (p[0] == "items" && p.size() == 3 && p[1] == "*" && (p[2] == "*" || plain(p[2]))) {
      f.item_fields.insert(p[2]);
    } else {
      return std::nullopt;  // deeper or wilder: filter the whole answer
    }
  }
  return f;
}

}  // namespace datarefresh::devsearch
