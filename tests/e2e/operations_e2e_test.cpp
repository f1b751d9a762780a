// Operating datarefresh over real processes: the planner's HTTP API (requests, status, listing,
// cancellation, validation), bearer tokens on the API and /metrics, webhook notifications to a
// local receiver, consumer-lag metrics, scheduled refreshes, and secrets that appear nowhere.
// The stack runs with a token, a webhook and notify level verbose for every service.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "core/common/net.h"
#include "core/pg/database.h"
#include "core/refresh/naming.h"
#include "devstack/demo/dev_stack.h"
#include "devstack/process/child_process.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::e2e {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Secret values that must never show up in a log, an event, a metric or an API answer.
const std::string kToken = "tok-" + refresh::new_uuid();
const std::string kHookSecret = "hook-" + refresh::new_uuid();

// A string field of an answer, "" when missing or null.
std::string text(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// The Slack-compatible receiver the coordinator posts to.
class WebhookReceiver {
 public:
  WebhookReceiver() {
    server_.Post("/services/" + kHookSecret, [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      posts_.push_back(json::parse(req.body, nullptr, false));
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~WebhookReceiver() { stop(); }
  // Takes the receiver down: posts find nothing listening.
  void stop() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  std::string url() const { return fmt::format("http://127.0.0.1:{}/services/{}", port_, kHookSecret); }
  std::vector<std::string> texts() {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& p : posts_) out.push_back(p.is_object() ? text(p, "text") : "(not json)");
    return out;
  }
  std::vector<json> posts() {
    std::lock_guard lock(mutex_);
    return posts_;
  }

 private:
  httplib::Server server_;
  std::mutex mutex_;
  std::vector<json> posts_;
  int port_ = 0;
  std::thread thread_;
};

struct Answer {
  int status = 0;  // 0: no answer
  json body = json::object();
  std::string raw;
};

class Operations : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    receiver_ = new WebhookReceiver();
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 600;
    o.seed = 20261130;
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_LOGGING_FORMAT", "json"},
             {"DATAREFRESH_HTTP_TOKEN", kToken},
             {"DATAREFRESH_NOTIFY_SLACK_WEBHOOK", receiver_->url()},
             {"DATAREFRESH_NOTIFY_LEVEL", "verbose"},
             {"DATAREFRESH_KAFKA_CONSUMER_LAG_INTERVAL", "1s"},
             {"DATAREFRESH_REFRESH_LEFTOVER_SWEEP_INTERVAL", "3s"}};
    stack_ = new demo::DevStack(o);
    std::cout << "service logs: " << stack_->run_dir().string() << " (kept if a test fails)\n";
    stack_->start_infrastructure();
    stack_->start_services(2);
    ASSERT_TRUE(api_up(60s)) << "the planner's API did not answer at " << stack_->api_url();
  }
  static void TearDownTestSuite() {
    auto* unit = ::testing::UnitTest::GetInstance();
    stack_->set_remove_run_dir(unit->Passed() && !unit->ad_hoc_test_result().Failed());
    delete stack_;
    stack_ = nullptr;
    delete receiver_;
    receiver_ = nullptr;
  }

  static bool api_up(std::chrono::seconds timeout) {
    for (auto end = Clock::now() + timeout; Clock::now() < end; std::this_thread::sleep_for(200ms)) {
      if (call("GET", "/v1/refreshes").status == 200) return true;
    }
    return false;
  }

  // One request to the planner's API; `token` "" sends none.
  static Answer call(const std::string& method, const std::string& path, const std::string& body = "",
                     const std::string& token = kToken, const std::string& content_type = "application/json") {
    httplib::Client client(stack_->api_url());
    client.set_read_timeout(60, 0);
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    httplib::Result r = method == "GET" ? client.Get(path.c_str(), headers)
                                        : client.Post(path.c_str(), headers, body, content_type.c_str());
    Answer a;
    if (!r) return a;
    a.status = r->status;
    a.raw = r->body;
    a.body = json::parse(r->body, nullptr, false);
    if (!a.body.is_object()) a.body = json::object();  // keeps value() and [] safe in the checks
    std::lock_guard lock(answers_mutex_);
    answers_ += r->body + "\n";
    return a;
  }

  // Polls GET /v1/refreshes/{id} until `done` holds for the answer.
  template <typename F>
  static json wait_for(const std::string& id, F done, std::chrono::seconds timeout) {
    json last;
    for (auto end = Clock::now() + timeout; Clock::now() < end; std::this_thread::sleep_for(250ms)) {
      auto a = call("GET", "/v1/refreshes/" + id);
      if (a.status == 200) last = a.body;
      if (a.status == 200 && done(a.body)) return a.body;
    }
    ADD_FAILURE() << "gave up waiting on refresh " << id << "; last answer " << last.dump();
    return last;
  }
  static json wait_until_over(const std::string& id, std::chrono::seconds timeout = 240s) {
    return wait_for(id, [](const json& j) { return text(j, "status") != "running" && text(j, "status") != "queued"; },
                    timeout);
  }

  static std::string request(const std::string& media, const std::string& by) {
    auto a = call("POST", "/v1/refreshes", json{{"media_type", media}, {"options", {{"requested_by", by}}}}.dump());
    EXPECT_EQ(a.status, 202) << a.raw;
    return text(a.body, "refresh_id");
  }

  // A service's metrics port, from its last "metrics_port" log field (json logs); "" if none.
  static std::string metrics_port(const std::string& log_name) {
    std::ifstream in(stack_->run_dir() / (log_name + ".log"));
    std::string port;
    std::regex re("\"metrics_port\":([0-9]+)");
    for (std::string line; std::getline(in, line);) {
      std::smatch m;
      if (std::regex_search(line, m, re)) port = m[1];
    }
    return port;
  }

  static std::string metrics_of(const std::string& log_name, const std::string& token = kToken) {
    auto port = metrics_port(log_name);
    if (port.empty()) return "(no metrics port in " + log_name + ".log)";
    httplib::Client client("127.0.0.1", std::stoi(port));
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    auto r = client.Get("/metrics", headers);
    if (!r) return "(no answer)";
    return r->status == 200 ? r->body : fmt::format("(HTTP {})", r->status);
  }

  static demo::DevStack* stack_;
  static WebhookReceiver* receiver_;
  static std::string completed_image_;  // the refresh of ARefreshRequestedThroughTheApi...
  static std::mutex answers_mutex_;
  static std::string answers_;  // every API answer body, checked for secrets at the end
};

