#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace datarefresh::devsearch {

// The `standard` tokenizer, approximating Unicode word boundaries (UAX #29): runs of letters,
// digits and '_' (and code points >= U+0080 outside the punctuation blocks) form tokens; an
// apostrophe, '.' or ':' between letters and '.' or ',' between digits join; CJK ideographs and
// kana are one token each. Tokens are not lower-cased here.
std::vector<std::string> standard_tokenize(std::string_view text);

// Lower-cases ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic letters.
std::string lowercase(std::string_view text);

// One analyzer: a tokenizer and token filters, built from an index's analysis settings.
// Supported: tokenizers standard / whitespace / keyword; filters lowercase, stop (_english_ or a
// list), stemmer (possessive_english; english and light/minimal variants approximated by Porter
// steps 1a and 1b), stemmer_override (rules "a=>b"). Unknown filters are skipped (documented).
// Immutable after construction; thread-safe.
class Analyzer {
 public:
  Analyzer() = default;
  static Analyzer standard();
  std::vector<std::string> analyze(std::string_view text) const;

  struct Filter {
    std::string type;  // lowercase | stop | possessive | porter | override
    std::set<std::string> words;
    std::map<std::string, std::string> overrides;
  };
  std::string tokenizer = "standard";
  std::vector<Filter> filters;
};

// All analyzers an index can name: the built-ins plus index.analysis.analyzer.* from settings
// (given as the nested "analysis" object). Throws ApiError 400 for an analyzer that names an
// unknown tokenizer or filter.
std::map<std::string, Analyzer> build_analyzers(const nlohmann::json& analysis);

// Porter stemmer steps 1a and 1b (plurals, -ed, -ing): the approximation of `english`.
std::string porter_light(std::string word);

}  // namespace datarefresh::devsearch
