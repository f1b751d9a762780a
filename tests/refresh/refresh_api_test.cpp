// The planner's API server without a database or a broker: the web console's files are served
// (with their content type and Content-Security-Policy) without the bearer token, while every
// /v1 route still needs it. Loopback HTTP only.
#include "producer/refresh_api.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "producer/console.h"
#include "tests/config/test_support.h"

namespace datarefresh::planner {
namespace {

constexpr const char* kToken = "console-test-token";

class RefreshApiConsole : public ::testing::Test {
 protected:
  RefreshApiConsole()
      : config_(config::load_config_from_string(config::testing::kMinimalYaml, config::testing::minimal_env())),
        producer_([] {
          kafka::ProducerOptions o;
          o.client.bootstrap_servers = "127.0.0.1:1";  // never reached: no route here produces
          o.close_timeout = std::chrono::milliseconds(100);
          return o;
        }()) {
    RefreshApi::Options o;
    o.token = kToken;
    api_ = std::make_unique<RefreshApi>(o, config_, producer_, nullptr);
    api_->start();
  }

  httplib::Result get(const std::string& path, const std::string& token = "") {
    httplib::Client client("127.0.0.1", api_->port());
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", std::string("Bearer ") + token);
    return client.Get(path.c_str(), headers);
  }

  config::Config config_;
  kafka::Producer producer_;
  std::unique_ptr<RefreshApi> api_;
};

TEST_F(RefreshApiConsole, ServesThePageAndItsFilesWithoutTheTokenUnderAStrictPolicy) {
  auto page = get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->get_header_value("Content-Security-Policy"), kConsoleCsp);
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_NE(page->body.find("<script src=\"/console/console.js\""), std::string::npos) << page->body;
  EXPECT_EQ(page->body.find("http://"), std::string::npos) << "the page loads nothing from elsewhere";
  EXPECT_EQ(page->body.find("https://"), std::string::npos) << "the page loads nothing from elsewhere";

  auto script = get("/console/console.js");
  ASSERT_TRUE(script);
  EXPECT_EQ(script->status, 200);
  EXPECT_EQ(script->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_NE(script->body.find("/v1/refreshes"), std::string::npos);
  auto style = get("/console/console.css");
  ASSERT_TRUE(style);
  EXPECT_EQ(style->status, 200);
  EXPECT_EQ(style->get_header_value("Content-Type"), "text/css; charset=utf-8");
  EXPECT_EQ(console_paths(), (std::set<std::string>{"/", "/console/console.js", "/console/console.css"}));
}

TEST_F(RefreshApiConsole, EveryOtherPathStillNeedsTheToken) {
  for (const char* path : {"/v1/refreshes", "/v1/refreshes/x/shards", "/console/other.js", "/console/console.jsx",
                           "/console", "/index.html"}) {
    auto r = get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_NE(r->body.find("bearer token"), std::string::npos) << path;
  }
  httplib::Client client("127.0.0.1", api_->port());
  auto post = client.Post("/", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401) << "only GET and HEAD of the console's files are open";
}

TEST_F(RefreshApiConsole, TheShardsRouteNeedsARefreshId) {
  auto r = get("/v1/refreshes/not-an-id/shards", kToken);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("is not a refresh id"), std::string::npos) << r->body;
  auto unknown = get("/console/other.js", kToken);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
}

}  // namespace
}  // namespace datarefresh::planner
