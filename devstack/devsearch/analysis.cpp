#include "devstack/devsearch/analysis.h"

#include "devstack/devsearch/api_error.h"

namespace datarefresh::devsearch {
namespace {

enum class CharClass { kLetter, kDigit, kIdeographic, kMid, kSeparator };

// Decodes one UTF-8 code point at text[i]; advances i. Invalid bytes decode as U+FFFD.
char32_t decode(std::string_view text, std::size_t& i) {
  auto c = static_cast<unsigned char>(text[i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > text.size()) {
    ++i;
    return 0xFFFD;
  }
  char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
  i += len;
  return cp;
}

void encode(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

CharClass classify(char32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_') return CharClass::kLetter;
  if (cp >= '0' && cp <= '9') return CharClass::kDigit;
  if (cp == '\'' || cp == '.' || cp == ':' || cp == ',' || cp == ';' || cp == 0x2019 || cp == 0x00B7) {
    return CharClass::kMid;
  }
  if (cp < 0x80) return CharClass::kSeparator;
  if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3040 && cp <= 0x30FF)) {
    return CharClass::kIdeographic;
  }
  bool punctuation = (cp >= 0x80 && cp <= 0xBF) || cp == 0xD7 || cp == 0xF7 || (cp >= 0x2000 && cp <= 0x2BFF) ||
                     (cp >= 0x3000 && cp <= 0x303F) || (cp >= 0xFE30 && cp <= 0xFE4F) || cp == 0xFFFD ||
                     (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0x1F000 && cp <= 0x1FAFF);
  return punctuation ? CharClass::kSeparator : CharClass::kLetter;
}

char32_t lower(char32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0x80) return cp;
  if ((cp >= 0xC0 && cp <= 0xDE) && cp != 0xD7) return cp + 32;
  if (cp >= 0x100 && cp <= 0x17F && cp != 0x130 && cp != 0x138 && cp != 0x149 && cp != 0x17F) {
    bool odd_upper = (cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E);
    if (odd_upper) return (cp % 2 == 1) ? cp + 1 : cp;
    return (cp % 2 == 0) ? cp + 1 : cp;
  }
  if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2) return cp + 32;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 32;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 80;
  return cp;
}

const std::set<std::string>& english_stop_words() {
  static const std::set<std::string> words = {"a",    "an",    "and",   "are",  "as",   "at",   "be",   "but",
                                              "by",   "for",   "if",    "in",   "into", "is",   "it",   "no",
                                              "not",  "of",    "on",    "or",   "such", "that", "the",  "their",
                                              "then", "there", "these", "they", "this", "to",   "was",  "will",
                                              "with"};
  return words;
}

bool is_consonant(const std::string& w, std::size_t i) {
  switch (w[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u': return false;
    case 'y': return i == 0 || !is_consonant(w, i - 1);
    default: return true;
  }
}

// Porter's m: the number of vowel-consonant sequences in w[0, end).
int measure(const std::string& w, std::size_t end) {
  int m = 0;
  std::size_t i = 0;
  while (i < end && is_consonant(w, i)) ++i;
  while (i < end) {
    while (i < end && !is_consonant(w, i)) ++i;
    if (i >= end) break;
    while (i < end && is_consonant(w, i)) ++i;
    ++m;
  }
  return m;
}

bool has_vowel(const std::string& w, std::size_t end) {
  for (std::size_t i = 0; i < end; ++i) {
    if (!is_consonant(w, i)) return true;
  }
  return false;
}

bool ends_with(const std::string& w, std::string_view s) {
  return w.size() >= s.size() && w.compare(w.size() - s.size(), s.size(), s) == 0;
}

bool cvc(const std::string& w) {
  std::size_t n = w.size();
  if (n < 3) return false;
  char last = w[n - 1];
  return is_consonant(w, n - 3) && !is_consonant(w, n - 2) && is_consonant(w, n - 1) && last != 'w' && last != 'x' &&
         last != 'y';
}

}  // namespace

