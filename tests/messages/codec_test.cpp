#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/messages/codec.h"
#include "tests/messages/samples.h"

namespace datarefresh::messages {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using namespace testing;

template <class T>
void expect_round_trip(const T& original) {
  std::string text = encode(original);
  DecodeResult<T> decoded = decode<T>(text);
  ASSERT_TRUE(decoded.ok()) << T::kType << ": " << decoded.error().message << "\n" << text;
  EXPECT_TRUE(decoded.value() == original) << T::kType << " changed in a round trip:\n" << text << "\n" << encode(decoded.value());
  DecodeResult<TypeAndVersion> peeked = peek_type(text);
  ASSERT_TRUE(peeked.ok());
  EXPECT_EQ(peeked->type, T::kType);
  EXPECT_EQ(peeked->version, 1);
}

TEST(Codec, EveryTypeSurvivesARoundTrip) {
  std::apply([](const auto&... sample) { (expect_round_trip(sample), ...); }, all_samples());
}

TEST(Codec, OptionalFieldsSurviveARoundTripWhenAbsent) {
  RefreshRequested request = sample_refresh_requested();
  request.options.row_limit.reset();
  expect_round_trip(request);
  ShardJob job = sample_shard_job();
  job.expected_rows.reset();
  expect_round_trip(job);
  RefreshPhaseChanged first = sample_phase_changed();
  first.previous_phase.reset();
  expect_round_trip(first);
  DeadLetter letter = sample_dead_letter();
  letter.refresh_id.reset();
  letter.document_id.reset();
  expect_round_trip(letter);
}

TEST(Codec, ACancelledRefreshSaysSoAndOlderFailuresReadAsNotCancelled) {
  RefreshFailed cancelled = sample_refresh_failed();
  cancelled.cancelled = true;
  expect_round_trip(cancelled);
  auto older = nlohmann::json::parse(encode(sample_refresh_failed()));
  older.erase("cancelled");  // written before cancellation existed
  DecodeResult<RefreshFailed> decoded = decode<RefreshFailed>(older.dump());
  ASSERT_TRUE(decoded.ok()) << decoded.error().message;
  EXPECT_FALSE(decoded->cancelled);
  older["cancelled"] = "yes";
  EXPECT_FALSE(decode<RefreshFailed>(older.dump()).ok());
}

TEST(Codec, ARefreshModeSurvivesARoundTripAndOlderMessagesReadAsFull) {
  for (const char* mode : {"full", "incremental", "auto"}) {
    RefreshRequested request = sample_refresh_requested();
    request.options.mode = mode;
    expect_round_trip(request);
  }
  // A full request is written as before (no options.mode), so older planners read it unchanged.
  EXPECT_FALSE(nlohmann::json::parse(encode(sample_refresh_requested()))["options"].contains("mode"));

  RefreshCompleted full = sample_refresh_completed();
  full.mode = "full";
  full.report.changes.reset();
  expect_round_trip(full);
  auto encoded = nlohmann::json::parse(encode(full));
  EXPECT_EQ(encoded["mode"], "full");
  EXPECT_TRUE(encoded["report"]["changes"].is_null());
  RefreshFailed failed = sample_refresh_failed();
  failed.mode = "full";
  expect_round_trip(failed);

  // Written before incremental refreshes existed: no mode, no changes.
  auto older_plan = nlohmann::json::parse(encode(sample_refresh_planned()));
  older_plan.erase("mode");
  DecodeResult<RefreshPlanned> plan = decode<RefreshPlanned>(older_plan.dump());
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  EXPECT_EQ(plan->mode, "full");
  auto older_done = nlohmann::json::parse(encode(sample_refresh_completed()));
  older_done.erase("mode");
  older_done["report"].erase("changes");
  DecodeResult<RefreshCompleted> done = decode<RefreshCompleted>(older_done.dump());
  ASSERT_TRUE(done.ok()) << done.error().message;
  EXPECT_EQ(done->mode, "full");
  EXPECT_FALSE(done->report.changes.has_value());
  auto older_failure = nlohmann::json::parse(encode(sample_refresh_failed()));
  older_failure.erase("mode");
  DecodeResult<RefreshFailed> failure = decode<RefreshFailed>(older_failure.dump());
  ASSERT_TRUE(failure.ok()) << failure.error().message;
  EXPECT_EQ(failure->mode, "full");
}

TEST(Codec, AnIncrementalCompletionCarriesItsChanges) {
  auto j = nlohmann::json::parse(encode(sample_refresh_completed()));
  EXPECT_EQ(j["mode"], "incremental");
  EXPECT_EQ(j["report"]["changes"],
            (nlohmann::json{{"created", 1234567}, {"updated", 89012}, {"deleted", 3456}, {"reflagged", 78}}));
  j["report"]["changes"].erase("reflagged");
  DecodeResult<RefreshCompleted> missing = decode<RefreshCompleted>(j.dump());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "refresh.completed: field report.changes.reflagged is missing");
}

