#include "core/config/key_table.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "core/common/cron_schedule.h"
#include "core/config/enum_names.h"

namespace datarefresh::config::detail {

std::string Origin::suffix() const {
  if (from_env()) return fmt::format(" (from {})", env_var);
  if (line > 0) return fmt::format(" (line {})", line);
  return "";
}

void Field::fail(const std::string& message) const { ctx.errors.push_back(path + ": " + message + origin.suffix()); }
void Field::warn(const std::string& message) const { ctx.warnings.push_back(path + ": " + message + origin.suffix()); }

std::string env_var_for(const std::string& path) {
  std::string out = "DATAREFRESH_";
  for (char c : path) {
    out += (c == '.' || c == '-') ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

namespace {

using Check = std::optional<std::string> (*)(const std::string&);

std::string yaml_text(const YAML::Node& node) {
  YAML::Emitter out;
  out.SetMapFormat(YAML::Flow);
  out.SetSeqFormat(YAML::Flow);
  out << node;
  return out.c_str();
}

bool looks_numeric(const std::string& s) {
  if (s.empty()) return false;
  double d = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  return ec == std::errc() && p == s.data() + s.size();
}

// How a value is shown in "got ..." (never used for secrets).
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (looks_numeric(s)) return s;
      return fmt::format("\"{}\"", s.size() > 80 ? s.substr(0, 77) + "..." : s);
    }
    default: return "an undefined value";
  }
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The closest candidate if it is close enough to be a plausible typo.
std::optional<std::string> closest(const std::string& word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = std::numeric_limits<std::size_t>::max();
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  if (best && best_distance <= limit) return best;
  return std::nullopt;
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream ss(path);
  std::string seg;
  while (std::getline(ss, seg, '.')) out.push_back(seg);
  return out;
}

// --- scalar conversions ------------------------------------------------------------------------

bool require_scalar(const Field& f, const std::string& expected) {
  if (f.node.IsScalar()) return true;
  f.fail(fmt::format("expected {}, got {}", expected, describe(f.node)));
  return false;
}

std::string int_description(std::int64_t min, std::int64_t max) {
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min();
  // Bounds only there to fit the C++ type (int) are not worth mentioning.
  if (max >= std::numeric_limits<std::int32_t>::max()) max = std::numeric_limits<std::int64_t>::max();
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  if (min == 1 && max == kMax) return "a positive integer";
  if (min == 0 && max == kMax) return "a non-negative integer";
  if (min != kMin && max != kMax) return fmt::format("an integer between {} and {}", min, max);
  if (min != kMin) return fmt::format("an integer >= {}", min);
  return "an integer";
}

std::optional<std::int64_t> parse_int(const Field& f, std::int64_t min, std::int64_t max) {
  std::string expected = int_description(min, max);
  if (!require_scalar(f, expected)) return std::nullopt;
  const std::string& s = f.node.Scalar();
  std::int64_t v = 0;
  const char* begin = s.data();
  if (!s.empty() && s[0] == '+') ++begin;
  auto [p, ec] = std::from_chars(begin, s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min || v > max) {
    f.fail(fmt::format("expected {}, got {}", expected, describe(f.node)));
    return std::nullopt;
  }
  return v;
}

std::optional<double> parse_number(const Field& f, double min, double max) {
  std::string expected = max == std::numeric_limits<double>::infinity()
                             ? fmt::format("a number >= {}", min)
                             : fmt::format("a number between {} and {}", min, max);
  if (!require_scalar(f, expected)) return std::nullopt;
  const std::string& s = f.node.Scalar();
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v) || v < min || v > max) {
    f.fail(fmt::format("expected {}, got {}", expected, describe(f.node)));
    return std::nullopt;
  }
  return v;
}

std::string format_number(double v) { return fmt::format("{}", v); }

// --- builders ----------------------------------------------------------------------------------

constexpr std::int64_t kNoMax = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kIntMax = std::numeric_limits<std::int32_t>::max();

