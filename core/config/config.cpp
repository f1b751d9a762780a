#include "core/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/common/net.h"
#include "core/config/enum_names.h"
#include "core/config/key_table.h"

extern char** environ;

namespace datarefresh::config {

std::string_view to_string(LogLevel v) { return detail::enum_name(v); }
std::string_view to_string(LogFormat v) { return detail::enum_name(v); }
std::string_view to_string(SecurityProtocol v) { return detail::enum_name(v); }
std::string_view to_string(SaslMechanism v) { return detail::enum_name(v); }
std::string_view to_string(AssignmentStrategy v) { return detail::enum_name(v); }
std::string_view to_string(LockScope v) { return detail::enum_name(v); }
std::string_view to_string(CopyMode v) { return detail::enum_name(v); }
std::string_view to_string(NotifyLevel v) { return detail::enum_name(v); }

std::string_view topic_suffix(Topic topic) {
  switch (topic) {
    case Topic::kRequests: return "requests";
    case Topic::kRefreshJobs: return "refresh-jobs";
    case Topic::kShardJobs: return "shard-jobs";
    case Topic::kEvents: return "events";
    case Topic::kDeadLetter: return "dead-letter";
  }
  throw InvariantError("topic_suffix: unknown Topic value");
}

const TopicConfig& TopicsConfig::get(Topic topic) const {
  switch (topic) {
    case Topic::kRequests: return requests;
    case Topic::kRefreshJobs: return refresh_jobs;
    case Topic::kShardJobs: return shard_jobs;
    case Topic::kEvents: return events;
    case Topic::kDeadLetter: return dead_letter;
  }
  throw InvariantError("TopicsConfig::get: unknown Topic value");
}

std::string KafkaConfig::topic_name(Topic topic) const { return topic_prefix + std::string(topic_suffix(topic)); }

const MediaTypeConfig& Config::media_type(std::string_view name) const {
  auto it = media_types.find(std::string(name));
  if (it != media_types.end()) return it->second;
  std::string known;
  for (const auto& [n, m] : media_types) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError(fmt::format("media type \"{}\" is not configured (configured: {}): add it under media_types", name, known));
}

Environment process_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

namespace {

std::string describe_problems(const std::string& source, const std::vector<std::string>& problems) {
  std::string out = fmt::format("invalid configuration in {} ({} problem{}):", source, problems.size(), problems.size() == 1 ? "" : "s");
  for (const auto& p : problems) out += "\n  " + p;
  return out;
}

// Rules that involve more than one key; each message names every key involved.
void check_cross_key_rules(const Config& c, detail::LoadContext& ctx) {
  for (const auto& [key, bind] : {std::pair{"http.metrics_bind", &c.http.metrics_bind}, std::pair{"http.api_bind", &c.http.api_bind}}) {
    if (!is_loopback_host(*bind) && c.http.token.empty()) {
      ctx.errors.push_back(fmt::format("http.token is required because {} is {} (not loopback): set http.token as {{env: VAR}} or "
                                       "{{file: PATH}}, or bind {} to 127.0.0.1",
                                       key, *bind, key));
    }
  }
  bool sasl = c.kafka.security_protocol == SecurityProtocol::kSaslPlaintext || c.kafka.security_protocol == SecurityProtocol::kSaslSsl;
  if (sasl && c.kafka.sasl_username.empty()) {
    ctx.errors.push_back(fmt::format("kafka.sasl_username is required because kafka.security_protocol is {}: set it, or use plaintext/ssl",
                                     to_string(c.kafka.security_protocol)));
  }
  if (sasl && c.kafka.sasl_password.empty()) {
    ctx.errors.push_back(fmt::format("kafka.sasl_password is required because kafka.security_protocol is {}: set it as {{env: VAR}} or "
                                     "{{file: PATH}}",
                                     to_string(c.kafka.security_protocol)));
  }
  if (c.service.shutdown_grace < std::chrono::seconds(1)) {
    ctx.errors.push_back(
        fmt::format("service.shutdown_grace ({}) is under 1s, too short to hand anything back: use at least 1s "
                    "(the default is 50s)",
                    format_duration(c.service.shutdown_grace)));
  }
  if (c.search.bulk.backoff_initial > c.search.bulk.backoff_max) {
    ctx.errors.push_back(fmt::format("search.bulk.backoff_initial ({}) is larger than search.bulk.backoff_max ({}): lower the first or raise the second",
                                     format_duration(c.search.bulk.backoff_initial), format_duration(c.search.bulk.backoff_max)));
  }
  std::map<std::string, std::string> aliases;  // alias -> key that uses it
  for (const auto& [name, media] : c.media_types) {
    const std::string staging = media.staging_alias_name();
    for (const auto& [field, alias] :
         {std::pair{"alias", &media.alias}, std::pair{"filtered_alias", &media.filtered_alias},
          std::pair{"staging_alias", &staging}}) {
      std::string key = fmt::format("media_types.{}.{}", name, field);
      auto [it, inserted] = aliases.emplace(*alias, key);
      if (!inserted) {
        ctx.errors.push_back(fmt::format("{} and {} are both \"{}\": every alias must be distinct", it->second, key, *alias));
      }
    }
  }
}

Config load_document(const YAML::Node& root, const Environment& env, Warnings* warnings, const std::string& source) {
  detail::LoadContext ctx{env, {}, {}};
  Config config;
  if (!root.IsMap() && !root.IsNull()) {
    throw InvalidConfig(source, {"the top level must be a mapping of keys (environment, kafka, postgres, ...)"});
  }
  detail::parse_object(root, "", detail::root_keys(), config, ctx, true, "");
  check_cross_key_rules(config, ctx);
  if (!ctx.errors.empty()) throw InvalidConfig(source, std::move(ctx.errors));
  if (warnings) *warnings = std::move(ctx.warnings);
  return config;
}

YAML::Node parse_yaml(std::string_view text, const std::string& source) {
  try {
    return YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    throw InvalidConfig(source, {fmt::format("YAML syntax error at line {}, column {}: {}: fix the file", e.mark.line + 1,
                                             e.mark.column + 1, e.msg)});
  }
}

}  // namespace

InvalidConfig::InvalidConfig(std::string source, std::vector<std::string> problems)
    : ConfigError(describe_problems(source, problems)), source_(std::move(source)), problems_(std::move(problems)) {}

Config load_config(const std::filesystem::path& path, const Environment& env, Warnings* warnings) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format("cannot read config file {}: {}: check the path", path.string(), std::strerror(errno)));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_document(parse_yaml(text.str(), path.string()), env, warnings, path.string());
}

