// The ledger's event folding against a real PostgreSQL.
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
#include "core/refresh/copy_progress.h"
#include "devstack/postgres/local_postgres.h"

namespace datarefresh::ledger {
namespace {

using namespace std::chrono_literals;

class LedgerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    devpg::LocalPostgresOptions options;
    options.load_schemas = false;
    server_ = devpg::LocalPostgres::start(options).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    pg::ConnectionOptions o;
    o.dsn = server_->api_dsn();
    db_.emplace(pg::Database::connect(o));
    ledger_.emplace(*db_);
    ledger_->ensure_schema();
  }

  // A running refresh with `shards` planned shards of 100 ids each.
  std::string begin(int shards) {
    static int n = 0;
    NewRun r;
    r.refresh_id = fmt::format("00000000-0000-4000-8000-{:012d}", ++n);
    r.request_id = r.refresh_id;
    r.media_type = "image";
    r.environment = "test";
    r.lock_scope = "scope-" + std::to_string(n);
    r.requested_by = "test";
    EXPECT_EQ(ledger_->begin_run(r).kind, BeginOutcome::Kind::kStarted);
    std::vector<catalog::ShardRange> ranges;
    for (int i = 0; i < shards; ++i) ranges.push_back({i, 1 + 100 * i, 101 + 100 * i});
    ledger_->record_shards(r.refresh_id, ranges);
    return r.refresh_id;
  }
  ShardRecord shard(const std::string& id, int shard) {
    for (auto& s : ledger_->shards(id)) {
      if (s.shard == shard) return s;
    }
    ADD_FAILURE() << "no shard " << shard;
    return {};
  }

  static devpg::LocalPostgres* server_;
  std::optional<pg::Database> db_;
  std::optional<Ledger> ledger_;
};

devpg::LocalPostgres* LedgerTest::server_ = nullptr;

// Progress events come on a timer whether or not the shard moves: the same counts again are a
// heartbeat, and the shard's idle time (which the coordinator's stall timeout reads) keeps growing.
TEST_F(LedgerTest, ProgressWithUnchangedCountsDoesNotHideAStuckShard) {
  auto id = begin(1);
  ASSERT_TRUE(ledger_->shard_started(id, 0, 1, "indexer-a"));
  ASSERT_TRUE(ledger_->shard_progress(id, 0, 1, {100, 90, 0, 0, 0}));
  std::this_thread::sleep_for(1200ms);
  EXPECT_TRUE(ledger_->shard_progress(id, 0, 1, {100, 90, 0, 0, 0})) << "a heartbeat is still folded";
  EXPECT_GE(shard(id, 0).idle_seconds, 1.0) << "unchanged counts are not progress";

  EXPECT_TRUE(ledger_->shard_progress(id, 0, 1, {200, 190, 0, 0, 0}));
  auto s = shard(id, 0);
  EXPECT_LT(s.idle_seconds, 1.0) << "new counts are progress";
  EXPECT_EQ(s.counts.rows_read, 200);
  EXPECT_EQ(s.counts.indexed, 190);
}

// A shard that says it waits on the search engine (an outage, an index block) is alive though its
// counts stand still: the stall timeout does not see it idle, and the reason is kept until it moves.
TEST_F(LedgerTest, AShardWaitingOnTheEngineIsAliveAndSaysWhy) {
  auto id = begin(1);
  ASSERT_TRUE(ledger_->shard_started(id, 0, 1, "indexer-a"));
  ASSERT_TRUE(ledger_->shard_progress(id, 0, 1, {100, 90, 0, 0, 0}));
  std::this_thread::sleep_for(1200ms);
  const std::string why = "index image-1 is blocked: index [image-1] blocked by: [FORBIDDEN/8/index write (api)];";
  ASSERT_TRUE(ledger_->shard_progress(id, 0, 1, {100, 90, 0, 0, 0}, why));
  auto s = shard(id, 0);
  EXPECT_LT(s.idle_seconds, 1.0) << "waiting on the engine is a sign of life";
  EXPECT_EQ(s.waiting.value_or(""), why);
  ASSERT_TRUE(ledger_->shard_progress(id, 0, 1, {150, 140, 0, 0, 0}));
  EXPECT_FALSE(shard(id, 0).waiting) << "cleared once it moves on";
}