demo::DevStack* Operations::stack_ = nullptr;
WebhookReceiver* Operations::receiver_ = nullptr;
std::string Operations::completed_image_;
std::mutex Operations::answers_mutex_;
std::string Operations::answers_;

TEST_F(Operations, TheApiRefusesBadRequestsNamingWhatIsWrong) {
  auto expect = [](const Answer& a, int status, const std::string& says) {
    EXPECT_EQ(a.status, status) << a.raw;
    EXPECT_NE(text(a.body, "error").find(says), std::string::npos) << a.raw;
    EXPECT_EQ(a.body.value("status", 0), status) << a.raw;
  };
  expect(call("GET", "/v1/refreshes", "", ""), 401, "bearer token");
  expect(call("GET", "/v1/refreshes", "", "wrong"), 401, "bearer token");
  expect(call("POST", "/v1/refreshes", "{\"media_type\": "), 400, "not valid JSON");
  expect(call("POST", "/v1/refreshes", "[1, 2]"), 400, "must be a JSON object");
  expect(call("POST", "/v1/refreshes", "{}"), 400, "media_type is required: one of audio, image");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "video"})"), 400,
         "media_type 'video' is not configured: use one of audio, image");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "priority": 1})"), 400,
         "unknown field priority: allowed are media_type, mode, options");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "mode": "partial"})"), 400,
         R"(mode must be "full", "incremental", "auto", "filtered_only" or "sample" (absent = full), got "partial")");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "mode": true})"), 400,
         R"(mode must be "full", "incremental", "auto", "filtered_only" or "sample")");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "options": {"mode": "auto"}})"), 400,
         "options.mode: give the mode at the top level of the body");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "options": {"row_limit": -5}})"), 400,
         "options.row_limit must be a positive integer");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image", "options": {"limit": 5}})"), 400,
         "unknown field options.limit");
  expect(call("POST", "/v1/refreshes", R"({"media_type": "image"})", kToken, "text/plain"), 415, "application/json");
  std::string huge = R"({"media_type": "image", "options": {"requested_by": ")" + std::string(70 * 1024, 'x') + "\"}}";
  expect(call("POST", "/v1/refreshes", huge), 413, "larger than 65536 bytes");
  expect(call("GET", "/v1/refreshes/not-an-id"), 400, "is not a refresh id");
  expect(call("GET", "/v1/refreshes/" + refresh::new_uuid()), 404, "no refresh");
  expect(call("POST", "/v1/refreshes/" + refresh::new_uuid() + "/cancel"), 404, "no refresh");
  expect(call("GET", "/v1/refreshes?status=bogus"), 400, "status 'bogus' is not one of");
  expect(call("GET", "/v1/refreshes?limit=0"), 400, "limit must be an integer from 1 to 500");
  expect(call("GET", "/v1/nothing"), 404, "no such endpoint");
  // Nothing was requested by any of these.
  auto list = call("GET", "/v1/refreshes");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(list.body["refreshes"], json::array()) << list.raw;
}

