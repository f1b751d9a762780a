#include <future>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kWriteReason = "blocked by: [FORBIDDEN/8/index write (api)];";
constexpr const char* kFloodReason =
    "blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete "
    "block];";

std::string two_docs(const std::string& index) {
  return json{{"index", {{"_index", index}, {"_id", "1"}}}}.dump() + "\n" + R"({"title":"one"})" + "\n" +
         json{{"index", {{"_index", index}, {"_id", "2"}}}}.dump() + "\n" + R"({"title":"two"})" + "\n";
}

class IndexBlocks : public DevSearchTest {
 protected:
  void create(const std::string& name, const json& settings = json::object()) {
    json body = {{"settings", {{"number_of_shards", 1}, {"number_of_replicas", 0}}}};
    for (const auto& [k, v] : settings.items()) body["settings"][k] = v;
    auto r = call("PUT", "/" + name, body);
    ASSERT_EQ(r.status, 200) << r.body.dump();
  }
  int put_settings(const std::string& name, const json& body, const std::string& query = "") {
    auto r = call("PUT", "/" + name + "/_settings" + query, body);
    last_ = r.body;
    return r.status;
  }
  json last_;
};

TEST_F(IndexBlocks, AWriteBlockAtCreationRefusesEachBulkItemWith403InsideA200) {
  create("blocked-w", {{"index.blocks.write", true}});
  auto r = call_ndjson("/_bulk", two_docs("blocked-w"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["errors"], true);
  ASSERT_EQ(r.body["items"].size(), 2u);
  for (const auto& item : r.body["items"]) {
    const auto& i = item["index"];
    EXPECT_EQ(i["_index"], "blocked-w");
    EXPECT_EQ(i["status"], 403);
    EXPECT_EQ(i["error"], (json{{"type", "cluster_block_exception"},
                                {"reason", std::string("index [blocked-w] ") + kWriteReason}}));
    EXPECT_FALSE(i.contains("_type")) << "Elasticsearch 8 sends no _type";
  }
  // The client sees the items as refused for now: a block is lifted by an operator or the engine,
  // so the indexers wait it out rather than dead-letter the documents.
  auto bulk = client_->bulk(two_docs("blocked-w"));
  ASSERT_TRUE(bulk.ok());
  ASSERT_EQ(bulk->items.size(), 2u);
  EXPECT_EQ(bulk->items[0].status, 403);
  EXPECT_EQ(bulk->items[0].error_type, "cluster_block_exception");
  EXPECT_TRUE(bulk->items[0].retryable);
}

TEST_F(IndexBlocks, BlockSettingsAreSetInEveryFormShownAndRemovedByNull) {
  create("forms");
  EXPECT_EQ(put_settings("forms", {{"index.blocks.write", true}}), 200) << last_.dump();
  auto s = call("GET", "/forms/_settings");
  EXPECT_EQ(s.body["forms"]["settings"]["index"]["blocks"], (json{{"write", "true"}}));
  EXPECT_EQ(call_ndjson("/_bulk", two_docs("forms")).body["items"][0]["index"]["status"], 403);
  EXPECT_EQ(put_settings("forms", {{"index", {{"blocks", {{"write", "false"}}}}}}), 200);
  EXPECT_EQ(call_ndjson("/_bulk", two_docs("forms")).body["items"][0]["index"]["status"], 201);
  EXPECT_EQ(put_settings("forms", {{"settings", {{"index.blocks.read", "true"}}}}), 200);
  EXPECT_EQ(call("GET", "/forms/_settings").body["forms"]["settings"]["index"]["blocks"],
            (json{{"read", "true"}, {"write", "false"}}));
  EXPECT_EQ(put_settings("forms", {{"index.blocks.read", nullptr}, {"index.blocks.write", nullptr}}), 200);
  EXPECT_FALSE(call("GET", "/forms/_settings").body["forms"]["settings"]["index"].contains("blocks"));
  EXPECT_EQ(put_settings("forms", {{"index.blocks.write", "yes"}}), 400);
  EXPECT_EQ(last_["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(last_["error"]["reason"], "Failed to parse value [yes] as only [true] or [false] are allowed.");
}

TEST_F(IndexBlocks, ASingleDocumentWriteOnAWriteBlockedIndexAnswersTheBlockAt403) {
  create("single", {{"index.blocks.write", "true"}});
  auto r = call("PUT", "/single/_doc/1", {{"title", "x"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["status"], 403);
  EXPECT_EQ(r.body["error"]["type"], "cluster_block_exception");
  EXPECT_EQ(r.body["error"]["reason"], std::string("index [single] ") + kWriteReason);
  ASSERT_EQ(r.body["error"]["root_cause"].size(), 1u);
  EXPECT_EQ(r.body["error"]["root_cause"][0]["type"], "cluster_block_exception");
}

TEST_F(IndexBlocks, AReadBlockRefusesSearchCountAndGetButNeitherRefreshNorWrites) {
  create("reads");
  ASSERT_EQ(call_ndjson("/_bulk", two_docs("reads")).status, 200);
  ASSERT_EQ(put_settings("reads", {{"index.blocks.read", true}}), 200);
  const std::string reason = "index [reads] blocked by: [FORBIDDEN/7/index read (api)];";
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/reads/_search"}, {"GET", "/reads/_count"}, {"GET", "/reads/_doc/1"}}) {
    auto r = call(method, path);
    EXPECT_EQ(r.status, 403) << path;
    EXPECT_EQ(r.body["error"]["type"], "cluster_block_exception") << path;
    EXPECT_EQ(r.body["error"]["reason"], reason) << path;
  }
  auto count = client_->count("reads");
  ASSERT_FALSE(count.ok());
  EXPECT_EQ(count.error().http_status, 403);
  EXPECT_TRUE(count.error().retryable) << "a block is temporary: callers retry within their deadline";
  EXPECT_EQ(call("POST", "/reads/_refresh").status, 200) << "refresh checks no index block";
  EXPECT_EQ(call_ndjson("/_bulk", two_docs("reads")).body["items"][1]["index"]["status"], 200);
  EXPECT_EQ(call("POST", "/reads/_search", {{"size", 0}}).status, 403);
}

TEST_F(IndexBlocks, ReadOnlyRefusesWritesSettingsAliasesAndDeletionUntilItIsLifted) {
  create("ro", {{"index.blocks.read_only", true}});
  const std::string reason = "index [ro] blocked by: [FORBIDDEN/5/index read-only (api)];";
  auto bulk = call_ndjson("/_bulk", two_docs("ro"));
  EXPECT_EQ(bulk.body["items"][0]["index"]["status"], 403);
  EXPECT_EQ(bulk.body["items"][0]["index"]["error"]["reason"], reason);
  EXPECT_EQ(put_settings("ro", {{"index.refresh_interval", "5s"}}), 403);
  EXPECT_EQ(last_["error"]["reason"], reason);
  // Lifting another block is a metadata write too, and refused; only the blocking settings pass.
  EXPECT_EQ(put_settings("ro", {{"index.blocks.write", false}}), 403);
  auto alias = call("POST", "/_aliases", {{"actions", {{{"add", {{"index", "ro"}, {"alias", "ro-alias"}}}}}}});
  EXPECT_EQ(alias.status, 403);
  EXPECT_EQ(alias.body["error"]["reason"], reason);
  auto del = call("DELETE", "/ro");
  EXPECT_EQ(del.status, 403);
  EXPECT_EQ(del.body["error"]["reason"], reason);
  EXPECT_EQ(call("POST", "/ro/_search").status, 200) << "read_only still allows reads";
  EXPECT_EQ(put_settings("ro", {{"index.blocks.read_only", false}}), 200) << last_.dump();
  EXPECT_EQ(call_ndjson("/_bulk", two_docs("ro")).body["items"][0]["index"]["status"], 201);
  EXPECT_EQ(call("DELETE", "/ro").status, 200);
}

TEST_F(IndexBlocks, AMetadataBlockRefusesMetadataReadsEvenOfAliasesOfOtherIndicesButNotSearchOrWrites) {
  create("meta");
  create("other");
  ASSERT_EQ(
      call("POST", "/_aliases", {{"actions", {{{"add", {{"index", "other"}, {"alias", "other-alias"}}}}}}}).status,
      200);
  ASSERT_EQ(put_settings("meta", {{"index.blocks.metadata", true}}), 200);
  const std::string reason = "index [meta] blocked by: [FORBIDDEN/9/index metadata (api)];";
  auto settings = call("GET", "/meta/_settings");
  EXPECT_EQ(settings.status, 403);
  EXPECT_EQ(settings.body["error"]["reason"], reason);
  EXPECT_EQ(call("GET", "/meta").status, 403);
  EXPECT_EQ(call("HEAD", "/meta").status, 403);
  // GET _alias/<name> asks every index: one metadata-blocked index breaks it for all.
  auto aliases = call("GET", "/_alias/other-alias");
  EXPECT_EQ(aliases.status, 403);
  EXPECT_EQ(aliases.body["error"]["reason"], reason);
  EXPECT_EQ(call("GET", "/_cat/indices?format=json").status, 403);
  EXPECT_EQ(call("POST", "/meta/_search").status, 200);
  EXPECT_EQ(call_ndjson("/_bulk", two_docs("meta")).body["items"][0]["index"]["status"], 201);
  // Only index.blocks.metadata alone may change on it (Elasticsearch's exemption).
  EXPECT_EQ(put_settings("meta", {{"index.blocks.metadata", false}, {"index.refresh_interval", "1s"}}), 403);
  EXPECT_EQ(put_settings("meta", {{"index.blocks.metadata", false}}), 200);
  EXPECT_EQ(call("GET", "/_alias/other-alias").status, 200);
}

TEST_F(IndexBlocks, TheFloodStageBlockFailsWritesWith429OnlyAfterTheBulkTimeoutAndLetsTheIndexBeDeleted) {
  create("flood", {{"index.blocks.read_only_allow_delete", true}});
  auto started = std::chrono::steady_clock::now();
  auto r = call_ndjson("/_bulk?timeout=300ms", two_docs("flood"));
  auto waited = std::chrono::steady_clock::now() - started;
  EXPECT_GE(waited, std::chrono::milliseconds(300)) << "a retryable block is waited on until the timeout";
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["items"][0]["index"]["status"], 429);
  EXPECT_EQ(r.body["items"][0]["index"]["error"]["reason"], std::string("index [flood] ") + kFloodReason);
  auto single = call("PUT", "/flood/_doc/1?timeout=100ms", {{"title", "x"}});
  EXPECT_EQ(single.status, 429);
  EXPECT_EQ(single.body["error"]["type"], "cluster_block_exception");
  // Elasticsearch 8 lets metadata change under this block (elastic/elasticsearch#81781).
  EXPECT_EQ(put_settings("flood", {{"index.refresh_interval", "5s"}}), 200) << last_.dump();
  EXPECT_EQ(call("POST", "/flood/_search").status, 200);
  EXPECT_EQ(call("DELETE", "/flood").status, 200);
}

TEST_F(IndexBlocks, ABulkWaitingOnTheFloodStageBlockGoesThroughOnceTheBlockIsLifted) {
  create("lifted", {{"index.blocks.read_only_allow_delete", true}});
  auto started = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] {
    return client_->perform("POST", "/_bulk?timeout=20s", two_docs("lifted"), "application/x-ndjson");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout) << "the bulk waits";
  EXPECT_EQ(put_settings("lifted", {{"index.blocks.read_only_allow_delete", nullptr}}), 200);
  auto r = pending.get();
  ASSERT_TRUE(r.ok());
  auto body = json::parse(r->body);
  EXPECT_EQ(body["errors"], false);
  EXPECT_EQ(body["items"][0]["index"]["status"], 201);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

TEST_F(IndexBlocks, SeveralBlocksAreListedTogetherAndARetryableOneAmongOthersAnswers403AtOnce) {
  create("both", {{"index.blocks.read_only", true}, {"index.blocks.read_only_allow_delete", true}});
  auto started = std::chrono::steady_clock::now();
  auto r = call_ndjson("/_bulk", two_docs("both"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5))
      << "no wait: not every block is retryable";
  EXPECT_EQ(r.body["items"][0]["index"]["status"], 403);
  EXPECT_EQ(r.body["items"][0]["index"]["error"]["reason"],
            "index [both] blocked by: [FORBIDDEN/5/index read-only (api), TOO_MANY_REQUESTS/12/disk usage exceeded "
            "flood-stage watermark, index has read-only-allow-delete block];");
  // read_only prevents deletion; the flood-stage block alone would not.
  auto del = call("DELETE", "/both");
  EXPECT_EQ(del.status, 403);
  EXPECT_EQ(del.body["error"]["reason"], "index [both] blocked by: [FORBIDDEN/5/index read-only (api)];");
}

TEST_F(IndexBlocks, AWriteBlockedDestinationFailsEveryDocumentOfTheReindexBatch) {
  create("src");
  create("dest", {{"index.blocks.write", true}});
  ASSERT_EQ(call_ndjson("/_bulk?refresh=true", two_docs("src")).status, 200);
  ASSERT_EQ(call("POST", "/src/_refresh").status, 200);
  auto r = call("POST", "/_reindex", {{"source", {{"index", "src"}}}, {"dest", {{"index", "dest"}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["created"], 0);
  ASSERT_EQ(r.body["failures"].size(), 2u);
  const auto& f = r.body["failures"][0];
  EXPECT_EQ(f["index"], "dest");
  EXPECT_EQ(f["status"], 403);
  EXPECT_EQ(f["cause"]["type"], "cluster_block_exception");
  EXPECT_EQ(f["cause"]["reason"], std::string("index [dest] ") + kWriteReason);
  EXPECT_FALSE(f.contains("type"));
}

TEST_F(IndexBlocks, AReadBlockedSourceFailsTheReindexAsAWhole) {
  create("src-r", {{"index.blocks.read", true}});
  auto r = call("POST", "/_reindex", {{"source", {{"index", "src-r"}}}, {"dest", {{"index", "dest-r"}}}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.body["error"]["reason"], "index [src-r] blocked by: [FORBIDDEN/7/index read (api)];");
  // Started in the background, the task ends with the error instead of a response.
  auto started = call("POST", "/_reindex?wait_for_completion=false",
                      {{"source", {{"index", "src-r"}}}, {"dest", {{"index", "dest-r"}}}});
  ASSERT_EQ(started.status, 200);
  std::string task = started.body["task"];
  json done;
  ASSERT_TRUE(eventually(
      [&] {
        done = call("GET", "/_tasks/" + task).body;
        return done.value("completed", false);
      },
      std::chrono::seconds(10)));
  EXPECT_FALSE(done.contains("response"));
  EXPECT_EQ(done["error"]["type"], "cluster_block_exception");
  EXPECT_EQ(call("HEAD", "/dest-r").status, 404) << "a reindex that read nothing created nothing";
}

class IndexBlocks7 : public DevSearch7Test {};

TEST_F(IndexBlocks7, InElasticsearch7TheFloodStageBlockHoldsMetadataWritesUntilMasterTimeout) {
  ASSERT_EQ(call("PUT", "/flood7", {{"settings", {{"index.blocks.read_only_allow_delete", true}}}}).status, 200);
  auto started = std::chrono::steady_clock::now();
  auto r = call("PUT", "/flood7/_settings?master_timeout=300ms", {{"index.refresh_interval", "5s"}});
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(300));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.body["error"]["type"], "master_not_discovered_exception");
  EXPECT_EQ(r.body["error"]["caused_by"]["type"], "cluster_block_exception");
  EXPECT_EQ(r.body["error"]["caused_by"]["reason"], std::string("index [flood7] ") + kFloodReason);
  // Lifting the block itself is let through at once.
  started = std::chrono::steady_clock::now();
  EXPECT_EQ(call("PUT", "/flood7/_settings", {{"index.blocks.read_only_allow_delete", nullptr}}).status, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
  auto bulk = call_ndjson("/_bulk", two_docs("flood7"));
  EXPECT_EQ(bulk.body["items"][0]["index"]["status"], 201);
  EXPECT_EQ(bulk.body["items"][0]["index"]["_type"], "_doc");
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
