#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/search/bulk.h"
#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;

// The catalog's shape in small: a custom analyzer with the english stemmer, a text field using
// it, two shards, refresh only on demand.
const json kSourceIndex = {
    {"settings",
     {{"index", {{"number_of_shards", 2}, {"number_of_replicas", 0}, {"refresh_interval", "-1"}}},
      {"analysis",
       {{"filter", {{"english_stemmer", {{"type", "stemmer"}, {"language", "english"}}}}},
        {"analyzer",
         {{"custom_english",
           {{"type", "custom"}, {"tokenizer", "standard"}, {"filter", {"lowercase", "english_stemmer"}}}}}}}}}},
    {"mappings",
     {{"dynamic", false},
      {"properties",
       {{"title", {{"type", "text"}, {"analyzer", "custom_english"}}}, {"provider", {{"type", "keyword"}}}}}}}};

const std::string kReadOnlyReason = "must be read-only to resize index. use \"index.blocks.write=true\"";

// Every test runs against both imitated releases: the clone API answers alike in 7.10 and 8.13.
template <typename Fixture>
class Clone : public Fixture {
 protected:
  // The source index with three documents: "1" indexed twice (version 2), "3" never refreshed.
  void make_source(const std::string& name) {
    ASSERT_TRUE(this->client_->create_index(name, kSourceIndex).ok());
    search::BulkBodyBuilder b;
    b.add_index(name, "1", R"({"title":"Blue Lake","provider":"flickr"})");
    b.add_index(name, "2", R"({"title":"Red Rocks","provider":"wikimedia"})");
    b.add_index(name, "1", R"({"title":"Blue Lakes","provider":"flickr"})");
    auto r = this->client_->bulk(b.take());
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r->errors);
    ASSERT_TRUE(this->client_->refresh(name).ok());
    b.add_index(name, "3", R"({"title":"Green Hills","provider":"flickr"})");
    r = this->client_->bulk(b.take());
    ASSERT_TRUE(r.ok());
    ASSERT_FALSE(r->errors);
  }
  json settings_of(const std::string& index) {
    auto r = this->call("GET", "/" + index + "/_settings");
    EXPECT_EQ(r.status, 200) << r.body.dump();
    return r.body[index]["settings"]["index"];
  }
};

using Releases = ::testing::Types<DevSearchTest, DevSearch7Test>;
TYPED_TEST_SUITE(Clone, Releases);

TYPED_TEST(Clone, IsRefusedWithElasticsearchs500WhileTheSourceHasNoWriteBlock) {
  this->make_source("src-a");
  auto r = this->call("POST", "/src-a/_clone/dst-a");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body["status"], 500);
  EXPECT_EQ(r.body["error"]["type"], "illegal_state_exception");
  EXPECT_EQ(r.body["error"]["reason"], "index src-a " + kReadOnlyReason);
  EXPECT_EQ(r.body["error"]["root_cause"][0]["reason"], "index src-a " + kReadOnlyReason);
  EXPECT_EQ(this->call("HEAD", "/dst-a").status, 404);

  // Through the client: permanent (retrying cannot help until someone sets the block).
  auto status = this->client_->clone_index("src-a", "dst-a", json::object());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().http_status, 500);
  EXPECT_EQ(status.error().type, "illegal_state_exception");
  EXPECT_FALSE(status.error().retryable);
  EXPECT_THAT(status.error().reason, ::testing::HasSubstr("set_write_block"));
}