TEST_F(Operations, ARefreshRequestedThroughTheApiCompletesAndReportsItsProgress) {
  auto a = call("POST", "/v1/refreshes", R"({"media_type": "image", "options": {"requested_by": "e2e"}})");
  ASSERT_EQ(a.status, 202) << a.raw;
  const std::string id = a.body["refresh_id"];
  EXPECT_EQ(a.body["status"], "queued");
  EXPECT_EQ(a.body["status_url"], "/v1/refreshes/" + id);
  EXPECT_EQ(a.body["mode"], "full") << "no mode asked: a full refresh";

  // While it runs, a second request in the same lock scope is refused at once, naming it.
  auto running = wait_for(id, [](const json& j) { return text(j, "status") == "running"; }, 60s);
  auto second = call("POST", "/v1/refreshes", R"({"media_type": "audio"})");
  EXPECT_EQ(second.status, 409) << second.raw;
  EXPECT_NE(text(second.body, "error").find(id), std::string::npos) << second.raw;

  bool saw_progress = false;
  auto done = wait_for(
      id,
      [&](const json& j) {
        if (text(j, "phase") == "indexing" && j.contains("shards") && j["shards"]["total"].get<int>() > 0) {
          saw_progress = true;
        }
        // Once in the ledger, the copy's progress shows while copying, and only then.
        if (text(j, "status") != "queued") {
          if (text(j, "phase") == "copying") {
            EXPECT_TRUE(j["copy"].is_object() && j["copy"].contains("parts_done")) << j.dump();
          } else {
            EXPECT_TRUE(j.contains("copy") && j["copy"].is_null()) << j.dump();
          }
        }
        return text(j, "status") != "running" && text(j, "status") != "queued";
      },
      240s);
  ASSERT_EQ(text(done, "status"), "completed") << done.dump();
  completed_image_ = id;
  EXPECT_TRUE(saw_progress) << "the indexing phase showed its shards";
  EXPECT_EQ(done["requested_by"], "e2e");
  EXPECT_EQ(done["mode"], "full");
  EXPECT_TRUE(done["mode_reason"].is_null());
  EXPECT_TRUE(done["changes"].is_null()) << "a full refresh changes everything: no change counts";
  EXPECT_DOUBLE_EQ(done["percent"].get<double>(), 100);
  EXPECT_EQ(done["shards"]["completed"], done["shards"]["total"]);
  EXPECT_EQ(done["shards"]["total"], 6);
  EXPECT_EQ(done["documents"]["indexed"], done["report"]["documents_indexed"]);
  EXPECT_GT(done["documents"]["indexed"].get<int>(), 2000);
  EXPECT_FALSE(done["report"]["per_provider"].empty());
  EXPECT_TRUE(done["eta_seconds"].is_null());
  EXPECT_EQ(fault::alias_target(*stack_, "image"), done["indices"]["new"].get<std::string>());

  auto list = call("GET", "/v1/refreshes?media_type=image&status=completed&limit=5");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["refreshes"].size(), 1u) << list.raw;
  EXPECT_EQ(list.body["refreshes"][0]["refresh_id"], id);
  EXPECT_EQ(call("GET", "/v1/refreshes?media_type=audio").body["refreshes"], json::array());
  auto late = call("POST", "/v1/refreshes/" + id + "/cancel");
  EXPECT_EQ(late.status, 409) << late.raw;
  EXPECT_NE(text(late.body, "error").find("already ended: completed"), std::string::npos) << late.raw;
}

