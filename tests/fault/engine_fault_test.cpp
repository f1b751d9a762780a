// The search engine as it really answers (docs/reliability.md, scenarios 22 to 25): a restart of
// about a minute, an index write block and the flood-stage block, the new index deleted mid-refresh
// with auto-create on and off, and replicas the cluster cannot place. devsearch runs as
// Elasticsearch 7.10 here (the other suites use its default, 8.13). Real processes on the dev
// stack; every test checks the end state exactly.
#include <chrono>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::fault {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class EngineFaults : public ::testing::Test {
 protected:
  static constexpr const char* kLatency = "100ms";
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 400;
    o.seed = 1207;
    o.search_es_major = 7;
    o.devsearch_args = {"--latency", std::string(kLatency)};
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "100"},
             {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},
             // Long enough to outlast every outage below; the stall timeout is shorter than the
             // outages, so a shard waiting on the engine must not be taken for a stalled one.
             {"DATAREFRESH_SEARCH_BULK_DEADLINE", "3m"},
             {"DATAREFRESH_SEARCH_BULK_BACKOFF_MAX", "2s"},
             {"DATAREFRESH_REFRESH_SHARD_STALL_TIMEOUT", "15s"},
             {"DATAREFRESH_REFRESH_PROGRESS_INTERVAL", "1s"},
             {"DATAREFRESH_REFRESH_LEFTOVER_SWEEP_INTERVAL", "3s"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"}};
    stack_ = start_suite_stack(o, 2);
  }
  static void TearDownTestSuite() {
    stop_suite_stack(stack_);
  }
  void SetUp() override { faults({{"latency", kLatency}}); }
  void TearDown() override { admin(stack_->search_url(), "DELETE", "/_devsearch/faults"); }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static void faults(const json& f) { admin(stack_->search_url(), "POST", "/_devsearch/faults", f.dump()); }
  static search::Client client() { return search::Client(stack_->search_options()); }
  // Waits until a shard of the refresh has indexed something; returns the refresh's new index.
  static std::string wait_indexing(const std::string& refresh_id) {
    auto deadline = std::chrono::steady_clock::now() + seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      auto db = api();
      if (db.query_value("SELECT to_regclass('datarefresh.shards')::text") &&
          db.query_value("SELECT 1 FROM datarefresh.shards WHERE refresh_id = $1::uuid AND indexed > 0",
                         {refresh_id})) {
        return stack_->progress(refresh_id).run.new_index.value_or("");
      }
      std::this_thread::sleep_for(milliseconds(50));
    }
    ADD_FAILURE() << "refresh " << refresh_id << " never started indexing";
    return "";
  }
  // The first reason a running shard of the refresh gives for waiting on the engine ("" if none
  // within `timeout`).
  static std::string shard_waiting(const std::string& refresh_id, seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto v = api().query_value(
          "SELECT waiting FROM datarefresh.shards WHERE refresh_id = $1::uuid AND waiting IS NOT NULL LIMIT 1",
          {refresh_id});
      if (v) return *v;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return "";
  }
  static int highest_attempt(const std::string& refresh_id) {
    return std::stoi(api()
                         .query_value("SELECT max(attempt) FROM datarefresh.shards WHERE refresh_id = $1::uuid",
                                      {refresh_id})
                         .value_or("0"));
  }
  static int dead_letters_of(const std::string& refresh_id) {
    int n = 0;
    for (const auto& l : read_topic(*stack_, "dead-letter", 0, seconds(0))) {
      if (l.is_object() && l.value("refresh_id", "") == refresh_id) ++n;
    }
    return n;
  }
  static void put_settings(const std::string& index, const json& settings) {
    auto r = client().update_settings(index, settings);
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  // Polls for `seconds_` that `index` stays absent (a bulk through auto-create would bring it back).
  static void expect_stays_absent(const std::string& index, seconds for_how_long) {
    auto until = std::chrono::steady_clock::now() + for_how_long;
    while (std::chrono::steady_clock::now() < until) {
      auto exists = client().index_exists(index);
      ASSERT_TRUE(exists.ok());
      ASSERT_FALSE(exists.value()) << index << " came back";
      std::this_thread::sleep_for(milliseconds(250));
    }
  }

  static demo::DevStack* stack_;
};

demo::DevStack* EngineFaults::stack_ = nullptr;

// Scenario 22: the engine restarts while shards run and refuses connections for 40 s (longer than
// refresh.shard_stall_timeout, and many more attempts than a retry count would have allowed). The
// shards wait, say so, and go on: the outage costs time, not shard attempts.
TEST_F(EngineFaults, AnEngineRestartWithinTheDeadlineCostsTimeNotShardAttempts) {
  auto id = stack_->trigger("image");
  ASSERT_FALSE(wait_indexing(id).empty());
  faults({{"latency", kLatency}, {"unavailable", "40s"}});
  auto why = shard_waiting(id, seconds(30));
  EXPECT_NE(why.find("the search engine did not take the bulk request"), std::string::npos) << why;
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  EXPECT_EQ(highest_attempt(id), 1) << "no shard was re-published";
}