Config load_config_from_string(std::string_view yaml, const Environment& env, Warnings* warnings, std::string_view source) {
  return load_document(parse_yaml(yaml, std::string(source)), env, warnings, std::string(source));
}

namespace {

void set_path(YAML::Node root, const std::string& path, const YAML::Node& value) {
  std::vector<std::string> segments;
  std::stringstream ss(path);
  for (std::string seg; std::getline(ss, seg, '.');) segments.push_back(seg);
  YAML::Node current = root;
  for (std::size_t i = 0; i + 1 < segments.size(); ++i) {
    if (!current[segments[i]].IsDefined()) current[segments[i]] = YAML::Node(YAML::NodeType::Map);
    current.reset(current[segments[i]]);
  }
  current[segments.back()] = value;
}

}  // namespace

std::string dump_effective_config(const Config& config) {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& key : detail::root_keys()) set_path(root, key.path, key.get(config));
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

std::vector<KeyInfo> config_keys() {
  std::vector<KeyInfo> out;
  for (const auto& k : detail::root_keys()) {
    out.push_back(KeyInfo{.path = k.path, .type = k.type, .default_value = k.default_yaml, .has_default = k.has_default,
                          .required = k.required, .secret = k.secret, .env_var = detail::env_var_for(k.path), .doc = k.doc});
  }
  return out;
}

namespace {

void comment_lines(std::string& out, const std::string& indent, const std::string& text) {
  out += indent + "# " + text + "\n";
}

template <class O>
void render_flat_table(std::string& out, const std::string& indent, const detail::KeyTable<O>& table) {
  for (const auto& k : table) {
    comment_lines(out, indent, fmt::format("{}: {} ({})", k.path, k.doc, k.type));
  }
}

}  // namespace

std::string render_reference_config() {
  std::string out =
      "# datarefresh reference configuration: every key, its default and what it does.\n"
      "# Generated from the key table (core/config/key_table.cpp) by `datarefresh check-config --reference`;\n"
      "# a unit test fails when the two differ. Every scalar key can be overridden by the environment variable\n"
      "# DATAREFRESH_<PATH> (dots become underscores, upper case), e.g. DATAREFRESH_KAFKA_BOOTSTRAP_SERVERS.\n"
      "# Secrets take {env: VAR} or {file: PATH} (a plain literal works but warns; {value: ...} is a deliberate literal).\n";
  std::vector<std::string> open;  // the object path currently open
  for (const auto& k : detail::root_keys()) {
    std::vector<std::string> segments;
    std::stringstream ss(k.path);
    for (std::string seg; std::getline(ss, seg, '.');) segments.push_back(seg);
    std::size_t common = 0;
    while (common < open.size() && common + 1 < segments.size() && open[common] == segments[common]) ++common;
    open.resize(common);
    if (common == 0) out += "\n";
    for (std::size_t i = common; i + 1 < segments.size(); ++i) {
      out += std::string(2 * i, ' ') + segments[i] + ":\n";
      open.push_back(segments[i]);
    }
    std::string indent(2 * (segments.size() - 1), ' ');
    std::string note = k.required ? "REQUIRED. " : "";
    comment_lines(out, indent, fmt::format("{}{} ({}, {})", note, k.doc, k.type, detail::env_var_for(k.path)));
    if (k.path == "media_types") {
      comment_lines(out, indent, "Fields of each media type (defaults: table = name, index_settings = <name>.index.json,");
      comment_lines(out, indent, "alias = name, filtered_alias = <name>-filtered); the defaults below are image and audio:");
      render_flat_table(out, indent + "  ", detail::media_type_keys());
      comment_lines(out, indent, "Fields of each extra_tables item:");
      render_flat_table(out, indent + "  ", detail::extra_table_keys());
      detail::LoadContext ctx{Environment{}, {}, {}};
      Config defaults;
      YAML::Node def = YAML::Load(k.default_yaml);
      k.set(defaults, detail::Field{def, k.path, {}, ctx});
      YAML::Emitter media;
      media << k.get(defaults);
      out += indent + segments.back() + ":\n";
      std::stringstream lines(media.c_str());
      for (std::string line; std::getline(lines, line);) out += indent + "  " + line + "\n";
      continue;
    }
    std::string value = k.required ? k.example : k.default_yaml;
    out += indent + segments.back() + ": " + value + "\n";
  }
  return out;
}

}  // namespace datarefresh::config