TEST_F(Operations, ARefreshCancelledWhileIndexingIsRolledBackAndTheLiveDataStays) {
  ASSERT_FALSE(completed_image_.empty()) << "needs the refresh of the test before";
  auto before = fault::live_state(*stack_, "image");
  fault::admin(stack_->search_url(), "POST", "/_devsearch/faults", json{{"latency", "500ms"}}.dump());
  const std::string id = request("image", "e2e");
  auto indexing = wait_for(
      id, [](const json& j) { return j.contains("shards") && j["shards"].value("running", 0) > 0; }, 120s);
  ASSERT_EQ(text(indexing, "phase"), "indexing") << indexing.dump();

  auto c = call("POST", "/v1/refreshes/" + id + "/cancel", R"({"requested_by": "e2e-operator"})");
  EXPECT_EQ(c.status, 202) << c.raw;
  EXPECT_EQ(c.body["status"], "cancelling");
  auto over = wait_until_over(id, 120s);
  fault::admin(stack_->search_url(), "DELETE", "/_devsearch/faults");
  EXPECT_EQ(text(over, "status"), "cancelled") << over.dump();
  EXPECT_EQ(over["cancel_requested_by"], "e2e-operator");
  // Shards still running when the rollback deleted the index stop at their next progress check
  // (1 s here); a bulk request sent before that re-creates the index, and the coordinator's sweep
  // removes it. Wait past that window too, so that the next test starts from the settled state.
  auto settle = [&] {
    for (int i = 0; i < 100 && fault::indices(*stack_) != before.indices; ++i) std::this_thread::sleep_for(200ms);
  };
  settle();
  std::this_thread::sleep_for(3s);
  settle();
  fault::expect_failed_cleanly(*stack_, id, before, "image", "cancelled by e2e-operator", ledger::RunStatus::kCancelled);
  auto again = call("POST", "/v1/refreshes/" + id + "/cancel");
  EXPECT_EQ(again.status, 409) << again.raw;
  EXPECT_NE(text(again.body, "error").find("already ended: cancelled"), std::string::npos) << again.raw;
}

