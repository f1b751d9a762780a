#include "devstack/datagen/row_generator.h"

#include <array>
#include <iterator>
#include <utility>
#include <cctype>
#include <sstream>
#include <charconv>
#include <cstdio>
#include <fstream>

#include <fmt/format.h>

#include "core/common/error.h"

namespace datarefresh::datagen {

extern const char* const kDefaultSensitiveTerms;  // generated from sensitive_terms.txt

namespace {

constexpr std::uint64_t kImageSalt = 0x494d414745ULL;
constexpr std::uint64_t kAudioSalt = 0x415544494fULL;

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t row_key(std::uint64_t seed, std::uint64_t salt, std::uint64_t index) {
  return mix(mix(seed ^ salt) ^ mix(index * 0xd1b54a32d192ed03ULL));
}

// splitmix64 stream seeded per row, so every row is independent of every other.
class Rng {
 public:
  explicit Rng(std::uint64_t state) : state_(state) {}
  std::uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ULL); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }
  bool chance(double p) { return uniform() < p; }
  template <typename T, std::size_t N>
  const T& pick(const std::array<T, N>& items) { return items[below(N)]; }

 private:
  std::uint64_t state_;
};

struct Weighted {
  const char* name;
  double weight;
};

template <std::size_t N>
const char* pick_weighted(Rng& rng, const std::array<Weighted, N>& items) {
  double total = 0;
  for (const auto& i : items) total += i.weight;
  double r = rng.uniform() * total;
  for (const auto& i : items) {
    if (r < i.weight) return i.name;
    r -= i.weight;
  }
  return items.back().name;
}

// Real-world skew: Flickr dominates the image catalog (~468M of ~600M rows in 2022, spec 3). The
// rest mixes the providers of the authority table (museums 90, stocksnap and rawpixel 85, social
// 75) with some the table does not know (inaturalist, geographorguk, nappy, a brand-new one) so
// the authority_boost fallback to None is exercised.
constexpr std::array<Weighted, 17> kImageProviders{{{"flickr", 0.65},
                                                    {"wikimedia", 0.10},
                                                    {"met", 0.025},
                                                    {"smithsonian", 0.025},
                                                    {"clevelandmuseum", 0.015},
                                                    {"rijksmuseum", 0.015},
                                                    {"brooklynmuseum", 0.01},
                                                    {"museumsvictoria", 0.01},
                                                    {"stocksnap", 0.02},
                                                    {"rawpixel", 0.01},
                                                    {"behance", 0.015},
                                                    {"deviantart", 0.015},
                                                    {"thingiverse", 0.01},
                                                    {"sketchfab", 0.01},
                                                    {"inaturalist", 0.04},
                                                    {"geographorguk", 0.03},
                                                    {"nappy", 0.01}}};
constexpr std::array<Weighted, 5> kAudioProviders{{{"jamendo", 0.45},
                                                   {"freesound", 0.30},
                                                   {"wikimedia_audio", 0.15},
                                                   {"ccmixter", 0.07},
                                                   {"brand_new_netlabel", 0.03}}};
constexpr std::array<Weighted, 8> kLicenses{{{"by", 0.30},
                                             {"by-sa", 0.22},
                                             {"by-nc", 0.15},
                                             {"by-nc-sa", 0.10},
                                             {"by-nd", 0.05},
                                             {"by-nc-nd", 0.06},
                                             {"cc0", 0.09},
                                             {"pdm", 0.03}}};

constexpr std::array<const char*, 120> kWords{
    "sunset",   "mountain", "river",    "portrait", "city",      "street",   "forest",   "ocean",    "beach",
    "bird",     "flower",   "garden",   "bridge",   "cathedral", "market",   "festival", "winter",   "summer",
    "autumn",   "spring",   "morning",  "evening",  "night",     "lake",     "harbor",   "boat",     "train",
    "station",  "museum",   "statue",   "painting", "vase",      "helmet",   "armor",    "textile",  "ceramic",
    "map",      "letter",   "manuscript", "coin",   "sculpture", "temple",   "castle",   "village",  "farm",
    "horse",    "dog",      "cat",      "butterfly", "insect",   "mushroom", "tree",     "leaf",     "rock",
    "desert",   "canyon",   "glacier",  "volcano",  "island",    "lighthouse", "skyline", "tower",   "window",
    "door",     "staircase", "library", "kitchen",  "bicycle",   "car",      "airplane", "rocket",   "satellite",
    "galaxy",   "nebula",   "moon",     "star",     "cloud",     "rain",     "snow",     "fog",      "storm",
    "rainbow",  "child",    "family",   "wedding",  "concert",   "guitar",   "piano",    "drum",     "dancer",
    "athlete",  "stadium",  "parade",   "protest",  "reflection", "shadow",  "texture",  "pattern",  "abstract",
    "macro",    "panorama", "vintage",  "monochrome", "colorful", "ancient", "modern",   "old",      "new",
    "quiet",    "busy",     "golden",   "blue",     "red",       "green",    "misty",    "frozen",   "wild",
    "urban",    "rural",    "coastal"};

