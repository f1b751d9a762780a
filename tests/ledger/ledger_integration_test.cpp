// The ledger's event folding against a real PostgreSQL.
#include <chrono>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/ledger/ledger.h"
#include "core/pg/database.h"
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

}  // namespace
}  // namespace datarefresh::ledger