TEST_F(Operations, ACancelDuringTheCopyInterruptsItWithoutWaitingForIt) {
  auto before = fault::live_state(*stack_, "image");
  // Hold the upstream table: the copy through the FDW (which also hashes the rows for the next
  // incremental refresh) waits for the lock for as long as it is held.
  auto upstream = pg::Database::connect(stack_->catalog_db_options());
  upstream.exec("BEGIN");
  upstream.exec("LOCK TABLE image IN ACCESS EXCLUSIVE MODE");
  const std::string id = request("image", "e2e");
  auto copying = wait_for(id, [](const json& j) { return text(j, "phase") == "copying"; }, 60s);
  ASSERT_EQ(text(copying, "phase"), "copying");
  std::this_thread::sleep_for(1s);  // the INSERT ... SELECT is waiting on the lock now
  auto c = call("POST", "/v1/refreshes/" + id + "/cancel");
  EXPECT_EQ(c.status, 202) << c.raw;
  auto over = wait_until_over(id, 30s);  // while the lock is still held
  EXPECT_EQ(text(over, "status"), "cancelled") << over.dump();
  EXPECT_EQ(over["phase"], "cancelled");
  upstream.exec("ROLLBACK");
  fault::expect_failed_cleanly(*stack_, id, before, "image", "cancelled by api", ledger::RunStatus::kCancelled);
}

TEST_F(Operations, NotificationsAnnounceStartsPhasesCompletionsAndCancellations) {
  ASSERT_FALSE(completed_image_.empty());
  std::vector<std::string> texts;
  auto has = [&](const std::string& needle) {
    return std::any_of(texts.begin(), texts.end(), [&](const auto& t) { return t.find(needle) != std::string::npos; });
  };
  for (int i = 0; i < 100; ++i) {
    texts = receiver_->texts();
    if (has("cancelled in phase copying")) break;
    std::this_thread::sleep_for(100ms);
  }
  const std::string mine = "image refresh `" + completed_image_ + "`";
  // Completions and failures name the mode.
  const std::string mine_full = "image full refresh `" + completed_image_ + "`";
  EXPECT_TRUE(has(":arrow_forward: [local] " + mine + " started")) << fmt::format("{}", fmt::join(texts, "\n"));
  EXPECT_TRUE(has(mine + ": snapshotting -> copying"));
  EXPECT_TRUE(has(mine + ": copying -> creating_index"));
  EXPECT_TRUE(has(":white_check_mark: [local] " + mine_full + " completed in"));
  EXPECT_TRUE(has("cancelled in phase indexing: cancelled by e2e-operator"));
  EXPECT_TRUE(has("cancelled in phase copying: cancelled by api"));
  for (const auto& p : receiver_->posts()) {
    if (text(p, "text").find(mine_full + " completed") == std::string::npos) continue;
    EXPECT_NE(p["blocks"][1]["text"]["text"].get<std::string>().find("provider | before | after | change"),
              std::string::npos);
  }
  auto metrics = metrics_of("coordinator");
  EXPECT_NE(metrics.find("datarefresh_notifications_total{outcome=\"sent\"}"), std::string::npos) << metrics;
}

TEST_F(Operations, MetricsNeedTheTokenAndIndexersPublishTheirLag) {
  EXPECT_EQ(metrics_of("indexer-1", ""), "(HTTP 401)");
  auto metrics = metrics_of("indexer-1");
  EXPECT_NE(metrics.find("datarefresh_kafka_consumer_lag_messages{group=\"datarefresh-indexers\""), std::string::npos)
      << metrics.substr(0, 2000);
  auto planner = metrics_of("planner");
  EXPECT_NE(planner.find("datarefresh_kafka_consumer_lag_messages{group=\"datarefresh-planner\""), std::string::npos);
  if (std::system("command -v promtool > /dev/null 2>&1") == 0) {
    for (const auto& [name, text] : {std::pair{"indexer", metrics}, std::pair{"planner", planner}}) {
      auto file = stack_->run_dir() / (std::string(name) + ".metrics");
      std::ofstream(file) << text;
      EXPECT_EQ(std::system(("promtool check metrics < '" + file.string() + "' > /dev/null 2>&1").c_str()), 0) << name;
    }
  }
}