// Tags Openverse drops (spec 1.3): exact denylist and names containing a denylisted substring.
constexpr std::array<const char*, 7> kDenylistedExact{"no person", "squareformat", "by", "uploaded:by=flickrmobile",
                                                      "uploaded:by=instagram", "flickriosapp:filter=flamingo",
                                                      "No Person"};
constexpr std::array<const char*, 8> kDenylistedContains{"cc0 licensed", "by-nc photo", "camera:make=canon",
                                                         "geo:lat=51.5", "pdm image", "by-sa 2.0", "uploaded via app",
                                                         "flickriosapp"};
constexpr std::array<const char*, 6> kImageExtensions{"jpg", "JPEG", "png", "gif", "svg", "jpeg"};

void append_number(std::string& out, std::uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 4);
  out.append(buf, r.ptr);
}

// COPY text-format escaping for one field value; copies runs of plain bytes in one go.
void put(std::string& out, std::string_view value) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c != '\\' && c != '\n' && c != '\r' && c != '\t') continue;
    out.append(value.data() + start, i - start);
    out += '\\';
    out += c == '\\' ? '\\' : (c == '\n' ? 'n' : (c == '\r' ? 'r' : 't'));
    start = i + 1;
  }
  out.append(value.data() + start, value.size() - start);
  out += '\t';
}
void put_null(std::string& out) { out += "\\N\t"; }
void put_number(std::string& out, std::uint64_t v) {
  append_number(out, v);
  out += '\t';
}
void put_bool(std::string& out, bool v) { out += v ? "t\t" : "f\t"; }
void end_row(std::string& out) { out.back() = '\n'; }

void json_string(std::string& out, std::string_view s) {
  out += '"';
  std::size_t start = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '"' && c != '\\' && c != '\n' && c != '\t') continue;
    out.append(s.data() + start, i - start);
    out += '\\';
    out += c == '\n' ? 'n' : (c == '\t' ? 't' : c);
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
  out += '"';
}

template <typename... Args>
void put_format(std::string& out, fmt::format_string<Args...> format, Args&&... args) {
  // For values known to hold no tab, newline or backslash (urls, ids): no escaping pass needed.
  fmt::format_to(std::back_inserter(out), format, std::forward<Args>(args)...);
  out += '\t';
}

void append_uuid(std::string& out, std::uint64_t key) {
  std::uint64_t hi = mix(key ^ 0x1234567ULL);
  std::uint64_t lo = mix(key ^ 0x89abcdefULL);
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[36];
  int pos = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20) buf[pos++] = '-';
    std::uint64_t word = i < 16 ? hi : lo;
    int shift = (15 - (i % 16)) * 4;
    buf[pos++] = kHex[(word >> shift) & 0xf];
  }
  out.append(buf, 36);
}

// Rows on which Openverse's transform does something unusual (docs/documents.md), each kind at a
// fixed place in every kEdgeStride rows from kEdgeOffset on, so that any few hundred rows hold them
// all (tests/e2e compares every one; catalog_generator_test counts them):
//  - a number beyond a double in meta_data (next to mature: true and a description);
//  - meta_data.authority_boost null (no authority, not the provider's), or "inf", true or "4_2"
//    (what Python's float() makes of them: 100, 1.0, 42.0);
//  - a url ending in ".JPÉG" and a license with the Kelvin sign (lower-cased as str.lower() does);
//  - standardized_popularity Infinity (clamped to 100); a description that is a list;
//  - tag accuracies "0.95\n" and "0.5\n" (whitespace trimmed: kept and dropped);
//  - created_on with a fraction of ".5"; audio: duration 0 and an alternative file without a
//    filetype.
enum class EdgeRow {
  kNone,
  kHugeNumber,
  kAuthorityNull,
  kAuthorityPythonFloat,
  kUnicodeExtension,
  kKelvinLicense,
  kInfinitePopularity,
  kDescriptionList,
  kAccuracyWithNewline,
  kCreatedOnFraction,
  kZeroDuration,
  kAltFileWithoutFiletype,
};
constexpr std::uint64_t kEdgeStride = 211;
constexpr std::uint64_t kEdgeOffset = 100;
constexpr std::array<EdgeRow, 9> kImageEdges{
    EdgeRow::kHugeNumber,       EdgeRow::kAuthorityNull,       EdgeRow::kAuthorityPythonFloat,
    EdgeRow::kUnicodeExtension, EdgeRow::kKelvinLicense,       EdgeRow::kInfinitePopularity,
    EdgeRow::kDescriptionList,  EdgeRow::kAccuracyWithNewline, EdgeRow::kCreatedOnFraction};