TEST(Codec, ASampleRequestCarriesItsSizeAndFieldAndRefusesAMissingOrDoubleSize) {
  auto request = sample_refresh_requested();
  request.options.mode = "sample";
  request.options.sample_percent = 12.5;
  request.options.sample_by = "source";
  auto back = decode<RefreshRequested>(encode(request));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), request);
  request.options.sample_percent.reset();
  request.options.sample_rows = 5000;
  back = decode<RefreshRequested>(encode(request));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value().options.sample_rows, std::optional<std::int64_t>(5000));

  auto j = nlohmann::json::parse(encode(request));
  j["options"]["sample"] = {{"rows", 10}, {"percent", 5}};
  auto both = decode<RefreshRequested>(j.dump());
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().message, "refresh.requested: field options.sample must hold exactly one of percent and rows");
  j["options"].erase("sample");
  auto none = decode<RefreshRequested>(j.dump());
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.error().message, HasSubstr("options.sample is required for mode \"sample\""));
  j["options"]["sample"] = {{"percent", 150}};
  auto over = decode<RefreshRequested>(j.dump());
  ASSERT_FALSE(over.ok());
  EXPECT_THAT(over.error().message, HasSubstr("options.sample.percent must be a number above 0 and at most 100"));
}

TEST(Codec, AnUnknownModeIsRejectedNamingTheAllowedOnes) {
  auto request = nlohmann::json::parse(encode(sample_refresh_requested()));
  request["options"]["mode"] = "partial";
  DecodeResult<RefreshRequested> r = decode<RefreshRequested>(request.dump());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "refresh.requested: field options.mode must be \"full\", \"incremental\", \"auto\", \"filtered_only\", "
            "\"sample\" or \"rollback\", got \"partial\"");
  // A run is full or incremental: "auto" is resolved before anything is planned.
  auto plan = nlohmann::json::parse(encode(sample_refresh_planned()));
  plan["mode"] = "auto";
  DecodeResult<RefreshPlanned> p = decode<RefreshPlanned>(plan.dump());
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message,
            "refresh.planned: field mode must be \"full\", \"incremental\", \"filtered_only\", \"sample\" or "
            "\"rollback\", got \"auto\"");
  auto failed = nlohmann::json::parse(encode(sample_refresh_failed()));
  failed["mode"] = 3;
  EXPECT_FALSE(decode<RefreshFailed>(failed.dump()).ok());
}

TEST(Codec, EncodesTheDocumentedJsonShape) {
  EXPECT_EQ(encode(sample_shard_job()),
            R"({"attempt":2,"expected_rows":199873,"id_end":3600001,"id_start":3400001,"media_type":"image",)"
            R"("published_at":"2024-05-06T07:10:09.123Z","refresh_id":"image-20240506t070809z","shard":17,)"
            R"("table":"temp_import_image","target_index":"image-20240506t070809z","type":"shard.job","version":1})");
  EXPECT_EQ(shard_job_key(RefreshId("image-20240506t070809z"), ShardNumber(17)), "image-20240506t070809z/17");
}

TEST(Codec, DecodeEventDispatchesOnType) {
  DecodeResult<Event> event = decode_event(encode(sample_shard_completed()));
  ASSERT_TRUE(event.ok()) << event.error().message;
  ASSERT_TRUE(std::holds_alternative<ShardCompleted>(event.value()));
  EXPECT_EQ(std::get<ShardCompleted>(event.value()).counts.indexed, 199'000);
  EXPECT_EQ(event_key(event.value()), "r1");
  Event refused = sample_refresh_refused();
  EXPECT_EQ(event_key(refused), "");
  EXPECT_EQ(encode(refused), encode(sample_refresh_refused()));
}

TEST(Codec, UnknownExtraFieldsAreTolerated) {
  std::string text = encode(sample_shard_job());
  text.insert(1, R"("priority":"high","trace":{"id":"abc"},)");
  DecodeResult<ShardJob> job = decode<ShardJob>(text);
  ASSERT_TRUE(job.ok()) << job.error().message;
  EXPECT_EQ(job->shard, ShardNumber(17));
}

TEST(Codec, MalformedJsonIsRejected) {
  DecodeResult<ShardJob> job = decode<ShardJob>(R"({"type":"shard.job", "version": 1,)");
  ASSERT_FALSE(job.ok());
  EXPECT_THAT(job.error().message, StartsWith("message is not valid JSON (error at byte"));
  EXPECT_EQ(decode<ShardJob>("[1,2]").error().message, "message must be a JSON object, got [1,2]");
  EXPECT_EQ(decode<ShardJob>(R"({"version":1})").error().message, "message has no string field \"type\": not a datarefresh message");
}

TEST(Codec, MissingFieldIsNamed) {
  nlohmann::json j = nlohmann::json::parse(encode(sample_shard_job()));
  j.erase("target_index");
  EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job: field target_index is missing");
  nlohmann::json c = nlohmann::json::parse(encode(sample_shard_completed()));
  c["counts"].erase("dead_lettered");
  EXPECT_EQ(decode<ShardCompleted>(c.dump()).error().message, "shard.completed: field counts.dead_lettered is missing");
}

TEST(Codec, WrongTypesAreNamedWithTheValue) {
  nlohmann::json j = nlohmann::json::parse(encode(sample_shard_job()));
  j["shard"] = "seventeen";
  EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job: field shard must be an integer between 0 and 2147483647, got \"seventeen\"");
  j = nlohmann::json::parse(encode(sample_shard_job()));
  j["attempt"] = 0;
  EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job: field attempt must be an integer between 1 and 2147483647, got 0");
  j = nlohmann::json::parse(encode(sample_shard_job()));
  j["published_at"] = "yesterday";
  EXPECT_THAT(decode<ShardJob>(j.dump()).error().message, HasSubstr("shard.job: field published_at must be an RFC 3339 timestamp"));
  nlohmann::json r = nlohmann::json::parse(encode(sample_refresh_completed()));
  r["report"]["per_provider"][1]["after"] = -3;
  EXPECT_EQ(decode<RefreshCompleted>(r.dump()).error().message,
            "refresh.completed: field report.per_provider[1].after must be an integer >= 0, got -3");
  nlohmann::json q = nlohmann::json::parse(encode(sample_refresh_requested()));
  q["request_id"] = "not-a-uuid";
  EXPECT_EQ(decode<RefreshRequested>(q.dump()).error().message,
            "refresh.requested: field request_id must be a UUID (8-4-4-4-12 hex digits), got \"not-a-uuid\"");
}