// A real Prometheus server (Debian's prometheus) scrapes every service, with the bearer token, while
// a refresh runs; its query API then gives back what datarefresh exported.
TEST_F(Operations, APrometheusServerScrapesARunningRefresh) {
  std::string executable;
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/bin"}) {
    if (std::filesystem::exists(std::string(dir) + "/prometheus")) executable = std::string(dir) + "/prometheus";
  }
  if (executable.empty()) GTEST_SKIP() << "no prometheus (Debian's package prometheus, which ./dev installs)";
  auto dir = stack_->run_dir() / "prometheus";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "token") << kToken;
  std::string targets;
  for (const auto& service : {"planner", "coordinator", "indexer-1", "indexer-2"}) {
    auto port = metrics_port(service);
    ASSERT_FALSE(port.empty()) << service;
    targets += (targets.empty() ? "" : ", ") + fmt::format("'127.0.0.1:{}'", port);
  }
  std::ofstream(dir / "prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
         "scrape_configs:\n"
         "  - job_name: datarefresh\n"
         "    authorization: {type: Bearer, credentials_file: '" << (dir / "token").string() << "'}\n"
         "    static_configs: [{targets: [" << targets << "]}]\n";
  const int port = pick_free_loopback_port();
  devprocess::ChildProcess prometheus({{executable, "--config.file=" + (dir / "prometheus.yml").string(),
                                        "--storage.tsdb.path=" + (dir / "data").string(),
                                        fmt::format("--web.listen-address=127.0.0.1:{}", port)},
                                       {},
                                       dir / "prometheus.log"});
  httplib::Client prom("127.0.0.1", port);
  auto query = [&](const std::string& q) -> json {
    auto r = prom.Get("/api/v1/query", httplib::Params{{"query", q}}, httplib::Headers{});
    if (!r || r->status != 200) return json::array();
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("data") ? j["data"]["result"] : json::array();
  };
  auto eventually = [&](const std::string& q, std::chrono::seconds timeout) {
    json result;
    for (auto end = Clock::now() + timeout; Clock::now() < end; std::this_thread::sleep_for(500ms)) {
      result = query(q);
      if (!result.empty()) return result;
    }
    return result;
  };
  auto up = eventually("count(up{job=\"datarefresh\"} == 1) == 4", 60s);
  ASSERT_FALSE(up.empty()) << "Prometheus never scraped all four services: " << query("up").dump();

  const std::string id = request("audio", "prometheus-test");
  auto over = wait_until_over(id);
  ASSERT_EQ(text(over, "status"), "completed") << over.dump();
  auto completed = eventually(
      "datarefresh_refreshes_total{job=\"datarefresh\",media_type=\"audio\",outcome=\"completed\"} >= 1", 30s);
  EXPECT_FALSE(completed.empty()) << query("datarefresh_refreshes_total").dump();
  // Seen while it ran: the progress of the refresh, which is removed once it is over.
  auto progress = eventually("max_over_time(datarefresh_refresh_progress_ratio{media_type=\"audio\"}[10m]) > 0", 30s);
  EXPECT_FALSE(progress.empty()) << "no progress was scraped during the refresh";
  auto documents = eventually("sum(datarefresh_documents_total{media_type=\"audio\",outcome=\"indexed\"}) > 0", 30s);
  ASSERT_FALSE(documents.empty());
  EXPECT_EQ(std::stoll(documents[0]["value"][1].get<std::string>()),
            over["documents"]["indexed"].get<std::int64_t>());
  prometheus.stop(std::chrono::seconds(10));
}