TYPED_TEST(Clone, CopiesEveryDocumentTheMappingsAndTheAnalysisAndAddsTheBodysAliases) {
  this->make_source("src-b");
  ASSERT_TRUE(this->client_->set_write_block("src-b", true).ok());
  json body = {{"settings", {{"index", {{"number_of_replicas", 0}, {"refresh_interval", "-1"}}}}},
               {"aliases", {{"dst-b-load", json::object()}}}};
  auto r = this->call("POST", "/src-b/_clone/dst-b", body);
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, json({{"acknowledged", true}, {"shards_acknowledged", true}, {"index", "dst-b"}}));

  // All three documents, the unrefreshed one too (the clone recovers from a flushed commit).
  auto count = this->client_->count("dst-b");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3);
  auto doc = this->call("GET", "/dst-b/_doc/1");
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body["_version"], 2);
  EXPECT_EQ(doc.body["_source"], json({{"title", "Blue Lakes"}, {"provider", "flickr"}}));

  // The analyzer came along: "lake" matches "Blue Lakes" through the english stemmer.
  auto hits = this->call("POST", "/dst-b/_search", {{"query", {{"match", {{"title", "lake"}}}}}});
  ASSERT_EQ(hits.status, 200);
  ASSERT_EQ(hits.body["hits"]["hits"].size(), 1u);
  EXPECT_EQ(hits.body["hits"]["hits"][0]["_id"], "1");

  auto src = this->call("GET", "/src-b");
  auto dst = this->call("GET", "/dst-b");
  EXPECT_EQ(dst.body["dst-b"]["mappings"], src.body["src-b"]["mappings"]);
  EXPECT_EQ(dst.body["dst-b"]["aliases"], json({{"dst-b-load", json::object()}}));
  EXPECT_EQ(src.body["src-b"]["aliases"], json::object()) << "aliases are not copied from the source";

  json settings = this->settings_of("dst-b");
  EXPECT_EQ(settings["number_of_shards"], "2");
  EXPECT_EQ(settings["number_of_replicas"], "0");
  EXPECT_EQ(settings["refresh_interval"], "-1");
  EXPECT_EQ(settings["analysis"], this->settings_of("src-b")["analysis"]);
  EXPECT_EQ(settings["resize"]["source"]["name"], "src-b");
  // Copied like every setting but the replica ones: the target is write-blocked too.
  EXPECT_EQ(settings["blocks"]["write"], "true");
  search::BulkBodyBuilder b;
  b.add_index("dst-b", "4", R"({"title":"x"})");
  auto blocked = this->client_->bulk(b.take());
  ASSERT_TRUE(blocked.ok());
  ASSERT_EQ(blocked->items.size(), 1u);
  EXPECT_EQ(blocked->items[0].status, 403);
  EXPECT_EQ(blocked->items[0].error_type, "cluster_block_exception");
}

TYPED_TEST(Clone, TakesTheReplicaCountFromTheBodyOrTheDefaultNeverFromTheSource) {
  this->make_source("src-c");
  ASSERT_TRUE(this->client_->set_write_block("src-c", true).ok());
  ASSERT_TRUE(this->client_->clone_index("src-c", "dst-c", json::object()).ok());
  json settings = this->settings_of("dst-c");
  EXPECT_EQ(settings["number_of_replicas"], "1");  // the source has 0
  EXPECT_EQ(settings["refresh_interval"], "-1");   // copied
}

TYPED_TEST(Clone, DropsACopiedSettingTheBodySetsToNullSoTheTargetTakesWrites) {
  this->make_source("src-d");
  ASSERT_TRUE(this->client_->set_write_block("src-d", true).ok());
  ASSERT_TRUE(this->client_->clone_index("src-d", "dst-d", {{"settings", {{"index.blocks.write", nullptr}}}}).ok());
  EXPECT_FALSE(this->settings_of("dst-d").contains("blocks"));
  EXPECT_EQ(this->settings_of("src-d")["blocks"]["write"], "true") << "the source keeps its block";
  search::BulkBodyBuilder b;
  b.add_index("dst-d", "4", R"({"title":"Yellow Sand"})");
  auto r = this->client_->bulk(b.take());
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->errors);
}

TYPED_TEST(Clone, RefusesAnExistingTargetAsCreateIndexDoes) {
  this->make_source("src-e");
  ASSERT_TRUE(this->client_->create_index("dst-e", json::object()).ok());
  ASSERT_TRUE(this->client_->set_write_block("src-e", true).ok());
  auto r = this->call("POST", "/src-e/_clone/dst-e");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["type"], "resource_already_exists_exception");
  const std::string reason = r.body["error"].value("reason", "");
  EXPECT_THAT(reason, ::testing::MatchesRegex("index \\[dst-e/.+\\] already exists"));
  EXPECT_EQ(r.body["error"]["index"], "dst-e");
  auto status = this->client_->clone_index("src-e", "dst-e", json::object());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().http_status, 400);
  EXPECT_FALSE(status.error().retryable);
}

