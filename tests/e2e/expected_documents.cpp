#include "tests/e2e/expected_documents.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

namespace datarefresh::e2e {
namespace {

using nlohmann::json;

const std::optional<std::string> kNull;

std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::optional<double> as_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    char* end = nullptr;
    double d = std::strtod(s.c_str(), &end);
    while (end && *end == ' ') ++end;
    if (end && *end == '\0' && end != s.c_str() && std::isfinite(d)) return d;
  }
  return std::nullopt;
}

json parse_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  return json::parse(*text, nullptr, false);
}

// The number of UTF-8 code points that make up the first `n` characters.
std::string first_chars(const std::string& s, std::size_t n) {
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (chars == n) break;
      ++chars;
    }
  }
  return s.substr(0, i);
}

}  // namespace

const std::optional<std::string>& CatalogRow::at(const std::string& name) const {
  auto it = columns.find(name);
  return it == columns.end() ? kNull : it->second;
}

json filter_tags(const json& tags) {
  static const std::set<std::string> exact{"no person", "squareformat", "uploaded:by=flickrmobile",
                                           "uploaded:by=instagram", "flickriosapp:filter=flamingo", "by"};
  static const std::vector<std::string> contains{"flickriosapp", "uploaded", ":",        "=",        "cc0", "by-nc",
                                                 "by-nd",        "by-sa",    "by-nc-nd", "by-nc-sa", "pdm"};
  json kept = json::array();
  if (!tags.is_array()) return kept;
  for (const auto& tag : tags) {
    if (!tag.is_object() || !tag.contains("name") || !tag["name"].is_string()) continue;
    if (tag.contains("accuracy") && !tag["accuracy"].is_null()) {
      auto acc = as_number(tag["accuracy"]);
      if (!acc || *acc < 0.90) continue;
    }
    if (tag.contains("provider") && tag["provider"] == "rekognition") continue;
    std::string name = ascii_lower(tag["name"].get<std::string>());
    if (exact.count(name)) continue;
    if (std::any_of(contains.begin(), contains.end(), [&](const std::string& s) { return name.find(s) != std::string::npos; })) {
      continue;
    }
    kept.push_back(tag);
  }
  return kept;
}

std::optional<json> expected_document(const std::string& media, const CatalogRow& row, bool deleted,
                                      bool sensitive_listed) {
  if (deleted || row.at("removed_from_source") == std::optional<std::string>("t")) return std::nullopt;
  json meta = parse_or_null(row.at("meta_data"));
  if (!meta.is_object()) meta = json::object();
  json doc;
  doc["created_on"] = row.at("created_on") ? json(*row.at("created_on")) : json(nullptr);
  bool mature = sensitive_listed || (meta.contains("mature") && (meta["mature"] == true || meta["mature"] == "true"));
  doc["mature"] = mature;
  auto str = [&](const char* c) { return row.at(c) ? json(*row.at(c)) : json(nullptr); };
  doc["identifier"] = str("identifier");
  doc["license"] = row.at("license") ? json(ascii_lower(*row.at("license"))) : json(nullptr);
  doc["provider"] = str("provider");
  doc["source"] = str("source");
  doc["category"] = str("category");
  doc["title"] = str("title");
  doc["description"] = meta.contains("description") && meta["description"].is_string()
                           ? json(first_chars(meta["description"].get<std::string>(), 2000))
                           : json(nullptr);
  doc["creator"] = str("creator");
  doc["url"] = str("url");

  std::optional<double> pop;
  if (row.at("standardized_popularity")) {
    double raw = std::stod(*row.at("standardized_popularity"));
    double p = std::min(100.0, std::max(0.0, raw * 100));
    if (p > 0) pop = p;
  }
  std::optional<double> auth;
  if (meta.contains("authority_boost") && !meta["authority_boost"].is_null()) {
    if (auto v = as_number(meta["authority_boost"])) {
      double a = std::min(100.0, std::max(0.0, *v));
      if (a > 0) auth = a;
    }
  } else if (row.at("provider")) {
    static const std::map<std::string, double> table{
        {"thorvaldsensmuseum", 90}, {"svgsilh", 90}, {"smithsonian", 90}, {"rijksmuseum", 90}, {"museumsvictoria", 90},
        {"met", 90}, {"mccordsmuseum", 90}, {"digitaltmuseum", 90}, {"clevelandmuseum", 90}, {"brooklynmuseum", 90},
        {"stocksnap", 85}, {"flickr", 75}, {"behance", 75}, {"thingiverse", 75}, {"sketchfab", 75}, {"deviantart", 75}};
    if (auto it = table.find(*row.at("provider")); it != table.end()) auth = it->second;
  }
  doc["standardized_popularity"] = pop ? json(*pop) : json(nullptr);
  doc["authority_boost"] = auth ? json(*auth) : json(nullptr);
  doc["max_boost"] = std::max(pop.value_or(1), auth.value_or(1));
  doc["min_boost"] = std::min(pop.value_or(1), auth.value_or(1));
  json tags = json::array();
  for (const auto& t : filter_tags(parse_or_null(row.at("tags")))) {
    json out = {{"name", t["name"]}};
    if (t.contains("accuracy")) out["accuracy"] = t["accuracy"];
    tags.push_back(out);
  }
  doc["tags"] = tags;

  if (media == "image") {
    auto w = row.at("width"), h = row.at("height");
    if (w && h) {
      long long wi = std::stoll(*w), hi = std::stoll(*h);
      doc["aspect_ratio"] = hi > wi ? "tall" : (hi < wi ? "wide" : "square");
      long long px = wi * hi;
      doc["size"] = px < 640 * 480 ? "small" : (px < 1600 * 900 ? "medium" : "large");
    } else {
      doc["aspect_ratio"] = nullptr;
      doc["size"] = nullptr;
    }
    json ext = nullptr;
    if (auto url = row.at("url")) {
      std::string last = url->substr(url->rfind('.') == std::string::npos ? 0 : url->rfind('.') + 1);
      if (!last.empty() && last.find('/') == std::string::npos) ext = ascii_lower(last);
    }
    doc["extension"] = ext;
  } else {
    if (auto d = row.at("duration")) {
      long long ms = std::stoll(*d);
      doc["length"] = ms < 30000 ? "shortest" : ms < 120000 ? "short" : ms < 600000 ? "medium" : "long";
    } else {
      doc["length"] = nullptr;
    }
    doc["filetype"] = str("filetype");
    json alt = parse_or_null(row.at("alt_files"));
    if (alt.is_array() && !alt.empty()) {
      json exts = json::array();
      for (const auto& f : alt) {
        if (f.is_object() && f.contains("filetype")) exts.push_back(f["filetype"]);
      }
      doc["extension"] = exts;
    } else {
      doc["extension"] = str("filetype");
    }
  }
  return doc;
}

