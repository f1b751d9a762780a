#pragma once

#include <tuple>

#include "core/messages/messages.h"

// One realistic value of every message type, shared by the codec and schema tests.
namespace datarefresh::messages::testing {

inline Timestamp at(int seconds_after_epoch_2024) {
  // 2024-05-06T07:08:09.123Z + offset
  return Timestamp(std::chrono::milliseconds(1714979289123LL)) + std::chrono::seconds(seconds_after_epoch_2024);
}

inline RefreshRequested sample_refresh_requested() {
  return {"0b6f3b8e-3c1e-4c55-9a55-5e9c4b9f2a10", "image", {500000, "alice"}, at(0)};
}

inline RefreshPlanned sample_refresh_planned() {
  RefreshPlanned m;
  m.refresh_id = RefreshId("image-20240506t070809z");
  m.request_id = "0b6f3b8e-3c1e-4c55-9a55-5e9c4b9f2a10";
  m.media_type = "image";
  m.environment = "production";
  m.tables = {{"image", "temp_import_image", "image"}};
  m.new_index = "image-20240506t070809z";
  m.filtered_index = "image-20240506t070809z-filtered";
  m.old_index = "image-20240429t000000z";
  m.old_filtered_index = std::nullopt;
  m.alias = "image";
  m.filtered_alias = "image-filtered";
  m.shard_count = 3500;
  m.expected_rows = 700'000'000;
  m.id_min = 1;
  m.id_max = 812'345'678;
  m.row_limit = std::nullopt;
  m.planned_at = at(60);
  m.mode = "incremental";
  return m;
}

inline ShardJob sample_shard_job() {
  return {RefreshId("image-20240506t070809z"), "image", ShardNumber(17), RowId(3'400'001), RowId(3'600'001), "temp_import_image",
          "image-20240506t070809z", 2, 199'873, at(120)};
}

inline ShardStarted sample_shard_started() { return {RefreshId("r1"), ShardNumber(0), 1, "indexer-7f9c", at(130)}; }

inline ShardProgress sample_shard_progress() {
  return {RefreshId("r1"), ShardNumber(0), 1, "indexer-7f9c", 120'000, 119'500, 10'512.25,
          "index image-1 is blocked: index [image-1] blocked by: [FORBIDDEN/8/index write (api)];", at(140)};
}

inline ShardCompleted sample_shard_completed() {
  return {RefreshId("r1"), ShardNumber(0), 1, "indexer-7f9c", {200'000, 199'000, 700, 290, 10}, 18'250, at(150)};
}

inline ShardFailed sample_shard_failed() {
  return {RefreshId("r1"), ShardNumber(4), 3, "indexer-7f9c", "search: _bulk returned 503 for 8 minutes (deadline 30m not reached)", true, at(160)};
}

inline RefreshPhaseChanged sample_phase_changed() { return {RefreshId("r1"), "audio", "indexing", "copying_data", at(170)}; }

inline RefreshRefused sample_refresh_refused() {
  return {"9d2c1a6e-2b7f-4d8a-8c3e-1f2a3b4c5d6e", "audio", "a refresh is already running in environment production",
          RefreshId("image-20240506t070809z"), at(180)};
}

inline RefreshCompleted sample_refresh_completed() {
  RefreshReport r;
  r.rows_before = 700'000'000;
  r.rows_after = 701'234'567;
  r.per_provider = {{"flickr", 500'000'000, 500'800'000}, {"wikimedia", 100'000'000, 100'434'567}};
  r.tags_filtered_rows = 12'345'678;
  r.tags_removed = 45'678'901;
  r.documents_indexed = 701'234'000;
  r.filtered_out = 1'234'567;
  r.dead_lettered = 567;
  r.phases = {{"copying_data", 3600.5}, {"indexing", 14400}};
  r.changes = RefreshReport::Changes{1'234'567, 89'012, 3'456, 78};
  return {RefreshId("r1"), "image", r, at(190), "incremental"};
}

inline RefreshFailed sample_refresh_failed() {
  return {RefreshId("r1"), "image", "promoting_table", "lock_timeout exceeded on table image: retry the refresh",
          true, false, at(200), "incremental"};
}

inline DeadLetter sample_dead_letter() {
  DeadLetter m;
  m.reason = "mapper_parsing_exception: failed to parse field [width]";
  m.source_topic = "datarefresh.shard-jobs";
  m.source_partition = 5;
  m.source_offset = KafkaOffset(123'456);
  m.refresh_id = RefreshId("r1");
  m.document_id = "4bbfe191-1cca-4b9e-aff0-1d3044ef3f2d";
  set_payload(m, R"({"id":"4bbfe191","width":"wide"})");
  m.at = at(210);
  return m;
}

inline auto all_samples() {
  return std::make_tuple(sample_refresh_requested(), sample_refresh_planned(), sample_shard_job(), sample_shard_started(),
                         sample_shard_progress(), sample_shard_completed(), sample_shard_failed(), sample_phase_changed(),
                         sample_refresh_refused(), sample_refresh_completed(), sample_refresh_failed(), sample_dead_letter());
}

}  // namespace datarefresh::messages::testing
