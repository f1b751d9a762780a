#pragma once

#include <functional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/config/config.h"

// Internal to datarefresh::config (included by its .cpp files only): the declarative key tables
// and the context the parsers report into.
namespace datarefresh::config::detail {

// Collects every problem and warning of one load; knows the environment for overrides and
// {env: VAR} secrets.
struct LoadContext {
  const Environment& env;
  std::vector<std::string> errors;
  Warnings warnings;
};

// Where a value came from, to finish error messages: " (line 12)" or " (from DATAREFRESH_X)".
struct Origin {
  std::string env_var;  // set when the value came from an environment override
  int line = 0;         // 1-based line in the file, 0 if unknown
  std::string suffix() const;
  bool from_env() const { return !env_var.empty(); }
};

// The value of one key being parsed, with what is needed to report on it.
struct Field {
  const YAML::Node& node;
  const std::string& path;  // full key path, e.g. media_types.audio.table
  Origin origin;
  LoadContext& ctx;
  void fail(const std::string& message) const;
  void warn(const std::string& message) const;
};

// One key of a table over an owner struct O (Config, MediaTypeConfig or ExtraTableConfig).
template <class O>
struct Key {
  std::string path;  // relative to the owner, dotted for nested objects
  std::string type;
  std::string default_yaml;  // "{name}" stands for the owner's map key (media types)
  std::string example;       // shown in the reference for required keys without default
  std::string doc;
  bool has_default = false;
  bool required = false;
  bool secret = false;
  bool container = false;  // a map or list: its children are not checked against the table
  bool env_override = true;
  std::function<void(O&, const Field&)> set;
  std::function<YAML::Node(const O&)> get;
};

template <class O>
using KeyTable = std::vector<Key<O>>;

const KeyTable<Config>& root_keys();
const KeyTable<MediaTypeConfig>& media_type_keys();
const KeyTable<ExtraTableConfig>& extra_table_keys();

// DATAREFRESH_<PATH> with dots -> underscores, upper case.
std::string env_var_for(const std::string& path);

// Parses `node` (a mapping or null) into `out` using `table`: unknown keys (with suggestions),
// defaults, required keys, environment overrides when `with_env`. `prefix` is the owner's path
// ("" for the root, "media_types.audio." for a media type); `name` replaces "{name}" in defaults.
template <class O>
void parse_object(const YAML::Node& node, const std::string& prefix, const KeyTable<O>& table, O& out,
                  LoadContext& ctx, bool with_env, const std::string& name);

}  // namespace datarefresh::config::detail
