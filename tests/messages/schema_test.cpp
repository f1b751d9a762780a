#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

#include "core/messages/codec.h"
#include "tests/messages/samples.h"

namespace datarefresh::messages {
namespace {

using namespace testing;

std::filesystem::path schema_dir() {
  const char* dir = std::getenv("DATAREFRESH_SOURCE_DIR");
  return std::filesystem::path(dir ? dir : DATAREFRESH_TEST_SOURCE_DIR) / "schemas" / "messages";
}

// The parsed schema of one message type, loaded once.
const valijson::Schema& schema_for(std::string_view type) {
  static std::map<std::string, std::unique_ptr<valijson::Schema>, std::less<>> cache;
  auto it = cache.find(type);
  if (it != cache.end()) return *it->second;
  std::filesystem::path path = schema_dir() / (std::string(type) + ".schema.json");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  nlohmann::json doc = nlohmann::json::parse(in);
  auto schema = std::make_unique<valijson::Schema>();
  valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  parser.populateSchema(adapter, *schema);
  return *cache.emplace(std::string(type), std::move(schema)).first->second;
}

// Empty when valid, else the validator's complaints.
std::string violations(std::string_view type, const nlohmann::json& doc) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  if (validator.validate(schema_for(type), adapter, &results)) return "";
  std::string out;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string where;
    for (const auto& c : error.context) where += c;
    out += where + ": " + error.description + "\n";
  }
  return out.empty() ? "invalid" : out;
}

template <class T>
void expect_valid(const T& sample) {
  EXPECT_EQ(violations(T::kType, nlohmann::json::parse(encode(sample))), "") << T::kType;
}

TEST(MessageSchemas, EveryEncodedTypeValidates) {
  std::apply([](const auto&... sample) { (expect_valid(sample), ...); }, all_samples());
  RefreshPhaseChanged first = sample_phase_changed();
  first.previous_phase.reset();
  expect_valid(first);
  ShardJob job = sample_shard_job();
  job.expected_rows.reset();
  expect_valid(job);
  RefreshRequested incremental = sample_refresh_requested();
  incremental.options.mode = "incremental";
  expect_valid(incremental);
  RefreshCompleted full = sample_refresh_completed();
  full.mode = "full";
  full.report.changes.reset();
  expect_valid(full);
}

TEST(MessageSchemas, ExistForEveryTypeAndAllowUnknownFields) {
  std::size_t count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(schema_dir())) {
    if (!entry.path().string().ends_with(".schema.json")) continue;
    std::ifstream in(entry.path());
    nlohmann::json doc = nlohmann::json::parse(in);
    EXPECT_EQ(doc["$schema"], "http://json-schema.org/draft-07/schema#") << entry.path();
    EXPECT_EQ(doc["additionalProperties"], true) << entry.path();
    EXPECT_EQ(doc["properties"]["version"]["const"], 1) << entry.path();
    ++count;
  }
  EXPECT_EQ(count, std::tuple_size_v<decltype(all_samples())>);
  nlohmann::json extra = nlohmann::json::parse(encode(sample_shard_started()));
  extra["future_field"] = {1, 2, 3};
  EXPECT_EQ(violations("shard.started", extra), "");
}

TEST(MessageSchemas, RejectBadExamples) {
  auto job = [] { return nlohmann::json::parse(encode(sample_shard_job())); };
  nlohmann::json negative_shard = job();
  negative_shard["shard"] = -1;
  EXPECT_NE(violations("shard.job", negative_shard), "");
  nlohmann::json attempt_zero = job();
  attempt_zero["attempt"] = 0;
  EXPECT_NE(violations("shard.job", attempt_zero), "");
  nlohmann::json missing = job();
  missing.erase("target_index");
  EXPECT_NE(violations("shard.job", missing), "");
  nlohmann::json slash_id = job();
  slash_id["refresh_id"] = "a/b";
  EXPECT_NE(violations("shard.job", slash_id), "");
  nlohmann::json other_type = job();
  other_type["type"] = "shard.started";
  EXPECT_NE(violations("shard.job", other_type), "");
  nlohmann::json version_two = job();
  version_two["version"] = 2;
  EXPECT_NE(violations("shard.job", version_two), "");

  nlohmann::json request = nlohmann::json::parse(encode(sample_refresh_requested()));
  request["request_id"] = "12345";
  EXPECT_NE(violations("refresh.requested", request), "");
  nlohmann::json bad_time = nlohmann::json::parse(encode(sample_refresh_requested()));
  bad_time["requested_at"] = "2024-05-06 07:08:09";
  EXPECT_NE(violations("refresh.requested", bad_time), "");
  nlohmann::json bad_media = nlohmann::json::parse(encode(sample_refresh_requested()));
  bad_media["media_type"] = "Image";
  EXPECT_NE(violations("refresh.requested", bad_media), "");

  nlohmann::json report = nlohmann::json::parse(encode(sample_refresh_completed()));
  report["report"]["per_provider"][0]["before"] = "many";
  EXPECT_NE(violations("refresh.completed", report), "");
  nlohmann::json failed = nlohmann::json::parse(encode(sample_refresh_failed()));
  failed["rolled_back"] = "yes";
  EXPECT_NE(violations("refresh.failed", failed), "");

  nlohmann::json bad_mode = nlohmann::json::parse(encode(sample_refresh_requested()));
  bad_mode["options"]["mode"] = "partial";
  EXPECT_NE(violations("refresh.requested", bad_mode), "");
  nlohmann::json auto_plan = nlohmann::json::parse(encode(sample_refresh_planned()));
  auto_plan["mode"] = "auto";  // a plan says what "auto" resolved to
  EXPECT_NE(violations("refresh.planned", auto_plan), "");
  nlohmann::json negative = nlohmann::json::parse(encode(sample_refresh_completed()));
  negative["report"]["changes"]["deleted"] = -1;
  EXPECT_NE(violations("refresh.completed", negative), "");
  nlohmann::json older = nlohmann::json::parse(encode(sample_refresh_completed()));
  older.erase("mode");
  older["report"].erase("changes");
  EXPECT_EQ(violations("refresh.completed", older), "") << "messages of older releases stay valid";
}

}  // namespace
}  // namespace datarefresh::messages
