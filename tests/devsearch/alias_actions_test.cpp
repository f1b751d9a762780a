#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;
using search::AliasAction;

json actions(std::initializer_list<json> list) {
  return {{"actions", json(list)}};
}
json add(const std::string& index, const std::string& alias) {
  return {{"add", {{"index", index}, {"alias", alias}}}};
}
json remove(const std::string& index, const std::string& alias) {
  return {{"remove", {{"index", index}, {"alias", alias}}}};
}
json remove(const std::string& index, const std::string& alias, bool must_exist) {
  return {{"remove", {{"index", index}, {"alias", alias}, {"must_exist", must_exist}}}};
}

const json kMissingLive = {{"type", "aliases_not_found_exception"},
                           {"reason", "aliases [live] missing"},
                           {"resource.type", "aliases"},
                           {"resource.id", "live"}};

// Two indices, `live` on image-a: a swap to image-b is the coordinator's promotion.
template <typename Base>
class AliasActionsBase : public Base {
 protected:
  void SetUp() override {
    Base::SetUp();
    ASSERT_EQ(this->call("PUT", "/image-a").status, 200);
    ASSERT_EQ(this->call("PUT", "/image-b").status, 200);
    ASSERT_EQ(this->call("POST", "/_aliases", actions({add("image-a", "live")})).status, 200);
  }
  json aliases_of_live() { return this->call("GET", "/_alias/live").body; }
};
using AliasActions7 = AliasActionsBase<DevSearch7Test>;
using AliasActions8 = AliasActionsBase<DevSearchTest>;

TEST_F(AliasActions7, ARemoveOfAnAliasTheIndexDoesNotHaveIsSkippedWhenAnotherActionApplies) {
  auto r = call("POST", "/_aliases", actions({remove("image-b", "live"), add("image-b", "live")}));
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body, (json{{"acknowledged", true}}));
  EXPECT_EQ(aliases_of_live(), (json{{"image-a", {{"aliases", {{"live", json::object()}}}}},
                                     {"image-b", {{"aliases", {{"live", json::object()}}}}}}));
}

TEST_F(AliasActions7, ARequestInWhichNoActionAppliesAnswers404) {
  auto r = call("POST", "/_aliases", actions({remove("image-b", "live")}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["root_cause"][0], kMissingLive);
  EXPECT_EQ(r.body["status"], 404);
}

TEST_F(AliasActions7, MustExistIsAnUnknownFieldIn710) {
  std::string body =
      "{\n  \"actions\": [\n    {\n      \"remove\": {\n        \"index\": \"image-a\",\n"
      "        \"alias\": \"live\",\n        \"must_exist\": true\n      }\n    }\n  ]\n}";
  auto r = client_->perform("POST", "/_aliases", body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  auto e = json::parse(r->body)["error"];
  // As Elasticsearch 7.9/7.10 answer it (elastic/elasticsearch#62642), positions included.
  EXPECT_EQ(e["root_cause"][0],
            (json{{"type", "x_content_parse_exception"}, {"reason", "[7:9] [remove] unknown field [must_exist]"}}));
  EXPECT_EQ(e["type"], "x_content_parse_exception");
  EXPECT_EQ(e["reason"], "[7:23] [aliases] failed to parse field [actions]");
  EXPECT_EQ(e["caused_by"]["reason"], "[7:23] [alias_action] failed to parse field [remove]");
  EXPECT_EQ(e["caused_by"]["caused_by"]["reason"], "[7:9] [remove] unknown field [must_exist]");
  EXPECT_EQ(aliases_of_live().size(), 1u) << "nothing changed";
}

TEST_F(AliasActions8, ARemoveOfAnAliasTheIndexDoesNotHaveAnswers404EvenInASwapAndChangesNothing) {
  auto r = call("POST", "/_aliases", actions({remove("image-b", "live"), add("image-b", "live")}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["root_cause"][0], kMissingLive);
  EXPECT_EQ(aliases_of_live(), (json{{"image-a", {{"aliases", {{"live", json::object()}}}}}}));
  // Through the client the coordinator uses.
  auto status = client_->update_aliases({AliasAction::remove("image-b", "live"), AliasAction::add("image-b", "live")});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().http_status, 404);
  EXPECT_EQ(status.error().type, "aliases_not_found_exception");
}

TEST_F(AliasActions8, MustExistFalseLetsASwapSkipAMissingAliasButNotARequestWhereNothingApplies) {
  auto r = call("POST", "/_aliases", actions({remove("image-b", "live", false), add("image-b", "live")}));
  EXPECT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(aliases_of_live().size(), 2u);
  ASSERT_EQ(call("POST", "/_aliases", actions({remove("image-a", "live")})).status, 200);
  auto lone = call("POST", "/_aliases", actions({remove("image-a", "live", false)}));
  EXPECT_EQ(lone.status, 404);
  EXPECT_EQ(lone.body["error"]["root_cause"][0], kMissingLive);
}

TEST_F(AliasActions8, MustExistTrueAnswers404AndIsRefusedOnAnAdd) {
  auto r = call("POST", "/_aliases", actions({remove("image-b", "live", true), add("image-b", "other")}));
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body["error"]["root_cause"][0], kMissingLive);
  EXPECT_EQ(call("GET", "/_alias/other").status, 404);
  EXPECT_EQ(call("POST", "/_aliases", actions({remove("image-a", "live", true)})).status, 200);
  auto on_add = call("POST", "/_aliases",
                     {{"actions", {{{"add", {{"index", "image-a"}, {"alias", "x"}, {"must_exist", true}}}}}}});
  EXPECT_EQ(on_add.status, 400);
  EXPECT_EQ(on_add.body["error"]["root_cause"][0]["reason"].get<std::string>().find(
                "[add] unknown field [must_exist]") != std::string::npos,
            true)
      << on_add.body.dump();
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
