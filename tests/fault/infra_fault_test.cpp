// The infrastructure misbehaves (docs/reliability.md, scenarios 6 to 9): Kafka brokers go down and
// partition leaders move, the search engine rejects, fails, drops connections or refuses documents
// for good. Real processes on the dev stack; every test checks the end state exactly.
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
using std::chrono::seconds;

class InfraFaults : public ::testing::Test {
 protected:
  static constexpr const char* kLatency = "100ms";
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 400;
    o.seed = 5;
    // Shards last long enough for faults to hit them (SetUp sets the same latency again, since
    // TearDown clears every fault); a batch gives up after 5 s of failures.
    o.devsearch_args = {"--latency", std::string(kLatency)};
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "500"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "100"},
             {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},
             {"DATAREFRESH_SEARCH_BULK_DEADLINE", "5s"},
             {"DATAREFRESH_SEARCH_BULK_BACKOFF_MAX", "1s"},
             {"DATAREFRESH_REFRESH_DEAD_LETTER_BUDGET", "0.05"},
             {"DATAREFRESH_REFRESH_LEFTOVER_SWEEP_INTERVAL", "3s"},
             {"DATAREFRESH_REFRESH_TRANSIENT_RETRY_DEADLINE", "10s"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"}};
    stack_ = start_suite_stack(o, 2);
  }
  static void TearDownTestSuite() {
    stop_suite_stack(stack_);
  }
  // Every test starts with the suite's bulk latency: without it a 500-row shard runs in a few
  // milliseconds and wait_indexing() can miss every shard's running state.
  void SetUp() override { faults({{"latency", kLatency}}); }
  void TearDown() override { admin(stack_->search_url(), "DELETE", "/_devsearch/faults"); }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static void faults(const json& f) { admin(stack_->search_url(), "POST", "/_devsearch/faults", f.dump()); }
  static json search_stats() {
    return json::parse(admin(stack_->search_url(), "GET", "/_devsearch/stats"), nullptr, false);
  }
  // Waits until some shard of the refresh runs (indexing is under way).
  static void wait_indexing(const std::string& refresh_id) {
    auto deadline = std::chrono::steady_clock::now() + seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      auto db = api();
      if (db.query_value("SELECT to_regclass('datarefresh.shards')::text") &&
          db.query_value("SELECT 1 FROM datarefresh.shards WHERE refresh_id = $1::uuid AND status = 'running'",
                         {refresh_id})) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "refresh " << refresh_id << " never started indexing";
  }

  static demo::DevStack* stack_;
};

demo::DevStack* InfraFaults::stack_ = nullptr;

// Scenario 6: while shards run, broker 1 goes down for 30 s and the leaders of every shard-job and
// event partition move to broker 2, then back: no job and no event is lost.
TEST_F(InfraFaults, BrokersDownAndLeadersMovingLoseNoJobAndNoEvent) {
  const auto& url = stack_->broker_admin_url();
  auto id = stack_->trigger("image");
  ASSERT_NO_FATAL_FAILURE(wait_indexing(id));
  admin(url, "POST", "/brokers/1/down");
  auto move_leaders = [&](int to) {
    for (const auto& [topic, partitions] : {std::pair{"datarefresh.shard-jobs", 12}, {"datarefresh.events", 3}}) {
      for (int p = 0; p < partitions; ++p) admin(url, "POST", fmt::format("/topics/{}/partitions/{}/leader/{}", topic, p, to));
    }
  };
  move_leaders(2);
  std::this_thread::sleep_for(seconds(30));
  admin(url, "POST", "/brokers/1/up");
  move_leaders(1);
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
}

// Scenario 7: 30% of bulk items rejected with 429 for a minute (from before the refresh starts):
// retried with backoff, nothing lost.
TEST_F(InfraFaults, BulkItemsRejectedWith429AreRetriedUntilAccepted) {
  faults({{"bulk_reject_fraction", 0.3}, {"duration", "60s"}});
  auto id = stack_->trigger("image");
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  auto stats = search_stats();
  EXPECT_GT(stats["bulk_items"]["rejected"].get<std::int64_t>(), 0) << stats.dump();
}

// Scenario 8, first half: 503s and dropped connections for a while (shorter than the deadline):
// retried, nothing lost.
TEST_F(InfraFaults, UnavailableAndDroppedRequestsForAWhileAreRetried) {
  auto id = stack_->trigger("image");
  ASSERT_NO_FATAL_FAILURE(wait_indexing(id));
  faults({{"fail_fraction", 0.4}, {"drop_fraction", 0.2}, {"duration", "8s"}});
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  auto stats = search_stats();
  EXPECT_GT(stats["injected_failures"].get<std::int64_t>(), 0) << stats.dump();
  EXPECT_GT(stats["dropped_connections"].get<std::int64_t>(), 0) << stats.dump();
}

// Scenario 8, second half: the engine stays down past search.bulk.deadline on every attempt: the
// refresh fails naming the cause and is rolled back; what the rollback could not delete while the
// engine was down is removed by the coordinator's sweep once it is back. Nothing live changed.
TEST_F(InfraFaults, AnEngineDownPastTheDeadlineFailsTheRefreshAndRollsBack) {
  auto before = live_state(*stack_, "image");
  auto id = stack_->trigger("image");
  ASSERT_NO_FATAL_FAILURE(wait_indexing(id));
  faults({{"fail_fraction", 1.0}, {"duration", "45s"}});
  auto p = stack_->wait(id, seconds(240));
  ASSERT_EQ(p.run.status, ledger::RunStatus::kFailed);
  EXPECT_NE(p.run.error.value_or("").find("503"), std::string::npos) << p.run.error.value_or("");
  // Wait out the outage and one sweep.
  search::Client client(stack_->search_options());
  auto deadline = std::chrono::steady_clock::now() + seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    auto rows = client.cat_indices();
    std::set<std::string> now;
    for (const auto& r : rows.ok() ? rows.value() : std::vector<search::IndexRow>{}) {
      if (r.index[0] != '.') now.insert(r.index);
    }
    if (rows.ok() && now == before.indices) break;
    std::this_thread::sleep_for(seconds(1));
  }
  expect_failed_cleanly(*stack_, id, before, "image", "503");
}

// Scenario 9: documents the engine refuses for good (mapping errors) are dead-lettered with the
// reason and counted; within refresh.dead_letter_budget (5%) the refresh completes, over it the
// refresh fails and is rolled back.
TEST_F(InfraFaults, DocumentsRefusedForGoodAreDeadLetteredWithinTheBudget) {
  faults({{"mapping_reject_fraction", 0.02}});
  auto id = stack_->trigger("image");
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  auto counts = ledger_counts(*stack_, id);
  EXPECT_GT(counts.dead_lettered, 0);
  std::set<std::string> lettered;
  for (const auto& l : read_topic(*stack_, "dead-letter", 0, seconds(0))) {
    if (!l.is_object() || l.value("refresh_id", "") != id) continue;
    EXPECT_NE(l.value("reason", "").find("mapper_parsing_exception"), std::string::npos) << l.dump();
    lettered.insert(l.value("document_id", ""));
  }
  EXPECT_EQ(static_cast<std::int64_t>(lettered.size()), counts.dead_lettered)
      << "each refused document is on the dead-letter topic with its reason";

  auto before = live_state(*stack_, "image");
  faults({{"mapping_reject_fraction", 0.2}});
  auto over = stack_->trigger("image");
  stack_->wait(over, seconds(300));
  expect_failed_cleanly(*stack_, over, before, "image", "over the budget");
}

}  // namespace
}  // namespace datarefresh::fault
