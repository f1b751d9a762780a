#include "consumer/indexer/shard_indexer.h"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace datarefresh::indexer {
namespace {

using catalog::FieldView;
using catalog::MediaKind;
namespace col = catalog::col;

// Image rows with ids 1..n; every `deleted_every`-th row is deleted, every `removed_every`-th removed.
class FakeRows : public RowSource {
 public:
  FakeRows(std::int64_t n, std::int64_t deleted_every = 0, std::int64_t removed_every = 0, std::int64_t throw_at = 0)
      : n_(n), deleted_every_(deleted_every), removed_every_(removed_every), throw_at_(throw_at) {}

  bool next(std::vector<FieldView>& row) override {
    if (next_id_ > n_) return false;
    std::int64_t id = next_id_++;
    if (throw_at_ && id == throw_at_) throw std::runtime_error("connection to server lost");
    values_.assign(col::kImageCount, std::nullopt);
    values_[col::kId] = std::to_string(id);
    values_[col::kIdentifier] = "00000000-0000-0000-0000-" + std::to_string(100000000000 + id);
    values_[col::kCreatedOn] = "2022-01-01 00:00:00+00";
    values_[col::kLicense] = "by";
    values_[col::kProvider] = "flickr";
    values_[col::kTitle] = "row " + std::to_string(id);
    values_[col::kTags] = "[]";
    values_[col::kUrl] = "https://x.org/" + std::to_string(id) + ".jpg";
    values_[col::kRemovedFromSource] = (removed_every_ && id % removed_every_ == 0) ? "t" : "f";
    values_[col::kDeleted] = (deleted_every_ && id % deleted_every_ == 0) ? "t" : "f";
    values_[col::kMature] = "f";
    row.clear();
    for (const auto& v : values_) row.push_back(v ? FieldView{*v, false} : FieldView{{}, true});
    return true;
  }

 private:
  std::int64_t n_, deleted_every_, removed_every_, throw_at_;
  std::int64_t next_id_ = 1;
  std::vector<std::optional<std::string>> values_;
};

// An in-memory engine: decides per item (by id and attempt) whether to accept, reject for a
// while with 429, or reject for good; records every accepted id.
class FakeEngine : public BulkTransport {
 public:
  std::function<int(std::int64_t id, int attempt)> item_status = [](std::int64_t, int) { return 201; };
  std::function<std::optional<search::SearchError>(int request)> request_error = [](int) {
    return std::optional<search::SearchError>();
  };

  search::Result<search::BulkResponse> bulk(std::string_view body) override {
    int request = requests.fetch_add(1);
    if (auto err = request_error(request)) return *err;
    search::BulkResponse resp;
    std::istringstream in{std::string(body)};
    std::string action, source;
    std::size_t pos = 0;
    std::size_t docs = 0;
    while (std::getline(in, action)) {
      auto a = nlohmann::json::parse(action);
      if (a.contains("delete")) {  // no source line; a missing document answers 404 not_found
        std::int64_t id = std::stoll(a["delete"]["_id"].get<std::string>());
        search::BulkItemResult r;
        r.position = pos++;
        r.action = "delete";
        std::lock_guard lock(mu);
        r.status = accepted.count(id) ? 200 : 404;
        r.result = accepted.count(id) ? "deleted" : "not_found";
        deleted.push_back(id);
        resp.items.push_back(r);
        ++resp.item_count;
        ++docs;
        continue;
      }
      if (!std::getline(in, source)) break;
      auto doc = nlohmann::json::parse(source);
      std::int64_t id = std::stoll(a["index"]["_id"].get<std::string>());
      EXPECT_EQ(doc["id"], id);
      int attempt;
      {
        std::lock_guard lock(mu);
        attempt = ++attempts[id];
      }
      search::BulkItemResult r;
      r.position = pos++;
      r.action = "index";
      r.id = std::to_string(id);
      r.status = item_status(id, attempt);
      if (r.status == 429) {
        r.error_type = "es_rejected_execution_exception";
        r.retryable = true;
      } else if (r.status == 400) {
        r.error_type = "mapper_parsing_exception";
        r.error_reason = "failed to parse field [created_on]";
      } else if (r.status == 403) {  // as Elasticsearch answers an item on a write-blocked index
        r.error_type = "cluster_block_exception";
        r.error_reason = "index [image-test] blocked by: [FORBIDDEN/8/index write (api)];";
        r.retryable = true;
      } else if (r.status == 404) {  // the index was deleted and auto-create may not make it again
        r.error_type = "index_not_found_exception";
        r.error_reason = "no such index [image-test]";
      } else {
        std::lock_guard lock(mu);
        EXPECT_TRUE(accepted.insert(id).second) << "document " << id << " accepted twice";
      }
      resp.errors = resp.errors || !r.ok();
      resp.items.push_back(r);
      ++resp.item_count;
      ++docs;
    }
    std::lock_guard lock(mu);
    max_docs_per_request = std::max(max_docs_per_request, docs);
    return resp;
  }