// Where each job was written is kept with its shard (until the shard is retried); a shard failed
// for good says so.
TEST_F(LedgerTest, JobPositionsAndFailuresForGoodAreRecorded) {
  auto id = begin(2);
  ledger_->mark_published(id, {{0, {3, 41}}, {1, {7, 12}}});
  auto s0 = shard(id, 0);
  EXPECT_TRUE(s0.published);
  ASSERT_TRUE(s0.job);
  EXPECT_EQ(*s0.job, (JobPosition{3, 41}));
  EXPECT_EQ(shard(id, 1).job->offset, 12);
  ASSERT_TRUE(ledger_->shard_started(id, 1, 1, "indexer-a"));
  ASSERT_TRUE(ledger_->shard_failed(id, 1, 1, "index image-x no longer exists", /*retryable=*/false));
  EXPECT_FALSE(shard(id, 1).retryable);
  ASSERT_TRUE(ledger_->retry_shard(id, 0, 1));
  EXPECT_FALSE(shard(id, 0).job) << "a new attempt's job is written elsewhere";
  EXPECT_TRUE(shard(id, 0).retryable);
}

// Events of an attempt the shard has moved past change nothing; a completion by any attempt counts
// once.
TEST_F(LedgerTest, OlderAttemptsAreIgnoredAndACompletionCountsOnce) {
  auto id = begin(1);
  ASSERT_TRUE(ledger_->shard_started(id, 0, 1, "indexer-a"));
  ASSERT_TRUE(ledger_->retry_shard(id, 0, 1));
  EXPECT_FALSE(ledger_->shard_started(id, 0, 1, "indexer-a"));
  EXPECT_FALSE(ledger_->shard_progress(id, 0, 1, {10, 10, 0, 0, 0}));
  EXPECT_FALSE(ledger_->shard_failed(id, 0, 1, "late"));
  EXPECT_EQ(shard(id, 0).status, ShardStatus::kPending);
  EXPECT_EQ(shard(id, 0).attempt, 2);

  EXPECT_TRUE(ledger_->shard_completed(id, 0, 1, {100, 98, 1, 1, 0}));
  EXPECT_FALSE(ledger_->shard_completed(id, 0, 2, {100, 98, 1, 1, 0}));
  auto s = shard(id, 0);
  EXPECT_EQ(s.status, ShardStatus::kCompleted);
  EXPECT_EQ(s.counts.indexed, 98);
  EXPECT_FALSE(ledger_->retry_shard(id, 0, 2)) << "a completed shard is never retried";
}

// While a refresh copies, status views read the copy's progress from its ledger steps (setup,
// parts, the final step) and the temp table's size, whatever another table's parts say.
TEST_F(LedgerTest, TheCopysProgressComesFromItsStepsAndTheTempTablesSize) {
  auto id = begin(0);
  auto p = refresh::read_copy_progress(*db_, id, "image");
  EXPECT_EQ(p.parts, 0);
  EXPECT_EQ(p.parts_done, 0);
  EXPECT_EQ(p.bytes_written, 0) << "no temp table yet";
  EXPECT_FALSE(p.percent().has_value()) << "no upstream size yet";
  db_->exec("DROP TABLE IF EXISTS temp_import_image; CREATE TABLE temp_import_image AS SELECT g AS id, "
            "repeat('x', 200) AS t FROM generate_series(1, 1000) AS g");
  ledger_->mark_step(id, "copy_setup:image", 0.1, {{"parts", 2}, {"upstream_bytes", 1'000'000}});
  ledger_->mark_step(id, "copy_part:image:1/2", 1.0, {{"rows", 500}});
  ledger_->mark_step(id, "copy_part:imageset:1/1", 1.0, {{"rows", 5}});
  p = refresh::read_copy_progress(*db_, id, "image");
  EXPECT_EQ(p.parts, 2);
  EXPECT_EQ(p.parts_done, 1) << "another table's part does not count";
  EXPECT_EQ(p.upstream_bytes, 1'000'000);
  EXPECT_EQ(p.bytes_written, std::stoll(*db_->query_value("SELECT pg_relation_size('temp_import_image')")));
  EXPECT_GT(p.bytes_written, 200'000);
  EXPECT_NEAR(*p.percent(), 100.0 * static_cast<double>(p.bytes_written) / 1e6, 0.1);
  EXPECT_FALSE(p.done);
  ledger_->mark_step(id, "copy:image", 2.0, {{"rows", 1000}});
  p = refresh::read_copy_progress(*db_, id, "image");
  EXPECT_TRUE(p.done);
  EXPECT_DOUBLE_EQ(*p.percent(), 100.0);
  db_->exec("DROP TABLE temp_import_image");
}

}  // namespace
}  // namespace datarefresh::ledger
