// Faults during incremental refreshes (docs/reliability.md, scenarios 28-31): the coordinator and
// the planner killed at each of its steps, a cancel at each of its phases, an indexer killed in the
// middle of a delta shard. Every test ends with exact checks: the live table and the alias serve
// what the upstream holds, nothing is counted twice, no clone, staged table or write block is left.
#include <chrono>
#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>
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

const std::string kToken = "incremental-fault-test-token";

class IncrementalFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 300;
    o.seed = 1515;
    o.devsearch_args = {"--latency", "20ms"};
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "100"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "25"},
             {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"},
             {"DATAREFRESH_HTTP_TOKEN", kToken}};
    stack_ = start_suite_stack(o, 2);
    auto first = stack_->trigger("image");
    auto p = stack_->wait(first, seconds(240));
    ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  }
  static void TearDownTestSuite() { stop_suite_stack(stack_); }
  void SetUp() override { engine_latency("20ms"); }

  static void engine_latency(const std::string& latency) {
    admin(stack_->search_url(), "POST", "/_devsearch/faults", json{{"latency", latency}}.dump());
  }
  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }

  // Changes a few hundred upstream rows (updates, inserts, hard deletes), so that the delta has
  // many shards.
  static void change_upstream(int round) {
    auto up = pg::Database::connect(stack_->catalog_db_options());
    up.exec(fmt::format("UPDATE image SET title = coalesce(title, '') || ' r{}' WHERE identifier IN (SELECT identifier "
                        "FROM image ORDER BY md5(identifier::text || '{}') LIMIT 400)",
                        round, round));
    up.exec(fmt::format("INSERT INTO image SELECT (jsonb_populate_record(NULL::image, to_jsonb(i) || "
                        "jsonb_build_object('identifier', gen_random_uuid(), 'url', i.url || '?r{}', "
                        "'foreign_identifier', i.foreign_identifier || '-r{}'))).* FROM image AS i ORDER BY "
                        "md5(identifier::text || 'ins{}') LIMIT 30",
                        round, round, round));
    up.exec(fmt::format("DELETE FROM image WHERE identifier IN (SELECT identifier FROM image ORDER BY "
                        "md5(identifier::text || 'del{}') LIMIT 20)",
                        round));
  }

  // The live side after a completed incremental refresh, exactly.
  static void expect_incremental_exactly(const std::string& id) {
    auto p = stack_->progress(id);
    ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
    EXPECT_EQ(p.run.mode, "incremental");
    auto c = ledger_counts(*stack_, id);
    EXPECT_EQ(c.rows_read, p.run.expected_rows.value_or(-1)) << "every staged and removed row read once";
    EXPECT_EQ(c.dead_lettered, 0);
    auto db = api();
    auto up = pg::Database::connect(stack_->catalog_db_options());
    std::set<std::string> upstream, live, deleted;
    for (const auto& r : up.exec("SELECT identifier::text FROM image").rows) upstream.insert(*r[0]);
    for (const auto& r : db.exec("SELECT identifier::text FROM api_deletedimage").rows) deleted.insert(*r[0]);
    for (const auto& r : db.exec("SELECT identifier::text FROM image").rows) live.insert(*r[0]);
    std::set<std::string> want;
    for (const auto& i : upstream) {
      if (!deleted.count(i)) want.insert(i);
    }
    EXPECT_EQ(live, want) << "the live table holds every upstream row not deleted on request, once";
    search::Client client(stack_->search_options());
    client.refresh("image");
    auto count = client.count("image");
    ASSERT_TRUE(count.ok());
    EXPECT_EQ(count.value(), eligible_rows(*stack_, "image")) << "one document per eligible live row";
    EXPECT_EQ(alias_target(*stack_, "image"), p.run.new_index.value_or("?"));
    EXPECT_EQ(alias_target(*stack_, "image-filtered"), p.run.filtered_index.value_or("?"));
    std::set<std::string> of_media;
    for (const auto& i : indices(*stack_)) {
      if (i.rfind("image", 0) == 0) of_media.insert(i);
    }
    EXPECT_EQ(of_media, (std::set<std::string>{*p.run.new_index, *p.run.filtered_index})) << "no clone left";
    EXPECT_EQ(leftovers(*stack_), std::vector<std::string>{});
    expect_no_write_block(*stack_, {*p.run.new_index, *p.run.filtered_index});
    EXPECT_TRUE(all_services_running(*stack_));
  }

  static void request_cancel(const std::string& id) {
    auto db = api();
    auto c = ledger::Ledger(db).request_cancel(id, "fault-test");
    EXPECT_EQ(c.kind, ledger::CancelOutcome::Kind::kAccepted);
  }
  // A cancel through the planner's API, which also interrupts the planner's running statements.
  static void cancel_through_api(const std::string& id) {
    httplib::Client client(stack_->api_url());
    client.set_read_timeout(30, 0);
    auto r = client.Post(("/v1/refreshes/" + id + "/cancel").c_str(), {{"Authorization", "Bearer " + kToken}},
                         json{{"requested_by", "fault-test"}}.dump(), "application/json");
    ASSERT_TRUE(r) << "no answer from " << stack_->api_url();
    EXPECT_EQ(r->status, 202) << r->body;
  }
  static json wait_phase(const std::string& id, const std::string& phase, seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto p = stack_->progress(id);
      if (p.run.phase == phase) return json{{"phase", phase}};
      if (p.run.status != ledger::RunStatus::kRunning) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return json{{"phase", stack_->progress(id).run.phase}};
  }

  static demo::DevStack* stack_;
};