  std::mutex mu;
  std::set<std::int64_t> accepted;
  std::vector<std::int64_t> deleted;  // ids of delete actions, in the order received
  std::map<std::int64_t, int> attempts;
  std::atomic<int> requests{0};
  std::size_t max_docs_per_request = 0;
};

class FakeDeadLetters : public DeadLetterSink {
 public:
  bool accept = true;
  bool record(const RejectedDocument& doc) override {
    std::lock_guard lock(mu);
    if (!accept) return false;
    docs.push_back(doc);
    return true;
  }
  std::mutex mu;
  std::vector<RejectedDocument> docs;
};

Timing instant_timing(std::shared_ptr<std::atomic<std::int64_t>> clock_ms) {
  return Timing{[clock_ms](Duration d) { clock_ms->fetch_add(d.count()); },
                [clock_ms] { return std::chrono::steady_clock::time_point(std::chrono::milliseconds(clock_ms->load())); }};
}

struct Harness {
  FakeEngine engine;
  FakeDeadLetters dead;
  BulkSettings settings;
  ShardWork work;
  std::shared_ptr<std::atomic<std::int64_t>> clock = std::make_shared<std::atomic<std::int64_t>>(0);
  Harness() {
    settings.max_docs = 100;
    settings.concurrency = 3;
    work.index = "image-test";
    work.kind = MediaKind::kImage;
  }
  ShardResult run(RowSource& rows) { return index_shard(rows, engine, dead, work, settings, instant_timing(clock)); }
};

TEST(IndexShard, IndexesEveryEligibleRowExactlyOnceAndCountsTheSkipped) {
  Harness h;
  FakeRows rows(1000, /*deleted_every=*/10, /*removed_every=*/25);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  // 100 deleted (every 10th); removed: every 25th not already deleted = 40 - 20 = 20.
  EXPECT_EQ(result.counts, (ShardCounts{1000, 880, 100, 20, 0}));
  EXPECT_EQ(h.engine.accepted.size(), 880u);
  EXPECT_EQ(h.engine.accepted.count(10), 0u);
  EXPECT_EQ(h.engine.accepted.count(25), 0u);
  EXPECT_EQ(h.engine.accepted.count(1), 1u);
  EXPECT_LE(h.engine.max_docs_per_request, 100u);
}

TEST(IndexShard, BatchesFromASharedPoolAreReusedAcrossShardsAndBuildCorrectBodies) {
  Harness h;
  BatchPool pool(2 * h.settings.concurrency + 1);
  h.work.batches = &pool;
  FakeRows first(1000);
  auto a = h.run(first);
  ASSERT_EQ(a.outcome, ShardOutcome::kCompleted) << a.error;
  const auto kept_after_first = pool.kept();
  EXPECT_GE(kept_after_first, 1u);
  EXPECT_LE(kept_after_first, 2 * h.settings.concurrency + 1);
  // A second shard, in recycled batches: bodies hold exactly their own documents (the engine
  // parses them), nothing of the previous shard's.
  h.engine.accepted.clear();
  FakeRows second(700, /*deleted_every=*/7);
  auto b = h.run(second);
  ASSERT_EQ(b.outcome, ShardOutcome::kCompleted) << b.error;
  EXPECT_EQ(b.counts.indexed, 600);
  EXPECT_EQ(h.engine.accepted.size(), 600u);
  EXPECT_LE(pool.kept(), 2 * h.settings.concurrency + 1);
  // A pool that keeps nothing frees every batch.
  BatchPool none(0);
  h.work.batches = &none;
  h.engine.accepted.clear();
  FakeRows third(250);
  EXPECT_EQ(h.run(third).counts.indexed, 250);
  EXPECT_EQ(none.kept(), 0u);
}

TEST(IndexShard, RetriesItemsRejectedWith429UntilAccepted) {
  Harness h;
  h.engine.item_status = [](std::int64_t id, int attempt) { return (id % 10 < 3 && attempt <= 2) ? 429 : 201; };
  FakeRows rows(500);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(result.counts.indexed, 500);
  EXPECT_EQ(h.engine.accepted.size(), 500u);
  EXPECT_EQ(h.engine.attempts[12], 3);
  EXPECT_EQ(h.engine.attempts[13], 1);
  EXPECT_GT(h.clock->load(), 0) << "retries must back off";
}

TEST(IndexShard, DeadLettersDocumentsRejectedForGoodWithTheReason) {
  Harness h;
  h.engine.item_status = [](std::int64_t id, int) { return id % 100 == 7 ? 400 : 201; };
  FakeRows rows(300);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(result.counts.indexed, 297);
  EXPECT_EQ(result.counts.dead_lettered, 3);
  ASSERT_EQ(h.dead.docs.size(), 3u);
  std::set<std::string> ids;
  for (const auto& d : h.dead.docs) {
    ids.insert(d.document_id);
    EXPECT_NE(d.reason.find("mapper_parsing_exception"), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(d.source)["id"].get<std::int64_t>(), std::stoll(d.document_id));
  }
  EXPECT_EQ(ids, (std::set<std::string>{"7", "107", "207"}));
}

// An incremental shard's target already holds documents: a row that is not indexed has its document
// deleted, and a row whose new document is rejected for good loses its old one too.
TEST(IndexShard, AnIncrementalShardDeletesTheDocumentsOfRowsItDoesNotIndex) {
  Harness h;
  h.work.delete_skipped = true;
  h.engine.item_status = [](std::int64_t id, int) { return id == 7 ? 400 : 201; };
  FakeRows rows(300, 10, 25);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  std::set<std::int64_t> want_deleted{7};
  std::int64_t skipped = 0;
  for (std::int64_t id = 1; id <= 300; ++id) {
    if (id % 10 == 0 || id % 25 == 0) {
      want_deleted.insert(id);
      ++skipped;
    }
  }
  EXPECT_EQ(std::set<std::int64_t>(h.engine.deleted.begin(), h.engine.deleted.end()), want_deleted);
  EXPECT_EQ(h.engine.deleted.size(), want_deleted.size()) << "each document deleted once";
  EXPECT_EQ(result.counts.rows_read, 300);
  EXPECT_EQ(result.counts.indexed, 300 - skipped - 1) << "deletes are not counted as indexed";
  EXPECT_EQ(result.counts.dead_lettered, 1);
  EXPECT_EQ(result.counts.skipped_deleted + result.counts.skipped_removed, skipped);
}

// A delete shard's rows are ids: each becomes one delete; a document already gone is not an error.
TEST(IndexShard, ADeleteShardDeletesTheDocumentOfEveryId) {
  class Ids : public RowSource {
   public:
    bool next(std::vector<FieldView>& row) override {
      if (next_ > 120) return false;
      text_ = std::to_string(next_++);
      row.assign(1, FieldView{text_, false});
      return true;
    }
    std::int64_t next_ = 1;
    std::string text_;
  } ids;
  Harness h;
  h.work.deletes_only = true;
  auto result = h.run(ids);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(h.engine.deleted.size(), 120u);
  EXPECT_EQ(result.counts.rows_read, 120);
  EXPECT_EQ(result.counts.indexed, 0);
  EXPECT_EQ(result.counts.dead_lettered, 0);
}

TEST(IndexShard, FailsTheShardWhenARejectedDocumentCannotBeDeadLettered) {
  Harness h;
  h.dead.accept = false;
  h.engine.item_status = [](std::int64_t id, int) { return id == 42 ? 400 : 201; };
  FakeRows rows(100);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_NE(result.error.find("document 42"), std::string::npos) << result.error;
}

TEST(IndexShard, FailsRetryablyWhenTheEngineStaysUnavailablePastTheDeadline) {
  Harness h;
  h.settings.deadline = std::chrono::minutes(2);
  h.engine.request_error = [](int) {
    return std::optional<search::SearchError>(search::SearchError{503, "unavailable", "down", true});
  };
  FakeRows rows(50);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_TRUE(result.retryable);
  EXPECT_NE(result.error.find("image-test"), std::string::npos) << result.error;
  EXPECT_EQ(result.counts.indexed, 0);
}

TEST(IndexShard, RecoversWhenTheEngineComesBackBeforeTheDeadline) {
  Harness h;
  h.engine.request_error = [](int request) {
    return request < 4 ? std::optional<search::SearchError>(search::SearchError{0, "transport", "reset", true})
                       : std::nullopt;
  };
  FakeRows rows(250);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(h.engine.accepted.size(), 250u);
}

// An engine restart: every request refused for about a minute, far more attempts than any retry
// count would allow. It costs time, not the shard; the wait is reported and then cleared.
TEST(IndexShard, AnEngineRestartWithinTheDeadlineCostsTimeNotTheShard) {
  Harness h;
  h.settings.deadline = std::chrono::minutes(5);
  h.settings.backoff = BackoffPolicy{std::chrono::milliseconds(100), std::chrono::seconds(2), 2.0, 0.5};
  auto clock = h.clock;
  h.engine.request_error = [clock](int) {
    return clock->load() < 60'000 ? std::optional<search::SearchError>(
                                        search::SearchError{0, "transport", "connection refused", true})
                                  : std::nullopt;
  };
  std::mutex mu;
  std::vector<std::string> waits;
  h.work.on_waiting = [&](const std::string& reason) {
    std::lock_guard lock(mu);
    waits.push_back(reason);
  };
  FakeRows rows(500);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(h.engine.accepted.size(), 500u);
  EXPECT_GT(h.engine.requests.load(), 30) << "many more attempts than the old retry limit of 8";
  ASSERT_GE(waits.size(), 2u);
  EXPECT_NE(waits.front().find("connection refused"), std::string::npos) << waits.front();
  EXPECT_EQ(waits.back(), "") << "the wait is over";
}