std::string porter_light(std::string w) {
  if (w.size() <= 2) return w;
  for (char c : w) {
    if (c < 'a' || c > 'z') return w;  // only plain ASCII words are stemmed
  }
  if (ends_with(w, "sses") || ends_with(w, "ies")) {
    w.resize(w.size() - 2);
  } else if (!ends_with(w, "ss") && ends_with(w, "s")) {
    w.pop_back();
  }
  bool extra = false;
  if (ends_with(w, "eed")) {
    if (measure(w, w.size() - 3) > 0) w.pop_back();
  } else if (ends_with(w, "ed") && has_vowel(w, w.size() - 2)) {
    w.resize(w.size() - 2);
    extra = true;
  } else if (ends_with(w, "ing") && has_vowel(w, w.size() - 3)) {
    w.resize(w.size() - 3);
    extra = true;
  }
  if (extra) {
    if (ends_with(w, "at") || ends_with(w, "bl") || ends_with(w, "iz")) {
      w.push_back('e');
    } else if (w.size() >= 2 && w[w.size() - 1] == w[w.size() - 2] && is_consonant(w, w.size() - 1) &&
               w.back() != 'l' && w.back() != 's' && w.back() != 'z') {
      w.pop_back();
    } else if (measure(w, w.size()) == 1 && cvc(w)) {
      w.push_back('e');
    }
  }
  return w;
}

std::vector<std::string> standard_tokenize(std::string_view text) {
  std::vector<char32_t> cps;
  cps.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) cps.push_back(decode(text, i));
  std::vector<std::string> tokens;
  std::string current;
  CharClass last = CharClass::kSeparator;
  auto flush = [&] {
    if (!current.empty()) tokens.push_back(std::move(current));
    current.clear();
    last = CharClass::kSeparator;
  };
  for (std::size_t i = 0; i < cps.size(); ++i) {
    char32_t cp = cps[i];
    CharClass c = classify(cp);
    switch (c) {
      case CharClass::kLetter:
      case CharClass::kDigit:
        encode(cp, current);
        last = c;
        break;
      case CharClass::kIdeographic:
        flush();
        encode(cp, current);
        flush();
        break;
      case CharClass::kMid: {
        CharClass next = i + 1 < cps.size() ? classify(cps[i + 1]) : CharClass::kSeparator;
        bool letters = last == CharClass::kLetter && next == CharClass::kLetter &&
                       (cp == '\'' || cp == '.' || cp == ':' || cp == 0x2019 || cp == 0x00B7);
        bool digits = last == CharClass::kDigit && next == CharClass::kDigit &&
                      (cp == ',' || cp == '.' || cp == ';' || cp == '\'' || cp == 0x2019);
        if (letters || digits) {
          encode(cp, current);
        } else {
          flush();
        }
        break;
      }
      case CharClass::kSeparator:
        flush();
        break;
    }
  }
  flush();
  return tokens;
}

std::string lowercase(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) encode(lower(decode(text, i)), out);
  return out;
}

Analyzer Analyzer::standard() {
  Analyzer a;
  a.filters.push_back({"lowercase", {}, {}});
  return a;
}

std::vector<std::string> Analyzer::analyze(std::string_view text) const {
  std::vector<std::string> tokens;
  if (tokenizer == "keyword") {
    tokens.emplace_back(text);
  } else if (tokenizer == "whitespace") {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      std::size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i > start) tokens.emplace_back(text.substr(start, i - start));
    }
  } else {
    tokens = standard_tokenize(text);
  }
  std::vector<bool> keyword(tokens.size(), false);  // protected by stemmer_override
  for (const auto& f : filters) {
    std::vector<std::string> out;
    std::vector<bool> out_kw;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string t = tokens[i];
      bool kw = keyword[i];
      if (f.type == "lowercase") {
        t = lowercase(t);
      } else if (f.type == "stop") {
        if (f.words.count(t) > 0) continue;
      } else if (f.type == "possessive") {
        if (ends_with(t, "'s") || ends_with(t, "'S")) {
          t.resize(t.size() - 2);
        } else if (ends_with(t, "\xE2\x80\x99s") || ends_with(t, "\xE2\x80\x99S")) {
          t.resize(t.size() - 4);
        }
      } else if (f.type == "porter") {
        if (!kw) t = porter_light(t);
      } else if (f.type == "override") {
        if (auto it = f.overrides.find(t); it != f.overrides.end()) {
          t = it->second;
          kw = true;
        }
      }
      out.push_back(std::move(t));
      out_kw.push_back(kw);
    }
    tokens = std::move(out);
    keyword = std::move(out_kw);
  }
  return tokens;
}