TEST_F(Operations, APlannerWithAScheduleRequestsTheRefreshOnItsOwn) {
  // Every minute for audio: the current minute's slot is within the misfire grace, so the
  // restarted planner requests it at once.
  auto config = stack_->run_dir() / "scheduled.yaml";
  {
    std::ifstream in(stack_->config_file());
    std::ofstream out(config);
    out << in.rdbuf()
        << "\nmedia_types:\n  image: {table: image}\n  audio:\n    table: audio\n    schedule: \"* * * * *\"\n"
           "    extra_tables: [{upstream: audioset_view, downstream: audioset, copy: basic}]\n";
  }
  stack_->planner()->stop(15s);
  auto scheduled = stack_->spawn({"planner", "--config", config.string()}, "planner-scheduled");
  std::string id;
  for (auto end = Clock::now() + 60s; Clock::now() < end && id.empty(); std::this_thread::sleep_for(250ms)) {
    auto list = call("GET", "/v1/refreshes?media_type=audio");
    for (const auto& r : list.body.value("refreshes", json::array())) {
      if (text(r, "requested_by") == "schedule") id = r["refresh_id"];
    }
  }
  ASSERT_FALSE(id.empty()) << "no scheduled audio refresh appeared";
  auto over = wait_until_over(id);
  EXPECT_EQ(text(over, "status"), "completed") << over.dump();
  scheduled.stop(15s);
  stack_->start_planner();
  ASSERT_TRUE(api_up(60s));
  // One refresh per minute slot: at most two ran (had a minute turned during the test).
  auto list = call("GET", "/v1/refreshes?media_type=audio");
  std::set<std::string> ids;
  for (const auto& r : list.body["refreshes"]) {
    if (text(r, "requested_by") == "schedule" && text(r, "status") != "refused") ids.insert(r["refresh_id"]);
  }
  EXPECT_GE(ids.size(), 1u);
  EXPECT_LE(ids.size(), 2u);
  EXPECT_TRUE(fault::all_services_running(*stack_));
}

TEST_F(Operations, ARefreshCompletesWhileTheWebhookIsDown) {
  auto failed_before = [] {
    std::regex re("datarefresh_notifications_total\\{outcome=\"failed\"\\} ([0-9]+)");
    std::smatch m;
    auto metrics = metrics_of("coordinator");
    return std::regex_search(metrics, m, re) ? std::stoi(m[1]) : 0;
  };
  const int before = failed_before();
  receiver_->stop();
  const std::string id = request("audio", "webhook-down");
  auto over = wait_until_over(id);
  EXPECT_EQ(text(over, "status"), "completed") << over.dump();
  int failed = before;
  for (int i = 0; i < 100 && failed <= before; ++i) {
    std::this_thread::sleep_for(200ms);
    failed = failed_before();
  }
  EXPECT_GT(failed, before) << "the coordinator counted the notifications it could not deliver";
  EXPECT_TRUE(fault::all_services_running(*stack_));
}

TEST_F(Operations, SecretsAppearInNoLogEventMetricOrAnswer) {
  const std::vector<std::string> secrets{kToken, kHookSecret, stack_->env().at("DATAREFRESH_POSTGRES_FDW_PASSWORD")};
  auto check = [&](const std::string& where, const std::string& text) {
    for (const auto& s : secrets) EXPECT_EQ(text.find(s), std::string::npos) << "a secret appears in " << where;
  };
  for (const auto& entry : std::filesystem::directory_iterator(stack_->run_dir())) {
    if (entry.path().extension() != ".log") continue;
    std::ifstream in(entry.path());
    check(entry.path().filename().string(), std::string((std::istreambuf_iterator<char>(in)), {}));
  }
  for (const auto& topic : {"events", "dead-letter", "requests", "refresh-jobs", "shard-jobs"}) {
    std::string all;
    for (const auto& m : fault::read_topic(*stack_, topic, 0, 0s)) all += m.dump() + "\n";
    check(std::string("topic ") + topic, all);
  }
  for (const auto& service : {"planner", "coordinator", "indexer-1"}) check(std::string(service) + " /metrics", metrics_of(service));
  std::lock_guard lock(answers_mutex_);
  check("the API's answers", answers_);
  EXPECT_GT(answers_.size(), 1000u);
}

}  // namespace
}  // namespace datarefresh::e2e
