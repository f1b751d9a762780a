#include <fstream>
#include <set>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "core/config/config.h"
#include "tests/config/test_support.h"

namespace datarefresh::config {
namespace {

const Environment kReferenceEnv = {{"API_DATABASE_URL", "postgresql:///api"}, {"UPSTREAM_DATABASE_URL", "postgresql:///up"}};

std::string reference_path() { return (testing::source_dir() / "config/datarefresh.yaml").string(); }

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Dotted paths of the leaves of a YAML document; the containers of the key table (maps, secrets
// given as {env: ...}) count as leaves.
void collect_leaves(const YAML::Node& node, const std::string& prefix, const std::set<std::string>& containers,
                    std::set<std::string>& out) {
  if (!node.IsMap() || containers.count(prefix)) {
    out.insert(prefix);
    return;
  }
  for (const auto& item : node) {
    collect_leaves(item.second, prefix.empty() ? item.first.Scalar() : prefix + "." + item.first.Scalar(), containers, out);
  }
}

TEST(ReferenceConfig, IsValid) {
  Warnings warnings;
  Config c = load_config(reference_path(), kReferenceEnv, &warnings);
  EXPECT_TRUE(warnings.empty());
  EXPECT_EQ(c.media_types.size(), 2u);
}

TEST(ReferenceConfig, ListsExactlyTheSchemaKeys) {
  YAML::Node doc = YAML::LoadFile(reference_path());
  std::set<std::string> containers, expected, actual;
  for (const auto& key : config_keys()) {
    expected.insert(key.path);
    if (key.secret || key.type.rfind("map", 0) == 0) containers.insert(key.path);
  }
  collect_leaves(doc, "", containers, actual);
  EXPECT_EQ(actual, expected);
}

TEST(ReferenceConfig, GivesTheSchemaDefaults) {
  // Loading the reference must give the same configuration as loading only its required keys.
  Config from_reference = load_config(reference_path(), kReferenceEnv);
  Config from_required = load_config_from_string(
      "kafka: {bootstrap_servers: 'kafka-0:9092,kafka-1:9092'}\n"
      "postgres: {api: {dsn: {env: API_DATABASE_URL}}, upstream: {dsn: {env: UPSTREAM_DATABASE_URL}}}\n"
      "search: {url: 'http://elasticsearch:9200'}\n",
      kReferenceEnv);
  EXPECT_TRUE(from_reference == from_required) << dump_effective_config(from_reference) << "\nvs\n" << dump_effective_config(from_required);
  YAML::Node doc = YAML::LoadFile(reference_path());
  for (const auto& key : config_keys()) {
    if (!key.has_default || key.secret || key.type.rfind("map", 0) == 0) continue;
    YAML::Node node = doc;
    std::stringstream ss(key.path);
    for (std::string seg; std::getline(ss, seg, '.');) node.reset(node[seg]);
    EXPECT_EQ(YAML::Dump(node), YAML::Dump(YAML::Load(key.default_value))) << key.path;
  }
}

TEST(ReferenceConfig, IsExactlyWhatTheKeyTableRenders) {
  EXPECT_EQ(read_file(reference_path()), render_reference_config())
      << "config/datarefresh.yaml is stale: regenerate it with `datarefresh check-config --reference > config/datarefresh.yaml`";
}

TEST(ReferenceConfig, EveryKeyIsDocumentedWithItsEnvironmentVariable) {
  std::string text = read_file(reference_path());
  for (const auto& key : config_keys()) {
    EXPECT_FALSE(key.doc.empty()) << key.path;
    EXPECT_THAT(text, ::testing::HasSubstr(key.env_var)) << key.path;
  }
}

}  // namespace
}  // namespace datarefresh::config
