#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/search/alias_action.h"
#include "core/search/bulk.h"
#include "core/search/client.h"
#include "core/search/result.h"

namespace datarefresh::search {
namespace {

TEST(BulkBodyBuilder, WritesActionAndSourceLinesWithoutReparsingTheSource) {
  BulkBodyBuilder b;
  b.add_index("image-1", "42", R"({"id":42,"title":"A \"quoted\" title"})");
  b.add_delete("image-1", "7");
  EXPECT_EQ(b.items(), 2u);
  EXPECT_EQ(b.body(),
            "{\"index\":{\"_index\":\"image-1\",\"_id\":\"42\"}}\n"
            "{\"id\":42,\"title\":\"A \\\"quoted\\\" title\"}\n"
            "{\"delete\":{\"_index\":\"image-1\",\"_id\":\"7\"}}\n");
  EXPECT_EQ(b.bytes(), b.body().size());
}

TEST(BulkBodyBuilder, EscapesIdsAndIndexNamesAndEmptiesOnTake) {
  BulkBodyBuilder b;
  b.add_index("x", "a\"b\\c\n", "{}");
  std::string body = b.take();
  auto action = nlohmann::json::parse(body.substr(0, body.find('\n')));
  EXPECT_EQ(action["index"]["_id"], "a\"b\\c\n");
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.bytes(), 0u);
}

// The answer Elasticsearch 7.10.2 gave in the recorded transcript (tests/testdata/es-transcripts).
constexpr const char* kMappingErrorAnswer = R"({"took": 9, "errors": true, "items": [
 {"index": {"_index": "image-aaa", "_type": "_doc", "_id": "6", "status": 400, "error": {"type": "mapper_parsing_exception",
  "reason": "failed to parse field [created_on] of type [date] in document with id '6'. Preview of field's value: 'not-a-date'",
  "caused_by": {"type": "illegal_argument_exception", "reason": "failed to parse date field [not-a-date]"}}}},
 {"index": {"_index": "image-aaa", "_type": "_doc", "_id": "7", "_version": 1, "result": "created",
  "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 4, "_primary_term": 1, "status": 201}}]})";

TEST(ParseBulkResponse, ReadsItemsInRequestOrderWithPermanentMappingErrors) {
  auto r = parse_bulk_response(kMappingErrorAnswer);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->errors);
  ASSERT_EQ(r->items.size(), 2u);
  const auto& bad = r->items[0];
  EXPECT_EQ(bad.position, 0u);
  EXPECT_EQ(bad.action, "index");
  EXPECT_EQ(bad.index, "image-aaa");
  EXPECT_EQ(bad.id, "6");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error_type, "mapper_parsing_exception");
  EXPECT_THAT(bad.error_reason, ::testing::HasSubstr("created_on"));
  EXPECT_FALSE(bad.retryable);
  const auto& good = r->items[1];
  EXPECT_EQ(good.position, 1u);
  EXPECT_EQ(good.status, 201);
  EXPECT_EQ(good.result, "created");
  EXPECT_TRUE(good.ok());
  EXPECT_EQ(r->count_failed(), 1u);
  EXPECT_EQ(r->count_retryable(), 0u);
}

TEST(ParseBulkResponse, MarksRejectedAndServerErrorItemsRetryable) {
  auto r = parse_bulk_response(R"({"took":1,"errors":true,"items":[
    {"create":{"_index":"a","_id":"1","status":429,"error":{"type":"es_rejected_execution_exception","reason":"queue full"}}},
    {"delete":{"_index":"a","_id":"2","status":503,"error":{"type":"unavailable_shards_exception","reason":"primary not active"}}},
    {"index":{"_index":"a","_id":"3","status":409,"error":{"type":"version_conflict_engine_exception","reason":"exists"}}}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_EQ(r->items[0].action, "create");
  EXPECT_TRUE(r->items[0].retryable);
  EXPECT_EQ(r->items[1].action, "delete");
  EXPECT_TRUE(r->items[1].retryable);
  EXPECT_FALSE(r->items[2].retryable);
  EXPECT_EQ(r->count_retryable(), 2u);
}

TEST(ParseBulkResponse, FailedOnlyCountsAnAnswerWithoutErrorsAndKeepsNoItems) {
  auto r = parse_bulk_response(R"({"items":[{"index":{"status":201}},{"index":{"status":200}},{"create":{"status":201}}],
    "errors":false})",
                               BulkItems::kFailedOnly);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->errors);
  EXPECT_EQ(r->item_count, 3u);
  EXPECT_TRUE(r->items.empty());
  // The same answer read in full keeps every item.
  auto every = parse_bulk_response(R"({"errors":false,"items":[{"index":{"status":201}},{"index":{"status":200}}]})");
  ASSERT_TRUE(every.ok());
  EXPECT_EQ(every->item_count, 2u);
  EXPECT_EQ(every->items.size(), 2u);
}