std::map<std::string, Analyzer> build_analyzers(const nlohmann::json& analysis) {
  std::map<std::string, Analyzer> out;
  out["standard"] = Analyzer::standard();
  Analyzer simple;
  simple.filters.push_back({"lowercase", {}, {}});
  out["simple"] = simple;
  Analyzer whitespace;
  whitespace.tokenizer = "whitespace";
  out["whitespace"] = whitespace;
  Analyzer keyword;
  keyword.tokenizer = "keyword";
  out["keyword"] = keyword;
  Analyzer english;
  english.filters = {{"possessive", {}, {}}, {"lowercase", {}, {}}, {"stop", english_stop_words(), {}}, {"porter", {}, {}}};
  out["english"] = english;
  if (!analysis.is_object() || !analysis.contains("analyzer")) return out;

  const nlohmann::json filters = analysis.value("filter", nlohmann::json::object());
  for (const auto& [name, def] : analysis["analyzer"].items()) {
    Analyzer a;
    a.tokenizer = def.value("tokenizer", "standard");
    if (a.tokenizer != "standard" && a.tokenizer != "whitespace" && a.tokenizer != "keyword") {
      throw api_error(400, "illegal_argument_exception",
                      "failed to find tokenizer under name [" + a.tokenizer + "] for analyzer [" + name + "]");
    }
    auto filter_names = def.value("filter", nlohmann::json::array());
    for (const auto& fn : filter_names) {
      std::string fname = fn.is_string() ? fn.get<std::string>() : fn.dump();
      Analyzer::Filter f;
      if (fname == "lowercase") {
        f.type = "lowercase";
      } else if (fname == "porter_stem") {
        f.type = "porter";
      } else if (filters.contains(fname)) {
        const auto& fd = filters[fname];
        std::string type = fd.value("type", "");
        if (type == "lowercase") {
          f.type = "lowercase";
        } else if (type == "stop") {
          f.type = "stop";
          auto sw = fd.value("stopwords", nlohmann::json("_english_"));
          if (sw.is_string() && sw.get<std::string>() == "_english_") {
            f.words = english_stop_words();
          } else if (sw.is_array()) {
            for (const auto& w : sw) f.words.insert(w.get<std::string>());
          }
        } else if (type == "stemmer") {
          std::string lang = fd.value("language", fd.value("name", "english"));
          f.type = lang == "possessive_english" ? "possessive" : "porter";
        } else if (type == "stemmer_override") {
          f.type = "override";
          for (const auto& rule : fd.value("rules", nlohmann::json::array())) {
            std::string r = rule.get<std::string>();
            auto arrow = r.find("=>");
            if (arrow == std::string::npos) {
              throw illegal_argument("Invalid Keyword override Rule:" + r);
            }
            auto trim = [](std::string s) {
              while (!s.empty() && s.back() == ' ') s.pop_back();
              while (!s.empty() && s.front() == ' ') s.erase(s.begin());
              return s;
            };
            f.overrides[trim(r.substr(0, arrow))] = trim(r.substr(arrow + 2));
          }
        } else {
          continue;  // other filter types: not modelled, tokens pass through
        }
      } else {
        throw illegal_argument("failed to find filter under name [" + fname + "]");
      }
      a.filters.push_back(std::move(f));
    }
    out[name] = std::move(a);
  }
  return out;
}

}  // namespace datarefresh::devsearch