demo::DevStack* IncrementalFaults::stack_ = nullptr;

// Scenario 28: the coordinator dies at each step of an incremental refresh's second half in turn.
// Each restart resumes from the ledger; the delta is applied to the live table once, the aliases
// move once, the old indices go; at every crash the live side is whole.
TEST_F(IncrementalFaults, TheCoordinatorKilledAtEachIncrementalStepResumesAndPromotesOnce) {
  change_upstream(1);
  auto before = live_state(*stack_, "image");
  const std::vector<std::string> points{
      "coordinator.filtered_delta_cleared",  "coordinator.before_promote_table",
      "coordinator.after_promote_table",     "coordinator.before_promote_aliases",
      "coordinator.after_promote_aliases",   "coordinator.before_delete_old_index",
      "coordinator.before_finish_run"};
  stack_->start_coordinator({{"DATAREFRESH_CRASH_AT", points[0]}});
  auto id = stack_->trigger("image", std::nullopt, "incremental");
  for (std::size_t i = 0; i < points.size(); ++i) {
    ASSERT_TRUE(died_at(*stack_, *stack_->coordinator(), "coordinator", points[i], seconds(180)))
        << "the coordinator did not reach " << points[i];
    auto db = api();
    auto run = *ledger::Ledger(db).run(id);
    EXPECT_EQ(run.status, ledger::RunStatus::kRunning);
    auto alias = alias_target(*stack_, "image");
    EXPECT_EQ(alias == *run.new_index, i >= 4) << points[i] << ": " << alias;
    EXPECT_TRUE(alias == before.alias_target || alias == *run.new_index) << points[i] << ": " << alias;
    const bool applied = ledger::Ledger(db).step_done(id, "promote_table");
    EXPECT_EQ(applied, i >= 2) << points[i];
    if (i < 5) expect_no_write_block(*stack_, {before.alias_target, before.filtered_alias_target});
    stack_->start_coordinator(i + 1 < points.size()
                                  ? std::map<std::string, std::string>{{"DATAREFRESH_CRASH_AT", points[i + 1]}}
                                  : std::map<std::string, std::string>{});
  }
  stack_->wait(id, seconds(180));
  expect_incremental_exactly(id);
}

// Scenario 29: the planner dies while the live index carries the write block it put there for the
// clone. The restarted planner finishes the clone and lifts the block; the refresh completes.
TEST_F(IncrementalFaults, ThePlannerKilledWhileTheLiveIndexIsBlockedResumesAndLiftsTheBlock) {
  change_upstream(2);
  auto before = live_state(*stack_, "image");
  stack_->start_planner({{"DATAREFRESH_CRASH_AT", "planner.clone_source_blocked"}});
  auto id = stack_->trigger("image", std::nullopt, "incremental");
  ASSERT_TRUE(died_at(*stack_, *stack_->planner(), "planner", "planner.clone_source_blocked", seconds(120)));
  stack_->start_planner();
  stack_->wait(id, seconds(240));
  expect_incremental_exactly(id);
  EXPECT_EQ(indices(*stack_).count(before.alias_target), 0u) << "the old index is deleted";
}