constexpr std::array<EdgeRow, 9> kAudioEdges{
    EdgeRow::kHugeNumber,         EdgeRow::kAuthorityPythonFloat, EdgeRow::kKelvinLicense,
    EdgeRow::kInfinitePopularity, EdgeRow::kDescriptionList,      EdgeRow::kAccuracyWithNewline,
    EdgeRow::kCreatedOnFraction,  EdgeRow::kZeroDuration,         EdgeRow::kAltFileWithoutFiletype};

template <std::size_t N>
EdgeRow edge_row(const std::array<EdgeRow, N>& edges, std::uint64_t index) {
  const std::uint64_t slot = index % kEdgeStride;
  return slot >= kEdgeOffset && slot - kEdgeOffset < N ? edges[slot - kEdgeOffset] : EdgeRow::kNone;
}

// The meta_data of an edge row of the kinds that shape it, else empty.
std::string edge_meta_data(EdgeRow edge, std::uint64_t index, std::string_view description, std::string_view word) {
  std::string json;
  if (edge == EdgeRow::kHugeNumber) {
    json = R"({"huge": 1e400, "mature": true, "description": )";
    json_string(json, description);
    json += '}';
  } else if (edge == EdgeRow::kAuthorityNull) {
    json = R"({"authority_boost": null, "description": )";
    json_string(json, description);
    json += '}';
  } else if (edge == EdgeRow::kAuthorityPythonFloat) {
    static constexpr std::array<const char*, 3> kValues{R"("inf")", "true", R"("4_2")"};
    json = fmt::format(R"({{"authority_boost": {}}})", kValues[(index / kEdgeStride) % kValues.size()]);
  } else if (edge == EdgeRow::kDescriptionList) {
    json = R"({"description": [)";
    json_string(json, description);
    json += ", ";
    json_string(json, word);
    json += "]}";
  }
  return json;
}

void append_timestamp(std::string& out, Rng& rng, int first_year, int years) {
  fmt::format_to(std::back_inserter(out), "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}+00", first_year + static_cast<int>(rng.below(years)),
                     1 + rng.below(12), 1 + rng.below(28), rng.below(24), rng.below(60), rng.below(60));
}

std::string_view capitalised_case(Rng& rng, std::string_view term, std::string& scratch) {
  // Sensitive terms appear in any case: the filter must match case-insensitively.
  scratch.assign(term);
  double r = rng.uniform();
  if (r < 0.3) {
    for (auto& c : scratch) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  } else if (r < 0.6 && !scratch.empty()) {
    scratch[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(scratch[0])));
  }
  return scratch;
}

std::vector<std::string> parse_terms(std::istream& in) {
  std::vector<std::string> terms;
  std::string line;
  while (std::getline(in, line)) {
    auto hash = line.find('#');
    if (hash != std::string::npos) line.erase(hash);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    std::size_t start = 0;
    while (start < line.size() && std::isspace(static_cast<unsigned char>(line[start]))) ++start;
    if (start < line.size()) terms.push_back(line.substr(start));
  }
  return terms;
}

}  // namespace

std::vector<std::string> load_sensitive_terms(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(fmt::format("cannot read the sensitive terms file {}: check the path", path.string()));
  auto terms = parse_terms(in);
  if (terms.empty()) throw Error(fmt::format("the sensitive terms file {} holds no terms (one per line)", path.string()));
  return terms;
}

std::vector<std::string> default_sensitive_terms() {
  std::istringstream in(kDefaultSensitiveTerms);
  return parse_terms(in);
}

RowGenerator::RowGenerator(std::uint64_t seed, std::vector<std::string> sensitive_terms)
    : seed_(seed), sensitive_terms_(std::move(sensitive_terms)) {
  if (sensitive_terms_.empty()) sensitive_terms_ = default_sensitive_terms();
}

const char* RowGenerator::image_columns() {
  return "identifier, created_on, updated_on, provider, source, foreign_identifier, foreign_landing_url, url, "
         "thumbnail, width, height, filesize, license, license_version, creator, creator_url, title, tags_list, "
         "last_synced_with_source, removed_from_source, meta_data, view_count, tags, watermarked, filetype, "
         "standardized_popularity, category";
}

const char* RowGenerator::audio_columns() {
  return "identifier, created_on, updated_on, foreign_identifier, title, foreign_landing_url, creator, creator_url, "
         "url, filesize, watermarked, license, license_version, provider, source, last_synced_with_source, "
         "removed_from_source, view_count, tags, tags_list, meta_data, audio_set_position, genres, category, "
         "duration, bit_rate, sample_rate, alt_files, thumbnail, filetype, audio_set_foreign_identifier, "
         "standardized_popularity, audio_set";
}

