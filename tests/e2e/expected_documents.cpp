#include "tests/e2e/expected_documents.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <limits>
#include <regex>

#include <fmt/format.h>
#include <unicode/locid.h>
#include <unicode/unistr.h>

namespace datarefresh::e2e {
namespace {

using nlohmann::json;

const std::optional<std::string> kNull;

std::string ascii_lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Python's str.lower(): Unicode's full lower-case mapping, no language rules (ICU's root locale).
std::string python_lower(const std::string& s) {
  std::string out;
  icu::UnicodeString::fromUTF8(s).toLower(icu::Locale::getRoot()).toUTF8String(out);
  return out;
}

bool is_python_float_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

// The accuracy the tag filter compares: a number, or a string of a decimal once the whitespace
// both Python's float() and Elasticsearch trim (" \t\n\v\f\r") is trimmed.
std::optional<double> as_number(const json& v) {
  if (v.is_number()) return v.get<double>();
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    while (!s.empty() && is_python_float_space(s.back())) s.pop_back();
    std::size_t start = 0;
    while (start < s.size() && is_python_float_space(s[start])) ++start;
    s.erase(0, start);
    static const std::regex decimal(R"(^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$)");
    if (!std::regex_match(s, decimal)) return std::nullopt;
    return std::strtod(s.c_str(), nullptr);
  }
  return std::nullopt;
}

// Python's float() of a meta_data value: numbers, booleans (1.0, 0.0) and strings with whitespace
// trimmed, underscores between digits dropped, inf/infinity/nan in any case. nullopt where it raises.
std::optional<double> python_float(const json& v) {
  if (v.is_boolean()) return v.get<bool>() ? 1.0 : 0.0;
  if (v.is_number()) return v.get<double>();
  if (!v.is_string()) return std::nullopt;
  std::string s;
  const std::string raw = v.get<std::string>();
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '_') {
      s += raw[i];
      continue;
    }
    bool between_digits = i > 0 && i + 1 < raw.size() && std::isdigit(static_cast<unsigned char>(raw[i - 1])) &&
                          std::isdigit(static_cast<unsigned char>(raw[i + 1]));
    if (!between_digits) return std::nullopt;
  }
  while (!s.empty() && is_python_float_space(s.back())) s.pop_back();
  while (!s.empty() && is_python_float_space(s.front())) s.erase(0, 1);
  std::string word = ascii_lower(s);
  bool negative = !word.empty() && word[0] == '-';
  if (!word.empty() && (word[0] == '-' || word[0] == '+')) word.erase(0, 1);
  if (word == "inf" || word == "infinity") return negative ? -HUGE_VAL : HUGE_VAL;
  if (word == "nan") return std::nan("");
  static const std::regex decimal(R"(^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$)");
  if (!std::regex_match(s, decimal)) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

// jsonb text as Python's json module reads it. nlohmann refuses numbers beyond a double, which
// PostgreSQL writes as integers of more than 308 digits; no row puts one where it is read, so
// they stand in as null (the catalog's Python keeps an int no float or rank feature field takes).
json parse_or_null(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  static const std::regex too_long(R"(-?[0-9]{309,})");
  return json::parse(std::regex_replace(*text, too_long, "null"), nullptr, false);
}

// Python's datetime.isoformat() of created_on as PostgreSQL writes it in UTC without an offset
// ("2020-01-02 03:04:05.5"): a "T", six digits of fraction unless it is zero, "+00:00".
std::string python_isoformat(std::string t) {
  std::replace(t.begin(), t.end(), ' ', 'T');
  if (auto dot = t.find('.'); dot != std::string::npos) t += std::string(6 - (t.size() - dot - 1), '0');
  return t + "+00:00";
}

// Whether a text field would refuse the value: an object, at any depth of arrays.
bool holds_object(const json& v) {
  if (v.is_object()) return true;
  if (v.is_array()) return std::any_of(v.begin(), v.end(), holds_object);
  return false;
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
    std::string name = python_lower(tag["name"].get<std::string>());
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
  doc["created_on"] = row.at("created_on") ? json(python_isoformat(*row.at("created_on"))) : json(nullptr);
  bool mature = sensitive_listed || (meta.contains("mature") && (meta["mature"] == true || meta["mature"] == "true"));
  doc["mature"] = mature;
  auto str = [&](const char* c) { return row.at(c) ? json(*row.at(c)) : json(nullptr); };
  doc["identifier"] = str("identifier");
  doc["license"] = row.at("license") ? json(python_lower(*row.at("license"))) : json(nullptr);
  doc["provider"] = str("provider");
  doc["source"] = str("source");
  doc["category"] = str("category");
  doc["title"] = str("title");
  // description[:2000]: a string's first 2000 characters, a list's first 2000 elements.
  doc["description"] = nullptr;
  if (meta.contains("description")) {
    const json& d = meta["description"];
    if (d.is_string()) {
      doc["description"] = first_chars(d.get<std::string>(), 2000);
    } else if (d.is_array() && !holds_object(d)) {
      doc["description"] =
          json(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(d.size(), 2000)));
    }
  }
  doc["creator"] = str("creator");
  doc["url"] = str("url");

  std::optional<double> pop;
  if (row.at("standardized_popularity")) {
    double raw = std::stod(*row.at("standardized_popularity"));
    double p = std::min(100.0, std::max(0.0, raw * 100));
    if (p > 0) pop = p;
  }
  std::optional<double> auth;
  if (meta.contains("authority_boost")) {  // null included: the provider's does not apply
    if (auto v = python_float(meta["authority_boost"])) {
      if (*v > 0) auth = std::min(100.0, *v);
    }
  } else if (row.at("provider")) {
    static const std::map<std::string, double> table{{"thorvaldsensmuseum", 90},
                                                     {"svgsilh", 90},
                                                     {"smithsonian", 90},
                                                     {"rijksmuseum", 90},
                                                     {"museumsvictoria", 90},
                                                     {"met", 90},
                                                     {"mccordsmuseum", 90},
                                                     {"digitaltmuseum", 90},
                                                     {"clevelandmuseum", 90},
                                                     {"brooklynmuseum", 90},
                                                     {"stocksnap", 85},
                                                     {"rawpixel", 85},
                                                     {"flickr", 75},
                                                     {"behance", 75},
                                                     {"thingiverse", 75},
                                                     {"sketchfab", 75},
                                                     {"deviantart", 75}};
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
      if (!last.empty() && last.find('/') == std::string::npos) ext = python_lower(last);
    }
    doc["extension"] = ext;
  } else {
    long long ms = row.at("duration") ? std::stoll(*row.at("duration")) : 0;
    if (ms != 0) {  // `if not duration`
      doc["length"] = ms < 30000 ? "shortest" : ms < 120000 ? "short" : ms < 600000 ? "medium" : "long";
    } else {
      doc["length"] = nullptr;
    }
    doc["filetype"] = str("filetype");
    json alt = parse_or_null(row.at("alt_files"));
    if (alt.is_array() && !alt.empty()) {
      json exts = json::array();
      for (const auto& f : alt) {  // one without a filetype has the row's
        exts.push_back(f.is_object() && f.contains("filetype") ? f["filetype"] : str("filetype"));
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
  std::function<bool(const json&)> clean = [&](const json& v) {
    if (v.is_array()) return std::all_of(v.begin(), v.end(), clean);  // a text field's list: each element
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
