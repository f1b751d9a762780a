#include "core/metrics/ops_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>

#include "core/common/error.h"
#include "core/metrics/http_support.h"

namespace datarefresh::metrics {
namespace {

struct HttpAnswer {
  long status = 0;
  std::string body;
};

HttpAnswer http_get(const std::string& url, const std::string& bearer = "") {
  HttpAnswer answer;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char* p, size_t s, size_t n, void* out) {
    static_cast<std::string*>(out)->append(p, s * n);
    return s * n;
  });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer.body);
  curl_slist* headers = nullptr;
  if (!bearer.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + bearer).c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  if (curl_easy_perform(curl) == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &answer.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return answer;
}

TEST(OpsServer, ServesMetricsInPrometheusTextFormat) {
  auto registry = std::make_shared<prometheus::Registry>();
  auto& family = prometheus::BuildCounter().Name("datarefresh_documents_indexed_total").Help("Documents indexed").Register(*registry);
  family.Add({{"media_type", "image"}}).Increment(42);
  HealthState health;
  OpsServer server({"127.0.0.1", 0, std::nullopt}, registry, health);
  server.start();
  auto answer = http_get("http://127.0.0.1:" + std::to_string(server.port()) + "/metrics");
  EXPECT_EQ(answer.status, 200);
  EXPECT_NE(answer.body.find("# TYPE datarefresh_documents_indexed_total counter"), std::string::npos);
  EXPECT_NE(answer.body.find("datarefresh_documents_indexed_total{media_type=\"image\"} 42"), std::string::npos);
}

TEST(OpsServer, ReadinessFollowsItsChecksAndNamesTheFailingOne) {
  HealthState health;
  std::atomic<bool> db_up{false};
  health.add_readiness_check("postgres", [&] { return db_up ? std::string() : std::string("connection refused"); });
  OpsServer server({"127.0.0.1", 0, std::nullopt}, std::make_shared<prometheus::Registry>(), health);
  server.start();
  auto base = "http://127.0.0.1:" + std::to_string(server.port());
  auto not_ready = http_get(base + "/readyz");
  EXPECT_EQ(not_ready.status, 503);
  EXPECT_NE(not_ready.body.find("connection refused"), std::string::npos);
  EXPECT_EQ(http_get(base + "/healthz").status, 200);
  db_up = true;
  EXPECT_EQ(http_get(base + "/readyz").status, 200);
}

TEST(OpsServer, LivenessFailsWhenTheHeartbeatIsStale) {
  HealthState health(std::chrono::milliseconds(50));
  OpsServer server({"127.0.0.1", 0, std::nullopt}, std::make_shared<prometheus::Registry>(), health);
  server.start();
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  auto base = "http://127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(http_get(base + "/healthz").status, 503);
  health.heartbeat();
  EXPECT_EQ(http_get(base + "/healthz").status, 200);
}

TEST(OpsServer, TokenIsRequiredWhenConfiguredAndAnyNonLoopbackBindWithoutOneIsRefused) {
  HealthState health;
  OpsServer server({"127.0.0.1", 0, std::string("s3cret")}, std::make_shared<prometheus::Registry>(), health);
  server.start();
  auto base = "http://127.0.0.1:" + std::to_string(server.port());
  EXPECT_EQ(http_get(base + "/metrics").status, 401);
  EXPECT_EQ(http_get(base + "/metrics", "wrong").status, 401);
  EXPECT_EQ(http_get(base + "/metrics", "s3cret").status, 200);
  EXPECT_THROW(OpsServer({"0.0.0.0", 0, std::nullopt}, std::make_shared<prometheus::Registry>(), health), ConfigError);
}

TEST(BearerToken, MatchesOnlyTheExactHeader) {
  EXPECT_TRUE(bearer_token_matches("Bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cre", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer s3cret ", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("bearer s3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("s3cret", "s3cret"));
  EXPECT_FALSE(bearer_token_matches("Bearer ", ""));
  EXPECT_FALSE(bearer_token_matches("", ""));
}

TEST(BearerToken, NoServerListensBeyondLoopbackWithoutOne) {
  EXPECT_NO_THROW(require_token_off_loopback("127.0.0.1", "http.api_bind", std::nullopt));
  EXPECT_NO_THROW(require_token_off_loopback("localhost", "http.api_bind", std::nullopt));
  EXPECT_NO_THROW(require_token_off_loopback("0.0.0.0", "http.api_bind", std::string("t")));
  try {
    require_token_off_loopback("10.1.2.3", "http.api_bind", std::string());
    ADD_FAILURE() << "an empty token off loopback was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("http.api_bind is 10.1.2.3, which is not loopback: set http.token"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace datarefresh::metrics