std::string RowGenerator::image_identifier(std::uint64_t index) const {
  std::string out;
  append_uuid(out, row_key(seed_, kImageSalt, index));
  return out;
}

std::string RowGenerator::audio_identifier(std::uint64_t index) const {
  std::string out;
  append_uuid(out, row_key(seed_, kAudioSalt, index));
  return out;
}

bool RowGenerator::is_deleted(bool audio, std::uint64_t index, double fraction) const {
  Rng rng(row_key(seed_, (audio ? kAudioSalt : kImageSalt) ^ 0xde1e7edULL, index));
  return rng.uniform() < fraction;
}

bool RowGenerator::is_mature(bool audio, std::uint64_t index, double fraction) const {
  Rng rng(row_key(seed_, (audio ? kAudioSalt : kImageSalt) ^ 0x3a7023eULL, index));
  return rng.uniform() < fraction;
}

namespace {

// Title: 2-6 words; ~3% carry a sensitive term in any case, ~1% are NULL, a few carry a tab, a
// newline, a backslash or non-ASCII text (COPY escaping and UTF-8 must survive the whole path).
void make_title(Rng& rng, const std::vector<std::string>& terms, std::string& out, std::string& scratch) {
  out.clear();
  int words = 2 + static_cast<int>(rng.below(5));
  int sensitive_at = rng.chance(0.03) ? static_cast<int>(rng.below(static_cast<std::uint64_t>(words))) : -1;
  for (int w = 0; w < words; ++w) {
    if (w) out += ' ';
    if (w == sensitive_at) {
      out += capitalised_case(rng, terms[rng.below(terms.size())], scratch);
    } else {
      std::string_view word = rng.pick(kWords);
      out += word;
      if (w == 0) out[out.size() - word.size()] = static_cast<char>(std::toupper(static_cast<unsigned char>(word[0])));
    }
  }
  double special = rng.uniform();
  if (special < 0.002) out += "\twith a tab";
  else if (special < 0.004) out += "\nsecond line";
  else if (special < 0.006) out += " C:\\photos\\raw";
  else if (special < 0.012) out += " caf\xc3\xa9 \xe2\x80\x93 Z\xc3\xbcrich \xf0\x9f\x93\xb7";
}

void make_description(Rng& rng, const std::vector<std::string>& terms, std::string& out, std::string& scratch) {
  out.clear();
  // ~2% run past the 2000 characters the document keeps (spec 1.5 truncates to [:2000]).
  std::size_t target = rng.chance(0.02) ? 2100 + rng.below(1500) : 40 + rng.below(400);
  bool sensitive = rng.chance(0.01);
  while (out.size() < target) {
    if (!out.empty()) out += ' ';
    if (sensitive && out.size() > target / 2) {
      out += capitalised_case(rng, terms[rng.below(terms.size())], scratch);
      sensitive = false;
    } else {
      out += rng.pick(kWords);
    }
  }
  if (rng.chance(0.05)) out += " \"quoted\" and a back\\slash";
}

// Machine tags whose accuracy strings end in a newline: kept (0.95) and dropped (0.5) once the
// whitespace Python's float() and Elasticsearch both trim is trimmed.
std::string accuracy_with_newline_tags(Rng& rng) {
  std::string json = R"([{"name": )";
  json_string(json, rng.pick(kWords));
  json += R"(, "accuracy": "0.95\n", "provider": "clarifai"}, {"name": )";
  json_string(json, rng.pick(kWords));
  json += R"(, "accuracy": "0.5\n", "provider": "clarifai"}])";
  return json;
}

}  // namespace

