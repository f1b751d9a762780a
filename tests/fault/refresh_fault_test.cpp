// Faults and bad input over the whole refresh (docs/reliability.md lists the scenarios): real
// processes on the dev stack, and every test checks the end state exactly.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <fstream>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/kafka/group_consumer.h"
#include "core/kafka/producer.h"
#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/search/client.h"
#include "devstack/demo/dev_stack.h"
#include "tests/fault/fault_support.h"

namespace datarefresh::fault {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class RefreshFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    demo::DevStackOptions o;
    o.image_rows = 3000;
    o.audio_rows = 400;
    o.seed = 99;
    // Slow bulk requests so that a shard lasts long enough to be killed in the middle of it.
    o.devsearch_args = {"--latency", "150ms"};
    o.env = {{"DATAREFRESH_REFRESH_ROWS_PER_SHARD", "1000"},
             {"DATAREFRESH_SEARCH_BULK_MAX_DOCS", "100"},
             {"DATAREFRESH_SEARCH_BULK_CONCURRENCY", "1"},
             {"DATAREFRESH_LOGGING_FORMAT", "text"}};
    stack_ = start_suite_stack(o, 2);
  }
  static void TearDownTestSuite() {
    stop_suite_stack(stack_);
  }

  // Every test starts with the suite's bulk latency; the kill tests slow bulk requests further so
  // that a shard is surely still running when its indexer is killed.
  void SetUp() override { engine_latency("150ms"); }
  static void engine_latency(const std::string& latency) {
    admin(stack_->search_url(), "POST", "/_devsearch/faults", json{{"latency", latency}}.dump());
  }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static search::Client search_client() { return search::Client(stack_->search_options()); }
  static void produce(const std::string& topic, const std::string& key, const std::string& value) {
    fault::produce(*stack_, topic, key, value);
  }
  // A live indexer running some shard of the refresh that has read rows already ("" on timeout).
  // The ledger still names a killed indexer for its shard until the shard runs again: skipped.
  static std::string running_shard_worker(const std::string& refresh_id, seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto db = api();
      if (db.query_value("SELECT to_regclass('datarefresh.shards')::text")) {
        auto rs = db.exec_params("SELECT worker FROM datarefresh.shards WHERE refresh_id = $1::uuid AND "
                                 "status = 'running' AND rows_read > 0",
                                 {refresh_id});
        for (const auto& r : rs.rows) {
          auto* indexer = stack_->indexer(r[0].value_or(""));
          if (indexer && indexer->running()) return *r[0];
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return "";
  }
  // Waits until every shard job of the refresh is published (the planner's part is done).
  static void wait_published(const std::string& refresh_id, seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto db = api();
      if (db.query_value("SELECT to_regclass('datarefresh.steps')::text") &&
          ledger::Ledger(db).step_done(refresh_id, "publish")) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    FAIL() << "the shard jobs of " << refresh_id << " were not published";
  }
  static void restart_indexers(int n) {
    stack_->forget_exited_indexers();
    for (int i = 0; i < n; ++i) stack_->start_indexer();
  }

  static demo::DevStack* stack_;
};

demo::DevStack* RefreshFaults::stack_ = nullptr;

// Scenario 11: poison messages on every topic are dead-lettered with their reason and nobody stops.
TEST_F(RefreshFaults, PoisonMessagesAreDeadLetteredAndEveryConsumerKeepsRunning) {
  produce("requests", "image", "{not json");
  produce("requests", "image",
          R"({"type":"refresh.requested","version":2,"request_id":"00000000-0000-4000-8000-000000000001","media_type":"image","options":{},"requested_at":"2026-01-01T00:00:00Z"})");
  produce("shard-jobs", "x/1", R"({"type":"shard.job","version":1})");
  produce("shard-jobs", "x/1",
          R"({"type":"shard.job","version":1,"refresh_id":"00000000-0000-4000-8000-0000000000aa","media_type":"image","shard":0,"id_start":1,"id_end":10,"table":"temp_import_image","target_index":"image-x","attempt":1,"published_at":"2026-01-01T00:00:00Z"})");
  produce("events", "x", R"({"type":"shard.completed","version":1,"refresh_id":"nope"})");
  produce("refresh-jobs", "x", "[]");
  auto letters = read_topic(*stack_, "dead-letter", 6, seconds(60));
  ASSERT_GE(letters.size(), 6u);
  std::set<std::string> topics;
  std::string reasons;
  for (const auto& l : letters) {
    ASSERT_TRUE(l.is_object());
    topics.insert(l["source_topic"].get<std::string>());
    reasons += l["reason"].get<std::string>() + "\n";
    EXPECT_FALSE(l["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(topics, (std::set<std::string>{"datarefresh.requests", "datarefresh.shard-jobs", "datarefresh.events",
                                           "datarefresh.refresh-jobs"}));
  EXPECT_NE(reasons.find("version 2"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("unknown refresh 00000000-0000-4000-8000-0000000000aa"), std::string::npos) << reasons;
  EXPECT_TRUE(all_services_running(*stack_));
}

// Scenario 15: an index already named like the alias: refused before anything is copied.
TEST_F(RefreshFaults, AnAliasNameTakenByAConcreteIndexIsRefusedAndNothingLiveChanges) {
  auto client = search_client();
  ASSERT_TRUE(client.create_index("audio", json::object()).ok());
  auto before = indices(*stack_);
  auto id = stack_->trigger("audio");
  auto p = stack_->wait(id, seconds(120));
  EXPECT_EQ(p.run.status, ledger::RunStatus::kFailed);
  ASSERT_TRUE(p.run.error);
  EXPECT_NE(p.run.error->find("alias name audio is an existing index"), std::string::npos) << *p.run.error;
  EXPECT_EQ(indices(*stack_), before) << "no index created or deleted";
  auto db = api();
  EXPECT_FALSE(db.query_value("SELECT to_regclass('public.temp_import_audio')::text"));
  EXPECT_EQ(*db.query_value("SELECT count(*) FROM audio"), "0") << "the live table is untouched";
  ASSERT_TRUE(client.delete_index("audio").ok());
  EXPECT_TRUE(all_services_running(*stack_));
}

// Scenario 1: an indexer SIGKILLed in the middle of a shard; its shards go to the others and the
// counts stay exact.
TEST_F(RefreshFaults, AnIndexerKilledMidShardLosesNothingAndCountsNothingTwice) {
  engine_latency("400ms");
  auto id = stack_->trigger("image");
  // Twice during the refresh: kill the indexer running a shard, start a replacement.
  for (int kill = 0; kill < 2; ++kill) {
    auto victim = running_shard_worker(id, seconds(120));
    if (victim.empty() && kill > 0) break;  // the refresh went past its shards meanwhile
    ASSERT_FALSE(victim.empty()) << "no shard was seen running";
    auto* indexer = stack_->indexer(victim);
    ASSERT_NE(indexer, nullptr) << victim;
    indexer->signal(SIGKILL);
    indexer->wait_for(seconds(10));
    restart_indexers(1);  // a replacement, as a Deployment would start
  }
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
}

// Scenario 2: every indexer dies mid-refresh and none runs for a while (longer than the consumer
// session timeout, so the group forgets them); new ones started later finish the refresh.
TEST_F(RefreshFaults, EveryIndexerDiesAndNewOnesStartedLaterFinishTheRefresh) {
  engine_latency("400ms");
  auto id = stack_->trigger("image");
  ASSERT_FALSE(running_shard_worker(id, seconds(120)).empty()) << "no shard was seen running";
  for (auto& i : stack_->indexers()) i.signal(SIGKILL);
  for (auto& i : stack_->indexers()) i.wait_for(seconds(10));
  EXPECT_EQ(stack_->forget_exited_indexers(), 2u);
  std::this_thread::sleep_for(seconds(20));
  auto meanwhile = stack_->progress(id);
  EXPECT_EQ(meanwhile.run.status, ledger::RunStatus::kRunning) << "no indexer is not a reason to fail";
  EXPECT_LT(meanwhile.shards_done, meanwhile.shards_total);
  restart_indexers(2);
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
}

// Scenario 3: SIGTERM to an indexer in the middle of a shard: it stops claiming, finishes or
// hands back what it runs within its grace period, exits 0, and nothing is counted twice.
TEST_F(RefreshFaults, ATerminatedIndexerStopsCleanlyAndNothingIsCountedTwice) {
  engine_latency("400ms");
  auto id = stack_->trigger("image");
  auto victim = running_shard_worker(id, seconds(120));
  ASSERT_FALSE(victim.empty()) << "no shard was seen running";
  auto* indexer = stack_->indexer(victim);
  ASSERT_NE(indexer, nullptr);
  indexer->signal(SIGTERM);
  auto rc = indexer->wait_for(seconds(40));
  ASSERT_TRUE(rc) << "the indexer did not stop within its grace period";
  EXPECT_EQ(*rc, 0) << "a clean stop";
  restart_indexers(1);
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
}

// Scenario 10: the server terminates the indexers' PostgreSQL streams of running shards
// (pg_terminate_backend, as a failover or an administrator would). To hit them while they are
// open, the test holds a lock on the temp table so that their COPY waits, terminates every waiting
// stream, then lets go: the shards fail retryably, are re-published and complete; counts stay exact.
TEST_F(RefreshFaults, TerminatedPostgresStreamsAreRetriedAndLoseNothing) {
  for (auto& i : stack_->indexers()) i.stop(seconds(30));
  stack_->forget_exited_indexers();
  auto id = stack_->trigger("image");
  wait_published(id, seconds(120));
  auto blocker = api();
  blocker.exec("BEGIN; LOCK TABLE public.temp_import_image IN ACCESS EXCLUSIVE MODE");
  restart_indexers(2);
  int terminated = 0;
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (terminated < 2 && std::chrono::steady_clock::now() < deadline) {
    auto db = api();
    terminated += std::stoi(db.query_value("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                                           "application_name = 'datarefresh-indexer-stream' AND state = 'active' "
                                           "AND wait_event_type = 'Lock'")
                                .value_or("0"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  blocker.exec("COMMIT");
  ASSERT_GT(terminated, 0) << "no indexer stream was seen";
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  auto db = api();
  ledger::Ledger ledger(db);
  int retried = 0;
  for (const auto& s : ledger.shards(id)) retried += s.attempt > 1 ? 1 : 0;
  EXPECT_GT(retried, 0) << "the shards whose stream broke ran again";
  EXPECT_LE(retried, terminated);
}

// Scenario 12: every shard job delivered twice and in reverse order, and every event of the
// refresh delivered again in reverse order while it runs and after it completed: the ledger
// counts each shard once.
TEST_F(RefreshFaults, DuplicatedAndReorderedJobsAndEventsAreCountedOnce) {
  // No indexer while the jobs are published, so the duplicates are there before any work.
  for (auto& i : stack_->indexers()) i.stop(seconds(30));
  stack_->forget_exited_indexers();
  auto id = stack_->trigger("image");
  wait_published(id, seconds(120));
  auto of_refresh = [&](const std::vector<std::pair<std::string, std::string>>& messages) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& m : messages) {
      if (m.second.find(id) != std::string::npos) out.push_back(m);
    }
    std::reverse(out.begin(), out.end());
    return out;
  };
  auto jobs = of_refresh(read_raw(*stack_, "shard-jobs", 0, seconds(0)));
  ASSERT_EQ(static_cast<std::int32_t>(jobs.size()), stack_->progress(id).run.shard_count.value_or(-1));
  for (const auto& [key, value] : jobs) produce("shard-jobs", key, value);
  restart_indexers(2);
  // Once a shard completed, every event so far again, newest first.
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  while (stack_->progress(id).shards_done == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& [key, value] : of_refresh(read_raw(*stack_, "events", 0, seconds(0)))) {
    produce("events", key, value);
  }
  stack_->wait(id, seconds(300));
  expect_completed_exactly(*stack_, id, "image");
  // After completion: the whole history again changes nothing.
  auto before = ledger_counts(*stack_, id);
  for (const auto& [key, value] : of_refresh(read_raw(*stack_, "events", 0, seconds(0)))) {
    produce("events", key, value);
  }
  for (const auto& [key, value] : jobs) produce("shard-jobs", key, value);
  std::this_thread::sleep_for(seconds(5));
  auto after = ledger_counts(*stack_, id);
  EXPECT_EQ(after.rows_read, before.rows_read);
  EXPECT_EQ(after.indexed, before.indexed);
  expect_completed_exactly(*stack_, id, "image");
}

// Scenario 16: bad configuration and bad command lines fail at once, naming every problem.
TEST_F(RefreshFaults, BadConfigurationIsRefusedWithEveryProblemNamed) {
  auto dir = stack_->run_dir();
  std::ofstream(dir / "bad.yaml") << "kafka:\n  bootstrap_servers: 127.0.0.1:1\n  topics:\n    shard_jobs: {partitions: twelve}\n"
                                     "  consumer: {session_timeout: 30x}\nsearch: {urll: http://x}\npostgres: {}\n";
  auto check = stack_->spawn({"check-config", (dir / "bad.yaml").string()}, "check-config");
  auto rc = check.wait_for(seconds(30));
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, 0);
  std::ifstream log(dir / "check-config.log");
  std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  for (const char* key : {"kafka.topics.shard_jobs.partitions", "kafka.consumer.session_timeout", "search.urll",
                          "postgres.api.dsn"}) {
    EXPECT_NE(text.find(key), std::string::npos) << key << " not named in:\n" << text;
  }
  auto planner = stack_->spawn({"planner", "--config", (dir / "bad.yaml").string()}, "bad-planner");
  auto planner_rc = planner.wait_for(seconds(30));
  ASSERT_TRUE(planner_rc) << "a planner with a bad configuration must exit";
  EXPECT_NE(*planner_rc, 0);
  // Valid, but nothing answers where it points: check-config --connect and a service both name
  // every unreachable endpoint, and the service exits before doing anything.
  std::ofstream(dir / "unreachable.yaml") << "postgres:\n  api: {dsn: 'postgresql://u@127.0.0.1:1/api'}\n"
                                             "  upstream: {dsn: 'postgresql://u@127.0.0.1:1/up'}\n"
                                             "kafka: {bootstrap_servers: '127.0.0.1:1'}\nsearch: {url: 'http://127.0.0.1:1'}\n";
  std::map<std::string, std::string> no_overrides;
  for (const auto& [k, v] : stack_->env()) {
    if (k.rfind("DATAREFRESH_", 0) == 0 || k.find("DATABASE_URL") != std::string::npos) no_overrides[k] = "";
  }
  for (const auto& [args, log_name] :
       {std::pair{std::vector<std::string>{"check-config", "--connect", (dir / "unreachable.yaml").string()},
                  std::string("unreachable-check")},
        std::pair{std::vector<std::string>{"coordinator", "--config", (dir / "unreachable.yaml").string()},
                  std::string("unreachable-coordinator")}}) {
    auto p = stack_->spawn(args, log_name, no_overrides);
    auto p_rc = p.wait_for(seconds(60));
    ASSERT_TRUE(p_rc) << log_name << " must exit";
    EXPECT_NE(*p_rc, 0) << log_name;
    std::ifstream in(dir / (log_name + ".log"));
    std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (const char* key : {"postgres.api.dsn: unreachable", "kafka.bootstrap_servers: unreachable",
                            "search.url: unreachable"}) {
      EXPECT_NE(out.find(key), std::string::npos) << key << " not named by " << log_name << ":\n" << out;
    }
  }
  auto bad_cli = stack_->spawn({"indexer", "--no-such-flag"}, "bad-cli");
  auto cli_rc = bad_cli.wait_for(seconds(30));
  ASSERT_TRUE(cli_rc);
  EXPECT_NE(*cli_rc, 0);
}

}  // namespace
}  // namespace datarefresh::fault