// An index-wide write block (index.blocks.write, or the flood-stage read_only_allow_delete block)
// is temporary: waited out within the deadline, reported, and no document is dead-lettered.
TEST(IndexShard, AnIndexBlockIsWaitedOutAndNothingIsDeadLettered) {
  Harness h;
  h.settings.deadline = std::chrono::minutes(30);
  auto clock = h.clock;
  h.engine.item_status = [clock](std::int64_t, int) { return clock->load() < 120'000 ? 403 : 201; };
  std::mutex mu;
  std::vector<std::string> waits;
  h.work.on_waiting = [&](const std::string& reason) {
    std::lock_guard lock(mu);
    waits.push_back(reason);
  };
  FakeRows rows(300);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted) << result.error;
  EXPECT_EQ(result.counts.indexed, 300);
  EXPECT_EQ(result.counts.dead_lettered, 0);
  EXPECT_TRUE(h.dead.docs.empty());
  ASSERT_FALSE(waits.empty());
  EXPECT_NE(waits.front().find("index image-test is blocked"), std::string::npos) << waits.front();
  EXPECT_EQ(waits.back(), "");
}

// A block that outlasts the deadline fails the shard retryably, still without dead letters.
TEST(IndexShard, AnIndexBlockPastTheDeadlineFailsTheShardWithoutDeadLetters) {
  Harness h;
  h.settings.deadline = std::chrono::minutes(3);
  h.engine.item_status = [](std::int64_t, int) { return 403; };
  FakeRows rows(50);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_TRUE(result.retryable);
  EXPECT_NE(result.error.find("search.bulk.deadline"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("blocked"), std::string::npos) << result.error;
  EXPECT_TRUE(h.dead.docs.empty());
}

// Items refused because the index no longer exists blame no document: the shard fails for good.
TEST(IndexShard, AnIndexThatNoLongerExistsFailsTheShardForGoodWithoutDeadLetters) {
  Harness h;
  h.engine.item_status = [](std::int64_t id, int) { return id > 150 ? 404 : 201; };
  FakeRows rows(400);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_FALSE(result.retryable);
  EXPECT_NE(result.error.find("index image-test no longer exists"), std::string::npos) << result.error;
  EXPECT_TRUE(h.dead.docs.empty());
  EXPECT_EQ(result.counts.dead_lettered, 0);
}

TEST(IndexShard, APermanentRequestErrorFailsTheShardForGood) {
  Harness h;
  h.engine.request_error = [](int) {
    return std::optional<search::SearchError>(search::SearchError{404, "index_not_found_exception", "no such index", false});
  };
  FakeRows rows(10);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_FALSE(result.retryable);
  EXPECT_NE(result.error.find("index_not_found_exception"), std::string::npos);
}

TEST(IndexShard, AStreamBrokenMidwayFailsRetryably) {
  Harness h;
  FakeRows rows(300, 0, 0, /*throw_at=*/150);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kFailed);
  EXPECT_TRUE(result.retryable);
  EXPECT_NE(result.error.find("connection to server lost"), std::string::npos);
}