void RowGenerator::append_image_row(std::uint64_t index, std::string& out) {
  const std::uint64_t key = row_key(seed_, kImageSalt, index);
  Rng rng(key);
  std::string scratch;
  const EdgeRow edge = edge_row(kImageEdges, index);

  append_uuid(out, key);
  out += '\t';
  append_timestamp(out, rng, 2015, 8);
  if (edge == EdgeRow::kCreatedOnFraction) out.insert(out.size() - 3, ".5");  // before "+00"
  out += '\t';
  append_timestamp(out, rng, 2023, 2);
  out += '\t';
  const char* provider = pick_weighted(rng, kImageProviders);
  std::string_view prov(provider);
  put(out, prov);
  // source usually equals provider; Smithsonian and Flickr have sub-sources, as in Openverse.
  if (prov == "smithsonian") {
    static constexpr std::array<const char*, 3> kUnits{"smithsonian_national_museum_of_natural_history",
                                                       "smithsonian_american_art_museum", "smithsonian_libraries"};
    put(out, rng.pick(kUnits));
  } else if (prov == "flickr" && rng.chance(0.02)) {
    put(out, rng.chance(0.5) ? "nasa" : "spacex");
  } else {
    put(out, prov);
  }
  // foreign_identifier and url embed the row index: unique, as the API's unique indexes require.
  std::string fid = std::to_string(1000000 + index);
  put(out, fid);
  put_format(out, "https://{}.example.org/photos/{}", prov, fid);
  // url extensions: jpg/JPEG/png/gif/svg, none, and a dot in a directory (extension must be None).
  double ext = rng.uniform();
  std::string url;
  if (ext < 0.88) url = fmt::format("https://images.{}.example.org/{}/{}.{}", prov, index % 997, fid, rng.pick(kImageExtensions));
  else if (ext < 0.95) url = fmt::format("https://images.{}.example.org/{}/{}", prov, index % 997, fid);
  else url = fmt::format("https://images.{}.example.org/v1.2/{}/{}", prov, index % 997, fid);
  if (edge == EdgeRow::kUnicodeExtension)
    url = fmt::format("https://images.{}.example.org/{}/{}.JPÉG", prov, index % 997, fid);
  put(out, url);
  if (rng.chance(0.3)) put_null(out);
  else put_format(out, "https://images.{}.example.org/thumb/{}.jpg", prov, fid);
  // Dimensions: ~8% unknown (Openverse had 12.5M images without them), some with only one side.
  double dims = rng.uniform();
  if (dims < 0.08) {
    put_null(out);
    put_null(out);
  } else if (dims < 0.09) {
    put_number(out, 200 + rng.below(4000));
    put_null(out);
  } else {
    static constexpr std::array<std::array<int, 2>, 7> kSizes{
        {{320, 240}, {640, 480}, {1024, 768}, {1600, 900}, {4000, 3000}, {800, 800}, {1080, 1920}}};
    const auto& size = rng.pick(kSizes);
    put_number(out, static_cast<std::uint64_t>(size[0]));
    put_number(out, static_cast<std::uint64_t>(size[1]));
  }
  if (rng.chance(0.2)) put_null(out);
  else put_number(out, 10000 + rng.below(20000000));
  // Licenses in mixed case sometimes (the document lower-cases them).
  std::string license = pick_weighted(rng, kLicenses);
  if (rng.chance(0.03)) {
    for (auto& c : license) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (edge == EdgeRow::kKelvinLicense) license = "BY-\u212A";
  put(out, license);
  std::string_view version = (license == "cc0" || license == "CC0" || license == "pdm" || license == "PDM")
                                 ? "1.0"
                                 : (rng.chance(0.5) ? "2.0" : (rng.chance(0.5) ? "4.0" : "3.0"));
  put(out, version);
  put_format(out, "{} {}", rng.pick(kWords), rng.pick(kWords));
  if (rng.chance(0.4)) put_null(out);
  else put_format(out, "https://{}.example.org/people/{}", prov, rng.below(100000));
  if (rng.chance(0.01)) {
    put_null(out);
  } else {
    make_title(rng, sensitive_terms_, text_, scratch);
    put(out, text_);
  }
  put_null(out);  // tags_list: legacy, always NULL in the catalog
  append_timestamp(out, rng, 2023, 2);
  out += '\t';
  put_bool(out, rng.chance(0.01));  // removed_from_source on ~1%

  // meta_data
  if (rng.chance(0.05)) {
    put_null(out);
  } else {
    json_.clear();
    json_ += '{';
    bool first = true;
    auto key = [&](std::string_view k) {
      if (!first) json_ += ", ";
      first = false;
      json_string(json_, k);
      json_ += ": ";
    };
    if (rng.chance(0.6)) {
      make_description(rng, sensitive_terms_, text_, scratch);
      key("description");
      json_string(json_, text_);
    }
    if (rng.chance(0.5)) {
      key("license_url");
      json_string(json_, fmt::format("https://creativecommons.org/licenses/{}/{}/", license, version));
    }
    double boost = rng.uniform();
    if (boost < 0.015) {
      key("authority_boost");
      append_double(json_, 10.0 + rng.uniform() * 90.0);  // valid
    } else if (boost < 0.020) {
      key("authority_boost");
      json_ += rng.chance(0.5) ? "150" : "-20";  // out of range: clamped to [0,100]
    } else if (boost < 0.025) {
      key("authority_boost");
      json_ += "0";  // zero: becomes None
    } else if (boost < 0.030) {
      key("authority_boost");
      json_string(json_, rng.chance(0.5) ? "abc" : "42");  // bad value, and a numeric string
    }
    if (rng.chance(0.005)) {
      key("mature");
      json_ += "true";
    }
    if (rng.chance(0.3)) {
      key("views");
      append_number(json_, rng.below(100000));
    }
    json_ += '}';
    put(out, json_);
  }
  if (edge != EdgeRow::kNone) {
    // Every other list holds a sensitive term: the filtered index must see into lists too.
    std::string_view word = (index / kEdgeStride) % 2
                                ? std::string_view(sensitive_terms_[index % sensitive_terms_.size()])
                                : std::string_view(rng.pick(kWords));
    if (auto edge_meta = edge_meta_data(edge, index, "Edge row: a quiet lake", word); !edge_meta.empty()) {
      out.resize(out.rfind('\t', out.size() - 2) + 1);  // the meta_data just written gives way
      put(out, edge_meta);
    }
  }
  put_number(out, rng.below(50));  // view_count

  // tags
  double tag_kind = rng.uniform();
  if (tag_kind < 0.08) {
    put_null(out);
  } else if (tag_kind < 0.13) {
    put(out, "[]");
  } else {
    json_.clear();
    json_ += '[';
    int n = 1 + static_cast<int>(rng.below(8));
    bool machine = rng.chance(0.3);
    for (int t = 0; t < n; ++t) {
      if (t) json_ += ", ";
      double kind = rng.uniform();
      if (kind < 0.03) {
        json_ += "{\"name\": ";
        json_string(json_, rng.pick(kDenylistedExact));
        json_ += '}';
      } else if (kind < 0.06) {
        json_ += "{\"name\": ";
        json_string(json_, rng.pick(kDenylistedContains));
        json_ += '}';
      } else if (kind < 0.07) {
        json_ += rng.chance(0.5) ? "{\"accuracy\": 0.99}" : "{\"name\": 42, \"provider\": \"flickr\"}";  // malformed
      } else if (kind < 0.075) {
        json_ += "{\"name\": ";
        json_string(json_, capitalised_case(rng, sensitive_terms_[rng.below(sensitive_terms_.size())], scratch));
        json_ += '}';
      } else if (machine && kind < 0.6) {
        // Machine tags on both sides of the 0.90 confidence cut; rekognition is filtered out entirely.
        json_ += "{\"name\": ";
        json_string(json_, rng.pick(kWords));
        json_ += ", \"accuracy\": ";
        append_double(json_, 0.5 + rng.uniform() * 0.4999);
        json_ += ", \"provider\": ";
        json_string(json_, rng.chance(0.5) ? "clarifai" : "rekognition");
        json_ += '}';
      } else {
        json_ += "{\"name\": ";
        json_string(json_, rng.pick(kWords));
        if (rng.chance(0.3)) json_ += ", \"accuracy\": null";
        json_ += '}';
      }
    }
    json_ += ']';
    put(out, json_);
  }
  if (edge == EdgeRow::kAccuracyWithNewline) {
    out.resize(out.rfind('\t', out.size() - 2) + 1);
    put(out, accuracy_with_newline_tags(rng));
  }
  if (rng.chance(0.5)) put_null(out);
  else put_bool(out, false);  // watermarked
  std::string_view ext_name = std::string_view(url).substr(url.rfind('.') + 1);
  if (ext_name.find('/') != std::string_view::npos) put_null(out);
  else if (ext_name == "JPEG" || ext_name == "jpeg") put(out, "jpg");
  else put(out, ext_name);
  // standardized_popularity: NULL, exactly 0 (no rank feature), and values in (0, 1].
  double pop = rng.uniform();
  if (pop < 0.2) {
    put_null(out);
  } else if (pop < 0.3) {
    put(out, "0");
  } else if (pop < 0.31) {
    put(out, "1");
  } else if (edge == EdgeRow::kInfinitePopularity) {
    put(out, "Infinity");
  } else {
    double v = rng.uniform();
    v = v * v * v;
    if (v <= 0.0) v = 1e-6;
    append_double(out, v);
    out += '\t';
  }
  if (prov == "met" || prov == "smithsonian" || prov == "clevelandmuseum" || prov == "rijksmuseum" ||
      prov == "brooklynmuseum" || prov == "museumsvictoria") {
    put(out, "digitized_artwork");
  } else if (rng.chance(0.3)) {
    put_null(out);
  } else {
    put(out, rng.chance(0.8) ? "photograph" : "illustration");
  }
  end_row(out);
}

void RowGenerator::append_audio_row(std::uint64_t index, std::string& out) {
  const std::uint64_t key = row_key(seed_, kAudioSalt, index);
  Rng rng(key);
  std::string scratch;
  // Tracks come in blocks of 8; ~40% of blocks are albums (audio sets) of one provider, and every
  // track of an album carries the same audio_set object, so audioset_view yields one row per set.
  const std::uint64_t block = index / 8;
  Rng block_rng(row_key(seed_, kAudioSalt ^ 0xb10cULL, block));
  const bool in_set = block_rng.chance(0.4);
  const EdgeRow edge = edge_row(kAudioEdges, index);

  append_uuid(out, key);
  out += '\t';
  append_timestamp(out, rng, 2015, 8);
  if (edge == EdgeRow::kCreatedOnFraction) out.insert(out.size() - 3, ".5");  // before "+00"
  out += '\t';
  append_timestamp(out, rng, 2023, 2);
  out += '\t';
  const char* provider = in_set ? "jamendo" : pick_weighted(rng, kAudioProviders);
  std::string_view prov(provider);
  std::string fid = std::to_string(5000000 + index);
  put(out, fid);
  if (rng.chance(0.01)) {
    put_null(out);
  } else {
    make_title(rng, sensitive_terms_, text_, scratch);
    put(out, text_);
  }
  put_format(out, "https://{}.example.org/track/{}", prov, fid);
  put_format(out, "{} {}", rng.pick(kWords), rng.pick(kWords));
  if (rng.chance(0.4)) put_null(out);
  else put_format(out, "https://{}.example.org/artist/{}", prov, rng.below(50000));
  static constexpr std::array<const char*, 4> kAudioTypes{"mp3", "ogg", "flac", "wav"};
  const char* filetype = rng.chance(0.05) ? nullptr : rng.pick(kAudioTypes);
  put_format(out, "https://audio.{}.example.org/{}/{}.{}", prov, index % 991, fid, filetype ? filetype : "mp3");
  if (rng.chance(0.2)) put_null(out);
  else put_number(out, 100000 + rng.below(50000000));
  if (rng.chance(0.5)) put_null(out);
  else put_bool(out, false);
  std::string license = pick_weighted(rng, kLicenses);
  if (rng.chance(0.03)) {
    for (auto& c : license) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  if (edge == EdgeRow::kKelvinLicense) license = "BY-\u212A";
  put(out, license);
  put(out, (license == "cc0" || license == "pdm") ? "1.0" : "4.0");
  put(out, prov);
  put(out, prov);
  append_timestamp(out, rng, 2023, 2);
  out += '\t';
  put_bool(out, rng.chance(0.01));
  put_number(out, rng.below(50));
  // tags: source tags and a few denylisted/malformed ones; NULL and empty arrays too.
  double tag_kind = rng.uniform();
  if (tag_kind < 0.08) {
    put_null(out);
  } else if (tag_kind < 0.13) {
    put(out, "[]");
  } else {
    json_.assign("[");
    int n = 1 + static_cast<int>(rng.below(6));
    for (int t = 0; t < n; ++t) {
      if (t) json_ += ", ";
      double kind = rng.uniform();
      json_ += "{\"name\": ";
      if (kind < 0.04) json_string(json_, rng.pick(kDenylistedExact));
      else if (kind < 0.07) json_string(json_, rng.pick(kDenylistedContains));
      else if (kind < 0.08) json_ += "null";
      else json_string(json_, rng.pick(kWords));
      json_ += '}';
    }
    json_ += ']';
    put(out, json_);
  }
  if (edge == EdgeRow::kAccuracyWithNewline) {
    out.resize(out.rfind('\t', out.size() - 2) + 1);
    put(out, accuracy_with_newline_tags(rng));
  }
  put_null(out);  // tags_list
  if (rng.chance(0.1)) {
    put_null(out);
  } else {
    json_.assign("{");
    if (rng.chance(0.6)) {
      make_description(rng, sensitive_terms_, text_, scratch);
      json_ += "\"description\": ";
      json_string(json_, text_);
      json_ += ", ";
    }
    if (rng.chance(0.005)) json_ += "\"mature\": true, ";
    json_ += "\"downloads\": ";
    append_number(json_, rng.below(10000));
    json_ += '}';
    put(out, json_);
  }
  if (edge != EdgeRow::kNone) {
    // Every other list holds a sensitive term: the filtered index must see into lists too.
    std::string_view word = (index / kEdgeStride) % 2
                                ? std::string_view(sensitive_terms_[index % sensitive_terms_.size()])
                                : std::string_view(rng.pick(kWords));
    if (auto edge_meta = edge_meta_data(edge, index, "Edge row: a quiet song", word); !edge_meta.empty()) {
      out.resize(out.rfind('\t', out.size() - 2) + 1);  // the meta_data just written gives way
      put(out, edge_meta);
    }
  }
  if (in_set) put_number(out, 1 + index % 8);
  else put_null(out);
  static constexpr std::array<const char*, 6> kGenres{"rock", "pop", "ambient", "jazz", "electronic", "field recording"};
  if (rng.chance(0.3)) put_null(out);
  else put(out, rng.chance(0.5) ? fmt::format("{{{}}}", rng.pick(kGenres)) : fmt::format("{{{},\"{}\"}}", rng.pick(kGenres), kGenres[5]));
  put(out, rng.chance(0.7) ? "music" : (rng.chance(0.5) ? "sound_effect" : "podcast"));
  // duration (ms) across the document's length buckets: <30 s, <2 min, <10 min, longer, unknown.
  double length = rng.uniform();
  if (length < 0.05) put_null(out);
  else if (length < 0.30) put_number(out, 1000 + rng.below(29000));
  else if (length < 0.55) put_number(out, 30000 + rng.below(90000));
  else if (length < 0.85) put_number(out, 120000 + rng.below(480000));
  else put_number(out, 600000 + rng.below(3000000));
  if (edge == EdgeRow::kZeroDuration) {
    out.resize(out.rfind('\t', out.size() - 2) + 1);
    put_number(out, 0);
  }
  if (rng.chance(0.2)) put_null(out);
  else put_number(out, 128000 + 64000 * rng.below(4));
  if (rng.chance(0.2)) put_null(out);
  else put_number(out, rng.chance(0.5) ? 44100 : 48000);
  // alt_files: some rows offer the track in several other formats.
  if (rng.chance(0.7)) {
    put_null(out);
  } else {
    json_.assign("[");
    int n = 1 + static_cast<int>(rng.below(3));
    for (int a = 0; a < n; ++a) {
      if (a) json_ += ", ";
      const char* alt = kAudioTypes[(static_cast<std::size_t>(a) + 1 + rng.below(3)) % kAudioTypes.size()];
      json_ += fmt::format(
          "{{\"url\": \"https://audio.{}.example.org/alt/{}-{}.{}\", \"filesize\": {}, \"filetype\": \"{}\", "
          "\"bit_rate\": {}, \"sample_rate\": 44100}}",
          prov, fid, a, alt, 100000 + rng.below(9000000), alt, 128000 * (1 + rng.below(3)));
    }
    json_ += ']';
    put(out, json_);
  }
  if (edge == EdgeRow::kAltFileWithoutFiletype) {
    out.resize(out.rfind('\t', out.size() - 2) + 1);
    put_format(out,
               R"([{{"url": "https://audio.{0}.example.org/alt/{1}-0.ogg", "filesize": 1000}}, )"
               R"({{"url": "https://audio.{0}.example.org/alt/{1}-1.flac", "filetype": "flac"}}])",
               prov, fid);
  }
  if (rng.chance(0.4)) put_null(out);
  else put_format(out, "https://audio.{}.example.org/cover/{}.jpg", prov, fid);
  if (filetype) put(out, filetype);
  else put_null(out);
  std::string set_fid = fmt::format("album-{}", block);
  if (in_set) put(out, set_fid);
  else put_null(out);
  double pop = rng.uniform();
  if (pop < 0.2) put_null(out);
  else if (pop < 0.3) put(out, "0");
  else if (edge == EdgeRow::kInfinitePopularity)
    put(out, "Infinity");
  else {
    append_double(out, 0.0001 + rng.uniform() * 0.9999);
    out += '\t';
  }
  if (in_set) {
    json_ = fmt::format(
        "{{\"foreign_identifier\": \"{}\", \"title\": \"{} {}\", \"foreign_landing_url\": "
        "\"https://jamendo.example.org/album/{}\", \"creator\": \"{}\", \"creator_url\": "
        "\"https://jamendo.example.org/artist/{}\", \"url\": \"https://jamendo.example.org/album/{}/cover.jpg\", "
        "\"filesize\": {}, \"filetype\": \"jpg\", \"thumbnail\": \"https://jamendo.example.org/album/{}/thumb.jpg\"}}",
        set_fid, kWords[block % kWords.size()], kWords[(block / 7) % kWords.size()], block,
        kWords[(block / 3) % kWords.size()], block % 5000, block, 20000 + block % 100000, block);
    put(out, json_);
  } else {
    put_null(out);
  }
  end_row(out);
}

std::uint64_t image_rows_checksum(RowGenerator& generator, std::uint64_t begin, std::uint64_t end) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  std::string line;
  for (std::uint64_t i = begin; i < end; ++i) {
    line.clear();
    generator.append_image_row(i, line);
    for (unsigned char c : line) hash = (hash ^ c) * 0x100000001b3ULL;
  }
  return hash;
}

std::uint64_t audio_rows_checksum(RowGenerator& generator, std::uint64_t begin, std::uint64_t end) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  std::string line;
  for (std::uint64_t i = begin; i < end; ++i) {
    line.clear();
    generator.append_audio_row(i, line);
    for (unsigned char c : line) hash = (hash ^ c) * 0x100000001b3ULL;
  }
  return hash;
}

}  // namespace datarefresh::datagen
