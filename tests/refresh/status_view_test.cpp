#include "core/refresh/status_view.h"

#include <gtest/gtest.h>

namespace datarefresh::refresh {
namespace {

ledger::ShardRecord shard(std::int32_t n, ledger::ShardStatus status, std::int64_t read, std::int32_t attempt = 1,
                          std::optional<std::string> error = std::nullopt) {
  ledger::ShardRecord s;
  s.shard = n;
  s.id_start = n * 100;
  s.id_end = n * 100 + 100;
  s.status = status;
  s.attempt = attempt;
  s.counts = {read, read > 0 ? read - 1 : 0, read > 0 ? 1 : 0, 0, 0};  // one row of each read shard deleted
  s.error = std::move(error);
  return s;
}

ledger::Run indexing_run() {
  ledger::Run run;
  run.refresh_id = "0b7e6f5c-1111-4222-8333-444455556666";
  run.media_type = "image";
  run.status = ledger::RunStatus::kRunning;
  run.phase = "indexing";
  run.expected_rows = 400;
  run.new_index = "image-0b7e6f5c111142228333444455556666";
  return run;
}

TEST(RefreshStatus, IndexingShowsProgressRateAndEta) {
  using S = ledger::ShardStatus;
  std::vector<ledger::ShardRecord> shards{shard(0, S::kCompleted, 100), shard(1, S::kRunning, 50, 2, "timeout"),
                                          shard(2, S::kPending, 0), shard(3, S::kFailed, 0, 1, "HTTP 503")};
  auto j = refresh_status_json(indexing_run(), shards, 10.0);
  EXPECT_EQ(j["shards"], (nlohmann::json{{"total", 4}, {"completed", 1}, {"running", 1}, {"pending", 1},
                                         {"failed", 1}, {"retried", 1}, {"waiting", 0}}));
  EXPECT_TRUE(j["waiting_for_engine"].is_null());
  EXPECT_TRUE(j["shard_jobs"].is_null());
  EXPECT_EQ(j["documents"]["rows_read"], 150);
  EXPECT_EQ(j["documents"]["indexed"], 148);
  EXPECT_EQ(j["documents"]["expected"], 400);
  EXPECT_DOUBLE_EQ(j["percent"].get<double>(), 37.5);
  EXPECT_DOUBLE_EQ(j["documents_per_second"].get<double>(), 14.8);
  EXPECT_DOUBLE_EQ(j["eta_seconds"].get<double>(), 17);  // 250 rows left at 15 rows/s
  ASSERT_EQ(j["errors"].size(), 2u);
  EXPECT_EQ(j["errors"][1], (nlohmann::json{{"scope", "shard"}, {"shard", 3}, {"attempt", 1}, {"error", "HTTP 503"}}));
  EXPECT_TRUE(j["report"].is_null());
  EXPECT_EQ(j["indices"]["new"], "image-0b7e6f5c111142228333444455556666");
}

TEST(RefreshStatus, ShowsShardsWaitingOnTheEngineAndJobsWaitingToStart) {
  using S = ledger::ShardStatus;
  auto blocked = shard(0, S::kRunning, 50);
  blocked.waiting = "index image-1 is blocked: index [image-1] blocked by: [FORBIDDEN/8/index write (api)];";
  auto run = indexing_run();
  run.shard_jobs = {{"waiting", 2}, {"queued", 2}, {"lost", 0}, {"jobs_ahead", 7}, {"state", "queued"}};
  auto j = refresh_status_json(run, {blocked, shard(1, S::kRunning, 10), shard(2, S::kPending, 0)}, 10.0);
  EXPECT_EQ(j["shards"]["waiting"], 1);
  EXPECT_EQ(j["waiting_for_engine"], (nlohmann::json{{"shards", 1}, {"reason", *blocked.waiting}}));
  EXPECT_EQ(j["shard_jobs"]["jobs_ahead"], 7);
  run.phase = "verifying";
  EXPECT_TRUE(refresh_status_json(run, {}, std::nullopt)["shard_jobs"].is_null()) << "only while indexing";
}

TEST(RefreshStatus, ACompletedRefreshIsAtOneHundredPercentWithItsReport) {
  auto run = indexing_run();
  run.status = ledger::RunStatus::kCompleted;
  run.phase = "completed";
  run.report = {{"rows_after", 400}};
  run.finished_at = "2026-11-30T10:00:00Z";
  auto j = refresh_status_json(run, {shard(0, ledger::ShardStatus::kCompleted, 400)}, 100.0);
  EXPECT_EQ(j["status"], "completed");
  EXPECT_DOUBLE_EQ(j["percent"].get<double>(), 100);
  EXPECT_TRUE(j["eta_seconds"].is_null());
  EXPECT_TRUE(j["documents_per_second"].is_null());
  EXPECT_EQ(j["report"]["rows_after"], 400);
  EXPECT_EQ(j["finished_at"], "2026-11-30T10:00:00Z");
}

TEST(RefreshStatus, PlanningHasNoShardsYetAndACancelRequestShows) {
  auto run = indexing_run();
  run.phase = "copying";
  run.expected_rows.reset();
  run.cancel_requested_at = "2026-11-30T10:00:00Z";
  run.cancel_requested_by = "ops";
  auto j = refresh_status_json(run, {}, std::nullopt);
  EXPECT_EQ(j["shards"]["total"], 0);
  EXPECT_DOUBLE_EQ(j["percent"].get<double>(), 0);
  EXPECT_TRUE(j["documents"]["expected"].is_null());
  EXPECT_EQ(j["cancel_requested_by"], "ops");
  EXPECT_EQ(j["errors"], nlohmann::json::array());
}

TEST(RefreshStatus, CopyingShowsTheCopysProgressBySizeAndOtherPhasesDoNot) {
  auto run = indexing_run();
  run.phase = "copying";
  CopyProgress p{2, 1, 600, 1000, false};
  auto j = refresh_status_json(run, {}, std::nullopt, p);
  EXPECT_EQ(j["copy"], (nlohmann::json{{"parts", 2}, {"parts_done", 1}, {"bytes_written", 600},
                                       {"upstream_bytes", 1000}, {"percent", 60.0}}));
  // Never 100 before the copy is recorded (the copy can outgrow the estimate), 100 once it is.
  p.bytes_written = 1100;
  EXPECT_DOUBLE_EQ(refresh_status_json(run, {}, std::nullopt, p)["copy"]["percent"].get<double>(), 99.9);
  p.done = true;
  EXPECT_DOUBLE_EQ(refresh_status_json(run, {}, std::nullopt, p)["copy"]["percent"].get<double>(), 100.0);
  // An unknown upstream size gives no percentage; no setup yet gives zero parts.
  EXPECT_TRUE(refresh_status_json(run, {}, std::nullopt, CopyProgress{})["copy"]["percent"].is_null());
  run.phase = "indexing";
  EXPECT_TRUE(refresh_status_json(run, {}, std::nullopt, p)["copy"].is_null());
}

TEST(RefreshStatus, ShowsTheModeWhyAutoRanFullAndWhatAnIncrementalRefreshChanged) {
  auto run = indexing_run();
  auto j = refresh_status_json(run, {}, std::nullopt);
  EXPECT_EQ(j["mode"], "full");
  EXPECT_TRUE(j["mode_reason"].is_null());
  EXPECT_TRUE(j["changes"].is_null());
  EXPECT_EQ(mode_text(run), "full");

  run.mode_reason = "no completed refresh of image to start from";
  EXPECT_EQ(refresh_summary_json(run)["mode_reason"], "no completed refresh of image to start from");
  EXPECT_EQ(mode_text(run), "full (auto: no completed refresh of image to start from)");

  run.mode = "incremental";
  run.mode_reason.reset();
  run.status = ledger::RunStatus::kCompleted;
  run.phase = "completed";
  run.report = {{"rows_after", 400},
                {"changes", {{"created", 12}, {"updated", 3}, {"deleted", 1}, {"reflagged", 0}}}};
  j = refresh_status_json(run, {}, std::nullopt);
  EXPECT_EQ(j["mode"], "incremental");
  EXPECT_EQ(refresh_summary_json(run)["mode"], "incremental");
  EXPECT_EQ(j["changes"], (nlohmann::json{{"created", 12}, {"updated", 3}, {"deleted", 1}, {"reflagged", 0}}));
  EXPECT_EQ(j["report"]["changes"]["created"], 12);
  EXPECT_EQ(changes_text(j["changes"]), "created 12, updated 3, deleted 1, re-flagged 0");

  // A full refresh's report has "changes": null (or none, from older releases).
  run.report = {{"rows_after", 400}, {"changes", nullptr}};
  EXPECT_TRUE(refresh_status_json(run, {}, std::nullopt)["changes"].is_null());
  run.report = {{"rows_after", 400}};
  EXPECT_TRUE(run_changes(run).is_null());
  EXPECT_EQ(changes_text(run_changes(run)), "");
}

TEST(CopyProgressText, ShowsThePercentageTheMegabytesAndTheParts) {
  EXPECT_EQ(copy_progress_text({2, 1, 370130944, 738934784, false}), "copy 50.1% (352 MB written, parts 1/2)");
  EXPECT_EQ(copy_progress_text({}), "copy ? (0 MB written, parts 0/0)");
}

TEST(ShardsJson, ListsEveryShardInOrderWithStatusAttemptAndCounts) {
  using S = ledger::ShardStatus;
  auto retried = shard(1, S::kRunning, 50, 2, "timeout");
  retried.worker = "indexer-2";
  auto j = shards_json({retried, shard(0, S::kCompleted, 100), shard(2, S::kPending, 0)});
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0], (nlohmann::json{{"shard", 0},
                                  {"status", "completed"},
                                  {"attempt", 1},
                                  {"rows_read", 100},
                                  {"indexed", 99},
                                  {"dead_lettered", 0},
                                  {"worker", nullptr},
                                  {"error", nullptr}}));
  EXPECT_EQ(j[1], (nlohmann::json{{"shard", 1},
                                  {"status", "running"},
                                  {"attempt", 2},
                                  {"rows_read", 50},
                                  {"indexed", 49},
                                  {"dead_lettered", 0},
                                  {"worker", "indexer-2"},
                                  {"error", "timeout"}}));
  EXPECT_EQ(j[2]["status"], "pending");
  EXPECT_EQ(shards_json({}), nlohmann::json::array());
}

}  // namespace
}  // namespace datarefresh::refresh
