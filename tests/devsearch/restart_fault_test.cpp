#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/devsearch/devsearch_fixture.h"

namespace datarefresh::devsearch::testing {
namespace {

using nlohmann::json;

std::string docs(const std::string& index, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    out += json{{"index", {{"_index", index}, {"_id", std::to_string(i)}}}}.dump() + "\n" + R"({"title":"t"})" + "\n";
  }
  return out;
}

class RestartFault : public DevSearchTest {};

TEST_F(RestartFault, UnavailableRefusesConnectionsThenTheNodeComesBackWithItsData) {
  ASSERT_EQ(call("PUT", "/kept", {{"settings", {{"refresh_interval", "-1"}, {"number_of_replicas", 0}}}}).status, 200);
  auto bulk = client_->bulk(docs("kept", 20));
  ASSERT_TRUE(bulk.ok());
  ASSERT_EQ(*client_->count("kept"), 0) << "not refreshed yet";

  auto r = call("POST", "/_devsearch/faults", {{"unavailable", "1500ms"}});
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body["unavailable_for_ms"], 1500);
  ASSERT_TRUE(eventually([&] { return !server_->available(); }, std::chrono::seconds(5)));

  // While down, every request fails without an HTTP answer, and the client may retry it.
  auto during = client_->count("kept");
  ASSERT_FALSE(during.ok());
  EXPECT_EQ(during.error().http_status, 0) << during.error().describe();
  EXPECT_TRUE(during.error().retryable);
  auto info = client_->info();
  EXPECT_FALSE(info.ok());

  ASSERT_TRUE(eventually([&] { return client_->info().ok(); }, std::chrono::seconds(10)));
  EXPECT_TRUE(server_->available());
  // Recovery ends with a refresh: every acknowledged document is there and visible.
  EXPECT_EQ(*client_->count("kept"), 20);
  auto settings = client_->get_settings("kept");
  ASSERT_TRUE(settings.ok());
  EXPECT_EQ((*settings)["index"]["refresh_interval"], "-1");
  EXPECT_EQ(call("GET", "/_devsearch/stats").body["restarts"], 1);
}

TEST_F(RestartFault, ARestartEndsRunningTasksAndForgetsTransientButNotPersistentSettings) {
  ASSERT_EQ(call_ndjson("/_bulk", docs("slow-src", 50)).status, 200);
  ASSERT_EQ(call("POST", "/slow-src/_refresh").status, 200);
  ASSERT_EQ(
      call("PUT", "/_cluster/settings",
           {{"persistent", {{"action.auto_create_index", "+slow-*"}}}, {"transient", {{"search.max_buckets", 100}}}})
          .status,
      200);
  // 1 document per second in batches of 1: runs for about a minute.
  auto started = call("POST", "/_reindex?wait_for_completion=false&requests_per_second=1",
                      {{"source", {{"index", "slow-src"}, {"size", 1}}}, {"dest", {{"index", "slow-dest"}}}});
  ASSERT_EQ(started.status, 200);
  std::string task = started.body["task"];
  EXPECT_EQ(call("GET", "/_tasks/" + task).body["completed"], false);

  ASSERT_TRUE(server_->restart(std::chrono::milliseconds(300)));
  EXPECT_FALSE(server_->available());
  ASSERT_TRUE(eventually([&] { return client_->info().ok(); }, std::chrono::seconds(10)));

  auto gone = call("GET", "/_tasks/" + task);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["error"]["type"], "resource_not_found_exception");
  EXPECT_EQ(call("GET", "/_cluster/settings?flat_settings=true").body,
            (json{{"persistent", {{"action.auto_create_index", "+slow-*"}}}, {"transient", json::object()}}));
  EXPECT_EQ(*client_->count("slow-src"), 50);
}

TEST_F(RestartFault, OnlyOneRestartRunsAtATimeAndStopEndsOneUnderWay) {
  ASSERT_TRUE(server_->restart(std::chrono::seconds(30)));
  EXPECT_FALSE(server_->restart(std::chrono::seconds(1)));
  auto r = client_->info();
  EXPECT_FALSE(r.ok());
  auto before = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5)) << "stop does not wait for the restart";
}

TEST_F(RestartFault, AnUnknownOrMalformedFaultIsRefused) {
  auto r = call("POST", "/_devsearch/faults", {{"unavailable", "soon"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(r.body["error"]["reason"].get<std::string>(), ::testing::HasSubstr("unavailable"));
  EXPECT_TRUE(server_->available());
}

}  // namespace
}  // namespace datarefresh::devsearch::testing
