// Faults and bad input over the whole refresh (docs/reliability.md lists the scenarios): real
// processes on the dev stack, and every test checks the end state exactly.
#include <signal.h>

#include <chrono>
#include <iostream>
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
    stack_ = new demo::DevStack(o);
    std::cout << "service logs: " << stack_->run_dir().string() << " (kept if a test fails)\n";
    stack_->start_infrastructure();
    stack_->start_services(2);
  }
  static void TearDownTestSuite() {
    // Keep the services' logs (the path is in the failure messages) only when something failed.
    stack_->set_remove_run_dir(::testing::UnitTest::GetInstance()->Passed());
    delete stack_;
    stack_ = nullptr;
  }

  static pg::Database api() { return pg::Database::connect(stack_->api_db_options()); }
  static search::Client search_client() { return search::Client(stack_->search_options()); }
  static void produce(const std::string& topic, const std::string& key, const std::string& value) {
    kafka::ProducerOptions o;
    o.client.bootstrap_servers = stack_->bootstrap_servers();
    kafka::Producer p(o);
    auto r = p.produce_sync("datarefresh." + topic, key, value, seconds(20));
    ASSERT_TRUE(r.ok()) << r.error->message;
  }
  // Every dead letter so far, read by a fresh consumer group from the beginning.
  static std::vector<json> dead_letters(std::size_t at_least, seconds timeout) {
    std::vector<json> out;
    std::mutex mu;
    kafka::ConsumerOptions o;
    o.client.bootstrap_servers = stack_->bootstrap_servers();
    o.group_id = "fault-test-reader-" + std::to_string(::getpid()) + "-" + std::to_string(reads_++);
    o.topics = {"datarefresh.dead-letter"};
    o.session_timeout = seconds(6);
    o.max_in_flight = 1;
    kafka::GroupConsumer c(o, [&](const kafka::Message& m, const kafka::CancelToken&) {
      std::lock_guard lock(mu);
      out.push_back(json::parse(m.payload));
      return kafka::JobOutcome::kDone;
    });
    std::thread t([&] { c.run(); });
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (out.size() >= at_least) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    c.stop();
    t.join();
    return out;
  }
  static bool all_services_running() {
    bool ok = stack_->planner()->running() && stack_->coordinator()->running();
    for (auto& i : stack_->indexers()) ok = ok && i.running();
    return ok;
  }
  static std::set<std::string> indices() {
    std::set<std::string> out;
    auto rows = search_client().cat_indices();
    EXPECT_TRUE(rows.ok());
    if (rows.ok()) {
      for (const auto& r : rows.value()) {
        if (r.index[0] != '.') out.insert(r.index);
      }
    }
    return out;
  }

  static demo::DevStack* stack_;
  static int reads_;
};

demo::DevStack* RefreshFaults::stack_ = nullptr;
int RefreshFaults::reads_ = 0;

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
  auto letters = dead_letters(6, seconds(60));
  ASSERT_GE(letters.size(), 6u);
  std::set<std::string> topics;
  std::string reasons;
  for (const auto& l : letters) {
    topics.insert(l["source_topic"].get<std::string>());
    reasons += l["reason"].get<std::string>() + "\n";
    EXPECT_FALSE(l["reason"].get<std::string>().empty());
  }
  EXPECT_EQ(topics, (std::set<std::string>{"datarefresh.requests", "datarefresh.shard-jobs", "datarefresh.events",
                                           "datarefresh.refresh-jobs"}));
  EXPECT_NE(reasons.find("version 2"), std::string::npos) << reasons;
  EXPECT_NE(reasons.find("unknown refresh 00000000-0000-4000-8000-0000000000aa"), std::string::npos) << reasons;
  EXPECT_TRUE(all_services_running());
}

// Scenario 15: an index already named like the alias: refused before anything is copied.
TEST_F(RefreshFaults, AnAliasNameTakenByAConcreteIndexIsRefusedAndNothingLiveChanges) {
  auto client = search_client();
  ASSERT_TRUE(client.create_index("audio", json::object()).ok());
  auto before = indices();
  auto id = stack_->trigger("audio");
  auto p = stack_->wait(id, seconds(120));
  EXPECT_EQ(p.run.status, ledger::RunStatus::kFailed);
  ASSERT_TRUE(p.run.error);
  EXPECT_NE(p.run.error->find("alias name audio is an existing index"), std::string::npos) << *p.run.error;
  EXPECT_EQ(indices(), before) << "no index created or deleted";
  auto db = api();
  EXPECT_FALSE(db.query_value("SELECT to_regclass('public.temp_import_audio')::text"));
  EXPECT_EQ(*db.query_value("SELECT count(*) FROM audio"), "0") << "the live table is untouched";
  ASSERT_TRUE(client.delete_index("audio").ok());
  EXPECT_TRUE(all_services_running());
}

// Scenario 1: an indexer SIGKILLed in the middle of a shard; its shards go to the others and the
// counts stay exact.
TEST_F(RefreshFaults, AnIndexerKilledMidShardLosesNothingAndCountsNothingTwice) {
  auto id = stack_->trigger("image");
  // Wait until some shard is running, then kill the indexer that runs it.
  auto deadline = std::chrono::steady_clock::now() + seconds(120);
  std::string victim;
  while (victim.empty() && std::chrono::steady_clock::now() < deadline) {
    auto db = api();
    if (db.query_value("SELECT to_regclass('datarefresh.shards')::text")) {
      victim = db.query_value("SELECT worker FROM datarefresh.shards WHERE refresh_id = $1::uuid AND status = 'running' "
                              "AND rows_read > 0 LIMIT 1",
                              {id})
                   .value_or("");
    }
    if (victim.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(victim.empty()) << "no shard was seen running";
  int n = std::stoi(victim.substr(victim.rfind('-') + 1));
  auto& indexer = stack_->indexers().at(static_cast<std::size_t>(n - 1));
  indexer.signal(SIGKILL);
  indexer.wait_for(seconds(10));
  stack_->start_indexer();  // a replacement, as a Deployment would start
  auto p = stack_->wait(id, seconds(300));
  ASSERT_EQ(p.run.status, ledger::RunStatus::kCompleted) << p.run.error.value_or("");
  auto db = api();
  ledger::Ledger ledger(db);
  std::int64_t rows = 0, indexed = 0, skipped = 0;
  for (const auto& s : ledger.shards(id)) {
    rows += s.counts.rows_read;
    indexed += s.counts.indexed;
    skipped += s.counts.skipped_deleted + s.counts.skipped_removed + s.counts.dead_lettered;
  }
  EXPECT_EQ(rows, p.run.expected_rows.value_or(-1));
  EXPECT_EQ(rows, indexed + skipped);
  auto client = search_client();
  auto count = client.count("image");
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(count.value(), indexed) << "every eligible row indexed exactly once";
  auto eligible = db.query_value(
      "SELECT count(*) FROM image t WHERE NOT removed_from_source AND NOT EXISTS "
      "(SELECT 1 FROM api_deletedimage d WHERE d.identifier = t.identifier)");
  EXPECT_EQ(std::stoll(*eligible), indexed);
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
  auto bad_cli = stack_->spawn({"indexer", "--no-such-flag"}, "bad-cli");
  auto cli_rc = bad_cli.wait_for(seconds(30));
  ASSERT_TRUE(cli_rc);
  EXPECT_NE(*cli_rc, 0);
}

}  // namespace
}  // namespace datarefresh::fault
