#include <gtest/gtest.h>

#include "core/common/error.h"
#include "devstack/devsearch/cluster_settings.h"
#include "devstack/devsearch/engine_profile.h"
#include "devstack/devsearch/index_blocks.h"

namespace datarefresh::devsearch {
namespace {

using blocks::Level;

TEST(IndexBlocks, ReasonListsEachBlockInIdOrderAsElasticsearchDoes) {
  EXPECT_EQ(blocks::reason({{"image-1", blocks::kWrite}}),
            "index [image-1] blocked by: [FORBIDDEN/8/index write (api)];");
  EXPECT_EQ(blocks::reason({{"a", blocks::kReadOnlyAllowDelete | blocks::kReadOnly}}),
            "index [a] blocked by: [FORBIDDEN/5/index read-only (api), TOO_MANY_REQUESTS/12/disk usage exceeded "
            "flood-stage watermark, index has read-only-allow-delete block];");
  EXPECT_EQ(
      blocks::reason({{"a", blocks::kMetadata}, {"b", blocks::kRead}}),
      "index [a] blocked by: [FORBIDDEN/9/index metadata (api)];index [b] blocked by: [FORBIDDEN/7/index read (api)];");
}

TEST(IndexBlocks, OnlyTheFloodStageBlockAloneIsRetryableAnd429) {
  EXPECT_EQ(blocks::status_of(blocks::kReadOnlyAllowDelete), 429);
  EXPECT_TRUE(blocks::all_retryable(blocks::kReadOnlyAllowDelete));
  EXPECT_EQ(blocks::status_of(blocks::kReadOnlyAllowDelete | blocks::kWrite), 403);
  EXPECT_FALSE(blocks::all_retryable(blocks::kReadOnlyAllowDelete | blocks::kWrite));
  EXPECT_EQ(blocks::status_of(blocks::kWrite), 403);
  EXPECT_FALSE(blocks::all_retryable(0));
}

TEST(IndexBlocks, LevelsFollowElasticsearchAndTheFloodStageBlockLostMetadataWritesIn8) {
  auto es7 = EngineProfile::for_major(7);
  auto es8 = EngineProfile::for_major(8);
  std::uint8_t all =
      blocks::kReadOnly | blocks::kRead | blocks::kWrite | blocks::kMetadata | blocks::kReadOnlyAllowDelete;
  EXPECT_EQ(blocks::at_level(all, Level::kRead, es8), blocks::kRead);
  EXPECT_EQ(blocks::at_level(all, Level::kWrite, es8),
            blocks::kReadOnly | blocks::kWrite | blocks::kReadOnlyAllowDelete);
  EXPECT_EQ(blocks::at_level(all, Level::kMetadataRead, es8), blocks::kMetadata);
  EXPECT_EQ(blocks::at_level(all, Level::kMetadataWrite, es8), blocks::kReadOnly | blocks::kMetadata);
  EXPECT_EQ(blocks::at_level(all, Level::kMetadataWrite, es7),
            blocks::kReadOnly | blocks::kMetadata | blocks::kReadOnlyAllowDelete);
  EXPECT_EQ(blocks::preventing_deletion(blocks::kReadOnlyAllowDelete | blocks::kReadOnly), blocks::kReadOnly);
}

TEST(IndexBlocks, SettingsParseOnlyTrueAndFalse) {
  EXPECT_EQ(blocks::from_settings({{"index.blocks.write", "true"}, {"index.blocks.read", "false"}}), blocks::kWrite);
  EXPECT_EQ(blocks::from_settings({{"index.blocks.metadata", nullptr}}), 0);
  try {
    blocks::from_settings({{"index.blocks.read_only", "yes"}});
    FAIL() << "yes was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.body["error"]["type"], "illegal_argument_exception");
    EXPECT_EQ(e.body["error"]["reason"], "Failed to parse value [yes] as only [true] or [false] are allowed.");
  }
}

TEST(IndexBlocks, OnlyUpdatesNamingTheBlockingSettingsPassABlockWithElasticsearchsPrecedence) {
  EXPECT_TRUE(blocks::update_lifts_blocks({"index.blocks.read_only"}));
  EXPECT_TRUE(blocks::update_lifts_blocks({"index.blocks.read_only_allow_delete", "index.refresh_interval"}));
  EXPECT_TRUE(blocks::update_lifts_blocks({"index.blocks.metadata"}));
  EXPECT_FALSE(blocks::update_lifts_blocks({"index.blocks.metadata", "index.refresh_interval"}));
  EXPECT_FALSE(blocks::update_lifts_blocks({"index.blocks.write"}));
  EXPECT_FALSE(blocks::update_lifts_blocks({"blocks.read_only"}));  // without the index. prefix
}

TEST(AutoCreateRule, FirstMatchingPatternDecidesAndUnmatchedIndicesAreRefused) {
  auto rule = AutoCreateRule::parse("+image-*, -audio-*");
  EXPECT_EQ(rule.refusal("image-1"), std::nullopt);
  EXPECT_EQ(rule.refusal("audio-1"),
            "[action.auto_create_index] contains [-audio-*] which forbids automatic creation of the index");
  EXPECT_EQ(rule.refusal("other"), "[action.auto_create_index] ([+image-*, -audio-*]) doesn't match");
  EXPECT_EQ(AutoCreateRule::parse("true").refusal("x"), std::nullopt);
  EXPECT_EQ(AutoCreateRule::parse("false").refusal("x"), "[action.auto_create_index] is [false]");
}

TEST(AutoCreateRule, MalformedListsAreRefusedWithElasticsearchsText) {
  for (const std::string bad : {"+", "a,,b", "a,", ""}) {
    try {
      AutoCreateRule::parse(bad);
      ADD_FAILURE() << "[" << bad << "] was accepted";
    } catch (const ApiError& e) {
      EXPECT_EQ(e.status, 400) << bad;
      EXPECT_EQ(e.body["error"]["type"], "illegal_argument_exception");
      EXPECT_NE(e.body["error"]["reason"].get<std::string>().find("Can't parse [" + bad + "]"), std::string::npos);
    }
  }
}

TEST(ClusterSettings, UpdatesAnswerWhatChangedAndTransientOverridesPersistent) {
  ClusterSettings s;
  auto out = s.update({{"persistent", {{"action.auto_create_index", false}}}}, false);
  EXPECT_EQ(out.dump(),
            R"({"acknowledged":true,"persistent":{"action":{"auto_create_index":"false"}},"transient":{}})");
  EXPECT_TRUE(s.auto_create().refusal("x").has_value());
  s.update({{"transient", {{"action", {{"auto_create_index", "true"}}}}}}, false);
  EXPECT_FALSE(s.auto_create().refusal("x").has_value());
  EXPECT_EQ(s.get(true, false).dump(),
            R"({"persistent":{"action.auto_create_index":"false"},"transient":{"action.auto_create_index":"true"}})");
  s.forget_transient();
  EXPECT_TRUE(s.auto_create().refusal("x").has_value());
  out = s.update({{"persistent", {{"action.*", nullptr}}}}, true);
  EXPECT_EQ(out.dump(), R"({"acknowledged":true,"persistent":{},"transient":{}})");
  EXPECT_EQ(s.get(false, true).dump(),
            R"({"persistent":{},"transient":{},"defaults":{"action":{"auto_create_index":"true"}}})");
}

TEST(ClusterSettings, RefusesUnknownSettingsAndChangesNothingThen) {
  ClusterSettings s;
  try {
    s.update({{"transient", {{"action.auto_create_index", "false"}}}, {"persistent", {{"foo.bar", 1}}}}, false);
    FAIL() << "an unknown setting was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.body["error"]["reason"], "persistent setting [foo.bar], not recognized");
  }
  EXPECT_FALSE(s.auto_create().refusal("x").has_value());
  EXPECT_THROW(s.update(nlohmann::json::object(), false), ApiError);
  EXPECT_THROW(ClusterSettings(FlatSettings{{"no.such", "1"}}), ApiError);
  EXPECT_TRUE(
      ClusterSettings(FlatSettings{{"action.auto_create_index", "false"}}).auto_create().refusal("x").has_value());
}

TEST(EngineProfile, OnlyMajors7And8Exist) {
  EXPECT_EQ(EngineProfile::for_major(7).version_number, "7.10.2");
  EXPECT_TRUE(EngineProfile::for_major(7).type_in_responses);
  EXPECT_EQ(EngineProfile::for_major(8).version_number, "8.13.4");
  EXPECT_FALSE(EngineProfile::for_major(8).type_in_responses);
  EXPECT_THROW(EngineProfile::for_major(6), ConfigError);
}

}  // namespace
}  // namespace datarefresh::devsearch
