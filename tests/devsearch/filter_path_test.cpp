#include "devstack/devsearch/filter_path.h"

#include <gtest/gtest.h>

namespace datarefresh::devsearch {
namespace {

using nlohmann::ordered_json;

const ordered_json kBulk = ordered_json::parse(R"({
  "took": 30, "errors": true,
  "items": [
    {"index": {"_index": "image-1", "_type": "_doc", "_id": "1", "_version": 1, "result": "created",
               "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": 0, "_primary_term": 1, "status": 201}},
    {"index": {"_index": "image-1", "_type": "_doc", "_id": "2", "status": 429,
               "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}}
  ]})");

std::string filtered(const char* filter, const ordered_json& body = kBulk) {
  return FilterPath::parse(filter).apply(body).dump();
}

TEST(FilterPath, KeepsTheNamedFieldsThroughArraysAndWildcards) {
  EXPECT_EQ(filtered("errors,items.*.status"),
            R"({"errors":true,"items":[{"index":{"status":201}},{"index":{"status":429}}]})");
  EXPECT_EQ(filtered("items.*.error.type"),
            R"({"items":[{"index":{"error":{"type":"es_rejected_execution_exception"}}}]})");
  EXPECT_EQ(filtered("items.*._s*"),
            R"({"items":[{"index":{"_shards":{"total":1,"successful":1,"failed":0},"_seq_no":0}}]})");
  EXPECT_EQ(filtered("items.**.reason"), R"({"items":[{"index":{"error":{"reason":"queue full"}}}]})");
  EXPECT_EQ(filtered("took"), R"({"took":30})");
}

TEST(FilterPath, DropsWhatIsLeftEmptyAndAnswersAnEmptyObjectForNothing) {
  ordered_json ok = kBulk;
  ok["items"].erase(1);
  ok["errors"] = false;
  EXPECT_EQ(filtered("items.*.error", ok), "{}");  // the well-known surprise of filtering a bulk answer
  EXPECT_EQ(filtered("nothing.here"), "{}");
}

TEST(FilterPath, ExcludesWithALeadingMinus) {
  EXPECT_EQ(filtered("-items"), R"({"took":30,"errors":true})");
  EXPECT_EQ(filtered("-took,-items.*._shards,-items.*.error,-items.*._type,-items.*._version,-items.*.result,"
                     "-items.*._seq_no,-items.*._primary_term,-items.*._index"),
            R"({"errors":true,"items":[{"index":{"_id":"1","status":201}},{"index":{"_id":"2","status":429}}]})");
}

TEST(FilterPath, TellsWhenABulkAnswerCanBeFilteredPerField) {
  auto fields = FilterPath::parse("errors,items.*.status,items.*.error").bulk_fields();
  ASSERT_TRUE(fields);
  EXPECT_TRUE(fields->errors);
  EXPECT_FALSE(fields->took);
  EXPECT_TRUE(fields->keeps("status"));
  EXPECT_TRUE(fields->keeps("error"));
  EXPECT_FALSE(fields->keeps("_id"));
  EXPECT_TRUE(FilterPath::parse("items.**").bulk_fields()->keeps("_seq_no"));
  EXPECT_FALSE(FilterPath::parse("items.*.error.type").bulk_fields());
  EXPECT_FALSE(FilterPath::parse("-took").bulk_fields());
}

}  // namespace
}  // namespace datarefresh::devsearch