TEST(ParseBulkResponse, FailedOnlyKeepsTheFailedItemsWithTheirPositions) {
  auto r = parse_bulk_response(kMappingErrorAnswer, BulkItems::kFailedOnly);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->errors);
  EXPECT_EQ(r->item_count, 2u);
  ASSERT_EQ(r->items.size(), 1u);
  EXPECT_EQ(r->items[0].position, 0u);
  EXPECT_EQ(r->items[0].error_type, "mapper_parsing_exception");
}

TEST(ParseBulkResponse, FailedOnlyStillRefusesWhatIsNotABulkAnswer) {
  for (const char* body : {R"({"errors":false})", R"({"errors":false,"items":{}})", R"({"errors":false,"items":[1]})",
                           R"({"errors":false,"items":[{"index":{"status":201}}])", "[]"}) {
    EXPECT_FALSE(parse_bulk_response(body, BulkItems::kFailedOnly).ok()) << body;
  }
}

// A delete of a missing id, as the bulk API documentation's example answers it (404, result
// not_found, `errors` false), next to a delete into a missing index, which is a failure; the
// client's filtered answer keeps only statuses and errors.
TEST(ParseBulkResponse, CountsADeleteOfAMissingDocumentAsDoneButNotADeleteIntoAMissingIndex) {
  auto r = parse_bulk_response(R"({"errors": true, "items": [
    {"delete": {"status": 404}},
    {"delete": {"status": 404, "error": {"type": "index_not_found_exception", "reason": "no such index [gone]"}}},
    {"index": {"status": 404}}]})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 3u);
  EXPECT_TRUE(r->items[0].ok());
  EXPECT_TRUE(r->items[0].not_found_delete());
  EXPECT_FALSE(r->items[1].ok());
  EXPECT_FALSE(r->items[2].ok());
  EXPECT_EQ(r->count_failed(), 2u);

  auto failed = parse_bulk_response(R"({"errors": true, "items": [{"delete": {"status": 404}},
    {"index": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "full"}}}]})",
                                    BulkItems::kFailedOnly);
  ASSERT_TRUE(failed.ok());
  ASSERT_EQ(failed->items.size(), 1u);
  EXPECT_EQ(failed->items[0].position, 1u);
}

TEST(ParseBulkResponse, RefusesABodyThatIsNotABulkAnswer) {
  auto r = parse_bulk_response(R"({"acknowledged":true})");
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().retryable);
  EXPECT_THAT(r.error().reason, ::testing::HasSubstr("items"));
  EXPECT_FALSE(parse_bulk_response("not json").ok());
}

TEST(ErrorClassification, RetriesOverloadAndTransportButNotClientErrors) {
  EXPECT_TRUE(is_retryable(0, "transport_error"));
  EXPECT_TRUE(is_retryable(429, ""));
  EXPECT_TRUE(is_retryable(502, ""));
  EXPECT_TRUE(is_retryable(503, ""));
  EXPECT_TRUE(is_retryable(504, ""));
  EXPECT_TRUE(is_retryable(500, "es_rejected_execution_exception"));
  EXPECT_FALSE(is_retryable(400, "mapper_parsing_exception"));
  EXPECT_FALSE(is_retryable(404, "index_not_found_exception"));
  EXPECT_FALSE(is_retryable(409, "version_conflict_engine_exception"));
  EXPECT_FALSE(is_retryable(500, "illegal_state_exception"));
}