std::vector<std::string> standard_tokens(const std::string& text) {
  auto word = [](unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; };
  std::vector<std::string> out;
  std::string cur;
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (word(c)) {
      cur += static_cast<char>(std::tolower(c));
      continue;
    }
    bool joins = false;
    if (!cur.empty() && i + 1 < text.size()) {
      unsigned char prev = static_cast<unsigned char>(text[i - 1]), next = static_cast<unsigned char>(text[i + 1]);
      bool letters = std::isalpha(prev) && std::isalpha(next);
      bool digits = std::isdigit(prev) && std::isdigit(next);
      joins = (letters && (c == '\'' || c == '.' || c == ':')) || (digits && (c == '.' || c == ','));
    }
    if (joins) {
      cur += static_cast<char>(c);
    } else if (!cur.empty()) {
      out.push_back(cur);
      cur.clear();
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

bool passes_sensitive_filter(const json& doc, const std::set<std::string>& terms) {
  auto clean = [&](const json& v) {
    if (!v.is_string()) return true;
    for (const auto& t : standard_tokens(v.get<std::string>())) {
      if (terms.count(t)) return false;
    }
    return true;
  };
  if (!clean(doc["title"]) || !clean(doc["description"])) return false;
  for (const auto& tag : doc["tags"]) {
    if (!clean(tag["name"])) return false;
  }
  return true;
}

std::vector<std::string> diff_documents(const json& expected, const json& actual) {
  std::vector<std::string> out;
  for (const auto& [key, want] : expected.items()) {
    if (!actual.contains(key)) {
      out.push_back(key + ": missing");
      continue;
    }
    const json& got = actual[key];
    if (key == "created_on" && want.is_string() && got.is_string()) {
      // "YYYY-MM-DD HH:MM:SS[.ffffff]" (UTC) against ISO 8601 with an offset of +00:00.
      std::string w = want.get<std::string>(), g = got.get<std::string>();
      std::replace(w.begin(), w.end(), ' ', 'T');
      if (g.size() > 6 && g.compare(g.size() - 6, 6, "+00:00") == 0) g.resize(g.size() - 6);
      if (w != g) out.push_back(fmt::format("created_on: {} != expected {}", got.dump(), want.dump()));
      continue;
    }
    if (want.is_number() && got.is_number()) {
      double a = want.get<double>(), b = got.get<double>();
      if (std::fabs(a - b) > 1e-9 * std::max(1.0, std::fabs(a))) out.push_back(fmt::format("{}: {} != expected {}", key, b, a));
      continue;
    }
    if (want != got) out.push_back(fmt::format("{}: {} != expected {}", key, got.dump().substr(0, 120), want.dump().substr(0, 120)));
  }
  for (const auto& [key, _] : actual.items()) {
    if (!expected.contains(key) && key != "id") out.push_back(key + ": unexpected field");
  }
  return out;
}

}  // namespace datarefresh::e2e