TEST(IndexShard, StopsWhenCancelled) {
  Harness h;
  std::atomic<int> polls{0};
  h.work.cancelled = [&] { return ++polls > 50; };
  FakeRows rows(100000);
  auto result = h.run(rows);
  EXPECT_EQ(result.outcome, ShardOutcome::kCancelled);
  EXPECT_LT(result.counts.rows_read, 100000);
}

// The senders stop at a cancel while the reader waits to hand them the next batch: it must be
// let go, not left waiting for room in the queue forever (an indexer hung this way, holding its
// slot, when the refresh of its shard failed while the engine answered 503).
TEST(IndexShard, ACancelWhileTheQueueIsFullLetsTheReaderGo) {
  Harness h;
  h.settings.concurrency = 1;
  h.settings.max_docs = 10;
  h.engine.request_error = [](int) {
    return std::optional<search::SearchError>(search::SearchError{503, "unavailable", "engine down", true});
  };
  std::atomic<bool> cancelled{false};
  h.work.cancelled = [&] { return cancelled.load(); };
  h.settings.deadline = std::chrono::hours(1);
  FakeRows rows(100000);
  std::thread cancel_soon([&] {
    while (h.engine.requests.load() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    cancelled = true;
  });
  // Real time, each backoff a millisecond: the sender keeps retrying until the cancel.
  Timing timing{[](Duration) { std::this_thread::sleep_for(std::chrono::milliseconds(1)); },
                [] { return std::chrono::steady_clock::now(); }};
  auto result = index_shard(rows, h.engine, h.dead, h.work, h.settings, timing);  // hung without the fix
  cancel_soon.join();
  EXPECT_EQ(result.outcome, ShardOutcome::kCancelled);
  EXPECT_LT(result.counts.rows_read, 100000);
}

TEST(IndexShard, ReportsProgressWhileRunning) {
  Harness h;
  h.work.progress_interval = std::chrono::milliseconds(1);
  std::atomic<int> reports{0};
  h.work.on_progress = [&](const ShardCounts&) { ++reports; };
  h.engine.item_status = [](std::int64_t, int) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    return 201;
  };
  FakeRows rows(2000);
  auto result = h.run(rows);
  ASSERT_EQ(result.outcome, ShardOutcome::kCompleted);
  EXPECT_GT(reports.load(), 0);
}

}  // namespace
}  // namespace datarefresh::indexer