TEST(Codec, EmptyOrReversedShardRangeIsRejected) {
  for (std::int64_t end : {3'400'001LL, 3'000'000LL}) {
    nlohmann::json j = nlohmann::json::parse(encode(sample_shard_job()));
    j["id_end"] = end;
    EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job: field id_end must be an integer greater than id_start");
  }
}

TEST(Codec, UnsupportedVersionTellsToUpgrade) {
  nlohmann::json j = nlohmann::json::parse(encode(sample_shard_job()));
  j["version"] = 2;
  EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job version 2 is not supported by this build (supports 1): upgrade the consumer");
  j["version"] = "1";
  EXPECT_EQ(decode<ShardJob>(j.dump()).error().message, "shard.job: field version must be an integer >= 1, got \"1\"");
}

TEST(Codec, UnknownOrUnexpectedTypeIsRejected) {
  EXPECT_EQ(decode<ShardJob>(encode(sample_shard_started())).error().message, "expected a shard.job message, got type \"shard.started\"");
  DecodeResult<Event> event = decode_event(R"({"type":"shard.paused","version":1})");
  ASSERT_FALSE(event.ok());
  EXPECT_THAT(event.error().message, StartsWith("unknown event type \"shard.paused\" (this build knows shard.started, shard.progress,"));
  EXPECT_FALSE(decode_event(encode(sample_shard_job())).ok());
}

TEST(Codec, ValueOfAFailedDecodeThrows) {
  DecodeResult<ShardJob> job = decode<ShardJob>("{}");
  EXPECT_THROW((void)job.value(), InvariantError);
}

TEST(DeadLetterPayload, IsCutOnACharacterBoundaryAndKeepsItsSize) {
  std::string payload(kMaxDeadLetterPayloadBytes - 1, 'a');
  payload += "\xC3\xA9";  // 'é' straddles the limit
  payload += std::string(100, 'b');
  DeadLetter letter;
  set_payload(letter, payload);
  EXPECT_TRUE(letter.payload_truncated);
  EXPECT_EQ(letter.payload.size(), kMaxDeadLetterPayloadBytes - 1);
  EXPECT_EQ(letter.payload_bytes, static_cast<std::int64_t>(payload.size()));
  set_payload(letter, "small");
  EXPECT_FALSE(letter.payload_truncated);
  EXPECT_EQ(letter.payload, "small");
}

TEST(Timestamps, AreWrittenAsRfc3339UtcAndParsedWithOffsets) {
  Timestamp t = at(0);
  EXPECT_EQ(format_timestamp(t), "2024-05-06T07:08:09.123Z");
  EXPECT_EQ(parse_timestamp("2024-05-06T07:08:09.123Z"), t);
  EXPECT_EQ(parse_timestamp("2024-05-06T09:08:09.123456+02:00"), t);
  EXPECT_EQ(parse_timestamp("2024-05-06T07:08:09Z"), t - std::chrono::milliseconds(123));
  EXPECT_FALSE(parse_timestamp("2024-02-30T00:00:00Z"));
  EXPECT_FALSE(parse_timestamp("2024-05-06 07:08:09Z"));
  EXPECT_FALSE(parse_timestamp("2024-05-06T07:08:09"));
}

}  // namespace
}  // namespace datarefresh::messages
