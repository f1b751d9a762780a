// Refreshes of two media types at once (lock scope media_type, as users run them), and the
// liveness of shard jobs (docs/reliability.md, scenarios 19 to 21): real processes on the dev
// stack; every test checks the end state exactly.
#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "devstack/demo/dev_stack.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::fault {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ConcurrencyAndLiveness : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 800;
    o.seed = 20261207;
    o.env = {{"DATAREFRESH_REFRESH_LOCK_SCOPE", "media_type"},
             {"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "300"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "100"},
             {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},
             {"DATAREFRESH_REFRESH_SHARD_UNCLAIMED_TIMEOUT", "20s"},
             // One slice of 1000-document batches at 200 documents/s: an image filtered reindex
             // waits 5 s after its first batch, when the test can hold it (audio's is one batch).
             {"DATAREFRESH_REFRESH_FILTERED_INDEX_REQUESTS_PER_SECOND", "200"},
             {"DATAREFRESH_REFRESH_FILTERED_INDEX_SLICES", "1"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"}};
    stack_ = start_suite_stack(o, 0);  // the first test runs without indexers; the others start them
  }
  static void TearDownTestSuite() {
    stop_suite_stack(stack_);
  }
  static void engine_latency(const std::string& latency) {
    admin(stack_->search_url(), "POST", "/_devsearch/faults", json{{"latency", latency}}.dump());
  }
  static void ensure_indexers(std::size_t n) {
    stack_->forget_exited_indexers();
    while (stack_->indexers().size() < n) stack_->start_indexer();
  }
  // Polls the refresh until `pred` holds for it (true) or it ends or `timeout` passes (false).
  static bool wait_until(const std::string& id, seconds timeout,
                         const std::function<bool(const demo::RefreshProgress&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto p = stack_->progress(id);
      if (pred(p)) return true;
      if (p.finished()) return false;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return false;
  }
  static std::string filtered_task(const std::string& id) {
    auto db = pg::Database::connect(stack_->api_db_options());
    auto d = ledger::Ledger(db).step_details(id, "filtered_index:task");
    return d ? (*d)["task"].get<std::string>() : "";
  }
  static void rethrottle(const std::string& task, const std::string& rate) {
    admin(stack_->search_url(), "POST", "/_reindex/" + task + "/_rethrottle?requests_per_second=" + rate);
  }

  static demo::DevStack* stack_;
};

demo::DevStack* ConcurrencyAndLiveness::stack_ = nullptr;

// Scenario 19: shard jobs published while no indexer runs. The coordinator tells from the
// indexers' group that nobody consumes them, says so in the ledger (status, API), and fails the
// refresh cleanly after refresh.shard_unclaimed_timeout instead of waiting forever.
TEST_F(ConcurrencyAndLiveness, ShardJobsNobodyConsumesAreReportedAndFailTheRefreshAfterTheDeadline) {
  ASSERT_TRUE(stack_->indexers().empty());
  auto before = live_state(*stack_, "image");
  auto id = stack_->trigger("image");
  bool reported = wait_until(id, seconds(120), [](const demo::RefreshProgress& p) {
    return p.run.shard_jobs.is_object() && p.run.shard_jobs.value("state", "") == "not_consumed";
  });
  EXPECT_TRUE(reported) << "the ledger never said the jobs are not consumed";
  auto p = stack_->wait(id, seconds(120));
  expect_failed_cleanly(*stack_, id, before, "image", "no indexer consuming shard jobs");
  EXPECT_NE(p.run.error.value_or("").find("refresh.shard_unclaimed_timeout"), std::string::npos)
      << p.run.error.value_or("") << ": the message names the setting";
}

// Scenario 20: one slow indexer and many shards: jobs wait in the queue for longer than
// refresh.shard_unclaimed_timeout, but they are consumed one after the other, so the refresh waits
// as long as it takes and completes; meanwhile the ledger says they are queued.
TEST_F(ConcurrencyAndLiveness, JobsQueuedBehindConsumedOnesWaitAsLongAsItTakes) {
  ensure_indexers(1);
  engine_latency("800ms");
  auto started = std::chrono::steady_clock::now();
  auto id = stack_->trigger("image");
  bool queued = wait_until(id, seconds(180), [](const demo::RefreshProgress& p) {
    return p.run.shard_jobs.is_object() && p.run.shard_jobs.value("state", "") == "queued" &&
           p.run.shard_jobs.value("waiting", 0) > 0;
  });
  EXPECT_TRUE(queued) << "the ledger never showed the jobs queued";
  auto p = stack_->wait(id, seconds(300));
  engine_latency("0ms");
  expect_completed_exactly(*stack_, id, "image");
  EXPECT_GT(std::chrono::steady_clock::now() - started, seconds(20))
      << "the indexing must outlast refresh.shard_unclaimed_timeout for this test to mean anything";
  EXPECT_TRUE(p.run.shard_jobs.is_null()) << "cleared once every shard completed";
}

// Scenario 21: image and audio requested together, in varied order and timing; each completes
// with the exact checks, whatever the other does meanwhile.
TEST_F(ConcurrencyAndLiveness, ImageAndAudioRequestedTogetherBothCompleteExactly) {
  ensure_indexers(2);
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    std::string image, audio;
    if (round == 0) {
      image = stack_->trigger("image");
      audio = stack_->trigger("audio");
    } else if (round == 1) {
      audio = stack_->trigger("audio");
      image = stack_->trigger("image");
    } else {
      // Audio is planned while image indexes.
      image = stack_->trigger("image");
      ASSERT_TRUE(wait_until(image, seconds(120), [](const auto& p) { return p.run.phase == "indexing"; }));
      audio = stack_->trigger("audio");
    }
    auto a = stack_->wait(audio, seconds(300));
    auto i = stack_->wait(image, seconds(300));
    ASSERT_EQ(a.run.status, ledger::RunStatus::kCompleted) << a.run.error.value_or("");
    ASSERT_EQ(i.run.status, ledger::RunStatus::kCompleted) << i.run.error.value_or("");
    expect_completed_exactly(*stack_, audio, "audio");
    expect_completed_exactly(*stack_, image, "image");
  }
}

// Scenario 21, held: the image's filtered reindex is held in the engine (rethrottled to a crawl)
// while an audio refresh is requested, indexes, verifies and promotes; only then is the image's
// reindex let go. A long step of one refresh never delays another.
TEST_F(ConcurrencyAndLiveness, AudioCompletesWhileTheImagesFilteredReindexIsHeld) {
  ensure_indexers(2);
  auto image = stack_->trigger("image");
  std::string task;
  ASSERT_TRUE(wait_until(image, seconds(180), [&](const demo::RefreshProgress& p) {
    if (p.run.phase != "building_filtered_index") return false;
    task = filtered_task(image);
    return !task.empty();
  })) << "the image refresh did not start its filtered reindex";
  rethrottle(task, "0.01");
  auto audio = stack_->trigger("audio");
  auto a = stack_->wait(audio, seconds(300));
  ASSERT_EQ(a.run.status, ledger::RunStatus::kCompleted) << a.run.error.value_or("");
  auto held = stack_->progress(image);
  EXPECT_EQ(held.run.phase, "building_filtered_index") << "the image refresh moved on: the hold did not hold";
  EXPECT_EQ(alias_target(*stack_, "audio"), a.run.new_index.value_or("?")) << "audio is live while image is held";
  rethrottle(task, "-1");
  auto i = stack_->wait(image, seconds(300));
  ASSERT_EQ(i.run.status, ledger::RunStatus::kCompleted) << i.run.error.value_or("");
  // Both exactly, now that neither runs (the checks include that nothing of either is left).
  expect_completed_exactly(*stack_, audio, "audio");
  expect_completed_exactly(*stack_, image, "image");
}

}  // namespace
}  // namespace datarefresh::fault