template <class O, class A>
Key<O> str(std::string path, std::string def, std::string doc, A acc, Check check = nullptr) {
  Key<O> k{.path = std::move(path), .type = "string", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = def.empty() ? "\"\"" : yaml_text(YAML::Node(def));
  k.set = [acc, check](O& o, const Field& f) {
    if (!require_scalar(f, "a string")) return;
    if (check) {
      if (auto problem = check(f.node.Scalar())) return f.fail(*problem);
    }
    acc(o) = f.node.Scalar();
  };
  k.get = [acc](const O& o) { return YAML::Node(acc(o)); };
  return k;
}

template <class O, class A>
Key<O> required_str(std::string path, std::string example, std::string doc, A acc, Check check = nullptr) {
  Key<O> k = str<O>(std::move(path), "", std::move(doc), acc, check);
  k.has_default = false;
  k.default_yaml.clear();
  k.required = true;
  k.example = std::move(example);
  return k;
}

template <class O, class A>
Key<O> integer(std::string path, std::int64_t def, std::int64_t min, std::int64_t max, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "integer", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = std::to_string(def);
  k.set = [acc, min, max](O& o, const Field& f) {
    if (auto v = parse_int(f, min, max)) acc(o) = static_cast<std::remove_cvref_t<decltype(acc(o))>>(*v);
  };
  k.get = [acc](const O& o) { return YAML::Node(static_cast<std::int64_t>(acc(o))); };
  return k;
}

template <class O, class A>
Key<O> number(std::string path, double def, double min, double max, std::string doc, A acc, Check check = nullptr) {
  Key<O> k{.path = std::move(path), .type = "number", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = format_number(def);
  k.set = [acc, min, max, check](O& o, const Field& f) {
    if (auto v = parse_number(f, min, max)) {
      if (check) {
        if (auto problem = check(f.node.Scalar())) return f.fail(*problem);
      }
      acc(o) = *v;
    }
  };
  k.get = [acc](const O& o) { return YAML::Node(format_number(acc(o))); };
  return k;
}

template <class O, class A>
Key<O> boolean(std::string path, bool def, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "boolean", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = def ? "true" : "false";
  k.set = [acc](O& o, const Field& f) {
    if (!require_scalar(f, "true or false")) return;
    std::string s = f.node.Scalar();
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    if (s == "true") acc(o) = true;
    else if (s == "false") acc(o) = false;
    else f.fail(fmt::format("expected true or false, got {}", describe(f.node)));
  };
  k.get = [acc](const O& o) { return YAML::Node(static_cast<bool>(acc(o))); };
  return k;
}

template <class O, class A>
Key<O> duration(std::string path, std::string def, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "duration", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = def;
  k.set = [acc](O& o, const Field& f) {
    constexpr const char* kExpected = "a duration such as \"30s\", \"5m\", \"250ms\" or \"1h30m\"";
    if (!require_scalar(f, kExpected)) return;
    auto d = parse_duration(f.node.Scalar());
    if (!d) return f.fail(fmt::format("expected {}, got {}", kExpected, describe(f.node)));
    acc(o) = *d;
  };
  k.get = [acc](const O& o) { return YAML::Node(format_duration(acc(o))); };
  return k;
}

template <class O, class E, class A>
Key<O> enumeration(std::string path, E def, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "enum", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = std::string(enum_name(def));
  std::vector<std::string> names;
  for (const auto& [value, name] : EnumNames<E>::kValues) names.emplace_back(name);
  k.type = "enum (" + join(names, "|") + ")";
  k.set = [acc, names](O& o, const Field& f) {
    std::string expected = "one of " + join(names, ", ");
    if (!require_scalar(f, expected)) return;
    for (const auto& [value, name] : EnumNames<E>::kValues) {
      if (f.node.Scalar() == name) {
        acc(o) = value;
        return;
      }
    }
    std::string message = fmt::format("expected {}, got {}", expected, describe(f.node));
    if (auto guess = closest(f.node.Scalar(), names)) message += fmt::format("; did you mean {}?", *guess);
    f.fail(message);
  };
  k.get = [acc](const O& o) { return YAML::Node(std::string(enum_name(acc(o)))); };
  return k;
}

std::optional<std::string> read_secret_file(const std::string& file, std::string& out) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return fmt::format("cannot read secret file {}: {}", file, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return std::nullopt;
}

// A secret: {env: VAR}, {file: PATH}, {value: TEXT} (deliberate literal), or a plain literal (accepted
// with a warning). No message ever contains the value.
template <class O, class A>
Key<O> secret(std::string path, bool required, std::string example, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "secret", .doc = std::move(doc)};
  k.secret = true;
  k.required = required;
  k.has_default = !required;
  k.default_yaml = required ? "" : "~";
  k.example = std::move(example);
  k.container = true;
  k.set = [acc, required](O& o, const Field& f) {
    constexpr const char* kForms = "{env: VAR}, {file: PATH} or {value: TEXT}";
    std::string value;
    std::string source;
    if (f.node.IsScalar()) {
      value = f.node.Scalar();
      source = f.origin.from_env() ? "env " + f.origin.env_var : "literal in config";
      if (!f.origin.from_env() && !value.empty()) {
        f.warn("a secret is written as a plain literal in the file; use {env: VAR} or {file: PATH}, "
               "or {value: ...} to keep a literal deliberately");
      }
    } else if (f.node.IsMap()) {
      if (f.node.size() != 1) {
        return f.fail(fmt::format("expected exactly one of {}, got a mapping with {} keys", kForms, f.node.size()));
      }
      auto it = f.node.begin();
      std::string form = it->first.Scalar();
      const YAML::Node arg = it->second;  // a copy: it-> yields a temporary
      if (!arg.IsScalar()) return f.fail(fmt::format("{}: expected a string, got {}", form, describe(arg)));
      if (form == "env") {
        auto var = f.ctx.env.find(arg.Scalar());
        if (var == f.ctx.env.end()) {
          return f.fail(fmt::format("environment variable {} (named by {{env: {}}}) is not set: export it, or "
                                    "point the key at another source",
                                    arg.Scalar(), arg.Scalar()));
        }
        value = var->second;
        source = "env " + arg.Scalar();
      } else if (form == "file") {
        if (auto problem = read_secret_file(arg.Scalar(), value)) return f.fail(*problem + ": fix the path or permissions");
        source = "file " + arg.Scalar();
      } else if (form == "value") {
        value = arg.Scalar();
        source = "literal in config";
      } else {
        std::string message = fmt::format("unknown secret source \"{}\": expected {}", form, kForms);
        if (auto guess = closest(form, {"env", "file", "value"})) message += fmt::format("; did you mean {}?", *guess);
        return f.fail(message);
      }
    } else {
      return f.fail(fmt::format("expected a secret as {}, got {}", kForms, describe(f.node)));
    }
    if (required && value.empty()) {
      return f.fail(fmt::format("is empty ({}): set a non-empty value", source));
    }
    acc(o) = Secret(std::move(value), std::move(source));
  };
  k.get = [acc](const O& o) {
    const Secret& s = acc(o);
    return s.empty() ? YAML::Node(YAML::NodeType::Null) : YAML::Node(std::string(Secret::kRedacted));
  };
  return k;
}

template <class O, class A>
Key<O> string_map(std::string path, std::string doc, A acc) {
  Key<O> k{.path = std::move(path), .type = "map (string -> string)", .doc = std::move(doc)};
  k.has_default = true;
  k.default_yaml = "{}";
  k.container = true;
  k.set = [acc](O& o, const Field& f) {
    if (!f.node.IsMap()) return f.fail(fmt::format("expected a mapping of strings to strings, got {}", describe(f.node)));
    std::map<std::string, std::string> out;
    for (const auto& item : f.node) {
      if (!item.second.IsScalar()) {
        f.ctx.errors.push_back(fmt::format("{}.{}: expected a string, got {}{}", f.path, item.first.Scalar(),
                                           describe(item.second), f.origin.suffix()));
        continue;
      }
      out[item.first.Scalar()] = item.second.Scalar();
    }
    acc(o) = std::move(out);
  };
  k.get = [acc](const O& o) {
    YAML::Node n(YAML::NodeType::Map);
    for (const auto& [key, value] : acc(o)) n[key] = value;
    if (n.size() == 0) n.SetStyle(YAML::EmitterStyle::Flow);
    return n;
  };
  return k;
}

// --- checks ------------------------------------------------------------------------------------

std::optional<std::string> check_identifier(const std::string& s) {
  bool ok = !s.empty() && s.size() <= 48 && (std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_');
  for (char c : s) ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_');
  if (ok) return std::nullopt;
  return fmt::format("\"{}\" is not a safe identifier: use [a-z_][a-z0-9_]*, at most 48 characters", s);
}

std::optional<std::string> check_index_name(const std::string& s) {
  bool ok = !s.empty() && s.size() <= 200 && (std::islower(static_cast<unsigned char>(s[0])) || std::isdigit(static_cast<unsigned char>(s[0])));
  for (char c : s) {
    ok = ok && (std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '-');
  }
  if (ok) return std::nullopt;
  return fmt::format("\"{}\" is not a valid index or alias name: use [a-z0-9][a-z0-9_-]*, at most 200 characters", s);
}

std::optional<std::string> check_index_name_or_empty(const std::string& s) {
  return s.empty() ? std::nullopt : check_index_name(s);
}

std::optional<std::string> check_not_empty(const std::string& s) {
  if (!s.empty()) return std::nullopt;
  return "is empty: set a value";
}

std::optional<std::string> check_slices(const std::string& s) {
  if (s == "auto") return std::nullopt;
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (!s.empty() && ec == std::errc() && p == s.data() + s.size() && v >= 1) return std::nullopt;
  return fmt::format("expected \"auto\" or a positive integer, got \"{}\"", s);
}

std::optional<std::string> check_es_time(const std::string& s) {
  if (s == "-1") return std::nullopt;
  std::size_t i = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  std::string unit = s.substr(i);
  static const std::set<std::string> kUnits = {"d", "h", "m", "s", "ms", "micros", "nanos"};
  if (i > 0 && kUnits.count(unit)) return std::nullopt;
  return fmt::format("expected an Elasticsearch time value such as \"1s\" or \"30s\", or \"-1\" to disable, got \"{}\"", s);
}

std::optional<std::string> check_requests_per_second(const std::string& s) {
  double v = std::stod(s);  // already validated as a number
  if (v == -1 || v > 0) return std::nullopt;
  return fmt::format("expected a positive number, or -1 for unthrottled, got {}", s);
}

std::optional<std::string> check_cron(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return CronSchedule::problem(s);
}

std::optional<std::string> check_url(const std::string& s) {
  if (s.rfind("http://", 0) == 0 || s.rfind("https://", 0) == 0) return std::nullopt;
  return fmt::format("expected an http:// or https:// URL, got \"{}\"", s);
}

#define DR_AT(member) [](auto& o) -> auto& { return o.member; }

}  // namespace

// --- the tables --------------------------------------------------------------------------------

const KeyTable<ExtraTableConfig>& extra_table_keys() {
  using O = ExtraTableConfig;
  static const KeyTable<O> table = [] {
    KeyTable<O> t;
    t.push_back(required_str<O>("upstream", "audioset_view", "Table or view in the upstream database.", DR_AT(upstream), check_identifier));
    t.push_back(required_str<O>("downstream", "audioset", "Table it becomes in the API database.", DR_AT(downstream), check_identifier));
    t.push_back(enumeration<O>("copy", CopyMode::kAdvanced,
                               "advanced: copy with deleted-media filtering and indexes reapplied; basic: plain copy.", DR_AT(copy)));
    for (auto& k : t) k.env_override = false;
    return t;
  }();
  return table;
}

namespace {

void parse_extra_tables(MediaTypeConfig& media, const Field& f) {
  if (f.node.IsNull()) return;
  if (!f.node.IsSequence()) return f.fail(fmt::format("expected a list of {{upstream, downstream, copy}}, got {}", describe(f.node)));
  media.extra_tables.clear();
  for (std::size_t i = 0; i < f.node.size(); ++i) {
    ExtraTableConfig extra;
    parse_object(f.node[i], fmt::format("{}[{}].", f.path, i), extra_table_keys(), extra, f.ctx, false, media.name);
    media.extra_tables.push_back(std::move(extra));
  }
}

YAML::Node dump_extra_tables(const MediaTypeConfig& media) {
  YAML::Node list(YAML::NodeType::Sequence);
  for (const auto& extra : media.extra_tables) {
    YAML::Node item(YAML::NodeType::Map);
    for (const auto& k : extra_table_keys()) item[k.path] = k.get(extra);
    list.push_back(item);
  }
  if (list.size() == 0) list.SetStyle(YAML::EmitterStyle::Flow);
  return list;
}

}  // namespace

const KeyTable<MediaTypeConfig>& media_type_keys() {
  using O = MediaTypeConfig;
  static const KeyTable<O> table = [] {
    KeyTable<O> t;
    auto with_default = [](Key<O> k, std::string def) {
      k.default_yaml = std::move(def);
      return k;
    };
    t.push_back(with_default(str<O>("table", "", "Table name, the same upstream and in the API database.", DR_AT(table), check_identifier), "{name}"));
    t.push_back(with_default(str<O>("index_settings", "", "Index settings and mappings file, relative to refresh.index_settings_dir.",
                                    DR_AT(index_settings), check_not_empty),
                             "{name}.index.json"));
    t.push_back(integer<O>("number_of_shards", 0, 0, 1024, "Primary shards of new indices; 0 = as in the index settings file.",
                           DR_AT(number_of_shards)));
    t.push_back(with_default(str<O>("alias", "", "Alias the API reads, swapped to the new index at promotion.", DR_AT(alias), check_index_name),
                             "{name}"));
    t.push_back(with_default(str<O>("filtered_alias", "", "Alias of the filtered index (sensitive terms removed).",
                                    DR_AT(filtered_alias), check_index_name),
                             "{name}-filtered"));
    t.push_back(str<O>("staging_alias", "",
                       "Alias of the staging sample index (`datarefresh trigger <media> --sample`); empty = "
                       "<alias>-staging.",
                       DR_AT(staging_alias), check_index_name_or_empty));
    t.push_back(str<O>("schedule", "",
                       "When to refresh this media type on its own, as a cron schedule in UTC (e.g. \"0 3 * * 1\" = "
                       "Mondays 03:00); empty = only on request.",
                       DR_AT(schedule), check_cron));
    t.push_back(str<O>("incremental_schedule", "",
                       "When to run an incremental refresh of this media type (only what changed since the last "
                       "completed refresh), as a cron schedule in UTC (e.g. \"0 * * * *\" = hourly); empty = none. "
                       "On a minute that is also a slot of schedule only the full refresh is requested; an "
                       "incremental refresh that cannot run is refused and announced with the reason.",
                       DR_AT(incremental_schedule), check_cron));
    Key<O> extra{.path = "extra_tables", .type = "list of {upstream, downstream, copy}",
                 .doc = "Further tables copied and promoted with this media type."};
    extra.has_default = true;
    extra.default_yaml = "[]";
    extra.container = true;
    extra.env_override = false;
    extra.set = parse_extra_tables;
    extra.get = dump_extra_tables;
    t.push_back(std::move(extra));
    return t;
  }();
  return table;
}

namespace {

constexpr const char* kDefaultMediaTypes =
    "{image: {table: image}, audio: {table: audio, extra_tables: [{upstream: audioset_view, downstream: audioset, copy: basic}]}}";

void parse_media_types(Config& config, const Field& f) {
  if (!f.node.IsMap()) return f.fail(fmt::format("expected a mapping of media type names to settings, got {}", describe(f.node)));
  config.media_types.clear();
  for (const auto& item : f.node) {
    std::string name = item.first.Scalar();
    std::string path = f.path + "." + name;
    if (auto problem = check_identifier(name)) {
      f.ctx.errors.push_back(fmt::format("{}: media type name {}{}", path, *problem, f.origin.suffix()));
      continue;
    }
    if (config.media_types.count(name)) {
      f.ctx.errors.push_back(fmt::format("{}: duplicate key; keep one{}", path, f.origin.suffix()));
      continue;
    }
    MediaTypeConfig media;
    media.name = name;
    parse_object(item.second, path + ".", media_type_keys(), media, f.ctx, !f.origin.from_env(), name);
    config.media_types.emplace(name, std::move(media));
  }
  if (config.media_types.empty()) f.fail("no media type is configured: add at least one, e.g. image: {table: image}");
}

YAML::Node dump_media_types(const Config& config) {
  YAML::Node out(YAML::NodeType::Map);
  for (const auto& [name, media] : config.media_types) {
    YAML::Node m(YAML::NodeType::Map);
    for (const auto& k : media_type_keys()) m[k.path] = k.get(media);
    out[name] = m;
  }
  return out;
}

}  // namespace

const KeyTable<Config>& root_keys() {
  using O = Config;
  static const KeyTable<O> table = [] {
    KeyTable<O> t;
    t.push_back(str<O>("environment", "local", "Scope of the one-refresh-at-a-time lock, e.g. staging or production.",
                       DR_AT(environment), check_identifier));
    t.push_back(enumeration<O>("logging.level", LogLevel::kInfo, "Lowest level written.", DR_AT(logging.level)));
    t.push_back(enumeration<O>("logging.format", LogFormat::kJson, "json: one JSON object per line; text: for terminals.",
                               DR_AT(logging.format)));
    t.push_back(
        duration<O>("service.shutdown_grace", "50s",
                    "Longest a service takes to stop after SIGTERM or SIGINT: running jobs get what the Kafka "
                    "clients' close does not need, closes and flushes are cut short at its end, and past it the "
                    "process exits anyway, leaving what it did not hand back for its consumer group to "
                    "rebalance. Keep it below the pod's terminationGracePeriodSeconds.",
                    DR_AT(service.shutdown_grace)));

    t.push_back(required_str<O>("kafka.bootstrap_servers", "kafka-0:9092,kafka-1:9092", "Kafka brokers, host:port separated by commas.",
                                DR_AT(kafka.bootstrap_servers), check_not_empty));
    t.push_back(str<O>("kafka.client_id", "datarefresh", "client.id of every Kafka client.", DR_AT(kafka.client_id), check_not_empty));
    t.push_back(str<O>("kafka.topic_prefix", "datarefresh.", "Prefix of the five topic names (requests, refresh-jobs, ...).",
                       DR_AT(kafka.topic_prefix)));
    t.push_back(enumeration<O>("kafka.security_protocol", SecurityProtocol::kPlaintext, "security.protocol.",
                               DR_AT(kafka.security_protocol)));
    t.push_back(enumeration<O>("kafka.sasl_mechanism", SaslMechanism::kPlain, "sasl.mechanism, used with the sasl_* protocols.",
                               DR_AT(kafka.sasl_mechanism)));
    t.push_back(str<O>("kafka.sasl_username", "", "sasl.username; required with the sasl_* protocols.", DR_AT(kafka.sasl_username)));
    t.push_back(secret<O>("kafka.sasl_password", false, "", "sasl.password; required with the sasl_* protocols.",
                          DR_AT(kafka.sasl_password)));
    t.push_back(str<O>("kafka.ssl_ca_location", "", "ssl.ca.location: CA bundle for ssl/sasl_ssl; empty = system default.",
                       DR_AT(kafka.ssl_ca_location)));
    t.push_back(string_map<O>("kafka.properties", "Extra librdkafka properties, passed through as-is (they win over the above).",
                              DR_AT(kafka.properties)));
    struct TopicKey {
      const char* name;
      TopicConfig TopicsConfig::*member;
      int partitions;
    };
    for (auto [name, member, partitions] : {TopicKey{"requests", &TopicsConfig::requests, 1}, TopicKey{"refresh_jobs", &TopicsConfig::refresh_jobs, 1},
                                            TopicKey{"shard_jobs", &TopicsConfig::shard_jobs, 12}, TopicKey{"events", &TopicsConfig::events, 3},
                                            TopicKey{"dead_letter", &TopicsConfig::dead_letter, 1}}) {
      std::string base = std::string("kafka.topics.") + name;
      auto partitions_key = integer<O>(base + ".partitions", partitions, 1, kIntMax,
                                       name == std::string("shard_jobs") ? "Partitions; caps how many indexers work at once."
                                                                         : "Partitions when datarefresh creates the topic.",
                                       [member](auto& o) -> auto& { return (o.kafka.topics.*member).partitions; });
      auto replication_key = integer<O>(base + ".replication_factor", 3, 1, kIntMax, "Replication factor when datarefresh creates the topic.",
                                        [member](auto& o) -> auto& { return (o.kafka.topics.*member).replication_factor; });
      t.push_back(std::move(partitions_key));
      t.push_back(std::move(replication_key));
    }
    t.push_back(duration<O>("kafka.consumer.session_timeout", "30s", "session.timeout.ms.", DR_AT(kafka.consumer.session_timeout)));
    t.push_back(duration<O>("kafka.consumer.lag_interval", "15s",
                            "How often consumers publish their lag (datarefresh_kafka_consumer_lag_messages, from "
                            "librdkafka statistics); 0 = off.",
                            DR_AT(kafka.consumer.lag_interval)));
    t.push_back(duration<O>("kafka.consumer.max_poll_interval", "5m", "max.poll.interval.ms: longest gap between polls before the group evicts a consumer.",
                            DR_AT(kafka.consumer.max_poll_interval)));
    t.push_back(duration<O>("kafka.consumer.stall_timeout", "30s",
                            "A partition quiet this long is checked; if a message past its committed offset still "
                            "waits undelivered this long later, it is fetched again from there (a client-side "
                            "stall); 0 = off.",
                            DR_AT(kafka.consumer.stall_timeout)));
    t.push_back(enumeration<O>("kafka.consumer.assignment_strategy", AssignmentStrategy::kCooperativeSticky,
                               "partition.assignment.strategy.", DR_AT(kafka.consumer.assignment_strategy)));
    t.push_back(duration<O>("kafka.producer.linger", "5ms", "linger.ms.", DR_AT(kafka.producer.linger)));
    t.push_back(duration<O>("kafka.producer.delivery_timeout", "2m", "delivery.timeout.ms: a message not acknowledged by then fails.",
                            DR_AT(kafka.producer.delivery_timeout)));

    t.push_back(secret<O>("postgres.api.dsn", true, "{env: API_DATABASE_URL}",
                          "libpq connection string of the API database (the ledger lives in its schema datarefresh).",
                          DR_AT(postgres.api.dsn)));
    t.push_back(secret<O>("postgres.upstream.dsn", true, "{env: UPSTREAM_DATABASE_URL}",
                          "libpq connection string of the upstream catalog database (counts and checks).", DR_AT(postgres.upstream.dsn)));
    t.push_back(str<O>("postgres.fdw.host", "", "Upstream host as seen from the API database server (postgres_fdw).", DR_AT(postgres.fdw.host)));
    t.push_back(integer<O>("postgres.fdw.port", 5432, 1, 65535, "Upstream port as seen from the API database server.", DR_AT(postgres.fdw.port)));
    t.push_back(str<O>("postgres.fdw.dbname", "", "Upstream database name for postgres_fdw.", DR_AT(postgres.fdw.dbname)));
    t.push_back(str<O>("postgres.fdw.user", "", "Upstream user for the postgres_fdw user mapping.", DR_AT(postgres.fdw.user)));
    t.push_back(secret<O>("postgres.fdw.password", false, "", "Upstream password for the postgres_fdw user mapping.", DR_AT(postgres.fdw.password)));
    t.push_back(duration<O>("postgres.connect_timeout", "10s", "Timeout of one connection attempt.", DR_AT(postgres.connect_timeout)));
    t.push_back(integer<O>("postgres.connect_attempts", 10, 1, 1000, "Connection attempts (with backoff) before giving up.",
                           DR_AT(postgres.connect_attempts)));
    t.push_back(duration<O>("postgres.statement_timeout", "0s", "statement_timeout of our sessions; 0s = none.", DR_AT(postgres.statement_timeout)));
    t.push_back(duration<O>("postgres.lock_timeout", "10s", "lock_timeout for DDL (promotion), so a busy table fails fast instead of blocking the API.",
                            DR_AT(postgres.lock_timeout)));
    t.push_back(duration<O>("postgres.copy_timeout", "12h", "Longest any one statement of the upstream copy may take (each part's INSERT ... SELECT, the primary key).", DR_AT(postgres.copy_timeout)));

    t.push_back(required_str<O>("search.url", "http://elasticsearch:9200", "Elasticsearch/OpenSearch base URL.", DR_AT(search.url), check_url));
    t.push_back(str<O>("search.username", "", "Basic-auth user; empty = none.", DR_AT(search.username)));
    t.push_back(secret<O>("search.password", false, "", "Basic-auth password.", DR_AT(search.password)));
    t.push_back(secret<O>("search.api_key", false, "", "API key (Authorization: ApiKey), instead of basic auth.", DR_AT(search.api_key)));
    t.push_back(boolean<O>("search.tls_verify", true, "Verify the server certificate for https.", DR_AT(search.tls_verify)));
    t.push_back(str<O>("search.ca_file", "", "CA bundle for https; empty = system default.", DR_AT(search.ca_file)));
    t.push_back(duration<O>("search.connect_timeout", "10s", "TCP/TLS connect timeout.", DR_AT(search.connect_timeout)));
    t.push_back(duration<O>("search.request_timeout", "2m", "Timeout of one request.", DR_AT(search.request_timeout)));
    t.push_back(integer<O>("search.replicas_after_load", 1, 0, 100, "number_of_replicas restored after loading.", DR_AT(search.replicas_after_load)));
    t.push_back(str<O>("search.refresh_interval_after_load", "1s", "refresh_interval restored after loading (-1 = off).",
                       DR_AT(search.refresh_interval_after_load), check_es_time));
    t.push_back(duration<O>("search.health_timeout", "12h", "Longest wait for a new index to turn green.", DR_AT(search.health_timeout)));
    t.push_back(integer<O>("search.bulk.max_bytes", 8388608, 1024, kNoMax, "Largest _bulk request body in bytes.", DR_AT(search.bulk.max_bytes)));
    t.push_back(integer<O>("search.bulk.max_docs", 5000, 1, kIntMax, "Most documents in one _bulk request.", DR_AT(search.bulk.max_docs)));
    t.push_back(integer<O>("search.bulk.concurrency", 4, 1, 256, "_bulk requests in flight per shard.", DR_AT(search.bulk.concurrency)));
    t.push_back(duration<O>("search.bulk.backoff_initial", "500ms", "First retry delay (exponential, jittered).", DR_AT(search.bulk.backoff_initial)));
    t.push_back(duration<O>("search.bulk.backoff_max", "60s", "Largest retry delay.", DR_AT(search.bulk.backoff_max)));
    t.push_back(duration<O>("search.bulk.deadline", "30m", "Longest a batch may keep retrying before the shard fails.", DR_AT(search.bulk.deadline)));

    t.push_back(enumeration<O>("refresh.lock_scope", LockScope::kEnvironment,
                               "environment: one refresh at a time per environment; media_type: one per media type.", DR_AT(refresh.lock_scope)));
    t.push_back(integer<O>("refresh.rows_per_shard", 200000, 1, kNoMax, "Target rows per shard job.", DR_AT(refresh.rows_per_shard)));
    t.push_back(integer<O>("refresh.row_limit", 0, 0, kNoMax, "Copy at most this many rows (tests, staging); 0 = no limit.", DR_AT(refresh.row_limit)));
    t.push_back(integer<O>("refresh.max_shard_attempts", 3, 1, 100, "Attempts per shard before the refresh fails.", DR_AT(refresh.max_shard_attempts)));
    t.push_back(duration<O>("refresh.shard_stall_timeout", "10m", "A shard without progress for this long is re-published.",
                            DR_AT(refresh.shard_stall_timeout)));
    t.push_back(duration<O>("refresh.shard_unclaimed_timeout", "30m",
                            "A refresh fails when its shard jobs have waited this long with no indexer consuming any "
                            "(no committed offset of the shard-jobs group moved, no shard started or progressed); jobs "
                            "queued behind others that are being consumed wait as long as it takes.",
                            DR_AT(refresh.shard_unclaimed_timeout)));
    t.push_back(duration<O>("refresh.leftover_sweep_interval", "30s",
                            "How often the coordinator removes what no running refresh owns (orphaned indices, temp "
                            "tables, FDW objects).",
                            DR_AT(refresh.leftover_sweep_interval)));
    t.push_back(duration<O>("refresh.keep_previous", "0s",
                            "How long the previous generation (main and filtered indices, and what restores the "
                            "previous table) is kept after a promotion, so that `datarefresh rollback` can bring it "
                            "back at once; the sweeper deletes it when the time is up. 0 = delete it at promotion.",
                            DR_AT(refresh.keep_previous)));
    t.push_back(duration<O>("refresh.transient_retry_deadline", "10m",
                            "How long the planner and coordinator retry a step that fails transiently (database or "
                            "search engine unreachable) before the refresh fails and is rolled back.",
                            DR_AT(refresh.transient_retry_deadline)));
    t.push_back(duration<O>("refresh.schedule_misfire_grace", "1h",
                            "A scheduled refresh missed while the planner was down is still requested when the planner "
                            "starts within this long after its time.",
                            DR_AT(refresh.schedule_misfire_grace)));
    t.push_back(duration<O>("refresh.progress_interval", "5s", "How often indexers publish shard progress.", DR_AT(refresh.progress_interval)));
    t.push_back(integer<O>("refresh.copy_parallelism", 2, 1, 64,
                           "Sessions the copy of a media table is split across, by ranges of upstream identifiers "
                           "(each scans the upstream table for its range; PostgreSQL's synchronized scans share the reads).",
                           DR_AT(refresh.copy_parallelism)));
    t.push_back(number<O>("refresh.dead_letter_budget", 0.0, 0.0, 1.0,
                          "Fraction of documents that may be dead-lettered before the refresh fails (0 = none).",
                          DR_AT(refresh.dead_letter_budget)));
    t.push_back(str<O>("refresh.sensitive_terms_file", "config/sensitive_terms.txt", "Sensitive terms, one per line (filtered index).",
                       DR_AT(refresh.sensitive_terms_file)));
    t.push_back(boolean<O>("refresh.filtered_index.enabled", true, "Build the filtered index and swap its alias.",
                           DR_AT(refresh.filtered_index.enabled)));
    t.push_back(number<O>("refresh.filtered_index.requests_per_second", 20000, -1, std::numeric_limits<double>::infinity(),
                          "_reindex throttle; -1 = unthrottled (pins the cluster's CPU).", DR_AT(refresh.filtered_index.requests_per_second),
                          check_requests_per_second));
    t.push_back(str<O>("refresh.filtered_index.slices", "auto", "_reindex slices: auto or a positive integer.",
                       DR_AT(refresh.filtered_index.slices), check_slices));
    t.push_back(duration<O>("refresh.incremental.overlap", "1h",
                            "How far before the watermark (the upstream clock when the last completed refresh began "
                            "its copy) an incremental refresh looks for rows with a newer updated_on, to catch rows "
                            "written by upstream transactions that were still open then.",
                            DR_AT(refresh.incremental.overlap)));
    t.push_back(str<O>("refresh.index_settings_dir", "schemas", "Directory of the <media>.index.json files.", DR_AT(refresh.index_settings_dir),
                       check_not_empty));

    Key<O> media{.path = "media_types",
                 .type = "map (name -> media type)",
                 .doc =
                     "Media types; each: table, index_settings, number_of_shards, alias, filtered_alias, "
                     "staging_alias, schedule, "
                     "incremental_schedule, extra_tables."};
    media.has_default = true;
    media.default_yaml = kDefaultMediaTypes;
    media.container = true;
    media.set = parse_media_types;
    media.get = dump_media_types;
    t.push_back(std::move(media));

    t.push_back(str<O>("http.metrics_bind", "127.0.0.1", "Address of /metrics, /healthz, /readyz.", DR_AT(http.metrics_bind), check_not_empty));
    t.push_back(integer<O>("http.metrics_port", 9464, 0, 65535, "Port of /metrics; 0 = any free port.", DR_AT(http.metrics_port)));
    t.push_back(str<O>("http.api_bind", "127.0.0.1", "Address of the planner's HTTP API.", DR_AT(http.api_bind), check_not_empty));
    t.push_back(integer<O>("http.api_port", 8080, 0, 65535, "Port of the planner's HTTP API; 0 = any free port.", DR_AT(http.api_port)));
    t.push_back(secret<O>("http.token", false, "", "Bearer token for the HTTP endpoints; required when a bind address is not loopback.",
                          DR_AT(http.token)));

    t.push_back(integer<O>("indexer.concurrency", 1, 1, 64, "Shards one indexer process works on at once.", DR_AT(indexer.concurrency)));
    t.push_back(str<O>("indexer.worker_id", "", "Name in shard events; empty = the host name.", DR_AT(indexer.worker_id)));

    t.push_back(secret<O>("notify.slack_webhook", false, "", "Slack incoming-webhook URL; unset = no notifications.", DR_AT(notify.slack_webhook)));
    t.push_back(enumeration<O>("notify.level", NotifyLevel::kInfo,
                               "Lowest level notified: verbose (every phase), info (started, completed, failed, "
                               "refused), error (failed only).",
                               DR_AT(notify.level)));
    t.push_back(duration<O>("notify.timeout", "10s", "Longest wait for the webhook to answer one post.", DR_AT(notify.timeout)));
    t.push_back(integer<O>("notify.attempts", 3, 1, 20,
                           "Posts of one notification before it is given up (logged, never affecting the refresh).",
                           DR_AT(notify.attempts)));
    return t;
  }();
  return table;
}

// --- the generic parser ------------------------------------------------------------------------

namespace {

// Looks a dotted path up in a mapping; an undefined node if any step is missing or not a mapping.
// Only const access: a non-const operator[] would insert the key into the document.
YAML::Node find_path(const YAML::Node& node, const std::vector<std::string>& segments, std::size_t i = 0) {
  if (i == segments.size()) return node;
  if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  const YAML::Node next = node[segments[i]];
  if (!next.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
  return find_path(next, segments, i + 1);
}

int line_of(const YAML::Node& node) {
  if (!node.IsDefined()) return 0;
  YAML::Mark mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

// Reports keys of `node` that are neither keys of the table nor objects containing some.
// Keys earlier releases had: a file that still sets one loads, with a warning saying why it went.
const std::map<std::string, std::string>& retired_keys() {
  static const std::map<std::string, std::string> keys = {
      {"search.bulk.max_retries",
       "a transient refusal (429, 5xx, the engine unreachable, an index block) is retried until "
       "search.bulk.deadline, so that an outage costs time, not shard attempts"},
  };
  return keys;
}

template <class O>
void check_unknown_keys(const YAML::Node& node, const std::string& rel, const std::string& prefix, const KeyTable<O>& table,
                        LoadContext& ctx) {
  if (!node.IsMap()) {
    if (!node.IsNull()) {
      ctx.errors.push_back(fmt::format("{}: expected a mapping, got {}{}", prefix + rel, describe(node),
                                       Origin{.line = line_of(node)}.suffix()));
    }
    return;
  }
  std::set<std::string> children;  // names valid directly under rel
  std::set<std::string> objects;   // of which are objects (prefixes of longer keys)
  for (const auto& k : table) {
    if (k.path.rfind(rel, 0) != 0) continue;
    std::string rest = k.path.substr(rel.size());
    auto dot = rest.find('.');
    children.insert(rest.substr(0, dot));
    if (dot != std::string::npos) objects.insert(rest.substr(0, dot));
  }
  std::set<std::string> seen;
  for (const auto& item : node) {
    std::string key = item.first.IsScalar() ? item.first.Scalar() : yaml_text(item.first);
    if (!seen.insert(key).second) {
      // yaml-cpp keeps one of the two silently; which one the user meant is unknowable.
      ctx.errors.push_back(fmt::format("{}{}: duplicate key; keep one{}", prefix + rel, key, Origin{.line = line_of(item.first)}.suffix()));
      continue;
    }
    if (objects.count(key)) {
      check_unknown_keys(item.second, rel + key + ".", prefix, table, ctx);
    } else if (auto retired = retired_keys().find(prefix + rel + key); retired != retired_keys().end()) {
      ctx.warnings.push_back(fmt::format("{}{}: no longer used ({}); remove it{}", prefix + rel, key, retired->second,
                                         Origin{.line = line_of(item.first)}.suffix()));
    } else if (!children.count(key)) {
      std::string message = fmt::format("{}{}: unknown key", prefix + rel, key);
      if (auto guess = closest(key, {children.begin(), children.end()})) {
        message += fmt::format("; did you mean {}{}?", prefix + rel, *guess);
      } else {
        message += fmt::format("; valid keys here: {}", join({children.begin(), children.end()}, ", "));
      }
      ctx.errors.push_back(message + Origin{.line = line_of(item.first)}.suffix());
    }
  }
}

std::string substitute_name(std::string text, const std::string& name) {
  for (auto pos = text.find("{name}"); pos != std::string::npos; pos = text.find("{name}", pos + name.size())) {
    text.replace(pos, 6, name);
  }
  return text;
}

}  // namespace

template <class O>
void parse_object(const YAML::Node& node, const std::string& prefix, const KeyTable<O>& table, O& out, LoadContext& ctx,
                  bool with_env, const std::string& name) {
  check_unknown_keys(node, "", prefix, table, ctx);
  for (const auto& key : table) {
    std::string path = prefix + key.path;
    Origin origin;
    YAML::Node value(YAML::NodeType::Undefined);
    std::string env_var = env_var_for(path);
    auto env_it = (with_env && key.env_override) ? ctx.env.find(env_var) : ctx.env.end();
    if (env_it != ctx.env.end()) {
      origin.env_var = env_var;
      if (key.container && !key.secret) {
        try {
          value.reset(YAML::Load(env_it->second));
        } catch (const YAML::Exception& e) {
          ctx.errors.push_back(fmt::format("{}: the value of {} is not valid YAML ({}): write it as {{k: v, ...}}", path, env_var, e.msg));
          continue;
        }
      } else {
        value.reset(YAML::Node(env_it->second));
      }
    } else {
      value.reset(find_path(node, split_path(key.path)));
      origin.line = line_of(value);
    }
    bool missing = !value.IsDefined() || value.IsNull();
    if (missing && key.required) {
      if (with_env && key.env_override) {
        ctx.errors.push_back(fmt::format("{} is required: set it in the config file{} or {}", path,
                                         key.secret ? " as {env: VAR} or {file: PATH}," : "", env_var));
      } else {
        ctx.errors.push_back(fmt::format("{} is required: set it in the config file", path));
      }
      continue;
    }
    if (missing && !key.has_default) continue;
    if (missing) {
      if (key.default_yaml == "~") continue;
      YAML::Node def = YAML::Load(substitute_name(key.default_yaml, name));
      key.set(out, Field{def, path, Origin{}, ctx});
      continue;
    }
    key.set(out, Field{value, path, origin, ctx});
  }
}

template void parse_object<Config>(const YAML::Node&, const std::string&, const KeyTable<Config>&, Config&, LoadContext&, bool,
                                   const std::string&);
template void parse_object<MediaTypeConfig>(const YAML::Node&, const std::string&, const KeyTable<MediaTypeConfig>&, MediaTypeConfig&,
                                            LoadContext&, bool, const std::string&);
template void parse_object<ExtraTableConfig>(const YAML::Node&, const std::string&, const KeyTable<ExtraTableConfig>&, ExtraTableConfig&,
                                             LoadContext&, bool, const std::string&);

}  // namespace datarefresh::config::detail