// Scenario 30: a cancel while the delta indexes, and while the filtered delta is built: each
// rollback leaves the live side exactly as it was (aliases, table, indices), with no clone, no
// staged table and no write block left; a later incremental refresh still completes exactly.
TEST_F(IncrementalFaults, ACancelAtEachPhaseLeavesTheLiveSideAsItWas) {
  change_upstream(3);
  for (const std::string phase : {"indexing", "building_filtered_index"}) {
    auto before = live_state(*stack_, "image");
    engine_latency("300ms");
    auto id = stack_->trigger("image", std::nullopt, "incremental");
    auto seen = wait_phase(id, phase, seconds(120));
    ASSERT_EQ(seen["phase"], phase);
    request_cancel(id);
    auto p = stack_->wait(id, seconds(120));
    engine_latency("20ms");
    // Shards still running when the rollback deleted the clone stop at their next check; let the
    // sweep settle before comparing the indices.
    for (int i = 0; i < 100 && indices(*stack_) != before.indices; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    expect_failed_cleanly(*stack_, id, before, "image", "cancelled by fault-test", ledger::RunStatus::kCancelled);
  }
  auto id = stack_->trigger("image", std::nullopt, "incremental");
  stack_->wait(id, seconds(240));
  expect_incremental_exactly(id);
}

// Scenario 30, continued: a cancel while the planner waits, on the upstream during the snapshot or
// on the baseline's tables while it computes the delta (phase copying), interrupts its statements:
// the refresh ends while the lock is still held, and leaves nothing behind.
TEST_F(IncrementalFaults, ACancelWhileThePlannerWaitsInterruptsItAndLeavesNothing) {
  change_upstream(5);
  struct Hold {
    std::string phase;
    bool upstream;
    std::string table;
  };
  for (const Hold& hold : {Hold{"snapshotting", true, "image"}, Hold{"copying", false, "datarefresh.deleted_image"}}) {
    SCOPED_TRACE(hold.phase);
    auto before = live_state(*stack_, "image");
    auto locker = pg::Database::connect(hold.upstream ? stack_->catalog_db_options() : stack_->api_db_options());
    locker.exec("BEGIN");
    locker.exec("LOCK TABLE " + hold.table + " IN ACCESS EXCLUSIVE MODE");
    auto id = stack_->trigger("image", std::nullopt, "incremental");
    auto seen = wait_phase(id, hold.phase, seconds(120));
    ASSERT_EQ(seen["phase"], hold.phase);
    std::this_thread::sleep_for(seconds(1));  // its statement waits on the lock now
    cancel_through_api(id);
    auto p = stack_->wait(id, seconds(30));  // while the lock is still held
    EXPECT_EQ(p.run.status, ledger::RunStatus::kCancelled) << p.run.error.value_or("") << " in " << p.run.phase;
    locker.exec("ROLLBACK");
    expect_failed_cleanly(*stack_, id, before, "image", "cancelled by fault-test", ledger::RunStatus::kCancelled);
  }
  auto id = stack_->trigger("image", std::nullopt, "incremental");
  stack_->wait(id, seconds(240));
  expect_incremental_exactly(id);
}

// Scenario 31: an indexer killed in the middle of a delta shard: the shard runs again elsewhere, and
// nothing is lost or counted twice.
TEST_F(IncrementalFaults, AnIndexerKilledMidDeltaShardLosesNothingAndCountsNothingTwice) {
  change_upstream(4);
  engine_latency("300ms");
  auto id = stack_->trigger("image", std::nullopt, "incremental");
  std::string victim, shard;
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (victim.empty() && std::chrono::steady_clock::now() < deadline) {
    auto db = api();
    auto rs = db.exec_params("SELECT worker, shard::text FROM datarefresh.shards WHERE refresh_id = $1::uuid AND "
                             "status = 'running' AND rows_read > 0",
                             {id});
    for (const auto& r : rs.rows) {
      auto* indexer = stack_->indexer(r[0].value_or(""));
      if (indexer && indexer->running()) {
        victim = *r[0];
        shard = *r[1];
      }
    }
    if (victim.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(victim.empty()) << "no delta shard was seen running";
  stack_->indexer(victim)->signal(SIGKILL);
  stack_->indexer(victim)->wait_for(seconds(10));
  stack_->forget_exited_indexers();
  stack_->start_indexer();
  engine_latency("20ms");
  stack_->wait(id, seconds(300));
  expect_incremental_exactly(id);
  auto db = api();
  auto worker = db.query_value("SELECT worker FROM datarefresh.shards WHERE refresh_id = $1::uuid AND shard = $2::int",
                               {id, shard});
  EXPECT_NE(worker.value_or(victim), victim) << "the killed indexer's shard " << shard << " ran again elsewhere";
}

}  // namespace
}  // namespace datarefresh::fault
