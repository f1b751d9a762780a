#include "consumer/coordinator/notifier.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "core/common/net.h"

namespace datarefresh::coordinator {
namespace {

using config::NotifyLevel;
using namespace std::chrono_literals;

messages::RefreshPhaseChanged phase(std::optional<std::string> previous, std::string now) {
  messages::RefreshPhaseChanged e;
  e.refresh_id = RefreshId("0b7e6f5c-1111-4222-8333-444455556666");
  e.media_type = "image";
  e.phase = std::move(now);
  e.previous_phase = std::move(previous);
  return e;
}

messages::RefreshCompleted completed() {
  messages::RefreshCompleted e;
  e.refresh_id = RefreshId("0b7e6f5c-1111-4222-8333-444455556666");
  e.media_type = "image";
  e.report.rows_before = 1000;
  e.report.rows_after = 1100;
  e.report.per_provider = {{"flickr", 600, 650}, {"wikimedia", 400, 450}};
  e.report.documents_indexed = 1090;
  e.report.filtered_out = 30;
  e.report.dead_lettered = 2;
  e.report.phases = {{"copy", 12.5}, {"indexing", 100}};
  return e;
}

messages::RefreshFailed failed(bool cancelled) {
  messages::RefreshFailed e;
  e.refresh_id = RefreshId("0b7e6f5c-1111-4222-8333-444455556666");
  e.media_type = "audio";
  e.phase = "indexing";
  e.error = cancelled ? "cancelled by ops at 2026-11-30T10:00:00Z" : "shard 3 failed after 3 attempts";
  e.rolled_back = true;
  e.cancelled = cancelled;
  return e;
}

std::string text_of(const messages::Event& e, NotifyLevel level) {
  auto m = slack_message(e, level, "production");
  return m ? (*m)["text"].get<std::string>() : "(none)";
}

TEST(SlackMessage, EachLevelAnnouncesItsEvents) {
  const messages::Event started = phase(std::nullopt, "planning");
  const messages::Event moved = phase("copying", "creating_index");
  const messages::Event done = completed();
  const messages::Event broke = failed(false);
  const messages::Event cancelled = failed(true);
  messages::RefreshRefused refusal;
  refusal.request_id = "r2";
  refusal.media_type = "image";
  refusal.reason = "refresh r1 is running";
  const messages::Event refused = refusal;
  messages::ShardCompleted shard;
  shard.refresh_id = RefreshId("r1");
  const messages::Event shard_done = shard;

  for (auto level : {NotifyLevel::kVerbose, NotifyLevel::kInfo, NotifyLevel::kError}) {
    bool info = level != NotifyLevel::kError;
    EXPECT_EQ(text_of(started, level) != "(none)", info);
    EXPECT_EQ(text_of(moved, level) != "(none)", level == NotifyLevel::kVerbose);
    EXPECT_EQ(text_of(done, level) != "(none)", info);
    EXPECT_EQ(text_of(cancelled, level) != "(none)", info);
    EXPECT_EQ(text_of(refused, level) != "(none)", info);
    EXPECT_NE(text_of(broke, level), "(none)");  // failures always
    EXPECT_EQ(text_of(shard_done, level), "(none)");
  }
  EXPECT_EQ(text_of(started, NotifyLevel::kInfo),
            ":arrow_forward: [production] image refresh `0b7e6f5c-1111-4222-8333-444455556666` started");
  EXPECT_EQ(text_of(moved, NotifyLevel::kVerbose),
            "[production] image refresh `0b7e6f5c-1111-4222-8333-444455556666`: copying -> creating_index");
}

TEST(SlackMessage, TheCompletionCarriesTheReportPerProvider) {
  auto m = *slack_message(completed(), NotifyLevel::kInfo, "staging");
  EXPECT_EQ(m["text"], ":white_check_mark: [staging] image full refresh `0b7e6f5c-1111-4222-8333-444455556666` "
                       "completed in 1 min 53 s: 1000 rows before, 1100 after (+100); 1090 documents indexed, 30 "
                       "filtered out, 2 dead-lettered");
  auto table = m["blocks"][1]["text"]["text"].get<std::string>();
  EXPECT_NE(table.find("flickr | 600 | 650 | +50"), std::string::npos) << table;
  EXPECT_NE(table.find("wikimedia | 400 | 450 | +50"), std::string::npos) << table;
  EXPECT_NE(m["blocks"][2]["text"]["text"].get<std::string>().find("copy 12.5 s"), std::string::npos);
}

TEST(SlackMessage, AMaintenanceRunIsNamedForWhatItDid) {
  auto e = completed();
  e.mode = "rollback";
  EXPECT_EQ((*slack_message(e, NotifyLevel::kInfo, "staging"))["text"].get<std::string>().rfind(
                ":white_check_mark: [staging] image rollback `0b7e6f5c-1111-4222-8333-444455556666` completed", 0),
            0u);
  e.mode = "filtered_only";
  EXPECT_NE((*slack_message(e, NotifyLevel::kInfo, "staging"))["text"].get<std::string>().find(
                "image filtered index rebuild `"),
            std::string::npos);
}

TEST(SlackMessage, FailuresGiveTheReasonAndCancellationsWhoCancelled) {
  EXPECT_EQ(text_of(failed(false), NotifyLevel::kError),
            ":x: [production] audio full refresh `0b7e6f5c-1111-4222-8333-444455556666` failed in phase indexing: "
            "shard 3 failed after 3 attempts; rolled back: yes (live table and aliases untouched)");
  EXPECT_NE(text_of(failed(true), NotifyLevel::kInfo).find("cancelled in phase indexing: cancelled by ops"),
            std::string::npos);
}

TEST(SlackMessage, AnIncrementalRefreshSaysSoAndWhatItChanged) {
  auto done = completed();
  done.mode = "incremental";
  done.report.changes = messages::RefreshReport::Changes{120, 35, 7, 2};
  EXPECT_EQ(text_of(done, NotifyLevel::kInfo),
            ":white_check_mark: [production] image incremental refresh `0b7e6f5c-1111-4222-8333-444455556666` "
            "completed in 1 min 53 s: created 120, updated 35, deleted 7, re-flagged 2; 1000 rows before, 1100 after "
            "(+100); 1090 documents indexed, 30 filtered out, 2 dead-lettered");
  auto broke = failed(false);
  broke.mode = "incremental";
  EXPECT_EQ(text_of(broke, NotifyLevel::kError),
            ":x: [production] audio incremental refresh `0b7e6f5c-1111-4222-8333-444455556666` failed in phase "
            "indexing: shard 3 failed after 3 attempts; rolled back: yes (live table and aliases untouched)");
  auto cancelled = failed(true);
  cancelled.mode = "incremental";
  EXPECT_NE(text_of(cancelled, NotifyLevel::kInfo).find("audio incremental refresh `"), std::string::npos);
}

// A local webhook receiver: answers each post with the next status of `script` (200 after it).
class Receiver {
 public:
  explicit Receiver(std::vector<int> script) : script_(std::move(script)) {
    server_.Post("/hooks/T000/B000/secret", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mutex_);
      bodies_.push_back(req.body);
      res.status = calls_ < script_.size() ? script_[calls_] : 200;
      ++calls_;
      res.set_content("ok", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/T000/B000/secret"; }
  std::vector<std::string> bodies() {
    std::lock_guard lock(mutex_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  std::vector<int> script_;
  std::size_t calls_ = 0;
  std::mutex mutex_;
  std::vector<std::string> bodies_;
  int port_ = 0;
  std::thread thread_;
};

WebhookSender::Options fast(const std::string& url, int attempts) {
  return {url, 2s, attempts, BackoffPolicy{10ms, 50ms, 2.0, 0.0}};
}

TEST(WebhookSender, PostsTheJsonPayload) {
  Receiver receiver({});
  EXPECT_EQ(WebhookSender(fast(receiver.url(), 3)).post({{"text", "hello"}}), std::nullopt);
  ASSERT_EQ(receiver.bodies().size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(receiver.bodies()[0])["text"], "hello");
}

TEST(WebhookSender, RetriesServerErrorsAndRateLimitsThenSucceeds) {
  Receiver receiver({500, 429});
  EXPECT_EQ(WebhookSender(fast(receiver.url(), 3)).post({{"text", "x"}}), std::nullopt);
  EXPECT_EQ(receiver.bodies().size(), 3u);
}

TEST(WebhookSender, GivesUpAtOnceOnAClientErrorAndAfterItsAttemptsOtherwise) {
  Receiver rejecting({404});
  auto error = WebhookSender(fast(rejecting.url(), 3)).post({{"text", "x"}});
  ASSERT_TRUE(error);
  EXPECT_EQ(error->rfind("HTTP 404", 0), 0u) << *error;
  EXPECT_EQ(rejecting.bodies().size(), 1u);

  Receiver failing({503, 503, 503, 503});
  error = WebhookSender(fast(failing.url(), 2)).post({{"text", "x"}});
  ASSERT_TRUE(error);
  EXPECT_EQ(failing.bodies().size(), 2u);
}

TEST(WebhookSender, AReceiverThatIsDownFailsInBoundedTimeWithoutShowingTheUrl) {
  auto url = "http://127.0.0.1:" + std::to_string(pick_free_loopback_port()) + "/hooks/T000/B000/secret-path";
  auto started = std::chrono::steady_clock::now();
  auto error = WebhookSender(fast(url, 2)).post({{"text", "x"}});
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  ASSERT_TRUE(error);
  EXPECT_EQ(error->find("secret-path"), std::string::npos) << *error;
}

}  // namespace
}  // namespace datarefresh::coordinator