TYPED_TEST(Clone, AnswersAMissingSourceWith404) {
  auto r = this->call("PUT", "/nope/_clone/dst-f");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["type"], "index_not_found_exception");
  EXPECT_EQ(r.body["error"]["reason"], "no such index [nope]");
  EXPECT_EQ(r.body["error"]["index"], "nope");
  auto status = this->client_->clone_index("nope", "dst-f", json::object());
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().http_status, 404);
  EXPECT_FALSE(status.error().retryable);
}

TYPED_TEST(Clone, RefusesAShardCountOtherThanTheSources) {
  this->make_source("src-g");
  ASSERT_TRUE(this->client_->set_write_block("src-g", true).ok());
  auto r = this->call("POST", "/src-g/_clone/dst-g", {{"settings", {{"index.number_of_shards", 3}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(r.body["error"]["reason"],
            "the number of target shards (3) must be the same as the number of  source shards ( 2)");
  EXPECT_EQ(this->call("HEAD", "/dst-g").status, 404);
  // The same count is accepted, as in the documentation's example.
  EXPECT_EQ(this->call("POST", "/src-g/_clone/dst-g", {{"settings", {{"index.number_of_shards", 2}}}}).status, 200);
}

TYPED_TEST(Clone, RefusesMappingsInTheBody) {
  this->make_source("src-h");
  ASSERT_TRUE(this->client_->set_write_block("src-h", true).ok());
  auto r = this->call("POST", "/src-h/_clone/dst-h", {{"mappings", {{"properties", json::object()}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body["error"]["type"], "x_content_parse_exception");
}

// The incremental refresh end to end: block, clone, unblock, then deletes (one of a missing id)
// and writes through the client, and the clone used as any index (count, reindex from it).
TYPED_TEST(Clone, TheCloneIsAnOrdinaryIndexOnceItsBlockIsLifted) {
  this->make_source("src-i");
  ASSERT_TRUE(this->client_->set_write_block("src-i", true).ok());
  ASSERT_TRUE(this->client_->clone_index("src-i", "dst-i", {{"aliases", {{"dst-i-load", json::object()}}}}).ok());
  ASSERT_TRUE(this->client_->set_write_block("src-i", false).ok());
  ASSERT_TRUE(this->client_->set_write_block("dst-i", false).ok());
  EXPECT_FALSE(this->settings_of("src-i").contains("blocks")) << "null removes the setting";

  search::BulkBodyBuilder b;
  b.add_delete("dst-i-load", "2");
  b.add_delete("dst-i-load", "never-indexed");
  b.add_index("dst-i-load", "5", R"({"title":"Grey Stones","provider":"flickr"})");
  auto r = this->client_->bulk(b.take());
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->errors) << "a not_found delete is no error";
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].status, 200);
  EXPECT_EQ(r->items[1].status, 404);
  EXPECT_TRUE(r->items[1].ok());
  EXPECT_EQ(r->items[2].status, 201);
  EXPECT_EQ(r->count_failed(), 0u);

  // The raw answer, as Elasticsearch gives it.
  auto raw = this->call_ndjson("/_bulk", "{\"delete\":{\"_index\":\"dst-i\",\"_id\":\"never-indexed\"}}\n");
  EXPECT_EQ(raw.status, 200);
  EXPECT_EQ(raw.body["errors"], false);
  EXPECT_EQ(raw.body["items"][0]["delete"]["status"], 404);
  EXPECT_EQ(raw.body["items"][0]["delete"]["result"], "not_found");
  EXPECT_FALSE(raw.body["items"][0]["delete"].contains("error"));

  ASSERT_TRUE(this->client_->refresh("dst-i").ok());
  auto count = this->client_->count("dst-i");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 3);  // 1, 3, 5
  auto source_count = this->client_->count("src-i");
  ASSERT_TRUE(source_count.ok());
  EXPECT_EQ(*source_count, 2) << "the source is untouched (its document 3 still awaits a refresh)";

  auto reindexed = this->call("POST", "/_reindex?refresh=true",
                              {{"source", {{"index", "dst-i"}}}, {"dest", {{"index", "copy-i"}}}});
  ASSERT_EQ(reindexed.status, 200) << reindexed.body.dump();
  EXPECT_EQ(reindexed.body["created"], 3);
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