// Scenario 23: an operator puts a write block on the new index while it loads. Each bulk item is
// answered 403 cluster_block_exception; the shards wait for the block to lift, say so (ledger,
// API, status), and dead-letter nothing.
TEST_F(EngineFaults, AWriteBlockIsWaitedOutReportedAndNothingIsDeadLettered) {
  auto id = stack_->trigger("image");
  auto index = wait_indexing(id);
  ASSERT_FALSE(index.empty());
  put_settings(index, {{"index.blocks.write", true}});
  auto why = shard_waiting(id, seconds(30));
  EXPECT_NE(why.find("is blocked"), std::string::npos) << why;
  EXPECT_NE(why.find("FORBIDDEN/8/index write (api)"), std::string::npos) << why;
  EXPECT_EQ(stack_->progress(id).run.status, ledger::RunStatus::kRunning);
  std::this_thread::sleep_for(seconds(20));  // past the stall timeout: waiting is not stalling
  put_settings(index, {{"index.blocks.write", nullptr}});
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  EXPECT_EQ(dead_letters_of(id), 0);
  EXPECT_EQ(highest_attempt(id), 1);
}

// Scenario 23, flood stage: the engine's own read_only_allow_delete block (disk full). It holds
// each write, then answers 429; lifted, the refresh completes without a dead letter.
TEST_F(EngineFaults, TheFloodStageBlockIsWaitedOutToo) {
  auto id = stack_->trigger("image");
  auto index = wait_indexing(id);
  ASSERT_FALSE(index.empty());
  put_settings(index, {{"index.blocks.read_only_allow_delete", true}});
  std::this_thread::sleep_for(seconds(10));
  put_settings(index, {{"index.blocks.read_only_allow_delete", nullptr}});
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  EXPECT_EQ(dead_letters_of(id), 0);
  EXPECT_EQ(highest_attempt(id), 1);
}

// Scenario 24: the new index is deleted while shards run, with action.auto_create_index on (the
// engine's default) and then off. The indexers write through the index's load alias with
// require_alias, so nothing creates the index again: the shards fail for good, the refresh fails
// and is rolled back at once, and the index never reappears.
TEST_F(EngineFaults, ADeletedNewIndexFailsTheRefreshCleanlyAndNeverReappears) {
  for (bool auto_create : {true, false}) {
    SCOPED_TRACE(fmt::format("action.auto_create_index {}", auto_create));
    auto r = client().perform("PUT", "/_cluster/settings",
                              json{{"persistent", {{"action.auto_create_index", auto_create}}}}.dump());
    ASSERT_TRUE(r.ok() && r->status == 200);
    auto before = live_state(*stack_, "image");
    auto id = stack_->trigger("image");
    auto index = wait_indexing(id);
    ASSERT_FALSE(index.empty());
    ASSERT_TRUE(client().delete_index(index).ok());
    auto p = stack_->wait(id, seconds(180));
    ASSERT_EQ(p.run.status, ledger::RunStatus::kFailed) << p.run.error.value_or("");
    expect_failed_cleanly(*stack_, id, before, "image", "no longer exists");
    ASSERT_NO_FATAL_FAILURE(expect_stays_absent(index, seconds(5)));
    EXPECT_EQ(dead_letters_of(id), 0) << "no document is to blame";
  }
  auto r = client().perform("PUT", "/_cluster/settings", json{{"persistent", {{"action.auto_create_index", nullptr}}}}.dump());
  ASSERT_TRUE(r.ok() && r->status == 200);
}

// Scenario 25: more replicas after load than the cluster's data nodes can hold (devsearch has 2:
// at most 1 replica) is refused at the preflight, naming the setting and the node count, instead
// of waiting search.health_timeout (12 h) for green.
TEST_F(EngineFaults, ReplicasTheClusterCannotPlaceAreRefusedAtThePreflight) {
  stack_->start_planner({{"DATAREFRESH_SEARCH_REPLICAS_AFTER_LOAD", "2"}});
  auto before = live_state(*stack_, "audio");
  auto id = stack_->trigger("audio");
  auto p = stack_->wait(id, seconds(120));
  stack_->start_planner();
  ASSERT_EQ(p.run.status, ledger::RunStatus::kFailed);
  expect_failed_cleanly(*stack_, id, before, "audio", "search.replicas_after_load is 2");
  EXPECT_NE(p.run.error.value_or("").find("2 data nodes"), std::string::npos) << p.run.error.value_or("");
  if (p.run.new_index) {
    auto exists = client().index_exists(*p.run.new_index);
    ASSERT_TRUE(exists.ok());
    EXPECT_FALSE(exists.value()) << "nothing was created";
  }
}

}  // namespace
}  // namespace datarefresh::fault