TEST(ErrorClassification, ReadsTypeAndReasonFromAnElasticsearchErrorBody) {
  auto e = error_from_response(
      400,
      R"({"error":{"root_cause":[{"type":"invalid_alias_name_exception","reason":"Invalid alias name [image-aaa]"}],
          "type":"invalid_alias_name_exception","reason":"Invalid alias name [image-aaa], an index exists with the same name as the alias"},
          "status":400})",
      "POST /_aliases");
  EXPECT_EQ(e.http_status, 400);
  EXPECT_EQ(e.type, "invalid_alias_name_exception");
  EXPECT_THAT(e.reason, ::testing::StartsWith("POST /_aliases: Invalid alias name [image-aaa]"));
  EXPECT_FALSE(e.retryable);
  auto busy = error_from_response(429, R"({"error":{"type":"es_rejected_execution_exception","reason":"full"},"status":429})",
                                  "POST /_bulk");
  EXPECT_TRUE(busy.retryable);
  auto plain = error_from_response(503, "Service Unavailable", "GET /");
  EXPECT_TRUE(plain.retryable);
  EXPECT_THAT(plain.describe(), ::testing::HasSubstr("HTTP 503"));
}

TEST(AliasActions, BuildOneAtomicActionsBody) {
  auto body = alias_actions_body({AliasAction::remove("image-old", "image"), AliasAction::add("image-new", "image"),
                                  AliasAction::remove_index("image-older")});
  EXPECT_EQ(body, nlohmann::json::parse(R"({"actions":[
      {"remove":{"index":"image-old","alias":"image"}},
      {"add":{"index":"image-new","alias":"image"}},
      {"remove_index":{"index":"image-older"}}]})"));
}

TEST(Result, HoldsEitherAValueOrAnError) {
  Result<int> ok = 5;
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 5);
  Result<int> bad = SearchError{503, "x", "down", true};
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().http_status, 503);
  EXPECT_TRUE(bad.error().retryable);
}

}  // namespace
}  // namespace datarefresh::search

namespace datarefresh::search {
namespace {

TEST(ParseTermsAggregation, ReadsBucketsAndTheDocumentsLeftOut) {
  auto answer =
      nlohmann::json::parse(R"({"took": 3, "timed_out": false, "hits": {"total": {"value": 12, "relation": "eq"},
    "max_score": null, "hits": []}, "aggregations": {"by": {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 2,
    "buckets": [{"key": "flickr", "doc_count": 7}, {"key": "wikimedia", "doc_count": 3}]}}})");
  auto r = parse_terms_aggregation(answer, "by");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->buckets, (std::map<std::string, std::int64_t>{{"flickr", 7}, {"wikimedia", 3}}));
  EXPECT_EQ(r->sum_other_doc_count, 2);
  EXPECT_EQ(r->doc_count_error_upper_bound, 0);
}

TEST(ParseTermsAggregation, KeepsANumericKeyAsItsText) {
  auto r = parse_terms_aggregation(
      nlohmann::json::parse(R"({"aggregations": {"w": {"buckets": [{"key": 100, "doc_count": 1}]}}})"), "w");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->buckets.at("100"), 1);
}

TEST(ParseTermsAggregation, RefusesAnAnswerWithoutTheAggregationOrWithMalformedBuckets) {
  for (const char* body :
       {R"({"hits": {}})", R"({"aggregations": {"other": {"buckets": []}}})", R"({"aggregations": {"by": {}}})",
        R"({"aggregations": {"by": {"buckets": [{"key": "x"}]}}})",
        R"({"aggregations": {"by": {"buckets": [{"doc_count": 1}]}}})"}) {
    auto r = parse_terms_aggregation(nlohmann::json::parse(body), "by");
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().type, "invalid_response");
    EXPECT_FALSE(r.error().retryable);
  }
}

}  // namespace
}  // namespace datarefresh::search
