#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/common/error.h"
#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;

std::string one_doc(const std::string& index, const std::string& id = "1") {
  return json{{"index", {{"_index", index}, {"_id", id}}}}.dump() + "\n" + R"({"title":"t"})" + "\n";
}

json refused_item_error(const std::string& index, const std::string& why) {
  return {{"type", "index_not_found_exception"},
          {"reason", "no such index [" + index + "] and " + why},
          {"index_uuid", "_na_"},
          {"index", index}};
}

class AutoCreate : public DevSearchTest {
 protected:
  json put_cluster(const json& body, int expected_status = 200) {
    auto r = call("PUT", "/_cluster/settings", body);
    EXPECT_EQ(r.status, expected_status) << r.body.dump();
    return r.body;
  }
};

TEST_F(AutoCreate, IsOnByDefaultAndTheClusterShowsNoSettings) {
  EXPECT_EQ(call("GET", "/_cluster/settings").body,
            (json{{"persistent", json::object()}, {"transient", json::object()}}));
  auto r = call_ndjson("/_bulk", one_doc("created-by-bulk"));
  EXPECT_EQ(r.body["items"][0]["index"]["status"], 201);
  EXPECT_EQ(call("HEAD", "/created-by-bulk").status, 200);
}

TEST_F(AutoCreate, TurnedOffABulkItemForAMissingIndexAnswers404AndOthersGoThrough) {
  ASSERT_EQ(call("PUT", "/exists").status, 200);
  auto answer = put_cluster({{"persistent", {{"action.auto_create_index", false}}}});
  EXPECT_EQ(answer, (json{{"acknowledged", true},
                          {"persistent", {{"action", {{"auto_create_index", "false"}}}}},
                          {"transient", json::object()}}));
  EXPECT_EQ(call("GET", "/_cluster/settings").body,
            (json{{"persistent", {{"action", {{"auto_create_index", "false"}}}}}, {"transient", json::object()}}));
  auto r = call_ndjson("/_bulk", one_doc("missing") + one_doc("exists") + one_doc("missing", "2"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["errors"], true);
  for (int i : {0, 2}) {
    const auto& item = r.body["items"][i]["index"];
    EXPECT_EQ(item["_index"], "missing");
    EXPECT_EQ(item["status"], 404);
    EXPECT_EQ(item["error"], refused_item_error("missing", "[action.auto_create_index] is [false]"));
  }
  EXPECT_EQ(r.body["items"][1]["index"]["status"], 201);
  EXPECT_EQ(call("HEAD", "/missing").status, 404);
  auto bulk = client_->bulk(one_doc("missing"));
  ASSERT_TRUE(bulk.ok());
  EXPECT_EQ(bulk->items[0].error_type, "index_not_found_exception");
  EXPECT_FALSE(bulk->items[0].retryable);
}

// Writes with require_alias (how the indexers write) never create an index, even with auto-create
// on: a target that is not an alias is refused per item; an alias writes through to its index.
TEST_F(AutoCreate, RequireAliasRefusesATargetThatIsNotAnAliasAndCreatesNothing) {
  ASSERT_EQ(call("PUT", "/real", {{"aliases", {{"real-load", json::object()}}}}).status, 200);
  auto r = call_ndjson("/_bulk?require_alias=true", one_doc("gone-load") + one_doc("real-load") + one_doc("real"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["errors"], true);
  const auto& gone = r.body["items"][0]["index"];
  EXPECT_EQ(gone["status"], 404);
  EXPECT_EQ(gone["error"]["type"], "index_not_found_exception");
  EXPECT_EQ(gone["error"]["reason"],
            "no such index [gone-load] and [require_alias] request flag is [true] and [gone-load] is not an alias");
  EXPECT_EQ(r.body["items"][1]["index"]["status"], 201);
  EXPECT_EQ(r.body["items"][1]["index"]["_index"], "real");
  EXPECT_EQ(r.body["items"][2]["index"]["status"], 404) << "a concrete index is not an alias either";
  EXPECT_EQ(call("HEAD", "/gone-load").status, 404) << "auto-create did not make it";
  // The same through the client, and per action ("require_alias": true in the action line).
  auto bulk = client_->bulk(one_doc("gone-load"), search::BulkItems::kEvery, /*require_alias=*/true);
  ASSERT_TRUE(bulk.ok());
  EXPECT_EQ(bulk->items[0].error_type, "index_not_found_exception");
  EXPECT_FALSE(bulk->items[0].retryable);
  auto per_action = call_ndjson("/_bulk", json{{"index", {{"_index", "other-load"}, {"require_alias", true}}}}.dump() +
                                              "\n{\"title\":\"t\"}\n");
  EXPECT_EQ(per_action.body["items"][0]["index"]["status"], 404);
  EXPECT_EQ(call("HEAD", "/other-load").status, 404);
}

TEST_F(AutoCreate, TurnedOffASingleDocumentWriteToAMissingIndexAnswers404) {
  put_cluster({{"transient", {{"action.auto_create_index", "false"}}}});
  auto r = call("PUT", "/nowhere/_doc/1", {{"title", "x"}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["status"], 404);
  EXPECT_EQ(r.body["error"]["type"], "index_not_found_exception");
  EXPECT_EQ(r.body["error"]["reason"], "no such index [nowhere] and [action.auto_create_index] is [false]");
  EXPECT_EQ(r.body["error"]["root_cause"][0]["index"], "nowhere");
}

TEST_F(AutoCreate, APatternListAllowsAndForbidsByTheFirstMatchingPattern) {
  put_cluster({{"persistent", {{"action.auto_create_index", "+image-*,-audio-*"}}}});
  auto r = call_ndjson("/_bulk", one_doc("image-1") + one_doc("audio-1") + one_doc("other"));
  EXPECT_EQ(r.body["items"][0]["index"]["status"], 201);
  EXPECT_EQ(
      r.body["items"][1]["index"]["error"],
      refused_item_error(
          "audio-1", "[action.auto_create_index] contains [-audio-*] which forbids automatic creation of the index"));
  EXPECT_EQ(r.body["items"][2]["index"]["error"],
            refused_item_error("other", "[action.auto_create_index] ([+image-*,-audio-*]) doesn't match"));
}

TEST_F(AutoCreate, TransientSettingsOverridePersistentOnesAndNullRemovesThem) {
  put_cluster(
      {{"persistent", {{"action.auto_create_index", "false"}}}, {"transient", {{"action.auto_create_index", "true"}}}});
  EXPECT_EQ(call_ndjson("/_bulk", one_doc("t-1")).body["items"][0]["index"]["status"], 201);
  auto removed = put_cluster({{"transient", {{"action.auto_create_index", nullptr}}}});
  EXPECT_EQ(removed, (json{{"acknowledged", true}, {"persistent", json::object()}, {"transient", json::object()}}));
  EXPECT_EQ(call_ndjson("/_bulk", one_doc("t-2")).body["items"][0]["index"]["status"], 404);
  EXPECT_EQ(call("GET", "/_cluster/settings?flat_settings=true").body,
            (json{{"persistent", {{"action.auto_create_index", "false"}}}, {"transient", json::object()}}));
}

TEST_F(AutoCreate, MalformedValuesUnknownSettingsAndEmptyUpdatesAreRefusedWith400) {
  auto bad = put_cluster({{"persistent", {{"action.auto_create_index", "+"}}}}, 400);
  EXPECT_EQ(bad["error"]["type"], "illegal_argument_exception");
  EXPECT_EQ(bad["error"]["reason"],
            "Can't parse [+] for setting [action.auto_create_index] must contain an index name after [+]");
  auto unknown = put_cluster({{"persistent", {{"no.such.setting", 1}}}}, 400);
  EXPECT_EQ(unknown["error"]["reason"], "persistent setting [no.such.setting], not recognized");
  auto empty = put_cluster(json::object(), 400);
  EXPECT_EQ(empty["error"]["type"], "action_request_validation_exception");
  EXPECT_EQ(call("GET", "/_cluster/settings").body["persistent"], json::object()) << "nothing was changed";
}

TEST_F(AutoCreate, TurnedOffAReindexIntoAMissingDestinationFailsEachDocument) {
  ASSERT_EQ(call_ndjson("/_bulk", one_doc("source", "1") + one_doc("source", "2")).status, 200);
  ASSERT_EQ(call("POST", "/source/_refresh").status, 200);
  put_cluster({{"persistent", {{"action.auto_create_index", false}}}});
  auto r = call("POST", "/_reindex", {{"source", {{"index", "source"}}}, {"dest", {{"index", "not-there"}}}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["created"], 0);
  ASSERT_EQ(r.body["failures"].size(), 2u);
  EXPECT_EQ(r.body["failures"][0]["status"], 404);
  EXPECT_EQ(r.body["failures"][0]["cause"], refused_item_error("not-there", "[action.auto_create_index] is [false]"));
  EXPECT_EQ(call("HEAD", "/not-there").status, 404);
}

class AutoCreateOffFromTheCommandLine : public DevSearchTest {
 protected:
  DevSearchOptions server_options() const override {
    DevSearchOptions o;
    o.auto_create_index = "false";  // datarefresh devsearch --auto-create-index false
    return o;
  }
};

TEST_F(AutoCreateOffFromTheCommandLine, StartsRefusingAndTheClusterSettingsCanTurnItBackOn) {
  EXPECT_EQ(call_ndjson("/_bulk", one_doc("cli")).body["items"][0]["index"]["status"], 404);
  EXPECT_EQ(call("GET", "/_cluster/settings").body["persistent"], json::object()) << "a node setting is not shown";
  EXPECT_EQ(call("GET", "/_cluster/settings?include_defaults=true").body["defaults"],
            (json{{"action", {{"auto_create_index", "false"}}}}));
  ASSERT_EQ(call("PUT", "/_cluster/settings", {{"persistent", {{"action.auto_create_index", true}}}}).status, 200);
  EXPECT_EQ(call_ndjson("/_bulk", one_doc("cli")).body["items"][0]["index"]["status"], 201);
}

TEST(AutoCreateOption, AMalformedCommandLineValueIsAConfigurationError) {
  DevSearchOptions o;
  o.auto_create_index = "a,,b";
  EXPECT_THROW(DevSearchServer server(o), ConfigError);
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
